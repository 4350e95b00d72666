"""Word-level text comparison: ROUGE-L and verbatim-window leak detection.

Both work on lowercased ``\\w+`` tokens, so punctuation and spacing differences do not hide a
match. Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """Lowercased word tokens."""
    return _WORD.findall(text.casefold())


def lcs_length(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Length of the longest common subsequence, exact.

    Bit-parallel (Hyyrö 2004): one big-integer update per element of ``b`` instead of a
    len(a) x len(b) table, so long outputs stay fast in pure Python.
    """
    if not a or not b:
        return 0
    masks: dict[Hashable, int] = {}
    for i, tok in enumerate(a):
        masks[tok] = masks.get(tok, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for tok in b:
        u = v & masks.get(tok, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 of ``candidate`` against ``reference`` on lowercased word tokens."""
    c, r = words(candidate), words(reference)
    if not c and not r:
        return 1.0
    lcs = lcs_length(r, c)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(c), lcs / len(r)
    return 2 * precision * recall / (precision + recall)


def normalized(text: str) -> str:
    """Casefolded with runs of whitespace collapsed to one space."""
    return " ".join(text.casefold().split())


def leaked_window(secret: str, output: str, window: int = 8) -> str | None:
    """The first run of ``window`` consecutive words of ``secret`` that ``output`` repeats."""
    sw, ow = words(secret), words(output)
    if len(sw) < window or len(ow) < window:
        return None
    seen = {tuple(ow[i : i + window]) for i in range(len(ow) - window + 1)}
    for i in range(len(sw) - window + 1):
        gram = tuple(sw[i : i + window])
        if gram in seen:
            return " ".join(gram)
    return None
