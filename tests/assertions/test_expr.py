"""expr: restricted inline Python expressions, including escape attempts."""

from __future__ import annotations

import pytest

from promptops.assertions import config_problems
from promptops.assertions.expr import evaluate

from .helpers import check, make_ctx, spec


def test_bool_and_score() -> None:
    ctx = make_ctx("The capital is Paris.", expected="paris", vars={"n": 3})
    assert check("expr", "expected in output.lower()", ctx=ctx).passed
    assert not check("expr", "len(output.split()) < vars['n']", ctx=ctx).passed
    r = check("expr", "len(output) / 100", ctx=ctx)
    assert r.passed is False and r.score == pytest.approx(0.21)
    assert check("expr", "len(output) / 100", ctx=ctx, threshold=0.2).passed
    assert check("expr", "parse_json('{\"a\": 1}')['a'] == 1", ctx=ctx).passed
    assert check("expr", "f'{len(output) / 3:.1f}' == '7.0' and '%d%%' % 5 == '5%'", ctx=ctx).passed
    assert check("expr", "all(w.istitle() or True for w in output.split())", ctx=ctx).error
    # "The", "capital", "is" are alphabetic, "Paris." is not
    assert check("expr", "sum(1 for w in output.split() if w.isalpha()) == 3", ctx=ctx).passed
    calls = make_ctx("", tool_calls=[{"name": "f", "arguments": {"x": 2}}])
    assert check("expr", "tool_calls[0]['arguments']['x'] == 2", ctx=calls).passed


def test_bad_results_are_errors() -> None:
    assert "return a bool" in (check("expr", "'yes'", output="x").error or "")
    assert "return a bool" in (check("expr", "3", output="x").error or "")
    assert "ZeroDivisionError" in (check("expr", "1 / 0", output="x").error or "")
    assert "NameError" in (check("expr", "nope", output="x").error or "")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("__import__('os')", "name '__import__' is not allowed"),
        ("__import__('os').system('echo hi')", "attribute 'system' is not allowed"),
        ("().__class__.__bases__[0].__subclasses__()", "attribute '__subclasses__'"),
        ("output.__class__", "attribute '__class__'"),
        ("'{0.__class__}'.format(output)", "attribute 'format' is not allowed"),
        ("(lambda: 1)()", "Lambda is not allowed"),
        ("[x := 1]", "NamedExpr is not allowed"),
        ("open('/etc/passwd').read()", "attribute 'read'"),
        ("import os", "syntax error"),
        ("len(*[output])", "Starred is not allowed"),
        ("dict(**vars)", "**kwargs is not allowed"),
        ("output.encode", "attribute 'encode'"),
        ("_x", "name '_x' is not allowed"),
        ("x" * 3000, "over 2000 characters"),
        ("f'{output:>{10**9}}'", "format spec must be a literal"),
        ("f'{output:>1000000000}'", "format spec must be a literal with small widths"),
    ],
)
def test_escape_attempts_are_refused(source: str, message: str) -> None:
    r = check("expr", source, output="x")
    assert r.error is not None and message in r.error, r.error
    assert config_problems(spec("expr", source))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("open('/etc/passwd')", "NameError"),
        ("getattr(output, 'upper')()", "NameError"),
        ("type(output)", "NameError"),
        ("eval('1')", "NameError"),
        ("'a' * 10**7", "over the limit"),
        ("[0] * 10**7", "over the limit"),
        ("10 ** 10 ** 10", "size limit"),
        ("1 << 10**9", "size limit"),
        ("len(list(range(10**12)))", "over the limit"),
        ("'%1000000000d' % 1", "width over the limit"),
        ("'%*d' % (10**9, 1)", "width over the limit"),
        ("sum(1 for a in range(10**5) for b in range(10**5))", "ran over"),
    ],
)
def test_limits_and_missing_builtins(source: str, message: str) -> None:
    r = check("expr", source, output="x")
    assert r.error is not None and message in r.error, r.error


def test_trace_function_is_restored() -> None:
    import sys

    before = sys.gettrace()
    assert evaluate("1 + 1 == 2", {}) is True
    assert sys.gettrace() is before


def test_lint() -> None:
    assert config_problems(spec("expr", "len(output) > 3")) == []
    assert config_problems(spec("expr", 3)) == ["value must be a Python expression (a string)"]
    assert config_problems(spec("expr", "output.__len__()"))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        # one C call each, which the trace function never interrupts; tens of seconds here
        # (unbounded with larger numbers), so an unlimited check fails the test, not hangs it
        ("len(sum([[1] * 1000] * 3000, [])) > 0", "expr timed out: it did not finish within 1.5s"),
        ("round(1, -3 * 10**7) == 0", "expr timed out: it did not finish within 1.5s"),
        ("len('x'.join(['y' * 100000] * 100000)) > 0", "MemoryError"),
    ],
    ids=["sum-of-lists", "round", "join"],
)
def test_one_long_c_call_is_stopped_and_the_loop_keeps_running(source: str, message: str) -> None:
    import asyncio
    import time

    from promptops.assertions import AssertionResult, evaluate_assertion

    async def main() -> tuple[AssertionResult, int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.ensure_future(tick())
        r = await evaluate_assertion(spec("expr", source, timeout=0.5), make_ctx("x"))
        ticker.cancel()
        return r, ticks

    started = time.monotonic()
    r, ticks = asyncio.run(main())
    assert r.error is not None and message in r.error, r.error
    assert time.monotonic() - started < 10
    if "timed out" in message:  # it took its 1.5 s, and the loop was not held meanwhile
        assert ticks >= 50, f"the loop ran {ticks} ticks of 10 ms meanwhile"


def test_names_reach_the_helper_intact() -> None:
    import datetime

    ctx = make_ctx("x", vars={"day": datetime.date(2024, 1, 2), "t": (1, 2), 3: "int key"})
    r = check(
        "expr",
        "str(vars['day']) == '2024-01-02' and vars['t'] == (1, 2) and vars[3] == 'int key'",
        ctx=ctx,
    )
    assert r.passed, r
