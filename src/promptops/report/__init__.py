"""Renderers, and the one dispatch from (subject, format) to them.

A subject is what a command shows (a run, a comparison, a check, the registry's status...); a
format is what ``--format`` (or ``--json``) names. Every command that prints a subject calls
:func:`show`; the files a command writes in a text format (``--output``, ``--markdown``, the
step summary) come from :func:`render_text`, so a file holds what the screen would. A new format is
one registration here and a value in the subject's format enum (:data:`FORMATS`); the modules
that build tables, Markdown, JUnit, JSON and HTML stay importable on their own.

Light at import: the command modules import the enums at startup; the renderers, and rich
with them, load on first use (the JSON forms never load rich).

Files that are not screens (``--junit``, ``--html``, ``export``'s csv/jsonl/parquet) are
written by :mod:`promptops.report.junit`, :mod:`promptops.report.html` and
:mod:`promptops.report.export`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from ..errors import Problem
    from ..importers.promptfoo import ImportResult
    from ..registry.status import StatusRow


class Format(str, Enum):
    """``--format`` of eval, show-run, runs merge, diff and check."""

    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"


class TableFormat(str, Enum):
    """``--format`` (or ``--json``) of commands with a table and a JSON form only."""

    TABLE = "table"
    JSON = "json"


class TextFormat(str, Enum):
    """``--format`` (or ``--json``) of commands that print plain text or JSON."""

    TEXT = "text"
    JSON = "json"


class ExportFormat(str, Enum):
    """``--format`` of ``promptops export``: flat files of a run's records."""

    CSV = "csv"
    JSONL = "jsonl"
    PARQUET = "parquet"


class Subject(str, Enum):
    """What a command shows."""

    RUN = "run"  # eval, show-run, runs merge: a RunView
    DIFF = "diff"  # diff: a promptops.gate.diff.DiffResult
    CHECK = "check"  # check: a promptops.gate.check.CheckReport
    RUNS = "runs"  # runs: rows of recorded runs
    POWER = "power"  # power: a promptops.gate.power.Plan
    STATUS = "status"  # status: a StatusView
    HISTORY = "history"  # history: promptops.registry.history.HistoryEntry list
    CHANGE = "change"  # promote, abort-canary, rollback: a promptops.registry.changes.Change
    LINT = "lint"  # lint: a LintView
    PROMPTS = "prompts"  # list: promptops.catalog.catalog rows
    PROMPT = "prompt"  # show: promptops.catalog.describe
    RENDER = "render"  # render: the rendered messages and their parameters
    IMPORT = "import"  # import promptfoo: an ImportView
    ESTIMATE = "estimate"  # eval --estimate: a promptops.eval.estimate.Estimate


FORMATS: dict[Subject, type[Format] | type[TableFormat] | type[TextFormat]] = {
    Subject.RUN: Format,
    Subject.DIFF: Format,
    Subject.CHECK: Format,
    Subject.RUNS: TableFormat,
    Subject.POWER: TableFormat,
    Subject.STATUS: TableFormat,
    Subject.HISTORY: TextFormat,
    Subject.CHANGE: TextFormat,
    Subject.LINT: TextFormat,
    Subject.PROMPTS: TableFormat,
    Subject.PROMPT: TextFormat,
    Subject.RENDER: TextFormat,
    Subject.IMPORT: TextFormat,
    Subject.ESTIMATE: Format,
}
"""The formats each subject comes in: the enum its commands' ``--format`` takes."""

AnyFormat = Format | TableFormat | TextFormat


@dataclass
class RunView:
    """A run as its renderers see it: the summary, and its records when the format needs them;
    ``assertions`` adds the per-assertion table to the terminal form (show-run)."""

    summary: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)
    assertions: bool = False


@dataclass
class StatusView:
    """What every environment serves: the environments in registry order, and the rows."""

    environments: list[str]
    rows: list[StatusRow]


@dataclass
class LintView:
    """Lint's findings; ``files`` (the prompt files read) is counted only for the text form of
    a clean project."""

    problems: list[Problem]
    files: int = 0


