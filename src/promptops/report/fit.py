"""Tables that fit the terminal without truncating identifiers.

Run ids and ``prompt@version`` are what users copy, so they are never cut: a table drops its
less important columns first, and callers fall back to a stacked layout when even the essential
columns don't fit.

Only rich's public API is used (``Measurement.get``, ``Column.cells``, ``Column.min_width``):
a ``no_wrap`` column is measured at its widest cell by raising its ``min_width`` to that width
for the measurement (and putting it back), so the table's public minimum width is the width
that shows those columns whole. ``tests/test_report_fit.py`` pins the result against what rich
renders. Tables with ``collapse_padding`` are not measured exactly (none here use it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.table import Column, Table

_UNBOUNDED = 100_000


def _cells(table: Table, column: Column) -> list[RenderableType]:
    """The cells rich measures in ``column``: the header and footer when shown, and the rows."""
    head = [column.header] if table.show_header else []
    foot = [column.footer] if table.show_footer else []
    return [*head, *column.cells, *foot]


def table_width(console: Console, table: Table) -> int:
    """The narrowest width at which ``table`` shows its ``no_wrap`` columns whole and every
    other cell's longest word whole."""
    options = console.options.update_width(_UNBOUNDED)
    saved = [(column, column.min_width) for column in table.columns if column.no_wrap]
    try:
        for column, min_width in saved:
            widest = max(
                (Measurement.get(console, options, cell).maximum for cell in _cells(table, column)),
                default=0,
            )
            column.min_width = max(min_width or 0, widest)
        return Measurement.get(console, options, table).minimum
    finally:
        for column, min_width in saved:
            column.min_width = min_width


def fit_columns(
    console: Console,
    build: Callable[[set[str]], Table],
    optional: Sequence[str],
) -> Table | None:
    """``build(dropped)`` with as few of ``optional`` (least important first) dropped as it takes
    to fit ``console.width``; None when it does not fit even with all of them dropped."""
    dropped: set[str] = set()
    for name in [None, *optional]:
        if name is not None:
            dropped.add(name)
        table = build(dropped)
        if table_width(console, table) <= console.width:
            return table
    return None
