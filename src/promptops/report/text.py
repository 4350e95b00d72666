"""Rich tables for the terminal."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..eval.summary import group_key
from ..toolcalls import shown_output
from .format import money, num, pct

GROUP_COLUMNS = ("pass", "95% CI", "score", "err", "p50/p95 ms", "cost", "bar")
# dropped in this order on a narrow terminal; version@model, pass, err and bar always stay
GROUP_OPTIONAL = ("p50/p95 ms", "95% CI", "cost", "score")


def groups_table(
    groups: list[dict[str, Any]],
    bar: dict[str, Any] | None = None,
    dropped: set[str] | frozenset[str] = frozenset(),
) -> Table:
    """One row per (version, model); ``dropped`` names columns to leave out."""
    bars = {b["group"]: b for b in (bar or {}).get("groups", [])}
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, header_style="bold", pad_edge=False)
    t.add_column("version · model", no_wrap=True)
    cols = [c for c in GROUP_COLUMNS if c not in dropped]
    for col in cols:
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
        cells = {
            "pass": f"{g['passed']}/{g['n']} {pct(g['pass_rate'], 0)}",
            "95% CI": f"{100 * lo:.0f}–{100 * hi:.0f}%",
            "score": num(g["mean_score"]),
            "err": f"[red]{g['errors']}[/]" if g["errors"] else "0",
            "p50/p95 ms": f"{num(lat['p50'], '{:.0f}')}/{num(lat['p95'], '{:.0f}')}",
            "cost": cost,
            "bar": (
                ("[green]met[/]" if b["met"] else f"[red]< {b['fail_under']:.0%}[/]") if b else ""
            ),
        }
        t.add_row(
            f"{escape(g['prompt'])}@{escape(g['version'])}\n[dim]{escape(g['model'])}[/]",
            *(cells[c] for c in cols),
        )
    return t


def fitted_groups_table(
    console: Console, groups: list[dict[str, Any]], bar: dict[str, Any] | None = None
) -> Table:
    """The groups table with the least important columns dropped until it fits the console."""
    from .fit import fit_columns

    table = fit_columns(console, lambda dropped: groups_table(groups, bar, dropped), GROUP_OPTIONAL)
    return table if table is not None else groups_table(groups, bar, set(GROUP_OPTIONAL))


def assertions_table(
    groups: list[dict[str, Any]], dropped: set[str] | frozenset[str] = frozenset()
) -> Table:
    t = Table(
        show_edge=False,
        header_style="bold",
        title="pass rate per assertion / metric",
        title_justify="left",
    )
    cols = [c for c in ("prompt", "model", "assertion", "pass", "mean score") if c not in dropped]
    for c in cols:
        t.add_column(
            c,
            justify="right" if c in ("pass", "mean score") else "left",
            no_wrap=c != "assertion",  # one wrapping column: rich shrinks only that one
        )
    for g in groups:
        for label, a in g["assertions"].items():
            cells = {
                "prompt": escape(f"{g['prompt']}@{g['version']}"),
                "model": escape(g["model"]),
                "assertion": escape(label),
                "pass": f"{a['passed']}/{a['n']} {pct(a['pass_rate'])}",
                "mean score": num(g["metrics"].get(label)),
            }
            t.add_row(*(cells[c] for c in cols))
    return t


def fitted_assertions_table(console: Console, groups: list[dict[str, Any]]) -> Table:
    """The assertions table without the model column (then the scores) when it doesn't fit."""
    from .fit import fit_columns

    optional = ("model", "mean score")
    table = fit_columns(console, lambda dropped: assertions_table(groups, dropped), optional)
    return table if table is not None else assertions_table(groups, set(optional))


def worst_cases(records: list[dict[str, Any]], limit: int = 5) -> list[dict[str, Any]]:
    """Failing records, lowest score first (errors first)."""
    failing = [r for r in records if not r.get("pass")]
    failing.sort(key=lambda r: (0 if r.get("error") else 1, r.get("score") or 0.0))
    return failing[:limit]


def print_summary(
    console: Console,
    summary: dict[str, Any],
    records: list[dict[str, Any]] | None = None,
    *,
    assertions: bool = False,
) -> None:
    """The groups table, the worst failing cases, the run line; with ``assertions`` (show-run)
    the per-assertion table after them."""
    console.print(fitted_groups_table(console, summary["groups"], summary.get("bar")))
    if records:
        from ..providers.base import CONFIG_KINDS

        # a setup error (missing key, unknown model) is the same for every case: said once, by
        # the run's error, not once per case
        def setup_error(r: dict[str, Any]) -> bool:
            return bool(r.get("error")) and r.get("error_kind") in CONFIG_KINDS

        setup = [r for r in records if setup_error(r)]
        unjudged = [r for r in records if r.get("judge_failed") and not setup_error(r)]
        worst = worst_cases([r for r in records if r not in setup and r not in unjudged])
        if setup:
            kinds = ", ".join(sorted({str(r.get("error_kind")) for r in setup}))
            console.print(
                f"{len(setup)} case(s) not evaluated: configuration error ({kinds})",
                style="red",
                markup=False,
            )
        if unjudged:
            console.print(
                f"{len(unjudged)} case(s) not judged: the judge got no answer "
                "(--resume judges them again)",
                style="red",
                markup=False,
            )
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
    if assertions:
        console.print(fitted_assertions_table(console, summary["groups"]))


def print_runs(console: Console, rows: list[dict[str, Any]]) -> None:
    """The runs table; on a narrow terminal it drops started, model, status and n (in that
    order), then stacks each run as lines: run ids and prompt@version are never cut."""
    from .fit import fit_columns

    def build(dropped: set[str]) -> Table:
        all_cols = ("run", "status", "started", "prompt", "model", "n", "pass")
        cols = [c for c in all_cols if c not in dropped]
        t = Table(show_edge=False)
        for c in cols:
            t.add_column(c, no_wrap=True, justify="right" if c in ("n", "pass") else "left")
        for r in rows:
            groups = r["groups"] or [{"prompt": "-", "model": "-", "n": 0, "pass_rate": None}]
            for i, g in enumerate(groups):
                cells = {
                    "run": str(r["run_id"]) if i == 0 else "",
                    "status": str(r["status"]) if i == 0 else "",
                    "started": str(r["started"] or "") if i == 0 else "",
                    "prompt": g["prompt"],
                    "model": g["model"],
                    "n": str(g["n"]),
                    "pass": pct(g["pass_rate"]),
                }
                t.add_row(*(cells[c] for c in cols))
        return t

    table = fit_columns(console, build, ("started", "model", "status", "n"))
    if table is not None:
        console.print(table)
        return
    for r in rows:
        console.print(str(r["run_id"]), style="bold", markup=False, soft_wrap=True)
        console.print(f"  {r['status']}  {r['started'] or ''}", markup=False, soft_wrap=True)
        for g in r["groups"]:
            console.print(
                f"  {g['prompt']}  {g['model']}  n={g['n']}  pass {pct(g['pass_rate'])}",
                markup=False,
                soft_wrap=True,
            )
