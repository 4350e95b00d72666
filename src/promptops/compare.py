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
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import PromptOpsError, UsageError

if TYPE_CHECKING:
    from .project import Project, PromptVersion
    from .results import RunDir
    from .runner import EvalOptions

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
                fa.get("output"),
                fb.get("output"),
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


# --------------------------------------------------------------------------------------------
# What changed in the prompt files
# --------------------------------------------------------------------------------------------


@dataclass
class FileDiff:
    """What changed between two prompt files, beyond formatting and comments."""

    ref_a: str
    ref_b: str
    template: list[str]  # unified diff lines of the message templates
    model: tuple[str, str] | None
    params: dict[str, tuple[Any, Any]]
    assertions_added: list[str]
    assertions_removed: list[str]
    fields: dict[str, tuple[Any, Any]]  # other top-level fields that changed
    changelog: str  # B's changelog

    @property
    def empty(self) -> bool:
        return not (
            self.template
            or self.model
            or self.params
            or self.assertions_added
            or self.assertions_removed
            or self.fields
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _template_text(pv: PromptVersion) -> list[str]:
    lines = []
    for m in pv.spec.chat():
        lines.append(f"[{m.role}]")
        lines.extend(m.content.splitlines() or [""])
    return lines


def _assertion_texts(pv: PromptVersion) -> list[str]:
    return [
        json.dumps(a.model_dump(by_alias=True, exclude_defaults=True), sort_keys=True, default=str)
        for a in pv.spec.assert_
    ]


_HANDLED = {"name", "version", "messages", "template", "assert", "model", "changelog"}


def file_diff(pv_a: PromptVersion, pv_b: PromptVersion) -> FileDiff:
    """Template text diff, model, parameter, assertion and other field changes from A to B."""
    template = list(
        difflib.unified_diff(
            _template_text(pv_a),
            _template_text(pv_b),
            fromfile=pv_a.ref,
            tofile=pv_b.ref,
            lineterm="",
            n=2,
        )
    )
    ma, mb = pv_a.spec.model, pv_b.spec.model
    model = (ma.id, mb.id) if ma.id != mb.id else None
    pa, pb = ma.params.as_kwargs(), mb.params.as_kwargs()
    if ma.api_base != mb.api_base:
        pa["api_base"], pb["api_base"] = ma.api_base, mb.api_base
    params = {
        k: (pa.get(k), pb.get(k)) for k in sorted(set(pa) | set(pb)) if pa.get(k) != pb.get(k)
    }
    ta, tb = _assertion_texts(pv_a), _assertion_texts(pv_b)
    added = [t for t in tb if t not in ta]
    removed = [t for t in ta if t not in tb]
    fields = {
        k: (pv_a.raw.get(k), pv_b.raw.get(k))
        for k in sorted(set(pv_a.raw) | set(pv_b.raw) - _HANDLED)
        if k not in _HANDLED and pv_a.raw.get(k) != pv_b.raw.get(k)
    }
    return FileDiff(
        pv_a.ref, pv_b.ref, template, model, params, added, removed, fields, pv_b.spec.changelog
    )


# --------------------------------------------------------------------------------------------
# Refs and runs
# --------------------------------------------------------------------------------------------


@dataclass
class DiffResult:
    """A compared with B: file changes, per-model comparisons and where the records are."""

    label_a: str
    label_b: str
    comparisons: list[Comparison]
    changes: FileDiff | None
    run_ids: list[str]
    dataset: str | None  # the dataset both versions ran on (None: inline tests or stored runs)
    notes: list[str] = field(default_factory=list)
    run: RunDir | None = None  # the eval run diff_refs made

    @property
    def verdict(self) -> str:
        return overall_verdict(self.comparisons)

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.label_a,
            "b": self.label_b,
            "verdict": self.verdict,
            "runs": self.run_ids,
            "dataset": self.dataset,
            "notes": self.notes,
            "changes": self.changes.to_json() if self.changes else None,
            "comparisons": [c.to_json() for c in self.comparisons],
        }


def _gate(pv: PromptVersion | None, metric: str | None, margin: float | None) -> tuple[str, float]:
    gate = pv.spec.gate if pv is not None else None
    return (
        metric or (gate.metric if gate else "score"),
        margin if margin is not None else (gate.margin if gate else 0.02),
    )


