"""``promptops canary analyze``: is the canary arm worse than the stable arm in production?

Reads the runtime's call records (JSONL written by ``Registry.load(record_to=...)``; feedback
joined by trace id), keeps the calls of the deployment registry.yaml has now (each arm by its
digest), and compares the arms on every metric with an anytime-valid interval
(:mod:`promptops.analysis.sequential`), so the analysis may be repeated as traffic arrives.

Per metric, with the tolerance ``t`` from registry.yaml's ``canary_policy`` and ``d`` the
canary's excess (worse is positive) with interval [lo, hi]:

- ``lo > t``: the canary is worse by more than the tolerance: **rollback**;
- ``hi <= t``: it is not worse by more than the tolerance: the metric passes;
- otherwise undecided.

Rates (errors, guard triggers, slow calls) and scores in [0, 1] (feedback, a judge's score)
are compared as differences, with empirical-Bernstein confidence sequences. Cost per call and
output length are compared as the canary's relative rise in the mean (asymptotic confidence
sequences), latency p50 and p95 as the relative rise in the quantile (quantile confidence
sequences; the same for the time to first chunk of streamed calls, ``ttft_p95``): each arm's
interval at level 1 - a/2, the ratio's interval from their ends.
Errors and blocked calls are left out of cost, length and latency.

Verdict: ``rollback`` if any metric says so; ``advance`` when every metric passes and each arm
has ``min_calls``; else ``hold``, with how many more canary calls would decide. The levels are
split over the metrics compared (a union bound), so the verdict errs with at most ``alpha``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import RegistryError, SpecError, display_path
from ..runtime.records import CallRecord, FeedbackRecord
from ..spec import CanaryPolicy, RegistrySpec
from .judge import JudgeSample
from .sequential import (
    eb_interval,
    first_n,
    mean_interval,
    mixture_radius,
    quantile_interval,
    rank_bounds,
)

Verdict = Literal["advance", "hold", "rollback"]
ANALYSIS_SCHEMA_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ArmStats(_Model):
    """What one arm served."""

    version: str = Field(description="Version served by this arm.")
    calls: int = Field(description="Calls recorded.")
    errors: int = Field(description="Calls that failed.")
    guard_triggers: int = Field(description="Calls a guard triggered on.")
    slow: int = Field(description="Calls slower than the tolerance's slow_ms.")
    feedback_n: int = Field(description="Calls with user feedback.")
    feedback_mean: float | None = Field(None, description="Mean feedback score (0-1).")
    latency_p50_ms: float | None = Field(None, description="Median latency.")
    latency_p95_ms: float | None = Field(None, description="95th percentile latency.")
    cost_per_call: float | None = Field(None, description="Mean cost (USD) where known.")
    output_chars_mean: float | None = Field(None, description="Mean answer length.")
    ttft_p50_ms: float | None = Field(
        None, description="Streamed calls: median time to first chunk."
    )
    ttft_p95_ms: float | None = Field(None, description="Streamed calls: 95th percentile of it.")


class MetricResult(_Model):
    """One metric's comparison: the canary's excess over stable (positive is worse)."""

    metric: str = Field(
        description="error_rate, guard_rate, feedback, cost, output_chars, latency_p50, "
        "latency_p95, ttft_p95, judge or slow_rate."
    )
    relative: bool = Field(
        False, description="Excess, interval and tolerance are relative rises (0.1 = 10%)."
    )
    stable: float | None = Field(description="Stable arm's value.")
    canary: float | None = Field(description="Canary arm's value.")
    excess: float | None = Field(description="Canary minus stable, oriented so worse > 0.")
    low: float | None = Field(description="Anytime-valid interval of the excess: low.")
    high: float | None = Field(
        description="Anytime-valid interval of the excess: high (none: unbounded yet)."
    )
    tolerance: float = Field(description="Largest excess accepted.")
    decision: Literal["pass", "fail", "undecided", "no data"] = Field(description="Per metric.")
    more_calls: int | None = Field(
        None,
        description="About how many more canary calls would decide it (judge: judged records "
        "per arm; feedback: rated calls).",
    )


class CanaryAnalysis(_Model):
    """The result of `promptops canary analyze`: per arm, per metric, and the verdict."""

    schema_version: Literal[1] = Field(1, description="Version of this format.")
    prompt: str = Field(description="Prompt name.")
    env: str = Field(description="Environment.")
    weight: int = Field(description="Canary weight now (%).")
    alpha: float = Field(description="Error rate of the decisions (anytime-valid).")
    stable: ArmStats
    canary: ArmStats
    metrics: list[MetricResult]
    verdict: Literal["advance", "hold", "rollback"] = Field(description="The decision.")
    reason: str = Field(description="Why, in one sentence.")
    next_weight: int | None = Field(None, description="advance: the next ramp step (100: promote).")
    ignored: int = Field(0, description="Records of other prompts, envs or deployments.")
    judge: JudgeSample | None = Field(
        None, description="With --judge-sample: the judged sample (metric 'judge')."
    )


@dataclass
class _Arm:
    version: str
    digest: str
    calls: list[CallRecord] = field(default_factory=list)


@dataclass
class Judged:
    """The judge's scores on a seeded sample of each arm (see :func:`judge_sample`)."""

    sample: JudgeSample
    stable: list[float]
    canary: list[float]


