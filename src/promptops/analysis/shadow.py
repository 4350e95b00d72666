"""``promptops shadow analyze``: is the shadow version as good as the served one on real traffic?

Shadow calls are recorded under the served call's trace id, so production gives *paired* data:
the same inputs answered by both versions. Records made with ``capture_content=True`` carry
the inputs and both answers; each answer is scored with its own version's assertions (the
model-free ones: model-graded assertions need a judge and are listed as skipped), and the
paired score differences go through the gate's statistics (``gate/statistics.py``: the
floored t interval and the margin from the prompt's ``gate``), as ``promptops diff`` does on
gold cases. With ``--judge-sample N`` a seeded sample of N pairs is also scored by the
prompt's model-graded assertions (its pinned judge, :mod:`promptops.analysis.judge`), and the
paired judged scores get the same rule with their own tolerance (registry.yaml's
``canary_policy.tolerances.judge``); the two comparisons share ``alpha``.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..assertions import REGISTRY, AssertionContext, run_assertions
from ..errors import RegistryError
from ..project import Project, PromptVersion
from ..runtime.records import CallRecord
from ..spec import AssertionSpec, CanaryPolicy, RegistrySpec
from .judge import JudgeSample, pinned_version


class ShadowAnalysis(BaseModel):
    """The result of `promptops shadow analyze`."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = Field(1, description="Version of this format.")
    prompt: str
    env: str
    served: str = Field(description="Version served (the stable arm).")
    shadow: str = Field(description="Shadow version.")
    pairs: int = Field(description="Calls answered by both, with content captured.")
    unpaired: int = Field(description="Records without a partner or without content.")
    served_score: float | None = Field(None, description="Mean assertion score, served.")
    shadow_score: float | None = Field(None, description="Mean assertion score, shadow.")
    difference: float | None = Field(None, description="Mean of shadow minus served.")
    low: float | None = Field(None, description="Interval of the difference: low.")
    high: float | None = Field(None, description="Interval of the difference: high.")
    margin: float = Field(description="Largest drop still called ok (the prompt's gate).")
    verdict: Literal["ok", "regression", "inconclusive"]
    more_pairs: int | None = Field(None, description="Pairs that would likely decide it.")
    skipped_assertions: list[str] = Field(
        default_factory=list, description="Need a judge (see --judge-sample)."
    )
    judge: JudgeSample | None = Field(None, description="With --judge-sample: the sample.")
    judge_difference: float | None = Field(None, description="Judged: mean of shadow - served.")
    judge_low: float | None = Field(None, description="Judged: interval of the difference: low.")
    judge_high: float | None = Field(None, description="Judged: interval of the difference: high.")
    judge_margin: float | None = Field(None, description="Judged: largest drop still called ok.")
    judge_verdict: Literal["ok", "regression", "inconclusive"] | None = Field(
        None, description="The judged comparison's own verdict (the overall one includes it)."
    )


def _score(pv: PromptVersion, specs: list[AssertionSpec], output: str, vars: dict) -> float:  # type: ignore[type-arg]
    ctx = AssertionContext(output=output, vars=vars)
    return asyncio.run(run_assertions(specs, ctx, pv.spec.threshold)).score


