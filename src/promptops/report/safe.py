"""Text from model outputs, datasets and changelogs is data: neutralize it for each medium.

- terminal: control characters (ESC, C1, BEL...) are shown as ``\\x1b``, never sent;
- XML: characters XML 1.0 forbids (NUL, most C0) are shown as ``\\x00``;
- Markdown (PR comments): raw HTML, images, links, autolinked URLs and ``@mentions`` are
  inert text; a code block's fence is longer than any backtick run inside it;
- CSV: a cell starting with ``=``, ``+``, ``-``, ``@`` (or tab/CR) is prefixed with ``'`` so a
  spreadsheet shows it instead of evaluating it (OWASP's CSV-injection advice).
"""

from __future__ import annotations

import re
from typing import Any

_TERMINAL_BAD = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_XML_BAD = re.compile(r"[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _hex(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def terminal_safe(text: str) -> str:
    """Control characters (except tab and newline) as visible ``\\xNN`` escapes."""
    return _TERMINAL_BAD.sub(_hex, text)


def xml_safe(text: str) -> str:
    """Characters XML 1.0 cannot carry (NUL, C0 controls, lone surrogates) as escapes."""
    return _XML_BAD.sub(_hex, text)


_MD_SPECIAL = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        "[": "\\[",
        "]": "\\]",
        "`": "\\`",
        "|": "\\|",
        "\n": " ",
        "\r": " ",
    }
)
_MENTION = re.compile(r"@(?=[A-Za-z0-9])")
_URL = re.compile(r"(?i)\b(https?|ftp|file|mailto|javascript|data)(:/*)|\bwww\.")


def md_text(value: Any) -> str:
    """Inline Markdown text (a table cell, a list item) that renders as the literal text."""
    text = terminal_safe(str(value)).translate(_MD_SPECIAL)
    text = _URL.sub(lambda m: (m.group(1) or "www") + "\u200b" + (m.group(2) or "."), text)
    return _MENTION.sub("@\u200b", text)


def md_fence(lines: list[str], info: str = "") -> list[str]:
    """A fenced code block that its content cannot close (raw text stays raw in a fence)."""
    longest = max((len(r) for line in lines for r in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + info, *(terminal_safe(line) for line in lines), fence]


def md_code(value: Any) -> str:
    """An inline code span its content cannot end."""
    text = terminal_safe(str(value)).replace("\n", " ")
    longest = max((len(r) for r in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def csv_cell(value: Any) -> Any:
    """A string cell a spreadsheet would run as a formula gets a leading ``'``; a NUL byte,
    which spreadsheets cut a cell at and Python 3.10's csv writer cannot write, is shown as
    ``\u2400`` (the symbol for NUL).  JSONL and parquet keep text exact."""
    if not isinstance(value, str):
        return value
    value = value.replace("\x00", "\u2400")
    if value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
