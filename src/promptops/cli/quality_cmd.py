"""``promptops capture``, ``review`` and ``calibrate``: the quality loop from production calls
and human labels back into gold sets and calibrated judges."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .root import app

JsonOpt = typer.Option(False, "--json", help="Print JSON.")


@app.command("capture")
def capture(
    name: str = typer.Argument(..., help="Prompt name."),
    records: list[Path] = typer.Option(
        ..., "--records", help="JSONL call records of the runtime API (repeat for more files)."
    ),
    where: str | None = typer.Option(
        None,
        "--where",
        help="Select records: an expression over error, feedback, output, vars, guards, "
        "version, env, arm, model, latency_ms, rand (e.g. 'error or feedback < 0').",
    ),
    to: Path | None = typer.Option(
        None, "--to", help="The gold set (default: the latest version's dataset)."
    ),
    keep_pii: bool = typer.Option(
        False, "--keep-pii", help="Keep personal data in inputs (masked by default)."
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Add at most this many."),
    json_out: bool = JsonOpt,
) -> None:
    """Turn production call records into candidate cases (NAME-gold.candidates.jsonl)."""
    from ..errors import UsageError, display_path
    from ..project import Project
    from ..quality.capture import capture as capture_

    project = Project.find()
    if to is None:
        versions = project.version_files(name)
        if not versions:
            raise UsageError(
                f"no prompt {name!r} in {display_path(project.prompts_dir)}; pass --to"
            )
        pv = project.load(list(versions.values())[-1])
        dataset = project.dataset_path(pv)
        if dataset is None:
            raise UsageError(f"{pv.ref} has no dataset; pass --to evals/{name}-gold.jsonl")
        to = dataset
    result = capture_(name, records, to, where=where, keep_pii=keep_pii, limit=limit)
    if json_out:
        typer.echo(json.dumps(result.as_dict(), indent=2))
        return
    masked = ", ".join(f"{n} {k}" for k, n in sorted(result.masked.items()))
    typer.echo(
        f"{len(result.added)} candidate(s) appended to {display_path(result.candidates)} "
        f"from {result.read} record(s)" + (f"; PII masked: {masked}" if masked else "")
    )
    rest = [
        (result.duplicates, "duplicate inputs"),
        (result.not_selected, "not selected by --where"),
        (result.no_content, "without captured inputs"),
        (result.other_prompt, "of other prompts"),
        (len(result.skipped), "lines that are not call records"),
    ]
    for n, why in rest:
        if n:
            typer.echo(f"  skipped {n} {why}")
    if result.added:
        typer.echo(f"next: promptops review {display_path(result.candidates)}")


@app.command("review")
def review(
    target: str = typer.Argument(
        ..., help="A run id (or 'latest'), or a *.candidates.jsonl file made by capture."
    ),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="Port (default: a free one)."),
    no_browser: bool = typer.Option(
        False, "--no-browser", help="Do not open a browser (e.g. on a remote machine)."
    ),
    prompt: str | None = typer.Option(
        None, "--prompt", help="The prompt a candidates file belongs to (default: found)."
    ),
) -> None:
    """Label outputs and accept candidates in a local web page (127.0.0.1, token in the URL)."""
    import sys

    from ..errors import PromptOpsError
    from ..project import Project
    from ..quality.review import open_review
    from ..quality.review_server import ReviewServer

    session = open_review(Project.find(), target, prompt)
    try:
        server = ReviewServer(session, port)
    except OSError as e:
        raise PromptOpsError(f"cannot listen on 127.0.0.1:{port}: {e.strerror}") from None
    typer.echo(f"reviewing {session.kind} {session.source}: {len(session.items)} case(s)")
    typer.echo(f"labels go to {session.labels_file.relative_to(session.root).as_posix()}")
    typer.echo(f"open {server.url}")
    typer.echo("Ctrl-C to stop")
    sys.stdout.flush()
    if not no_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@app.command("calibrate")
def calibrate(
    name: str = typer.Argument(..., help="Prompt name (its labels are labels/NAME.jsonl)."),
    json_out: bool = JsonOpt,
) -> None:
    """Agreement of each judge with human labels: kappa with a 95% interval, confusion matrix."""
    from ..errors import display_path
    from ..project import Project
    from ..quality.calibrate import calibrate as calibrate_
    from ..quality.calibrate import calibration_problems
    from ..quality.labels import labels_path, read_labels

    project = Project.find()
    path = labels_path(project.root, name)
    labels = [label for _, label in read_labels(path)]
    results = calibrate_(labels)
    status: dict[str, list[str]] = {}
    for version, file in project.version_files(name).items():
        pv = project.load(file)
        if pv.spec.judge is not None:
            status[version] = calibration_problems(pv, labels, project.rel(path))
    if json_out:
        out = {
            "labels": len(labels),
            "judges": [r.to_json() for r in results],
            "requirements": {v: {"calibrated": not p, "problems": p} for v, p in status.items()},
        }
        typer.echo(json.dumps(out, indent=2))
        return
    typer.echo(f"{len(labels)} label(s) in {display_path(path)}")
    if not results:
        typer.echo(
            "no model-graded verdicts among them: label outputs of a run with model-graded "
            "assertions (promptops review RUN)"
        )
    for r in results:
        a = r.agreement
        typer.echo("")
        typer.echo(f"{r.type} judged by {r.judge or 'the default judge'}  rubric {r.rubric}")
        typer.echo(f"  versions {', '.join(r.versions) or '-'}; {a.n} labelled output(s)")
        if a.agreement is not None:
            typer.echo(f"  agreement {a.agreement:.1%}")
        if a.kappa is None:
            typer.echo("  kappa undefined (every verdict in one class)")
        else:
            typer.echo(f"  kappa {a.kappa:.3f} (95% CI {a.low:.3f} to {a.high:.3f})")
        (pp, pf), (fp, ff) = a.matrix
        width = max(len(str(x)) for x in (pp, pf, fp, ff, 4))
        typer.echo(f"  {'':12} {'human pass':>{width + 6}} {'human fail':>{width + 6}}")
        typer.echo(f"  {'judge pass':12} {pp:>{width + 6}} {pf:>{width + 6}}")
        typer.echo(f"  {'judge fail':12} {fp:>{width + 6}} {ff:>{width + 6}}")
    for version, problems in status.items():
        typer.echo("")
        if problems:
            typer.echo(f"{name}@{version} requires calibrated judges: NOT calibrated")
            for p in problems:
                typer.echo(f"  {p}")
        else:
            typer.echo(f"{name}@{version} requires calibrated judges: calibrated")


@app.command("drift")
def drift(
    env: list[str] = typer.Option(
        [], "--env", "-e", help="Environments to check (repeatable; default: all)."
    ),
    api_base: str | None = typer.Option(
        None, "--api-base", help="OpenAI-compatible endpoint for the pinned models."
    ),
    concurrency: int = typer.Option(8, "--concurrency", "-j", min=1, help="Concurrent calls."),
    json_out: bool = JsonOpt,
) -> None:
    """Re-run deployed versions uncached and compare them with their promotion evidence."""
    from ..project import Project
    from ..quality.drift import drift as drift_

    report = drift_(Project.find(), env or None, api_base=api_base, concurrency=concurrency)
    if json_out:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        if not report.entries:
            typer.echo("nothing is deployed" + (f" in {', '.join(env)}" if env else ""))
        for data in report.to_json()["entries"]:  # messages redacted: the output goes to issues
            typer.echo(
                f"{data['prompt']}@{data['version']} ({', '.join(data['envs'])}): {data['verdict']}"
            )
            if data["message"]:
                typer.echo(f"  {data['message']}")
            if data["run"]:
                typer.echo(f"  run {data['run']}")
    if report.failed:
        raise typer.Exit(1)
