"""Paired comparison: verdicts, the statistics behind them, and how often noise is called a
regression (the false-alarm rate), measured over many seeds."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from promptops.compare import (
    bootstrap_ci,
    cases_needed,
    compare_records,
    compare_runs,
    diff_refs,
    file_diff,
    mcnemar_test,
)
from promptops.errors import UsageError
from promptops.project import Project
from promptops.refs import resolve
from promptops.runner import EvalOptions, run_eval


def records(
    passes: Any,
    version: str,
    *,
    model: str = "m",
    scores: Any = None,
    ids: list[str] | None = None,
    **extra: Any,
) -> list[dict[str, Any]]:
    """Run records as the runner writes them: ``passes`` is (cases,) or (cases, repeats)."""
    p = np.asarray(passes, dtype=bool)
    p = p[:, None] if p.ndim == 1 else p
    s = p.astype(float) if scores is None else np.asarray(scores, dtype=float).reshape(p.shape)
    out = []
    for i in range(p.shape[0]):
        for r in range(p.shape[1]):
            out.append(
                {
                    "case_id": ids[i] if ids else f"c{i:03d}",
                    "prompt": "qa",
                    "version": version,
                    "digest": f"sha256:{version}",
                    "model": model,
                    "repeat": r,
                    "score": float(s[i, r]),
                    "pass": bool(p[i, r]),
                    "error": None,
                    "output": f"out {i} {version}",
                    "latency_ms": 100.0 if version == "1.0.0" else 150.0,
                    "tokens_in": 10,
                    "tokens_out": 5,
                    "cost": 0.001,
                    "metrics": {"keyword": float(s[i, r])},
                    "assertions": [
                        {
                            "type": "icontains",
                            "metric": "keyword",
                            "pass": bool(p[i, r]),
                            "score": float(s[i, r]),
                            "reason": "" if p[i, r] else "missing",
                        }
                    ],
                    **extra,
                }
            )
    return out


def one(a: list[dict[str, Any]], b: list[dict[str, Any]], **kw: Any) -> Any:
    comps = compare_records(a, b, **kw)
    assert len(comps) == 1
    return comps[0]


# ------------------------------------------------------------------------------------------
# verdicts
# ------------------------------------------------------------------------------------------


def test_identical_results_are_ok_with_a_degenerate_interval() -> None:
    c = one(records([1] * 40, "1.0.0"), records([1] * 40, "2.0.0"))
    assert c.verdict == "ok"
    assert (c.n_paired, c.diff, c.ci_low, c.ci_high) == (40, 0.0, 0.0, 0.0)
    assert (c.mcnemar.b, c.mcnemar.c, c.mcnemar.p) == (0, 0, 1.0)
    assert c.cases_needed is None and c.regressed == [] and c.improved == []


def test_a_clear_regression_names_its_cases_with_both_outputs() -> None:
    b_pass = [i % 4 == 0 for i in range(40)]  # 30 of 40 now fail
    c = one(records([1] * 40, "1.0.0"), records(b_pass, "2.0.0"))
    assert c.verdict == "regression"
    assert c.ci_high is not None and c.ci_high < 0
    assert c.mean_a == 1.0 and c.mean_b == 0.25 and c.diff == pytest.approx(-0.75)
    assert (c.mcnemar.b, c.mcnemar.c) == (30, 0) and c.mcnemar.p < 1e-8
    assert c.regressed == [f"c{i:03d}" for i in range(40) if i % 4]
    ex = {e.case_id: e for e in c.examples}
    assert ex["c001"].output_a == "out 1 1.0.0" and ex["c001"].output_b == "out 1 2.0.0"
    assert ex["c001"].why_b == ["keyword: missing"]
    assert c.ref_a == "qa@1.0.0" and c.ref_b == "qa@2.0.0"


def test_usage_deltas() -> None:
    c = one(records([1] * 10, "1.0.0"), records([1] * 10, "2.0.0"))
    assert (c.latency_ms.a, c.latency_ms.b, c.latency_ms.diff) == (100.0, 150.0, 50.0)
    assert c.tokens_in.diff == 0 and c.cost.a == pytest.approx(0.001)
    assert c.to_json()["latency_ms"] == {"a": 100.0, "b": 150.0, "diff": 50.0}


def test_mcnemar_catches_pass_flips_that_the_mean_score_hides() -> None:
    # 8 cases slip just under their pass mark (score -0.02 each); 2 failing cases gain a lot of
    # score but still fail. The mean score goes *up*, yet 8 cases flipped to failing.
    sa = [0.80] * 8 + [0.1] * 2 + [1.0] * 30
    sb = [0.78] * 8 + [0.7] * 2 + [1.0] * 30
    pa = [1] * 8 + [0] * 2 + [1] * 30
    pb = [0] * 8 + [0] * 2 + [1] * 30
    c = one(records(pa, "1.0.0", scores=sa), records(pb, "2.0.0", scores=sb))
    assert c.diff is not None and c.diff > 0 and c.ci_high is not None and c.ci_high > 0
    assert (c.mcnemar.b, c.mcnemar.c) == (8, 0)
    assert c.mcnemar.p == pytest.approx(0.5**8)
    assert c.verdict == "regression" and "McNemar" in c.reason


def test_a_small_drop_is_inconclusive_with_the_cases_needed() -> None:
    b_pass = [i >= 3 for i in range(40)]  # 3 of 40 cases lost: p = 0.125, interval spans 0
    c = one(records([1] * 40, "1.0.0"), records(b_pass, "2.0.0"))
    assert c.verdict == "inconclusive"
    assert c.ci_low is not None and c.ci_high is not None
    assert c.ci_low < -0.02 and c.ci_high >= 0
    sd = float(np.std([-1.0] * 3 + [0.0] * 37, ddof=1))
    gap = max(c.diff + 0.02, -c.diff)
    assert c.cases_needed == math.ceil(((1.959964 + 0.841621) * sd / gap) ** 2)
    assert c.cases_needed > 40


def test_margin_decides_ok_versus_inconclusive() -> None:
    # 1 case of 200 lost: interval about [-0.015, 0]
    b_pass = [i != 0 for i in range(200)]
    a, b = records([1] * 200, "1.0.0"), records(b_pass, "2.0.0")
    assert one(a, b, margin=0.02).verdict == "ok"
    assert one(a, b, margin=0.001).verdict == "inconclusive"


def test_cases_needed_formula() -> None:
    assert cases_needed(0.0, 0.5, 40, 0.02) == math.ceil((2.801585 * 0.5 / 0.02) ** 2)
    assert cases_needed(-0.1, 0.5, 40, 0.02) == math.ceil((2.801585 * 0.5 / 0.1) ** 2)
    assert cases_needed(0.0, 0.0, 40, 0.02) is None
    assert cases_needed(0.0, 0.5, 40, 0.0) is None  # margin 0 and no difference: never decides
    assert cases_needed(0.5, 0.01, 40, 0.02) == 41  # never fewer than one more than now


def test_mcnemar_exact() -> None:
    assert mcnemar_test(0, 0).p == 1.0
    assert mcnemar_test(5, 0).p == pytest.approx(1 / 32)
    assert mcnemar_test(0, 5).p == 1.0
    assert mcnemar_test(6, 2).p == pytest.approx(sum(math.comb(8, k) for k in range(6, 9)) / 256)


# ------------------------------------------------------------------------------------------
# matching, errors, repeats
# ------------------------------------------------------------------------------------------


def test_cases_missing_on_one_side_are_listed() -> None:
    a = records([1] * 10, "1.0.0", ids=[f"c{i:03d}" for i in range(10)])
    b = records([1] * 10, "2.0.0", ids=[f"c{i:03d}" for i in range(3, 13)])
    c = one(a, b)
    assert c.n_paired == 7
    assert c.only_a == ["c000", "c001", "c002"] and c.only_b == ["c010", "c011", "c012"]


def test_provider_errors_are_left_out_and_listed_not_counted_as_failures() -> None:
    b = records([1] * 40, "2.0.0")
    for rec in b[:10]:
        rec.update(error="RateLimitError: slow down", error_kind="rate_limit")
        rec.update({"pass": False, "score": 0.0, "output": None})
    c = one(records([1] * 40, "1.0.0"), b)
    assert c.verdict == "ok" and c.n_paired == 30
    assert c.errored == [f"c{i:03d}" for i in range(10)]
    assert c.regressed == []


def test_template_errors_count_as_failures_of_that_version() -> None:
    b = records([1] * 40, "2.0.0")
    for rec in b[:10]:
        rec.update(
            {
                "error": "undefined variable 'x'",
                "error_kind": "render",
                "pass": False,
                "score": 0.0,
                "output": None,
            }
        )
    c = one(records([1] * 40, "1.0.0"), b)
    assert c.verdict == "regression" and c.n_paired == 40 and c.errored == []
    assert len(c.regressed) == 10
    assert c.examples[0].why_b == ["error: undefined variable 'x'"]


def test_repeats_are_averaged_per_case_before_resampling() -> None:
    rng = np.random.default_rng(7)
    sa, sb = rng.random((30, 4)), rng.random((30, 4))
    pa, pb = sa > 0.5, sb > 0.5
    c4 = one(records(pa, "1.0.0", scores=sa), records(pb, "2.0.0", scores=sb))
    # the same per-case means as single records: the same cases are resampled, same interval
    c1 = one(
        records(pa.mean(1) >= 0.5, "1.0.0", scores=sa.mean(1)),
        records(pb.mean(1) >= 0.5, "2.0.0", scores=sb.mean(1)),
    )
    assert c4.n_paired == 30 and c4.repeats == 4
    assert (c4.ci_low, c4.ci_high, c4.diff) == pytest.approx((c1.ci_low, c1.ci_high, c1.diff))
    assert (c4.mcnemar.b, c4.mcnemar.c) == (c1.mcnemar.b, c1.mcnemar.c)


def test_one_comparison_per_model_on_both_sides() -> None:
    a = records([1] * 5, "1.0.0", model="m1") + records([1] * 5, "1.0.0", model="m2")
    b = records([1] * 5, "2.0.0", model="m2") + records([1] * 5, "2.0.0", model="m3")
    assert [c.model for c in compare_records(a, b)] == ["m2"]


def test_records_of_two_versions_on_one_side_are_refused() -> None:
    with pytest.raises(UsageError, match="2 prompt versions"):
        compare_records(records([1], "1.0.0") + records([1], "1.1.0"), records([1], "2.0.0"))


def test_an_assertion_metric_can_be_gated_and_missing_values_are_listed() -> None:
    a, b = records([1] * 20, "1.0.0"), records([1] * 20, "2.0.0")
    for rec in b[:2]:
        rec["metrics"] = {}
    c = one(a, b, metric="keyword")
    assert c.metric == "keyword" and c.n_paired == 18 and c.unscored == ["c000", "c001"]
    assert {m.metric for m in c.secondary} == {"score", "pass"}


def test_seed_is_recorded_and_results_reproducible() -> None:
    rng = np.random.default_rng(3)
    a = records(rng.random(60) < 0.7, "1.0.0", scores=rng.random(60))
    b = records(rng.random(60) < 0.7, "2.0.0", scores=rng.random(60))
    c1, c2, c3 = one(a, b, seed=5), one(a, b, seed=5), one(a, b, seed=6)
    assert (c1.ci_low, c1.ci_high) == (c2.ci_low, c2.ci_high) != (c3.ci_low, c3.ci_high)
    data = json.loads(json.dumps(c1.to_json()))
    assert data["seed"] == 5 and data["n_boot"] == 10000 and data["mcnemar"]["b"] >= 0
    assert data["verdict"] in ("regression", "ok", "inconclusive")


def test_bootstrap_paths_agree() -> None:
    """Few distinct differences use a multinomial draw; many use index resampling. Both are
    the case bootstrap: their intervals agree."""
    d = [-1.0] * 8 + [0.0] * 80 + [1.0] * 12
    low1, high1 = bootstrap_ci(d, seed=1)
    jitter = np.asarray(d) + np.random.default_rng(0).normal(0, 1e-6, len(d))  # all distinct
    low2, high2 = bootstrap_ci(list(jitter), seed=1)
    assert low1 == pytest.approx(low2, abs=0.015) and high1 == pytest.approx(high2, abs=0.015)


# ------------------------------------------------------------------------------------------
# false alarms and power, over many seeds
# ------------------------------------------------------------------------------------------


def _simulate(n_seeds: int, n: int, p_a: Any, drop: float = 0.0) -> tuple[float, float]:
    """Rates of `regression` verdicts and of a naive "fewer passes" gate over seeds. Each
    case has its own difficulty (pass probability); B draws with ``p - drop``."""
    verdicts = naive = 0
    for seed in range(n_seeds):
        rng = np.random.default_rng(1000 + seed)
        p = p_a(rng, n)
        a = rng.random(n) < p
        b = rng.random(n) < np.clip(p - drop, 0, 1)
        c = one(records(a, "1.0.0"), records(b, "2.0.0"))
        verdicts += c.verdict == "regression"
        naive += int(b.sum()) < int(a.sum())
    return verdicts / n_seeds, naive / n_seeds


def test_false_alarm_rate_on_a_noisy_model_with_an_unchanged_prompt() -> None:
    """Both versions are the same prompt on a model that answers at random (70% right, per-case
    difficulty varying). Over 400 seeds at the default settings, the gate may call it a
    regression at most ~5% of the time: we allow 26/400 = 6.5%, which is 5% plus 1.4 standard
    errors of a 400-draw estimate (the run is seeded, so the test is deterministic). A naive
    "fewer passes than before" gate alarms about half the time; the test fails if the
    statistics are dropped for such a rule."""
    rate, naive = _simulate(400, 40, lambda rng, n: np.full(n, 0.7))
    assert rate <= 0.065, f"false-alarm rate {rate:.3f}"
    assert naive >= 0.35, f"naive gate alarm rate {naive:.3f}"
    rate_h, _ = _simulate(200, 40, lambda rng, n: rng.beta(2, 1, n))
    assert rate_h <= 0.065, f"false-alarm rate with varying difficulty {rate_h:.3f}"


def test_power_against_a_real_drop() -> None:
    """A real drop from 80% to 60% pass rate on 100 cases is caught (measured: 92.5%); on 40
    cases a 30-point drop is (measured: 85.5%)."""
    rate, _ = _simulate(200, 100, lambda rng, n: np.full(n, 0.8), drop=0.2)
    assert rate >= 0.85, f"power {rate:.3f}"
    rate40, _ = _simulate(200, 40, lambda rng, n: np.full(n, 0.8), drop=0.3)
    assert rate40 >= 0.75, f"power {rate40:.3f}"


# ------------------------------------------------------------------------------------------
# prompt file diff, refs and runs (echo provider and the loopback server)
# ------------------------------------------------------------------------------------------


def test_file_diff(project: Path) -> None:
    proj = Project(project)
    d = file_diff(resolve("summarize@1.0.0", proj), resolve("summarize@2.0.0", proj))
    assert d.template[0] == "--- summarize@1.0.0" and d.template[1] == "+++ summarize@2.0.0"
    assert any(line.startswith("-Summarize the user's document") for line in d.template)
    assert any(line.startswith("+You write summaries with a title line.") for line in d.template)
    assert d.params == {"temperature": (0, 0.2)}
    assert d.model is None and d.assertions_added == [] and d.assertions_removed == []
    assert d.fields == {
        "description": (
            "Summarize a document in a few words.",
            "Summarize a document, with a title line.",
        )
    }
    assert d.changelog == "Title line; block-scalar template."
    same = file_diff(resolve("summarize@1.0.0", proj), resolve("summarize@1.0.0", proj))
    assert same.empty


def test_diff_refs_runs_both_versions_in_one_run(project: Path) -> None:
    proj = Project(project)
    result = diff_refs(proj, "summarize@1.0.0", "summarize@2.0.0", EvalOptions())
    assert result.run is not None and len(result.run_ids) == 1
    refs = [r["ref"] for r in result.run.meta()["refs"]]
    assert refs == ["summarize@1.0.0", "summarize@2.0.0"]
    assert result.dataset == "evals/summarize.jsonl"
    (c,) = result.comparisons
    assert c.model == "echo/echo" and c.n_paired == 3 and c.verdict == "ok"
    assert result.verdict == "ok" and result.changes is not None
    assert json.loads(json.dumps(result.to_json()))["comparisons"][0]["n_paired"] == 3


def test_diff_refs_refuses_the_same_version_twice(project: Path) -> None:
    with pytest.raises(UsageError, match="same prompt"):
        diff_refs(Project(project), "summarize@prod", "summarize@1.0.0")


def test_compare_runs_as_stored(project: Path) -> None:
    proj = Project(project)
    r1 = run_eval(proj, [resolve("summarize@1.0.0", proj)], EvalOptions()).run
    r2 = run_eval(proj, [resolve("summarize@1.1.0", proj)], EvalOptions()).run
    result = compare_runs(proj, r1.id, r2.id)
    assert result.run_ids == [r1.id, r2.id] and result.verdict == "ok"
    assert result.changes is not None and result.changes.ref_b == "summarize@1.1.0"
    both = run_eval(
        proj, [resolve("summarize@1.0.0", proj), resolve("summarize@2.0.0", proj)], EvalOptions()
    ).run
    result2 = compare_runs(proj, both.id, both.id)
    assert result2.comparisons[0].ref_b == "summarize@2.0.0"
    with pytest.raises(UsageError, match="holds 2 prompt versions"):
        compare_runs(proj, both.id, r1.id)


# --- the loopback server: a change that really is worse ----------------------------------

PROMPT = """\
name: qa
version: {version}
model:
  id: openai/fake-model-2024-01-01
  params: {{temperature: 0}}
