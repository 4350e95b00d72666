"""contains-json, is-json / json-schema with method: extract, finish-reason."""

from __future__ import annotations

import pytest

from promptops.assertions import config_problems
from promptops.assertions.structured import extract_json

from .helpers import check, make_ctx, spec

SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"a": 1}', {"a": 1}),
        ('Sure! Here it is: {"a": 1} Hope that helps {"b": 2}', {"a": 1}),
        ('Text {not json} then ```json\n{"a": 2}\n``` and {"a": 3}', {"a": 2}),
        ("```\n[1, 2]\n```", [1, 2]),
        ('a {broken then [1, {"x": null}] end', [1, {"x": None}]),
    ],
)
def test_extract_json(text: str, value: object) -> None:
    assert extract_json(text) == value


def test_extract_json_none() -> None:
    with pytest.raises(ValueError, match="no JSON"):
        extract_json("plain words {and braces")


def test_contains_json_with_and_without_schema() -> None:
    assert check("contains-json", output='Answer:\n```json\n{"a": 1}\n```').passed
    assert not check("contains-json", output="no json here").passed
    assert check("contains-json", SCHEMA, output='x {"a": 5} y').passed
    r = check("contains-json", SCHEMA, output='x {"a": "5"} y')
    assert not r.passed and "does not match the schema" in r.reason
    assert check("not-contains-json", output="nothing").passed


def test_is_json_and_json_schema_extract() -> None:
    wrapped = 'Here:\n```json\n{"a": 1}\n```'
    assert not check("is-json", output=wrapped).passed
    assert check("is-json", output=wrapped, method="extract").passed
    assert not check("json-schema", SCHEMA, output=wrapped).passed
    assert check("json-schema", SCHEMA, output=wrapped, method="extract").passed
    r = check("json-schema", SCHEMA, output=wrapped, method="find")
    assert r.error and "unknown method 'find'" in r.error
    assert config_problems(spec("is-json", method="find"))


def test_finish_reason() -> None:
    ctx = make_ctx("x", finish_reason="length")
    assert check("finish-reason", "length", ctx=ctx).passed
    assert check("finish-reason", ["stop", "length"], ctx=ctx).passed
    r = check("finish-reason", "stop", ctx=ctx)
    assert not r.passed and r.reason == "finish reason 'length', not stop"
    assert check("not-finish-reason", "length", ctx=make_ctx("x", finish_reason="stop")).passed
    assert (
        check("finish-reason", "stop", ctx=make_ctx("x")).error == "no finish reason was recorded"
    )
    assert config_problems(spec("finish-reason", 3))
    assert config_problems(spec("finish-reason", "stop")) == []
