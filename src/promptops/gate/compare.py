"""Paired comparison of two prompt versions: is B worse than A by more than the team tolerates?

Both versions answer the same cases, so the comparison is paired: per case, B's value of the
gated metric minus A's. The case is the unit (what we want to generalize over), so the K
samples of a case (``--repeat K``) are averaged first.

The decision rule. The margin is the largest drop the team tolerates:

- ``regression``: an exact one-sided test finds a drop (at alpha/2; with several models, at the
  level Holm's procedure allows) and the estimated difference is a drop of at least the
  margin, and a score test shows it exceeds half the margin (the guard that keeps a drop of
  half the margin from being flagged often on large datasets). Pass/fail per case: the exact
  conditional test on the discordant pairs; graded values: a paired sign-flip permutation
  test (:mod:`promptops.gate.exact`);
- ``ok``: the lower bound of the (1 - alpha) interval of B - A lies above -margin, the data
  show B is no worse than A by more than the margin (non-inferiority);
- ``inconclusive``: neither; it carries one sentence (``note``) with the smallest drop this
  dataset catches 80% of the time and about how many paired cases would decide it
  (:mod:`promptops.gate.power`);
- ``error``: some cases have no answer on either side (every call failed); they are named.

The error rates, by exact enumeration over every (worse, better) table, are in
bench/operating_characteristics.py and the README. The intervals
(:mod:`promptops.gate.statistics`): Tango's score interval when every per-case value is
pass/fail (0 or 1), else a t interval with a floor on the variance that keeps it from
collapsing when few cases differ, clipped to [-1, 1] for values in [0, 1]. No scipy: nothing
here costs an import second.

Errors count. A call that failed for good on one side is that side failing the sample (the
case is listed under ``failed_a``/``failed_b``); a template that fails to render is a failure
too. A non-finite metric value (NaN, inf) is an assertion error: a failure, listed under
``invalid``. Cases whose every call failed on both sides carry no evidence (unless the provider
refused the input itself on both, e.g. context length: then both versions fail the case): they
are listed under ``errored`` and the verdict is ``error`` unless a regression is shown anyway.

What changed in the prompt files, and comparing two refs (by running an eval) or two stored
runs, lives in :mod:`promptops.gate.diff`, which builds on this module.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import UsageError
from ..toolcalls import shown_output
from . import exact
from . import power as gatepower
from . import statistics as gatestats
from .explain import explain

VERDICTS = ("regression", "ok", "inconclusive", "error")
POWER = 0.8  # the power behind `cases_needed`
_EPS = 1e-12
_MAX_EXAMPLES = 20


@dataclass
class McNemar:
    """Cases that moved on the gated metric. For pass/fail, ``b`` cases went pass → fail and
    ``c`` fail → pass; ``p`` is the exact one-sided sign test P(X >= b), X ~ Binomial(b + c,
    1/2), the test behind a pass/fail `regression`."""

    b: int  # worse in B
    c: int  # better in B
    p: float


@dataclass
class Delta:
    """Mean per sample on each side (None: nothing to average)."""

    a: float | None
    b: float | None

    @property
    def diff(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


@dataclass
class MetricDelta:
    """A metric shown beside the gated one (informational, same paired cases)."""

    metric: str
    n: int
    mean_a: float
    mean_b: float
    diff: float
    ci_low: float
    ci_high: float


@dataclass
class CaseExample:
    """One regressed or improved case, with both outputs for a side-by-side view."""

    case_id: str
    value_a: float
    value_b: float
    pass_a: float  # share of samples that passed
    pass_b: float
    output_a: str | None
    output_b: str | None
    why_a: list[str] = field(default_factory=list)  # failing assertions
    why_b: list[str] = field(default_factory=list)


@dataclass
class Comparison:
    """A versus B on one model and one metric (B minus A: negative is worse)."""

    model: str
    metric: str
    verdict: str
    reason: str
    n_paired: int
    mean_a: float | None
    mean_b: float | None
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    sd: float | None  # SD of the per-case differences, after the floor (graded metrics)
    mcnemar: McNemar
    regressed: list[str]  # pass → fail on the gated metric; graded: down by more than the margin
    improved: list[str]
    only_a: list[str]
    only_b: list[str]
    errored: list[str]  # every call failed on both sides: no evidence (verdict `error`)
    unscored: list[str]  # the metric is missing on a side (assertion added or removed)
    cases_needed: int | None
    margin: float
    alpha: float
    seed: int
    repeats: int  # most samples of a case on either side
    latency_ms: Delta
    tokens_in: Delta
    tokens_out: Delta
    cost: Delta
    method: str = ""  # tango | floored-t
    level: float = 0.0  # one-sided level of each bound (alpha/2; smaller at sequential looks)
    failed_a: list[str] = field(default_factory=list)  # a call failed for good on A: A fails
    failed_b: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)  # "case (A|B)": NaN/inf metric, a failure
    ok_floor: int | None = None  # the fewest paired cases that can give `ok` at this margin
    binary: bool = False  # every per-case value is 0 or 1
    test: str = ""  # the exact test behind `regression`: sign test | sign-flip exact | ...
    p_value: float | None = None  # its one-sided p-value for a drop
    p_level: float = 0.0  # the level it was held to (Holm's, with several models)
    detectable_drop: float | None = None  # inconclusive: the drop caught with 80% probability
    note: str = ""  # inconclusive: what this dataset could catch, and what would decide it
    beyond_half_margin: bool = False  # the half-margin guard of `regression` holds
    ref_a: str = ""
    ref_b: str = ""
    secondary: list[MetricDelta] = field(default_factory=list)
    examples: list[CaseExample] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("latency_ms", "tokens_in", "tokens_out", "cost"):
            d: Delta = getattr(self, name)
            data[name] = {"a": d.a, "b": d.b, "diff": d.diff}
        data["explanation"] = explain(self)
        clean: dict[str, Any] = finite(data)
        return clean


def finite(obj: Any) -> Any:
    """The same data with NaN and infinities as None: output must be strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


