"""Assertions: one registry of types, deterministic and model-graded, and suite evaluation.

Importing this package registers the built-in types (:mod:`.builtins`); plugins register more
with :func:`assertion`. :func:`run_assertions` evaluates a case's suite; :func:`config_problems`
checks a spec statically for ``lint``.
"""

from __future__ import annotations

from promptops.spec import AssertionSpec

from . import builtins as builtins  # registers the built-in types
from . import expr as expr  # restricted inline Python expressions
from . import graded as graded  # factuality, closedqa
from . import injection as injection  # prompt-injection heuristics (also an input guard)
from . import javascript as javascript  # javascript (QuickJS, the js extra)
from . import jsonfield as jsonfield  # registers json-field
from . import structured as structured  # contains-json, finish-reason
from . import tools as tools  # tool-call, is-valid-tool-call
from . import unconverted as unconverted  # an import's check that did not convert
from .base import (
    REGISTRY,
    AssertionConfigError,
    AssertionContext,
    AssertionResult,
    AssertionType,
    Checker,
    Judge,
    assertion,
)
from .config import config_problems, known_type
from .suite import CaseVerdict, evaluate_assertion, run_assertions

__all__ = [
    "REGISTRY",
    "AssertionConfigError",
    "AssertionContext",
    "AssertionResult",
    "AssertionSpec",
    "AssertionType",
    "CaseVerdict",
    "Checker",
    "Judge",
    "assertion",
    "config_problems",
    "evaluate_assertion",
    "known_type",
    "run_assertions",
]
