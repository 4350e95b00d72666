"""promptops: prompts as code.

Versioned prompt files with their own tests, evals against gold datasets, statistically
gated regressions, and a Git-native registry of what each environment serves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Project",
    "PromptOpsError",
    "PromptVersion",
    "Registry",
    "__version__",
    "lint",
    "load_prompt",
    "render_prompt",
    "resolve",
    "run_eval",
]

if TYPE_CHECKING:
    from .errors import PromptOpsError
    from .eval.runner import run_eval
    from .lint import lint
    from .project import Project, PromptVersion, load_prompt
    from .refs import resolve
    from .registry.runtime import Registry


def render_prompt(ref: str, root: str = ".", **values: Any) -> list[dict[str, str]]:
    """Render a prompt version's messages: ``render_prompt("summarize@2.0", document=text)``.

    (Named ``render_prompt`` because ``promptops.render`` is the rendering module.)"""
    from pathlib import Path

    from .project import Project
    from .refs import resolve
    from .render import render_messages

    project = Project.find(Path(root))
    return render_messages(resolve(ref, project), values)


_LAZY = {
    "PromptOpsError": ("errors", "PromptOpsError"),
    "lint": ("lint", "lint"),
    "Project": ("project", "Project"),
    "PromptVersion": ("project", "PromptVersion"),
    "load_prompt": ("project", "load_prompt"),
    "resolve": ("refs", "resolve"),
    "Registry": ("registry.runtime", "Registry"),
    "run_eval": ("eval.runner", "run_eval"),
}


def __getattr__(name: str) -> Any:
    """Import submodules on first use so ``import promptops`` stays fast."""
    if name in _LAZY:
        from importlib import import_module

        mod, attr = _LAZY[name]
        return getattr(import_module(f".{mod}", __name__), attr)
    raise AttributeError(f"module 'promptops' has no attribute {name!r}")
