"""``javascript``: promptfoo's JavaScript assertion, and ``transform:``, JavaScript applied to
the output before any assertion sees it. Both run in QuickJS (the ``js`` extra:
``pip install 'promptops-cli[js]'``) in a helper process (:mod:`.jsworker`).

    - {type: javascript, value: "output.length < 500"}
    - {type: equals, value: Ada, transform: "JSON.parse(output).name"}

The code reads as promptfoo reads it: one line is an expression (``const x = ...; x > 1``
returns its last expression), several lines a function body; ``output`` and ``context``
(``vars``, ``test`` with its ``vars`` and ``metadata``, ``prompt``; and promptops's
``tool_calls``, the calls the model made) are its arguments, and it
may be ``async``. An assertion returns a boolean, a number (pass when above 0, or at least
``threshold``) or ``{pass, score, reason}``; a transform returns the new output (not a string:
its JSON text).

Why it may run code from a pull request under ``promptops check``: each run gets a fresh
QuickJS context holding only the ECMAScript built-ins (no ``require``, ``process``,
``fetch``, modules, timers or host functions), its heap is capped at :data:`HEAP_LIMIT` and its
run interrupted at the time limit (1 s, or the assertion's ``timeout:``); the process, whose
address space is capped and whose environment is empty (no API keys), is killed a second
later whatever it is doing (a regex that backtracks in one C call).
tests/assertions/test_javascript.py shows each of these.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from promptops.errors import PromptOpsError
from promptops.spec import AssertionSpec

from .base import AssertionConfigError, AssertionContext, AssertionResult, assertion, short_text
from .limits import AssertionTimeout, _Pool, off_loop

TIME_LIMIT = 1.0
HEAP_LIMIT = 64 << 20  # bytes of QuickJS heap per run
MAX_CHARS = 100_000  # characters of code (a file's code is inlined by the importer)

# an empty environment: whatever the code did, the helper holds no API key to leak
_JS = _Pool(
    "javascript",
    lambda: [sys.executable, "-I", str(Path(__file__).with_name("jsworker.py"))],
    env={},
)


def available() -> bool:
    """Whether the ``js`` extra (the ``quickjs`` package) is installed."""
    return importlib.util.find_spec("quickjs") is not None


def _need_engine(what: str) -> None:
    if not available():
        raise AssertionConfigError(
            f"{what} runs JavaScript, which needs the js extra: pip install 'promptops-cli[js]'"
        )


def run_js(kind: str, code: str, output: Any, context: dict[str, Any], limit: float) -> Any:
    """Run ``code`` (``kind``: ``assert`` or ``transform``) in the helper; its result, or
    :class:`PromptOpsError` with the JavaScript error. Blocking: call it through
    :func:`off_loop` or a thread."""
    what = "javascript" if kind == "assert" else "transform"
    _need_engine(what)
    if len(code) > MAX_CHARS:
        raise AssertionConfigError(f"{what}: code is over {MAX_CHARS} characters")
    request = {"k": kind, "c": code, "o": output, "x": context, "t": limit, "m": HEAP_LIMIT}
    hard = limit + 1.0
    reply = _JS.ask(request, hard)
    if reply is None:
        raise AssertionTimeout(
            f"{what} did not finish within {hard:g}s (a regex that backtracks?; set timeout: "
            "on the assertion)"
        )
    if "e" in reply:
        raise PromptOpsError(f"{what} threw: {reply['e']}")
    return reply.get("r")


def js_context(ctx: AssertionContext) -> dict[str, Any]:
    """promptfoo's ``context`` argument, as far as promptops knows it."""
    prompt = "\n".join(str(m.get("content", "")) for m in ctx.messages)
    return {
        "vars": ctx.vars,
        "test": {"vars": ctx.vars, "metadata": ctx.metadata, "description": ctx.case_id},
        "prompt": prompt,
        "metadata": ctx.metadata,
        "tool_calls": ctx.tool_calls,  # promptops's: recorded calls (id, name, raw arguments)
    }


async def transformed(code: str, ctx: AssertionContext, limit: float | None) -> str:
    """The output after the ``transform`` code: a string as is, anything else as JSON text
    (as promptfoo's assertions read a non-string output)."""
    out = await off_loop(
        lambda: run_js("transform", code, ctx.output, js_context(ctx), limit or TIME_LIMIT),
        None,
        "transform",
    )
    if isinstance(out, str):
        return out
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


def _lint(spec: AssertionSpec) -> list[str]:
    if not isinstance(spec.value, str) or not spec.value.strip():
        return ["value must be JavaScript code (a string)"]
    if len(spec.value) > MAX_CHARS:
        return [f"code is over {MAX_CHARS} characters"]
    return []


@assertion("javascript", lint=_lint, fields=("timeout",))
async def javascript(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """JavaScript over output and context (promptfoo's): a boolean, a number (pass above 0, or at threshold) or {pass, score, reason}."""
    if not isinstance(value, str):
        raise AssertionConfigError("javascript: value must be JavaScript code (a string)")
    limit = spec.timeout or TIME_LIMIT
    context = js_context(ctx)
    result = await off_loop(
        lambda: run_js("assert", value, ctx.output, context, limit), None, "javascript"
    )
    short = short_text(value)
    if isinstance(result, bool):
        return AssertionResult(result, 1.0 if result else 0.0, f"{short} -> {str(result).lower()}")
    if isinstance(result, int | float):
        passed = result > 0 if spec.threshold is None else result >= spec.threshold
        return AssertionResult(passed, min(max(float(result), 0.0), 1.0), f"{short} -> {result:g}")
    if isinstance(result, dict):
        score = float(result["score"])
        reason = str(result["reason"]) or short
        return AssertionResult(bool(result["pass"]), min(max(score, 0.0), 1.0), reason)
    raise AssertionConfigError(f"javascript returned {type(result).__name__}")
