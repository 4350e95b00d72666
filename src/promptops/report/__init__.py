"""Renderers, and the one dispatch from (subject, format) to them.

A subject is what a command shows: a ``run`` (a :class:`RunView`: summary plus records), a
``diff`` (a :class:`promptops.gate.diff.DiffResult`) or a ``check`` (a
:class:`promptops.gate.check.CheckReport`). A format is what ``--format`` names. Commands call
:func:`show`; a new format is one :func:`renderer` registration here (the modules that build
tables, Markdown, JUnit, JSON and HTML stay importable on their own). Light at import: the
command modules import the format enums at startup, the renderers load on first use.

Formats that are files rather than screens (``--junit``, ``--html``, ``export``'s
csv/jsonl/parquet) are written by their own options and :mod:`promptops.export`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


class Subject(str, Enum):
    """What a command shows."""

    RUN = "run"
    DIFF = "diff"
    CHECK = "check"


class Format(str, Enum):
    """``--format`` of eval, show-run, runs merge, diff and check."""

    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"


class TableFormat(str, Enum):
    """``--format`` of commands with a table and a JSON form only (power)."""

    TABLE = "table"
    JSON = "json"


class TextFormat(str, Enum):
    """``--format`` of commands that print plain text or JSON (show, list, render, import)."""

    TEXT = "text"
    JSON = "json"


class ExportFormat(str, Enum):
    """``--format`` of ``promptops export``: flat files of a run's records."""

    CSV = "csv"
    JSONL = "jsonl"
    PARQUET = "parquet"


@dataclass
class RunView:
    """A run as its renderers see it: the summary, and its records when the format needs them."""

    summary: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)


Renderer = Callable[[Any, "Console"], None]
RENDERERS: dict[tuple[Subject, Format], Renderer] = {}


def renderer(subject: Subject, fmt: Format) -> Callable[[Renderer], Renderer]:
    """Register the renderer of ``subject`` in ``fmt`` (replacing any before it)."""

    def deco(fn: Renderer) -> Renderer:
        RENDERERS[(subject, fmt)] = fn
        return fn

    return deco


def show(subject: Subject, fmt: Format, obj: Any, console: Console) -> None:
    """Render ``obj`` (a ``subject``) in ``fmt``: tables to ``console``, text to stdout."""
    RENDERERS[(subject, Format(fmt))](obj, console)


def needs_records(subject: Subject, fmt: Format) -> bool:
    """Whether a run renderer reads the records (JSON is the summary alone)."""
    return not (subject is Subject.RUN and fmt is Format.JSON)


def write_json(data: Any, *, strict: bool = False) -> None:
    """JSON on stdout; ``strict`` refuses NaN and Infinity (they were made None upstream)."""
    sys.stdout.write(
        json.dumps(data, indent=2, ensure_ascii=False, default=str, allow_nan=not strict) + "\n"
    )


# ------------------------------------------------------------------------------------- run


@renderer(Subject.RUN, Format.TABLE)
def _run_table(view: RunView, console: Console) -> None:
    from .text import print_summary

    print_summary(console, view.summary, view.records)


@renderer(Subject.RUN, Format.JSON)
def _run_json(view: RunView, console: Console) -> None:
    write_json(view.summary)


@renderer(Subject.RUN, Format.MARKDOWN)
def _run_markdown(view: RunView, console: Console) -> None:
    from .markdown import eval_markdown

    sys.stdout.write(eval_markdown(view.summary, view.records))


# ------------------------------------------------------------------------------------ diff


@renderer(Subject.DIFF, Format.TABLE)
def _diff_table(result: Any, console: Console) -> None:
    from .diff import print_diff

    print_diff(console, result)


@renderer(Subject.DIFF, Format.JSON)
def _diff_json(result: Any, console: Console) -> None:
    write_json(result.to_json(), strict=True)


@renderer(Subject.DIFF, Format.MARKDOWN)
def _diff_markdown(result: Any, console: Console) -> None:
    from .diff import diff_markdown

    sys.stdout.write(diff_markdown(result))


# ----------------------------------------------------------------------------------- check


@renderer(Subject.CHECK, Format.TABLE)
def _check_table(report: Any, console: Console) -> None:
    from .diff import print_check

    print_check(console, report)


@renderer(Subject.CHECK, Format.JSON)
def _check_json(report: Any, console: Console) -> None:
    write_json(report.to_json(), strict=True)


@renderer(Subject.CHECK, Format.MARKDOWN)
def _check_markdown(report: Any, console: Console) -> None:
    from .diff import check_markdown

    sys.stdout.write(check_markdown(report))
