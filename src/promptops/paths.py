"""Where a project's files are: its root (found upwards) and the names of its two settings files.

A leaf module, so that low layers (content parts, the registry file) can find the project
without importing :mod:`promptops.project`.
"""

from __future__ import annotations

from pathlib import Path

REGISTRY_FILE = "registry.yaml"
CONFIG_FILE = "promptops.yaml"


def find_root(start: Path | None = None) -> Path:
    """The nearest directory upwards with registry.yaml, promptops.yaml or prompts/."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / REGISTRY_FILE).is_file() or (d / CONFIG_FILE).is_file() or (d / "prompts").is_dir():
            return d
    return here
