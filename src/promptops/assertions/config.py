"""Static checks of assertion specs, for ``lint``: everything knowable without a model output.

Values that are Jinja templates are only checked once rendered, at eval time.
"""

from __future__ import annotations

import re
from typing import Any

from promptops.spec import AssertionSpec

from .base import REGISTRY

_LANG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]+)?$")
_LIST_TYPES = {"contains-any", "icontains-any", "contains-all", "icontains-all"}
_INT_TYPES = {"min-length", "max-length", "min-words", "max-words"}
_NUM_TYPES = {"latency", "cost"}


def known_type(name: str) -> bool:
    """Whether ``name`` is a registered type, with or without the ``not-`` prefix."""
    return (name[4:] if name.startswith("not-") else name) in REGISTRY


def _templated(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value or "{#" in value
    if isinstance(value, list | tuple):
        return any(_templated(v) for v in value)
    if isinstance(value, dict):
        return any(_templated(v) for v in value.values())
    return False


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _value_problems(spec: AssertionSpec) -> list[str]:
    """Problems of a literal (non-template) value for the built-in types."""
    base, v, out = spec.base_type, spec.value, []
    if base == "regex" and isinstance(v, str):
        try:
            re.compile(v)
        except re.error as e:
            out.append(f"invalid regex {v!r}: {e}")
    elif base == "python":
        from .pyfunc import PY_REF

        if not isinstance(v, str) or not PY_REF.match(v.strip()):
            out.append(f"value {v!r} must look like 'path/to/file.py:function'")
    elif base in _INT_TYPES and not (_is_number(v) and float(v).is_integer()):
        out.append(f"value must be a whole number, got {v!r}")
    elif base in _NUM_TYPES and not _is_number(v):
        out.append(f"value must be a number, got {v!r}")
    elif base in _LIST_TYPES:
        if isinstance(v, str) and "," in v:
            out.append(
                "value is one string containing commas; give a YAML list for several strings"
            )
        elif isinstance(v, list) and not v and "any" in base:
            out.append("value is an empty list")
    elif base in ("is-json", "json-schema") and v is not None:
        if not isinstance(v, dict):
            out.append("value must be a JSON Schema object")
        else:
            from jsonschema import Draft202012Validator, validators
            from jsonschema.exceptions import SchemaError

            from .jsoncheck import remote_refs

            try:
                validators.validator_for(v, default=Draft202012Validator).check_schema(v)
            except SchemaError as e:
                out.append(f"invalid JSON Schema: {e.message}")
            out += [remote_ref_message(r) for r in remote_refs(v)]
    elif base == "language":
        codes = v if isinstance(v, list) else [v]
        bad = [c for c in codes if not isinstance(c, str) or not _LANG.match(c.strip())]
        if bad:
            out.append(f"value must be an ISO 639-1 language code such as 'en', got {bad[0]!r}")
    elif base == "no-pii" and v is not None:
        from .pii import KINDS

        kinds = v if isinstance(v, list) else [v]
        unknown = [k for k in kinds if not isinstance(k, str) or k.strip().lower() not in KINDS]
        if unknown:
            out.append(f"unknown PII kind {unknown[0]!r}; known: {', '.join(KINDS)}")
    return out


def remote_ref_message(ref: str) -> str:
    return (
        f"$ref {ref!r} points outside the schema; promptops never fetches schemas: put the "
        "definition under $defs and use '#/$defs/...'"
    )


def config_problems(spec: AssertionSpec) -> list[str]:
    """What is wrong with an assertion spec, as messages for ``lint`` (empty when fine)."""
    out: list[str] = []
    if spec.threshold is not None and not 0 <= spec.threshold <= 1:
        out.append(f"threshold {spec.threshold:g} is outside [0, 1]")
    atype = REGISTRY.get(spec.base_type)
    if atype is None:
        from .suite import unknown_type_message

        return [unknown_type_message(spec.type), *out]
    if atype.needs_value and spec.value is None:
        out.append(f"{spec.type} needs a value")
    if atype.model_graded and not spec.judge:
        out.append(f"{spec.type} needs judge: a pinned judge model id")
    if spec.method is not None and spec.base_type == "similar":
        from .builtins import SIMILARITY_METHODS

        if spec.method.lower() not in SIMILARITY_METHODS:
            out.append(
                f"unknown method {spec.method!r}; use one of {', '.join(SIMILARITY_METHODS)}"
            )
    json_types = ("is-json", "json-schema")
    if spec.method is not None and spec.base_type in json_types and spec.method != "extract":
        out.append(f"unknown method {spec.method!r}; use extract (or no method)")
    if spec.judge_prompt is not None and spec.base_type != "llm-rubric":
        out.append("judge_prompt is only for llm-rubric")
    if spec.base_type == "grounded" and spec.value is not None and spec.source is not None:
        out.append("give the source text as value or name an input with source:, not both")
    if spec.base_type == "json-field":
        from .jsonfield import config_problems as json_field_problems

        return out + json_field_problems(spec)
    if spec.path is not None or spec.assert_ is not None:
        out.append(f"path and assert apply to json-field only, not {spec.type}")
    if spec.value is not None and not _templated(spec.value):
        out += _value_problems(spec)
    if atype.lint is not None and not _templated(spec.value):
        out += atype.lint(spec)
    return out
