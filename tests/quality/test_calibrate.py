"""``promptops calibrate`` and the ``judge:`` requirement: kappa, its interval, the confusion
matrix, and eval/check/promote refusing a verdict on an uncalibrated judge until labels exist."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from conftest import assert_no_traceback, git
from promptops.project import Project
from promptops.providers import base
from promptops.providers.base import Call, Completion
from promptops.quality.calibrate import cohen_kappa
from promptops.quality.review import open_review

JUDGE = "cal/judge-2024-01-01"
QA = """\
name: qa
version: {version}
model:
  id: echo/echo
inputs:
  q: {{type: string}}
template: "{{{{ q }}}}"
dataset: evals/qa.jsonl
fail_under: 0
judge: {{min_kappa: 0.6, min_labels: 10}}
assert:
  - {{type: llm-rubric, value: "{rubric}", judge: {judge}}}
"""


def qa(version: str = "1.0.0", rubric: str = "is good") -> str:
    return QA.format(version=version, rubric=rubric, judge=JUDGE)


class Judge:
    """Passes an output that says 'good'."""

    cacheable = False
    default_timeout = 5.0

    async def complete(self, call: Call) -> Completion:
        text = call.messages[-1]["content"]
        body = text.split("<output>")[-1] if "<output>" in text else text
        ok = "good" in body and "bad" not in body
        return Completion(
            json.dumps({"score": 1 if ok else 0, "reason": "r"}), call.model, cost=0.0
        )

    def identity(self, model: str) -> dict[str, str]:
        return {}


@pytest.fixture
def qa_project(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    judge = Judge()
    monkeypatch.setitem(base._FACTORIES, "cal", lambda: judge)
    monkeypatch.setitem(base._INSTANCES, "cal", judge)
    (project / "prompts/qa").mkdir(parents=True)
    (project / "prompts/qa/1.0.0.yaml").write_text(qa())
    words = ["good", "bad"] * 7
    cases = [{"id": f"c{i:02d}", "vars": {"q": f"answer {i} is {w}"}} for i, w in enumerate(words)]
    (project / "evals/qa.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    git(project, "add", "-A")
    git(project, "commit", "-qm", "qa")
    return project


# -------------------------------------------------------------------------------- statistics


def test_kappa_of_a_known_table() -> None:
    pairs = [(True, True)] * 20 + [(True, False)] * 5 + [(False, True)] * 10 + [(False, False)] * 15
    a = cohen_kappa(pairs)
    assert a.n == 50 and a.matrix == ((20, 5), (10, 15))
    assert a.agreement == pytest.approx(0.7) and a.kappa == pytest.approx(0.4)
    assert a.low is not None and a.high is not None and a.low < 0.4 < a.high


def test_kappa_interval_matches_the_bootstrap() -> None:
    """The FCE variance against 4000 bootstrap resamples of the same 200 pairs."""
    rng = random.Random(3)
    pairs = []
    for _ in range(200):
        human = rng.random() < 0.4
        judge = human if rng.random() < 0.85 else not human
        pairs.append((judge, human))
    a = cohen_kappa(pairs)
    assert a.kappa is not None and a.low is not None and a.high is not None
    boots = []
    for _ in range(4000):
        sample = [pairs[rng.randrange(200)] for _ in range(200)]
        k = cohen_kappa(sample).kappa
        assert k is not None
        boots.append(k)
    boots.sort()
    lo, hi = boots[100], boots[3899]
    assert a.low == pytest.approx(lo, abs=0.03) and a.high == pytest.approx(hi, abs=0.03)


def test_kappa_edge_cases() -> None:
    assert cohen_kappa([]).kappa is None
    same = cohen_kappa([(True, True)] * 5)
    assert same.kappa is None and same.agreement == 1.0
    perfect = cohen_kappa([(True, True), (False, False)] * 5)
    assert perfect.kappa == pytest.approx(1.0) and perfect.high == 1.0


# -------------------------------------------------------------------- the requirement, end to end


def label_latest_run(root: Path, wrong: int = 0) -> int:
    """Label every output of the newest run as a person would (the judge's verdict, except for
    ``wrong`` of them); returns how many were labelled."""
    session = open_review(Project.find(root), "latest")
    n = 0
    for item in session.items:
        judged = item["assertions"][0]["pass"]
        human = judged if n >= wrong else not judged
        session.label(item["key"], "pass" if human else "fail")
        n += 1
    return n


def test_eval_refuses_the_verdict_until_labels_exist(
    qa_project: Path, cli: Callable[..., Result]
) -> None:
    result = cli("eval", "qa@1.0.0")
    assert result.exit_code == 1
    assert_no_traceback(result)
    assert "the verdict refused: qa@1.0.0 requires calibrated judges" in result.output
    assert f"llm-rubric judged by {JUDGE}: not calibrated (0 of 10 labels)" in result.output
    assert "promptops review latest" in result.output and "labels/qa.jsonl" in result.output
    assert label_latest_run(qa_project, wrong=1) == 14
    result = cli("calibrate", "qa")
    assert result.exit_code == 0, result.output
    assert "14 label(s) in labels/qa.jsonl" in result.output
    assert "agreement 92.9%" in result.output
    assert "kappa 0.857 (95% CI" in result.output
    lines = result.output.splitlines()
    row_pass = next(ln for ln in lines if ln.strip().startswith("judge pass"))
    row_fail = next(ln for ln in lines if ln.strip().startswith("judge fail"))
    assert row_pass.split()[2:] == ["7", "0"] and row_fail.split()[2:] == ["1", "6"]
    assert "qa@1.0.0 requires calibrated judges: calibrated" in result.output
    data = json.loads(cli("calibrate", "qa", "--json").output)
    [judge] = data["judges"]
    assert judge["judge"] == JUDGE and judge["n"] == 14 and judge["kappa"] == pytest.approx(6 / 7)
    assert data["requirements"]["1.0.0"]["calibrated"] is True
    assert cli("eval", "qa@1.0.0").exit_code == 0


def test_a_changed_rubric_needs_new_labels(qa_project: Path, cli: Callable[..., Result]) -> None:
    cli("eval", "qa@1.0.0")
    label_latest_run(qa_project)
    (qa_project / "prompts/qa/1.1.0.yaml").write_text(qa("1.1.0", rubric="is good and kind"))
    result = cli("eval", "qa@1.1.0")
    assert result.exit_code == 1
    assert "its rubric changed since it was calibrated" in result.output
    result = cli("calibrate", "qa")
    assert "qa@1.1.0 requires calibrated judges: NOT calibrated" in result.output


def test_a_low_kappa_is_refused(qa_project: Path, cli: Callable[..., Result]) -> None:
    cli("eval", "qa@1.0.0")
    label_latest_run(qa_project, wrong=6)
    result = cli("eval", "qa@1.0.0")
    assert result.exit_code == 1 and "is below min_kappa 0.6 over 14 labels" in result.output


def test_promote_refuses_an_uncalibrated_judge(
    qa_project: Path, cli: Callable[..., Result]
) -> None:
    cli("eval", "qa@1.0.0")
    result = cli("promote", "qa", "1.0.0", "--env", "dev")
    assert result.exit_code == 1 and "promote refused: qa@1.0.0" in result.output
    label_latest_run(qa_project)
    result = cli("promote", "qa", "1.0.0", "--env", "dev")
    assert result.exit_code == 0, result.output


def test_check_reads_labels_at_the_merge_base(qa_project: Path, cli: Callable[..., Result]) -> None:
    """A pull request cannot calibrate its own judge: labels count once merged."""
    git(qa_project, "checkout", "-qb", "labels")
    cli("eval", "qa@1.0.0")
    label_latest_run(qa_project)
    git(qa_project, "add", "labels")
    git(qa_project, "commit", "-qm", "labels")
    git(qa_project, "checkout", "-q", "main")
    git(qa_project, "reset", "-q", "--hard", "HEAD~1")  # qa is not on main yet
    git(qa_project, "checkout", "-qb", "feature")
    git(qa_project, "checkout", "-q", "labels", "--", "prompts", "evals", "labels")
    git(qa_project, "commit", "-qm", "qa with its labels")
    result = cli("check", "--base", "main", "--format", "json")
    assert result.exit_code == 1, result.output
    [entry] = json.loads(result.output)["entries"]
    assert entry["verdict"] == "error"
    assert (
        "judge not calibrated" in entry["message"]
        and "labels at the merge base" in entry["message"]
    )
    # merged: the labels are on main, and a new version under the same rubric is accepted
    git(qa_project, "checkout", "-q", "main")
    git(qa_project, "merge", "-q", "feature")
    git(qa_project, "checkout", "-qb", "next")
    (qa_project / "prompts/qa/1.0.1.yaml").write_text(qa("1.0.1"))
    git(qa_project, "add", "-A")
    git(qa_project, "commit", "-qm", "qa 1.0.1")
    result = cli("check", "--base", "main", "--format", "json")
    [entry] = json.loads(result.output)["entries"]
    # a verdict from the comparison (14 cases are too few to say ok at margin 0.02)
    assert entry["verdict"] == "inconclusive", entry["message"]
    assert "judge not calibrated" not in entry["message"]


def test_a_bad_label_line_is_named(qa_project: Path, cli: Callable[..., Result]) -> None:
    good = {
        "case_id": "c00",
        "prompt": "qa",
        "label": "pass",
        "reviewer": "a <a@b.c>",
        "time": "2026-01-01T00:00:00+00:00",
    }
    (qa_project / "labels").mkdir()
    (qa_project / "labels/qa.jsonl").write_text(
        json.dumps(good) + "\n" + json.dumps({**good, "label": 7}) + "\n"
    )
    result = cli("calibrate", "qa")
    assert result.exit_code == 1
    assert_no_traceback(result)
    assert "labels/qa.jsonl:2: label" in result.output
