"""Shared helpers for the assertion tests: build contexts and evaluate one spec."""

from __future__ import annotations

import asyncio
from typing import Any

from promptops.assertions import (
    AssertionContext,
    AssertionResult,
    AssertionSpec,
    evaluate_assertion,
)


def make_ctx(output: str = "", **kw: Any) -> AssertionContext:
    kw.setdefault("vars", {})
    return AssertionContext(output=output, **kw)


def spec(type_: str, value: Any = None, **kw: Any) -> AssertionSpec:
    return AssertionSpec.model_validate({"type": type_, "value": value, **kw})


def check(
    type_: str, value: Any = None, output: str = "", ctx: AssertionContext | None = None, **kw: Any
) -> AssertionResult:
    """Evaluate one assertion the way a suite does (render, check, threshold, negation)."""
    c = ctx if ctx is not None else make_ctx(output)
    return asyncio.run(evaluate_assertion(spec(type_, value, **kw), c))


class FakeJudge:
    """Records the calls and answers with a fixed text."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.calls: list[tuple[str, list[dict[str, str]]]] = []

    async def __call__(self, model: str, messages: list[dict[str, str]]) -> str:
        self.calls.append((model, messages))
        return self.answer
