"""Drift watch: promote stores per-case evidence (committed); ``drift`` re-runs what is deployed
on the loopback server and compares it, paired, with that evidence."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from conftest import git
from promptops.project import Project
from promptops.quality.drift import evidence_path, read_evidence
from promptops.testing.server import FakeOpenAI, Reply, echo

N_CASES = 60
QA = """\
name: qa
version: 1.0.0
model:
  id: openai/fake-model-2024-01-01
  params: {temperature: 0}
inputs:
  document: {type: string}
template: "Summarize: {{ document }}"
dataset: evals/qa.jsonl
gate: {metric: pass, margin: 0.1}
assert:
  - {type: icontains, value: "{{ expected }}"}
"""


def worse(req: Any) -> Any:
    """Loses the keyword on every other case: the model behind the pinned id changed."""
    n = int(req.text.split("Item ")[1].split(":")[0])
    return Reply("Sorry.") if n % 2 else echo(req)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FakeOpenAI(echo) as s:
        yield s


@pytest.fixture
def promoted(project: Path, server: FakeOpenAI, cli: Callable[..., Result]) -> Path:
    (project / "prompts/qa").mkdir(parents=True)
    (project / "prompts/qa/1.0.0.yaml").write_text(QA)
    (project / "evals/qa.jsonl").write_text(
        "".join(
            json.dumps(
                {
                    "id": f"c{i:02d}",
                    "vars": {"document": f"Item {i}: kw{i}x"},
                    "expected": f"kw{i}x",
                }
            )
            + "\n"
            for i in range(N_CASES)
        )
    )
    git(project, "add", "-A")
    git(project, "commit", "-qm", "qa")
    assert cli("eval", "qa@1.0.0", "--api-base", server.url).exit_code == 0
    result = cli("promote", "qa", "1.0.0", "--env", "prod", "--commit")
    assert result.exit_code == 0, result.output
    return project


def test_promote_commits_compact_evidence(promoted: Path) -> None:
    path = evidence_path(promoted, "qa", "1.0.0")
    assert path.is_file() and path.stat().st_size < 2000
    header, records = read_evidence(path)
    pv = Project(promoted).load(promoted / "prompts/qa/1.0.0.yaml")
    assert header["digest"] == pv.digest and header["model"] == "openai/fake-model-2024-01-01"
    assert header["gate"] == {"metric": "pass", "margin": 0.1}
    assert len(records) == N_CASES and all(r["pass"] for r in records)
    assert git(promoted, "status", "--porcelain", "evidence", "registry.yaml") == ""
    files = git(promoted, "show", "--name-only", "--format=", "HEAD").split()
    assert files == ["evidence/qa/1.0.0.jsonl.gz", "registry.yaml"]
    # deterministic bytes: the same evidence is the same file
    assert gzip.decompress(path.read_bytes()).startswith(b'{"created"')


def test_drift_says_ok_on_an_unchanged_model_and_regression_on_a_worse_one(
    promoted: Path, server: FakeOpenAI, cli: Callable[..., Result]
) -> None:
    calls = len(server.requests)
    result = cli("drift", "--env", "prod", "--api-base", server.url)
    assert result.exit_code == 0, result.output
    assert "qa@1.0.0 (prod): ok" in result.output
    assert len(server.requests) == calls + N_CASES  # uncached: every case was called again
    server.responder = worse
    result = cli("drift", "--env", "prod", "--api-base", server.url, "--json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    entries = {(e["prompt"], e["version"]): e for e in data["entries"]}
    qa = entries[("qa", "1.0.0")]
    assert data["failed"] is True and qa["verdict"] == "regression" and qa["run"]
    assert qa["evidence"] == "evidence/qa/1.0.0.jsonl.gz"


def test_versions_without_evidence_and_unknown_environments(
    promoted: Path, server: FakeOpenAI, cli: Callable[..., Result]
) -> None:
    evidence_path(promoted, "qa", "1.0.0").unlink()
    result = cli("drift", "--env", "prod", "--api-base", server.url)
    assert result.exit_code == 0
    assert "qa@1.0.0 (prod): no-evidence" in result.output
    assert "summarize@1.0.0 (prod): no-evidence" in result.output
    result = cli("drift", "--env", "nope")
    assert result.exit_code == 1 and "unknown environment nope" in result.output


def test_a_corrupt_evidence_file_is_an_error_naming_it(
    promoted: Path, server: FakeOpenAI, cli: Callable[..., Result]
) -> None:
    evidence_path(promoted, "qa", "1.0.0").write_bytes(b"not gzip")
    result = cli("drift", "--env", "prod", "--api-base", server.url)
    assert result.exit_code == 1
    assert "evidence/qa/1.0.0.jsonl.gz: not a gzip'd JSONL evidence file" in result.output
