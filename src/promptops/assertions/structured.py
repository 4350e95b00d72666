"""Structured-output assertions: ``contains-json`` (JSON somewhere in the output) and
``finish-reason``; :func:`extract_json` also serves ``is-json`` / ``json-schema`` with
``method: extract``.

Extraction takes the first ```json fenced block that parses, else the first JSON object or
array that parses from a ``{`` or ``[`` in the text (so prose around it is fine).
"""

from __future__ import annotations

import json
import re
from typing import Any

from promptops.spec import AssertionSpec

from .base import AssertionConfigError, AssertionContext, AssertionResult, assertion
from .jsoncheck import lint_schema, schema_errors_off_loop

_FENCE = re.compile(r"```[ \t]*(?:json|JSON|json5)?[ \t]*\n(.*?)```", re.S)
_MAX_STARTS = 200  # bound the work on long outputs full of braces


def extract_json(text: str) -> Any:
    """The first JSON value in ``text`` (fenced block first). Raises ValueError."""
    decoder = json.JSONDecoder()
    for m in _FENCE.finditer(text):
        try:
            return json.loads(m.group(1).strip())
        except json.JSONDecodeError:
            continue
    tries = 0
    for m in re.finditer(r"[{\[]", text):
        tries += 1
        if tries > _MAX_STARTS:
            break
        try:
            value, _ = decoder.raw_decode(text, m.start())
        except json.JSONDecodeError:
            continue
        return value
    raise ValueError("no JSON object or array found in the output")


def _schema_value(spec: AssertionSpec, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise AssertionConfigError(f"{spec.type}: value must be a JSON Schema object or empty")
    return value


@assertion("contains-json", needs_value=False, lint=lint_schema, fields=("timeout",))
async def contains_json(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """Output contains JSON (a ```json block, else the first object or array); value: a JSON Schema it must match."""
    schema = _schema_value(spec, value)
    try:
        data = extract_json(ctx.output)
    except ValueError as e:
        return AssertionResult(False, 0.0, str(e))
    if schema is not None:
        problems = await schema_errors_off_loop(schema, data, spec.timeout)
        if problems:
            return AssertionResult(
                False, 0.0, "the JSON does not match the schema: " + "; ".join(problems)
            )
        return AssertionResult(True, 1.0, "output contains JSON matching the schema")
    return AssertionResult(True, 1.0, "output contains JSON")


def _reasons(spec: AssertionSpec, value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, str) and v.strip() for v in items):
        raise AssertionConfigError(
            f"{spec.type}: value must be a finish reason such as stop, length or tool_calls "
            "(or a list of them)"
        )
    return [v.strip() for v in items]


def _lint_finish(spec: AssertionSpec) -> list[str]:
    try:
        _reasons(spec, spec.value)
    except AssertionConfigError as e:
        return [e.message]
    return []


@assertion("finish-reason", lint=_lint_finish)
def finish_reason(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """The model stopped for this reason (stop, length, tool_calls, content_filter; or one of a list)."""
    wanted = _reasons(spec, value)
    got = ctx.finish_reason
    if got is None:
        return AssertionResult(False, 0.0, "", error="no finish reason was recorded")
    ok = got in wanted
    return AssertionResult(
        ok,
        1.0 if ok else 0.0,
        f"finish reason {got!r}" + ("" if ok else f", not {'/'.join(wanted)}"),
    )
