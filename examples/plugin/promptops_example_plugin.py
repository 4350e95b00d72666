"""An example promptops plugin: the ``max-sentences`` assertion type.

Importing this module registers the type; promptops imports it through the
``promptops.plugins`` entry point (when installed) or the ``plugins:`` list of promptops.yaml.
Use it in a prompt file or a dataset case::

    assert:
      - {type: max-sentences, value: 2}

``lint=`` gives ``promptops lint`` the type's own check of its parameters, next to the checker.
"""

from __future__ import annotations

import re
from typing import Any

from promptops.assertions import AssertionContext, AssertionResult, AssertionSpec, assertion

_SENTENCE_END = re.compile(r"[.!?]+(?:\s|$)")


def sentences(text: str) -> int:
    """Sentences in ``text``: runs of . ! or ? followed by a space or the end, at least 1."""
    text = text.strip()
    if not text:
        return 0
    return max(1, len(_SENTENCE_END.findall(text + " ")))


def lint_max_sentences(spec: AssertionSpec) -> list[str]:
    """The value must be a whole number of sentences, 1 or more."""
    v = spec.value
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        return [f"value must be a whole number of sentences, 1 or more, got {v!r}"]
    return []


@assertion("max-sentences", lint=lint_max_sentences)
def max_sentences(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """Output has at most this many sentences."""
    n, limit = sentences(ctx.output), int(value)
    ok = n <= limit
    why = f"{n} sentences ({'' if ok else 'not '}at most {limit})"
    return AssertionResult(ok, 1.0 if ok else 0.0, why)