inputs:
  question: string
template: "{template}"
dataset: evals/qa.jsonl
assert:
  - {{type: icontains, value: "{{{{ expected }}}}", metric: answer}}
"""


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from promptops.testing.server import FakeOpenAI, Reply, echo

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")

    def responder(req: Any) -> Any:
        # the terse template loses the answer for every case whose number is not a multiple of 5
        if req.text.startswith("Terse:") and int(req.text.split()[-1]) % 5:
            return Reply("I don't know.")
        return echo(req)

    with FakeOpenAI(responder) as s:
        yield s


def test_diff_refs_finds_a_real_regression_through_the_server(tmp_path: Path, server: Any) -> None:
    (tmp_path / "prompts/qa").mkdir(parents=True)
    (tmp_path / "evals").mkdir()
    for version, template in (
        ("1.0.0", "Answer: {{ question }}"),
        ("1.1.0", "Terse: {{ question }}"),
    ):
        (tmp_path / f"prompts/qa/{version}.yaml").write_text(
            PROMPT.format(version=version, template=template)
        )
    (tmp_path / "evals/qa.jsonl").write_text(
        "".join(
            json.dumps(
                {"id": f"q{i:02d}", "vars": {"question": f"number {i}"}, "expected": f"number {i}"}
            )
            + "\n"
            for i in range(40)
        )
    )
    proj = Project(tmp_path)
    result = diff_refs(proj, "qa@1.0.0", "qa@1.1.0", EvalOptions(api_base=server.url))
    (c,) = result.comparisons
    assert c.verdict == "regression" and result.verdict == "regression"
    assert c.regressed == [f"q{i:02d}" for i in range(40) if i % 5]
    assert c.metric == "score" and {m.metric for m in c.secondary} == {"pass", "answer"}
    assert server.calls == 80
