"""factuality, closedqa and llm-rubric's judge_prompt, with a fake judge."""

from __future__ import annotations

import pytest

from promptops.assertions import config_problems

from .helpers import FakeJudge, check, make_ctx, spec

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def ctx(answer: str, **kw: object) -> tuple[FakeJudge, object]:
    judge = FakeJudge(answer)
    return judge, make_ctx("Paris.", messages=QUESTION, judge=judge, **kw)


@pytest.mark.parametrize(
    ("category", "passed"), [("A", True), ("C", True), ("D", False), ("e", True)]
)
def test_factuality_categories(category: str, passed: bool) -> None:
    judge, c = ctx(f'{{"category": "{category}", "reason": "r"}}', expected="Paris")
    r = check("factuality", ctx=c, judge="openai/gpt-4o-2024-08-06")
    assert r.error is None and r.passed is passed
    model, messages = judge.calls[0]
    assert model == "openai/gpt-4o-2024-08-06"
    assert "<expert>\nParis\n</expert>" in messages[1]["content"]
    assert "What is the capital of France?" in messages[1]["content"]


def test_factuality_value_overrides_expected_and_strict_parse() -> None:
    judge, c = ctx('```json\n{"category": "B"}\n```', expected="London")
    assert check("factuality", "Paris, France", ctx=c, judge="j").passed
    assert "Paris, France" in judge.calls[0][1][1]["content"]
    _, c = ctx('{"category": "F", "reason": "?"}', expected="Paris")
    r = check("factuality", ctx=c, judge="j")
    assert r.error and "category 'F' is not one of A, B, C, D, E" in r.error
    _, c = ctx("It looks right to me", expected="Paris")
    assert "judge answer unparseable" in (check("factuality", ctx=c, judge="j").error or "")
    _, c = ctx('{"category": "A"}')
    assert "no reference answer" in (check("factuality", ctx=c, judge="j").error or "")


def test_closedqa() -> None:
    judge, c = ctx('{"answer": "Y", "reason": "names the city"}')
    r = check("closedqa", "names a city", ctx=c, judge="j")
    assert r.passed and r.reason == "Y: names the city"
    assert "<criterion>\nnames a city\n</criterion>" in judge.calls[0][1][1]["content"]
    _, c = ctx('{"answer": "N", "reason": "no"}')
    assert not check("closedqa", "is polite", ctx=c, judge="j").passed
    _, c = ctx('{"answer": "maybe"}')
    assert "not one of Y, N" in (check("closedqa", "x", ctx=c, judge="j").error or "")


def test_llm_rubric_custom_judge_prompt() -> None:
    judge, c = ctx('{"score": 0.9, "reason": "ok"}', vars={"tone": "formal"})
    template = "Rubric: {{ rubric }}\nQ: {{ input }}\nA: {{ output }}\nTone: {{ vars.tone }}"
    r = check("llm-rubric", "is correct", ctx=c, judge="j", judge_prompt=template)
    assert r.passed and r.score == 0.9
    system, user = judge.calls[0][1]
    assert '"score"' in system["content"]  # the strict answer format stays
    assert user["content"] == (
        "Rubric: is correct\nQ: What is the capital of France?\nA: Paris.\nTone: formal"
    )
    bad = check("llm-rubric", "x", ctx=c, judge="j", judge_prompt="{{ nope }}")
    assert bad.error and "nope" in bad.error


def test_lint_of_the_graded_types() -> None:
    assert config_problems(spec("factuality")) == [
        "factuality needs judge: a pinned judge model id"
    ]
    assert config_problems(spec("closedqa", "x", judge="j")) == []
    assert config_problems(spec("contains", "x", judge_prompt="{{ rubric }}")) == [
        "judge_prompt applies to llm-rubric only, not contains"
    ]
