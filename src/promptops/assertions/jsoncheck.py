"""JSON helpers for the JSON assertions: strict equality and time-limited schema validation."""

from __future__ import annotations

import json
from typing import Any

from promptops.errors import PromptOpsError
from promptops.spec import AssertionSpec

from .base import AssertionConfigError


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: ``true`` is not ``1``, ``1`` is ``1.0``, key order does not matter."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and bool(a == b)


def parse_output_json(output: str) -> Any:
    """The output parsed as JSON (surrounding whitespace allowed). Raises ValueError."""
    return json.loads(output.strip())


def remote_refs(schema: Any) -> list[str]:
    """``$ref`` values that point outside the schema itself (not ``#...``)."""
    out: list[str] = []
    if isinstance(schema, dict):
        for k, v in schema.items():
            if k in ("$ref", "$dynamicRef") and isinstance(v, str) and not v.startswith("#"):
                out.append(v)
            else:
                out += remote_refs(v)
    elif isinstance(schema, list):
        for v in schema:
            out += remote_refs(v)
    return out


def schema_errors(
    schema: dict[str, Any], instance: Any, timeout: float | None = None, limit: int = 3
) -> list[str]:
    """Why ``instance`` does not match ``schema`` (Draft 2020-12 unless ``$schema`` says
    otherwise), at most ``limit`` messages plus a count of the rest. Validated in a helper
    process killed past ``timeout`` seconds (default 10; then AssertionTimeout): the schema
    comes from files a pull request can change, and its ``pattern`` regexes or ``$ref`` graph
    could run for ever. Blocking: checkers call it through ``limits.off_loop``."""
    from .limits import DEFAULT_TIMEOUT, schema_validate

    reply = schema_validate(
        json.dumps(schema, sort_keys=True, default=str),
        json.dumps(instance, default=str),
        limit,
        timeout or DEFAULT_TIMEOUT,
    )
    if "c" in reply:
        raise AssertionConfigError(str(reply["c"]))
    if "e" in reply:
        raise PromptOpsError(f"JSON Schema validation failed: {reply['e']}")
    return [str(p) for p in reply["p"]]


async def schema_errors_off_loop(
    schema: dict[str, Any], instance: Any, timeout: float | None = None
) -> list[str]:
    """:func:`schema_errors` from the event loop: the wait for the helper is in a thread."""
    from .limits import off_loop

    return await off_loop(lambda: schema_errors(schema, instance, timeout), None, "json-schema")


def remote_ref_message(ref: str) -> str:
    return (
        f"$ref {ref!r} points outside the schema; promptops never fetches schemas: put the "
        "definition under $defs and use '#/$defs/...'"
    )


def lint_schema(spec: AssertionSpec) -> list[str]:
    """``promptops lint``'s check of a literal JSON Schema value (is-json, contains-json)."""
    v = spec.value
    if v is None:
        return []
    if not isinstance(v, dict):
        return ["value must be a JSON Schema object"]
    from jsonschema import Draft202012Validator, validators
    from jsonschema.exceptions import SchemaError

    out = []
    try:
        validators.validator_for(v, default=Draft202012Validator).check_schema(v)
    except SchemaError as e:
        out.append(f"invalid JSON Schema: {e.message}")
    return out + [remote_ref_message(r) for r in remote_refs(v)]
