"""Static checks of assertion specs, for ``lint``: everything knowable without a model output.

The checks common to every type live here (known type, value present, judge named,
threshold range); each type's check of its own parameters is registered beside its checker
with ``@assertion(name, lint=...)``, which is also how a plugin type gets linted. Values that
are Jinja templates are only checked once rendered, at eval time.
"""

from __future__ import annotations

from typing import Any

from promptops.spec import AssertionSpec

from .base import OWN_FIELDS, REGISTRY, AssertionType


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
    out += _parameter_problems(spec, atype)
    # the type's own check of its parameters (registered with ``@assertion(..., lint=...)``)
    if atype.lint is not None and not _templated(spec.value):
        out += atype.lint(spec)
    return out


def _parameter_problems(spec: AssertionSpec, atype: AssertionType) -> list[str]:
    """A ``method`` or type-specific field the type does not declare (``@assertion(...,
    methods=..., fields=...)``): said, not silently ignored."""
    out = []
    if spec.method is not None:
        if not atype.methods:
            takers = sorted(n for n, t in REGISTRY.items() if t.methods)
            out.append(f"method applies to {', '.join(takers)} only, not {spec.type}")
        elif spec.method.lower() not in atype.methods:
            out.append(f"unknown method {spec.method!r}; use one of {', '.join(atype.methods)}")
    for name in OWN_FIELDS:
        attr = "assert_" if name == "assert" else name
        if getattr(spec, attr) is not None and name not in atype.fields:
            takers = sorted(n for n, t in REGISTRY.items() if name in t.fields)
            out.append(f"{name} applies to {', '.join(takers)} only, not {spec.type}")
    return out
