"""Prompt-injection heuristics, for the ``injection`` assertion and input guards.

Model-free and fast (one pass of a few compiled patterns over normalized text): it catches the
common phrasings of instruction override ("ignore all previous instructions"), requests to
reveal the system prompt, role hijacks ("you are now DAN", "developer mode") and forged chat
delimiters (``<|im_start|>``, ``[INST]``, a line starting ``system:``). It is a tripwire, not a
classifier: paraphrases and other languages get through. Its false-positive and detection
rates on the committed sample ``bench/data/injection-sample.jsonl`` are measured by
``tests/assertions/test_injection.py`` and quoted in the README.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from typing import Any

from promptops.spec import AssertionSpec

from .base import AssertionContext, AssertionResult, assertion

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
_TARGET = (
    r"(instructions?|prompts?|rules|directions|guidelines|directives|guardrails|"
    r"constraints|system messages?|programming|context)"
)


@cache
def _signals() -> dict[str, re.Pattern[str]]:
    return {
        "override": re.compile(
            r"\b(ignore|disregard|forget|override|bypass|neglect|discard)\b[^.\n]{0,40}?"
            r"\b(previous|prior|above|earlier|preceding|all|any|your|these|those|system|initial|original)\b"
            rf"[^.\n]{{0,30}}?\b{_TARGET}\b"
        ),
        "reveal": re.compile(
            r"\b(reveal|print|show|repeat|output|display|leak|dump|tell me|give me|what (is|are|were))\b"
            r"[^.\n]{0,30}?\b(system prompt|hidden prompt|initial prompt|original prompt|"
            r"your (hidden |secret |original |initial )?instructions|"
            r"the (hidden|secret|original|initial|system) (instructions|message)|"
            r"(the|your) prompt (above|you were given))"
        ),
        "role": re.compile(
            r"\byou are (now|no longer) (dan|in \w+ mode|free|unrestricted|jailbroken|unfiltered|"
            r"bound|restricted|an? (unrestricted|unfiltered|uncensored|evil))\b"
            r"|\b(developer|god|jailbreak|dan|sudo|admin) mode\b"
            r"|\bdo anything now\b"
            r"|\bact as (an? )?(unrestricted|unfiltered|uncensored|jailbroken)\b"
            r"|\b(without|with no) (any )?(restrictions|filters|limitations|censorship|guidelines|rules)\b"
            r"|\bpretend (that )?you (have no|are not bound|don't have|do not have) "
        ),
        "delimiter": re.compile(
            r"<\|?(im_start|im_end|system|endoftext|assistant)\|?>"
            r"|\[/?(inst|system|sys)\]|<</?sys>>|</?system>"
            r"|(^|\n)\s*(system|assistant)\s*:"
            r"|#{2,}\s*(new )?(instructions?|system)\b"
        ),
        "new-instructions": re.compile(
            r"\bnew (instructions|task|rules|directive)\s*:"
            r"|\bfrom now on,? (you|your) (will|must|should|are|answer|respond)\b"
        ),
    }


def normalize(text: str) -> str:
    """NFKC, zero-width characters removed, lower case, runs of spaces folded."""
    text = unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH).lower()
    return re.sub(r"[ \t\r\f\v]+", " ", text)


def find_injection(text: str) -> list[tuple[str, str]]:
    """(signal, matched text) for each signal found in ``text``."""
    norm = normalize(text)
    out = []
    for name, pattern in _signals().items():
        m = pattern.search(norm)
        if m is not None:
            out.append((name, m.group().strip()))
    return out


@assertion("injection", needs_value=False)
def injection(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """Output (or, as an input guard, an input) shows no prompt-injection signal (heuristic)."""
    found = find_injection(ctx.output)
    if not found:
        return AssertionResult(True, 1.0, "no injection signal")
    parts = [f"{name} ({text[:40]!r})" for name, text in found]
    return AssertionResult(False, 0.0, "injection signal: " + "; ".join(parts))