@dataclass
class _Side:
    """One version's samples of one case."""

    values: list[float] = field(default_factory=list)  # the gated metric
    scores: list[float] = field(default_factory=list)
    passes: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    failed: int = 0  # samples whose call failed for good (counted as failures)
    rejected: int = 0  # of those, the provider refused this input (context length, 400...)
    invalid: int = 0  # samples with a NaN/inf gated value (counted as failures)
    missing: int = 0  # samples without the gated metric
    first: dict[str, Any] | None = None  # the lowest-repeat record, for examples
    latency: list[float] = field(default_factory=list)
    tokens_in: list[float] = field(default_factory=list)
    tokens_out: list[float] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)

    @property
    def dead(self) -> bool:
        """Every sample's call failed, not all by the provider refusing this very input (that is
        the version failing the case; a rerun would fail the same way): nothing is known."""
        return self.failed > 0 and self.failed == len(self.values) and self.rejected < self.failed


def _metric_value(rec: dict[str, Any], metric: str) -> float | None:
    if metric == "score":
        return float(rec.get("score") or 0.0)
    if metric == "pass":
        return 1.0 if rec.get("pass") else 0.0
    v = (rec.get("metrics") or {}).get(metric)
    return None if v is None else float(v)


def _is_provider_error(rec: dict[str, Any]) -> bool:
    return bool(rec.get("error")) and rec.get("error_kind") != "render"


