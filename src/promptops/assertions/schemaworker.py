"""The JSON Schema helper process of :func:`promptops.assertions.limits.schema_validate`.

Run by path (``python -I .../schemaworker.py``), it imports jsonschema and referencing only,
never promptops. It writes ``{}`` once its imports are done, then reads one request per line, ``{"s": schema JSON, "i": instance JSON, "n":
at most this many problems}``, and answers one line: ``{"p": [problems]}`` (``$.path: message``,
plus ``and N more``), ``{"c": why the schema cannot be used}`` or ``{"e": an unexpected error}``.
Validators are kept per schema for the life of the process. ``$ref`` never fetches: a registry
without ``retrieve`` refuses URLs and files.
"""

from __future__ import annotations

import json
import sys
from typing import Any

_VALIDATORS: dict[str, Any] = {}


def answer(request: dict[str, Any]) -> dict[str, Any]:
    from jsonschema import Draft202012Validator, validators
    from jsonschema.exceptions import SchemaError
    from referencing import Registry
    from referencing.exceptions import Unresolvable

    text = request["s"]
    validator = _VALIDATORS.get(text)
    if validator is None:
        schema = json.loads(text)
        cls = validators.validator_for(schema, default=Draft202012Validator)
        try:
            cls.check_schema(schema)
        except SchemaError as e:
            return {"c": f"invalid JSON Schema: {e.message}"}
        validator = cls(schema, format_checker=cls.FORMAT_CHECKER, registry=Registry())
        _VALIDATORS[text] = validator
    try:
        errors = list(validator.iter_errors(json.loads(request["i"])))
    except Unresolvable as e:
        return {
            "c": f"JSON Schema $ref {getattr(e, 'ref', '')!r} is not resolved: promptops never "
            "fetches schemas; put the definition under $defs and use '#/$defs/...'"
        }
    limit = int(request["n"])
    out = [f"{e.json_path}: {e.message}" for e in errors[:limit]]
    if len(errors) > limit:
        out.append(f"and {len(errors) - limit} more")
    return {"p": out}


def main() -> None:
    import jsonschema  # noqa: F401  (imported before the ready line: not on a check's clock)
    import referencing  # noqa: F401

    sys.stdout.write("{}\n")  # ready
    sys.stdout.flush()
    for line in sys.stdin:
        try:
            reply = answer(json.loads(line))
        except Exception as e:  # reported to the check, which fails with it
            reply = {"e": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
