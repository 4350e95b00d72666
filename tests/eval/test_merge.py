"""``promptops eval --shard K/N`` runs merged back into one: ``promptops runs merge``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from conftest import assert_no_traceback, error_lines
from promptops.errors import RunError, UsageError
from promptops.eval.merge import merge_runs
from promptops.eval.runner import EvalOptions, EvalResult, run_eval
from promptops.project import Project
from promptops.refs import resolve

Cli = Callable[..., Result]

QA = """\
name: qa
version: {version}
model:
  id: echo/echo
  params: {{temperature: 0}}
inputs:
  question: string
template: "{prefix}: {{{{ question }}}}"
dataset: evals/qa.jsonl
assert:
  - {{type: icontains, value: "{{{{ expected }}}}"}}
  - {{type: similar, value: "Q: {{{{ expected }}}}", threshold: 0.3, metric: sim}}
  - {{type: max-words, value: 9}}
fail_under: 0.4
derived_metrics: [{{name: sim_per_case, value: sim / __count}}]
"""
WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima".split()  # noqa: SIM905


@pytest.fixture
def qa(project: Path) -> Project:
    """40 cases: some miss the expected word, some run long, similarity varies."""
    (project / "prompts/qa").mkdir(parents=True)
    (project / "prompts/qa/1.0.0.yaml").write_text(QA.format(version="1.0.0", prefix="Q"))
    (project / "prompts/qa/1.1.0.yaml").write_text(QA.format(version="1.1.0", prefix="Question"))
    with (project / "evals/qa.jsonl").open("w") as fh:
        for i in range(40):
            words = [WORDS[(i * 7 + j) % len(WORDS)] for j in range(2 + i % 9)]
            expected = words[-1] if i % 3 else "zulu"
            fh.write(
                json.dumps(
                    {"id": f"q{i:02d}", "vars": {"question": " ".join(words)}, "expected": expected}
                )
                + "\n"
            )
    return Project(project)


def same(a: Any, b: Any) -> bool:
    """Exactly equal, floats included: summaries sum with math.fsum, so they do not depend on
    the order records finished in."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b) and type(a) is type(b)


def evaluate(project: Project, ref: str = "qa@1.0", **opts: Any) -> EvalResult:
    return run_eval(project, [resolve(ref, project)], EvalOptions(**opts))


def shard_runs(project: Project, n: int = 4, ref: str = "qa@1.0") -> list[EvalResult]:
    return [evaluate(project, ref, shard=(k, n)) for k in range(1, n + 1)]


def test_merging_four_shards_gives_the_unsharded_summary(qa: Project) -> None:
    full = evaluate(qa)
    shards = shard_runs(qa)
    sizes = [s.summary["groups"][0]["n"] for s in shards if s.summary["groups"]]
    assert sum(sizes) == 40 and len(sizes) == 4, "every shard got some of the 40 cases"
    g = full.summary["groups"][0]
    assert 0 < g["passed"] < 40 and 0 < g["mean_score"] < 1, "a summary worth comparing"
    assert set(g["assertions"]) == {"icontains", "sim", "max-words"}
    assert 0 < g["derived_metrics"]["sim_per_case"] < 1  # the merge computes it too

    merged = merge_runs(qa, [s.run.id for s in reversed(shards)])
    assert merged.status == "complete"
    assert same(merged.summary["groups"], full.summary["groups"])
    assert merged.summary["bar"] == full.summary["bar"]
    assert merged.summary["shards"] == {"n": 4, "present": [1, 2, 3, 4], "missing": []}
    assert merged.summary["options"]["shard"] is None

    def outcome(records: Any) -> list[tuple[Any, ...]]:
        return sorted((r["case_id"], r["pass"], r["score"], r["output"]) for r in records)

    assert outcome(merged.run.records()) == outcome(full.run.records())
    meta = merged.run.meta()
    assert [m["shard"] for m in meta["merged_from"]] == [[1, 4], [2, 4], [3, 4], [4, 4]]
    assert meta["provenance"]["datasets"] == full.summary["provenance"]["datasets"]
    assert merged.run.summary() == merged.summary  # written to disk


def test_cli_merge_and_runs_listing(qa: Project, cli: Cli) -> None:
    ids = [s.run.id for s in shard_runs(qa, 2)]
    result = cli("runs", "merge", *ids, "--id", "merged-qa", "--format", "json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["run_id"] == "merged-qa" and summary["status"] == "complete"
    listing = cli("runs", "--json")
    assert listing.exit_code == 0, listing.output
    assert "merged-qa" in [r["run_id"] for r in json.loads(listing.stdout)]
    table = cli("runs", "-n", "1")
    assert table.exit_code == 0 and "run" in table.stdout
    again = cli("runs", "merge", *ids, "--id", "merged-qa")
    assert again.exit_code == 1 and "already exists" in again.stderr
    assert_no_traceback(again)


def test_missing_shard_is_incomplete_and_misses_the_bar(qa: Project, cli: Cli) -> None:
    shards = shard_runs(qa, 3)
    result = cli("runs", "merge", shards[0].run.id, shards[2].run.id, "--format", "markdown")
    assert result.exit_code == 1
    assert "shards missing: 2/3" in result.stderr
    assert "incomplete" in result.stdout


def test_refusals(qa: Project) -> None:
    a1, a2 = evaluate(qa, shard=(1, 2)), evaluate(qa, shard=(2, 2))
    other_split = evaluate(qa, shard=(2, 3))
    whole = evaluate(qa)
    other_version = evaluate(qa, "qa@1.1", shard=(2, 2))
    other_repeat = evaluate(qa, shard=(2, 2), repeat=2)
    twin = evaluate(qa, shard=(1, 2))
    cases = [
        ([a1, other_split], "differ in the split"),
        ([a1, whole], "is not a shard run"),
        ([a1, other_version], "differ in prompt versions"),
        ([a1, other_repeat], "differ in option 'repeat'"),
        ([a1, twin, a2], "shard 1/2 is given twice"),
    ]
    for runs, message in cases:
        with pytest.raises(RunError, match=message):
            merge_runs(qa, [r.run.id for r in runs])
    with pytest.raises(UsageError, match="given twice"):
        merge_runs(qa, [a1.run.id, a1.run.id])
    with pytest.raises(UsageError, match="--id"):
        merge_runs(qa, [a1.run.id, a2.run.id], "../escape")


def test_overlapping_records_must_agree(qa: Project) -> None:
    a1, a2 = evaluate(qa, shard=(1, 2)), evaluate(qa, shard=(2, 2))
    stray = next(a1.run.records())
    with a2.run.results_path.open("a") as fh:  # the same record again: harmless
        fh.write(json.dumps(stray) + "\n")
    merged = merge_runs(qa, [a1.run.id, a2.run.id])
    assert merged.summary["groups"][0]["n"] == 40
    with a2.run.results_path.open("a") as fh:  # the same key, another result: refused
        fh.write(json.dumps({**stray, "pass": not stray["pass"], "score": 0.123}) + "\n")
    with pytest.raises(RunError, match="different results"):
        merge_runs(qa, [a1.run.id, a2.run.id])


def test_cli_errors_are_clean(qa: Project, cli: Cli) -> None:
    result = cli("runs", "merge", "no-such-run")
    assert result.exit_code == 1
    assert "not found" in error_lines(result)[0]
    assert_no_traceback(result)
