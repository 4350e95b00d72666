"""What both HTML pages share: escaping and number formats, the embedded JSON, the page
shell with its inlined assets, and the case-table markup the script fills."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from datetime import datetime, timezone
from functools import lru_cache
from importlib.resources import files
from typing import Any

NA = "–"  # a missing value, in HTML
FIELD_CHARS = 4000  # longer inputs, outputs and expectations are cut in the embedded data


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _trunc(text: str | None, limit: int = FIELD_CHARS) -> str | None:
    if text is None:
        return None
    text = str(text)
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… ({len(text) - limit:,} more characters)"


def _pretty(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return _trunc(value)
    return _trunc(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _reasons(rec: dict[str, Any]) -> str:
    if rec.get("error"):
        return f"error: {rec['error']}"
    return "; ".join(
        f"{a.get('metric') or a.get('type')}: {a.get('error') or a.get('reason') or 'failed'}"
        for a in rec.get("assertions") or []
        if not a.get("pass")
    )


def _json_block(data: Any) -> str:
    """JSON safe inside <script>: no ``<`` at all, so no ``</script>`` or ``<!--``."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


@lru_cache(maxsize=1)
def _assets() -> tuple[str, str]:
    base = files("promptops.report").joinpath("assets")
    css = base.joinpath("report.css").read_text(encoding="utf-8")
    js = base.joinpath("report.js").read_text(encoding="utf-8")
    return css, js


_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)


def _page(title: str, header: str, body: str, data: dict[str, Any]) -> str:
    from .. import __version__

    css, js = _assets()
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        f"<title>{_e(title)}</title>\n<style>\n{css}</style>\n</head>\n<body>\n"
        f'{header}\n<main class="wrap">\n{body}\n</main>\n'
        f"<footer>promptops {_e(__version__)} · generated {now} · one self-contained file, "
        "no network</footer>\n"
        f'<script type="application/json" id="report-data">{_json_block(data)}</script>\n'
        f"<script>\n{js}</script>\n</body>\n</html>\n"
    )


def _badge(kind: str, text: str | None = None) -> str:
    return f'<span class="badge b-{_e(kind)}">{_e(text if text is not None else kind)}</span>'


def _meta_html(items: Sequence[tuple[str, Any]]) -> str:
    cells = "".join(
        f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in items if v not in (None, "")
    )
    return f'<dl class="meta">{cells}</dl>'


def _empty(text: str) -> str:
    return f'<div class="empty">{_e(text)}</div>'


def _cases_section(columns: Sequence[tuple[str, str, str | None]], hint: str) -> str:
    """The table shell the script fills: (header, width, sort key) per column."""
    head = "".join(
        f'<th style="width:{_e(w)}"'
        + (f' class="sortable" data-sort="{_e(s)}"' if s else "")
        + f">{_e(h)}"
        + ('<span class="arrow"></span>' if s else "")
        + "</th>"
        for h, w, s in columns
    )
    return (
        '<section id="cases"><h2>Cases</h2><div class="toolbar">'
        '<label class="search"><svg viewBox="0 0 24 24" aria-hidden="true"><circle cx="11" cy="11" r="7"/>'
        '<line x1="16.5" y1="16.5" x2="21" y2="21"/></svg>'
        f'<input id="q" type="search" placeholder="{_e(hint)}" autocomplete="off" '
        'aria-label="search cases"></label>'
        '<div class="seg" id="status-filter" role="group" aria-label="filter by status"></div>'
        '<select id="group-filter" aria-label="filter by group"><option value="">all groups</option></select>'
        '<span class="count" id="count"></span></div>'
        f'<div class="cases"><table id="cases-table"><thead><tr>{head}</tr></thead>'
        '<tbody id="rows"></tbody></table>'
        '<div class="pager"><button id="prev" type="button">← Prev</button><span id="page"></span>'
        '<button id="next" type="button">Next →</button></div></div></section>'
    )