def _arms(
    spec: RegistrySpec, name: str, env: str, calls: list[CallRecord]
) -> tuple[_Arm, _Arm, int]:
    """The stable and canary arms of the deployment registry.yaml has now, and how many
    records belong to neither."""
    dep = spec.prompts.get(name, {}).get(env)
    if dep is None:
        raise RegistryError(f"{name} has no version active in {env}")
    if dep.canary is None:
        raise RegistryError(
            f"{name} has no canary in {env}; start one: promptops promote {name} VERSION "
            f"--env {env} --canary 5"
        )
    stable = _Arm(dep.version, dep.digest)
    canary = _Arm(dep.canary.version, dep.canary.digest)
    ignored = 0
    for c in calls:
        if c.prompt != name or c.env != env:
            ignored += 1
        elif c.arm == "stable" and c.digest == stable.digest:
            stable.calls.append(c)
        elif c.arm == "canary" and c.digest == canary.digest:
            canary.calls.append(c)
        else:
            ignored += 1
    return stable, canary, ignored


def judge_sample(
    project: Any,
    spec: RegistrySpec,
    name: str,
    env: str,
    calls: list[CallRecord],
    size: int,
    seed: int = 0,
) -> Judged:
    """Score a seeded sample of ``size`` records per arm (of those with captured content) with
    the candidate's model-graded assertions (see :mod:`promptops.analysis.judge`)."""
    from .judge import (
        describe,
        draw,
        graded_specs,
        has_content,
        judge_records,
        no_content_error,
        pinned_version,
    )

    stable, canary, _ = _arms(spec, name, env, calls)
    ruler, specs = graded_specs(
        project,
        pinned_version(project, name, canary.version, canary.digest),
        pinned_version(project, name, stable.version, stable.digest),
    )
    every = stable.calls + canary.calls
    with_content = [c for c in every if has_content(c)]
    if not with_content:
        raise no_content_error(name, env, len(every))
    picked = {
        arm.version: draw([c for c in arm.calls if has_content(c)], size, seed)
        for arm in (stable, canary)
    }
    scores = judge_records(project, specs, picked)
    kept = {v: [x for x in xs if x is not None] for v, xs in scores.items()}
    sample = JudgeSample(
        seed=seed,
        size=size,
        assertions=describe(specs),
        ruler=ruler.version,
        without_content=len(every) - len(with_content),
        sampled={
            "stable": [c.trace_id for c in picked[stable.version]],
            "canary": [c.trace_id for c in picked[canary.version]],
        },
        failed=sum(x is None for xs in scores.values() for x in xs),
        scores={
            arm: round(sum(xs) / len(xs), 4) if xs else None
            for arm, xs in (("stable", kept[stable.version]), ("canary", kept[canary.version]))
        },
    )
    return Judged(sample, kept[stable.version], kept[canary.version])


