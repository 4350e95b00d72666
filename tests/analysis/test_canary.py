"""canary analyze: verdicts on simulated good, bad and too-little traffic; --apply ramps or rolls
back with the analysis as evidence; the intervals stay valid under repeated looks."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from conftest import assert_no_traceback
from promptops.analysis.canary import analyze, read_records
from promptops.analysis.sequential import eb_interval
from promptops.errors import SpecError
from promptops.project import Project, load_prompt
from promptops.registry.changes import promote
from promptops.registry.file import read_registry
from promptops.runtime.records import CallRecord, FeedbackRecord

POLICY = """\
canary_policy:
  ramp: [5, 20, 50, 100]
  min_calls: 200
  tolerances: {error_rate: 0.03, guard_rate: 0.05, feedback: 0.1}
"""


@pytest.fixture(autouse=True)
def _canary(project: Path) -> None:
    promote(Project(project), "summarize", "2.0.0", "prod", canary=5, force=True, reason="t")
    reg = project / "registry.yaml"
    reg.write_text(reg.read_text() + POLICY)


def digest(project: Path, version: str) -> str:
    return load_prompt(project / "prompts" / "summarize" / f"{version}.yaml").digest


def simulate(
    project: Path,
    path: Path,
    n: tuple[int, int],
    error: tuple[float, float],
    feedback: tuple[float, float] | None = None,
    seed: int = 7,
    cost: tuple[float, float] = (1.0, 1.0),
    chars: tuple[float, float] = (1.0, 1.0),
    slow_tail: tuple[float, float] = (0.0, 0.0),
    ttft: tuple[float, float] | None = None,
) -> Path:
    """Calls of both arms interleaved, each failing with its arm's probability. Latency is
    uniform on 100-900 ms, except a share ``slow_tail`` of calls taking 2-3 s; cost per call
    (around $0.0001) and answer length (around 120 chars) vary per call and are scaled per
    arm by ``cost`` and ``chars``; with ``ttft``, calls are streamed and their first chunk
    comes after uniform(50, 150) ms scaled per arm."""
    rng = random.Random(seed)
    digests = {v: digest(project, v) for v in ("1.0.0", "2.0.0")}
    arms = ["stable"] * n[0] + ["canary"] * n[1]
    rng.shuffle(arms)
    lines = []
    for i, arm in enumerate(arms):
        k = 0 if arm == "stable" else 1
        version = "1.0.0" if k == 0 else "2.0.0"
        failed = rng.random() < error[k]
        rec = CallRecord(
            time="2026-12-06T12:00:00Z",
            trace_id=f"t{i}",
            prompt="summarize",
            version=version,
            digest=digests[version],
            env="prod",
            arm=arm,  # type: ignore[arg-type]
            model="echo/echo",
            latency_ms=(
                rng.uniform(2000, 3000) if rng.random() < slow_tail[k] else rng.uniform(100, 900)
            ),
            cost=round(rng.uniform(0.00005, 0.00015) * cost[k], 8),
            output_chars=None if failed else round(rng.gauss(120, 30) * chars[k]),
            streamed=ttft is not None,
            ttft_ms=None if ttft is None or failed else rng.uniform(50, 150) * ttft[k],
            error_type="timeout" if failed else None,
        )
        lines.append(rec.model_dump_json(exclude_none=True))
        if feedback is not None and not failed:
            good = rng.random() < feedback[k]
            fb = FeedbackRecord(time=rec.time, trace_id=rec.trace_id, score=float(good))
            lines.append(fb.model_dump_json())
    path.write_text("\n".join(lines) + "\n")
    return path


def run(project: Path, *files: Path):  # type: ignore[no-untyped-def]
    calls, fb = read_records(files)
    return analyze(read_registry(Project(project)), "summarize", "prod", calls, fb)


def test_a_good_canary_advances_to_the_next_step(project: Path) -> None:
    a = run(project, simulate(project, project / "c.jsonl", (3000, 3000), (0.01, 0.01)))
    assert a.verdict == "advance" and a.next_weight == 20, a.reason
    assert {m.metric: m.decision for m in a.metrics}["error_rate"] == "pass"
    assert a.stable.calls == 3000 and a.canary.calls == 3000


def test_a_bad_canary_rolls_back_with_the_metric_named(project: Path) -> None:
    a = run(project, simulate(project, project / "c.jsonl", (400, 400), (0.01, 0.2)))
    assert a.verdict == "rollback" and a.reason.startswith("error_rate is worse by")
    (m,) = [m for m in a.metrics if m.metric == "error_rate"]
    assert m.decision == "fail" and m.low is not None and m.low > 0.03


def decisions(a) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {m.metric: m.decision for m in a.metrics}


def test_a_good_canary_passes_every_continuous_metric(project: Path) -> None:
    a = run(project, simulate(project, project / "c.jsonl", (3000, 3000), (0.01, 0.01)))
    got = decisions(a)
    for m in ("cost", "output_chars", "latency_p50", "latency_p95"):
        assert got[m] == "pass", (m, a.metrics)
    (p95,) = [m for m in a.metrics if m.metric == "latency_p95"]
    assert p95.relative and p95.low is not None and p95.high is not None
    assert p95.low < 0 < p95.high < 0.25  # the interval covers no change, inside the tolerance
    assert "slow_rate" not in got  # opt-in: an absolute latency SLO
    assert "ttft_p95" not in got  # no streamed calls, no time to first chunk


def test_streamed_calls_add_time_to_first_chunk(project: Path) -> None:
    a = run(
        project,
        simulate(project, project / "c.jsonl", (3000, 3000), (0.01, 0.01), ttft=(1.0, 1.0)),
    )
    assert decisions(a)["ttft_p95"] == "pass", a.metrics
    assert a.stable.ttft_p50_ms is not None and 80 < a.stable.ttft_p50_ms < 120


def test_the_optional_slow_rate_decides_against_an_absolute_slo(project: Path) -> None:
    reg = project / "registry.yaml"
    reg.write_text(
        reg.read_text().replace("feedback: 0.1}", "feedback: 0.1, slow_rate: 0.05, slow_ms: 1500}")
    )
    a = run(
        project,
        simulate(project, project / "c.jsonl", (3000, 3000), (0.01, 0.01), slow_tail=(0.0, 0.2)),
    )
    got = decisions(a)
    assert got["slow_rate"] == "fail" and got["latency_p95"] == "fail", a.metrics


@pytest.mark.parametrize(
    ("metric", "worse"),
    [
        ("cost", {"cost": (1.0, 1.5)}),
        ("output_chars", {"chars": (1.0, 1.6)}),
        ("latency_p95", {"slow_tail": (0.0, 0.1)}),
        ("ttft_p95", {"ttft": (1.0, 1.5)}),
    ],
)
def test_a_canary_worse_on_one_continuous_metric_rolls_back_on_it_alone(
    project: Path, metric: str, worse: dict[str, tuple[float, float]]
) -> None:
    a = run(
        project,
        simulate(project, project / "c.jsonl", (3000, 3000), (0.01, 0.01), **worse),  # type: ignore[arg-type]
    )
    assert a.verdict == "rollback", a.reason
    assert [m.metric for m in a.metrics if m.decision == "fail"] == [metric], a.metrics
    assert a.reason.startswith(f"{metric} is worse by +"), a.reason
    (m,) = [m for m in a.metrics if m.metric == metric]
    assert m.low is not None and m.low > m.tolerance


def test_a_slightly_worse_continuous_metric_on_little_traffic_holds(project: Path) -> None:
    """Cost 15% up against a 10% tolerance on 300 calls per arm: not decided either way."""
    a = run(
        project,
        simulate(project, project / "c.jsonl", (300, 300), (0.0, 0.0), cost=(1.0, 1.15)),
    )
    assert a.verdict == "hold", a.reason
    (m,) = [m for m in a.metrics if m.metric == "cost"]
    assert m.decision == "undecided" and m.more_calls is not None and m.more_calls > 0
    # on 60 calls per arm a p95 cannot be bounded above: the interval is open, not invented
    few = run(project, simulate(project, project / "d.jsonl", (60, 60), (0.0, 0.0)))
    (p95,) = [m for m in few.metrics if m.metric == "latency_p95"]
    assert p95.decision == "undecided" and p95.high is None


def test_tolerances_are_strictly_validated_naming_file_and_field(
    project: Path, cli: Callable[..., Result]
) -> None:
    reg = project / "registry.yaml"
    (project / "x.jsonl").write_text("")
    reg.write_text(reg.read_text().replace("feedback: 0.1}", "feedback: 0.1, latency_p59: 0.2}"))
    r = cli("canary", "analyze", "summarize", "--env", "prod", "--records", "x.jsonl")
    assert r.exit_code == 1 and "registry.yaml" in r.stderr, r.output
    assert "canary_policy.tolerances.latency_p59" in r.stderr, r.stderr
    assert_no_traceback(r)
    reg.write_text(reg.read_text().replace("latency_p59: 0.2", "cost: -0.1"))
    r = cli("canary", "analyze", "summarize", "--env", "prod", "--records", "x.jsonl")
    assert r.exit_code == 1 and "canary_policy.tolerances.cost" in r.stderr, r.stderr


def test_worse_feedback_rolls_back(project: Path) -> None:
    a = run(
        project,
        simulate(project, project / "c.jsonl", (1500, 1500), (0.0, 0.0), feedback=(0.9, 0.5)),
    )
    assert a.verdict == "rollback" and "feedback" in a.reason
    assert a.stable.feedback_n > 1000 and a.canary.feedback_mean is not None


def test_too_little_traffic_holds_and_says_how_much_more(project: Path) -> None:
    few = run(project, simulate(project, project / "c.jsonl", (60, 60), (0.01, 0.01)))
    assert few.verdict == "hold" and "needs 200 per arm" in few.reason
    some = run(project, simulate(project, project / "d.jsonl", (400, 400), (0.02, 0.03)))
    assert some.verdict == "hold" and "more canary calls" in some.reason, some.reason
    (m,) = [m for m in some.metrics if m.metric == "error_rate"]
    assert m.decision == "undecided" and m.more_calls is not None and m.more_calls > 0


def test_records_of_other_deployments_are_ignored(project: Path) -> None:
    path = simulate(project, project / "c.jsonl", (300, 300), (0.0, 0.0))
    text = path.read_text().replace(digest(project, "2.0.0"), "sha256:" + "0" * 64, 10)
    path.write_text(text)
    a = run(project, path)
    assert a.ignored == 10 and a.canary.calls == 290


def test_a_bad_record_names_file_line_and_field(project: Path) -> None:
    path = project / "c.jsonl"
    path.write_text('{"kind": "feedback", "time": "x", "trace_id": "t", "score": 2}\n')
    with pytest.raises(SpecError, match=r"c.jsonl:1: score: "):
        read_records([path])


def test_repeated_looks_keep_the_false_rollback_rate_under_alpha() -> None:
    """A/A streams (same 5% error rate in both arms), tolerance 0, a look every 200 calls:
    the share of streams ever declared worse stays under alpha (a fixed-n interval looked at
    10 times would not)."""
    alpha, streams, flagged = 0.05, 40, 0
    for s in range(streams):
        rng = random.Random(s)
        a = [float(rng.random() < 0.05) for _ in range(2000)]
        b = [float(rng.random() < 0.05) for _ in range(2000)]
        for n in range(200, 2001, 200):
            ca, ra, _ = eb_interval(a[:n], alpha / 2)
            cb, rb, _ = eb_interval(b[:n], alpha / 2)
            if (cb - ca) - (ra + rb) > 0:
                flagged += 1
                break
    assert flagged / streams <= alpha


def test_cli_apply_ramps_then_rolls_back_with_evidence(
    project: Path, cli: Callable[..., Result]
) -> None:
    good = simulate(project, project / "good.jsonl", (3000, 3000), (0.01, 0.01))
    r = cli("canary", "analyze", "summarize", "--env", "prod", "--records", str(good), "--apply")
    assert r.exit_code == 0, r.output
    assert "verdict: advance" in r.stdout and "applied:" in r.stdout
    dep = read_registry(Project(project)).prompts["summarize"]["prod"]
    assert dep.canary is not None and dep.canary.weight == 20
    journal = (project / ".promptops" / "registry-log.jsonl").read_text().splitlines()
    assert "canary analyze summarize prod: advance" in json.loads(journal[-1])["reason"]

    bad = simulate(project, project / "bad.jsonl", (400, 400), (0.01, 0.25))
    r = cli(
        "canary",
        "analyze",
        "summarize",
        "--env",
        "prod",
        "--records",
        str(bad),
        "--apply",
        "--publish",
        "--json",
    )
    assert r.exit_code == 3, r.output  # rollback: automation notices, even when applied
    data = json.loads(r.stdout)
    assert data["verdict"] == "rollback" and data["applied"]["action"] == "abort-canary"
    assert data["published"]["changed"] is True
    assert read_registry(Project(project)).prompts["summarize"]["prod"].canary is None


def test_cli_exit_codes_tell_rollback_from_hold_advance_and_errors(
    project: Path, cli: Callable[..., Result]
) -> None:
    args = ("canary", "analyze", "summarize", "--env", "prod", "--records")
    simulate(project, project / "bad.jsonl", (400, 400), (0.01, 0.25))
    r = cli(*args, "bad.jsonl")
    assert r.exit_code == 3 and "verdict: rollback" in r.stdout, r.output
    simulate(project, project / "few.jsonl", (60, 60), (0.01, 0.01))
    r = cli(*args, "few.jsonl")
    assert r.exit_code == 0 and "verdict: hold" in r.stdout, r.output
    simulate(project, project / "good.jsonl", (3000, 3000), (0.01, 0.01))
    r = cli(*args, "good.jsonl", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["verdict"] == "advance", r.output
    assert cli(*args, "missing.jsonl").exit_code == 1
    assert cli("canary", "analyze", "summarize", "--records", "good.jsonl").exit_code == 2
    r = cli("canary", "analyze", "--help")
    assert "3 rollback" in r.stdout and "1 error" in r.stdout


def test_cli_errors_are_clear(project: Path, cli: Callable[..., Result]) -> None:
    r = cli("canary", "analyze", "summarize", "--env", "prod", "--records", "missing.jsonl")
    assert r.exit_code == 1 and "missing.jsonl: cannot read" in r.stderr
    assert_no_traceback(r)


def test_the_more_calls_estimate_is_near_the_traffic_that_decides() -> None:
    """A hold says about how many more canary calls decide a rate metric. With no errors in
    either arm (the excess it assumes is the true one) the decision comes, looking every 100
    calls, within a factor of 2 of the estimate; with noisy arms the estimate assumes the
    observed excess stays, so it is only a rough figure."""
    from promptops.analysis.canary import _compare

    s = c = [0.0] * 5000
    first = _compare("error_rate", s[:300], c[:300], 0.05, 0.05 / 7)
    assert first.decision == "undecided" and first.more_calls is not None
    predicted = 300 + first.more_calls
    actual = next(
        n
        for n in range(300, 5001, 100)
        if _compare("error_rate", s[:n], c[:n], 0.05, 0.05 / 7).decision != "undecided"
    )
    assert predicted / 2 <= actual <= predicted * 2, (predicted, actual)
    rng = random.Random(1)
    noisy = _compare(
        "error_rate",
        [float(rng.random() < 0.02) for _ in range(300)],
        [float(rng.random() < 0.03) for _ in range(300)],
        0.03,
        0.05 / 7,
    )
    assert noisy.decision == "undecided" and noisy.more_calls is not None
    assert noisy.more_calls >= 1