def diff_refs(
    project: Project,
    ref_a: str | PromptVersion,
    ref_b: str | PromptVersion,
    opts: EvalOptions | None = None,
    *,
    metric: str | None = None,
    margin: float | None = None,
    seed: int = 0,
    n_boot: int = 10000,
    alpha: float = 0.05,
    on_start: Callable[[int, RunDir], None] | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> DiffResult:
    """Evaluate A and B in one run on the same cases and models, then compare them.

    Dataset: ``opts.dataset`` when given, else B's (the candidate's gold set, which a change
    may have extended), else each version's inline tests matched by case id. Models:
    ``opts.models`` when given (both versions on each); else each version on its pinned model,
    compared pinned-to-pinned. Metric and margin default to B's ``gate`` settings.
    """
    from dataclasses import replace

    from .refs import resolve
    from .runner import EvalOptions, run_eval

    pv_a = ref_a if not isinstance(ref_a, str) else resolve(ref_a, project)
    pv_b = ref_b if not isinstance(ref_b, str) else resolve(ref_b, project)
    if pv_a.digest == pv_b.digest:
        raise UsageError(
            f"{pv_a.ref} and {pv_b.ref} are the same prompt (digest {pv_a.digest[:19]}...)"
        )
    opts = replace(opts) if opts is not None else EvalOptions()
    notes: list[str] = []
    dataset: str | None = None
    if opts.dataset is not None:
        dataset = opts.dataset
    elif not opts.tests:
        if pv_b.spec.dataset is not None:
            dataset = pv_b.spec.dataset
            opts.dataset = str(project.root / dataset)
            if pv_a.spec.dataset != pv_b.spec.dataset:
                notes.append(f"the versions name different datasets; both ran on B's {dataset}")
        elif pv_b.spec.tests and pv_a.spec.tests:
            opts.tests = True
            notes.append("no dataset: each version ran its inline tests, matched by case id")
        else:
            raise UsageError(f"{pv_b.ref} has no dataset; pass --dataset FILE")
    else:
        notes.append("each version ran its inline tests, matched by case id")
    relabel = None
    if not opts.models and pv_a.spec.model.id != pv_b.spec.model.id:
        relabel = f"{pv_a.spec.model.id} -> {pv_b.spec.model.id}"
        notes.append(f"the model changed: each version ran on its pinned model ({relabel})")
    metric, margin = _gate(pv_b, metric, margin)
    result = run_eval(
        project,
        [pv_a, pv_b],
        opts,
        on_start=on_start,
        on_record=on_record,
        command=f"promptops diff {pv_a.ref} {pv_b.ref}",
    )
    recs_a, recs_b = [], []
    for rec in result.run.records():
        if relabel is not None:
            rec = {**rec, "model": relabel}
        if rec["digest"] == pv_a.digest:
            recs_a.append(rec)
        elif rec["digest"] == pv_b.digest:
            recs_b.append(rec)
    comps = compare_records(
        recs_a, recs_b, metric=metric, margin=margin, seed=seed, n_boot=n_boot, alpha=alpha
    )
    if result.status != "complete":
        notes.append(
            f"the eval run stopped early ({result.status}); only finished cases are compared"
        )
    return DiffResult(
        pv_a.ref,
        pv_b.ref,
        comps,
        file_diff(pv_a, pv_b),
        [result.run.id],
        dataset,
        notes,
        result.run,
    )


def _run_version(project: Project, run: RunDir, digest: str) -> PromptVersion | None:
    """The prompt file a run used, if it is still on disk unchanged."""
    for ref in run.meta().get("refs", []):
        if ref.get("digest") == digest:
            try:
                pv = project.load(project.root / ref["file"])
            except (PromptOpsError, OSError, KeyError):
                return None
            return pv if pv.digest == digest else None
    return None


def compare_runs(
    project: Project,
    run_a_id: str,
    run_b_id: str,
    *,
    metric: str | None = None,
    margin: float | None = None,
    seed: int = 0,
    n_boot: int = 10000,
    alpha: float = 0.05,
) -> DiffResult:
    """Compare two stored runs as they are (one prompt version each; or one run holding two
    versions, given twice)."""
    from .results import find_run

    run_a, run_b = find_run(project.runs_dir, run_a_id), find_run(project.runs_dir, run_b_id)
    by_digest: dict[str, list[dict[str, Any]]] = {}
    recs_a = list(run_a.records())
    digests_a = list(dict.fromkeys(r["digest"] for r in recs_a))
    if run_a.id == run_b.id:
        if len(digests_a) != 2:
            raise UsageError(
                f"run {run_a.id} holds {len(digests_a)} versions; comparing a run with "
                "itself needs exactly two"
            )
        da, db = digests_a
        for r in recs_a:
            by_digest.setdefault(r["digest"], []).append(r)
        records_a, records_b = by_digest[da], by_digest[db]
    else:
        recs_b = list(run_b.records())
        digests_b = list(dict.fromkeys(r["digest"] for r in recs_b))
        for run, digests in ((run_a, digests_a), (run_b, digests_b)):
            if len(digests) != 1:
                raise UsageError(
                    f"run {run.id} holds {len(digests)} prompt versions; give a run of one "
                    "version, or the same run twice to compare its two versions"
                )
        da, db = digests_a[0], digests_b[0]
        records_a, records_b = recs_a, recs_b
    pv_a, pv_b = _run_version(project, run_a, da), _run_version(project, run_b, db)
    metric, margin = _gate(pv_b, metric, margin)
    comps = compare_records(
        records_a, records_b, metric=metric, margin=margin, seed=seed, n_boot=n_boot, alpha=alpha
    )
    notes = []
    changes = None
    if pv_a is not None and pv_b is not None and da != db:
        changes = file_diff(pv_a, pv_b)
    elif da != db:
        notes.append("a prompt file changed since its run; no file diff")
    ds_a = run_a.meta().get("provenance", {}).get("datasets", {})
    ds_b = run_b.meta().get("provenance", {}).get("datasets", {})
    if ds_a != ds_b:
        notes.append(
            "the runs used different datasets (or dataset contents); only shared case ids are paired"
        )
    models_a = {r["model"] for r in records_a}
    models_b = {r["model"] for r in records_b}
    if models_a != models_b:
        notes.append(
            "models on one side only are not compared: " + ", ".join(sorted(models_a ^ models_b))
        )
    label_a = (
        run_a.id
        if run_a.id != run_b.id
        else f"{run_a.id} ({records_a[0]['prompt']}@{records_a[0]['version']})"
    )
    label_b = (
        run_b.id
        if run_a.id != run_b.id
        else f"{run_b.id} ({records_b[0]['prompt']}@{records_b[0]['version']})"
    )
    dataset = next(iter(ds_b), None) if len(ds_b) == 1 else None
    return DiffResult(
        label_a, label_b, comps, changes, list(dict.fromkeys([run_a.id, run_b.id])), dataset, notes
    )
