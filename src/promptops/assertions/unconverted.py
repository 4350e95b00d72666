"""``unconverted``: the place of a check an import could not convert. It always fails, with
the reason (``not converted: ...``), so an imported suite is never silently weaker than the
original; ``promptops import ... --drop-unconverted`` leaves such checks out instead.

    - {type: unconverted, value: "promptfooconfig.yaml:12: tests[0].assert[1]: assertion type 'webhook' has no promptops equivalent"}
"""

from __future__ import annotations

from typing import Any

from promptops.spec import AssertionSpec

from .base import AssertionContext, AssertionResult, assertion


@assertion("unconverted")
def unconverted(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """A check an import could not convert: it fails, saying what it was."""
    return AssertionResult(False, 0.0, f"not converted: {value}")
