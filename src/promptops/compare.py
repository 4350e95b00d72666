"""Paired comparison of two prompt versions: a real regression, or noise?

Both versions answer the same cases, so the comparison is paired: per case, B's value minus
A's. The unit of resampling is the case (what we want to generalize over), so the K samples of
a case (``--repeat K``) are averaged first. On the per-case differences:

- a 95% percentile bootstrap interval of the mean difference (``n_boot`` resamples of the case
  indices drawn with a seeded ``numpy.random.default_rng(seed)``, recorded in the result);
- McNemar's exact test on pass/fail (one-sided: does B lose more cases than it wins?),
  through ``scipy.stats.binomtest``.

Verdict: ``regression`` when the interval lies below zero, or McNemar's one-sided p < alpha
with more regressions than improvements; ``ok`` when the interval's lower bound is above
``-margin``; ``inconclusive`` otherwise, with the number of cases that would likely decide.

Records whose model call failed (provider errors, not template errors) are no evidence about
the prompt: their cases are left out of the paired set on both sides and listed in
``errored``. A template that fails to render counts as a failure of that version.

What changed in the prompt files, and comparing two refs (by running an eval) or two stored
runs, lives in :mod:`promptops.diffing`; its public names are re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import UsageError
from .toolcalls import shown_output

if TYPE_CHECKING:
    from .diffing import DiffResult as DiffResult
    from .diffing import FileDiff as FileDiff
    from .diffing import compare_runs as compare_runs
    from .diffing import diff_refs as diff_refs
    from .diffing import file_diff as file_diff

VERDICTS = ("regression", "ok", "inconclusive")
POWER = 0.8  # the power behind `cases_needed`
_EPS = 1e-12
_MAX_EXAMPLES = 20


@dataclass
class McNemar:
    """Exact McNemar test on the discordant cases."""

    b: int  # passed in A, failed in B (regressions)
    c: int  # failed in A, passed in B (improvements)
    p: float  # one-sided: P(X >= b), X ~ Binomial(b + c, 1/2)


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
    sd: float | None  # SD of the per-case differences
    mcnemar: McNemar
    regressed: list[str]
    improved: list[str]
    only_a: list[str]
    only_b: list[str]
    errored: list[str]  # provider errors on either side: left out, not counted as failures
    unscored: list[str]  # the metric is missing on a side (assertion added or removed)
    cases_needed: int | None
    margin: float
    alpha: float
    seed: int
    n_boot: int
    repeats: int  # most samples of a case on either side
    latency_ms: Delta
    tokens_in: Delta
    tokens_out: Delta
    cost: Delta
    ref_a: str = ""
    ref_b: str = ""
    secondary: list[MetricDelta] = field(default_factory=list)
    examples: list[CaseExample] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("latency_ms", "tokens_in", "tokens_out", "cost"):
            d: Delta = getattr(self, name)
            data[name] = {"a": d.a, "b": d.b, "diff": d.diff}
        return data


@dataclass
class _Side:
    """One version's samples of one case."""

    values: list[float] = field(default_factory=list)  # the gated metric
    scores: list[float] = field(default_factory=list)
    passes: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    errors: int = 0
    missing: int = 0  # samples without the gated metric
    first: dict[str, Any] | None = None  # the lowest-repeat usable record, for examples
    latency: list[float] = field(default_factory=list)
    tokens_in: list[float] = field(default_factory=list)
    tokens_out: list[float] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)


def _metric_value(rec: dict[str, Any], metric: str) -> float | None:
    if metric == "score":
        return float(rec.get("score") or 0.0)
    if metric == "pass":
        return 1.0 if rec.get("pass") else 0.0
    v = (rec.get("metrics") or {}).get(metric)
    return None if v is None else float(v)


def _is_provider_error(rec: dict[str, Any]) -> bool:
    """Template errors are the prompt's fault and count as failures; other errors don't count."""
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
        if _is_provider_error(rec):
            case.errors += 1
            continue
        failed = bool(rec.get("error"))  # a render error: a failure with no output
        value = 0.0 if failed else _metric_value(rec, metric)
        if value is None:
            case.missing += 1
            continue
        case.values.append(value)
        case.scores.append(0.0 if failed else float(rec.get("score") or 0.0))
        case.passes.append(1.0 if rec.get("pass") and not failed else 0.0)
        for label, v in (rec.get("metrics") or {}).items():
            case.metrics.setdefault(label, []).append(float(v))
        if case.first is None or int(rec.get("repeat", 0)) < int(case.first.get("repeat", 0)):
            case.first = rec
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


