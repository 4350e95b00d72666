"""Tool-call assertions: ``tool-call`` (and its negation ``not-tool-call``) and
``is-valid-tool-call``.

An expected call is a tool name, or ``{name, arguments}`` (every given argument must equal the
call's, JSON equality, other arguments are free), or ``{name, schema}`` (the arguments must
validate against the JSON Schema). A list of expected calls is checked with ``method``:

- ``contains`` (default): each expected call is among the calls made (one call per expected);
- ``set``: the calls made are exactly the expected ones, in any order;
- ``sequence``: the calls made are exactly the expected ones, in this order;
- ``f1``: graded, F1 of expected vs made calls (threshold decides pass).
"""

from __future__ import annotations

import json
from typing import Any

from promptops.spec import AssertionSpec
from promptops.toolcalls import format_call

from .base import AssertionConfigError, AssertionContext, AssertionResult, assertion
from .jsoncheck import json_equal, schema_errors

METHODS = ("contains", "set", "sequence", "f1")


def _expected(spec: AssertionSpec, value: Any) -> list[dict[str, Any]]:
    """The value as a list of ``{name, arguments?, schema?}`` (raises AssertionConfigError)."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise AssertionConfigError(f"{spec.type}: value is an empty list")
    out = []
    for item in items:
        if isinstance(item, str):
            out.append({"name": item})
            continue
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise AssertionConfigError(
                f"{spec.type}: each expected call is a tool name or {{name, arguments}} / "
                f"{{name, schema}}, got {json.dumps(item, default=str)[:80]}"
            )
        unknown = sorted(set(item) - {"name", "arguments", "schema"})
        if unknown:
            raise AssertionConfigError(
                f"{spec.type}: unknown key(s) {', '.join(unknown)} in an expected call; "
                "use name, arguments, schema"
            )
        if "arguments" in item and "schema" in item:
            raise AssertionConfigError(
                f"{spec.type}: give arguments or schema for {item['name']!r}, not both"
            )
        if "arguments" in item and not isinstance(item["arguments"], dict):
            raise AssertionConfigError(f"{spec.type}: arguments of {item['name']!r} is not a map")
        if "schema" in item and not isinstance(item["schema"], dict):
            raise AssertionConfigError(f"{spec.type}: schema of {item['name']!r} is not a map")
        out.append(item)
    return out


def _method(spec: AssertionSpec) -> str:
    method = (spec.method or "contains").lower()
    if method not in METHODS:
        raise AssertionConfigError(
            f"{spec.type}: unknown method {spec.method!r}; use one of {', '.join(METHODS)}"
        )
    return method


def _mismatch(want: dict[str, Any], call: dict[str, Any], timeout: float | None) -> str | None:
    """Why ``call`` is not the expected call, or None when it is (blocking with a schema)."""
    if call.get("name") != want["name"]:
        return f"called {call.get('name')!r}, not {want['name']!r}"
    args = call.get("arguments")
    if ("arguments" in want or "schema" in want) and not isinstance(args, dict):
        return f"{want['name']}: {call.get('error') or 'arguments are not an object'}"
    if "arguments" in want:
        assert isinstance(args, dict)
        for key, expected in want["arguments"].items():
            if key not in args:
                return f"{want['name']}: argument {key!r} missing"
            if not json_equal(args[key], expected):
                got = json.dumps(args[key], ensure_ascii=False)
                return f"{want['name']}: {key}={got[:40]}, expected {json.dumps(expected)[:40]}"
    if "schema" in want:
        problems = schema_errors(want["schema"], args, timeout)
        if problems:
            return f"{want['name']}: arguments do not match the schema: " + "; ".join(problems)
    return None


def _describe(want: dict[str, Any]) -> str:
    if "arguments" in want:
        return format_call({"name": want["name"], "arguments": want["arguments"]})
    return str(want["name"])


def _match(
    wanted: list[dict[str, Any]], calls: list[dict[str, Any]], timeout: float | None
) -> list[int | None]:
    """For each expected call, the index of a distinct made call matching it (greedy)."""
    used: set[int] = set()
    out: list[int | None] = []
    for want in wanted:
        hit = next(
            (
                i
                for i, c in enumerate(calls)
                if i not in used and _mismatch(want, c, timeout) is None
            ),
            None,
        )
        if hit is not None:
            used.add(hit)
        out.append(hit)
    return out


def _closest_reason(
    want: dict[str, Any], calls: list[dict[str, Any]], timeout: float | None
) -> str:
    same = [c for c in calls if c.get("name") == want["name"]]
    if same:
        return _mismatch(want, same[0], timeout) or ""
    made = ", ".join(str(c.get("name")) for c in calls) or "none"
    return f"no call to {want['name']!r} (calls: {made})"


def _lint(spec: AssertionSpec) -> list[str]:
    try:
        _method(spec)
        if spec.value is not None:
            _expected(spec, spec.value)
    except AssertionConfigError as e:
        return [e.message]
    if spec.method and spec.method.lower() in ("set", "sequence", "f1") and spec.value is None:
        return [f"method {spec.method} needs a value: the expected calls"]
    return []


@assertion(
    "tool-call", needs_value=False, graded=False, lint=_lint, methods=METHODS, fields=("timeout",)
)
async def tool_call(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """The reply calls the expected tool(s) (name, {name, arguments} or {name, schema}; a list with method contains/set/sequence/f1); no value: any tool call."""
    if value is not None and any("schema" in w for w in _expected(spec, value)):
        from .limits import off_loop  # schemas are validated in a helper: wait off the loop

        return await off_loop(lambda: _tool_call(spec, value, ctx), None, "tool-call")
    return _tool_call(spec, value, ctx)


def _tool_call(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    calls = ctx.tool_calls
    method = _method(spec)
    if value is None:
        if calls:
            return AssertionResult(True, 1.0, f"{len(calls)} tool call(s): {calls[0]['name']}")
        return AssertionResult(False, 0.0, "no tool call")
    wanted = _expected(spec, value)
    if method == "sequence":
        if len(calls) != len(wanted):
            return AssertionResult(
                False, 0.0, f"{len(calls)} call(s) made, expected {len(wanted)} in sequence"
            )
        for i, (want, call) in enumerate(zip(wanted, calls, strict=True)):
            why = _mismatch(want, call, spec.timeout)
            if why:
                return AssertionResult(False, i / len(wanted), f"call {i + 1}: {why}")
        return AssertionResult(True, 1.0, "calls made in the expected sequence")
    hits = _match(wanted, calls, spec.timeout)
    found = sum(h is not None for h in hits)
    missing = [w for w, h in zip(wanted, hits, strict=True) if h is None]
    if method == "f1":
        precision = found / len(calls) if calls else 0.0
        recall = found / len(wanted)
        f1 = 2 * precision * recall / (precision + recall) if found else 0.0
        threshold = spec.threshold if spec.threshold is not None else 1.0
        return AssertionResult(
            f1 >= threshold - 1e-9,
            f1,
            f"tool-call F1 {f1:.2f} ({found} of {len(wanted)} expected, {len(calls)} made)",
        )
    if missing:
        return AssertionResult(
            False, found / len(wanted), _closest_reason(missing[0], calls, spec.timeout)
        )
    if method == "set" and len(calls) != len(wanted):
        extra = [c for i, c in enumerate(calls) if i not in set(hits)]
        return AssertionResult(
            False, len(wanted) / len(calls), f"unexpected call {format_call(extra[0])}"
        )
    shown = ", ".join(_describe(w) for w in wanted)
    return AssertionResult(True, 1.0, f"called {shown}")


@assertion("is-valid-tool-call", needs_value=False, fields=("timeout",))
async def is_valid_tool_call(
    spec: AssertionSpec, value: Any, ctx: AssertionContext
) -> AssertionResult:
    """Every tool call names a declared tool and its arguments validate against that tool's schema."""
    if not ctx.tool_calls:
        return AssertionResult(False, 0.0, "no tool call")
    from .limits import off_loop  # schemas are validated in a helper: wait off the loop

    return await off_loop(lambda: _valid_tool_calls(spec, ctx), None, "is-valid-tool-call")


def _valid_tool_calls(spec: AssertionSpec, ctx: AssertionContext) -> AssertionResult:
    if not ctx.tool_calls:
        return AssertionResult(False, 0.0, "no tool call")
    declared = {
        t["function"]["name"]: t["function"].get("parameters") or {"type": "object"}
        for t in ctx.tools
        if isinstance(t, dict) and isinstance(t.get("function"), dict)
    }
    for call in ctx.tool_calls:
        name = call.get("name")
        if name not in declared:
            known = ", ".join(declared) or "none"
            return AssertionResult(False, 0.0, f"{name!r} is not a declared tool ({known})")
        if not isinstance(call.get("arguments"), dict):
            why = call.get("error") or "arguments are not a JSON object"
            return AssertionResult(False, 0.0, f"{name}: {why}")
        problems = schema_errors(declared[name], call["arguments"], spec.timeout)
        if problems:
            return AssertionResult(False, 0.0, f"{name}: " + "; ".join(problems))
    return AssertionResult(True, 1.0, f"{len(ctx.tool_calls)} valid tool call(s)")
