"""Rich tables for the terminal."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from ..results import group_key
from ..toolcalls import shown_output


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def money(x: float) -> str:
    """USD with enough digits to show small costs."""
    if x == 0:
        return "$0"
    return f"${x:.4f}" if x >= 0.01 else f"${x:.6f}"


def _pct0(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def _num(x: float | None, fmt: str = "{:.0f}") -> str:
    return "-" if x is None else fmt.format(x)


def groups_table(groups: list[dict[str, Any]], bar: dict[str, Any] | None = None) -> Table:
    """One row per (version, model)."""
    bars = {b["group"]: b for b in (bar or {}).get("groups", [])}
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, header_style="bold", pad_edge=False)
    t.add_column("version · model", overflow="fold", min_width=22)
    for col in ("pass", "95% CI", "score", "err", "p50/p95 ms", "cost", "bar"):
        t.add_column(col, justify="left" if col == "bar" else "right", no_wrap=True)
    for g in groups:
        b = bars.get(group_key(g))
        lo, hi = g["pass_rate_ci95"]
        priced = g["n"] - g["errors"] - g["cost_unknown"]
        cost = (
            "?"
            if priced == 0 and g["n"] > g["errors"]
            else money(g["cost"]) + ("*" if g["cost_unknown"] else "")
        )
        lat = g["latency_ms"]
        t.add_row(
            f"{g['prompt']}@{g['version']}\n[dim]{g['model']}[/]",
            f"{g['passed']}/{g['n']} {_pct0(g['pass_rate'])}",
            f"{100 * lo:.0f}–{100 * hi:.0f}%",
            _num(g["mean_score"], "{:.3f}"),
            f"[red]{g['errors']}[/]" if g["errors"] else "0",
            f"{_num(lat['p50'])}/{_num(lat['p95'])}",
            cost,
            ("[green]met[/]" if b["met"] else f"[red]< {b['fail_under']:.0%}[/]") if b else "",
        )
    return t


def assertions_table(groups: list[dict[str, Any]]) -> Table:
    t = Table(
        show_edge=False,
        header_style="bold",
        title="pass rate per assertion / metric",
        title_justify="left",
    )
    t.add_column("prompt")
    t.add_column("model")
    t.add_column("assertion")
    t.add_column("pass", justify="right")
    t.add_column("mean score", justify="right")
    for g in groups:
        for label, a in g["assertions"].items():
            t.add_row(
                f"{g['prompt']}@{g['version']}",
                g["model"],
                label,
                f"{a['passed']}/{a['n']} {_pct(a['pass_rate'])}",
                _num(g["metrics"].get(label), "{:.3f}"),
            )
    return t


def worst_cases(records: list[dict[str, Any]], limit: int = 5) -> list[dict[str, Any]]:
    """Failing records, lowest score first (errors first)."""
    failing = [r for r in records if not r.get("pass")]
    failing.sort(key=lambda r: (0 if r.get("error") else 1, r.get("score") or 0.0))
    return failing[:limit]


def print_summary(
    console: Console, summary: dict[str, Any], records: list[dict[str, Any]] | None = None
) -> None:
    console.print(groups_table(summary["groups"], summary.get("bar")))
    if records:
        worst = worst_cases(records)
        if worst:
            console.print()
            console.print("[bold]worst failing cases[/]")
            for r in worst:
                head = f"  {r['case_id']}  {r['prompt']}@{r['version']} {r['model']}"
                if r.get("error"):
                    console.print(head, style="red", markup=False)
                    console.print(f"    error ({r.get('error_kind')}): {r['error']}", markup=False)
                    continue
                console.print(f"{head}  score {r.get('score', 0):.2f}", markup=False)
                for a in r.get("assertions", []):
                    if not a["pass"]:
                        why = a.get("error") or a.get("reason") or ""
                        console.print(
                            f"    ✗ {a['type']}: {why}"[:300], markup=False, style="yellow"
                        )
                out = (shown_output(r) or "").replace("\n", " ")
                console.print(f"    output: {out[:200]}", markup=False, style="dim")
    status = summary["status"]
    run_id = summary.get("run_id", "")
    if status != "complete":
        console.print(
            f"run {run_id} {status}: finished cases are kept; resume with "
            f"`promptops eval --resume {run_id}`",
            style="yellow",
            markup=False,
        )
    else:
        console.print(
            f"run {run_id}  ({summary.get('wall_s', 0):.1f}s, {summary.get('network_calls', 0)} model calls)",
            style="dim",
            markup=False,
        )
