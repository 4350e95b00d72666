"""json-field: a field of the JSON output, checked by any other assertion type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from promptops.assertions import config_problems
from promptops.assertions.base import AssertionConfigError
from promptops.assertions.jsonfield import lookup, parse_path

from .helpers import check, make_ctx, spec

INVOICE = '{"name": "ACME GmbH", "date": "2026-03-01", "amount": 42.5, "items": [{"name": "bolt", "qty": 3}]}'


def field(path: str, inner: dict[str, Any], output: str = INVOICE, **kw: Any) -> Any:
    return check("json-field", None, output=output, path=path, **{"assert": inner}, **kw)


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("amount", ["amount"]),
        ("$.amount", ["amount"]),
        ("items[0].name", ["items", 0, "name"]),
        ("$.items[-1]['qty']", ["items", -1, "qty"]),
        ('$["key with spaces"]', ["key with spaces"]),
    ],
)
def test_parse_path(path: str, steps: list[Any]) -> None:
    assert parse_path(path) == steps


@pytest.mark.parametrize("path", ["", "$", "items[0]name", "items[x]", "a..b", "a b"])
def test_bad_paths(path: str) -> None:
    with pytest.raises(AssertionConfigError):
        parse_path(path)


def test_equals_on_a_number_and_a_string() -> None:
    assert field("amount", {"type": "equals", "value": 42.5}).passed
    r = field("$.amount", {"type": "equals", "value": 42})
    assert not r.passed and r.reason.startswith("$.amount: expected 42")
    assert field("name", {"type": "equals", "value": "ACME GmbH"}).passed
    assert field("items[0].qty", {"type": "equals", "value": 3}).passed


def test_any_assertion_applies_to_the_value() -> None:
    assert field("name", {"type": "icontains", "value": "acme"}).passed
    assert field("date", {"type": "regex", "value": r"^\d{4}-\d{2}-\d{2}$"}).passed
    assert not field("items[0].name", {"type": "starts-with", "value": "nut"}).passed
    # graded types keep their score and threshold
    r = field("name", {"type": "similar", "value": "ACME GmbH Ltd", "threshold": 0.5})
    assert r.passed and 0.5 < r.score < 1


def test_values_render_over_the_case() -> None:
    ctx = make_ctx(INVOICE, expected={"amount": 42.5, "name": "ACME GmbH"})
    r = check(
        "json-field",
        None,
        ctx=ctx,
        path="amount",
        **{"assert": {"type": "equals", "value": "{{ expected.amount }}"}},
    )
    assert r.passed, r.reason


def test_missing_fields_and_non_json_fail_with_reasons() -> None:
    r = field("total", {"type": "equals", "value": 1})
    assert (r.passed, r.error, r.reason) == (
        False,
        None,
        "no $.total: the output has no field 'total'",
    )
    r = field("items[3].name", {"type": "equals", "value": "x"})
    assert r.reason == "no $.items[3].name: $.items has 1 items, no [3]"
    r = field("name.first", {"type": "equals", "value": "x"})
    assert r.reason == "no $.name.first: $.name is not an object"
    r = field("amount", {"type": "equals", "value": 1}, output="Amount: 42.5")
    assert not r.passed and r.reason.startswith("output is not JSON, so it has no $.amount")


def test_negation_and_nested_errors() -> None:
    assert check(
        "not-json-field",
        None,
        output=INVOICE,
        path="amount",
        **{"assert": {"type": "equals", "value": 1}},
    ).passed
    r = field("amount", {"type": "regex", "value": "("})
    assert not r.passed and r.error is not None and r.error.startswith("$.amount:")


def test_config_problems() -> None:
    ok = spec("json-field", path="amount", **{"assert": {"type": "equals", "value": 1}})
    assert config_problems(ok) == []
    assert config_problems(spec("json-field")) == [
        "json-field needs path: where the value is, e.g. amount or items[0].name",
        "json-field needs assert: the assertion applied to the value",
    ]
    bad = spec("json-field", path="a b", **{"assert": {"type": "regex", "value": "("}})
    problems = config_problems(bad)
    assert problems[0].startswith("path 'a b': cannot read ' b'")
    assert problems[1].startswith("assert: invalid regex '('")
    unknown = spec("json-field", path="a", **{"assert": {"type": "equal", "value": 1}})
    [problem] = config_problems(unknown)
    assert problem.startswith("assert: unknown assertion type 'equal'; did you mean equals")
    stray = spec("contains", "x", path="a")
    assert config_problems(stray) == ["path applies to json-field only, not contains"]


def test_lookup_of_a_top_level_array() -> None:
    assert lookup([1, 2], [1]) == (True, 2, "")


def test_lint_names_the_line_of_a_bad_nested_assertion(project: Path, write: Any, cli: Any) -> None:
    write(
        "prompts/invoice/1.0.0.yaml",
        """\
        name: invoice
        version: 1.0.0
        model: echo/echo
        inputs:
          text: {type: string}
        template: "{{ text }}"
        output: {format: json}
        assert:
          - {type: json-field, path: amount, assert: {type: equals, value: "{{ expected.amount }}"}}
          - type: json-field
            path: items[0]
            assert: {type: max-words, value: many}
        """,
    )
    result = cli("lint", "prompts/invoice")
    assert result.exit_code == 1
    assert [ln for ln in result.stderr.splitlines() if ln.strip()] == [
        "prompts/invoice/1.0.0.yaml:10: assert[1]: assert: value must be a whole number, got 'many'",
        "1 problem",
    ]


def test_each_json_field_reports_under_its_own_name() -> None:
    a = spec("json-field", path="amount", **{"assert": {"type": "equals", "value": 1}})
    b = spec("not-json-field", path="$.name", **{"assert": {"type": "equals", "value": 1}})
    named = spec(
        "json-field", path="amount", metric="total", **{"assert": {"type": "equals", "value": 1}}
    )
    assert (a.label, b.label, named.label) == (
        "json-field amount",
        "not-json-field $.name",
        "total",
    )
