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
