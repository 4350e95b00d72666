"""Evaluating a case's assertion suite: render values, run checkers concurrently, combine.

An assertion that cannot run (bad value, unparseable judge answer, exception in a checker)
carries an ``error``; the case then fails and the error is surfaced, so a broken check never
passes quietly or hides as a low score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from promptops.errors import PromptOpsError
from promptops.spec import AssertionSpec

from .base import REGISTRY, AssertionContext, AssertionResult
from .pyfunc import PY_REF

_EPS = 1e-9


@dataclass
class CaseVerdict:
    """The outcome of one case's assertions."""

    results: list[tuple[AssertionSpec, AssertionResult]]
    score: float  # weighted mean of the scores; 1.0 for an empty suite
    passed: bool
    error: str | None = None  # first assertion error, as "type: message"
    metrics: dict[str, float] = field(default_factory=dict)  # label -> mean score

    def record_fields(self) -> dict[str, Any]:
        """What a case record (and each turn of a conversation) holds of the verdict."""
        return {
            "assertions": [
                {"type": spec.type, "metric": spec.metric, "weight": spec.weight, **res.to_json()}
                for spec, res in self.results
            ],
            "score": round(self.score, 6),
            "pass": self.passed,
            "assert_error": self.error,
            "metrics": self.metrics,
        }


def _error(message: str) -> AssertionResult:
    return AssertionResult(False, 0.0, "", error=message)


def unknown_type_message(name: str) -> str:
    """``unknown assertion type 'x'`` with close matches (or the known types)."""
    import difflib

    names = sorted(REGISTRY)
    candidates = names + [f"not-{n}" for n in names]
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    if close:
        return f"unknown assertion type {name!r}; did you mean {', '.join(close)}?"
    return f"unknown assertion type {name!r}; known types: {', '.join(names)}"


def _undefined(value: Any) -> str | None:
    """Why a rendered value holds a Jinja ``Undefined`` (an expression-only template over a
    missing name evaluates to one instead of raising), or None."""
    import jinja2

    if isinstance(value, jinja2.Undefined):
        try:
            str(value)
        except jinja2.UndefinedError as e:
            return e.message or "undefined"
        return "undefined"
    if isinstance(value, list | tuple):
        return next((u for v in value if (u := _undefined(v)) is not None), None)
    if isinstance(value, dict):
        return next((u for v in value.values() if (u := _undefined(v)) is not None), None)
    return None


async def evaluate_assertion(
    spec: AssertionSpec, ctx: AssertionContext, template_context: dict[str, Any] | None = None
) -> AssertionResult:
    """Render the spec's value, run its checker, apply threshold and negation. Never raises
    for a problem of the assertion itself: that becomes ``result.error``."""
    from promptops.render import render_value

    atype = REGISTRY.get(spec.base_type)
    if atype is None:
        return _error(unknown_type_message(spec.type))
    if atype.needs_value and spec.value is None:
        return _error(f"{spec.type} needs a value")
    try:
        if spec.transform is not None:
            from dataclasses import replace

            from .javascript import transformed

            ctx = replace(ctx, output=await transformed(spec.transform, ctx, spec.timeout))
            template_context = None
        tctx = template_context if template_context is not None else ctx.template_context()
        value = render_value(spec.value, tctx, f"{spec.type} value")
        undefined = _undefined(value)
        if undefined is not None:
            return _error(f"{spec.type} value: {undefined}")
        raw = atype.check(spec, value, ctx)
        result = raw if isinstance(raw, AssertionResult) else await raw
    except PromptOpsError as e:
        return _error(e.message)
    except Exception as e:  # a checker bug or a plugin's exception: surface, don't crash the run
        return _error(f"{type(e).__name__}: {e}")
    except SystemExit as e:  # a plugin's sys.exit(): a broken check, as in a python check;
        # left alone, in a task of its own (several checks) it stopped the event loop
        from .limits import AbortRun

        raise AbortRun(f"assertion {spec.type} called sys.exit({e.code!r})") from None
    if not isinstance(result, AssertionResult):
        return _error(f"checker returned {type(result).__name__}, not an AssertionResult")
    if result.error is not None:
        return AssertionResult(False, 0.0, result.reason, result.error)
    score = result.score
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        return _error(f"checker returned score {score!r}, not a number")
    if not 0 <= score <= 1:
        return _error(f"checker returned score {score!r}, outside [0, 1]")
    passed = result.passed
    if atype.graded:
        threshold = spec.threshold if spec.threshold is not None else atype.default_threshold
        passed = score >= threshold - _EPS
    if spec.negated:
        return AssertionResult(not passed, 1.0 - score, f"not: {result.reason}")
    return AssertionResult(bool(passed), float(score), result.reason)


