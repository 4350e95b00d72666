"""Paired comparison: verdicts, the statistics behind them, and how often noise is called a
regression (the false-alarm rate), measured over many seeds."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import pytest

from promptops.errors import UsageError
from promptops.eval.runner import EvalOptions, run_eval
from promptops.gate import power as gatepower
from promptops.gate import statistics as gatestats
from promptops.gate.compare import compare_records, mcnemar_test
from promptops.gate.diff import compare_runs, diff_refs, file_diff
from promptops.gate.statistics import cases_needed
from promptops.project import Project
from promptops.refs import resolve


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


def test_identical_results_on_few_cases_are_not_ok() -> None:
    """No case differs on 40 cases: the interval does not collapse to [0, 0]."""
    c = one(records([1] * 40, "1.0.0"), records([1] * 40, "2.0.0"))
    assert c.verdict == "inconclusive" and c.method == "tango"
    assert c.ci_low is not None and c.ci_high is not None
    assert c.ci_low < -0.05 and c.ci_high > 0.05
    assert (c.mcnemar.b, c.mcnemar.c, c.mcnemar.p) == (0, 0, 1.0)
    assert c.ok_floor == 236 and c.cases_needed is not None and c.cases_needed >= 236
    assert c.regressed == [] and c.improved == []
    # with enough identical cases the data do show B is no worse
    many = one(records([1] * 300, "1.0.0"), records([1] * 300, "2.0.0"))
    assert many.verdict == "ok" and many.ci_low is not None and many.ci_low > -0.02


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


def test_the_test_follows_the_gated_metric() -> None:
    # 8 cases slip just under their pass mark (score -0.02 each); 2 failing cases gain a lot of
    # score but still fail. The mean score goes *up*, yet 8 cases flipped to failing.
    sa = [0.80] * 8 + [0.1] * 2 + [1.0] * 30
    sb = [0.78] * 8 + [0.7] * 2 + [1.0] * 30
    pa = [1] * 8 + [0] * 2 + [1] * 30
    pb = [0] * 8 + [0] * 2 + [1] * 30
    a, b = records(pa, "1.0.0", scores=sa), records(pb, "2.0.0", scores=sb)
    by_score = one(a, b)  # gated on score: the flips of pass/fail do not decide
    assert by_score.diff is not None and by_score.diff > 0 and by_score.verdict != "regression"
    assert by_score.method == "floored-t"
    by_pass = one(a, b, metric="pass")  # gated on pass: 8 of 40 lost is a regression
    assert by_pass.verdict == "regression" and by_pass.method == "tango"
    assert (by_pass.mcnemar.b, by_pass.mcnemar.c) == (8, 0)


def test_a_small_drop_is_inconclusive_with_the_cases_needed() -> None:
    b_pass = [i >= 3 for i in range(40)]  # 3 of 40 cases lost: exact one-sided p = 1/8
    c = one(records([1] * 40, "1.0.0"), records(b_pass, "2.0.0"))
    assert c.verdict == "inconclusive" and c.p_value == pytest.approx(0.125)
    assert c.ci_low is not None and c.ci_high is not None and c.diff is not None
    assert c.ci_low < -0.02 < c.ci_high
    qw, qb = 3.5 / 41, 0.5 / 41  # the observed rates, smoothed by half a case
    assert c.cases_needed == gatepower.cases_for_regression(
        qw + qb, qb - qw, 0.02, 0.025, 0.8, 41, steady=False
    )
    assert c.cases_needed is not None and 100 < c.cases_needed < 260
    assert c.detectable_drop is not None and 0.1 < c.detectable_drop < 0.3
    assert f"about {c.cases_needed} paired cases would decide this one" in c.note
    assert f"a drop of {100 * c.detectable_drop:.0f} points or more 80% of the time" in c.note
    assert c.note in c.to_json()["explanation"]


def test_cases_needed_gives_the_promised_power() -> None:
    """Simulate the advice: at the advised number of cases, with the observed (smoothed)
    rates as the truth, the verdict comes out decisive about 80% of the time."""
    rng = np.random.default_rng(1)
    for worse, better, n, margin, want in (
        (5, 5, 100, 0.05, "ok"),
        (0, 0, 40, 0.05, "ok"),
        (3, 0, 40, 0.02, "regression"),
        (8, 2, 60, 0.02, "regression"),
    ):
        qw, qb = (worse + 0.5) / (n + 1), (better + 0.5) / (n + 1)
        if want == "regression":
            needed = gatepower.cases_for_regression(qw + qb, qb - qw, margin, 0.025, 0.8, n + 1)
        else:
            needed = gatepower.cases_for_ok(qw + qb, margin, 0.025, 0.8, qb - qw)
        assert needed is not None
        hits = 0
        for _ in range(400):
            w, b, _rest = rng.multinomial(needed, [qw, qb, 1 - qw - qb])
            hits += gatestats.paired_verdict(int(w), int(b), needed, margin, 0.025) == want
        assert 0.74 <= hits / 400 <= 0.9, (worse, better, n, needed, hits)
    # no observed flip on 40 cases: never fewer than the fewest that can show ok at all
    floor = gatepower.cases_for_ok(1 / 42, 0.05, 0.025)
    assert floor is not None and floor >= 92


def test_the_margin_is_a_tolerance() -> None:
    # 8 of 1000 cases lost: a significant drop (the upper bound is below 0) of 0.008, inside
    # the margin of 0.02: ok, not a regression
    b_pass = [i >= 8 for i in range(1000)]
    a, b = records([1] * 1000, "1.0.0"), records(b_pass, "2.0.0")
    c = one(a, b, margin=0.02)
    assert c.ci_high is not None and c.ci_high < 0 and c.verdict == "ok"
    # at margin 0.005 the drop of 0.008 is beyond it and significant (p = 1/256): regression
    assert one(a, b, margin=0.005).verdict == "regression"
    assert one(a, b, margin=0.0).verdict == "regression"


def test_rare_flips_at_the_edges_are_not_regressions() -> None:
    # one case lost on a one-case dataset
    assert one(records([1], "1.0.0"), records([0], "2.0.0"), margin=0.0).verdict == "inconclusive"
    # 4 of 1000 lost: exact one-sided p = 0.0625, not evidence of any drop even at margin 0
    b_pass = [i >= 4 for i in range(1000)]
    c = one(records([1] * 1000, "1.0.0"), records(b_pass, "2.0.0"), margin=0.0)
    assert c.verdict == "inconclusive" and c.mcnemar.p == pytest.approx(0.0625)
    # a consistent 0.01 score dip on 3 cases
    dip = one(
        records([1] * 3, "1.0.0", scores=[0.95] * 3),
        records([1] * 3, "2.0.0", scores=[0.94] * 3),
        margin=0.0,
    )
    assert dip.verdict == "inconclusive" and dip.method == "floored-t"
    # the same dip on 30 cases is evidence of a (small) drop
    dip30 = one(
        records([1] * 30, "1.0.0", scores=[0.95] * 30),
        records([1] * 30, "2.0.0", scores=[0.94] * 30),
        margin=0.0,
    )
    assert dip30.verdict == "regression"


def test_cases_needed_formula() -> None:
    z = 1.959964 + 0.841621
    assert cases_needed(0.0, 0.25, 40, 0.02, 0.025) == math.ceil(z * z * 0.25 / 0.02**2)
    assert cases_needed(-0.1, 0.25, 40, 0.02, 0.025) == math.ceil(z * z * 0.25 / 0.08**2)
    assert cases_needed(-0.02, 0.25, 40, 0.02, 0.025) is None  # on the margin: never decides
    assert cases_needed(0.5, 0.0001, 40, 0.02, 0.025) == 41  # never fewer than one more


def test_mcnemar_exact() -> None:
    assert mcnemar_test(0, 0).p == 1.0
    assert mcnemar_test(5, 0).p == pytest.approx(1 / 32)
    assert mcnemar_test(0, 5).p == 1.0
    assert mcnemar_test(6, 2).p == pytest.approx(sum(math.comb(8, k) for k in range(6, 9)) / 256)


def test_tango_interval_covers_by_exact_enumeration() -> None:
    """Exact coverage of each bound over every (worse, better) outcome of n = 30 paired cases:
    neither bound misses the true difference more often than its 2.5% (plus a little)."""
    n = 30
    for q_worse, q_better in ((0.1, 0.05), (0.02, 0.0), (0.2, 0.2), (0.3, 0.1)):
        true = q_better - q_worse
        miss_low = miss_high = 0.0
        for w in range(n + 1):
            for b in range(n + 1 - w):
                prob = (
                    math.factorial(n)
                    / (math.factorial(w) * math.factorial(b) * math.factorial(n - w - b))
                    * q_worse**w
                    * q_better**b
                    * (1 - q_worse - q_better) ** (n - w - b)
                )
                if prob < 1e-12:
                    continue
                low, high = gatestats.tango_interval(w, b, n, 0.025)
                miss_low += prob * (low > true)
                miss_high += prob * (high < true)
        assert miss_low <= 0.03 and miss_high <= 0.03, (q_worse, q_better, miss_low, miss_high)


def test_t_quantile_and_spending() -> None:
    assert gatestats.t_quantile(0.975, 10) == pytest.approx(2.228139, abs=1e-6)
    assert gatestats.t_quantile(0.975, 3) == pytest.approx(3.182446, abs=1e-6)
    assert gatestats.t_quantile(0.9999, 5) == pytest.approx(9.677566, abs=1e-5)
    # O'Brien-Fleming-type spending: almost nothing early, all of it by the end
    assert gatestats.obf_spent(1.0, 0.025) == pytest.approx(0.025)
    assert gatestats.obf_spent(0.2, 0.025) < 1e-5
    sizes = gatestats.look_sizes(300, 5)
    assert sizes == [60, 120, 180, 240, 300]
    levels = gatestats.look_levels(sizes, 0.025)
    z = [NormalDist().inv_cdf(1 - x) for x in levels]
    # the published Lan-DeMets O'Brien-Fleming boundaries for 5 equal looks, one-sided 0.025
    assert z == pytest.approx([4.877, 3.357, 2.680, 2.290, 2.031], abs=0.005)
    bonferroni = gatestats.look_levels(sizes, 0.025, exact=False)
    assert sum(bonferroni) == pytest.approx(0.025) and bonferroni[-1] < levels[-1]


# ------------------------------------------------------------------------------------------
# matching, errors, repeats
# ------------------------------------------------------------------------------------------


def test_cases_missing_on_one_side_are_listed() -> None:
    a = records([1] * 10, "1.0.0", ids=[f"c{i:03d}" for i in range(10)])
    b = records([1] * 10, "2.0.0", ids=[f"c{i:03d}" for i in range(3, 13)])
    c = one(a, b)
    assert c.n_paired == 7
    assert c.only_a == ["c000", "c001", "c002"] and c.only_b == ["c010", "c011", "c012"]


def test_a_failed_call_is_that_side_failing_the_case() -> None:
    b = records([1] * 40, "2.0.0")
    for rec in b[:12]:
        rec.update(error="BadRequestError: context_length_exceeded", error_kind="bad_request")
        rec.update({"pass": False, "score": 0.0, "output": None})
    c = one(records([1] * 40, "1.0.0"), b)
    assert c.verdict == "regression" and c.n_paired == 40
    assert c.failed_b == [f"c{i:03d}" for i in range(12)] and c.failed_a == []
    assert len(c.regressed) == 12 and c.errored == []
    assert "calls failed on B for 12 case(s), counted as B failing" in c.to_json()["explanation"]


def test_cases_failed_on_both_sides_give_an_error_verdict() -> None:
    a, b = records([1] * 40, "1.0.0"), records([1] * 40, "2.0.0")
    for rec in a[:3] + b[:3]:
        rec.update(error="APIConnectionError: refused", error_kind="connection")
    c = one(a, b)
    assert c.verdict == "error" and c.errored == ["c000", "c001", "c002"]
    assert "c000, c001, c002" in c.reason and c.n_paired == 37


def test_non_finite_values_are_failures_and_json_is_strict() -> None:
    b = records([1] * 40, "2.0.0")
    for rec in b[:20]:
        rec["score"] = float("nan")
    c = one(records([1] * 40, "1.0.0"), b)
    assert c.verdict == "regression" and len(c.invalid) == 20 and c.invalid[0] == "c000 (B)"
    json.dumps(c.to_json(), allow_nan=False)  # raises on NaN


@pytest.mark.parametrize("metric", ["pass", "score", "keyword"])
def test_a_nan_score_is_a_failure_for_every_metric(metric: str) -> None:
    """A record that says ``pass`` with a NaN score (a broken grader) fails the case, whatever
    the gate metric: counted as pass, 20 NaN cases would hide a regression."""
    b = records([1] * 40, "2.0.0")
    for rec in b[:20]:
        rec["score"] = float("nan")
        rec["metrics"] = {"keyword": float("nan")}
    c = one(records([1] * 40, "1.0.0"), b, metric=metric)
    assert c.verdict == "regression" and len(c.invalid) == 20, (c.verdict, c.invalid)
    assert c.mean_b == pytest.approx(0.5)


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
    assert len(c.regressed) == 10 and c.failed_b == []
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
    c1, c2 = one(a, b, seed=5), one(a, b, seed=5)
    assert (c1.ci_low, c1.ci_high) == (c2.ci_low, c2.ci_high)
    data = json.loads(json.dumps(c1.to_json(), allow_nan=False))
    assert data["seed"] == 5 and data["method"] == "floored-t" and data["mcnemar"]["b"] >= 0
    assert data["verdict"] in ("regression", "ok", "inconclusive")


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
        c = one(records(a, "1.0.0"), records(b, "2.0.0"), notes=False)
        verdicts += c.verdict == "regression"
        naive += int(b.sum()) < int(a.sum())
    return verdicts / n_seeds, naive / n_seeds


def test_false_alarm_rate_on_a_noisy_model_with_an_unchanged_prompt() -> None:
    """Both versions are the same prompt on a model that answers at random (70% right, per-case
    difficulty varying). Over 400 seeds at the default settings, the gate may call it a
    regression at most 2.5% of the time by design (measured: 1.25%); we allow 4%. A naive
    "fewer passes than before" gate alarms about half the time; the test fails if the
    statistics are dropped for such a rule."""
    rate, naive = _simulate(400, 40, lambda rng, n: np.full(n, 0.7))
    assert rate <= 0.04, f"false-alarm rate {rate:.3f}"
    assert naive >= 0.35, f"naive gate alarm rate {naive:.3f}"
    rate_h, _ = _simulate(200, 40, lambda rng, n: rng.beta(2, 1, n))
    assert rate_h <= 0.04, f"false-alarm rate with varying difficulty {rate_h:.3f}"


def test_power_against_a_real_drop() -> None:
    """A real drop from 80% to 60% pass rate on 100 cases (independent outcomes, the hardest
    case) is caught (measured: 74%); on 40 cases a 30-point drop is (measured: 69.5%). The gate
    must show a drop beyond the 0.02 margin at 2.5%, so it needs more cases than a plain test
    of "any drop" would."""
    rate, _ = _simulate(200, 100, lambda rng, n: np.full(n, 0.8), drop=0.2)
    assert rate >= 0.65, f"power {rate:.3f}"
    rate40, _ = _simulate(200, 40, lambda rng, n: np.full(n, 0.8), drop=0.3)
    assert rate40 >= 0.6, f"power {rate40:.3f}"


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
    assert c.model == "echo/echo" and c.n_paired == 3 and c.verdict == "inconclusive"
    assert result.verdict == "inconclusive" and result.changes is not None
    assert json.loads(json.dumps(result.to_json()))["comparisons"][0]["n_paired"] == 3


def test_diff_refs_refuses_the_same_version_twice(project: Path) -> None:
    with pytest.raises(UsageError, match="same prompt"):
        diff_refs(Project(project), "summarize@prod", "summarize@1.0.0")


def test_compare_runs_as_stored(project: Path) -> None:
    proj = Project(project)
    r1 = run_eval(proj, [resolve("summarize@1.0.0", proj)], EvalOptions()).run
    r2 = run_eval(proj, [resolve("summarize@1.1.0", proj)], EvalOptions()).run
    result = compare_runs(proj, r1.id, r2.id)
    assert result.run_ids == [r1.id, r2.id] and result.verdict == "inconclusive"
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


# ------------------------------------------------------------------------------------------
# the exact tests behind `regression` (issue 20)
# ------------------------------------------------------------------------------------------


def _moved(worse: int, better: int, n: int) -> tuple[list[bool], list[bool]]:
    """Pass/fail of A and B on n cases: ``worse`` lost by B, ``better`` gained, the rest
    passed by both."""
    a = [i < worse or i >= worse + better for i in range(n)]
    b = [i >= worse for i in range(n)]
    return a, b


def test_the_known_cell_8_worse_1_better_of_40_is_a_regression() -> None:
    a, b = _moved(8, 1, 40)
    c = one(records(a, "1.0.0"), records(b, "2.0.0"), metric="pass")
    assert (c.mcnemar.b, c.mcnemar.c) == (8, 1)
    assert c.p_value == pytest.approx(0.01953125) and c.p_level == 0.025
    assert c.verdict == "regression" and c.test.startswith("exact sign test")
    assert "p = 0.0195" in c.to_json()["explanation"]


def test_a_neutral_change_is_not_a_regression() -> None:
    a, b = _moved(6, 6, 40)
    c = one(records(a, "1.0.0"), records(b, "2.0.0"), metric="pass")
    assert c.verdict == "inconclusive" and c.p_value is not None and c.p_value > 0.5
    assert c.note and c.cases_needed is not None and c.cases_needed > 40


def test_a_significant_drop_within_the_margin_is_not_a_regression() -> None:
    # 10 of 2000 lost: p = 1/1024, but a drop of 0.005 is within the margin
    a, b = _moved(10, 0, 2000)
    c = one(records(a, "1.0.0"), records(b, "2.0.0"), metric="pass", notes=False)
    assert c.p_value is not None and c.p_value < 0.001 and c.verdict == "ok"


def test_holm_controls_the_family_over_models() -> None:
    """Two models, one with p = 0.0195: alone it is a regression; beside a model with no drop,
    Holm holds the smallest p-value to 0.025 / 2 and it is not."""
    a, b = _moved(8, 1, 40)
    alone = compare_records(records(a, "1.0.0", model="m1"), records(b, "2.0.0", model="m1"))
    assert alone[0].verdict == "regression"
    same = [True] * 40
    comps = compare_records(
        records(a, "1.0.0", model="m1") + records(same, "1.0.0", model="m2"),
        records(b, "2.0.0", model="m1") + records(same, "2.0.0", model="m2"),
        notes=False,
    )
    by = {c.model: c for c in comps}
    assert by["m1"].p_level == pytest.approx(0.0125) and by["m1"].verdict == "inconclusive"
    # a clearer drop survives the correction
    a2, b2 = _moved(12, 0, 40)
    comps = compare_records(
        records(a2, "1.0.0", model="m1") + records(same, "1.0.0", model="m2"),
        records(b2, "2.0.0", model="m1") + records(same, "2.0.0", model="m2"),
        notes=False,
    )
    assert {c.model: c.verdict for c in comps}["m1"] == "regression"


def test_graded_scores_use_a_sign_flip_test_and_stay_in_range() -> None:
    # 12 cases, B scores 0.3 lower on 10 of them: exact sign-flip p = 1/1024 (10 of 10 down)
    sa = [0.9] * 12
    sb = [0.6] * 10 + [0.9] * 2
    c = one(
        records([1] * 12, "1.0.0", scores=sa),
        records([1] * 12, "2.0.0", scores=sb),
        margin=0.05,
    )
    assert c.method == "floored-t" and c.test == "sign-flip exact"
    assert c.p_value == pytest.approx(1 / 1024)
    assert c.verdict == "regression"
    # three cases, one large drop: the interval of [0, 1] scores never leaves [-1, 1]
    d = one(
        records([1, 1, 1], "1.0.0", scores=[1.0, 1.0, 0.5]),
        records([0, 1, 1], "2.0.0", scores=[0.0, 1.0, 0.5]),
        margin=0.02,
    )
    assert d.ci_low is not None and d.ci_high is not None
    assert d.ci_low >= -1.0 and d.ci_high <= 1.0 and d.verdict == "inconclusive"
    assert d.p_value == pytest.approx(0.5)


def test_graded_sign_flip_above_16_cases_is_seeded_monte_carlo() -> None:
    rng = np.random.default_rng(2)
    sa = rng.uniform(0.5, 1.0, 30)
    sb = np.clip(sa - rng.uniform(0.0, 0.2, 30), 0, 1)
    a = records([1] * 30, "1.0.0", scores=sa)
    b = records([1] * 30, "2.0.0", scores=sb)
    c1, c2 = one(a, b, seed=7), one(a, b, seed=7)
    assert "Monte Carlo" in c1.test and c1.p_value == c2.p_value
    assert c1.verdict == "regression"