def _collect(
    records: Iterable[dict[str, Any]], metric: str, side: str
) -> dict[str, dict[str, _Side]]:
    """model -> case id -> samples; refuses records of more than one version."""
    out: dict[str, dict[str, _Side]] = {}
    versions: set[str] = set()
    for rec in records:
        versions.add(str(rec.get("digest") or f"{rec.get('prompt')}@{rec.get('version')}"))
        case = out.setdefault(rec["model"], {}).setdefault(str(rec["case_id"]), _Side())
        if case.first is None or int(rec.get("repeat", 0)) < int(case.first.get("repeat", 0)):
            case.first = rec
        failed = bool(rec.get("error"))  # a failed call or a render error: a failure
        if _is_provider_error(rec):
            case.failed += 1
            case.rejected += rec.get("error_kind") == "rejected"
        value = 0.0 if failed else _metric_value(rec, metric)
        if metric == "pass" and value and not math.isfinite(float(rec.get("score") or 0.0)):
            value = math.nan  # a NaN score is an assertion error, whatever ``pass`` says
        if value is None:
            case.missing += 1
            continue
        if not math.isfinite(value):
            case.invalid += 1
            value = 0.0
        score = 0.0 if failed else float(rec.get("score") or 0.0)
        ok = bool(rec.get("pass")) and not failed and math.isfinite(score)
        case.values.append(value)
        case.scores.append(score if math.isfinite(score) else 0.0)
        case.passes.append(1.0 if ok else 0.0)
        for label, v in (rec.get("metrics") or {}).items():
            fv = float(v) if v is not None else 0.0
            case.metrics.setdefault(label, []).append(fv if math.isfinite(fv) else 0.0)
        if failed:
            continue
        for name, lst in (
            ("latency_ms", case.latency),
            ("tokens_in", case.tokens_in),
            ("tokens_out", case.tokens_out),
            ("cost", case.cost),
        ):
            if rec.get(name) is not None:
                lst.append(float(rec[name]))
    if len(versions) > 1:
        raise UsageError(
            f"the records of {side} hold {len(versions)} prompt versions; compare one version per side"
        )
    return out


def sign_test(b: int, c: int) -> McNemar:
    """Exact one-sided sign test: the chance of at least ``b`` of ``b + c`` moved cases going
    A's way if neither version were better."""
    return McNemar(b, c, exact.sign_p(b, c))


mcnemar_test = sign_test  # the pass/fail case of the sign test


def interval(
    values_a: Sequence[float], values_b: Sequence[float], level: float
) -> tuple[float, float, str, float, bool]:
    """(low, high, method, per-case variance, binary) of the mean paired difference B - A."""
    n = len(values_a)
    binary = all(v in (0.0, 1.0) for v in (*values_a, *values_b))
    if binary:
        worse = sum(1 for x, y in zip(values_a, values_b, strict=True) if x > y)
        better = sum(1 for x, y in zip(values_a, values_b, strict=True) if y > x)
        low, high = gatestats.tango_interval(worse, better, n, level)
        # variance for sizing: the discordance, smoothed so that none observed is not zero
        psi = (worse + better + 1) / (n + 2)
        d = (better - worse) / n if n else 0.0
        return low, high, "tango", max(psi - d * d, 1e-9), True
    diffs = [y - x for x, y in zip(values_a, values_b, strict=True)]
    low, high, spread = gatestats.floored_t(diffs, level)
    if all(0.0 <= v <= 1.0 for v in (*values_a, *values_b)):
        low, high = max(low, -1.0), min(high, 1.0)  # a difference of [0, 1] values
    return low, high, "floored-t", spread.var, False


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def _usage(cases_a: list[_Side], cases_b: list[_Side], name: str) -> Delta:
    a = [v for c in cases_a for v in getattr(c, name)]
    b = [v for c in cases_b for v in getattr(c, name)]
    return Delta(_mean(a), _mean(b))


def _why(rec: dict[str, Any] | None) -> list[str]:
    if rec is None:
        return []
    if rec.get("error"):
        return [f"error: {rec['error']}"]
    return [
        f"{a.get('metric') or a['type']}: {a.get('error') or a.get('reason') or 'failed'}"
        for a in rec.get("assertions") or []
        if not a.get("pass")
    ]


def _ref(sides: dict[str, _Side]) -> str:
    for s in sides.values():
        if s.first is not None:
            return f"{s.first.get('prompt')}@{s.first.get('version')}"
    return ""


