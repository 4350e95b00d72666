"""``report/fit.py`` measures tables with rich's public API only; these tests pin what that
measure means against what rich renders.

``table_width(console, table)`` is the narrowest width that shows every ``no_wrap`` cell whole
and every other cell's longest word whole. It raises each ``no_wrap`` column's ``min_width``
to its widest cell (``Column.cells``, ``Measurement.get``) for the measurement and takes the
table's public minimum (``Measurement.get(console, options, table)``). If a rich upgrade fails
these tests, rich changed how a Table clamps a column to ``min_width`` or how it pads cells
(``pad_edge``): the measure no longer matches the layout, and narrow terminals would cut run
ids again (tests/test_narrow.py shows the symptom).
"""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from rich import box
from rich.table import Table
from rich.text import Text

from promptops.report.console import SafeConsole
from promptops.report.fit import fit_columns, table_width
from promptops.report.safe import terminal_safe
from promptops.report.text import assertions_table, groups_table

RUN_ID = "20260101-120000-summarize-1.0.0-summarize-2.0.0-a43e"


def _group(prompt: str, model: str) -> dict[str, object]:
    return {
        "prompt": prompt,
        "version": "1.0.0",
        "model": model,
        "n": 3,
        "passed": 2,
        "errors": 1,
        "cost_unknown": 0,
        "cost": 0.0123,
        "pass_rate": 2 / 3,
        "pass_rate_ci95": [0.2, 0.9],
        "mean_score": 0.667,
        "latency_ms": {"p50": 12.0, "p95": 40.0},
        "metrics": {"contains": 0.5},
        "assertions": {"contains with a long label": {"passed": 1, "n": 3, "pass_rate": 1 / 3}},
    }


def runs_like() -> Table:
    """Every column no_wrap, rich's default box and padding (the runs table)."""
    t = Table(show_edge=False)
    for col in ("run", "status", "prompt", "n"):
        t.add_column(col, no_wrap=True)
    t.add_row(RUN_ID, "complete", "summarize@1.0.0", "3")
    t.add_row("", "", "a-much-longer-prompt-name@12.0.0", "300")
    return t


def groups() -> Table:
    """pad_edge=False, two-line cells, markup (the eval table)."""
    return groups_table([_group("summarize", "echo/echo"), _group("x", "openai/gpt-4o-mini")])


def with_wrapping() -> Table:
    """One wrapping column among no_wrap ones (the per-assertion table)."""
    return assertions_table([_group("summarize", "echo/echo")])


def hostile() -> Table:
    """Control characters shown as escapes: the console's render_str widens the cell."""
    t = Table(box=box.SIMPLE_HEAD)
    t.add_column("id", no_wrap=True)
    t.add_column("output")
    t.add_row("case\x1b[31m", "some words \x07 and more words")
    return t


TABLES = [runs_like, groups, with_wrapping, hostile]


def _render(table: Table, width: int) -> list[str]:
    console = SafeConsole(width=width, file=io.StringIO(), highlight=False, color_system=None)
    console.print(table)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    return out.splitlines()


def _plain(cell: object) -> str:
    return terminal_safe(Text.from_markup(str(cell)).plain)


def _whole(table: Table, lines: list[str]) -> bool:
    """Every no_wrap cell line (header included), and every word of the other cells, stands
    whole on a line (the title's line aside)."""
    text = "\n".join(lines[1:] if table.title else lines)
    for column in table.columns:
        for cell in [column.header, *column.cells]:
            parts = _plain(cell).splitlines() if column.no_wrap else _plain(cell).split()
            if any(p.strip() and p.strip() not in text for p in parts):
                return False
    return True


@pytest.mark.parametrize("make", TABLES, ids=lambda f: f.__name__)
def test_the_width_is_the_narrowest_that_shows_cells_whole(make: Callable[[], Table]) -> None:
    table = make()
    console = SafeConsole(width=200, file=io.StringIO())
    width = table_width(console, table)
    fits = _render(table, width)
    assert _whole(table, fits), "\n".join(fits)
    assert all(len(line) <= width for line in fits)
    narrower = _render(table, width - 1)
    assert not _whole(table, narrower), "\n".join(narrower)


@pytest.mark.parametrize("make", TABLES, ids=lambda f: f.__name__)
def test_measuring_leaves_the_table_as_it_was(make: Callable[[], Table]) -> None:
    table = make()
    before = [(c.min_width, c.max_width, c.no_wrap) for c in table.columns]
    table_width(SafeConsole(width=80, file=io.StringIO()), table)
    assert [(c.min_width, c.max_width, c.no_wrap) for c in table.columns] == before


def test_fit_columns_drops_the_least_important_first() -> None:
    def build(dropped: set[str]) -> Table:
        t = Table(show_edge=False)
        for col in ("run", "started", "status"):
            if col not in dropped:
                t.add_column(col, no_wrap=True)
        t.add_row(
            *(
                v
                for c, v in zip(
                    ("run", "started", "status"),
                    (RUN_ID, "2026-01-01T12:00", "complete"),
                    strict=True,
                )
                if c not in dropped
            )
        )
        return t

    console = SafeConsole(width=200, file=io.StringIO())
    full = table_width(console, build(set()))
    no_started = table_width(console, build({"started"}))
    alone = table_width(console, build({"started", "status"}))
    assert full > no_started > alone
    for width, kept in ((full, 3), (no_started, 2), (alone, 1)):
        fitted = fit_columns(
            SafeConsole(width=width, file=io.StringIO()), build, ["started", "status"]
        )
        assert fitted is not None and len(fitted.columns) == kept
    assert (
        fit_columns(SafeConsole(width=alone - 1, file=io.StringIO()), build, ["started", "status"])
        is None
    )
