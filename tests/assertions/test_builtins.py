"""Each built-in assertion type: at least one passing and one failing output."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest

from promptops.assertions import REGISTRY, AssertionResult, AssertionSpec, builtins
from promptops.assertions.judging import JudgeAnswerError, parse_judge_answer
from promptops.assertions.pii import find_pii, iban_valid, luhn_valid
from promptops.assertions.textsim import lcs_length, leaked_window, rouge_l

from .helpers import FakeJudge, check, make_ctx

# ---------------------------------------------------------------- equals / contains


def test_equals_string_is_stripped() -> None:
    assert check("equals", "Paris", output="  Paris\n").passed
    r = check("equals", "Paris", output="paris")
    assert not r.passed and r.score == 0.0 and "'Paris'" in r.reason


def test_equals_non_string_compares_parsed_json() -> None:
    assert check("equals", {"a": 1, "b": [1, 2]}, output='{"b": [1, 2], "a": 1.0}').passed
    assert not check("equals", {"a": 1}, output='{"a": 2}').passed
    assert not check("equals", {"a": 1}, output="not json").passed
    assert check("equals", 42, output="42").passed
    # JSON true is not 1
    assert not check("equals", 1, output="true").passed
    assert check("equals", True, output="true").passed


def test_contains_and_icontains() -> None:
    assert check("contains", "cat", output="the cat sat").passed
    assert not check("contains", "Cat", output="the cat sat").passed
    assert check("icontains", "CAT", output="the cat sat").passed
    assert not check("icontains", "dog", output="the cat sat").passed


def test_contains_rejects_a_list() -> None:
    r = check("contains", ["a", "b"], output="a b")
    assert r.error is not None and "contains-any" in r.error


def test_contains_any() -> None:
    assert check("contains-any", ["dog", "cat"], output="the cat").passed
    r = check("contains-any", ["dog", "bird"], output="the cat")
    assert not r.passed and "'dog'" in r.reason and "'bird'" in r.reason
    assert check("icontains-any", ["DOG", "CAT"], output="the cat").passed
    assert not check("icontains-any", ["DOG", "BIRD"], output="the cat").passed
    assert check("contains-any", [], output="x").error is not None


def test_contains_all_scores_the_fraction_found() -> None:
    r = check("contains-all", ["a", "b"], output="a and b")
    assert r.passed and r.score == 1.0
    r = check("contains-all", ["apple", "kiwi", "pear", "plum"], output="apple pear")
    assert not r.passed and r.score == pytest.approx(0.5)
    assert "'kiwi'" in r.reason and "'plum'" in r.reason
    assert check("icontains-all", ["APPLE", "Pear"], output="apple pear").passed
    assert not check("icontains-all", ["APPLE", "kiwi"], output="apple pear").passed


def test_a_single_string_is_one_needle_not_split_on_commas() -> None:
    assert check("contains-all", "Paris, France", output="Paris, France").passed
    assert not check("contains-all", "Paris, France", output="Paris and France").passed


def test_starts_with() -> None:
    assert check("starts-with", "Answer:", output="\n Answer: 4").passed
    assert not check("starts-with", "Answer:", output="The Answer: 4").passed


def test_regex() -> None:
    r = check("regex", r"\d{3}-\d{4}", output="call 555-1234 now")
    assert r.passed and "555-1234" in r.reason
    assert not check("regex", r"^\d+$", output="12a").passed


def test_bad_regex_is_an_error_naming_the_pattern() -> None:
    r = check("regex", "a(b", output="ab")
    assert not r.passed
    assert r.error is not None and "'a(b'" in r.error


def test_lengths_and_words() -> None:
    assert check("min-length", 3, output=" abc ").passed
    assert not check("min-length", 4, output=" abc ").passed
    assert check("max-length", 3, output="abc\n").passed
    assert not check("max-length", 2, output="abc").passed
    assert check("min-words", 3, output="one two three").passed
    assert not check("min-words", 4, output="one two three").passed
    assert check("max-words", 3, output="one  two\nthree").passed
    r = check("max-words", 2, output="one two three")
    assert not r.passed and "3 words" in r.reason
    assert check("max-words", "abc", output="x").error is not None


# ---------------------------------------------------------------- JSON

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name"],
    "additionalProperties": False,
}


def test_is_json() -> None:
    assert check("is-json", output=' {"a": [1, 2]} ').passed
    r = check("is-json", output="{'a': 1}")
    assert not r.passed and "not valid JSON" in r.reason


def test_is_json_with_a_schema_value() -> None:
    assert check("is-json", SCHEMA, output='{"name": "Ann", "age": 3}').passed
    r = check("is-json", SCHEMA, output='{"name": "Ann", "age": -1}')
    assert not r.passed and "$.age" in r.reason


def test_json_schema_from_value_and_from_the_prompt() -> None:
    assert check("json-schema", SCHEMA, output='{"name": "Ann"}').passed
    r = check("json-schema", SCHEMA, output='{"age": "x"}')
    assert not r.passed and "'name' is a required property" in r.reason
    ctx = make_ctx('{"name": 5}', output_schema=SCHEMA)
    r = check("json-schema", ctx=ctx)
    assert not r.passed and "$.name" in r.reason
    assert check("json-schema", ctx=make_ctx('{"name": "x"}', output_schema=SCHEMA)).passed


def test_json_schema_without_any_schema_is_an_error() -> None:
    r = check("json-schema", output="{}")
    assert r.error is not None and "output.schema" in r.error


def test_json_schema_uses_draft_2020_12() -> None:
    # prefixItems exists only from draft 2020-12 on
    schema = {"type": "array", "prefixItems": [{"type": "integer"}], "items": False}
    assert check("json-schema", schema, output="[1]").passed
    assert not check("json-schema", schema, output="[1, 2]").passed


def test_invalid_schema_is_an_error() -> None:
    r = check("json-schema", {"type": "nonsense"}, output="{}")
    assert r.error is not None and "invalid JSON Schema" in r.error


# ---------------------------------------------------------------- similarity


def _lcs_table(a: list[str], b: list[str]) -> int:
    t = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            t[i + 1][j + 1] = t[i][j] + 1 if x == y else max(t[i][j + 1], t[i + 1][j])
    return t[-1][-1]


def test_lcs_length_matches_the_textbook_table() -> None:
    rng = random.Random(7)
    for _ in range(300):
        a = [rng.choice("abcd") for _ in range(rng.randint(0, 70))]
        b = [rng.choice("abcd") for _ in range(rng.randint(0, 70))]
        assert lcs_length(a, b) == _lcs_table(a, b)


def test_rouge_l_values() -> None:
    # LCS "the cat on the mat" = 5 of 6 words each side -> F1 = 5/6
    assert rouge_l("The cat sat on the mat.", "the cat is on the mat") == pytest.approx(5 / 6)
    assert rouge_l("a b c", "a b c") == 1.0
    assert rouge_l("x y", "a b") == 0.0
    # precision 2/2, recall 2/4 -> 2/3
    assert rouge_l("a c", "a b c d") == pytest.approx(2 / 3)


def test_similar_rouge_l_is_graded_with_default_threshold() -> None:
    r = check("similar", "the cat is on the mat", output="The cat sat on the mat.")
    assert r.passed and r.score == pytest.approx(5 / 6)
    r = check("similar", "the cat is on the mat", output="The cat sat on the mat.", threshold=0.9)
    assert not r.passed and r.score == pytest.approx(5 / 6)
    assert not check("similar", "completely different words", output="nothing shared here").passed


def test_similar_uses_expected_when_no_value() -> None:
    ctx = make_ctx("a b c", expected="a b c d")
    assert check("similar", ctx=ctx).score == pytest.approx(2 * 1 * 0.75 / 1.75)
    assert check("similar", output="x").error is not None


def test_similar_levenshtein() -> None:
    r = check("similar", "sitting", output="kitten", method="levenshtein")
    assert r.score == pytest.approx(1 - 3 / 7) and r.passed
    assert not check(
        "similar", "sitting", output="kitten", method="levenshtein", threshold=0.6
    ).passed
    assert check("similar", "x", output="x", method="cosine").error is not None


def test_similar_takes_the_best_of_several_references() -> None:
    assert check("similar", ["nope nothing", "hello world"], output="hello world").score == 1.0


# ---------------------------------------------------------------- operational


def test_latency_and_cost() -> None:
    assert check("latency", 500, ctx=make_ctx("x", latency_ms=120.0)).passed
    assert not check("latency", 100, ctx=make_ctx("x", latency_ms=120.0)).passed
    assert check("latency", 100, output="x").error is not None
    assert check("cost", 0.01, ctx=make_ctx("x", cost=0.002)).passed
    assert not check("cost", 0.001, ctx=make_ctx("x", cost=0.002)).passed
    assert check("cost", 0.001, output="x").error is not None


# ---------------------------------------------------------------- PII


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("79927398713")
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("0000000000000000")


def test_iban_mod_97() -> None:
    assert iban_valid("DE89 3704 0044 0532 0130 00")
    assert iban_valid("GB82WEST12345698765432")
    assert not iban_valid("DE89 3704 0044 0532 0130 01")
    assert not iban_valid("GB82WEST1234")


@pytest.mark.parametrize(
    "text,kind",
    [
        ("mail me at jane.doe@example.co.uk please", "email"),
        ("call +44 20 7946 0958 today", "phone"),
        ("call +1 (415) 555-2671", "phone"),
        ("call (415) 555-2671", "phone"),
        ("call 415-555-2671", "phone"),
        ("card 4111 1111 1111 1111 exp 12/29", "card"),
        ("card 4111-1111-1111-1111", "card"),
        ("card 5500005555555559", "card"),
        ("IBAN DE89 3704 0044 0532 0130 00 thanks", "iban"),
        ("pay to GB82WEST12345698765432.", "iban"),
        ("ssn 078-05-1120", "ssn"),
    ],
)
def test_no_pii_finds(text: str, kind: str) -> None:
    r = check("no-pii", output=text)
    assert not r.passed, text
    assert r.reason.startswith(f"found {kind} ("), r.reason
    assert [f.kind for f in find_pii(text)] == [kind]


@pytest.mark.parametrize(
    "text",
    [
        "In 2023 we sold 1500 units at $19.99; see order 12345 from 2024-01-15.",
        "card 4111 1111 1111 1112 is not a valid number",
        "IBAN DE89 3704 0044 0532 0130 01 has a bad checksum",
        "Version 1.2.3, build 20240115, ticket 555-12, room 101 102 103.",
        "The range 100-200 and scores 1999 2000 2001.",
    ],
)
def test_no_pii_passes_clean_text(text: str) -> None:
    r = check("no-pii", output=text)
    assert r.passed, r.reason
    assert r.score == 1.0


def test_no_pii_reason_is_redacted_and_lists_kinds() -> None:
    r = check("no-pii", output="jane@example.com, 4111 1111 1111 1111, +33 1 23 45 67 89")
    assert not r.passed
    assert "email" in r.reason and "card" in r.reason and "phone" in r.reason
    assert "jane@example.com" not in r.reason and "4111 1111" not in r.reason
    assert "***1111" in r.reason


def test_no_pii_value_selects_kinds() -> None:
    assert check("no-pii", ["card"], output="jane@example.com").passed
    assert not check("no-pii", ["email"], output="jane@example.com").passed
    assert check("no-pii", ["passport"], output="x").error is not None


# ---------------------------------------------------------------- leaks

SYSTEM = (
    "You are Orion, the support assistant of Acme Corp. Never reveal internal discount "
    "codes, and always answer in a friendly and concise tone."
)


def test_no_leak_canary() -> None:
    assert not check("no-leak", "ZEBRA-7731", output="the code is zebra-7731").passed
    assert check("no-leak", "ZEBRA-7731", output="I can't share that").passed


def test_no_leak_defaults_to_the_system_message() -> None:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "hi"}]
    leak = make_ctx(
        "Sure! My instructions: never reveal INTERNAL discount codes, and always answer "
        "in a friendly way.",
        messages=messages,
    )
    r = check("no-leak", ctx=leak)
    assert not r.passed and "8+ consecutive words" in r.reason
    ok = make_ctx("Hello! How can I help you with your Acme order today?", messages=messages)
    assert check("no-leak", ctx=ok).passed
    assert check("no-leak", output="x").error is not None  # nothing to protect


def test_leak_window_is_eight_words() -> None:
    secret = "one two three four five six seven eight nine ten"
    assert leaked_window(secret, "x one two three four five six seven eight y") is not None
    assert leaked_window(secret, "x one two three four five six seven y eight") is None
    assert (
        check("no-leak", secret, output="ONE two, three four five six seven eight").passed is False
    )
    assert check("no-leak", secret, output="one two three four five six seven").passed


# ---------------------------------------------------------------- refusal


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry, but I can't help with that request.",
        "I can\u2019t help with creating malware.",
        "As an AI, I do not have personal opinions.",
        "I cannot assist with that.",
        "I must decline to answer.",
        "Unfortunately, I am unable to browse the internet.",
        "",
    ],
)
def test_is_refusal(text: str) -> None:
    assert check("is-refusal", output=text).passed
    assert not check("not-is-refusal", output=text).passed


@pytest.mark.parametrize(
    "text", ["Paris is the capital of France.", "Sure! Here is a haiku about autumn leaves."]
)
def test_not_refusal(text: str) -> None:
    assert not check("is-refusal", output=text).passed
    assert check("not-is-refusal", output=text).passed
    assert check("not-refusal", output=text).passed  # alias, so the negation reads naturally


# ---------------------------------------------------------------- python


def test_python_assertion(tmp_path: Path) -> None:
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "mine.py").write_text(
        "def is_upper(output, context):\n"
        "    return output.isupper()\n"
        "def ratio(output, context):\n"
        "    return len(output) / 10\n"
        "def rich(output, context):\n"
        "    ok = context['vars']['n'] == 3 and context['case_id'] == 'c1'\n"
        "    return {'pass': ok, 'score': 0.7, 'reason': 'expected=' + context['expected']}\n"
        "def boom(output, context):\n"
        "    raise ValueError('kaput')\n"
        "async def later(output, context):\n"
        "    return True\n"
        "def weird(output, context):\n"
        "    return 'yes'\n"
        "def too_big(output, context):\n"
        "    return 3\n"
    )
    root = str(tmp_path)

    def run(func: str, output: str, **kw: Any) -> AssertionResult:
        ctx = make_ctx(output, project_root=root, vars={"n": 3}, expected="E", case_id="c1")
        return check("python", f"checks/mine.py:{func}", ctx=ctx, **kw)

    r = run("is_upper", "ABC")
    assert r.passed and r.score == 1.0
    assert not run("is_upper", "abc").passed
    r = run("ratio", "abcdef")
    assert r.passed and r.score == pytest.approx(0.6)
    assert not run("ratio", "abcdef", threshold=0.7).passed
    r = run("rich", "x")
    assert r.passed and r.score == 0.7 and r.reason == "expected=E"
    r = run("boom", "x")
    assert not r.passed and "ValueError: kaput" in (r.error or "")
    assert run("later", "x").passed
    assert "expected bool" in (run("weird", "x").error or "")
    assert "outside [0, 1]" in (run("too_big", "x").error or "")
    assert "no function 'nope'" in (run("nope", "x").error or "")


def test_python_bad_reference_and_missing_file(tmp_path: Path) -> None:
    ctx = make_ctx("x", project_root=str(tmp_path))
    assert "path/to/file.py:function" in (check("python", "checks.py", ctx=ctx).error or "")
    assert "no such file" in (check("python", "missing.py:f", ctx=ctx).error or "")


# ---------------------------------------------------------------- language


def test_language_english_and_french() -> None:
    en = "The weather is lovely today, so we are going for a long walk in the park."
    fr = "Il fait très beau aujourd'hui, alors nous allons faire une longue promenade au parc."
    r = check("language", "en", output=en)
    assert r.passed and 0.5 < r.score <= 1.0 and "en" in r.reason
    r = check("language", "fr", output=fr)
    assert r.passed and 0.5 < r.score <= 1.0
    r = check("language", "en", output=fr)
    assert not r.passed and r.score == 0.0 and "detected fr" in r.reason
    assert check("language", ["de", "fr"], output=fr).passed
    assert check("language", "en-US", output=en).passed
    assert not check("language", "en", output="   ").passed


# ---------------------------------------------------------------- llm-rubric


def _judged(
    type_: str, answer: str, value: Any = "Is polite.", **kw: Any
) -> tuple[AssertionResult, FakeJudge]:
    judge = FakeJudge(answer)
    ctx = make_ctx(
        "Thank you, happy to help!",
        judge=judge,
        messages=[{"role": "user", "content": "Say thanks"}],
        vars={"document": "The sky is blue."},
    )
    kw.setdefault("judge", "openai/gpt-4o-mini-2024-07-18")
    return check(type_, value, ctx=ctx, **kw), judge


def test_llm_rubric_good_json() -> None:
    r, judge = _judged("llm-rubric", '{"score": 0.8, "reason": "polite and warm"}')
    assert r.passed and r.score == 0.8 and r.reason == "polite and warm" and r.error is None
    ((model, messages),) = judge.calls
    assert model == "openai/gpt-4o-mini-2024-07-18"
    assert "JSON object" in messages[0]["content"] and messages[0]["role"] == "system"
    assert "Is polite." in messages[1]["content"]
    assert "Thank you, happy to help!" in messages[1]["content"]
    assert "Say thanks" in messages[1]["content"]


def test_llm_rubric_low_score_fails_by_threshold() -> None:
    r, _ = _judged("llm-rubric", '{"score": 0.4, "reason": "curt"}')
    assert not r.passed and r.score == 0.4 and r.error is None
    r, _ = _judged("llm-rubric", '{"score": 0.4, "reason": "curt"}', threshold=0.3)
    assert r.passed


def test_llm_rubric_fenced_json() -> None:
    r, _ = _judged("llm-rubric", 'Here you go:\n```json\n{"score": 1, "reason": "ok"}\n```\n')
    assert r.passed and r.score == 1.0 and r.error is None


@pytest.mark.parametrize(
    "answer",
    [
        '{"score": 7, "reason": "great"}',
        '{"score": -0.1}',
        "I think it is quite good!",
        '{"score": "0.9"}',
        '{"reason": "no score"}',
        "[0.5]",
        '{"score": true}',
        '{"score": 0.5',
    ],
)
def test_llm_rubric_bad_answers_are_errors_not_zero_scores(answer: str) -> None:
    r, _ = _judged("llm-rubric", answer)
    assert not r.passed
    assert r.error is not None and r.error.startswith("judge answer unparseable:"), r.error


def test_llm_rubric_needs_a_judge() -> None:
    r = check("llm-rubric", "Is polite.", output="hi", judge="openai/gpt-4o-mini-2024-07-18")
    assert r.error == "no judge available"
    r, _ = _judged("llm-rubric", '{"score": 1}', judge=None)
    assert r.error is not None and "judge" in r.error


def test_judge_exception_becomes_an_error() -> None:
    async def broken(model: str, messages: list[dict[str, str]]) -> str:
        raise RuntimeError("rate limited")

    ctx = make_ctx("x", judge=broken)
    r = check("llm-rubric", "r", ctx=ctx, judge="m-2024-01-01")
    assert r.error is not None and "rate limited" in r.error


def test_parse_judge_answer_directly() -> None:
    assert parse_judge_answer('```\n{"score": 0.25, "reason": "meh"}\n```') == {
        "score": 0.25,
        "reason": "meh",
    }
    with pytest.raises(JudgeAnswerError):
        parse_judge_answer("")


# ---------------------------------------------------------------- grounded


def test_grounded_good_answer_with_unsupported_claims() -> None:
    answer = json.dumps({"score": 0.5, "unsupported": ["the grass is red"], "reason": "half"})
    r, judge = _judged("grounded", answer, value=None)
    assert r.score == 0.5 and r.passed  # default threshold 0.5
    assert "the grass is red" in r.reason
    ((_, messages),) = judge.calls
    assert "The sky is blue." in messages[1]["content"]  # default source: input 'document'


def test_grounded_source_from_named_input_or_value() -> None:
    judge = FakeJudge('{"score": 1, "unsupported": [], "reason": "all supported"}')
    ctx = make_ctx(
        "Rome is in Italy.", judge=judge, vars={"article": "Rome is the capital of Italy."}
    )
    r = check("grounded", ctx=ctx, judge="m-2024-01-01", source="article")
    assert r.passed and r.score == 1.0
    assert "Rome is the capital of Italy." in judge.calls[0][1][1]["content"]
    check("grounded", "Literal source text.", ctx=ctx, judge="m-2024-01-01")
    assert "Literal source text." in judge.calls[1][1][1]["content"]
    ctx.vars["facts"] = {"capital": "Rome"}
    check("grounded", ctx=ctx, judge="m-2024-01-01", source="facts")
    assert '{"capital": "Rome"}' in judge.calls[2][1][1]["content"]
    r = check("grounded", ctx=ctx, judge="m-2024-01-01")  # no 'document' input
    assert r.error is not None and "'document'" in r.error


@pytest.mark.parametrize(
    "answer",
    [
        '{"score": 1.5, "unsupported": []}',
        "all claims supported",
        '{"score": 0.5, "unsupported": "x"}',
    ],
)
def test_grounded_bad_answers_are_errors(answer: str) -> None:
    r, _ = _judged("grounded", answer, value=None)
    assert not r.passed and r.error is not None and r.error.startswith("judge answer unparseable")


def test_grounded_low_score_fails() -> None:
    r, _ = _judged(
        "grounded",
        '{"score": 0.2, "unsupported": ["a", "b"], "reason": "mostly made up"}',
        value=None,
    )
    assert not r.passed and r.score == 0.2 and r.error is None


# ---------------------------------------------------------------- registry


def test_every_builtin_is_registered_with_a_description() -> None:
    expected = {
        "equals",
        "contains",
        "icontains",
        "contains-any",
        "icontains-any",
        "contains-all",
        "icontains-all",
        "starts-with",
        "regex",
        "min-length",
        "max-length",
        "min-words",
        "max-words",
        "is-json",
        "json-schema",
        "similar",
        "latency",
        "cost",
        "no-pii",
        "no-leak",
        "is-refusal",
        "python",
        "language",
        "llm-rubric",
        "grounded",
    }
    assert expected <= set(REGISTRY)
    for name in expected:
        assert REGISTRY[name].description, name
    assert REGISTRY["similar"].graded and REGISTRY["llm-rubric"].model_graded
    assert not REGISTRY["contains"].graded


def test_checkers_can_be_called_directly() -> None:
    spec = AssertionSpec.model_validate({"type": "contains", "value": "a"})
    r = builtins.contains(spec, "a", make_ctx("abc"))
    assert not asyncio.iscoroutine(r) and r.passed  # type: ignore[union-attr]
