"""javascript and transform: promptfoo's rules for reading the code and its result, and the
isolation that lets ``check`` run a pull request's JavaScript (no require, process, fetch,
modules or timers; bounded heap and time)."""

from __future__ import annotations

import time

import pytest

from promptops.assertions import config_problems

from .helpers import check, make_ctx, spec

pytest.importorskip("quickjs")


def test_expression_and_body_forms() -> None:
    assert not check("javascript", "output.length < 5", output="a long output").passed
    assert check("javascript", "output.length < 5", output="tiny").passed
    # one line starting with a declaration returns its last expression (promptfoo's rule)
    assert check("javascript", "const s = JSON.parse(output).a; s > 0.5;", output='{"a": 1}').passed
    body = "const n = output.split(' ').length;\nreturn n === 3;\n"
    assert check("javascript", body, output="one two three").passed
    # function forms: an async body, a returned promise
    assert check("javascript", "(async () => output === 'x')()", output="x").passed


def test_context_vars_and_test() -> None:
    ctx = make_ctx("Paris", vars={"city": "Paris"}, metadata={"lang": "en"})
    assert check("javascript", "output === context.vars.city", ctx=ctx).passed
    assert check("javascript", "context.test.vars.city === 'Paris'", ctx=ctx).passed
    assert check("javascript", "context.test.metadata.lang === 'en'", ctx=ctx).passed


def test_number_and_grading_results() -> None:
    r = check("javascript", "0.3", output="x")
    assert r.passed and r.score == pytest.approx(0.3)  # a number passes above 0
    assert not check("javascript", "0.3", output="x", threshold=0.5).passed
    assert not check("javascript", "0", output="x").passed
    r = check("javascript", "({pass: false, score: 0.25, reason: 'too short'})", output="x")
    assert (r.passed, r.score, r.reason) == (False, 0.25, "too short")
    assert check("not-javascript", "output === 'y'", output="x").passed
    bad = check("javascript", "'yes'", output="x")
    assert "must return a boolean, number, or GradingResult" in (bad.error or "")
    assert "ReferenceError" in (check("javascript", "nope > 1", output="x").error or "")


def test_transform_before_the_check() -> None:
    out = '{"name": "Ada", "age": 36}'
    assert check("equals", "Ada", output=out, transform="JSON.parse(output).name").passed
    assert not check("equals", "Ada", output=out).passed
    # a non-string result is read as its JSON text
    assert check("contains", '"age":36', output=out, transform="JSON.parse(output)").passed
    body = "const o = JSON.parse(output);\nreturn o.name.toUpperCase() + context.vars.x;"
    ctx = make_ctx(out, vars={"x": "!"})
    assert check("equals", "ADA!", ctx=ctx, transform=body).passed
    broken = check("equals", "Ada", output="not json", transform="JSON.parse(output).name")
    assert "transform threw: SyntaxError" in (broken.error or "")


def test_js_regex_semantics() -> None:
    ctx = make_ctx("order #1234 for Émile")
    assert check("javascript", r"/#(?<id>\d+)/.exec(output).groups.id === '1234'", ctx=ctx).passed
    assert check("javascript", r"/\p{Lu}mile/u.test(output)", ctx=ctx).passed
    assert "SyntaxError" in (
        check("javascript", "new RegExp('(?i)x').test(output)", ctx=ctx).error or ""
    )


@pytest.mark.parametrize(
    "code",
    [
        "typeof require !== 'undefined'",
        "typeof process !== 'undefined' || typeof context.process !== 'undefined'",
        "typeof fetch !== 'undefined' || typeof XMLHttpRequest !== 'undefined'",
        "typeof setTimeout !== 'undefined' || typeof std !== 'undefined' || typeof os !== 'undefined'",
        "typeof Function('return this')().scriptArgs !== 'undefined'",
    ],
)
def test_no_host_access(code: str) -> None:
    assert not check("javascript", code, output="x").passed


def test_no_modules() -> None:
    r = check("javascript", "import('os').then(() => true)", output="x")
    assert not r.passed and "could not load module" in (r.error or "")
    r = check("javascript", "require('fs').readFileSync('/etc/passwd', 'utf8').length > 0")
    assert "'require' is not defined" in (r.error or "")


def test_time_and_memory_are_bounded() -> None:
    start = time.monotonic()
    r = check("javascript", "while (true) {}\nreturn true;", output="x", timeout=0.5)
    # QuickJS interrupts it, or (on a busy machine, past the hard limit) the helper is killed
    assert r.error and ("ran over 0.5s" in r.error or "did not finish within 1.5s" in r.error)
    # a backtracking regex runs in one C call that QuickJS does not interrupt: the helper is killed
    r = check("javascript", "/(a+)+$/.test('a'.repeat(40) + 'b')", output="x", timeout=0.5)
    assert r.error and "did not finish within 1.5s" in r.error
    assert time.monotonic() - start < 30  # generous: the machine may be busy
    r = check("javascript", "'x'.repeat(1e9).length > 0", output="x")
    assert "out of memory" in (r.error or "")
    r = check(
        "javascript", "const a = [];\nwhile (true) a.push(new Array(1e5).fill(1));", output="x"
    )
    assert "out of memory" in (r.error or "")
    r = check("javascript", "function f() { return f(); }\nreturn f();", output="x")
    assert "stack overflow" in (r.error or "")
    # the helper is fine afterwards
    assert check("javascript", "output === 'x'", output="x").passed


def test_never_settling_promise_fails() -> None:
    r = check("javascript", "new Promise(() => {})", output="x")
    assert "never settled" in (r.error or "")


def test_lint() -> None:
    assert config_problems(spec("javascript", "output.length > 1")) == []
    assert config_problems(spec("javascript", {"a": 1}))


def test_the_helper_holds_no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defense in depth: were the engine escaped, its process has no environment to read."""
    from pathlib import Path

    from promptops.assertions import javascript
    from promptops.assertions.limits import _Helper

    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-for-this-test")
    h = _Helper(javascript._JS.argv(), javascript._JS.env)  # as the pool starts one
    try:
        environ = Path(f"/proc/{h.proc.pid}/environ")
        if not environ.exists():
            pytest.skip("no /proc here")
        assert b"sk-secret-for-this-test" not in environ.read_bytes()
        assert environ.read_bytes() == b""
    finally:
        h.kill()