def compare_records(
    a: Iterable[dict[str, Any]],
    b: Iterable[dict[str, Any]],
    *,
    metric: str = "score",
    margin: float = 0.02,
    seed: int = 0,
    alpha: float = 0.05,
    level: float | None = None,
    notes: bool = True,
) -> list[Comparison]:
    """Compare run records of version A with those of version B, one Comparison per model
    present on both sides. ``metric`` is ``score``, ``pass`` or an assertion metric label.
    ``level`` is the one-sided level of each bound (default ``alpha / 2``; a sequential look
    passes its own). ``notes=False`` skips what an inconclusive verdict would need to be
    decided (exact power searches; simulations do not read them)."""
    if not 0 < alpha < 1:
        raise UsageError("alpha must be between 0 and 1")
    if margin < 0:
        raise UsageError("margin must be 0 or more")
    side_a = _collect(a, metric, "A")
    side_b = _collect(b, metric, "B")
    a1 = alpha / 2 if level is None else level
    out = []
    for model, ca in side_a.items():
        cb = side_b.get(model)
        if cb is not None:
            out.append(_compare_model(model, ca, cb, metric, margin, seed, alpha, a1))
    # several models: Holm's procedure keeps the chance of any false `regression` at a1
    ps = [1.0 if c.p_value is None else c.p_value for c in out]
    for c, significant, held in zip(
        out, exact.holm(ps, a1), exact.holm_levels(ps, a1), strict=True
    ):
        c.p_level = held
        _decide(c, significant, notes)
    return out


def _compare_model(
    model: str,
    ca: dict[str, _Side],
    cb: dict[str, _Side],
    metric: str,
    margin: float,
    seed: int,
    alpha: float,
    a1: float,
) -> Comparison:
    only_a = sorted(set(ca) - set(cb))
    only_b = sorted(set(cb) - set(ca))
    errored, unscored, paired = [], [], []
    for cid in sorted(set(ca) & set(cb)):
        sa, sb = ca[cid], cb[cid]
        if sa.dead and sb.dead:
            errored.append(cid)
        elif sa.missing or sb.missing or not sa.values or not sb.values:
            unscored.append(cid)
        else:
            paired.append(cid)
    failed_a = [c for c in paired if ca[c].failed]
    failed_b = [c for c in paired if cb[c].failed]
    invalid = [f"{c} (A)" for c in paired if ca[c].invalid] + [
        f"{c} (B)" for c in paired if cb[c].invalid
    ]
    xa = [_mean(ca[c].values) or 0.0 for c in paired]
    xb = [_mean(cb[c].values) or 0.0 for c in paired]
    # cases that moved: pass/fail flips, or for graded values a change larger than the margin
    binary_values = all(v in (0.0, 1.0) for v in (*xa, *xb))
    step = _EPS if binary_values else max(margin, _EPS)
    moved = sorted(
        ((y - x, c) for c, x, y in zip(paired, xa, xb, strict=True) if abs(y - x) > step),
    )
    regressed = [c for d, c in moved if d < 0]
    improved = [c for d, c in reversed(moved) if d > 0]
    mc = sign_test(len(regressed), len(improved))
    n = len(paired)
    mean_a = mean_b = diff = low = high = sd = p_value = None
    method = test = ""
    binary = half = False
    floor = gatestats.min_cases_for_ok(margin, a1)
    if n > 0:
        mean_a, mean_b = math.fsum(xa) / n, math.fsum(xb) / n
        diff = mean_b - mean_a
        low, high, method, var, binary = interval(xa, xb, a1)
        sd = math.sqrt(var)
        if binary:
            p_value, test = mc.p, "exact sign test on the discordant pairs"
            half = gatestats.beyond_half_margin(len(regressed), len(improved), n, margin)
        else:
            diffs = [y - x for x, y in zip(xa, xb, strict=True)]
            p_value, test = exact.sign_flip_p(diffs, seed)
            guard_high = gatestats.floored_t(diffs, gatestats.HALF_LEVEL)[1]
            half = guard_high < -margin / 2
    secondary = _secondary(ca, cb, paired, metric, a1)
    sides_a = [ca[c] for c in paired]
    sides_b = [cb[c] for c in paired]
    examples = []
    for cid in regressed[:_MAX_EXAMPLES] + improved[:_MAX_EXAMPLES]:
        sa, sb = ca[cid], cb[cid]
        fa, fb = sa.first or {}, sb.first or {}
        examples.append(
            CaseExample(
                cid,
                _mean(sa.values) or 0.0,
                _mean(sb.values) or 0.0,
                _mean(sa.passes) or 0.0,
                _mean(sb.passes) or 0.0,
                shown_output(fa),
                shown_output(fb),
                _why(sa.first),
                _why(sb.first),
            )
        )
    repeats = max([len(s.values) + s.missing for s in (*ca.values(), *cb.values())] or [0])
    comp = Comparison(
        model=model,
        metric=metric,
        verdict="inconclusive",
        reason="",
        n_paired=n,
        mean_a=mean_a,
        mean_b=mean_b,
        diff=diff,
        ci_low=low,
        ci_high=high,
        sd=sd,
        mcnemar=mc,
        regressed=regressed,
        improved=improved,
        only_a=only_a,
        only_b=only_b,
        errored=errored,
        unscored=unscored,
        cases_needed=None,
        margin=margin,
        alpha=alpha,
        seed=seed,
        repeats=repeats,
        latency_ms=_usage(sides_a, sides_b, "latency"),
        tokens_in=_usage(sides_a, sides_b, "tokens_in"),
        tokens_out=_usage(sides_a, sides_b, "tokens_out"),
        cost=_usage(sides_a, sides_b, "cost"),
        method=method,
        level=a1,
        failed_a=failed_a,
        failed_b=failed_b,
        invalid=invalid,
        ok_floor=floor,
        binary=binary,
        ref_a=_ref(ca),
        ref_b=_ref(cb),
        secondary=secondary,
        examples=examples,
        test=test,
        p_value=p_value,
        p_level=a1,
        beyond_half_margin=half,
    )
    return comp  # undecided: compare_records decides, with Holm's procedure over the models