def bootstrap_ci(
    diffs: Sequence[float], *, seed: int = 0, n_boot: int = 10000, alpha: float = 0.05
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of paired differences (cases resampled)."""
    import numpy as np

    d = np.asarray(diffs, dtype=float)
    n = d.size
    if n == 0:
        raise ValueError("no differences to bootstrap")
    rng = np.random.default_rng(seed)
    values, counts = np.unique(d, return_counts=True)
    if values.size * 8 < n:
        # Few distinct differences (pass/fail, coarse scores): draw how often each is picked
        # when n cases are resampled - the same distribution as resampling indices, far faster.
        picks = rng.multinomial(n, counts / n, size=n_boot)
        means = picks @ values / n
    else:
        means = np.empty(n_boot)
        chunk = max(1, 4_000_000 // n)  # bound memory: n_boot x n indices, in slices
        for start in range(0, n_boot, chunk):
            m = min(chunk, n_boot - start)
            means[start : start + m] = d[rng.integers(0, n, size=(m, n))].mean(axis=1)
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def mcnemar_test(b: int, c: int) -> McNemar:
    """Exact one-sided McNemar: the chance of at least ``b`` of ``b + c`` discordant cases
    going A's way if neither version were better."""
    if b + c == 0:
        return McNemar(b, c, 1.0)
    from scipy.stats import binomtest

    return McNemar(b, c, float(binomtest(b, b + c, 0.5, alternative="greater").pvalue))


def cases_needed(
    diff: float, sd: float, n: int, margin: float, alpha: float = 0.05, power: float = POWER
) -> int | None:
    """Paired cases for a conclusive verdict if the observed difference and SD held.

    n = ((z_{1-alpha/2} + z_power) * sd / gap)^2, where gap is the distance from the observed
    difference to the boundary it would cross first: ``diff + margin`` to prove ``ok`` (the
    lower bound above -margin) or ``-diff`` to prove ``regression`` (the upper bound below 0).
    """
    gap = max(diff + margin, -diff)
    if not math.isfinite(sd) or sd <= 0 or gap <= _EPS:
        return None
    from scipy.stats import norm

    z = float(norm.ppf(1 - alpha / 2) + norm.ppf(power))
    return max(n + 1, math.ceil((z * sd / gap) ** 2))


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
    n_boot: int = 10000,
    alpha: float = 0.05,
) -> list[Comparison]:
    """Compare run records of version A with those of version B, one Comparison per model
    present on both sides. ``metric`` is ``score``, ``pass`` or an assertion metric label."""
    if n_boot < 100:
        raise UsageError("n_boot must be at least 100")
    if not 0 < alpha < 1:
        raise UsageError("alpha must be between 0 and 1")
    if margin < 0:
        raise UsageError("margin must be 0 or more")
    side_a = _collect(a, metric, "A")
    side_b = _collect(b, metric, "B")
    out = []
    for model, ca in side_a.items():
        cb = side_b.get(model)
        if cb is not None:
            out.append(_compare_model(model, ca, cb, metric, margin, seed, n_boot, alpha))
    return out


