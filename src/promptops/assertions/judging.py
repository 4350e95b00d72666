"""Judge prompts and strict parsing of judge answers for the model-graded assertions.

A judge must answer with one JSON object. An answer that cannot be read is an *error* of the
assertion, never a zero score: a broken judge must not look like a bad output.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .base import short_text

_FENCE = re.compile(r"```(?:json|JSON)?[ \t]*\n?(.*?)```", re.S)

RUBRIC_SYSTEM = (
    "You are a strict evaluator. You grade an OUTPUT against a RUBRIC.\n"
    "Reply with only a JSON object and no other text:\n"
    '{"score": <number from 0 to 1>, "reason": "<one sentence>"}\n'
    "1 means the output fully meets the rubric, 0 means it does not meet it at all."
)

GROUNDED_SYSTEM = (
    "You check whether a TEXT is grounded in a SOURCE.\n"
    "Split the TEXT into its factual claims and decide for each claim whether the SOURCE "
    "supports it. Do not use outside knowledge.\n"
    "Reply with only a JSON object and no other text:\n"
    '{"score": <fraction of claims the SOURCE supports, from 0 to 1>, '
    '"unsupported": ["<each unsupported claim>"], "reason": "<one sentence>"}\n'
    "If the TEXT makes no factual claims, the score is 1."
)


class JudgeAnswerError(ValueError):
    """The judge's answer is not the JSON object it was asked for."""


def rubric_messages(rubric: str, output: str, question: str | None = None) -> list[dict[str, str]]:
    """Messages asking a judge to score ``output`` against ``rubric``."""
    parts = [f"<rubric>\n{rubric}\n</rubric>"]
    if question:
        parts.append(f"<input>\n{question}\n</input>")
    parts.append(f"<output>\n{output}\n</output>")
    return [
        {"role": "system", "content": RUBRIC_SYSTEM},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


def grounded_messages(source: str, output: str) -> list[dict[str, str]]:
    """Messages asking a judge which claims of ``output`` the ``source`` supports."""
    return [
        {"role": "system", "content": GROUNDED_SYSTEM},
        {"role": "user", "content": f"<source>\n{source}\n</source>\n\n<text>\n{output}\n</text>"},
    ]


def _extract(answer: str) -> Any:
    fenced = _FENCE.search(answer)
    text = (fenced.group(1) if fenced else answer).strip()
    start = text.find("{")
    if start < 0:
        raise JudgeAnswerError("no JSON object")
    try:
        obj, _ = json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError as e:
        raise JudgeAnswerError(f"invalid JSON ({e.msg})") from None
    return obj


def parse_judge_answer(answer: str, *, unsupported: bool = False) -> dict[str, Any]:
    """The judge's JSON object, with ``score`` a number in [0, 1] and ``reason`` a string.

    The object may be fenced in a markdown code block or follow a short preamble; anything
    else about it is checked strictly. Raises :class:`JudgeAnswerError`.
    """
    try:
        obj = _extract(answer)
        if not isinstance(obj, dict):
            raise JudgeAnswerError(f"expected a JSON object, got {type(obj).__name__}")
        if "score" not in obj:
            raise JudgeAnswerError("no 'score' field")
        score = obj["score"]
        if (
            isinstance(score, bool)
            or not isinstance(score, int | float)
            or not math.isfinite(score)
        ):
            raise JudgeAnswerError(f"score {score!r} is not a number")
        if not 0 <= score <= 1:
            raise JudgeAnswerError(f"score {score!r} is outside [0, 1]")
        reason = obj.get("reason", "")
        if not isinstance(reason, str):
            raise JudgeAnswerError("'reason' is not a string")
        out: dict[str, Any] = {"score": float(score), "reason": reason}
        if unsupported:
            claims = obj.get("unsupported", [])
            if not isinstance(claims, list) or not all(isinstance(c, str) for c in claims):
                raise JudgeAnswerError("'unsupported' is not a list of strings")
            out["unsupported"] = claims
        return out
    except JudgeAnswerError as e:
        raise JudgeAnswerError(
            f"judge answer unparseable: {e}: {short_text(answer, 120)!r}"
        ) from None
