"""Consoles and small helpers shared by the command modules."""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from typing import Any

from rich.console import Console


@lru_cache(maxsize=1)
def out() -> Console:
    return Console(soft_wrap=True, highlight=False)


@lru_cache(maxsize=1)
def err() -> Console:
    return Console(stderr=True, soft_wrap=True, highlight=False)


def error_lines(lines: list[str]) -> None:
    """Red lines on stderr, markup-safe (user text may contain brackets)."""
    console = err()
    for line in lines:
        console.print(line, style="red", markup=False)


def warn(line: str) -> None:
    err().print(line, style="yellow", markup=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
