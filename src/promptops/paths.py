"""Where a project's files are: its root (found upwards) and the names of its two settings files.

A leaf module, so that low layers (content parts, the registry file) can find the project
without importing :mod:`promptops.project`.
"""

from __future__ import annotations

import os
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


def project_of(path: Path) -> Path | None:
    """The project a file lies in by its name (the nearest directory upwards, not following
    links, with registry.yaml, promptops.yaml or prompts/); None when it is in none."""
    here = Path(os.path.abspath(path)).parent
    for d in (here, *here.parents):
        if (d / REGISTRY_FILE).is_file() or (d / CONFIG_FILE).is_file() or (d / "prompts").is_dir():
            return d
    return None


class OutsideProject(ValueError):
    """A file a project names resolves outside the project root (the caller adds where)."""


def confine(root: Path, name: str | Path) -> Path:
    """``name`` (relative to ``root``, or absolute) resolved with every symlink followed; raise
    :class:`OutsideProject` when the result is not inside ``root``.

    The one confinement rule for every file a project names (datasets, images, python files,
    plugins, imported promptfoo files): a pull request can commit ``../``, an absolute path or
    a symlink, and ``check`` runs with the CI's secrets, so a file outside the project is
    refused before it is opened: its content is never read, quoted, sent or stored."""
    top = root.resolve()
    text = str(name)
    if "\x00" in text:
        raise OutsideProject(f"{text!r} is not a file name")
    try:
        path = (top / name).resolve()
    except (OSError, RuntimeError):  # a symlink loop
        raise OutsideProject(f"{text!r} cannot be resolved (a symlink loop?)") from None
    if not path.is_relative_to(top):
        raise OutsideProject(
            f"{text!r} is outside the project: files a project names must resolve (symlinks "
            f"followed) inside its root {top.name}/, and are not read otherwise"
        )
    return path