def _decide(c: Comparison, significant: bool, notes: bool = True) -> None:
    """Set the verdict, its reason and, when inconclusive, what would decide it.

    ``regression``: the exact test finds a drop (``significant``, at the level Holm's
    procedure allows) and the estimate is a drop beyond the margin. ``ok``: the lower bound of
    the interval lies above -margin. Otherwise ``inconclusive``."""
    c.cases_needed, c.detectable_drop, c.note = None, None, ""
    m, a1 = c.margin, c.level
    if c.n_paired == 0 or c.diff is None or c.ci_low is None or c.ci_high is None:
        c.verdict, c.reason = "inconclusive", "no case has a usable result on both sides"
    else:
        if c.binary:
            c.verdict = gatestats.paired_verdict(
                c.mcnemar.b, c.mcnemar.c, c.n_paired, m, a1, significant
            )
        elif significant and exact.beyond_margin(c.diff, m) and c.beyond_half_margin:
            c.verdict = "regression"
        elif c.ci_low > -m - _EPS:
            c.verdict = "ok"
        else:
            c.verdict = "inconclusive"
        level = f"{100 * (1 - 2 * a1):.4g}%"
        span = (
            f"the {level} interval [{c.ci_low:+.3f}, {c.ci_high:+.3f}] of the {c.metric} difference"
        )
        p = f"{c.test}: p = {c.p_value:.3g} ≤ {c.p_level:.3g}"
        if c.verdict == "regression":
            c.reason = f"a drop of {-c.diff:.3f}, beyond the margin {m:g}, and significant ({p})"
        elif c.verdict == "ok":
            c.reason = f"{span} lies above -{m:g}: B is no worse than the margin allows"
        else:
            c.reason = f"{span} contains -{m:g}: the data cannot tell"
            if notes:
                c.cases_needed, c.detectable_drop, c.note = decide_note(c)
    if c.errored and c.verdict != "regression":
        c.verdict = "error"
        c.reason = (
            f"every call failed on both sides for {len(c.errored)} case(s) "
            f"({_short_ids(c.errored)}): rerun them (promptops eval --resume RUN)"
        )