@dataclass
class ImportView:
    """What an import wrote (``files``: relative to the project) and what did not convert."""

    result: ImportResult
    files: list[str]

    def to_json(self) -> dict[str, Any]:
        r = self.result
        return {
            "name": r.name,
            "versions": r.versions,
            "cases": r.cases,
            "expanded_cases": r.expanded,
            "scenario_cases": r.scenario_cases,
            "models": r.models,
            "prompts": r.prompts,
            "refs": r.refs,
            "files": self.files,
            "not_converted": [str(s) for s in r.skipped],
            "notes": [str(s) for s in r.notes],
        }


Renderer = Callable[[Any, "Console"], None]
RENDERERS: dict[tuple[Subject, str], Renderer] = {}
"""Terminal renderers: they print to a console."""
TEXTS: dict[tuple[Subject, str], Callable[[Any], str]] = {}
"""Text renderers: they return the text (JSON, Markdown)."""


def _key(subject: Subject, fmt: AnyFormat | str) -> tuple[Subject, str]:
    """The dispatch key; a format the subject does not come in is a ValueError."""
    return (subject, FORMATS[subject](fmt).value)


def renderer(subject: Subject, fmt: AnyFormat) -> Callable[[Renderer], Renderer]:
    """Register the terminal renderer of ``subject`` in ``fmt`` (replacing any before it)."""

    def deco(fn: Renderer) -> Renderer:
        key = _key(subject, fmt)
        TEXTS.pop(key, None)
        RENDERERS[key] = fn
        return fn

    return deco


def text_renderer(
    subject: Subject, fmt: AnyFormat
) -> Callable[[Callable[[Any], str]], Callable[[Any], str]]:
    """Register the renderer of ``subject`` in a text format (JSON, Markdown), replacing any
    before it: :func:`show` writes its text to stdout, :func:`render_text` returns it for a file."""

    def deco(fn: Callable[[Any], str]) -> Callable[[Any], str]:
        key = _key(subject, fmt)
        RENDERERS.pop(key, None)
        TEXTS[key] = fn
        return fn

    return deco


def show(subject: Subject, fmt: AnyFormat, obj: Any, console: Console | None = None) -> None:
    """Render ``obj`` (a ``subject``) in ``fmt``: tables to ``console`` (default: stdout's),
    text straight to stdout."""
    key = _key(subject, fmt)
    if key in TEXTS:
        sys.stdout.write(TEXTS[key](obj))
        return
    if console is None:
        from .console import out

        console = out()
    RENDERERS[key](obj, console)


def render_text(subject: Subject, fmt: AnyFormat, obj: Any) -> str:
    """``obj`` in a text format (JSON, Markdown), as :func:`show` would print it."""
    return TEXTS[_key(subject, fmt)](obj)


def needs_records(subject: Subject, fmt: AnyFormat) -> bool:
    """Whether a run renderer reads the records (JSON is the summary alone)."""
    return not (subject is Subject.RUN and fmt == Format.JSON)


def json_text(data: Any, *, strict: bool = False) -> str:
    """Indented JSON and a newline; ``strict`` refuses NaN and Infinity (they were made None
    upstream)."""
    return json.dumps(data, indent=2, ensure_ascii=False, default=str, allow_nan=not strict) + "\n"


def write_json(data: Any, *, strict: bool = False) -> None:
    """:func:`json_text` on stdout."""
    sys.stdout.write(json_text(data, strict=strict))


# ------------------------------------------------------------------------------------ JSON

_AS_JSON: dict[Subject, tuple[Callable[[Any], Any], bool]] = {
    # subject: (the data its JSON form shows, strict)
    Subject.RUN: (lambda view: view.summary, False),
    Subject.DIFF: (lambda result: result.to_json(), True),
    Subject.CHECK: (lambda report: report.to_json(), True),
    Subject.RUNS: (lambda rows: rows, False),
    Subject.POWER: (asdict, True),
    Subject.STATUS: (lambda view: [r.to_json() for r in view.rows], False),
    Subject.HISTORY: (lambda entries: [e.to_json() for e in entries], False),
    Subject.CHANGE: (lambda change: change.to_json(), False),
    Subject.LINT: (lambda view: [p.__dict__ for p in view.problems], False),
    Subject.PROMPTS: (lambda rows: rows, False),
    Subject.PROMPT: (lambda info: info, False),
    Subject.RENDER: (lambda info: info, False),
    Subject.IMPORT: (lambda view: view.to_json(), False),
    Subject.ESTIMATE: (lambda est: est.to_json(), True),
}


