"""Detection of personal data in model output, for the ``no-pii`` assertion.

Patterns are tuned against false positives: card numbers must pass the Luhn checksum, IBANs the
mod-97 check, and phone numbers need a ``+`` country code or the US ``(ddd) ddd-dddd`` shape,
so years, prices and short numbers are not flagged. Each finding is redacted before it is shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

KINDS = ("email", "iban", "card", "ssn", "phone")


@dataclass(frozen=True)
class Finding:
    kind: str
    redacted: str
    start: int = -1  # where it is in the text (what guards mask)
    end: int = -1


@cache
def _patterns() -> dict[str, re.Pattern[str]]:
    return {
        "email": re.compile(
            r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
        ),
        "iban": re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"),
        # maximal runs of digits with single space/dash separators
        "card": re.compile(r"(?<![\d-])\d(?:[ -]?\d)*(?![\d-])"),
        "ssn": re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])"),
        "phone_intl": re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,6}(?!\d)"),
        "phone_us": re.compile(
            r"(?<![\w+])(?:\([2-9]\d{2}\)[ .-]?|[2-9]\d{2}[ .-])\d{3}[ .-]\d{4}(?![\d-])"
        ),
    }


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of a string of digits (all zeros is rejected)."""
    if not digits.isdigit() or not digits.strip("0"):
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    """ISO 13616 check: length, shape and the mod-97 checksum (spaces ignored)."""
    s = text.replace(" ", "").upper()
    if not 15 <= len(s) <= 34 or not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]+", s):
        return False
    moved = s[4:] + s[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _last(text: str, n: int = 4) -> str:
    chars = [ch for ch in text if ch.isalnum()]
    return "***" + "".join(chars[-n:])


def _redact_email(text: str) -> str:
    local, _, domain = text.partition("@")
    tld = domain.rsplit(".", 1)[-1]
    return f"{local[:1]}***@***.{tld}"


def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def _card_candidates(run: str) -> list[str]:
    """The whole digit run, and its separate groups of 13-19 digits."""
    whole = _digits(run)
    out = [whole] if 13 <= len(whole) <= 19 else []
    parts = re.split(r"[ -]", run)
    if len(parts) > 1:
        out += [p for p in parts if 13 <= len(p) <= 19]
    return out


def find_pii(text: str, kinds: tuple[str, ...] = KINDS) -> list[Finding]:
    """Personal data found in ``text``, in the order of ``KINDS``; each match is counted once."""
    return [Finding(kind, shown, start, end) for kind, start, end, shown in pii_spans(text, kinds)]


def mask_pii(text: str, kinds: tuple[str, ...] = KINDS) -> tuple[str, list[str]]:
    """``text`` with every finding replaced by ``[KIND]`` (e.g. ``[email]``), and the kinds
    found; what ``capture`` stores instead of production inputs."""
    spans = sorted(pii_spans(text, kinds), key=lambda s: s[1])
    out, pos = [], 0
    for kind, start, end, _ in spans:
        if start < pos:  # overlapping finding: already masked
            continue
        out += [text[pos:start], f"[{kind}]"]
        pos = end
    out.append(text[pos:])
    return "".join(out), [s[0] for s in spans]


def pii_spans(text: str, kinds: tuple[str, ...] = KINDS) -> list[tuple[str, int, int, str]]:
    """``(kind, start, end, redacted)`` of each finding, in the order of ``KINDS``."""
    pats = _patterns()
    found: list[tuple[str, int, int, str]] = []
    work = text
    if "email" in kinds:
        for m in pats["email"].finditer(work):
            found.append(("email", m.start(), m.end(), _redact_email(m.group())))
            work = _blank(work, m.start(), m.end())
    if "iban" in kinds:
        for m in pats["iban"].finditer(work):
            tokens = m.group().split(" ")
            for k in range(len(tokens), 0, -1):
                candidate = " ".join(tokens[:k])
                if iban_valid(candidate):
                    end = m.start() + len(candidate)
                    found.append(("iban", m.start(), end, candidate[:2] + _last(candidate)))
                    work = _blank(work, m.start(), end)
                    break
    if "card" in kinds:
        for m in pats["card"].finditer(work):
            for candidate in _card_candidates(m.group()):
                if luhn_valid(candidate):
                    found.append(("card", m.start(), m.end(), _last(candidate)))
                    work = _blank(work, m.start(), m.end())
                    break
    if "ssn" in kinds:
        for m in pats["ssn"].finditer(work):
            found.append(("ssn", m.start(), m.end(), _last(m.group())))
            work = _blank(work, m.start(), m.end())
    if "phone" in kinds:
        for name in ("phone_intl", "phone_us"):
            for m in pats[name].finditer(work):
                if 8 <= len(_digits(m.group())) <= 15:
                    found.append(("phone", m.start(), m.end(), _last(m.group())))
                    work = _blank(work, m.start(), m.end())
    return found
