"""``promptops runs`` (list, ``merge``) and ``promptops show-run``: what has been evaluated."""

from __future__ import annotations

from pathlib import Path

import typer

from . import app
from .output import out, print_json

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
    from ..project import Project
    from ..results import list_runs

    rows = []
    for run in list_runs(Project.find().runs_dir)[:limit]:
        s = run.summary()
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
    from rich.table import Table

    t = Table("run", "status", "started", "prompt", "model", "n", "pass", show_edge=False)
    for r in rows:
        for i, g in enumerate(
            r["groups"] or [{"prompt": "-", "model": "-", "n": 0, "pass_rate": None}]
        ):
            rate = "-" if g["pass_rate"] is None else f"{100 * g['pass_rate']:.1f}%"
            t.add_row(
                str(r["run_id"]) if i == 0 else "",
                str(r["status"]) if i == 0 else "",
                str(r["started"] or "") if i == 0 else "",
                g["prompt"],
                g["model"],
                str(g["n"]),
                rate,
            )
    out().print(t)


@runs_app.command("merge")
def merge(
    run_ids: list[str] = typer.Argument(..., help="The shard runs (ids or unique prefixes)."),
    new_id: str | None = typer.Option(
        None, "--id", help="Id of the merged run (default: a new timestamped id)."
    ),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json or markdown."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Also write the report (in --format) to this file."
    ),
    junit: Path | None = typer.Option(
        None, "--junit", help="Write JUnit XML (one testcase per case)."
    ),
) -> None:
    """Combine the runs of `eval --shard K/N` into one run; exit 1 when it misses the bar."""
    from ..errors import UsageError
    from ..project import Project
    from ..shards import merge_runs
    from .eval_cmd import _report
    from .output import warn

    if fmt not in ("table", "json", "markdown"):
        raise UsageError(f"--format must be table, json or markdown, got {fmt!r}")
    result = merge_runs(Project.find(), list(run_ids), new_id)
    _report(result, fmt, output, junit)
    missing = result.summary["shards"]["missing"]
    if missing:
        n = result.summary["shards"]["n"]
        warn(
            f"shards missing: {', '.join(f'{k}/{n}' for k in missing)}; the merged run is incomplete"
        )
    if fmt == "table":
        out().print(f"merged into run {result.run.id}", style="dim", markup=False)
    if not result.met_bar:
        raise typer.Exit(1)


@app.command("show-run")
def show_run(
    run_id: str = typer.Argument("latest", help="Run id, unique prefix, or 'latest'."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json or markdown."),
) -> None:
    """Print one run's summary and its worst failing cases."""
    from ..project import Project
    from ..results import find_run

    run = find_run(Project.find().runs_dir, run_id)
    summary = run.summary()
    if fmt == "json":
        print_json(summary)
        return
    records = list(run.records())
    if fmt == "markdown":
        from ..report.markdown import eval_markdown

        typer.echo(eval_markdown(summary, records), nl=False)
        return
    from ..report.text import assertions_table, print_summary

    console = out()
    print_summary(console, summary, records)
    console.print(assertions_table(summary["groups"]))
