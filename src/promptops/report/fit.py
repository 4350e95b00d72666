"""Tables that fit the terminal without truncating identifiers.

Run ids and ``prompt@version`` are what users copy, so they are never cut: a table drops its
less important columns first, and callers fall back to a stacked layout when even the essential
columns don't fit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.console import Console
from rich.table import Table

_UNBOUNDED = 100_000


def table_width(console: Console, table: Table) -> int:
    """The narrowest width at which ``table`` shows its ``no_wrap`` columns whole and every
    other cell's longest word whole."""
    options = console.options.update_width(_UNBOUNDED)
    total = table._extra_width  # edges and separators
    for column in table.columns:
        m = table._measure_column(console, options, column)  # padding included
        total += m.maximum if column.no_wrap else m.minimum
    return total


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