def decide_note(c: Comparison, power: float = POWER) -> tuple[int | None, float | None, str]:
    """For an inconclusive comparison: (cases that would decide it, the smallest drop this
    dataset catches with ``power``, one sentence saying both).

    Pass/fail: exact, from the verdict's own tests, with the observed discordance (smoothed by
    a case so that none observed is not zero) and, for the cases, the observed rates. Graded:
    a normal approximation with the per-case spread the interval used."""
    n, m, a1 = c.n_paired, c.margin, c.level
    diff = c.diff or 0.0
    if c.binary:
        worse, better = c.mcnemar.b, c.mcnemar.c
        psi = (worse + better + 1) / (n + 2)
        drop = gatepower.smallest_detectable_drop(n, psi, m, a1, power)
        qw, qb = (worse + 0.5) / (n + 1), (better + 0.5) / (n + 1)
        if qb - qw < -m - 1e-9:
            needed = gatepower.cases_for_regression(
                qw + qb, qb - qw, m, a1, power, n + 1, steady=False
            )
        else:
            needed = gatepower.cases_for_ok(qw + qb, m, a1, power, qb - qw)
        moved = f"{worse + better} of them moved"
    else:
        sd = c.sd or 0.0
        za, zp = gatestats.z_of(a1), gatestats.z_of(1 - power)
        drop = None
        if sd > 0:
            drop = min(1.0, max(m, za * sd / math.sqrt(n)) + zp * sd / math.sqrt(n))
        needed = gatestats.cases_needed(diff, (c.sd or 0.0) ** 2, n, m, a1, power)
        moved = f"per-case spread {sd:.2f}"
    if needed is not None:
        needed = max(needed, n + 1)
    if drop is None or drop >= 1.0:
        caught = (
            f"on these {n} paired cases ({moved}) no drop, however large, is caught "
            f"{100 * power:.0f}% of the time"
        )
    else:
        caught = (
            f"on these {n} paired cases ({moved}) the gate catches a drop of "
            f"{100 * drop:.0f} points or more {100 * power:.0f}% of the time"
        )
    if needed is None:
        decide = "no number of cases decides a difference that sits on the margin"
    else:
        decide = f"about {needed} paired cases would decide this one"
    return needed, drop, f"{caught}; {decide}"


def _short_ids(ids: list[str], limit: int = 8) -> str:
    more = f", … (+{len(ids) - limit})" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


def _secondary(
    ca: dict[str, _Side], cb: dict[str, _Side], paired: list[str], metric: str, a1: float
) -> list[MetricDelta]:
    """score, pass and each assertion metric other than the gated one, on the paired cases."""
    labels: dict[str, None] = {"score": None, "pass": None}
    for c in paired:
        for label in ca[c].metrics:
            if label in cb[c].metrics:
                labels[label] = None
    out = []
    for label in labels:
        if label == metric:
            continue
        va, vb = [], []
        for c in paired:
            if label == "pass":
                a, b = ca[c].passes, cb[c].passes
            elif label == "score":
                a, b = ca[c].scores, cb[c].scores
            else:
                a, b = ca[c].metrics.get(label, []), cb[c].metrics.get(label, [])
            if a and b:
                va.append(math.fsum(a) / len(a))
                vb.append(math.fsum(b) / len(b))
        if not va:
            continue
        low, high, _, _, _ = interval(va, vb, a1)
        ma, mb = math.fsum(va) / len(va), math.fsum(vb) / len(vb)
        out.append(MetricDelta(label, len(va), ma, mb, mb - ma, low, high))
    return out


def overall_verdict(comparisons: Iterable[Comparison]) -> str:
    """The worst verdict: regression over error over inconclusive over ok (nothing compared:
    inconclusive)."""
    verdicts = [c.verdict for c in comparisons]
    for v in ("regression", "error"):
        if v in verdicts:
            return v
    if not verdicts or "inconclusive" in verdicts:
        return "inconclusive"
    return "ok"
