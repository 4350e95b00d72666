"""``promptops report`` (HTML / Markdown of a run or two) and ``promptops export`` (tables)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ..report import ExportFormat, Format, RunView, Subject, render_text
from .root import app


@app.command("report")
def report(
    run_a: str = typer.Argument("latest", help="Run id, unique prefix, or 'latest'."),
    run_b: str | None = typer.Argument(
        None, help="A second run: report the comparison of the two (B against A)."
    ),
    html: Path | None = typer.Option(
        None, "--html", help="Write a self-contained HTML report (opens offline) here."
    ),
    markdown: Path | None = typer.Option(
        None, "--markdown", help="Write the Markdown report (a PR comment) here."
    ),
    metric: str | None = typer.Option(
        None, "--metric", help="Two runs: score, pass or an assertion metric (default: gate)."
    ),
    margin: float | None = typer.Option(
        None, "--margin", help="Two runs: largest drop still called ok (default: gate, 0.02)."
    ),
    seed: int = typer.Option(0, "--seed", help="Two runs: bootstrap seed."),
) -> None:
    """Write an HTML and/or Markdown report of a run, or of two runs compared (default: Markdown to stdout)."""
    from ..project import Project

    project = Project.find()
    if run_b is None:
        from ..eval.store import find_run
        from ..report.html import run_html

        run = find_run(project.runs_dir, run_a)
        summary, records = run.summary(), list(run.records())
        page = run_html(summary, records) if html is not None else ""
        md = render_text(Subject.RUN, Format.MARKDOWN, RunView(summary, records))
    else:
        from ..gate.diff import compare_runs
        from ..report.html import diff_html, load_sides

        result = compare_runs(project, run_a, run_b, metric=metric, margin=margin, seed=seed)
        page = diff_html(result, *load_sides(project, result)) if html is not None else ""
        md = render_text(Subject.DIFF, Format.MARKDOWN, result)
    for path, content in ((html, page), (markdown, md)):
        if path is not None:
            from ..report.console import note

            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
            note(f"wrote {path}")
    if html is None and markdown is None:
        sys.stdout.write(md)


@app.command("export")
def export(
    run_id: str = typer.Argument("latest", help="Run id, unique prefix, or 'latest'."),
    fmt: ExportFormat = typer.Option(
        ExportFormat.CSV, "--format", "-f", help="csv, jsonl or parquet."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="File to write (default: stdout; parquet needs a file)."
    ),
) -> None:
    """Export a run's records as a flat table: one row per record, vars.* and assert.* columns."""
    from ..eval.store import find_run
    from ..project import Project
    from ..report.export import export_run

    run = find_run(Project.find().runs_dir, run_id)
    n = export_run(run, fmt.value, output)
    if output is not None:
        from ..report.console import note

        note(f"wrote {n} rows to {output}")
