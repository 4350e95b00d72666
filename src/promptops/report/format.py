"""Numbers and short text as every report shows them: one implementation each.

Pure functions (no imports), shared by the terminal, Markdown and HTML renderers. ``none`` is
what a missing value shows as: ``-`` on the terminal and in Markdown, an en dash in HTML.
"""

from __future__ import annotations

from typing import Any

NONE = "-"
ELLIPSIS = "…"


def pct(x: float | None, digits: int = 1, none: str = NONE) -> str:
    """A share as a percentage: ``0.25`` -> ``25.0%``."""
    return none if x is None else f"{100 * x:.{digits}f}%"


def num(x: float | None, fmt: str = "{:.3f}", none: str = NONE) -> str:
    """A number in ``fmt`` (a ``str.format`` pattern)."""
    return none if x is None else fmt.format(x)


def signed(x: float | None, none: str = NONE) -> str:
    """A difference, with its sign: ``+0.125``."""
    return none if x is None else f"{x:+.3f}"


def interval(low: float | None, high: float | None, none: str = NONE) -> str:
    """A confidence interval of a difference: ``[-0.100, +0.050]``."""
    return none if low is None or high is None else f"[{low:+.3f}, {high:+.3f}]"


def money(x: float | None, none: str = NONE) -> str:
    """USD with enough digits to show small costs."""
    if x is None:
        return none
    if x == 0:
        return "$0"
    return f"${x:.4f}" if x >= 0.01 else f"${x:.6f}"


def truncate(value: Any, limit: int) -> str:
    """``str(value)``, cut to ``limit`` characters with an ellipsis; ``None`` is empty."""
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def one_line(value: Any, limit: int) -> str:
    """``str(value)`` with its white space folded to single spaces, then :func:`truncate`."""
    return truncate(" ".join(str(value).split()), limit)


def id_list(ids: list[str], limit: int = 12) -> str:
    """Ids, comma separated, the first ``limit`` of them and how many more."""
    more = f" {ELLIPSIS} (+{len(ids) - limit})" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


def failed_assertions(record: dict[str, Any]) -> list[str]:
    """``type: why`` of each assertion a record failed (JUnit messages, the PR comment)."""
    return [
        f"{a['type']}: {a.get('error') or a.get('reason', '')}"
        for a in record.get("assertions", [])
        if not a["pass"]
    ]


def plural(n: int, word: str) -> str:
    """``1 problem``, ``2 problems``."""
    return f"{n} {word}{'s' if n != 1 else ''}"
