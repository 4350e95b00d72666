"""Static checks of assertion specs, for ``lint``: everything knowable without a model output.

The checks common to every type live here (known type, value present, judge named,
threshold range); each type's check of its own parameters is registered beside its checker
with ``@assertion(name, lint=...)``, which is also how a plugin type gets linted. Values that
are Jinja templates are only checked once rendered, at eval time.
"""

from __future__ import annotations

from typing import Any

from promptops.spec import AssertionSpec

from .base import REGISTRY


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
    if spec.base_type != "json-field" and (spec.path is not None or spec.assert_ is not None):
        out.append(f"path and assert apply to json-field only, not {spec.type}")
    # the type's own check of its parameters (registered with ``@assertion(..., lint=...)``)
    if atype.lint is not None and not _templated(spec.value):
        out += atype.lint(spec)
    return out
