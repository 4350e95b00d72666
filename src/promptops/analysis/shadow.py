"""``promptops shadow analyze``: is the shadow version as good as the served one on real traffic?

Shadow calls are recorded under the served call's trace id, so production gives *paired* data:
the same inputs answered by both versions. Records made with ``capture_content=True`` carry
the inputs and both answers; each answer is scored with its own version's assertions (the
model-free ones: model-graded assertions need a judge and are listed as skipped), and the
paired score differences go through the gate's statistics (``gate/statistics.py``: the
floored t interval and the margin from the prompt's ``gate``), as ``promptops diff`` does on
gold cases.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..assertions import REGISTRY, AssertionContext, run_assertions
from ..errors import RegistryError
from ..project import Project, PromptVersion
from ..runtime.records import CallRecord
from ..spec import AssertionSpec, RegistrySpec
from .judge import pinned_version


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
    skipped_assertions: list[str] = Field(default_factory=list, description="Need a judge.")


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
) -> ShadowAnalysis:
    from ..gate import exact
    from ..gate.statistics import HALF_LEVEL, cases_needed, floored_t

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
    unpaired = 0
    for c in calls:
        if c.prompt != name or c.env != env or c.output is None or c.vars is None:
            unpaired += c.prompt == name and c.env == env
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
    if not both:
        return ShadowAnalysis(
            prompt=name, env=env, served=served.version, shadow=shadow.version, pairs=0,
            unpaired=unpaired, margin=margin, verdict="inconclusive",
            skipped_assertions=skipped,
        )  # fmt: skip
    diffs = [b - a for a, b in zip(a_scores, b_scores, strict=True)]
    low, high, spread = floored_t(diffs, alpha / 2)
    # the gate's rule for graded scores (gate/compare.py): a regression is a drop that the
    # exact sign-flip test finds at the one-sided level, beyond the margin, past half the margin
    p_drop, _ = exact.sign_flip_p(diffs, 0)
    past_half = floored_t(diffs, HALF_LEVEL)[1] < -margin / 2
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
        difference=round(spread.mean, 4),
        low=round(low, 4),
        high=round(high, 4),
        margin=margin,
        verdict=verdict,
        more_pairs=more,
        skipped_assertions=skipped,
    )