def read_records(paths: Iterable[Path]) -> tuple[list[CallRecord], dict[str, list[float]]]:
    """Call records and feedback scores by trace id; a bad line names file and line."""
    calls: list[CallRecord] = []
    feedback: dict[str, list[float]] = {}
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise RegistryError(f"{display_path(path)}: cannot read: {e.strerror}") from None
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if isinstance(data, dict) and "resourceSpans" in data:  # a Collector's OTLP/JSON
                    _from_otlp(data, calls, feedback)
                    continue
                kind = data.get("kind") if isinstance(data, dict) else None
                if kind == "feedback":
                    fb = FeedbackRecord.model_validate(data)
                    feedback.setdefault(fb.trace_id, []).append(fb.score)
                else:
                    calls.append(CallRecord.model_validate(data))
            except json.JSONDecodeError as e:
                raise SpecError.of(path, i, None, f"not JSON: {e.msg}") from None
            except ValidationError as e:
                err = e.errors()[0]
                where = ".".join(map(str, err["loc"])) or None
                raise SpecError.of(path, i, where, err["msg"]) from None
    return calls, feedback


# OpenTelemetry span attributes (the runtime's spans) -> call record fields
_SPAN_FIELDS = {
    "promptops.prompt.name": "prompt",
    "promptops.prompt.version": "version",
    "promptops.prompt.digest": "digest",
    "promptops.env": "env",
    "promptops.arm": "arm",
    "gen_ai.request.model": "model",
    "gen_ai.response.model": "response_model",
    "gen_ai.usage.input_tokens": "input_tokens",
    "gen_ai.usage.output_tokens": "output_tokens",
    "promptops.latency_ms": "latency_ms",
    "promptops.duration_ms": "duration_ms",
    "promptops.cost": "cost",
    "error.type": "error_type",
    "promptops.cache_hit": "cache_hit",
    "promptops.attempts": "attempts",
    "promptops.guard.triggers": "guards",
    "promptops.guard.blocked": "blocked",
    "promptops.streamed": "streamed",
    "promptops.ttft_ms": "ttft_ms",
}


def _from_otlp(
    data: dict[str, Any], calls: list[CallRecord], feedback: dict[str, list[float]]
) -> None:
    """The runtime's spans in an OTLP/JSON export line (the OpenTelemetry Collector's file
    exporter): call spans become call records, feedback spans feedback; other spans are left
    out. A call span missing a field the analysis needs raises ValidationError (file:line)."""
    from datetime import datetime, timezone

    from ..quality.callrecords import otlp_spans

    for span in otlp_spans(data):
        attrs, context = span["attributes"], span["context"]
        trace = attrs.get("promptops.trace_id") or context.get("trace_id") or ""
        score = attrs.get("promptops.feedback.score")
        if "promptops.prompt.name" not in attrs:
            if trace and isinstance(score, int | float):
                feedback.setdefault(str(trace), []).append(float(score))
            continue
        record: dict[str, Any] = {
            field: attrs[key] for key, field in _SPAN_FIELDS.items() if attrs.get(key) is not None
        }
        start = context.get("start_ns")
        when = datetime.fromtimestamp(int(start) / 1e9, timezone.utc) if start else None
        record["time"] = (
            when.isoformat(timespec="milliseconds").replace("+00:00", "Z") if when else ""
        )
        record["trace_id"] = str(trace)
        calls.append(CallRecord.model_validate(record))


