"""``promptops canary analyze`` and ``promptops shadow analyze``: decisions from production records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ..report import write_json
from .root import app

# Exit codes: 1 stays an error (and 2 a usage error) everywhere in the CLI; a verdict that asks
# for action gets its own code, so automation tells "roll it back" from "the analysis failed".
EXIT_ROLLBACK = 3
CANARY_EXITS = (
    "Exit codes: 0 advance or hold (hold is the normal state while traffic arrives; --json has "
    "the verdict), 3 rollback (also when --apply performed it), 1 error, 2 usage."
)
SHADOW_EXITS = "Exit codes: 0 ok or inconclusive, 3 regression, 1 error, 2 usage."

canary_app = typer.Typer(help="Decide canaries from production traffic.", no_args_is_help=True)
app.add_typer(canary_app, name="canary")


def _fmt(v: float | None, pct: bool = True) -> str:
    if v is None:
        return "-"
    return f"{v * 100:+.2f}%" if pct else f"{v:+.3f}"


def _print(a: Any) -> None:
    echo = typer.echo
    echo(
        f"{a.prompt} in {a.env}: canary {a.canary.version} at {a.weight}% "
        f"(n={a.canary.calls}) vs stable {a.stable.version} (n={a.stable.calls})"
    )
    echo(
        f"  {'metric':12} {'stable':>9} {'canary':>9} {'excess':>9}  interval (anytime)      tol.  decision"
    )
    for m in a.metrics:
        pct = m.metric not in ("feedback", "judge")
        if m.low is None:
            ival = "-"
        else:
            high = "inf" if m.high is None else _fmt(m.high, pct)
            ival = f"[{_fmt(m.low, pct)}, {high}]"
        s = "-" if m.stable is None else f"{m.stable:.4g}"
        c = "-" if m.canary is None else f"{m.canary:.4g}"
        tol = f"{m.tolerance * 100:.0f}%" if m.relative else f"{m.tolerance}"
        echo(
            f"  {m.metric:12} {s:>9} {c:>9} {_fmt(m.excess, pct):>9}  {ival:22} "
            f"{tol:>5}  {m.decision}"
        )
    for arm in (a.stable, a.canary):
        echo(
            f"  {arm.version}: latency p50 {arm.latency_p50_ms} ms, p95 {arm.latency_p95_ms} ms, "
            f"cost/call {arm.cost_per_call}, output {arm.output_chars_mean} chars, "
            f"guard triggers {arm.guard_triggers}, feedback {arm.feedback_mean} (n={arm.feedback_n})"
            + (
                f", first chunk p50 {arm.ttft_p50_ms} ms, p95 {arm.ttft_p95_ms} ms"
                if arm.ttft_p50_ms is not None
                else ""
            )
        )
    if a.judge is not None:
        _print_judge(a.judge)
    echo(f"verdict: {a.verdict}: {a.reason}")


def _print_judge(j: Any) -> None:
    n = ", ".join(f"{arm} {len(ids)}" for arm, ids in j.sampled.items())
    typer.echo(
        f"  judge (seed {j.seed}): {', '.join(j.assertions)} of {j.ruler} on {n} sampled records"
        + (f"; {j.failed} judge calls failed (left out)" if j.failed else "")
    )
    if j.without_content:
        typer.echo(
            f"  {j.without_content} records carry no content and cannot be judged "
            "(record with capture_content=True)"
        )


@canary_app.command("analyze", epilog=CANARY_EXITS)
def analyze(
    name: str = typer.Argument(..., help="Prompt name."),
    env: str = typer.Option(..., "--env", "-e", help="Environment with the canary."),
    records: list[Path] = typer.Option(
        ...,
        "--records",
        help="JSONL call logs (Registry.load(record_to=...)) or a Collector's OTLP/JSON span "
        "exports; repeatable.",
    ),
    apply: bool = typer.Option(
        False, "--apply", help="Perform the verdict: next ramp step, promotion, or abort-canary."
    ),
    commit: bool = typer.Option(False, "--commit", help="With --apply: commit registry.yaml."),
    publish: bool = typer.Option(False, "--publish", help="With --apply: publish the snapshot."),
    judge_sample: int = typer.Option(
        0,
        "--judge-sample",
        min=0,
        help="Score a seeded random sample of N records per arm (those with captured content) "
        "with the prompt's model-graded assertions; the judge's score becomes a metric.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the --judge-sample sample."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Compare the canary with the stable arm on production records: advance, hold or rollback."""
    from ..analysis.canary import analyze as analyze_
    from ..analysis.canary import apply as apply_
    from ..analysis.canary import judge_sample as judge_sample_
    from ..analysis.canary import read_records
    from ..project import Project
    from ..registry.file import read_registry

    project = Project.find()
    calls, feedback = read_records(records)
    spec = read_registry(project)
    judged = (
        judge_sample_(project, spec, name, env, calls, judge_sample, seed) if judge_sample else None
    )
    result = analyze_(spec, name, env, calls, feedback, judged)
    change = apply_(project, result, commit=commit) if apply else None
    published = None
    if change is not None and publish:
        from ..runtime.snapshot import publish as publish_

        published = publish_(project)
    if json_out:
        data: dict[str, Any] = result.model_dump(mode="json")
        data["applied"] = change.to_json() if change is not None else None
        data["published"] = published.to_json() if published is not None else None
        write_json(data)
    else:
        _print(result)
        if change is not None:
            typer.echo(f"applied: {change.subject()}")
        if published is not None:
            typer.echo(f"published: {published.manifest[:19]}... to {published.to}")
    if result.verdict == "rollback":
        raise typer.Exit(EXIT_ROLLBACK)


