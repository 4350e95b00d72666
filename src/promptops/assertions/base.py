"""The assertion registry: every type, built-in or plugin, registers with ``@assertion``.

A checker receives the assertion's spec, its value (already rendered from its Jinja template
over the case) and an :class:`AssertionContext`, and returns an :class:`AssertionResult` with
pass, a score in [0, 1] and a reason. Checkers may be ``async`` (model-graded ones are).
A ``not-`` prefix negates any type: pass flips and the score becomes ``1 - score``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from promptops.errors import PromptOpsError
from promptops.spec import AssertionSpec


@dataclass
class AssertionResult:
    """Outcome of one assertion on one output."""

    passed: bool
    score: float
    reason: str = ""
    error: str | None = None  # set when the check itself could not run (e.g. judge unparseable)

    def to_json(self) -> dict[str, Any]:
        return {
            "pass": self.passed,
            "score": round(self.score, 6),
            "reason": self.reason,
            "error": self.error,
        }


class Judge(Protocol):
    """Calls a judge model (through the cache and the provider layer) and returns its text."""

    async def __call__(self, model: str, messages: list[dict[str, str]]) -> str: ...


@dataclass
class AssertionContext:
    """Everything a checker may look at for one output."""

    output: str
    vars: dict[str, Any]
    expected: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, str]] = field(default_factory=list)  # rendered prompt
    output_format: str = "text"
    output_schema: dict[str, Any] | None = None
    latency_ms: float | None = None
    cost: float | None = None
    judge: Judge | None = None
    project_root: str = "."
    case_id: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # see promptops.toolcalls
    tools: list[dict[str, Any]] = field(default_factory=list)  # declared, as sent to the model
    finish_reason: str | None = None

    def template_context(self) -> dict[str, Any]:
        """Names available to ``{{ }}`` in assertion values."""
        return {
            **self.vars,
            "vars": self.vars,
            "expected": self.expected,
            "metadata": self.metadata,
            "output": self.output,
            "tool_calls": self.tool_calls,
        }


def short_text(text: str, n: int = 60) -> str:
    """``text`` on one line (white space folded), cut to ``n`` characters with an ellipsis:
    how checkers quote outputs and values in their reasons."""
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


Checker = Callable[
    [AssertionSpec, Any, AssertionContext], "AssertionResult | Awaitable[AssertionResult]"
]


@dataclass(frozen=True)
class AssertionType:
    name: str
    check: Checker
    needs_value: bool
    graded: bool  # produces fractional scores; uses ``threshold`` to decide pass
    description: str
    default_threshold: float = 0.5  # pass mark of a graded type when the spec sets no threshold
    model_graded: bool = False  # asks a judge model: the spec must name a pinned ``judge``
    lint: Callable[[AssertionSpec], list[str]] | None = None  # static checks of a literal value
    methods: tuple[str, ...] = ()  # the values ``method`` may take; none: no ``method``
    fields: tuple[str, ...] = ()  # the type's own optional fields (OWN_FIELDS) it reads


REGISTRY: dict[str, AssertionType] = {}

# Spec fields only some types read (their YAML names): a type declares the ones it takes.
OWN_FIELDS = ("judge_prompt", "source", "path", "assert", "timeout")


def assertion(
    name: str,
    *,
    needs_value: bool = True,
    graded: bool = False,
    default_threshold: float = 0.5,
    model_graded: bool = False,
    lint: Callable[[AssertionSpec], list[str]] | None = None,
    methods: tuple[str, ...] = (),
    fields: tuple[str, ...] = (),
) -> Callable[[Checker], Checker]:
    """Register a checker under ``name`` (the path user plugins take too).

    The declaration is the type's parameters: ``needs_value``, the ``methods`` its ``method``
    may name, and which of the optional spec fields in :data:`OWN_FIELDS` it reads
    (``fields``); ``promptops lint`` refuses the others on this type. ``lint`` returns the
    problems of a spec whose value is not a template (the type's own check of its value)."""
    unknown = set(fields) - set(OWN_FIELDS)
    if unknown:
        raise ValueError(f"@assertion({name!r}): unknown fields {sorted(unknown)}")

    def deco(fn: Checker) -> Checker:
        doc = (inspect.getdoc(fn) or "").split("\n", 1)[0]
        REGISTRY[name] = AssertionType(
            name,
            fn,
            needs_value,
            graded,
            doc,
            default_threshold,
            model_graded,
            lint,
            tuple(m.lower() for m in methods),
            tuple(fields),
        )
        return fn

    return deco


class AssertionConfigError(PromptOpsError):
    """An assertion is misconfigured (unknown type, missing value, bad regex...)."""
