"""Process-wide choices promptops makes only in a process of its own (the ``promptops``
command), never in an application that imports the library: there they would reach the
application's objects too."""

from __future__ import annotations

__all__ = ["own", "owned"]

_OWNED = False


def own() -> None:
    """Declare this process promptops's own (called by the command's entry point)."""
    global _OWNED
    _OWNED = True


def owned() -> bool:
    """Whether this process is promptops's own."""
    return _OWNED
