"""The two consoles every command prints through, and their one-line helpers.

Text from model outputs, datasets and changelogs is data: a :class:`SafeConsole` never sends
a control character from it to the terminal. rich loads here, so import this module inside the
functions that print, never at a command module's top (``promptops --help`` and the JSON
forms do without rich).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from rich.console import Console

from .safe import terminal_safe


class SafeConsole(Console):
    """A rich Console that never sends a control character from data to the terminal: every
    string printed (and every table cell given as a string) has ESC, C1 and other controls
    shown as ``\\x1b``-style escapes; rich's own styling is unaffected."""

    def render_str(self, text: str, *args: Any, **kwargs: Any) -> Any:
        return super().render_str(terminal_safe(text), *args, **kwargs)


@lru_cache(maxsize=1)
def out() -> Console:
    """stdout (built once: tests that change COLUMNS call ``out.cache_clear()``)."""
    return SafeConsole(soft_wrap=True, highlight=False)


@lru_cache(maxsize=1)
def err() -> Console:
    """stderr."""
    return SafeConsole(stderr=True, soft_wrap=True, highlight=False)


def error_lines(lines: list[str]) -> None:
    """Red lines on stderr, markup-safe (user text may contain brackets)."""
    console = err()
    for line in lines:
        console.print(line, style="red", markup=False)


def warn(line: str) -> None:
    """A yellow line on stderr, markup-safe."""
    err().print(line, style="yellow", markup=False)


def note(line: str) -> None:
    """A dim line on stderr, markup-safe (``wrote FILE``, progress of a check)."""
    err().print(line, style="dim", markup=False)
