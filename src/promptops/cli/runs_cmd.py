"""``promptops runs`` and ``promptops show-run``: what has been evaluated."""

from __future__ import annotations

import typer

from . import app
from .output import out, print_json


@app.command("runs")
def runs(
    limit: int = typer.Option(20, "--limit", "-n", help="How many runs to list."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List recorded eval runs, newest first."""
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