async def run_assertions(
    specs: list[AssertionSpec], ctx: AssertionContext, threshold: float | None
) -> CaseVerdict:
    """Evaluate every assertion of a case concurrently and combine the results.

    ``score`` is the mean of the scores weighted by ``weight`` (weight 0 counts for nothing;
    an empty suite scores 1.0). Without a ``threshold`` the case passes when every assertion
    passes; with one, when ``score >= threshold``. An assertion error always fails the case.
    """
    import asyncio  # late: commands that only lint should not pay for it

    tctx = ctx.template_context()
    if len(specs) <= 1:  # the common case: no task per check (gather makes one each)
        results = [await evaluate_assertion(s, ctx, tctx) for s in specs]
    else:
        results = list(await asyncio.gather(*(evaluate_assertion(s, ctx, tctx) for s in specs)))
    pairs = list(zip(specs, results, strict=True))
    total = sum(s.weight for s in specs)
    score = sum(s.weight * r.score for s, r in pairs) / total if total > 0 else 1.0
    error = next((f"{s.type}: {r.error}" for s, r in pairs if r.error is not None), None)
    if error is not None:
        passed = False
    elif threshold is None:
        passed = all(r.passed for r in results)
    else:
        passed = score >= threshold - _EPS
    by_label: dict[str, list[float]] = {}
    for s, r in pairs:
        by_label.setdefault(s.label, []).append(r.score)
    metrics = {label: sum(v) / len(v) for label, v in by_label.items()}
    return CaseVerdict(pairs, score, passed, error, metrics)


async def _python_scoring(
    ref: str, named: dict[str, float], context: dict[str, Any], root: str
) -> Any:
    """``file.py:function`` called with (named scores, context), loaded as a ``python``
    assertion's file is: inside the project, and under ``promptops check`` only through its
    code gate (the merge base's bytes, or refused), with the python check's time limit."""
    from .limits import DEFAULT_TIMEOUT, off_loop
    from .pyfunc import load_function

    probe = AssertionSpec.model_validate({"type": "python", "value": ref})

    def call() -> Any:
        fn, _ = load_function(probe, ref, root)
        return fn(named, context)

    return await off_loop(call, DEFAULT_TIMEOUT, f"scoring {ref}")


async def scored(
    verdict: CaseVerdict, code: str, ctx: AssertionContext, threshold: float | None
) -> CaseVerdict:
    """The verdict as a scoring function decides it (promptfoo's ``assertScoringFunction``):
    ``code`` (JavaScript, or ``file.py:function``, run as a ``python`` check's file is) gets the
    named scores (per metric, the
    weighted mean score of its assertions) and ``context`` ``{threshold, componentResults}``;
    it returns ``{pass, score, reason}``. Anything else, or a throw, fails the case with score
    0, as in promptfoo; an assertion error still fails it (fail closed)."""
    from .javascript import TIME_LIMIT, run_js
    from .limits import off_loop

    sums: dict[str, float] = {}
    weights: dict[str, float] = {}
    for s, r in verdict.results:
        if s.metric:
            sums[s.metric] = sums.get(s.metric, 0.0) + r.score * s.weight
            weights[s.metric] = weights.get(s.metric, 0.0) + s.weight
    named = {k: (sums[k] / weights[k] if weights[k] > 0 else 0.0) for k in sums}
    context = {
        "threshold": threshold,
        "componentResults": [
            {
                "pass": r.passed,
                "score": r.score,
                "reason": r.reason,
                "assertion": {"type": s.type, "metric": s.metric, "weight": s.weight},
            }
            for s, r in verdict.results
        ],
    }
    try:
        if (ref := PY_REF.match(code.strip())) is not None:
            out = await _python_scoring(ref.group(0), named, context, ctx.project_root)
        else:
            out = await off_loop(
                lambda: run_js("assert", code, named, context, TIME_LIMIT), None, "scoring"
            )
    except PromptOpsError as e:
        return CaseVerdict(verdict.results, 0.0, False, f"scoring: {e.message}", verdict.metrics)
    except Exception as e:  # the user's python raised
        why = f"scoring: {code.strip()} raised {type(e).__name__}: {e}"
        return CaseVerdict(verdict.results, 0.0, False, why, verdict.metrics)
    ok = (
        isinstance(out, dict)
        and isinstance(out.get("pass"), bool)
        and isinstance(out.get("score"), int | float)
        and not isinstance(out.get("score"), bool)
        and math.isfinite(out["score"])
    )
    if not ok:
        why = "scoring: the function must return {pass, score, reason}"
        return CaseVerdict(verdict.results, 0.0, False, why, verdict.metrics)
    assert isinstance(out, dict)
    passed = bool(out["pass"]) and verdict.error is None
    return CaseVerdict(verdict.results, float(out["score"]), passed, verdict.error, verdict.metrics)
