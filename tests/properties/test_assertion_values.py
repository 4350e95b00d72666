"""Properties of the assertion suite: any built-in type with any value on any output gives a
result with a score in [0, 1] (a broken check is an ``error`` on the result), never an
exception that would end the run."""

from __future__ import annotations

import asyncio
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from promptops.assertions import AssertionContext, AssertionSpec, evaluate_assertion

from .strategies import JSON, TEXT, scaled

# every built-in that needs no judge model, no file and no helper process per example (regex
# and json schemas spawn helpers: covered by tests/eval/test_supervise.py's fuzzed runs)
TYPES = [
    "equals", "contains", "icontains", "contains-any", "icontains-any", "contains-all",
    "icontains-all", "starts-with", "min-length", "max-length", "min-words", "max-words",
    "similar", "latency", "cost", "no-pii", "no-leak", "is-refusal", "refusal", "json-field",
    "finish-reason", "llm-rubric",
]  # fmt: skip


@settings(max_examples=scaled(120))
@given(
    st.sampled_from(TYPES),
    st.booleans(),
    st.one_of(JSON, st.sampled_from(["{{ output }}", "{{ vars.x }}", "{{ nope }}", "{{ 1/0 }}"])),
    st.one_of(st.none(), st.floats(), st.integers(-2, 3)),
    TEXT,
    JSON,
)
def test_any_check_on_any_output_is_a_result(
    kind: str, negated: bool, value: object, threshold: object, output: str, x: object
) -> None:
    data = {"type": f"not-{kind}" if negated else kind, "value": value}
    if threshold is not None:
        data["threshold"] = threshold
    try:
        spec = AssertionSpec.model_validate(data)
    except ValueError:
        return  # refused where the file is read (lint names its line)
    ctx = AssertionContext(output=output, vars={"x": x}, latency_ms=12.0, cost=0.001)
    result = asyncio.run(evaluate_assertion(spec, ctx))
    assert isinstance(result.passed, bool)
    assert math.isfinite(result.score) and 0 <= result.score <= 1
    assert result.error is None or isinstance(result.error, str)
