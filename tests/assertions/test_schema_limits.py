"""JSON Schema checks run in a helper process with a time limit: a schema from a pull request
(``pattern``, ``patternProperties``, a ``$ref`` graph) cannot hang the event loop."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from promptops.assertions import AssertionResult, evaluate_assertion

from .helpers import check, make_ctx, spec

EVIL = "^(a+)+$"  # exponential backtracking on a run of a's that ends in a mismatch
# about 20 s of matching here (seconds on a much faster machine): far past the 0.5 s limit, yet
# an unlimited check ends and fails the test instead of hanging it
SLOW = "a" * 28 + "!"


def _timed(fn: Any) -> tuple[AssertionResult, float]:
    t = time.monotonic()
    r = fn()
    return r, time.monotonic() - t


@pytest.mark.parametrize(
    ("schema", "output"),
    [
        ({"type": "string", "pattern": EVIL}, f'"{SLOW}"'),
        ({"type": "object", "patternProperties": {EVIL: {"type": "string"}}}, f'{{"{SLOW}": 1}}'),
        (
            {"type": "object", "additionalProperties": False, "patternProperties": {EVIL: {}}},
            f'{{"{SLOW}": 1}}',
        ),
        ({"propertyNames": {"pattern": EVIL}}, f'{{"{SLOW}": 1}}'),
    ],
    ids=["pattern", "patternProperties", "additionalProperties", "propertyNames"],
)
def test_a_catastrophic_schema_regex_times_out(schema: dict[str, Any], output: str) -> None:
    r, took = _timed(lambda: check("json-schema", schema, output, timeout=0.5))
    assert not r.passed and r.error is not None and "timed out" in r.error, r
    assert took < 5, took


def test_the_prompt_output_schema_is_limited_too() -> None:
    ctx = make_ctx(
        f'{{"name": "{SLOW}"}}', output_schema={"properties": {"name": {"pattern": EVIL}}}
    )
    r, took = _timed(lambda: check("json-schema", ctx=ctx, timeout=0.5))
    assert r.error is not None and "JSON Schema validation timed out" in r.error
    assert took < 5, took


def test_an_exponential_ref_graph_times_out() -> None:
    # each level tries both branches of the next: 2**17 validations for one failing value
    # (tens of seconds here)
    defs = {f"d{i}": {"anyOf": [{"$ref": f"#/$defs/d{i + 1}"}] * 2} for i in range(17)}
    defs["d17"] = {"type": "integer"}
    r, took = _timed(
        lambda: check("json-schema", {"$defs": defs, "$ref": "#/$defs/d0"}, '"x"', timeout=0.5)
    )
    assert r.error is not None and "timed out" in r.error, r
    assert took < 5, took


def test_tool_call_schemas_are_limited() -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "f",
                "parameters": {
                    "type": "object",
                    "properties": {"q": {"type": "string", "pattern": EVIL}},
                },
            },
        }
    ]
    ctx = make_ctx("", tools=tools, tool_calls=[{"name": "f", "arguments": {"q": SLOW}}])
    r = check("is-valid-tool-call", ctx=ctx, timeout=0.5)
    assert r.error is not None and "timed out" in r.error, r
    want = [{"name": "f", "schema": {"properties": {"q": {"pattern": EVIL}}}}]
    r = check("tool-call", want, ctx=ctx, timeout=0.5)
    assert r.error is not None and "timed out" in r.error, r


def test_the_loop_keeps_running_while_a_schema_check_runs_over() -> None:
    async def main() -> tuple[AssertionResult, int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.ensure_future(tick())
        s = spec("json-schema", {"pattern": EVIL}, timeout=0.5)
        r = await evaluate_assertion(s, make_ctx(f'"{SLOW}"'))
        ticker.cancel()
        return r, ticks

    r, ticks = asyncio.run(main())
    assert r.error is not None and "timed out" in r.error
    assert ticks >= 20, f"the loop ran {ticks} ticks of 10 ms in 0.5 s"


def test_schemas_still_validate_and_report_as_before() -> None:
    schema = {"type": "object", "required": ["a"], "properties": {"a": {"pattern": "^x+$"}}}
    assert check("json-schema", schema, '{"a": "xx"}').passed
    r = check("json-schema", schema, '{"a": "y"}')
    assert not r.passed and r.error is None and "$.a: 'y' does not match '^x+$'" in r.reason
    r = check("json-schema", {"type": "nonsense"}, "{}")
    assert r.error is not None and "invalid JSON Schema" in r.error
    r = check("json-schema", {"$ref": "https://example.com/s.json"}, "{}")
    assert r.error is not None and "never fetches" in r.error