def _compare_model(
    model: str,
    ca: dict[str, _Side],
    cb: dict[str, _Side],
    metric: str,
    margin: float,
    seed: int,
    n_boot: int,
    alpha: float,
) -> Comparison:
    import numpy as np

    memo: dict[tuple[float, ...], tuple[float, float]] = {}

    def ci(d: list[float]) -> tuple[float, float]:
        """Bootstrap once per distinct vector (score and pass often coincide)."""
        key = tuple(d)
        if key not in memo:
            memo[key] = bootstrap_ci(d, seed=seed, n_boot=n_boot, alpha=alpha)
        return memo[key]

    only_a = sorted(set(ca) - set(cb))
    only_b = sorted(set(cb) - set(ca))
    errored, unscored, paired = [], [], []
    for cid in sorted(set(ca) & set(cb)):
        sa, sb = ca[cid], cb[cid]
        if sa.errors or sb.errors:
            errored.append(cid)
        elif sa.missing or sb.missing or not sa.values or not sb.values:
            unscored.append(cid)
        else:
            paired.append(cid)
    xa = np.array([_mean(ca[c].values) for c in paired], dtype=float)
    xb = np.array([_mean(cb[c].values) for c in paired], dtype=float)
    pa = [(_mean(ca[c].passes) or 0.0) >= 0.5 for c in paired]  # majority of the samples
    pb = [(_mean(cb[c].passes) or 0.0) >= 0.5 for c in paired]
    regressed = [c for c, x, y in zip(paired, pa, pb, strict=True) if x and not y]
    improved = [c for c, x, y in zip(paired, pa, pb, strict=True) if y and not x]
    mc = mcnemar_test(len(regressed), len(improved))
    n = len(paired)
    mean_a = mean_b = diff = low = high = sd = None
    needed = None
    if n == 0:
        verdict, reason = "inconclusive", "no case has a usable result on both sides"
    else:
        d = xb - xa
        mean_a, mean_b, diff = float(xa.mean()), float(xb.mean()), float(d.mean())
        sd = float(d.std(ddof=1)) if n > 1 else 0.0
        low, high = ci(d.tolist())
        level = f"{100 * (1 - alpha):g}%"
        if high < -_EPS:
            verdict, reason = (
                "regression",
                f"the {level} interval of the {metric} difference lies below zero",
            )
        elif mc.p < alpha and mc.b > mc.c:
            verdict, reason = (
                "regression",
                (
                    f"McNemar: {mc.b} cases regressed, {mc.c} improved "
                    f"(one-sided p = {mc.p:.3g} < {alpha:g})"
                ),
            )
        elif low > -margin - _EPS:
            verdict, reason = (
                "ok",
                f"the {level} interval's lower bound {low:+.3f} is above -{margin:g}",
            )
        else:
            verdict, reason = (
                "inconclusive",
                (f"the {level} interval [{low:+.3f}, {high:+.3f}] spans both zero and -{margin:g}"),
            )
            needed = cases_needed(diff, sd, n, margin, alpha)
    secondary = _secondary(ca, cb, paired, metric, ci)
    sides_a = [ca[c] for c in paired]
    sides_b = [cb[c] for c in paired]
    examples = []
    for cid in (regressed + improved)[: 2 * _MAX_EXAMPLES]:
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
    repeats = max(
        [len(s.values) + s.errors + s.missing for s in (*ca.values(), *cb.values())] or [0]
    )
    return Comparison(
        model=model,
        metric=metric,
        verdict=verdict,
        reason=reason,
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
        cases_needed=needed,
        margin=margin,
        alpha=alpha,
        seed=seed,
        n_boot=n_boot,
        repeats=repeats,
        latency_ms=_usage(sides_a, sides_b, "latency"),
        tokens_in=_usage(sides_a, sides_b, "tokens_in"),
        tokens_out=_usage(sides_a, sides_b, "tokens_out"),
        cost=_usage(sides_a, sides_b, "cost"),
        ref_a=_ref(ca),
        ref_b=_ref(cb),
        secondary=secondary,
        examples=examples,
    )


def _secondary(
    ca: dict[str, _Side],
    cb: dict[str, _Side],
    paired: list[str],
    metric: str,
    ci: Callable[[list[float]], tuple[float, float]],
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
        d = [y - x for x, y in zip(va, vb, strict=True)]
        low, high = ci(d)
        ma, mb = math.fsum(va) / len(va), math.fsum(vb) / len(vb)
        out.append(MetricDelta(label, len(d), ma, mb, mb - ma, low, high))
    return out


def overall_verdict(comparisons: Iterable[Comparison]) -> str:
    """The worst verdict: regression over inconclusive over ok (nothing compared: inconclusive)."""
    verdicts = [c.verdict for c in comparisons]
    if "regression" in verdicts:
        return "regression"
    if not verdicts or "inconclusive" in verdicts:
        return "inconclusive"
    return "ok"


_DIFFING = ("DiffResult", "FileDiff", "compare_runs", "diff_refs", "file_diff")


def __getattr__(name: str) -> Any:
    """The names of :mod:`promptops.diffing`, imported on first use (that module imports this
    one, so importing it here at the top would be a cycle)."""
    if name in _DIFFING:
        from . import diffing

        return getattr(diffing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
