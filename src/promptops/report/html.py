"""Self-contained HTML reports: one run (``run_html``), or two runs compared (``diff_html``).

One file that opens offline: the CSS and JS in ``report/assets/`` are inlined, the charts are
inline SVG (``svg.py``), and the cases are embedded as JSON in a ``<script
type="application/json">`` block that a small vanilla script searches, filters (text, status,
group), sorts and pages (50 rows at a time, so 10,000 cases stay responsive). A
Content-Security-Policy meta tag forbids every network load. User text is escaped everywhere:
``html.escape`` in markup, ``<`` as ``\\u003c`` inside the JSON block, ``textContent`` in the
script. Word-level diffs of outputs are computed with difflib (``html_diff.py``).

This module holds the one-run page; the two-run page is in ``html_diff.py``, what both pages
share in ``_html_common.py``. Every public name of the three is importable from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..eval.summary import group_key
from ..stats import wilson_interval
from ..toolcalls import shown_output
from ._html_common import (
    FIELD_CHARS,
    NA,
    _badge,
    _cases_section,
    _e,
    _empty,
    _meta_html,
    _page,
    _pretty,
    _reasons,
    _trunc,
)
from .format import money, num, pct
from .html_diff import (
    DIFF_CASES,
    DIFF_TOKENS,
    EXAMPLES,
    Side,
    diff_fragment,
    diff_html,
    diff_rows,
    load_sides,
    word_diff,
)
from .svg import Bar, _strip, _ticks, forest, hbars, histogram

__all__ = [
    "DIFF_CASES",
    "DIFF_TOKENS",
    "EXAMPLES",
    "FIELD_CHARS",
    "Bar",
    "Side",
    "diff_fragment",
    "diff_html",
    "diff_rows",
    "forest",
    "hbars",
    "histogram",
    "load_sides",
    "run_html",
    "run_rows",
    "short_labels",
    "word_diff",
]


def _git(summary: dict[str, Any]) -> str | None:
    g = (summary.get("provenance") or {}).get("git") or {}
    if not g.get("commit"):
        return None
    return f"{g['commit'][:10]}{' (dirty)' if g.get('dirty') else ''}" + (
        f" on {g['branch']}" if g.get("branch") else ""
    )


def _run_header(summary: dict[str, Any], records: int) -> str:
    status = str(summary.get("status", "incomplete"))
    bar = summary.get("bar") or {}
    badges = _badge(status)
    if bar:
        badges += _badge("ok", "bar met") if bar.get("met") else _badge("missed", "bar missed")
    prov = summary.get("provenance") or {}
    datasets = ", ".join(f"{k} ({str(v)[7:19]})" for k, v in (prov.get("datasets") or {}).items())
    shard = (summary.get("options") or {}).get("shard")
    merged = summary.get("shards")
    items: list[tuple[str, Any]] = [
        ("started", summary.get("started")),
        ("wall", f"{summary['wall_s']:.1f}s" if summary.get("wall_s") is not None else None),
        ("records", records),
        ("dataset", datasets or None),
        ("git", _git(summary)),
        ("shard", f"{shard[0]}/{shard[1]}" if shard else None),
        (
            "merged shards",
            f"{len(merged['present'])}/{merged['n']}" if isinstance(merged, dict) else None,
        ),
        ("promptops", prov.get("promptops_version")),
    ]
    cmd = summary.get("command")
    return (
        '<header class="top"><div class="wrap">'
        '<div class="brand"><b>promptops</b> · eval run report</div>'
        f'<div class="title-row"><h1>{_e(summary.get("run_id", "run"))}</h1>{badges}</div>'
        f"{_meta_html(items)}"
        + (f'<div class="meta" style="margin-top:6px"><code>{_e(cmd)}</code></div>' if cmd else "")
        + '<nav class="tabs"><a href="#summary">Summary</a><a href="#charts">Charts</a>'
        '<a href="#cases">Cases</a></nav></div></header>'
    )


def _stat(label: str, value: str) -> str:
    return f'<div><dt>{_e(label)}</dt><dd title="{_e(value)}">{_e(value)}</dd></div>'


def _group_card(g: dict[str, Any], bar: dict[str, Any] | None) -> str:
    lo, hi = g["pass_rate_ci95"]
    lat = g["latency_ms"]
    need = bar["fail_under"] if bar else None
    verdict = ""
    if bar:
        verdict = (
            _badge("ok", f"met ≥ {need:.0%}")
            if bar["met"]
            else _badge("missed", f"below {need:.0%}")
        )
    cost = money(g["cost"], none=NA) + (
        f" (+{g['cost_unknown']} unpriced)" if g["cost_unknown"] else ""
    )
    stats = "".join(
        [
            _stat("passed", f"{g['passed']} / {g['n']}"),
            _stat("failed", str(g["failed"])),
            _stat("errors", str(g["errors"])),
            _stat("mean score", num(g["mean_score"], none=NA)),
            _stat(
                "p50 / p95 ms",
                f"{num(lat['p50'], '{:.0f}', none=NA)} / {num(lat['p95'], '{:.0f}', none=NA)}",
            ),
            _stat("p99 ms", num(lat["p99"], "{:.0f}", none=NA)),
            _stat("cost", cost),
            _stat("tokens in / out", f"{g['tokens_in']:,} / {g['tokens_out']:,}"),
            _stat("cached", str(g["cached"])),
        ]
    )
    return (
        '<article class="card">'
        f"<header><div><h3>{_e(g['prompt'])}@{_e(g['version'])}</h3>"
        f'<div class="sub">{_e(g["model"])}</div></div>{verdict}</header>'
        f'<div class="big">{pct(g["pass_rate"], none=NA)}<small>pass rate</small></div>'
        f'<div class="ci-line">95% CI {pct(lo, none=NA)} – {pct(hi, none=NA)} · {g["cases"]} cases</div>'
        f"{_strip(g['pass_rate'], lo, hi, need)}"
        f'<dl class="stats">{stats}</dl></article>'
    )


def _figure(title: str, note: str, content: str) -> str:
    return (
        f'<figure class="card"><figcaption>{_e(title)}<span>{_e(note)}</span></figcaption>'
        f"{content}</figure>"
    )


def short_labels(groups: Sequence[dict[str, Any]]) -> list[str]:
    """Group names for the table: the model alone when every group is the same version, the
    version alone when every group is the same model, else both."""
    versions = {f"{g['prompt']}@{g['version']}" for g in groups}
    models = {g["model"] for g in groups}
    out = []
    for g in groups:
        if len(versions) == 1:
            out.append(str(g["model"]))
        elif len(models) == 1:
            out.append(f"{g['prompt']}@{g['version']}")
        else:
            out.append(f"{g['prompt']}@{g['version']} · {g['model']}")
    return out


def _group_charts(g: dict[str, Any], records: list[dict[str, Any]]) -> str:
    scored = [r for r in records if not r.get("error")]
    passed = [float(r.get("score") or 0.0) for r in scored if r.get("pass")]
    failed = [float(r.get("score") or 0.0) for r in scored if not r.get("pass")]
    errors = len(records) - len(scored)
    score = (
        histogram(
            [("s-pass", passed), ("s-fail", failed)],
            0.0,
            1.0,
            10,
            xlabel="score (green: passed, red: failed)",
            label=f"score distribution of {group_key(g)}",
        )
        if scored
        else _empty("no scored records")
    )
    parts = [
        _figure(
            "Score distribution",
            f"{len(scored)} scored" + (f", {errors} errors" if errors else ""),
            score,
        )
    ]
    rows = []
    for name, a in g["assertions"].items():
        lo, hi = wilson_interval(a["passed"], a["n"])
        metric = g["metrics"].get(name)
        text = pct(a["pass_rate"], 0, none=NA) + (f" · {metric:.2f}" if metric is not None else "")
        rows.append(Bar(name, a["pass_rate"], lo, hi, text))
    parts.append(
        _figure(
            "Pass rate per assertion / metric",
            "95% CI · mean score",
            hbars(rows, label=f"pass rate per assertion of {group_key(g)}")
            if rows
            else _empty("no assertions"),
        )
    )
    lats = [
        float(r["latency_ms"])
        for r in scored
        if r.get("latency_ms") is not None and not r.get("cached")
    ]
    lat = g["latency_ms"]
    if lats:
        top = max(lats)
        hi = _ticks(0, top if top > 0 else 1.0, 5)[-1]
        marks = [(k, float(lat[k])) for k in ("p50", "p95", "p99") if lat.get(k) is not None]
        chart = histogram(
            [("bar", lats)],
            0.0,
            hi,
            20,
            markers=marks,
            xlabel="latency (ms), uncached calls",
            label=f"latency histogram of {group_key(g)}",
        )
        note = " · ".join(f"{k} {v:,.0f}" for k, v in marks)
    else:
        chart, note = _empty("no uncached calls"), ""
    parts.append(_figure("Latency", note, chart))
    costs = [float(r["cost"]) for r in scored if r.get("cost") is not None and not r.get("cached")]
    if costs and max(costs) > 0:
        scale, unit = (1e6, "µ$") if max(costs) < 0.01 else (1.0, "$")
        scaled = [c * scale for c in costs]
        hi = _ticks(0, max(scaled), 5)[-1]
        chart = histogram(
            [("bar", scaled)],
            0.0,
            hi,
            20,
            xlabel=f"cost per call ({unit})",
            label=f"cost histogram of {group_key(g)}",
        )
        note = f"total {money(g['cost'], none=NA)} · mean {money(sum(costs) / len(costs), none=NA)}"
    else:
        chart = _empty("no priced calls" if g["cost_unknown"] else "no cost: free or cached calls")
        note = f"total {money(g['cost'], none=NA)}"
    parts.append(_figure("Cost", note, chart))
    return '<div class="grid charts">' + "".join(parts) + "</div>"


def _overview(groups: list[dict[str, Any]], bars: dict[str, dict[str, Any]]) -> str:
    rows = []
    for g in groups:
        lo, hi = g["pass_rate_ci95"]
        b = bars.get(group_key(g))
        rows.append(
            Bar(
                f"{g['prompt']}@{g['version']} {g['model']}",
                g["pass_rate"],
                lo,
                hi,
                pct(g["pass_rate"], 0, none=NA),
                b["fail_under"] if b else None,
            )
        )
    costs = [
        Bar(f"{g['prompt']}@{g['version']} {g['model']}", None, text=money(g["cost"], none=NA))
        for g in groups
    ]
    top = max([g["cost"] for g in groups] + [0.0])
    for c, g in zip(costs, groups, strict=True):
        c.value = g["cost"] / top if top > 0 else 0.0
    return (
        '<div class="grid grid-2" style="margin-top:16px">'
        + _figure(
            "Pass rate by group",
            "95% CI · red tick: bar",
            hbars(rows, label="pass rate by group", w=600, left=270),
        )
        + _figure(
            "Cost by group",
            "total USD",
            hbars(
                costs,
                label="cost by group",
                w=600,
                left=270,
                tick=lambda t: money(t * top),  # a dollar axis: the bars are cost / top
            ),
        )
        + "</div>"
    )


def run_rows(records: Iterable[dict[str, Any]], groups: list[str]) -> list[dict[str, Any]]:
    """The embedded data of the case table (short keys: 10,000 rows stay a few MB)."""
    index = {g: i for i, g in enumerate(groups)}
    rows = []
    for r in records:
        key = group_key(r)
        if key not in index:
            index[key] = len(groups)
            groups.append(key)
        error = r.get("error")
        rows.append(
            {
                "id": str(r["case_id"]),
                "g": index[key],
                "r": int(r.get("repeat") or 0),
                "st": "error" if error else ("pass" if r.get("pass") else "fail"),
                "sc": None if error else float(r.get("score") or 0.0),
                "out": _trunc(shown_output(r)),
                "vars": _pretty(r.get("vars") or {}),
                "exp": _pretty(r.get("expected")),
                "err": _trunc(error),
                "ek": r.get("error_kind"),
                "ae": _trunc(r.get("assert_error")),
                "why": _trunc(_reasons(r), 600),
                "as": [
                    [
                        str(a.get("metric") or a.get("type")),
                        bool(a.get("pass")),
                        a.get("score"),
                        _trunc(a.get("error") or a.get("reason"), 600),
                    ]
                    for a in r.get("assertions") or []
                ],
                "lat": r.get("latency_ms"),
                "ti": r.get("tokens_in"),
                "to": r.get("tokens_out"),
                "cost": r.get("cost"),
                "cached": bool(r.get("cached")),
                "fr": r.get("finish_reason"),
                "ab": r.get("answered_by"),
                "tid": r.get("trace_id"),
            }
        )
    return rows


def run_html(summary: dict[str, Any], records: Iterable[dict[str, Any]]) -> str:
    """The report of one run: summary per (version, model), charts, the case table."""
    records = list(records)
    groups = summary.get("groups") or []
    labels = [group_key(g) for g in groups]
    rows = run_rows(records, labels)
    names = short_labels(groups) + labels[len(groups) :]
    bars = {b["group"]: b for b in (summary.get("bar") or {}).get("groups", [])}
    by_group: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_group.setdefault(group_key(r), []).append(r)
    cards = "".join(_group_card(g, bars.get(group_key(g))) for g in groups)
    body = [f'<section id="summary"><h2>Summary</h2><div class="grid">{cards}</div>']
    if len(groups) > 1:
        body.append(_overview(groups, bars))
    body.append('</section><section id="charts"><h2>Charts</h2>')
    for g in groups:
        if len(groups) > 1:
            body.append(
                f'<h3 class="group-title">{_e(g["prompt"])}@{_e(g["version"])}'
                f"<span>{_e(g['model'])}</span></h3>"
            )
        body.append(_group_charts(g, by_group.get(group_key(g), [])))
    if not groups:
        body.append(_empty("no records in this run"))
    body.append("</section>")
    multi = len(labels) > 1
    cols: list[tuple[str, str, str | None]] = [("case", "16%", "id")]
    if multi:
        cols.append(("group", "14%", None))
    cols += [("status", "86px", "worst"), ("score", "110px", "score"), ("output", "38%", None)]
    cols.append(("why it failed", "auto", None))
    body.append(_cases_section(cols, "Search id, inputs, output, expected, reasons…   ( / )"))
    data = {"kind": "run", "groups": names, "rows": rows}
    title = f"promptops · {summary.get('run_id', 'run')}"
    return _page(title, _run_header(summary, len(records)), "".join(body), data)