def _quantile(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return round(s[min(len(s) - 1, math.ceil(q * len(s)) - 1)], 3)


def _stats(
    arm: _Arm, feedback: dict[str, list[float]], slow_ms: float
) -> tuple[ArmStats, list[float]]:
    calls = arm.calls
    scores = [
        sum(feedback[c.trace_id]) / len(feedback[c.trace_id])
        for c in calls
        if c.trace_id in feedback
    ]
    ok = [c for c in calls if c.error_type is None and not c.blocked]
    costs = [c.cost for c in ok if c.cost is not None]
    chars = [c.output_chars for c in ok if c.output_chars is not None]
    ttfts = [c.ttft_ms for c in ok if c.ttft_ms is not None]
    stats = ArmStats(
        version=arm.version,
        calls=len(calls),
        errors=sum(c.error_type is not None for c in calls),
        guard_triggers=sum(bool(c.guards) for c in calls),
        slow=sum(c.latency_ms > slow_ms for c in calls),
        feedback_n=len(scores),
        feedback_mean=round(sum(scores) / len(scores), 4) if scores else None,
        latency_p50_ms=_quantile([c.latency_ms for c in ok], 0.5),
        latency_p95_ms=_quantile([c.latency_ms for c in ok], 0.95),
        cost_per_call=round(sum(costs) / len(costs), 8) if costs else None,
        output_chars_mean=round(sum(chars) / len(chars), 1) if chars else None,
        ttft_p50_ms=_quantile(ttfts, 0.5),
        ttft_p95_ms=_quantile(ttfts, 0.95),
    )
    return stats, scores


def _compare(
    metric: str,
    stable: list[float],
    canary: list[float],
    tolerance: float,
    alpha: float,
    higher_is_worse: bool = True,
) -> MetricResult:
    """Each arm's mean gets a level-(1 - alpha/2) empirical-Bernstein confidence sequence;
    their difference holds with 1 - alpha at every look (a union bound)."""
    ns, nc = len(stable), len(canary)
    ms = sum(stable) / ns if ns else 0.0
    mc = sum(canary) / nc if nc else 0.0
    if ns == 0 or nc == 0:
        return MetricResult(
            metric=metric,
            stable=round(ms, 4) if ns else None,
            canary=round(mc, 4) if nc else None,
            excess=None,
            low=None,
            high=None,
            tolerance=tolerance,
            decision="no data",
        )
    cs, rs, vs = eb_interval(stable, alpha / 2)
    cc, rc, vc = eb_interval(canary, alpha / 2)
    excess = (mc - ms) if higher_is_worse else (ms - mc)
    center = (cc - cs) if higher_is_worse else (cs - cc)
    low, high = center - rc - rs, center + rc + rs
    if low > tolerance:
        decision: Literal["pass", "fail", "undecided"] = "fail"
    elif high <= tolerance:
        decision = "pass"
    else:
        decision = "undecided"
    more = None
    if decision == "undecided" and excess != tolerance:
        # rough: each arm's empirical-Bernstein radius as n grows at the observed variance,
        # a Gaussian-mixture term plus the variance-free floor log(4/alpha) / sum(lambda)
        # (every lambda is at most 1/2), the arms at the current split
        gap, share, log_term = abs(tolerance - excess), ns / nc, math.log(4 / alpha)

        def width(n: int, var: float) -> float:
            return mixture_radius(n, alpha / 2, math.sqrt(var)) + 2 * log_term / n

        need = first_n(lambda n: width(n, vc) + width(max(1, round(n * share)), vs) <= gap, nc)
        more = None if need is None else max(1, need - nc)
    return MetricResult(
        metric=metric,
        stable=round(ms, 4),
        canary=round(mc, 4),
        excess=round(excess, 4),
        low=round(max(low, -1.0), 4),
        high=round(min(high, 1.0), 4),
        tolerance=tolerance,
        decision=decision,
        more_calls=more,
    )


def _sig(v: float) -> float:
    return float(f"{v:.6g}")


def _finite(v: float) -> float | None:
    return _sig(v) if math.isfinite(v) else None


def _interval(kind: str, xs: list[float], alpha: float) -> tuple[float, float, float]:
    if kind == "mean":
        return mean_interval(xs, alpha)
    return quantile_interval(xs, float(kind), alpha)


def _rel_width(kind: str, xs: list[float], n: int, alpha: float) -> float:
    """Roughly, the relative half-width of an arm's interval at n observations like xs."""
    if kind == "mean":
        m = sum(xs) / len(xs)
        sd = math.sqrt(sum((x - m) ** 2 for x in xs) / max(1, len(xs) - 1))
        return mixture_radius(n, alpha, sd) / m if m > 0 else math.inf
    q = float(kind)
    lo, hi = rank_bounds(n, q, alpha)
    if lo < 1 or hi + 1 > n:
        return math.inf
    r = (hi - lo) / (2 * n)
    s = sorted(xs)
    at = _quantile(s, q) or 0.0
    up, down = _quantile(s, min(1.0, q + 0.02)) or 0.0, _quantile(s, max(0.01, q - 0.02)) or 0.0
    slope = (up - down) / (0.04 * at) if at > 0 else math.inf
    return max(slope, 0.05) * r  # the quantile moves about slope per unit of rank


def _compare_relative(
    metric: str,
    kind: str,
    stable: list[float],
    canary: list[float],
    tolerance: float,
    alpha: float,
) -> MetricResult:
    """The canary's relative rise in a positive quantity (``kind``: "mean" or a quantile level
    such as "0.95"): each arm's anytime-valid interval at level 1 - alpha/2, and the ratio's
    interval from their ends (higher is worse)."""
    ns, nc = len(stable), len(canary)
    empty = MetricResult(
        metric=metric,
        relative=True,
        stable=None,
        canary=None,
        excess=None,
        low=None,
        high=None,
        tolerance=tolerance,
        decision="no data",
    )
    if ns < 2 or nc < 2:
        return empty
    ms, s_lo, s_hi = _interval(kind, stable, alpha / 2)
    mc, c_lo, c_hi = _interval(kind, canary, alpha / 2)
    if ms <= 0 and mc <= 0 and s_hi <= 0 and c_hi <= 0:  # nothing in either arm (free calls)
        excess = low = high = 0.0
    else:
        excess = mc / ms - 1 if ms > 0 else math.inf
        low = max(c_lo, 0.0) / s_hi - 1 if s_hi > 0 else math.inf
        high = c_hi / s_lo - 1 if s_lo > 0 else math.inf
    if low > tolerance:
        decision: Literal["pass", "fail", "undecided"] = "fail"
    elif high <= tolerance:
        decision = "pass"
    else:
        decision = "undecided"
    more = None
    if decision == "undecided" and math.isfinite(excess) and excess != tolerance:
        gap, share = abs(tolerance - excess), ns / nc
        need = first_n(
            lambda n: (
                (
                    _rel_width(kind, canary, n, alpha / 2)
                    + _rel_width(kind, stable, max(2, round(n * share)), alpha / 2)
                )
                <= gap
            ),
            nc,
        )
        more = None if need is None else max(0, need - nc)
    return MetricResult(
        metric=metric,
        relative=True,
        stable=_sig(ms),
        canary=_sig(mc),
        excess=_finite(excess),
        low=_finite(max(low, -1.0)),
        high=_finite(high),
        tolerance=tolerance,
        decision=decision,
        more_calls=more,
    )


def _worse(m: MetricResult) -> str:
    def show(v: float | None) -> str:
        if v is None:
            return "unbounded"
        return f"{v * 100:+.1f}%" if m.relative else f"{v:+.3f}"

    tol = f"{m.tolerance * 100:.0f}%" if m.relative else f"{m.tolerance}"
    return f"{m.metric} is worse by {show(m.excess)} (at least {show(m.low)}, tolerance {tol})"


def analyze(
    spec: RegistrySpec,
    name: str,
    env: str,
    calls: list[CallRecord],
    feedback: dict[str, list[float]],
    judged: Judged | None = None,
) -> CanaryAnalysis:
    """Compare the canary and stable arms of ``name`` in ``env`` on these records."""
    stable, canary, ignored = _arms(spec, name, env, calls)
    dep = spec.prompts[name][env]
    assert dep.canary is not None
    policy = spec.canary_policy or CanaryPolicy()
    tol = policy.tolerances
    s_stats, s_scores = _stats(stable, feedback, tol.slow_ms)
    c_stats, c_scores = _stats(canary, feedback, tol.slow_ms)
    ns, nc = s_stats.calls, c_stats.calls

    def series(arm: _Arm, of: str) -> list[float]:
        if of == "error_rate":
            return [float(c.error_type is not None) for c in arm.calls]
        if of == "guard_rate":
            return [float(bool(c.guards)) for c in arm.calls]
        return [float(c.latency_ms > tol.slow_ms) for c in arm.calls]

    def served(arm: _Arm, of: str) -> list[float]:
        """A continuous metric over the calls the model answered (no errors, no blocks)."""
        out = []
        for c in arm.calls:
            if c.error_type is not None or c.blocked:
                continue
            v = c.latency_ms if of == "latency" else getattr(c, of)
            if v is not None:
                out.append(float(v))
        return out

    rates = ["error_rate", "guard_rate"] + (["slow_rate"] if tol.slow_rate is not None else [])
    relative = [
        (m, of, kind)
        for m, of, kind in (
            ("cost", "cost", "mean"),
            ("output_chars", "output_chars", "mean"),
            ("latency_p50", "latency", "0.5"),
            ("latency_p95", "latency", "0.95"),
            ("ttft_p95", "ttft_ms", "0.95"),
        )
        if getattr(tol, m) is not None  # null: reported per arm, not decided on
        # time to first chunk only where calls are streamed (records carry it)
        and (m != "ttft_p95" or any(c.ttft_ms is not None for c in stable.calls + canary.calls))
    ]
    n_metrics = len(rates) + 1 + len(relative) + (judged is not None)
    a = policy.alpha / n_metrics  # a union bound over the metrics
    metrics = [_compare(m, series(stable, m), series(canary, m), getattr(tol, m), a) for m in rates]
    metrics.append(_compare("feedback", s_scores, c_scores, tol.feedback, a, higher_is_worse=False))
    metrics += [
        _compare_relative(m, kind, served(stable, of), served(canary, of), getattr(tol, m), a)
        for m, of, kind in relative
    ]
    if judged is not None:
        metrics.append(
            _compare("judge", judged.stable, judged.canary, tol.judge, a, higher_is_worse=False)
        )
    failed = [m for m in metrics if m.decision == "fail"]
    open_ = [m for m in metrics if m.decision == "undecided"]
    verdict: Verdict
    next_weight: int | None = None
    if failed:
        verdict = "rollback"
        reason = "; ".join(_worse(m) for m in failed)
    elif min(ns, nc) < policy.min_calls:
        verdict = "hold"
        reason = (
            f"{min(ns, nc)} calls in the smaller arm; advancing needs {policy.min_calls} per arm"
        )
    elif open_:
        verdict = "hold"
        unit = {"judge": "judged records per arm (--judge-sample)", "feedback": "rated calls"}
        parts = [
            f"{m.metric} (about {m.more_calls} more {unit.get(m.metric, 'canary calls')})"
            if m.more_calls is not None
            else f"{m.metric} (too close to its tolerance to decide)"
            for m in open_
        ]
        reason = "undecided: " + ", ".join(parts)
    else:
        verdict = "advance"
        steps = [w for w in policy.ramp if w > dep.canary.weight]
        next_weight = steps[0] if steps else 100
        reason = "no metric is worse than its tolerance" + (
            f"; next: {next_weight}%" if next_weight < 100 else "; next: promote to 100%"
        )
    return CanaryAnalysis(
        prompt=name,
        env=env,
        weight=dep.canary.weight,
        alpha=policy.alpha,
        stable=s_stats,
        canary=c_stats,
        metrics=metrics,
        verdict=verdict,
        reason=reason,
        next_weight=next_weight,
        ignored=ignored,
        judge=judged.sample if judged is not None else None,
    )


def summary_line(a: CanaryAnalysis) -> str:
    return (
        f"canary analyze {a.prompt} {a.env}: {a.verdict} ({a.reason}); "
        f"stable {a.stable.version} n={a.stable.calls}, canary {a.canary.version} n={a.canary.calls}"
    )


def apply(project: Any, analysis: CanaryAnalysis, *, commit: bool = False) -> Any:
    """Perform the verdict: the next ramp step (or the full promotion), or abort-canary. The
    analysis is the evidence: its summary is the change's reason, in the journal and commit."""
    from ..registry.changes import abort_canary, promote

    reason = summary_line(analysis)
    if analysis.verdict == "rollback":
        return abort_canary(project, analysis.prompt, analysis.env, reason=reason, commit=commit)
    if analysis.verdict == "advance":
        assert analysis.next_weight is not None
        canary = None if analysis.next_weight >= 100 else analysis.next_weight
        return promote(
            project,
            analysis.prompt,
            analysis.canary.version,
            analysis.env,
            canary=canary,
            force=True,  # the production analysis stands in for the eval evidence
            reason=reason,
            commit=commit,
        )
    return None
