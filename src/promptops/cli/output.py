"""Consoles and small helpers shared by the command modules."""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from typing import Any

from rich.console import Console


class SafeConsole(Console):
    """A rich Console that never sends a control character from data to the terminal: every
    string printed (and every table cell given as a string) has ESC, C1 and other controls
    shown as ``\\x1b``-style escapes; rich's own styling is unaffected."""

    def render_str(self, text: str, *args: Any, **kwargs: Any) -> Any:
        from ..report.safe import terminal_safe

        return super().render_str(terminal_safe(text), *args, **kwargs)


@lru_cache(maxsize=1)
def out() -> Console:
    return SafeConsole(soft_wrap=True, highlight=False)


@lru_cache(maxsize=1)
def err() -> Console:
    return SafeConsole(stderr=True, soft_wrap=True, highlight=False)


def error_lines(lines: list[str]) -> None:
    """Red lines on stderr, markup-safe (user text may contain brackets)."""
    console = err()
    for line in lines:
        console.print(line, style="red", markup=False)


def warn(line: str) -> None:
    err().print(line, style="yellow", markup=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