def _json_renderer(data: Callable[[Any], Any], strict: bool) -> Callable[[Any], str]:
    return lambda obj: json_text(data(obj), strict=strict)


for _subject, (_data, _strict) in _AS_JSON.items():
    text_renderer(_subject, FORMATS[_subject].JSON)(_json_renderer(_data, _strict))


# -------------------------------------------------------------------------------- Markdown


@text_renderer(Subject.RUN, Format.MARKDOWN)
def _run_markdown(view: RunView) -> str:
    from .markdown import eval_markdown

    return eval_markdown(view.summary, view.records)


@text_renderer(Subject.ESTIMATE, Format.MARKDOWN)
def _estimate_markdown(est: Any) -> str:
    from .estimate import estimate_markdown

    return estimate_markdown(est)


@text_renderer(Subject.DIFF, Format.MARKDOWN)
def _diff_markdown(result: Any) -> str:
    from .diff import diff_markdown

    return diff_markdown(result)


@text_renderer(Subject.CHECK, Format.MARKDOWN)
def _check_markdown(report: Any) -> str:
    from .diff import check_markdown

    return check_markdown(report)


# -------------------------------------------------------------------------------- terminal


@renderer(Subject.RUN, Format.TABLE)
def _run_table(view: RunView, console: Console) -> None:
    from .text import print_summary

    print_summary(console, view.summary, view.records, assertions=view.assertions)


@renderer(Subject.DIFF, Format.TABLE)
def _diff_table(result: Any, console: Console) -> None:
    from .diff import print_diff

    print_diff(console, result)


@renderer(Subject.CHECK, Format.TABLE)
def _check_table(report: Any, console: Console) -> None:
    from .diff import print_check

    print_check(console, report)


@renderer(Subject.ESTIMATE, Format.TABLE)
def _estimate_table(est: Any, console: Console) -> None:
    from .estimate import print_estimate

    print_estimate(console, est)


@renderer(Subject.RUNS, TableFormat.TABLE)
def _runs_table(rows: list[dict[str, Any]], console: Console) -> None:
    from .text import print_runs

    print_runs(console, rows)


@renderer(Subject.POWER, TableFormat.TABLE)
def _power_text(plan: Any, console: Console) -> None:
    from .diff import print_plan

    print_plan(console, plan)


@renderer(Subject.STATUS, TableFormat.TABLE)
def _status_table(view: StatusView, console: Console) -> None:
    from .registry import print_status

    print_status(console, view.environments, view.rows)


@renderer(Subject.HISTORY, TextFormat.TEXT)
def _history_text(entries: list[Any], console: Console) -> None:
    from .registry import print_history

    print_history(console, entries)


@renderer(Subject.CHANGE, TextFormat.TEXT)
def _change_text(change: Any, console: Console) -> None:
    from .registry import print_change

    print_change(console, change)


@renderer(Subject.LINT, TextFormat.TEXT)
def _lint_text(view: LintView, console: Console) -> None:
    from .prompts import print_lint

    print_lint(console, view.problems, view.files)


@renderer(Subject.PROMPTS, TableFormat.TABLE)
def _prompts_table(rows: list[dict[str, Any]], console: Console) -> None:
    from .prompts import print_catalog

    print_catalog(console, rows)


@renderer(Subject.PROMPT, TextFormat.TEXT)
def _prompt_text(info: dict[str, Any], console: Console) -> None:
    from .prompts import print_prompt

    print_prompt(console, info)


@renderer(Subject.RENDER, TextFormat.TEXT)
def _render_text(info: dict[str, Any], console: Console) -> None:
    from .prompts import print_rendered

    print_rendered(console, info)


@renderer(Subject.IMPORT, TextFormat.TEXT)
def _import_text(view: ImportView, console: Console) -> None:
    from .prompts import print_import

    print_import(console, view.result, view.files)
