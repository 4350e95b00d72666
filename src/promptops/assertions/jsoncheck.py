"""JSON helpers for the JSON assertions: strict equality and cached schema validation."""

from __future__ import annotations

import json
from typing import Any

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


_VALIDATORS: dict[str, Any] = {}


def offline_registry() -> Any:
    """A ``referencing`` registry that never fetches (its default ``retrieve`` refuses): a
    ``$ref`` to a URL or a file fails instead of making a request (jsonschema's own default
    would fetch it; schemas come from files a pull request can change)."""
    from referencing import Registry

    return Registry()


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


def schema_errors(schema: dict[str, Any], instance: Any, limit: int = 3) -> list[str]:
    """Why ``instance`` does not match ``schema`` (Draft 2020-12 unless ``$schema`` says
    otherwise), at most ``limit`` messages plus a count of the rest."""
    key = json.dumps(schema, sort_keys=True, default=str)
    validator = _VALIDATORS.get(key)
    if validator is None:
        from jsonschema import Draft202012Validator, validators
        from jsonschema.exceptions import SchemaError

        cls = validators.validator_for(schema, default=Draft202012Validator)
        try:
            cls.check_schema(schema)
        except SchemaError as e:
            raise AssertionConfigError(f"invalid JSON Schema: {e.message}") from None
        validator = cls(schema, format_checker=cls.FORMAT_CHECKER, registry=offline_registry())
        _VALIDATORS[key] = validator
    from referencing.exceptions import Unresolvable

    try:
        errors = list(validator.iter_errors(instance))
    except Unresolvable as e:
        raise AssertionConfigError(
            f"JSON Schema $ref {getattr(e, 'ref', '')!r} is not resolved: promptops never "
            "fetches schemas; put the definition under $defs and use '#/$defs/...'"
        ) from None
    out = [f"{e.json_path}: {e.message}" for e in errors[:limit]]
    if len(errors) > limit:
        out.append(f"and {len(errors) - limit} more")
    return out


def remote_ref_message(ref: str) -> str:
    return (
        f"$ref {ref!r} points outside the schema; promptops never fetches schemas: put the "
        "definition under $defs and use '#/$defs/...'"
    )
