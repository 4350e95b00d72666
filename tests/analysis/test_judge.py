"""The judge on a seeded sample: canary analyze (unpaired, per arm) and shadow analyze (paired)
score sampled records with the prompt's model-graded assertions, the loopback server judging."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from conftest import SUMMARIZE_2_0_0, assert_no_traceback
from promptops.analysis.canary import analyze, judge_sample, read_records
from promptops.analysis.judge import draw
from promptops.errors import RegistryError
from promptops.project import Project, load_prompt
from promptops.registry.changes import promote, shadow
from promptops.registry.file import read_registry
from promptops.runtime.records import CallRecord
from promptops.testing.server import FakeOpenAI, Reply, Request

JUDGE = "openai/gpt-4o-mini-2024-07-18"
RUBRIC = f"  - {{type: llm-rubric, value: Faithful to the document, judge: {JUDGE}}}\n"
POLICY = """\
canary_policy:
  min_calls: 200
  tolerances: {judge: 0.2, error_rate: 0.05, guard_rate: 0.05}
"""


@pytest.fixture
def judge_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    """Scores 1 an answer that starts with GOOD, else 0.2."""

    def responder(request: Request) -> Any:
        good = "<output>\nGOOD" in request.text
        return Reply(json.dumps({"score": 1 if good else 0.2, "reason": "judged"}))

    with FakeOpenAI(responder) as s:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_API_BASE", s.url)
        yield s


@pytest.fixture(autouse=True)
def _versions(project: Path) -> None:
    """3.0.0: 2.0.0 with an llm-rubric assertion (the judge pinned)."""
    text = SUMMARIZE_2_0_0.replace("version: 2.0.0", "version: 3.0.0") + RUBRIC
    (project / "prompts/summarize/3.0.0.yaml").write_text(text)


def canary_records(
    project: Path, n: int, canary_good: float, content: bool = True, seed: int = 5
) -> Path:
    rng = random.Random(seed)
    d = {v: load_prompt(project / f"prompts/summarize/{v}.yaml").digest for v in ("1.0.0", "3.0.0")}
    lines = []
    for i in range(2 * n):
        arm, version = ("stable", "1.0.0") if i % 2 == 0 else ("canary", "3.0.0")
        good = arm == "stable" or rng.random() < canary_good
        doc = f"document {i}"
        rec = CallRecord(
            time="2026-12-06T12:00:00Z", trace_id=f"t{i:05d}", prompt="summarize",
            version=version, digest=d[version], env="prod", arm=arm,  # type: ignore[arg-type]
            model="echo/echo", latency_ms=rng.uniform(100, 200), cost=0.0001, output_chars=40,
            output=(("GOOD " if good else "BAD ") + doc) if content else None,
            vars={"document": doc} if content else None,
            input=json.dumps([{"role": "user", "content": doc}]) if content else None,
        )  # fmt: skip
        lines.append(rec.model_dump_json(exclude_none=True))
    path = project / "calls.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def start_canary(project: Path) -> None:
    promote(Project(project), "summarize", "3.0.0", "prod", canary=5, force=True, reason="t")
    reg = project / "registry.yaml"
    reg.write_text(reg.read_text() + POLICY)


def canary_analysis(project: Path, size: int, seed: int):  # type: ignore[no-untyped-def]
    calls, fb = read_records([project / "calls.jsonl"])
    spec = read_registry(Project(project))
    judged = judge_sample(Project(project), spec, "summarize", "prod", calls, size, seed)
    return analyze(spec, "summarize", "prod", calls, fb, judged)


def test_the_same_seed_draws_the_same_sample_whatever_the_record_order() -> None:
    recs = [
        CallRecord(
            time="t",
            trace_id=f"t{i}",
            prompt="p",
            version="1",
            digest="d",
            env="e",
            arm="stable",
            model="m",
            latency_ms=1.0,
        )
        for i in range(100)
    ]
    a = [c.trace_id for c in draw(recs, 10, seed=1)]
    b = [c.trace_id for c in draw(list(reversed(recs)), 10, seed=1)]
    assert a == b and len(set(a)) == 10
    assert a != [c.trace_id for c in draw(recs, 10, seed=2)]
    assert len(draw(recs[:4], 10, seed=1)) == 4


def test_canary_judged_worse_rolls_back_on_the_judge(
    project: Path, judge_server: FakeOpenAI
) -> None:
    start_canary(project)
    canary_records(project, 300, canary_good=0.3)
    a = canary_analysis(project, 150, seed=3)
    assert a.verdict == "rollback" and a.reason.startswith("judge is worse by"), a.reason
    assert a.judge is not None and a.judge.ruler == "3.0.0"
    assert a.judge.assertions == [f"llm-rubric (judge {JUDGE})"]
    assert len(a.judge.sampled["stable"]) == len(a.judge.sampled["canary"]) == 150
    assert a.judge.scores["stable"] == 1.0 and (a.judge.scores["canary"] or 1) < 0.8
    assert judge_server.calls == 300  # one judge call per sampled record, no more


def test_same_seed_judges_the_same_records_and_the_cache_answers_again(
    project: Path, judge_server: FakeOpenAI
) -> None:
    start_canary(project)
    canary_records(project, 300, canary_good=1.0)
    a = canary_analysis(project, 200, seed=7)
    calls = judge_server.calls
    b = canary_analysis(project, 200, seed=7)
    assert a.judge == b.judge and judge_server.calls == calls  # cached: no new judge call
    c = canary_analysis(project, 200, seed=8)
    assert c.judge is not None and a.judge is not None
    assert c.judge.sampled != a.judge.sampled
    (m,) = [m for m in a.metrics if m.metric == "judge"]
    assert m.decision == "pass" and m.excess == 0.0, m


def test_records_without_content_cannot_be_judged(
    project: Path, judge_server: FakeOpenAI, cli: Callable[..., Result]
) -> None:
    start_canary(project)
    canary_records(project, 50, canary_good=1.0, content=False)
    calls, _ = read_records([project / "calls.jsonl"])
    with pytest.raises(RegistryError, match=r"none of the 100 records .* carry content"):
        judge_sample(
            Project(project), read_registry(Project(project)), "summarize", "prod", calls, 10
        )
    r = cli(
        "canary", "analyze", "summarize", "--env", "prod", "--records", "calls.jsonl",
        "--judge-sample", "10",
    )  # fmt: skip
    assert r.exit_code == 1 and "capture_content=True" in r.stderr, r.output
    assert_no_traceback(r)
    assert judge_server.calls == 0


def test_cli_judge_sample_in_text_and_json(
    project: Path, judge_server: FakeOpenAI, cli: Callable[..., Result]
) -> None:
    start_canary(project)
    canary_records(project, 300, canary_good=0.3)
    args = ("canary", "analyze", "summarize", "--env", "prod", "--records", "calls.jsonl")
    r = cli(*args, "--judge-sample", "150", "--seed", "2")
    assert r.exit_code == 3, r.output  # rollback
    assert "judge (seed 2): llm-rubric" in r.stdout and "stable 150, canary 150" in r.stdout
    r = cli(*args, "--judge-sample", "150", "--seed", "2", "--json")
    data = json.loads(r.stdout)
    assert data["judge"]["seed"] == 2 and data["judge"]["failed"] == 0
    assert "judge" in [m["metric"] for m in data["metrics"]]


def test_a_prompt_without_a_judge_says_so(project: Path, judge_server: FakeOpenAI) -> None:
    promote(Project(project), "summarize", "2.0.0", "prod", canary=5, force=True, reason="t")
    calls, _ = read_records([canary_records(project, 10, 1.0)])
    with pytest.raises(RegistryError, match="declare no model-graded assertion"):
        judge_sample(
            Project(project), read_registry(Project(project)), "summarize", "prod", calls, 5
        )


def shadow_records(project: Path, n: int, shadow_good: float, seed: int = 4) -> Path:
    rng = random.Random(seed)
    d = {v: load_prompt(project / f"prompts/summarize/{v}.yaml").digest for v in ("1.0.0", "3.0.0")}
    lines = []
    for i in range(n):
        doc = f"document {i}"
        for arm, version in (("stable", "1.0.0"), ("shadow", "3.0.0")):
            good = arm == "stable" or rng.random() < shadow_good
            rec = CallRecord(
                time="2026-12-06T12:00:00Z", trace_id=f"t{i:05d}", prompt="summarize",
                version=version, digest=d[version], env="prod", arm=arm,  # type: ignore[arg-type]
                model="echo/echo", latency_ms=10.0,
                output=("GOOD " if good else "BAD ") + f"({arm}) {doc}", vars={"document": doc},
            )  # fmt: skip
            lines.append(rec.model_dump_json(exclude_none=True))
    path = project / "shadow.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def start_shadow(project: Path) -> None:
    shadow(Project(project), "summarize", "3.0.0", "prod", 100)
    reg = project / "registry.yaml"
    reg.write_text(reg.read_text() + POLICY)


def test_shadow_judged_worse_is_a_regression_on_paired_samples(
    project: Path, judge_server: FakeOpenAI, cli: Callable[..., Result]
) -> None:
    start_shadow(project)
    shadow_records(project, 200, shadow_good=0.6)
    args = ("shadow", "analyze", "summarize", "--env", "prod", "--records", "shadow.jsonl")
    r = cli(*args, "--judge-sample", "80", "--seed", "1", "--json")
    assert r.exit_code == 3, r.output
    a = json.loads(r.stdout)
    # the model-free assertions see no difference; the judge does, on paired answers
    assert (
        a["difference"] == 0.0
        and a["judge_verdict"] == "regression"
        and a["verdict"] == "regression"
    )
    assert a["judge"]["ruler"] == "3.0.0" and len(a["judge"]["sampled"]["pairs"]) == 80
    assert a["judge"]["scores"]["served"] == 1.0 and a["judge_difference"] < -0.2
    assert judge_server.calls == 160  # both answers of each sampled pair
    again = json.loads(cli(*args, "--judge-sample", "80", "--seed", "1", "--json").stdout)
    assert again["judge"] == a["judge"] and judge_server.calls == 160
    other = json.loads(cli(*args, "--judge-sample", "80", "--seed", "9", "--json").stdout)
    assert other["judge"]["sampled"] != a["judge"]["sampled"]
    text = cli(*args, "--judge-sample", "80", "--seed", "1")
    assert "judged 1.0 -> " in text.stdout and ": regression" in text.stdout, text.stdout


def test_an_equal_shadow_is_ok_by_the_judge_too(project: Path, judge_server: FakeOpenAI) -> None:
    from promptops.analysis.shadow import analyze_shadow

    start_shadow(project)
    calls, _ = read_records([shadow_records(project, 300, shadow_good=1.0)])
    spec = read_registry(Project(project))
    a = analyze_shadow(Project(project), spec, "summarize", "prod", calls, judge_sample=100)
    assert a.judge_verdict == "ok" and a.verdict == "ok" and a.judge_difference == 0.0


def test_an_uncalibrated_judge_is_refused_when_the_prompt_requires_calibration(
    project: Path, judge_server: FakeOpenAI, cli: Callable[..., Result]
) -> None:
    path = project / "prompts/summarize/3.0.0.yaml"
    path.write_text(path.read_text() + "judge: {min_kappa: 0.6, min_labels: 20}\n")
    start_canary(project)
    canary_records(project, 50, canary_good=1.0)
    r = cli(
        "canary", "analyze", "summarize", "--env", "prod", "--records", "calls.jsonl",
        "--judge-sample", "10",
    )  # fmt: skip
    assert r.exit_code == 1 and "--judge-sample refused" in r.stderr, r.output
    assert "requires calibrated judges" in r.stderr and judge_server.calls == 0
    assert_no_traceback(r)


def test_an_undecided_judge_says_how_many_more_records_to_judge(
    project: Path, judge_server: FakeOpenAI
) -> None:
    start_canary(project)
    canary_records(project, 300, canary_good=0.85)
    a = canary_analysis(project, 20, seed=1)
    (m,) = [m for m in a.metrics if m.metric == "judge"]
    assert m.decision == "undecided" and a.verdict == "hold"
    assert "more judged records per arm (--judge-sample)" in a.reason, a.reason