def analyze_shadow(
    project: Project,
    spec: RegistrySpec,
    name: str,
    env: str,
    calls: list[CallRecord],
    alpha: float = 0.05,
    judge_sample: int = 0,
    seed: int = 0,
) -> ShadowAnalysis:
    """Paired comparison of the served and shadow answers; see the module docstring."""

    dep = spec.prompts.get(name, {}).get(env)
    if dep is None or dep.shadow is None:
        raise RegistryError(
            f"{name} has no shadow in {env}; start one: promptops promote {name} VERSION "
            f"--env {env} --shadow 10"
        )
    served = pinned_version(project, name, dep.version, dep.digest)
    shadow = pinned_version(project, name, dep.shadow.version, dep.shadow.digest)
    skipped: list[str] = []

    def usable(pv: PromptVersion) -> list[AssertionSpec]:
        out = []
        for a in pv.spec.assert_:
            t = REGISTRY.get(a.base_type)
            if t is not None and t.model_graded:
                skipped.append(f"{pv.version}: {a.type}")
            else:
                out.append(a)
        return out

    s_specs, h_specs = usable(served), usable(shadow)
    base: dict[str, CallRecord] = {}
    other: dict[str, CallRecord] = {}
    unpaired = no_content = mine = 0
    for c in calls:
        if c.prompt != name or c.env != env:
            continue
        mine += 1
        if c.output is None or c.vars is None:
            unpaired += 1
            no_content += 1
            continue
        if c.arm == "stable" and c.digest == served.digest:
            base[c.trace_id] = c
        elif c.arm == "shadow" and c.digest == shadow.digest:
            other[c.trace_id] = c
    both = [t for t in base if t in other]
    unpaired += len(base) + len(other) - 2 * len(both)
    a_scores, b_scores = [], []
    for t in both:
        x, y = base[t], other[t]
        assert x.output is not None and y.output is not None
        a_scores.append(_score(served, s_specs, x.output, x.vars or {}))
        b_scores.append(_score(shadow, h_specs, y.output, y.vars or {}))
    margin = shadow.spec.gate.margin
    judged = (
        _judge_pairs(
            project,
            name,
            env,
            (served, shadow),
            (base, other, no_content, mine),
            judge_sample,
            seed,
        )
        if judge_sample
        else None
    )
    level = alpha / 2 if judged is not None else alpha  # two comparisons share alpha
    if not both:
        return ShadowAnalysis(
            prompt=name, env=env, served=served.version, shadow=shadow.version, pairs=0,
            unpaired=unpaired, margin=margin, verdict="inconclusive",
            skipped_assertions=skipped,
        )  # fmt: skip
    diffs = [b - a for a, b in zip(a_scores, b_scores, strict=True)]
    verdict, low, high, mean, more = _paired(diffs, margin, level)
    extra: dict[str, object] = {}
    if judged is not None:
        sample, j_diffs = judged
        tol = (spec.canary_policy or CanaryPolicy()).tolerances.judge
        j_verdict, j_low, j_high, j_mean, _ = (
            _paired(j_diffs, tol, level) if j_diffs else ("inconclusive", None, None, None, None)
        )
        extra = {
            "judge": sample,
            "judge_difference": None if j_mean is None else round(j_mean, 4),
            "judge_low": None if j_low is None else round(j_low, 4),
            "judge_high": None if j_high is None else round(j_high, 4),
            "judge_margin": tol,
            "judge_verdict": j_verdict,
        }
        verdicts = {verdict, j_verdict}
        verdict = (
            "regression"
            if "regression" in verdicts
            else "ok"
            if verdicts == {"ok"}
            else "inconclusive"
        )
    n = len(both)
    return ShadowAnalysis(
        prompt=name,
        env=env,
        served=served.version,
        shadow=shadow.version,
        pairs=n,
        unpaired=unpaired,
        served_score=round(sum(a_scores) / n, 4),
        shadow_score=round(sum(b_scores) / n, 4),
        difference=round(mean, 4),
        low=round(low, 4),
        high=round(high, 4),
        margin=margin,
        verdict=verdict,
        more_pairs=more,
        skipped_assertions=skipped,
        **extra,
    )


Verdict = Literal["ok", "regression", "inconclusive"]


def _paired(
    diffs: list[float], margin: float, alpha: float
) -> tuple[Verdict, float, float, float, int | None]:
    """The gate's rule for graded scores (gate/compare.py) on paired differences: a
    regression is a drop that the exact sign-flip test finds at the one-sided level, beyond
    the margin, past half the margin. (verdict, low, high, mean, pairs that would decide)."""
    from ..gate import exact
    from ..gate.statistics import HALF_LEVEL, cases_needed, floored_t

    low, high, spread = floored_t(diffs, alpha / 2)
    p_drop, _ = exact.sign_flip_p(diffs, 0)
    past_half = floored_t(diffs, HALF_LEVEL)[1] < -margin / 2
    verdict: Verdict
    if p_drop <= alpha / 2 and exact.beyond_margin(spread.mean, margin) and past_half:
        verdict = "regression"
    elif low > -margin:
        verdict = "ok"
    else:
        verdict = "inconclusive"
    more = None
    if verdict == "inconclusive":
        need = cases_needed(spread.mean, spread.var, len(diffs), margin, alpha / 2)
        more = None if need is None else need - len(diffs)
    return verdict, low, high, spread.mean, more


def _judge_pairs(
    project: Project,
    name: str,
    env: str,
    versions: tuple[PromptVersion, PromptVersion],
    records: tuple[dict[str, CallRecord], dict[str, CallRecord], int, int],
    size: int,
    seed: int,
) -> tuple[JudgeSample, list[float]]:
    """A seeded sample of ``size`` pairs, both answers judged by the same ruler; the paired
    differences of the pairs the judge scored on both sides."""
    from .judge import describe, draw, graded_specs, judge_records, no_content_error

    served, shadow = versions
    base, other, no_content, total = records
    both = [t for t in base if t in other]
    ruler, specs = graded_specs(project, shadow, served)
    if no_content == total:
        raise no_content_error(name, env, total)
    picked = draw([base[t] for t in both], size, seed)
    ids = [c.trace_id for c in picked]
    scores = judge_records(project, specs, {"served": picked, "shadow": [other[t] for t in ids]})
    diffs = [
        b - a
        for a, b in zip(scores["served"], scores["shadow"], strict=True)
        if a is not None and b is not None
    ]
    kept = {k: [x for x in xs if x is not None] for k, xs in scores.items()}
    sample = JudgeSample(
        seed=seed,
        size=size,
        assertions=describe(specs),
        ruler=ruler.version,
        without_content=no_content,
        sampled={"pairs": ids},
        failed=sum(x is None for xs in scores.values() for x in xs),
        scores={k: round(sum(xs) / len(xs), 4) if xs else None for k, xs in kept.items()},
    )
    return sample, diffs
