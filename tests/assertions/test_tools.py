"""tool-call, not-tool-call and is-valid-tool-call on recorded calls."""

from __future__ import annotations

from typing import Any

from promptops.assertions import config_problems
from promptops.toolcalls import format_calls, parse_calls

from .helpers import check, make_ctx, spec

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}


def ctx(*calls: tuple[str, str]) -> Any:
    raw = [{"id": f"c{i}", "name": n, "arguments": a} for i, (n, a) in enumerate(calls)]
    return make_ctx("", tool_calls=parse_calls(raw), tools=[WEATHER])


PARIS = ("get_weather", '{"city": "Paris", "days": 2}')
FX = ("convert", '{"amount": 3}')


def test_parse_calls_keeps_raw_and_reports_bad_json() -> None:
    (ok, bad) = parse_calls(
        [{"name": "a", "arguments": '{"x": 1}'}, {"name": "b", "arguments": '{"x": '}]
    )
    assert ok["arguments"] == {"x": 1} and ok["raw"] == '{"x": 1}' and "error" not in ok
    assert bad["arguments"] is None and "not valid JSON" in bad["error"]
    assert format_calls([ok, bad]) == 'a({"x": 1}); b({"x": )'


def test_tool_call_without_value_is_any_call() -> None:
    assert check("tool-call", ctx=ctx(PARIS)).passed
    assert not check("tool-call", ctx=ctx()).passed
    assert check("not-tool-call", ctx=ctx()).passed
    assert not check("not-tool-call", ctx=ctx(PARIS)).passed


def test_tool_call_by_name_and_arguments() -> None:
    assert check("tool-call", "get_weather", ctx=ctx(PARIS)).passed
    assert not check("tool-call", "convert", ctx=ctx(PARIS)).passed
    assert check("not-tool-call", "convert", ctx=ctx(PARIS)).passed
    want = {"name": "get_weather", "arguments": {"city": "Paris"}}
    assert check("tool-call", want, ctx=ctx(PARIS)).passed  # other arguments are free
    r = check("tool-call", {"name": "get_weather", "arguments": {"city": "Rome"}}, ctx=ctx(PARIS))
    assert not r.passed and 'city="Paris", expected "Rome"' in r.reason
    r = check("tool-call", {"name": "get_weather", "arguments": {"unit": "c"}}, ctx=ctx(PARIS))
    assert not r.passed and "argument 'unit' missing" in r.reason
    # JSON equality: 2 is not "2", true is not 1
    r = check("tool-call", {"name": "get_weather", "arguments": {"days": "2"}}, ctx=ctx(PARIS))
    assert not r.passed


def test_tool_call_arguments_against_a_schema() -> None:
    schema = {"type": "object", "properties": {"days": {"maximum": 3}}}
    assert check("tool-call", {"name": "get_weather", "schema": schema}, ctx=ctx(PARIS)).passed
    schema = {"type": "object", "properties": {"days": {"maximum": 1}}}
    r = check("tool-call", {"name": "get_weather", "schema": schema}, ctx=ctx(PARIS))
    assert not r.passed and "schema" in r.reason


def test_tool_call_list_forms() -> None:
    both = ctx(PARIS, FX)
    assert check("tool-call", ["convert", "get_weather"], ctx=both).passed  # contains
    assert check("tool-call", ["convert", "get_weather"], ctx=both, method="set").passed
    r = check("tool-call", ["get_weather"], ctx=both, method="set")
    assert not r.passed and "unexpected call convert" in r.reason
    assert check("tool-call", ["get_weather"], ctx=both).passed  # contains allows extras
    assert check("tool-call", ["get_weather", "convert"], ctx=both, method="sequence").passed
    r = check("tool-call", ["convert", "get_weather"], ctx=both, method="sequence")
    assert not r.passed and r.reason.startswith("call 1:")
    # one call cannot satisfy two expected calls
    r = check("tool-call", ["get_weather", "get_weather"], ctx=ctx(PARIS))
    assert not r.passed and r.score == 0.5
    r = check("tool-call", ["get_weather", "other"], ctx=both, method="f1", threshold=0.5)
    assert r.passed and r.score == 0.5
    assert not check("tool-call", ["get_weather", "other"], ctx=both, method="f1").passed


def test_is_valid_tool_call() -> None:
    assert check("is-valid-tool-call", ctx=ctx(PARIS)).passed
    r = check("is-valid-tool-call", ctx=ctx(FX))
    assert not r.passed and "'convert' is not a declared tool (get_weather)" in r.reason
    r = check("is-valid-tool-call", ctx=ctx(("get_weather", '{"days": 1}')))
    assert not r.passed and "'city' is a required property" in r.reason
    r = check("is-valid-tool-call", ctx=ctx(("get_weather", "{oops")))
    assert not r.passed and "not valid JSON" in r.reason
    assert not check("is-valid-tool-call", ctx=ctx()).passed


def test_tool_call_config_errors_and_lint() -> None:
    r = check("tool-call", {"name": "x", "args": {}}, ctx=ctx(PARIS))
    assert r.error and "unknown key(s) args" in r.error
    r = check("tool-call", "get_weather", ctx=ctx(PARIS), method="bag")
    assert r.error and "unknown method 'bag'" in r.error
    assert (
        config_problems(spec("tool-call", [1]))
        and "each expected call" in config_problems(spec("tool-call", [1]))[0]
    )
    assert config_problems(spec("tool-call", method="sequence")) == [
        "method sequence needs a value: the expected calls"
    ]
    assert config_problems(spec("tool-call", "{{ expected }}", method="set")) == []
