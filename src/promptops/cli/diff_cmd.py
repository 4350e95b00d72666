"""``promptops diff`` and ``promptops check``: compare versions, gate merges on regressions."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer

from . import app
from .output import err, out, print_json

_FORMATS = ("table", "json", "markdown")


def _is_run(project: Any, text: str) -> bool:
    """A run id (or unique prefix) rather than a prompt ref."""
    if "@" in text or text.endswith((".yaml", ".yml")):
        return False
    from ..errors import RunError
    from ..results import find_run

    try:
        find_run(project.runs_dir, text)
    except RunError:
        return False
    return True


def _opts(**kwargs: Any) -> Any:
    from ..runner import EvalOptions

    return EvalOptions(**kwargs)


@app.command("diff")
def diff(
    a: str = typer.Argument(
        ..., help="Baseline: a prompt ref (summarize@1.1, summarize@prod) or a run id."
    ),
    b: str = typer.Argument(
        ..., help="Candidate: a prompt ref (summarize@2.0, summarize@latest) or a run id."
    ),
    model: list[str] = typer.Option(
        [],
        "--model",
        "-m",
        help="Run both versions on this model (repeatable). Default: each on its pinned model.",
    ),
    repeat: int = typer.Option(
        1, "--repeat", "-k", help="Samples per case; a case's samples are averaged first."
    ),
    concurrency: int = typer.Option(8, "--concurrency", "-c", help="Model calls in flight."),
    dataset: str | None = typer.Option(
        None, "--dataset", "-d", help="JSONL dataset for both (default: B's dataset)."
    ),
    api_base: str | None = typer.Option(
        None, "--api-base", help="Base URL of an OpenAI-compatible server."
    ),
    metric: str | None = typer.Option(
        None, "--metric", help="score, pass or an assertion metric (default: B's gate.metric)."
    ),
    margin: float | None = typer.Option(
        None, "--margin", help="Largest drop still called ok (default: B's gate.margin, else 0.02)."
    ),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed (recorded in the result)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Bypass the response cache."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json or markdown."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Also write the Markdown report to this file."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Compare two prompt versions (or two runs) case by case; exit 1 on a regression."""
    from ..diffing import compare_runs, diff_refs
    from ..errors import UsageError
    from ..project import Project

    if fmt not in _FORMATS:
        raise UsageError(f"--format must be table, json or markdown, got {fmt!r}")
    if margin is not None and not 0 <= margin <= 1:
        raise UsageError("--margin is a score difference between 0 and 1")
    project = Project.find()
    runs = (_is_run(project, a), _is_run(project, b))
    if runs == (True, True):
        result = compare_runs(project, a, b, metric=metric, margin=margin, seed=seed)
    elif runs == (False, False):
        opts = _opts(
            models=list(model),
            dataset=dataset,
            concurrency=concurrency,
            repeat=repeat,
            use_cache=not no_cache,
            api_base=api_base,
        )
        from .eval_cmd import Progress

        progress = Progress(enabled=not quiet and fmt == "table")
        try:
            result = diff_refs(
                project,
                a,
                b,
                opts,
                metric=metric,
                margin=margin,
                seed=seed,
                on_start=progress.start,
                on_record=progress.update,
            )
        finally:
            progress.stop()
    else:
        raise UsageError("give two prompt refs or two run ids, not one of each")
    _show(result, fmt, output)
    if result.verdict == "regression":
        raise typer.Exit(1)


def _show(result: Any, fmt: str, output: Path | None) -> None:
    from ..report.diff import diff_markdown, print_diff

    if fmt == "json":
        print_json(result.to_json())
    elif fmt == "markdown":
        sys.stdout.write(diff_markdown(result))
    else:
        print_diff(out(), result)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(diff_markdown(result), encoding="utf-8")


@app.command("check")
def check(
    base: str = typer.Option(
        "origin/main", "--base", help="Branch or commit the change will merge into."
    ),
    env: str = typer.Option(
        "prod", "--env", help="Baseline: the version active here in registry.yaml at the base."
    ),
    strict: bool = typer.Option(False, "--strict", help="Also fail on inconclusive verdicts."),
    markdown: Path | None = typer.Option(
        None, "--markdown", help="Write the Markdown summary (PR comment) here."
    ),
    junit: Path | None = typer.Option(None, "--junit", help="Write JUnit XML here."),
    repeat: int = typer.Option(
        1, "--repeat", "-k", help="Samples per case; a case's samples are averaged first."
    ),
    concurrency: int = typer.Option(8, "--concurrency", "-c", help="Model calls in flight."),
    api_base: str | None = typer.Option(
        None, "--api-base", help="Base URL of an OpenAI-compatible server."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Bypass the response cache."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed (recorded in the result)."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json or markdown."),
    trust_pr_code: bool = typer.Option(
        False,
        "--trust-pr-code",
        help="Run python assertion files that are new or changed on the branch (only where the "
        "branch is trusted: its code can read the environment's secrets).",
    ),
    if_no_credentials: str = typer.Option(
        "fail",
        "--if-no-credentials",
        help="fail or skip: what a version whose model credentials are unset or empty becomes "
        "(fork pull requests get no secrets). skip is reported, never a silent pass.",
    ),
) -> None:
    """Pre-merge gate: lint, then evaluate changed prompt versions against their baselines."""
    from ..check import check as run_check
    from ..errors import UsageError
    from ..project import Project
    from ..report.diff import check_markdown, print_check, write_check_junit

    if fmt not in _FORMATS:
        raise UsageError(f"--format must be table, json or markdown, got {fmt!r}")
    project = Project.find()
    opts = _opts(concurrency=concurrency, repeat=repeat, use_cache=not no_cache, api_base=api_base)
    progress = None if fmt != "table" else (lambda msg: err().print(msg, style="dim", markup=False))
    if if_no_credentials not in ("fail", "skip"):
        raise UsageError(f"--if-no-credentials must be fail or skip, got {if_no_credentials!r}")
    report = run_check(
        project,
        base,
        env,
        strict,
        opts,
        seed=seed,
        on_event=progress,
        trust_pr_code=trust_pr_code,
        if_no_credentials=if_no_credentials,
    )
    text = check_markdown(report)
    if fmt == "json":
        print_json(report.to_json())
    elif fmt == "markdown":
        sys.stdout.write(text)
    else:
        print_check(out(), report)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(text)
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(text, encoding="utf-8")
    if junit is not None:
        write_check_junit(junit, report)
    if report.failed:
        raise typer.Exit(1)
