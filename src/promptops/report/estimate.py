"""``eval --estimate``: the expected calls, tokens and dollars, as a table or Markdown."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .format import money

if TYPE_CHECKING:
    from rich.console import Console

    from ..eval.estimate import Estimate

HEADERS = (
    "version · model",
    "cases",
    "cached",
    "calls",
    "judge calls",
    "tokens in",
    "tokens out ≤",
    "cost",
    "tokenizer",
)


def _cells(row: Any) -> list[str]:
    out_max = "?" if row.tokens_out_max is None else f"{row.tokens_out_max:,}"
    if row.cost_in is None:
        cost = "? (no price)"
    elif row.cost_max is None:
        cost = f"{money(row.cost_in)} + answers (no max_tokens)"
    elif row.cost_max == row.cost_in:
        cost = money(row.cost_in)
    else:
        cost = f"{money(row.cost_in)}–{money(row.cost_max)}"
    if row.batch and row.cost_in is not None:
        cost += " (batch price)"
    return [
        f"{row.ref} · {row.model}",
        f"{row.units:,}",
        f"{row.cached:,}",
        f"{row.calls:,}",
        f"{row.judge_calls:,}",
        f"{row.tokens_in:,}",
        out_max,
        cost,
        row.tokenizer,
    ]


def one_line(est: Estimate) -> str:
    """The totals in one line (printed before a large uncached eval too)."""
    t = est.totals()
    if t["cost_in"] is None:
        cost = "cost unknown (no price for a model)"
    elif t["cost_max"] is None:
        cost = f"{money(t['cost_in'])} for the prompts + the answers (no max_tokens)"
    else:
        cost = f"{money(t['cost_in'])}–{money(t['cost_max'])}"
    if any(r.batch for r in est.rows) and t["cost_in"] is not None:
        cost += " at the batch price (single-turn calls)"
    return (
        f"estimate: {t['calls']:,} model calls ({t['cached']:,} of {t['units']:,} cases cached), "
        f"~{t['tokens_in']:,} tokens in, {cost}"
        + (f", plus {t['judge_calls']:,} judge calls" if t["judge_calls"] else "")
    )


def print_estimate(console: Console, est: Estimate) -> None:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    t = Table(box=box.SIMPLE_HEAD, show_edge=False, header_style="bold", pad_edge=False)
    for i, h in enumerate(HEADERS):
        t.add_column(h, justify="left" if i in (0, 7, 8) else "right")
    for row in est.rows:
        t.add_row(*(escape(c) for c in _cells(row)))
    console.print(t)
    console.print(escape(one_line(est)) + " (no model was called)")


def estimate_markdown(est: Estimate) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for row in est.rows:
        cells = [c.replace("|", "\\|") for c in _cells(row)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + one_line(est) + " (no model was called)\n"
