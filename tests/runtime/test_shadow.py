"""Shadow traffic: the shadow version is called in the background on a share of requests,
never served, recorded under the served call's trace id; bounded, with a drop counter."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from promptops import Registry
from promptops.project import Project
from promptops.registry import runtime
from promptops.registry.changes import shadow
from promptops.registry.file import read_registry


@pytest.fixture(autouse=True)
def _in_project(project: Path) -> None:
    pass


def test_shadow_is_called_beside_and_recorded_under_one_trace(project: Path) -> None:
    shadow(Project(project), "summarize", "2.0.0", "prod", 100)
    reg = Registry.load(".", record_to=project / "calls.jsonl")
    p = reg.get("summarize", "prod", key="user-1")
    assert (p.version, p.arm) == ("1.0.0", "stable") and p.shadow is not None
    reply = p.complete(document="The cat sat.")
    assert reply.metadata["promptops.prompt.version"] == "1.0.0"
    assert reg.wait_shadows()
    recs = [json.loads(x) for x in (project / "calls.jsonl").read_text().splitlines()]
    assert sorted((r["arm"], r["version"]) for r in recs) == [
        ("shadow", "2.0.0"),
        ("stable", "1.0.0"),
    ]
    assert {r["trace_id"] for r in recs} == {reply.trace_id}
    assert reg.shadow_started == 1 and reg.shadow_dropped == 0


def test_the_share_of_requests_shadowed_follows_the_weight(project: Path) -> None:
    shadow(Project(project), "summarize", "2.0.0", "prod", 10)
    reg = Registry.load(".")
    n = 4000
    hits = sum(reg.get("summarize", "prod", key=i).shadow is not None for i in range(n))
    assert abs(hits - 400) < 4 * (n * 0.1 * 0.9) ** 0.5


def test_a_full_queue_drops_and_counts(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "MAX_SHADOW_IN_FLIGHT", 0)
    shadow(Project(project), "summarize", "2.0.0", "prod", 100)
    reg = Registry.load(".", record_to=project / "calls.jsonl")
    reg.get("summarize", "prod", key="u").complete(document="x")
    assert reg.shadow_dropped == 1 and reg.shadow_started == 0
    assert len((project / "calls.jsonl").read_text().splitlines()) == 1


def test_cli_shadow_publish_and_stop(project: Path, cli: Callable[..., Result]) -> None:
    r = cli("promote", "summarize", "2.0.0", "--env", "prod", "--shadow", "10", "--publish")
    assert r.exit_code == 0, r.output
    dep = read_registry(Project(project)).prompts["summarize"]["prod"]
    assert dep.shadow is not None and (dep.shadow.version, dep.shadow.weight) == ("2.0.0", 10)
    assert dep.version == "1.0.0"
    pub = Registry.load(project / ".promptops" / "published", refresh=0)
    assert pub.get("summarize", "prod", key=3).version == "1.0.0"
    r = cli("promote", "summarize", "2.0.0", "--env", "prod", "--shadow", "0")
    assert r.exit_code == 0, r.output
    assert read_registry(Project(project)).prompts["summarize"]["prod"].shadow is None
    r = cli("promote", "summarize", "2.0.0", "--env", "prod", "--shadow", "5", "--canary", "5")
    assert r.exit_code != 0 and "--shadow serves nothing" in r.stderr


def test_history_shows_a_shadow_change(project: Path, cli: Callable[..., Result]) -> None:
    r = cli("promote", "summarize", "2.0.0", "--env", "prod", "--shadow", "10", "--commit")
    assert r.exit_code == 0, r.output
    assert "shadow summarize 2.0.0 on 10% of prod" in r.stdout
    h = cli("history", "summarize")
    assert h.exit_code == 0 and "shadow 2.0.0 on 10%" in h.stdout, h.stdout