shadow_app = typer.Typer(
    help="Compare a shadow version on production traffic.", no_args_is_help=True
)
app.add_typer(shadow_app, name="shadow")


@shadow_app.command("analyze", epilog=SHADOW_EXITS)
def shadow_analyze(
    name: str = typer.Argument(..., help="Prompt name."),
    env: str = typer.Option(..., "--env", "-e", help="Environment with the shadow."),
    records: list[Path] = typer.Option(
        ..., "--records", help="JSONL call logs written with capture_content=True; repeatable."
    ),
    judge_sample: int = typer.Option(
        0,
        "--judge-sample",
        min=0,
        help="Also score a seeded random sample of N pairs with the prompt's model-graded "
        "assertions (its pinned judge); paired, with canary_policy.tolerances.judge.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the --judge-sample sample."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Score served and shadow answers to the same requests with their assertions; paired verdict."""
    from ..analysis.canary import read_records
    from ..analysis.shadow import analyze_shadow
    from ..project import Project
    from ..registry.file import read_registry

    project = Project.find()
    calls, _ = read_records(records)
    a = analyze_shadow(
        project, read_registry(project), name, env, calls, judge_sample=judge_sample, seed=seed
    )
    if json_out:
        write_json(a.model_dump(mode="json"))
    else:
        _print_shadow(a)
    if a.verdict == "regression":
        raise typer.Exit(EXIT_ROLLBACK)


def _print_shadow(a: Any) -> None:
    typer.echo(
        f"{a.prompt} in {a.env}: shadow {a.shadow} vs served {a.served} on {a.pairs} paired calls "
        f"({a.unpaired} unpaired)"
    )
    if a.pairs:
        typer.echo(
            f"  score {a.served_score} -> {a.shadow_score}, difference {a.difference:+.4f} "
            f"[{a.low:+.4f}, {a.high:+.4f}], margin {a.margin}"
        )
    for s in a.skipped_assertions:
        typer.echo(f"  skipped (needs a judge, see --judge-sample): {s}")
    if a.judge is not None:
        _print_judge(a.judge)
        if a.judge_difference is not None:
            typer.echo(
                f"  judged {a.judge.scores.get('served')} -> {a.judge.scores.get('shadow')}, "
                f"difference {a.judge_difference:+.4f} [{a.judge_low:+.4f}, {a.judge_high:+.4f}], "
                f"tolerance {a.judge_margin}: {a.judge_verdict}"
            )
    more = f"; about {a.more_pairs} more pairs would decide" if a.more_pairs else ""
    typer.echo(f"verdict: {a.verdict}{more}")
