"""The registry journal, ``.promptops/registry-log.jsonl``: one JSON line per change promptops
makes to registry.yaml (who, when, reason, evidence, before and after), committed or not.
``history`` merges it with git's log of the file; ``rollback`` uses it to find the version
active before a promotion that was never committed."""

from __future__ import annotations

import json
from typing import Any

from ..project import Project
from ..spec import Deployment
from .file import JOURNAL_FILE, STATE_DIR

__all__ = ["append", "entries", "previous"]


def append(project: Project, entry: dict[str, Any]) -> None:
    """Append one change (as JSON) to the journal."""
    path = project.root / STATE_DIR / JOURNAL_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")


def entries(project: Project) -> list[dict[str, Any]]:
    """Every entry, oldest first; a line that is not JSON (a torn write) is passed over."""
    path = project.root / STATE_DIR / JOURNAL_FILE
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except (json.JSONDecodeError, RecursionError):
            continue
    return out


def previous(project: Project, name: str, env: str, current: str) -> Deployment | None:
    """The version active in ``env`` before ``current`` per the journal's uncommitted
    entries (newest first), or None."""
    for j in reversed(entries(project)):
        if j.get("prompt") != name or j.get("env") != env or j.get("commit"):
            continue
        after, prev = j.get("after") or {}, j.get("before") or {}
        if after.get("version") == current and prev.get("version") not in (None, current):
            try:
                return Deployment(version=prev["version"], digest=prev["digest"], canary=None)
            except (KeyError, ValueError):
                return None
    return None
