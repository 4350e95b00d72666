"""The rules a changed version is judged by (gate/rules.py): the branch's rule edits, the
gold-set diff and the bar. End to end on git branches: tests/gate/test_check.py."""

from __future__ import annotations

from typing import Any

import pytest

from promptops.gate.rules import GoldDiff, bar_misses, gold_diff, rule_changes, with_base_schema
from promptops.spec import CaseSpec, PromptSpec

BASE: dict[str, Any] = {
    "name": "qa",
    "version": "1.0.0",
    "model": "echo/echo",
    "template": "{{ q }}",
    "dataset": "evals/qa.jsonl",
    "assert": [{"type": "icontains", "value": "x", "metric": "keyword"}],
    "fail_under": 0.8,
}


def spec(**changes: Any) -> PromptSpec:
    data = {**BASE, **changes}
    return PromptSpec.model_validate({k: v for k, v in data.items() if v is not None})


def test_no_edit_to_the_rules_is_no_change() -> None:
    assert rule_changes(spec(), spec(version="1.1.0", template="other {{ q }}")) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"gate": {"margin": 1.0}}, "gate.margin: 0.02 -> 1.0"),
        ({"gate": {"metric": "pass"}}, "gate.metric: score -> pass"),
        ({"assert": []}, "assert: 1 assertion(s) -> 0 (removed keyword)"),
        (
            {"assert": [{"type": "contains", "value": "y"}]},
            "assert: 1 assertion(s) -> 1 (removed keyword; added contains)",
        ),
        ({"threshold": 0.1}, "threshold: unset -> 0.1"),
        ({"fail_under": None}, "fail_under: 0.8 -> unset"),
        ({"dataset": "evals/one.jsonl"}, "dataset: evals/qa.jsonl -> evals/one.jsonl"),
        (
            {"tests": [{"id": "t", "vars": {"q": "x"}}]},
            "tests: 0 inline case(s) -> 1, edited",
        ),
        (
            {"output": {"format": "json", "schema": {"type": "object"}}},
            "output: text -> json, schema changed (json-schema assertions without a schema of "
            "their own keep the base's)",
        ),
    ],
)
def test_each_rule_edit_is_named_old_to_new(changes: dict[str, Any], expected: str) -> None:
    assert rule_changes(spec(), spec(**changes)) == [expected]


def case(cid: str, keyword: str = "k", **extra: Any) -> CaseSpec:
    return CaseSpec.model_validate({"id": cid, "vars": {"q": cid}, "expected": keyword, **extra})


def test_gold_diff_by_case_id() -> None:
    base = {c.id: c for c in [case("a"), case("b"), case("c")]}
    branch = {c.id: c for c in [case("a"), case("b", "other"), case("d")]}
    d = gold_diff(base, branch, "evals/qa.jsonl", "evals/qa.jsonl")
    assert (d.added, d.edited, d.removed) == (["d"], {"b": ["expected"]}, ["c"])
    d.added_passed, d.added_total = 0, 1
    assert d.lines() == [
        "gold set evals/qa.jsonl: 1 case(s) edited on this branch: b (expected); judged on the "
        "base's version of them",
        "gold set evals/qa.jsonl: 1 case(s) removed on this branch: c; still judged (they are "
        "the base's)",
        "gold set evals/qa.jsonl: 1 case(s) added on this branch (d), not part of the verdict; "
        "the branch's version passes 0 of 1",
    ]
    assert gold_diff(base, base, "x", "x").empty


def test_a_long_gold_diff_names_twelve_ids_and_counts_the_rest() -> None:
    d = GoldDiff("evals/a.jsonl", "evals/b.jsonl", removed=[f"c{i}" for i in range(40)])
    (line,) = d.lines()
    assert line.startswith("gold set evals/a.jsonl -> evals/b.jsonl: 40 case(s) removed")
    assert "c11 and 28 more; still judged" in line and "c12" not in line


def rec(model: str, passed: bool, **extra: Any) -> dict[str, Any]:
    return {"digest": "sha256:b", "model": model, "pass": passed, "score": 1.0, **extra}


def test_the_bar_counts_failed_calls_and_nan_scores_as_failures() -> None:
    records = [rec("m", True) for _ in range(8)] + [rec("other", True, digest="sha256:a")] * 5
    assert bar_misses(records, "sha256:b", 0.8) == []
    records[0]["score"] = float("nan")  # says pass, but its score is NaN
    records[1]["error"] = "APIError: 500"
    records += [rec("m", False), rec("m", False)]
    assert bar_misses(records, "sha256:b", 0.8) == [("m", 6, 10)]
    assert bar_misses(records, "sha256:b", 0.6) == []  # exactly at the bar is not below it


def test_a_schemaless_json_schema_assertion_keeps_the_base_schema() -> None:
    """A branch that loosens output.schema to {} must not loosen the json-schema check too."""
    strict = {"type": "object", "required": ["name"]}
    base = spec(
        output={"format": "json", "schema": strict},
        **{
            "assert": [{"type": "json-schema"}, {"type": "json-schema", "value": {"type": "array"}}]
        },
    )
    pinned = with_base_schema(base.assert_, base.output.json_schema)
    assert [a.value for a in pinned] == [strict, {"type": "array"}]
    assert with_base_schema(base.assert_, None) == base.assert_
