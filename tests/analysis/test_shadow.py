"""shadow analyze: paired scores of served and shadow answers, the gate's verdict."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from promptops import Registry
from promptops.analysis.canary import read_records
from promptops.analysis.shadow import analyze_shadow
from promptops.project import Project, load_prompt
from promptops.registry.changes import shadow
from promptops.registry.file import read_registry
from promptops.runtime.records import CallRecord


@pytest.fixture(autouse=True)
def _shadow(project: Path) -> None:
    shadow(Project(project), "summarize", "2.0.0", "prod", 100)


def simulate(project: Path, n: int, shadow_good: float, seed: int = 3) -> Path:
    rng = random.Random(seed)
    d = {v: load_prompt(project / f"prompts/summarize/{v}.yaml").digest for v in ("1.0.0", "2.0.0")}
    lines = []
    for i in range(n):
        doc = f"document number {i} about rain"
        for arm, version in (("stable", "1.0.0"), ("shadow", "2.0.0")):
            good = arm == "stable" or rng.random() < shadow_good
            rec = CallRecord(
                time="2026-12-06T12:00:00Z", trace_id=f"t{i}", prompt="summarize",
                version=version, digest=d[version], env="prod", arm=arm,  # type: ignore[arg-type]
                model="echo/echo", latency_ms=10.0,
                output=f"Summary: {doc}." if good else "Something unrelated.",
                vars={"document": doc},
            )  # fmt: skip
            lines.append(rec.model_dump_json(exclude_none=True))
    path = project / "shadow.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def run(project: Path, path: Path):  # type: ignore[no-untyped-def]
    calls, _ = read_records([path])
    return analyze_shadow(
        Project(project), read_registry(Project(project)), "summarize", "prod", calls
    )


def test_an_equal_shadow_is_ok(project: Path) -> None:
    a = run(project, simulate(project, 300, 1.0))
    assert a.verdict == "ok" and a.pairs == 300 and a.difference == 0.0


def test_a_worse_shadow_is_a_regression(project: Path) -> None:
    a = run(project, simulate(project, 300, 0.7))
    assert a.verdict == "regression" and a.difference is not None and a.difference < -0.2


def test_few_pairs_are_inconclusive_and_say_how_many_more(project: Path) -> None:
    a = run(project, simulate(project, 12, 0.95))
    assert a.verdict == "inconclusive" and a.pairs == 12


def test_end_to_end_from_the_runtime(project: Path, cli: Callable[..., Result]) -> None:
    reg = Registry.load(".", record_to=project / "calls.jsonl", capture_content=True)
    for i in range(40):
        reg.get("summarize", "prod", key=i).complete(document=f"The river rose {i} cm.")
    assert reg.wait_shadows()
    r = cli("shadow", "analyze", "summarize", "--env", "prod", "--records", "calls.jsonl", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["pairs"] == 40 and data["served_score"] == data["shadow_score"] == 1.0
    text = cli("shadow", "analyze", "summarize", "--env", "prod", "--records", "calls.jsonl")
    assert "shadow 2.0.0 vs served 1.0.0 on 40 paired calls" in text.stdout


def test_cli_exit_code_3_on_regression_0_otherwise(
    project: Path, cli: Callable[..., Result]
) -> None:
    simulate(project, 300, 0.7)
    r = cli("shadow", "analyze", "summarize", "--env", "prod", "--records", "shadow.jsonl")
    assert r.exit_code == 3 and "verdict: regression" in r.stdout, r.output
    r = cli(
        "shadow", "analyze", "summarize", "--env", "prod", "--records", "shadow.jsonl", "--json"
    )
    assert r.exit_code == 3 and json.loads(r.stdout)["verdict"] == "regression"
    simulate(project, 12, 0.95)
    r = cli("shadow", "analyze", "summarize", "--env", "prod", "--records", "shadow.jsonl")
    assert r.exit_code == 0 and "verdict: inconclusive" in r.stdout, r.output
    r = cli("shadow", "analyze", "--help")
    assert "3 regression" in r.stdout and "1 error" in r.stdout
