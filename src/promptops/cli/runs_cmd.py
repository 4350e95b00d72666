"""``promptops runs`` (list, ``merge``) and ``promptops show-run``: what has been evaluated."""

from __future__ import annotations

from pathlib import Path

import typer

from ..report import Format, RunView, Subject, TableFormat, needs_records, show
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
            from ..report.console import warn

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
    show(Subject.RUNS, TableFormat.JSON if json_out else TableFormat.TABLE, rows)


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
    from ..report.console import out, warn
    from .eval_cmd import _report

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
    show(Subject.RUN, fmt, RunView(summary, records, assertions=True))
