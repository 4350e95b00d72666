"""``promptops eval``: the main job."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import typer

from ..report import Format, RunView, Subject, needs_records, render_text, show
from .root import app


def parse_shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    from ..errors import UsageError

    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard {text!r}: expected K/N, e.g. 3/8") from None
    return (k, n)


@app.command("eval")
def eval_(
    refs: list[str] = typer.Argument(
        None, help="Prompt refs: summarize@2.0, prompts/summarize@2.0, summarize@prod."
    ),
    dataset: str | None = typer.Option(
        None, "--dataset", "-d", help="JSONL dataset instead of the prompt's own."
    ),
    tests: bool = typer.Option(
        False, "--tests", help="Run the prompt file's inline tests instead of its dataset."
    ),
    model: list[str] = typer.Option(
        [],
        "--model",
        "-m",
        help="Model id (repeatable: a model matrix). Default: the pinned model.",
    ),
    api_base: str | None = typer.Option(
        None, "--api-base", help="Base URL of an OpenAI-compatible server."
    ),
    concurrency: int = typer.Option(8, "--concurrency", "-c", help="Model calls in flight."),
    repeat: int = typer.Option(
        1, "--repeat", "-k", help="Samples per case (independent, separately cached)."
    ),
    max_cost: float | None = typer.Option(
        None, "--max-cost", help="Stop scheduling calls once this many USD are spent."
    ),
    timeout: float | None = typer.Option(
        None, "--timeout", help="Seconds per model call (default 60; 600 for local/ models)."
    ),
    retries: int = typer.Option(
        3, "--retries", help="Retries on 429, 5xx, timeouts and malformed replies."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Bypass the response cache."),
    filter_: str | None = typer.Option(
        None, "--filter", help="Only cases whose id matches this glob."
    ),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N cases."),
    shard: str | None = typer.Option(
        None, "--shard", help="K/N: evaluate a stable 1/N of the cases (by id)."
    ),
    fail_under: float | None = typer.Option(
        None,
        "--fail-under",
        help="Pass rate needed to exit 0 (default: the prompt's fail_under, else 1.0).",
    ),
    fmt: Format = typer.Option(Format.TABLE, "--format", "-f", help="table, json or markdown."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Also write the report (in --format) to this file."
    ),
    junit: Path | None = typer.Option(
        None, "--junit", help="Write JUnit XML (one testcase per case)."
    ),
    resume: str | None = typer.Option(
        None, "--resume", help="Finish an interrupted run: RUN_ID (or 'latest')."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    estimate: bool = typer.Option(
        False,
        "--estimate",
        help="Print the calls, tokens and dollars the eval would spend; call no model.",
    ),
    batch: bool = typer.Option(
        False,
        "--batch",
        help="Send the uncached calls through the provider's batch API (half price, slower).",
    ),
    batch_poll: float | None = typer.Option(
        None, "--batch-poll", help="Seconds before the first batch poll (default 5; 1.5x to 60)."
    ),
    no_estimate: bool = typer.Option(
        False,
        "--no-estimate",
        help="No estimate line before a large eval (promptops.yaml estimate_above).",
    ),
) -> None:
    """Evaluate prompt versions on their gold datasets; exit 1 when the pass-rate bar is missed."""
    from ..errors import UsageError
    from ..eval.runner import EvalOptions, run_eval
    from ..plugins import load_plugins
    from ..project import Project
    from ..refs import resolve

    project = Project.find()
    load_plugins(project)
    if resume is not None:
        from ..eval.store import find_run

        meta = find_run(project.runs_dir, resume).meta()
        opts_data = dict(meta["options"])
        opts_data["shard"] = tuple(opts_data["shard"]) if opts_data.get("shard") else None
        opts = EvalOptions(**opts_data)
        opts.concurrency = concurrency
        if batch_poll is not None:
            opts.batch_poll = batch_poll
        opts.batch = opts.batch or batch
        if api_base is not None:  # run.json keeps the URL without its credentials
            opts.api_base = api_base
        from ..eval.store import run_version

        versions = [run_version(project, meta, r["digest"], resuming=True) for r in meta["refs"]]
    else:
        if not refs:
            raise UsageError(_no_refs_message(project))
        versions = [resolve(r, project) for r in refs]
        opts = EvalOptions(
            models=list(model),
            dataset=dataset,
            tests=tests,
            concurrency=concurrency,
            repeat=repeat,
            max_cost=max_cost,
            timeout=timeout,
            retries=retries,
            use_cache=not no_cache,
            filter=filter_,
            limit=limit,
            shard=parse_shard(shard),
            api_base=api_base,
            fail_under=fail_under,
            batch=batch,
            batch_poll=5.0 if batch_poll is None else batch_poll,
        )
    if estimate:
        from ..eval.estimate import estimate as estimate_eval

        show(Subject.ESTIMATE, fmt, estimate_eval(project, versions, opts))
        return
    if not no_estimate and resume is None:
        _estimate_line(project, versions, opts)
    command = "promptops " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    from ..report.progress import Progress

    progress = Progress(enabled=not quiet and fmt is Format.TABLE)
    started: list[Any] = []  # the run, once it has a directory

    def on_start(total: int, run: Any) -> None:
        started.append(run)
        progress.start(total, run)

    try:
        result = run_eval(
            project,
            versions,
            opts,
            on_start=on_start,
            on_record=progress.update,
            resume=resume,
            command=command,
            on_batch=progress.batch,
        )
    except KeyboardInterrupt as e:
        from ..errors import Terminated

        if isinstance(e, Terminated) or not (opts.batch and started):
            raise
        progress.stop()
        from ..report.console import error_lines

        error_lines(  # Ctrl-C: the batch keeps running at the provider
            [
                f"interrupted: submitted batches keep running at the provider; collect their "
                f"answers with: promptops eval --resume {started[0].id}"
            ]
        )
        raise typer.Exit(130) from None
    finally:
        progress.stop()
    from ..report.console import warn

    for note in result.summary.get("repairs") or []:
        warn(note)
    _report(result, fmt, output, junit)
    if result.summary["status"] == "incomplete" and result.summary.get("error"):
        warn(str(result.summary["error"]))
    if result.summary["status"] == "budget":
        warn(
            f"stopped: --max-cost ${opts.max_cost} reached (spent ${result.summary['budget']['spent']:.4f}); "
            f"finished cases are kept"
        )
    if result.stop_reason:
        from ..errors import ProviderError

        raise ProviderError(result.stop_reason)
    if any(v.spec.judge is not None for v in versions):
        from ..quality.calibrate import require_calibrated

        for v in versions:
            require_calibrated(project, v, "the verdict")
    if not result.met_bar:
        raise typer.Exit(1)


def _estimate_line(project: Any, versions: list[Any], opts: Any) -> None:
    """One line on stderr before an eval expected to make more than ``estimate_above`` calls
    (stdout stays the report: ``--format json`` is clean)."""
    above = project.config.estimate_above
    if above is None:
        return
    from ..eval.estimate import estimate_before_eval

    est = estimate_before_eval(project, versions, opts, above)
    if est is None:
        return
    from ..report.estimate import one_line

    typer.echo(
        f"{one_line(est)} (from a sample of the cases; exact: --estimate; silence: --no-estimate)",
        err=True,
    )


def _no_refs_message(project: Any) -> str:
    """Suggest refs that exist here (the highest version of up to three prompts)."""
    examples = []
    for name in project.prompt_names():
        files = project.version_files(name)
        if files:
            examples.append(f"{name}@{list(files)[-1]}")
    if not examples:
        return (
            "give at least one prompt ref; this project has no prompts yet: "
            "promptops new NAME --from-scratch"
        )
    return f"give at least one prompt ref, e.g. promptops eval {' '.join(examples[:3])}"


def _report(result: Any, fmt: Format, output: Path | None, junit: Path | None) -> None:
    summary = result.summary
    need_records = needs_records(Subject.RUN, fmt) or junit is not None or output is not None
    records = list(result.run.records()) if need_records else []
    view = RunView(summary, records)
    show(Subject.RUN, fmt, view)
    if output is not None:  # the report in --format; a table's file is its Markdown
        output.parent.mkdir(parents=True, exist_ok=True)
        file_fmt = Format.JSON if fmt is Format.JSON else Format.MARKDOWN
        output.write_text(render_text(Subject.RUN, file_fmt, view), encoding="utf-8")
    if junit is not None:
        from ..report.junit import write_junit

        write_junit(junit, f"promptops {summary.get('run_id', '')}", records)
