"""Custom checks for the example prompts, used as ``python`` assertions.

A check is ``func(output, context)``: ``output`` is the model's text, ``context`` holds the case's
``vars``, ``expected``, ``metadata``, ``case_id``, ``messages``, ``latency_ms`` and ``cost``. It
returns a bool, a score in [0, 1] (passing at the assertion's ``threshold``, default 0.5) or a
dict ``{"pass": ..., "score": ..., "reason": ...}``.

Referenced from a prompt file as::

    - {type: python, value: "examples/checks.py:ticket_labels", threshold: 0.5}
"""

from __future__ import annotations

import json
from typing import Any


def ticket_labels(output: str, context: dict[str, Any]) -> dict[str, Any]:
    """Score a ticket classification: 1.0 when category and urgency both match ``expected``,
    0.5 when only the category does, 0.0 otherwise (or when the output is not a JSON object)."""
    expected: dict[str, Any] = context.get("expected") or {}
    try:
        got = json.loads(output)
    except json.JSONDecodeError:
        return {"pass": False, "score": 0.0, "reason": "output is not JSON"}
    if not isinstance(got, dict):
        return {"pass": False, "score": 0.0, "reason": "output is not a JSON object"}
    category_ok = got.get("category") == expected.get("category")
    urgency_ok = got.get("urgency") == expected.get("urgency")
    score = (0.5 if category_ok else 0.0) + (0.5 if category_ok and urgency_ok else 0.0)
    reason = (
        f"category {got.get('category')!r} (expected {expected.get('category')!r}), "
        f"urgency {got.get('urgency')!r} (expected {expected.get('urgency')!r})"
    )
    return {"score": score, "reason": reason}
