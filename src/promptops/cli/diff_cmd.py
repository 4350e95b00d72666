"""``promptops diff`` and ``promptops check``: compare versions, gate merges on regressions."""

from __future__ import annotations

import os
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from ..report import Format, Subject, TableFormat, render_text, show
from .root import app


class NoCredentials(str, Enum):
    """``check --if-no-credentials``: what a version whose model credentials are unset becomes."""

    FAIL = "fail"
    SKIP = "skip"


def _failed(verdict: str, strict: bool) -> bool:
    return verdict in ("regression", "error") or (strict and verdict == "inconclusive")


def _is_run(project: Any, text: str) -> bool:
    """A run id (or unique prefix) rather than a prompt ref."""
    if "@" in text or text.endswith((".yaml", ".yml")):
        return False
    from ..errors import RunError
    from ..eval.store import find_run

    try:
        find_run(project.runs_dir, text)
    except RunError:
        return False
    return True


def _opts(**kwargs: Any) -> Any:
    from ..eval.runner import EvalOptions

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
    seed: int = typer.Option(
        0, "--seed", help="Seed of the sequential case order (recorded in the result)."
    ),
    strict: bool = typer.Option(False, "--strict", help="Also exit 1 on inconclusive."),
    sequential: int = typer.Option(
        0,
        "--sequential",
        help="Evaluate cases in this many seeded batches; stop at the first decided look.",
    ),
    resume: str | None = typer.Option(
        None, "--resume", help="Continue an interrupted --sequential diff: RUN_ID."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Bypass the response cache."),
    fmt: Format = typer.Option(Format.TABLE, "--format", "-f", help="table, json or markdown."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Also write the Markdown report to this file."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Compare two prompt versions (or two runs) case by case; exit 1 on regression or error."""
    from ..errors import UsageError
    from ..gate.diff import compare_runs, diff_refs
    from ..plugins import load_plugins
    from ..project import Project

    if margin is not None and not 0 <= margin <= 1:
        raise UsageError("--margin is a score difference between 0 and 1")
    project = Project.find()
    load_plugins(project)
    runs = (_is_run(project, a), _is_run(project, b))
    if sequential < 0:
        raise UsageError("--sequential is a number of looks, 1 or more")
    if runs == (True, True):
        if sequential or resume:
            raise UsageError("--sequential and --resume evaluate prompt refs, not stored runs")
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
        from ..report.progress import Progress

        enabled = not quiet and fmt is Format.TABLE
        bars = [Progress(enabled=False)]

        def start(total: int, run: Any) -> None:  # one bar per eval (per look when sequential)
            bars[0].stop()
            bars[0] = Progress(enabled=enabled)
            bars[0].start(total, run)

        try:
            result = diff_refs(
                project,
                a,
                b,
                opts,
                metric=metric,
                margin=margin,
                seed=seed,
                on_start=start,
                on_record=lambda rec: bars[0].update(rec),
                sequential=sequential,
                resume=resume,
            )
        finally:
            bars[0].stop()
    else:
        raise UsageError("give two prompt refs or two run ids, not one of each")
    _show(result, fmt, output)
    if _failed(result.verdict, strict):
        raise typer.Exit(1)


def _show(result: Any, fmt: Format, output: Path | None) -> None:
    show(Subject.DIFF, fmt, result)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(render_text(Subject.DIFF, Format.MARKDOWN, result), encoding="utf-8")


@app.command("check")
def check(
    base: str = typer.Option(
        "origin/main",
        "--base",
        help="Branch or commit the change will merge into; 'none' (or an all-zeros sha) on a "
        "branch's first push: every version is evaluated on its own.",
    ),
    env: str = typer.Option(
        "prod", "--env", help="Baseline: the version active here in registry.yaml at the base."
    ),
    strict: bool = typer.Option(
        False,
        "--strict",
        help="Also fail on inconclusive verdicts (as gate: {inconclusive: fail} in promptops.yaml "
        "at the merge base).",
    ),
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
    seed: int = typer.Option(
        0, "--seed", help="Seed of the sequential case order (recorded in the result)."
    ),
    sequential: int = typer.Option(
        0,
        "--sequential",
        help="Evaluate cases in this many seeded batches; stop at the first decided look.",
    ),
    fmt: Format = typer.Option(Format.TABLE, "--format", "-f", help="table, json or markdown."),
    trust_pr_code: bool = typer.Option(
        False,
        "--trust-pr-code",
        help="Run python assertion files that are new or changed on the branch (only where the "
        "branch is trusted: its code can read the environment's secrets).",
    ),
    if_no_credentials: NoCredentials = typer.Option(
        NoCredentials.FAIL,
        "--if-no-credentials",
        help="fail or skip: what a version whose model credentials are unset or empty becomes "
        "(fork pull requests get no secrets). skip is reported, never a silent pass.",
    ),
) -> None:
    """Pre-merge gate: lint, then evaluate changed prompt versions against their baselines."""
    from ..errors import UsageError
    from ..gate.check import check as run_check
    from ..project import Project

    project = Project.find()
    opts = _opts(concurrency=concurrency, repeat=repeat, use_cache=not no_cache, api_base=api_base)
    progress: Callable[[str], None] | None = None
    if fmt is Format.TABLE:
        from ..report.console import note

        progress = note
    if sequential < 0:
        raise UsageError("--sequential is a number of looks, 1 or more")
    report = run_check(
        project,
        base,
        env,
        strict,
        opts,
        seed=seed,
        sequential=sequential,
        on_event=progress,
        trust_pr_code=trust_pr_code,
        if_no_credentials=if_no_credentials.value,
    )
    md = render_text(Subject.CHECK, Format.MARKDOWN, report)
    show(Subject.CHECK, fmt, report)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(md)
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(md, encoding="utf-8")
    if junit is not None:
        from ..report.diff import write_check_junit

        write_check_junit(junit, report)
    if report.failed:
        raise typer.Exit(1)


@app.command("power")
def power(
    drop: float = typer.Option(
        0.05, "--drop", help="The drop in pass rate to detect (0.05 = 5 points)."
    ),
    pass_rate: float = typer.Option(0.8, "--pass-rate", help="A's pass rate."),
    margin: float = typer.Option(0.02, "--margin", help="Largest drop still called ok."),
    discordance: float | None = typer.Option(
        None,
        "--discordance",
        help="Share of cases whose pass/fail differs between A and B (default: the one "
        "observed in the last diff of --prompt, else independent outcomes, the most cases).",
    ),
    prompt: str | None = typer.Option(
        None, "--prompt", help="Take the discordance from the last diff of this prompt."
    ),
    target: float = typer.Option(0.8, "--power", help="Chance of a decisive verdict."),
    cases: int | None = typer.Option(
        None, "--cases", help="Also: the chances a dataset of this many cases gives."
    ),
    alpha: float = typer.Option(0.05, "--alpha", help="Error rate: alpha/2 per decision."),
    fmt: TableFormat = typer.Option(TableFormat.TABLE, "--format", "-f", help="table or json."),
) -> None:
    """Cases a comparison needs, before spending money on it."""
    from ..errors import UsageError
    from ..gate.power import last_discordance, plan

    for name, value in (("--drop", drop), ("--pass-rate", pass_rate), ("--margin", margin)):
        if not 0 <= value <= 1:
            raise UsageError(f"{name} is a share between 0 and 1, got {value:g}")
    if drop > pass_rate:
        raise UsageError("--drop cannot exceed --pass-rate")
    if not 0 < target < 1 or not 0 < alpha < 1:
        raise UsageError("--power and --alpha are between 0 and 1")
    if discordance is not None and not 0 <= discordance <= 1:
        raise UsageError("--discordance is a share between 0 and 1")
    if cases is not None and cases < 1:
        raise UsageError("--cases must be at least 1")
    source = None
    if discordance is None and prompt is not None:
        from ..project import Project

        found = last_discordance(Project.find().runs_dir, prompt)
        if found is not None:
            discordance, run_id = found
            source = f"observed in the last diff of {prompt} (run {run_id})"
        else:
            source = f"independent outcomes (no diff of {prompt} found)"
    p = plan(
        pass_rate,
        drop,
        margin,
        alpha=alpha,
        power=target,
        discordance=discordance,
        cases=cases,
        discordance_source=source,
    )
    show(Subject.POWER, fmt, p)
