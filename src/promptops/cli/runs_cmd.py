"""``promptops runs`` (list, ``merge``) and ``promptops show-run``: what has been evaluated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ..report import Format, RunView, Subject, needs_records, show
from .output import out, print_json, warn
from .root import app

runs_app = typer.Typer(
    name="runs",
    invoke_without_command=True,
    no_args_is_help=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(runs_app)


@runs_app.callback()
def runs(
    ctx: typer.Context,
    limit: int = typer.Option(20, "--limit", "-n", help="How many runs to list."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List recorded eval runs, newest first (or merge shard runs: runs merge RUN...)."""
    if ctx.invoked_subcommand is not None:
        return
    from ..errors import RunError
    from ..eval.store import list_runs
    from ..project import Project

    rows = []
    for run in list_runs(Project.find().runs_dir)[:limit]:
        try:
            s = run.summary()
        except RunError as e:  # one unreadable run (or one of a newer promptops) is listed so
            warn(e.message)
            s = {"status": "unreadable"}
        rows.append(
            {
                "run_id": run.id,
                "status": s.get("status"),
                "started": s.get("started"),
                "groups": [
                    {
                        "prompt": f"{g['prompt']}@{g['version']}",
                        "model": g["model"],
                        "n": g["n"],
                        "pass_rate": g["pass_rate"],
                        "errors": g["errors"],
                    }
                    for g in s.get("groups", [])
                ],
            }
        )
    if json_out:
        print_json(rows)
        return
    print_runs(out(), rows)


def print_runs(console: Any, rows: list[dict[str, Any]]) -> None:
    """The runs table; on a narrow terminal it drops started, model, status and n (in that
    order), then stacks each run as lines: run ids and prompt@version are never cut."""
    from rich.table import Table

    from ..report.fit import fit_columns

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
                    "pass": _rate(g["pass_rate"]),
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
                f"  {g['prompt']}  {g['model']}  n={g['n']}  pass {_rate(g['pass_rate'])}",
                markup=False,
                soft_wrap=True,
            )


def _rate(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.1f}%"


@runs_app.command("merge")
def merge(
    run_ids: list[str] = typer.Argument(..., help="The shard runs (ids or unique prefixes)."),
    new_id: str | None = typer.Option(
        None, "--id", help="Id of the merged run (default: a new timestamped id)."
    ),
    fmt: Format = typer.Option(Format.TABLE, "--format", "-f", help="table, json or markdown."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Also write the report (in --format) to this file."
    ),
    junit: Path | None = typer.Option(
        None, "--junit", help="Write JUnit XML (one testcase per case)."
    ),
) -> None:
    """Combine the runs of `eval --shard K/N` into one run; exit 1 when it misses the bar."""
    from ..eval.merge import merge_runs
    from ..project import Project
    from .eval_cmd import _report
    from .output import warn

    result = merge_runs(Project.find(), list(run_ids), new_id)
    _report(result, fmt, output, junit)
    missing = result.summary["shards"]["missing"]
    if missing:
        n = result.summary["shards"]["n"]
        warn(
            f"shards missing: {', '.join(f'{k}/{n}' for k in missing)}; the merged run is incomplete"
        )
    if fmt is Format.TABLE:
        out().print(f"merged into run {result.run.id}", style="dim", markup=False)
    if not result.met_bar:
        raise typer.Exit(1)


@app.command("show-run")
def show_run(
    run_id: str = typer.Argument("latest", help="Run id, unique prefix, or 'latest'."),
    fmt: Format = typer.Option(Format.TABLE, "--format", "-f", help="table, json or markdown."),
) -> None:
    """Print one run's summary and its worst failing cases."""
    from ..eval.store import find_run
    from ..project import Project

    run = find_run(Project.find().runs_dir, run_id)
    summary = run.summary()
    records = list(run.records()) if needs_records(Subject.RUN, fmt) else []
    console = out()
    show(Subject.RUN, fmt, RunView(summary, records), console)
    if fmt is Format.TABLE:  # show-run adds the per-assertion table to the run's summary
        from ..report.text import fitted_assertions_table

        console.print(fitted_assertions_table(console, summary["groups"]))
