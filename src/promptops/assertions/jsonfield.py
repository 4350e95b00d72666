"""``json-field``: one field of a JSON output, checked by any other assertion.

``{type: json-field, path: amount, assert: {type: equals, value: 42.5}}``. The path is
``$.a.b``, ``a.b``, ``items[0].name`` or ``$["key with spaces"]``. The nested assertion sees
the field's value as the output: a string as itself, anything else as JSON text, so ``equals``
with a number compares numbers and ``contains`` searches a string.
"""

from __future__ import annotations

import json
import re
from typing import Any

from promptops.spec import AssertionSpec

from .base import AssertionConfigError, AssertionContext, AssertionResult, assertion
from .jsoncheck import parse_output_json

_SEGMENT = re.compile(
    r"""\.?(?P<name>[A-Za-z_][A-Za-z0-9_-]*)      # .name or a leading name
      |\[(?P<index>-?\d+)\]                       # [0]
      |\[(?P<q>["'])(?P<key>(?:(?!(?P=q)).)*)(?P=q)\]  # ["key"]
    """,
    re.VERBOSE,
)

Step = str | int


def parse_path(path: str) -> list[Step]:
    """``$.items[0].name`` -> ``["items", 0, "name"]``. Raises AssertionConfigError."""
    text = path.strip()
    if text.startswith("$"):
        text = text[1:]
    if not text:
        raise AssertionConfigError(f"path {path!r} names no field; e.g. amount or items[0].name")
    steps: list[Step] = []
    pos = 0
    while pos < len(text):
        m = _SEGMENT.match(text, pos)
        if m is None or (m.group("name") and pos > 0 and text[pos] != "."):
            raise AssertionConfigError(
                f'path {path!r}: cannot read {text[pos:]!r}; use names, [index] and ["key"], '
                "e.g. items[0].name"
            )
        if m.group("name") is not None:
            steps.append(m.group("name"))
        elif m.group("index") is not None:
            steps.append(int(m.group("index")))
        else:
            steps.append(m.group("key"))
        pos = m.end()
    return steps


def _show(steps: list[Step]) -> str:
    out = "$"
    for s in steps:
        if isinstance(s, int):
            out += f"[{s}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", s):
            out += f".{s}"
        else:
            out += f"[{json.dumps(s)}]"
    return out


def lookup(data: Any, steps: list[Step]) -> tuple[bool, Any, str]:
    """(found, value, why not) for a parsed path in parsed JSON."""
    cur = data
    for i, step in enumerate(steps):
        where = _show(steps[:i]) if i else "the output"
        if isinstance(step, int):
            if not isinstance(cur, list):
                return False, None, f"{where} is not an array"
            if not -len(cur) <= step < len(cur):
                return False, None, f"{where} has {len(cur)} items, no [{step}]"
            cur = cur[step]
        else:
            if not isinstance(cur, dict):
                return False, None, f"{where} is not an object"
            if step not in cur:
                return False, None, f"{where} has no field {step!r}"
            cur = cur[step]
    return True, cur, ""


def config_problems(spec: AssertionSpec) -> list[str]:
    """Lint: a readable path and a valid nested assertion (checked recursively)."""
    from .config import config_problems as nested_problems

    out: list[str] = []
    if spec.path is None:
        out.append("json-field needs path: where the value is, e.g. amount or items[0].name")
    else:
        try:
            parse_path(spec.path)
        except AssertionConfigError as e:
            out.append(e.message)
    if spec.assert_ is None:
        out.append("json-field needs assert: the assertion applied to the value")
    else:
        out += [f"assert: {m}" for m in nested_problems(spec.assert_)]
    if spec.value is not None:
        out.append("json-field takes no value; put it in the nested assert")
    return out


@assertion("json-field", needs_value=False, lint=config_problems, fields=("path", "assert"))
async def json_field(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """The field at `path` of the JSON output passes the nested `assert`."""
    from dataclasses import replace

    from .suite import evaluate_assertion

    if spec.path is None or spec.assert_ is None:
        raise AssertionConfigError("json-field needs path and assert")
    steps = parse_path(spec.path)
    shown = _show(steps)
    try:
        data = parse_output_json(ctx.output)
    except ValueError as e:
        return AssertionResult(False, 0.0, f"output is not JSON, so it has no {shown}: {e}")
    found, field, why = lookup(data, steps)
    if not found:
        return AssertionResult(False, 0.0, f"no {shown}: {why}")
    text = field if isinstance(field, str) else json.dumps(field, ensure_ascii=False)
    sub = replace(ctx, output=text, output_format="text" if isinstance(field, str) else "json")
    result = await evaluate_assertion(spec.assert_, sub, ctx.template_context())
    if result.error is not None:
        return AssertionResult(False, 0.0, f"{shown}", error=f"{shown}: {result.error}")
    return AssertionResult(result.passed, result.score, f"{shown}: {result.reason}")
