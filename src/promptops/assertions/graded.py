"""Model-graded comparisons with a reference: ``factuality`` and ``closedqa``; and the custom
judge prompt of ``llm-rubric`` (``judge_prompt:``).

Both ask a pinned judge (``judge:``) for one JSON object and parse it strictly (see
:mod:`.judging`): an answer that cannot be read is an error of the assertion, never a score.

- ``factuality`` compares the output's facts with the reference (value, else ``expected``)
  in the five categories of OpenAI's fact-checking eval: (A) a consistent subset, (B) a
  consistent superset, (C) the same details, (D) a disagreement, (E) differences that do not
  matter for factuality. D fails; the others pass.
- ``closedqa`` asks whether the output meets a criterion (value, else ``expected``), given the
  question (the last user message): Y passes, N fails.
"""

from __future__ import annotations

import json
from typing import Any

from promptops.spec import AssertionSpec

from .base import AssertionConfigError, AssertionContext, AssertionResult, assertion, short_text
from .judging import JudgeAnswerError, _extract

FACTUALITY_SYSTEM = (
    "You compare the factual content of a SUBMISSION with an EXPERT answer to a QUESTION. "
    "Ignore differences in style, grammar and punctuation.\n"
    "Pick one category:\n"
    "A: the submission is a subset of the expert answer and fully consistent with it.\n"
    "B: the submission is a superset of the expert answer and fully consistent with it.\n"
    "C: the submission contains all the same details as the expert answer.\n"
    "D: there is a disagreement between the submission and the expert answer.\n"
    "E: the answers differ, but these differences don't matter from the perspective of "
    "factuality.\n"
    "Reply with only a JSON object and no other text:\n"
    '{"category": "<A, B, C, D or E>", "reason": "<one sentence>"}'
)

CLOSEDQA_SYSTEM = (
    "You judge whether a SUBMISSION to a QUESTION meets a CRITERION. Consider only the "
    "criterion.\n"
    "Reply with only a JSON object and no other text:\n"
    '{"answer": "<Y if the submission meets the criterion, N if not>", '
    '"reason": "<one sentence>"}'
)

FACT_CATEGORIES = ("A", "B", "C", "D", "E")


def parse_choice(answer: str, key: str, allowed: tuple[str, ...]) -> tuple[str, str]:
    """``(choice, reason)`` from the judge's JSON object, ``choice`` one of ``allowed``.
    Raises :class:`JudgeAnswerError`."""
    try:
        obj = _extract(answer)
        if not isinstance(obj, dict):
            raise JudgeAnswerError(f"expected a JSON object, got {type(obj).__name__}")
        if key not in obj:
            raise JudgeAnswerError(f"no {key!r} field")
        choice = obj[key]
        if not isinstance(choice, str) or choice.strip().upper() not in allowed:
            raise JudgeAnswerError(f"{key} {choice!r} is not one of {', '.join(allowed)}")
        reason = obj.get("reason", "")
        if not isinstance(reason, str):
            raise JudgeAnswerError("'reason' is not a string")
        return choice.strip().upper(), reason
    except JudgeAnswerError as e:
        raise JudgeAnswerError(
            f"judge answer unparseable: {e}: {short_text(answer, 120)!r}"
        ) from None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _reference(spec: AssertionSpec, value: Any, ctx: AssertionContext, what: str) -> str:
    ref = value if value is not None else ctx.expected
    if ref is None:
        raise AssertionConfigError(f"{spec.type}: no {what}: give a value or an expected answer")
    return _text(ref)


def _question(ctx: AssertionContext) -> str:
    """The last user message's text (the question a judge sees)."""
    users = [m.get("content") for m in ctx.messages if m.get("role") == "user"]
    if not users:
        return ""
    last = users[-1]
    if isinstance(last, list):  # content parts: the text ones
        return " ".join(str(p.get("text", "")) for p in last if isinstance(p, dict))
    return str(last or "")


def _judge_model(spec: AssertionSpec) -> str:
    if not spec.judge:
        raise AssertionConfigError(f"{spec.type}: needs judge: a pinned judge model id")
    return spec.judge


async def _graded(
    model: str,
    ctx: AssertionContext,
    system: str,
    tag: str,
    reference: str,
    field: str,
    choices: tuple[str, ...],
) -> tuple[str, str] | AssertionResult:
    """Ask the judge about the output against ``reference`` (shown as ``<tag>``): its strictly
    parsed choice and reason, or the error result."""
    if ctx.judge is None:
        return AssertionResult(False, 0.0, "", error="no judge available")
    user = (
        f"<question>\n{_question(ctx)}\n</question>\n\n<{tag}>\n{reference}\n</{tag}>\n\n"
        f"<submission>\n{ctx.output}\n</submission>"
    )
    answer = await ctx.judge(
        model, [{"role": "system", "content": system}, {"role": "user", "content": user}]
    )
    try:
        return parse_choice(answer, field, choices)
    except JudgeAnswerError as e:
        return AssertionResult(False, 0.0, "", error=str(e))


@assertion("factuality", needs_value=False, model_graded=True)
async def factuality(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """A judge model (judge:) checks the output's facts against the reference (value, else expected); a disagreement fails."""
    model = _judge_model(spec)
    reference = _reference(spec, value, ctx, "reference answer")
    got = await _graded(
        model, ctx, FACTUALITY_SYSTEM, "expert", reference, "category", FACT_CATEGORIES
    )
    if isinstance(got, AssertionResult):
        return got
    category, reason = got
    ok = category != "D"
    return AssertionResult(ok, 1.0 if ok else 0.0, f"({category}) {reason}".strip())


@assertion("closedqa", needs_value=False, model_graded=True)
async def closedqa(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """A judge model (judge:) answers Y/N: does the output meet the criterion (value, else expected) for the question?"""
    model = _judge_model(spec)
    criterion = _reference(spec, value, ctx, "criterion")
    got = await _graded(model, ctx, CLOSEDQA_SYSTEM, "criterion", criterion, "answer", ("Y", "N"))
    if isinstance(got, AssertionResult):
        return got
    choice, reason = got
    ok = choice == "Y"
    return AssertionResult(ok, 1.0 if ok else 0.0, f"{choice}: {reason}".strip())


def custom_rubric_messages(
    spec: AssertionSpec, rubric: str, ctx: AssertionContext
) -> list[dict[str, str]]:
    """The judge messages of an llm-rubric with ``judge_prompt``: our strict JSON system
    message, then the user's template rendered over rubric, output, input, expected, vars."""
    from promptops.render import render_template

    from .judging import RUBRIC_SYSTEM

    assert spec.judge_prompt is not None
    context = {
        "rubric": rubric,
        "output": ctx.output,
        "input": _question(ctx),
        "expected": ctx.expected,
        "vars": ctx.vars,
    }
    user = render_template(spec.judge_prompt, context, f"{spec.type} judge_prompt")
    return [{"role": "system", "content": RUBRIC_SYSTEM}, {"role": "user", "content": user}]
