"""run_assertions: weights, thresholds, negation, errors, metrics, templated values, concurrency;
and the static checks (known_type, config_problems) that lint uses."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promptops.assertions import (
    REGISTRY,
    AssertionContext,
    AssertionResult,
    AssertionSpec,
    CaseVerdict,
    assertion,
    config_problems,
    known_type,
    run_assertions,
)

from .helpers import check, make_ctx, spec


def run(
    specs: list[AssertionSpec],
    ctx: AssertionContext | None = None,
    threshold: float | None = None,
    output: str = "",
) -> CaseVerdict:
    return asyncio.run(
        run_assertions(specs, ctx if ctx is not None else make_ctx(output), threshold)
    )


@pytest.fixture
def plugin_types() -> Iterator[None]:
    """Lets a test register types; removes them afterwards."""
    before = set(REGISTRY)
    yield
    for name in set(REGISTRY) - before:
        del REGISTRY[name]


# ---------------------------------------------------------------- combining


def test_empty_suite_scores_one_and_passes() -> None:
    v = run([])
    assert v.score == 1.0 and v.passed and v.error is None and v.results == [] and v.metrics == {}


def test_all_pass_without_threshold() -> None:
    v = run([spec("contains", "a"), spec("contains", "b")], output="a b")
    assert v.passed and v.score == 1.0
    assert [r.passed for _, r in v.results] == [True, True]


def test_one_failure_fails_without_threshold() -> None:
    v = run([spec("contains", "a"), spec("contains", "z")], output="a b")
    assert not v.passed and v.score == 0.5 and v.error is None


def test_weighted_mean() -> None:
    specs = [spec("contains", "a", weight=3), spec("contains", "z", weight=1)]
    v = run(specs, output="a")
    assert v.score == pytest.approx(0.75)
    assert not v.passed  # no threshold: every assertion must pass
    assert run(specs, output="a", threshold=0.7).passed
    assert not run(specs, output="a", threshold=0.8).passed


def test_weight_zero_does_not_count_in_the_score() -> None:
    v = run([spec("contains", "a"), spec("contains", "z", weight=0)], output="a")
    assert v.score == 1.0
    assert not v.passed  # but without a threshold it must still pass
    assert run([spec("contains", "z", weight=0)], output="a").score == 1.0


def test_graded_scores_enter_the_mean() -> None:
    specs = [spec("similar", "a b c d"), spec("contains", "a")]
    v = run(specs, output="a c")
    # rouge-l: precision 1, recall 1/2 -> 2/3
    assert v.score == pytest.approx((2 / 3 + 1) / 2)
    assert v.passed  # 2/3 >= default 0.5


def test_spec_threshold_for_graded_types() -> None:
    v = run([spec("similar", "a b c d", threshold=0.7)], output="a c")
    assert not v.passed and v.results[0][1].score == pytest.approx(2 / 3)


def test_metrics_group_by_label() -> None:
    specs = [
        spec("contains", "a", metric="keywords"),
        spec("contains", "z", metric="keywords"),
        spec("max-words", 10),
        spec("max-words", 1),
    ]
    v = run(specs, output="a b")
    assert v.metrics == {"keywords": 0.5, "max-words": 0.5}


# ---------------------------------------------------------------- negation


def test_negation_flips_pass_and_score() -> None:
    r = check("not-contains", "secret", output="nothing here")
    assert r.passed and r.score == 1.0 and r.reason.startswith("not: ")
    r = check("not-contains", "secret", output="the secret")
    assert not r.passed and r.score == 0.0


def test_negation_of_a_fractional_score() -> None:
    r = check("not-contains-all", ["a", "b", "c", "d"], output="a")
    assert r.passed and r.score == pytest.approx(0.75)


def test_negation_of_a_graded_type_uses_its_threshold_first() -> None:
    r = check("not-similar", "a b c d", output="a c")  # 2/3 passes 0.5, so not- fails
    assert not r.passed and r.score == pytest.approx(1 / 3)
    r = check("not-similar", "a b c d", output="a c", threshold=0.9)
    assert r.passed and r.score == pytest.approx(1 / 3)


def test_negation_does_not_hide_an_error() -> None:
    r = check("not-regex", "a(b", output="x")
    assert not r.passed and r.score == 0.0 and r.error is not None


# ---------------------------------------------------------------- errors


def test_an_assertion_error_fails_the_case_and_is_surfaced() -> None:
    specs = [spec("contains", "a", weight=10), spec("regex", "(")]
    v = run(specs, output="a", threshold=0.5)
    assert v.score == pytest.approx(10 / 11)  # would pass the threshold...
    assert not v.passed  # ...but an error fails the case
    assert v.error is not None and v.error.startswith("regex: invalid regex '('")


def test_unknown_type_and_missing_value_are_errors() -> None:
    r = check("contians", "a", output="a")
    assert r.error is not None and "did you mean contains" in r.error
    r = check("contains", None, output="a")
    assert r.error == "contains needs a value"


def test_checker_exceptions_and_bad_scores_become_errors(plugin_types: None) -> None:
    @assertion("test-crash")
    def crash(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
        """Always raises."""
        raise KeyError("oops")

    @assertion("test-bad-score")
    def bad(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
        """Returns a score above 1."""
        return AssertionResult(True, 2.0, "")

    assert check("test-crash", "v", output="x").error == "KeyError: 'oops'"
    r = check("test-bad-score", "v", output="x")
    assert r.error is not None and "outside [0, 1]" in r.error and not r.passed


# ---------------------------------------------------------------- templated values


def test_jinja_value_keeps_a_list() -> None:
    ctx = make_ctx("Paris is the capital of France", expected={"keywords": ["Paris", "France"]})
    v = asyncio.run(run_assertions([spec("contains-all", "{{ expected.keywords }}")], ctx, None))
    assert v.passed
    ctx = make_ctx("Paris", expected={"keywords": ["Paris", "France"]})
    v = asyncio.run(run_assertions([spec("contains-all", "{{ expected.keywords }}")], ctx, None))
    assert not v.passed and v.score == 0.5


def test_jinja_value_keeps_a_number() -> None:
    ctx = make_ctx("one two three", vars={"max_words": 3})
    assert check("max-words", "{{ vars.max_words }}", ctx=ctx).passed
    ctx = make_ctx("one two three", vars={"max_words": 2})
    assert not check("max-words", "{{ vars.max_words }}", ctx=ctx).passed
    # top-level names are available too
    assert check("max-words", "{{ max_words + 1 }}", ctx=ctx).passed


def test_jinja_text_value() -> None:
    ctx = make_ctx("Hello, Ada!", vars={"name": "Ada"})
    assert check("contains", "Hello, {{ name }}!", ctx=ctx).passed
    assert not check("contains", "Bye, {{ name }}", ctx=ctx).passed


def test_render_error_becomes_the_assertion_error() -> None:
    v = run([spec("contains", "{{ vars.missing }}")], output="x")
    assert not v.passed
    assert v.error is not None and v.error.startswith("contains: ") and "missing" in v.error


def test_values_from_data_are_not_re_rendered() -> None:
    ctx = make_ctx("literal {{ x }}", expected={"s": "{{ x }}"})
    assert check("contains", "{{ expected.s }}", ctx=ctx).passed


# ---------------------------------------------------------------- concurrency and plugins


@pytest.mark.parametrize("asynchronous", [False, True])
def test_sys_exit_in_a_plugin_checker_aborts_the_run(
    plugin_types: None, asynchronous: bool
) -> None:
    """Issue 21: with two checks (each in a task of its own) a plugin's sys.exit() stopped the
    event loop, and eval ended 'interrupted' with exit 3; now it is AbortRun, as a python
    check's sys.exit() is (the run ends 'error', exit 1)."""
    from promptops.assertions.limits import AbortRun

    if asynchronous:

        @assertion("test-exit", needs_value=False)
        async def leave(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
            """Calls sys.exit."""
            raise SystemExit(3)

    else:

        @assertion("test-exit", needs_value=False)
        def leave(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
            """Calls sys.exit."""
            raise SystemExit(3)

    for specs in ([spec("test-exit")], [spec("contains", "x"), spec("test-exit")]):
        with pytest.raises(AbortRun, match=r"assertion test-exit called sys.exit\(3\)"):
            run(specs, output="x")


def test_async_checkers_run_concurrently(plugin_types: None) -> None:
    @assertion("test-wait", needs_value=False)
    async def wait(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
        """Waits for the other one."""
        await asyncio.wait_for(ctx.metadata["event"].wait(), timeout=5)
        return AssertionResult(True, 1.0, "waited")

    @assertion("test-set", needs_value=False)
    async def set_(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
        """Releases the other one."""
        await asyncio.sleep(0)
        ctx.metadata["event"].set()
        return AssertionResult(True, 1.0, "set")

    async def go() -> CaseVerdict:
        ctx = make_ctx("x", metadata={"event": asyncio.Event()})
        return await run_assertions([spec("test-wait"), spec("test-set")], ctx, None)

    v = asyncio.run(go())  # sequential evaluation would time out waiting for the event
    assert v.passed and v.error is None
    assert [r.reason for _, r in v.results] == ["waited", "set"]


def test_plugin_graded_type_uses_its_default_threshold(plugin_types: None) -> None:
    @assertion("test-half", needs_value=False, graded=True, default_threshold=0.8)
    def half(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
        """Scores 0.6."""
        return AssertionResult(True, 0.6, "")

    assert not check("test-half", output="x").passed
    assert check("test-half", output="x", threshold=0.5).passed
    assert REGISTRY["test-half"].description == "Scores 0.6."


# ---------------------------------------------------------------- static checks


def test_known_type() -> None:
    assert known_type("contains") and known_type("not-contains") and known_type("not-refusal")
    assert not known_type("contians") and not known_type("not-not-contains")


@pytest.mark.parametrize(
    "raw,needle",
    [
        ({"type": "contians", "value": "a"}, "did you mean contains"),
        ({"type": "zzzzqqq"}, "known types: "),
        ({"type": "contains"}, "needs a value"),
        ({"type": "regex", "value": "a(b"}, "invalid regex 'a(b'"),
        ({"type": "python", "value": "checks.py"}, "path/to/file.py:function"),
        ({"type": "llm-rubric", "value": "polite"}, "needs judge"),
        ({"type": "grounded"}, "needs judge"),
        ({"type": "similar", "value": "x", "threshold": 1.5}, "outside [0, 1]"),
        ({"type": "similar", "value": "x", "method": "bleu"}, "unknown method 'bleu'"),
        ({"type": "similar", "value": "x", "method": "bleu"}, "use one of rouge-l, levenshtein"),
        ({"type": "tool-call", "method": "bag"}, "use one of contains, set, sequence, f1"),
        ({"type": "is-json", "method": "find"}, "use one of extract"),
        ({"type": "contains", "value": "a", "method": "extract"}, "method applies to "),
        (
            {"type": "contains", "value": "a", "timeout": 2},
            "timeout applies to contains-json, expr, is-json, is-valid-tool-call, javascript, json-schema, python, regex, tool-call only",
        ),
        ({"type": "equals", "value": "a", "path": "x"}, "path applies to json-field only"),
        ({"type": "contains", "value": "a", "source": "doc"}, "source applies to grounded only"),
        ({"type": "grounded", "judge": "j", "value": "x", "source": "doc"}, "not both"),
        ({"type": "max-words", "value": "ten"}, "whole number"),
        ({"type": "latency", "value": "fast"}, "must be a number"),
        ({"type": "contains-any", "value": "a, b"}, "YAML list"),
        ({"type": "json-schema", "value": {"type": "nonsense"}}, "invalid JSON Schema"),
        ({"type": "language", "value": "english"}, "ISO 639-1"),
        ({"type": "no-pii", "value": ["passport"]}, "unknown PII kind"),
    ],
)
def test_config_problems(raw: dict[str, Any], needle: str) -> None:
    problems = config_problems(AssertionSpec.model_validate(raw))
    assert any(needle in p for p in problems), problems


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "contains", "value": "a"},
        {"type": "not-contains", "value": "a"},
        {"type": "regex", "value": r"\d{3}"},
        {"type": "regex", "value": "{{ vars.pattern }}"},  # templated: checked at eval time
        {"type": "max-words", "value": "{{ vars.max_words }}"},
        {"type": "python", "value": "checks/x.py:check"},
        {
            "type": "llm-rubric",
            "value": "polite",
            "judge": "openai/gpt-4o-2024-08-06",
            "threshold": 0.7,
        },
        {"type": "similar", "value": "x", "method": "levenshtein"},
        {"type": "similar", "value": "x", "method": "ROUGE-L"},
        {"type": "tool-call", "method": "f1", "value": [{"name": "f"}]},
        {"type": "json-schema", "method": "extract"},
        {"type": "regex", "value": "a", "timeout": 2},
        {"type": "grounded", "judge": "j", "source": "doc"},
        {"type": "is-json"},
        {"type": "json-schema", "value": {"type": "object"}},
        {"type": "language", "value": "en"},
        {"type": "no-pii"},
        {"type": "is-refusal"},
        {"type": "contains-all", "value": ["a", "b"]},
    ],
)
def test_config_problems_none(raw: dict[str, Any]) -> None:
    assert config_problems(AssertionSpec.model_validate(raw)) == []


def test_a_type_declares_its_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plugin type names the method values and optional fields it reads; lint refuses the
    rest on it, and accepts them on it."""
    monkeypatch.setitem(REGISTRY, "probe", REGISTRY["contains"])  # restored after the test

    @assertion("probe", methods=("Fast", "slow"), fields=("timeout",))
    def probe(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
        return AssertionResult(True, "ok")

    ok = AssertionSpec.model_validate({"type": "probe", "value": "a", "method": "fast"})
    assert config_problems(ok.model_copy(update={"timeout": 3.0})) == []
    bad = AssertionSpec.model_validate({"type": "probe", "value": "a", "method": "quick"})
    assert config_problems(bad) == ["unknown method 'quick'; use one of fast, slow"]
    assert (
        "probe"
        in config_problems(
            AssertionSpec.model_validate({"type": "contains", "value": "a", "timeout": 1})
        )[0]
    )
    with pytest.raises(ValueError, match="unknown fields"):
        assertion("probe2", fields=("colour",))


# ----------------------------------------------------------------------------- scoring


def _scoring_project(write: Any, scoring: str, case_scoring: str | None = None) -> None:
    case = {"id": "c", "vars": {"w": "apple"}}
    if case_scoring is not None:
        case["scoring"] = case_scoring
    write(
        "prompts/sc/1.0.0.yaml",
        f"""\
        name: sc
        version: 1.0.0
        model: {{id: echo/echo}}
        inputs: {{w: {{type: string}}}}
        template: "Reply {{{{w}}}}"
        assert:
          - {{type: contains, value: apple, metric: a}}
          - {{type: contains, value: zebra, metric: b, weight: 3}}
          - {{type: contains, value: nope}}
        scoring: {json.dumps(scoring)}
        tests: [{json.dumps(case)}]
        """,
    )


@pytest.mark.parametrize(
    ("scoring", "case_scoring", "passed", "score", "error"),
    [
        # namedScores: per metric, the weighted mean; the check without a metric is not there
        (
            "const k = Object.keys(output).sort().join();\n"
            "return {pass: k === 'a,b' && output.a === 1 && output.b === 0, score: 0.25, reason: k}",
            None,
            True,
            0.25,
            None,
        ),
        (
            "({pass: context.componentResults.length === 3, score: 1, reason: ''})",
            None,
            True,
            1.0,
            None,
        ),
        (
            "({pass: true, score: 1, reason: ''})",
            "({pass: false, score: 0.5, reason: 'no'})",
            False,
            0.5,
            None,
        ),
        (
            "42",
            None,
            False,
            0.0,
            "scoring: the function must return {pass, score, reason}",
        ),
        ("throw new Error('boom')", None, False, 0.0, "scoring: "),
    ],
)
def test_a_scoring_function_decides_the_case(
    project: Path,
    cli: Any,
    write: Any,
    scoring: str,
    case_scoring: str | None,
    passed: bool,
    score: float,
    error: str | None,
) -> None:
    pytest.importorskip("quickjs")
    _scoring_project(write, scoring, case_scoring)
    assert cli("lint").exit_code == 0
    result = cli("eval", "sc@1.0.0", "-f", "json", "--fail-under", "0", "--no-cache")
    assert result.exit_code == 0, result.output
    run_id = json.loads(result.stdout)["run_id"]
    rec = json.loads((project / ".promptops/runs" / run_id / "results.jsonl").read_text())
    assert (rec["pass"], rec["score"]) == (passed, score)
    if error is None:
        assert rec["assert_error"] is None
    else:
        assert rec["assert_error"].startswith(error)


def test_a_python_scoring_function(project: Path, cli: Any, write: Any) -> None:
    """``file.py:function`` runs as a python check's file does (loaded by path, inside the
    project, through the check's code gate), with (named scores, context)."""
    write(
        "checks/score.py",
        """\
        def doubled(named, context):
            s = min(named["a"] * 2, 1.0)
            return {"pass": s >= 0.7 and len(context["componentResults"]) == 3, "score": s,
                    "reason": "doubled"}

        def raises(named, context):
            raise ValueError("no")
        """,
    )
    _scoring_project(write, "checks/score.py:doubled")
    result = cli("eval", "sc@1.0.0", "-f", "json", "--fail-under", "0", "--no-cache")
    assert result.exit_code == 0, result.output
    run_id = json.loads(result.stdout)["run_id"]
    rec = json.loads((project / ".promptops/runs" / run_id / "results.jsonl").read_text())
    assert (rec["pass"], rec["score"]) == (True, 1.0)
    _scoring_project(write, "checks/score.py:raises")
    result = cli("eval", "sc@1.0.0", "-f", "json", "--fail-under", "0", "--no-cache")
    run_id = json.loads(result.stdout)["run_id"]
    rec = json.loads((project / ".promptops/runs" / run_id / "results.jsonl").read_text())
    assert (rec["pass"], rec["score"]) == (False, 0.0)
    assert "raised ValueError: no" in rec["assert_error"]


def test_lint_names_a_scoring_file_that_is_not_there(project: Path, cli: Any, write: Any) -> None:
    _scoring_project(write, "checks/missing.py:score", case_scoring="")
    result = cli("lint")
    assert result.exit_code == 1
    assert "prompts/sc/1.0.0.yaml:10: scoring: checks/missing.py: no such file" in result.output
    assert "tests[0].scoring: scoring must be JavaScript code" in result.output
