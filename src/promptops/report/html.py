"""Self-contained HTML reports: one run (``run_html``), or two runs compared (``diff_html``).

One file that opens offline: the CSS and JS in ``report/assets/`` are inlined, the charts are
inline SVG drawn here, and the cases are embedded as JSON in a ``<script
type="application/json">`` block that a small vanilla script searches, filters (text, status,
group), sorts and pages (50 rows at a time, so 10,000 cases stay responsive). A
Content-Security-Policy meta tag forbids every network load. User text is escaped everywhere:
``html.escape`` in markup, ``<`` as ``\\u003c`` inside the JSON block, ``textContent`` in the
script. Word-level diffs of outputs are computed here with difflib.
"""

from __future__ import annotations

import difflib
import html
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from ..results import group_key
from ..stats import wilson_interval

if TYPE_CHECKING:
    from ..compare import Comparison, DiffResult, FileDiff
    from ..project import Project

FIELD_CHARS = 4000  # longer inputs, outputs and expectations are cut in the embedded data
EXAMPLES = 25  # regressed / improved cases shown side by side (all are in the table)
DIFF_TOKENS = 3000  # words per side fed to difflib
DIFF_CASES = 3000  # cases whose outputs get a word diff in the table (regressed/improved first)


# -------------------------------------------------------------------------------- helpers


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}%"


def _num(x: float | None, fmt: str = "{:.3f}") -> str:
    return "–" if x is None else fmt.format(x)


def _money(x: float | None) -> str:
    if x is None:
        return "–"
    if x == 0:
        return "$0"
    return f"${x:.4f}" if x >= 0.01 else f"${x:.6f}"


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


# ---------------------------------------------------------------------------------- SVG


def _ticks(lo: float, hi: float, count: int = 4, integer: bool = False) -> list[float]:
    """Round tick values covering [lo, hi]."""
    span = hi - lo
    if span <= 0:
        span = abs(hi) or 1.0
    raw = span / count
    step = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= step * m + 1e-12:
            step *= m
            break
    if integer:
        step = max(1.0, round(step))
    start = math.floor(lo / step + 1e-9) * step
    out: list[float] = []
    v = start
    while v < hi - 1e-9 * step or not out:
        out.append(round(v, 10))
        v += step
    out.append(round(v, 10))
    return out


def _tick(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v / 1000:g}k"
    return f"{v:g}"


def _svg(w: int, h: int, body: Sequence[str], label: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{_e(label)}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(body)}</svg>'
    )


def histogram(
    series: Sequence[tuple[str, Sequence[float]]],
    lo: float,
    hi: float,
    bins: int,
    *,
    markers: Sequence[tuple[str, float]] = (),
    xlabel: str = "",
    label: str = "histogram",
    xfmt: Any = _tick,
) -> str:
    """Stacked histogram of one or more series (css class, values) with labelled markers."""
    w, h, left, right, bottom = 360, 200, 36, 12, 34
    if hi <= lo:
        hi = lo + 1.0
    counts = [[0] * bins for _ in series]
    for si, (_, values) in enumerate(series):
        for v in values:
            i = min(bins - 1, max(0, int((v - lo) / (hi - lo) * bins)))
            counts[si][i] += 1
    totals = [sum(c[i] for c in counts) for i in range(bins)]
    yt = _ticks(0, max([*totals, 1]), 4, integer=True)
    ymax = yt[-1]
    # marker labels on rows, so close markers don't overlap
    placed: list[tuple[str, float, int]] = []
    for name, v in sorted(markers, key=lambda m: m[1]):
        x = left + (min(max(v, lo), hi) - lo) / (hi - lo) * (w - left - right)
        row = 0
        while any(r == row and abs(x - px) < 44 for _, px, r in placed):
            row += 1
        placed.append((name, x, row))
    top = 14 + 12 * (max([r for _, _, r in placed] or [-1]) + 1)
    ph = h - top - bottom
    pw = w - left - right

    def y(c: float) -> float:
        return top + ph - c / ymax * ph

    body: list[str] = []
    for t in yt:
        body.append(
            f'<line class="gridline" x1="{left}" x2="{w - right}" y1="{y(t):.1f}" y2="{y(t):.1f}"/>'
        )
        body.append(
            f'<text x="{left - 6}" y="{y(t) + 3.5:.1f}" text-anchor="end">{_tick(t)}</text>'
        )
    bw = pw / bins
    for i in range(bins):
        base = 0
        a, b = lo + (hi - lo) * i / bins, lo + (hi - lo) * (i + 1) / bins
        for si, (cls, _) in enumerate(series):
            c = counts[si][i]
            if not c:
                continue
            x0 = left + i * bw + 1
            body.append(
                f'<rect class="{_e(cls)}" x="{x0:.1f}" y="{y(base + c):.1f}" '
                f'width="{max(bw - 2, 1):.1f}" height="{y(base) - y(base + c):.1f}" rx="1.5">'
                f"<title>{_e(xfmt(a))}–{_e(xfmt(b))}: {c}</title></rect>"
            )
            base += c
    body.append(
        f'<line class="axis" x1="{left}" x2="{w - right}" y1="{top + ph}" y2="{top + ph}"/>'
    )
    for t in _ticks(lo, hi, 5):
        if t < lo - 1e-9 or t > hi + 1e-9:
            continue
        x = left + (t - lo) / (hi - lo) * pw
        body.append(
            f'<text x="{x:.1f}" y="{top + ph + 14}" text-anchor="middle">{_e(xfmt(t))}</text>'
        )
    for name, x, row in placed:
        body.append(
            f'<line class="marker" x1="{x:.1f}" x2="{x:.1f}" y1="{top - 2}" y2="{top + ph}"/>'
        )
        body.append(
            f'<text class="mk" x="{x:.1f}" y="{10 + 12 * row}" text-anchor="middle">{_e(name)}</text>'
        )
    if xlabel:
        body.append(
            f'<text x="{left + pw / 2:.1f}" y="{h - 4}" text-anchor="middle">{_e(xlabel)}</text>'
        )
    return _svg(w, h, body, label)


@dataclass
class Bar:
    """One row of a horizontal bar chart: a rate with its interval and an optional bar."""

    label: str
    value: float | None
    low: float | None = None
    high: float | None = None
    text: str = ""
    target: float | None = None


def hbars(rows: Sequence[Bar], *, label: str = "bar chart", w: int = 360, left: int = 128) -> str:
    """Horizontal 0..1 bars with interval whiskers and a red tick at each row's target."""
    right, rh, top = 64, 26, 6
    chars = max(8, (left - 10) // 6)
    h = top + rh * len(rows) + 22
    pw = w - left - right

    def x(v: float) -> float:
        return left + max(0.0, min(1.0, v)) * pw

    body: list[str] = []
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        body.append(
            f'<line class="gridline" x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top}" y2="{h - 20}"/>'
        )
        body.append(f'<text x="{x(t):.1f}" y="{h - 6}" text-anchor="middle">{t:.0%}</text>')
    for i, r in enumerate(rows):
        cy = top + i * rh + rh / 2
        name = r.label if len(r.label) <= chars else r.label[: chars - 1] + "…"
        body.append(
            f'<text class="lbl" x="{left - 8}" y="{cy + 4:.1f}" text-anchor="end">'
            f"<title>{_e(r.label)}</title>{_e(name)}</text>"
        )
        body.append(
            f'<rect class="track" x="{left}" y="{cy - 6:.1f}" width="{pw}" height="12" rx="3"/>'
        )
        if r.value is not None:
            body.append(
                f'<rect class="bar" x="{left}" y="{cy - 6:.1f}" width="{x(r.value) - left:.1f}" '
                f'height="12" rx="3"><title>{_e(r.label)}: {_e(r.text)}</title></rect>'
            )
        if r.low is not None and r.high is not None:
            body.append(
                f'<line class="whisker" x1="{x(r.low):.1f}" x2="{x(r.high):.1f}" y1="{cy:.1f}" y2="{cy:.1f}"/>'
                f'<line class="whisker" x1="{x(r.low):.1f}" x2="{x(r.low):.1f}" y1="{cy - 4:.1f}" y2="{cy + 4:.1f}"/>'
                f'<line class="whisker" x1="{x(r.high):.1f}" x2="{x(r.high):.1f}" y1="{cy - 4:.1f}" y2="{cy + 4:.1f}"/>'
            )
        if r.target is not None:
            body.append(
                f'<line class="marker-bar" x1="{x(r.target):.1f}" x2="{x(r.target):.1f}" '
                f'y1="{cy - 9:.1f}" y2="{cy + 9:.1f}"><title>bar {r.target:.0%}</title></line>'
            )
        body.append(f'<text class="lbl" x="{w - right + 8}" y="{cy + 4:.1f}">{_e(r.text)}</text>')
    return _svg(w, h, body, label)


def forest(
    rows: Sequence[tuple[str, float, float, float, str]], margin: float, *, label: str
) -> str:
    """Differences with intervals (label, estimate, low, high, css class) around zero, with
    the -margin line: what the verdict is judged on."""
    w, left, right, rh, top = 560, 130, 20, 28, 22
    h = top + rh * len(rows) + 26
    m = max([abs(v) for r in rows for v in r[1:4]] + [margin, 0.01]) * 1.15
    ticks = _ticks(-m, m, 6)
    lo, hi = ticks[0], ticks[-1]
    pw = w - left - right

    def x(v: float) -> float:
        return left + (v - lo) / (hi - lo) * pw

    body: list[str] = []
    for t in ticks:
        body.append(
            f'<line class="gridline" x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top}" y2="{h - 22}"/>'
        )
        tick = "0" if abs(t) < 1e-12 else f"{t:+g}".replace("-", "−")
        body.append(f'<text x="{x(t):.1f}" y="{h - 8}" text-anchor="middle">{tick}</text>')
    body.append(f'<line class="zero" x1="{x(0):.1f}" x2="{x(0):.1f}" y1="{top}" y2="{h - 22}"/>')
    if margin > 0:
        body.append(
            f'<line class="margin" x1="{x(-margin):.1f}" x2="{x(-margin):.1f}" y1="{top}" '
            f'y2="{h - 22}"><title>−margin {margin:g}</title></line>'
            f'<text class="mk" x="{x(-margin):.1f}" y="12" text-anchor="end">−margin</text>'
        )
    body.append(f'<text class="mk" x="{x(0) + 4:.1f}" y="12">B better →</text>')
    for i, (name, est, low, high, cls) in enumerate(rows):
        cy = top + i * rh + rh / 2
        short = name if len(name) <= 20 else name[:19] + "…"
        body.append(
            f'<text class="lbl" x="{left - 10}" y="{cy + 4:.1f}" text-anchor="end">'
            f"<title>{_e(name)}</title>{_e(short)}</text>"
            f'<line class="whisker" x1="{x(low):.1f}" x2="{x(high):.1f}" y1="{cy:.1f}" y2="{cy:.1f}"/>'
            f'<line class="whisker" x1="{x(low):.1f}" x2="{x(low):.1f}" y1="{cy - 5:.1f}" y2="{cy + 5:.1f}"/>'
            f'<line class="whisker" x1="{x(high):.1f}" x2="{x(high):.1f}" y1="{cy - 5:.1f}" y2="{cy + 5:.1f}"/>'
            f'<circle class="dot-{_e(cls)}" cx="{x(est):.1f}" cy="{cy:.1f}" r="5">'
            f"<title>{_e(name)}: {est:+.3f} [{low:+.3f}, {high:+.3f}]</title></circle>"
        )
    return _svg(w, h, body, label)


# ------------------------------------------------------------------------------- one run


def _meta_html(items: Sequence[tuple[str, Any]]) -> str:
    cells = "".join(
        f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in items if v not in (None, "")
    )
    return f'<dl class="meta">{cells}</dl>'


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


def _strip(rate: float | None, low: float, high: float, target: float | None) -> str:
    w, h = 300, 18

    def x(v: float) -> float:
        return 4 + max(0.0, min(1.0, v)) * (w - 8)

    body = [
        f'<rect class="track" x="4" y="6" width="{w - 8}" height="6" rx="3"/>',
        f'<rect class="range" x="{x(low):.1f}" y="3" width="{max(x(high) - x(low), 2):.1f}" height="12" rx="3"/>',
    ]
    if target is not None:
        body.append(
            f'<line class="marker-bar" x1="{x(target):.1f}" x2="{x(target):.1f}" y1="1" y2="17">'
            f"<title>bar {target:.0%}</title></line>"
        )
    if rate is not None:
        body.append(f'<circle class="dot" cx="{x(rate):.1f}" cy="9" r="4"/>')
    return _svg(w, h, body, "pass rate with its 95% interval")


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
    cost = _money(g["cost"]) + (f" (+{g['cost_unknown']} unpriced)" if g["cost_unknown"] else "")
    stats = "".join(
        [
            _stat("passed", f"{g['passed']} / {g['n']}"),
            _stat("failed", str(g["failed"])),
            _stat("errors", str(g["errors"])),
            _stat("mean score", _num(g["mean_score"])),
            _stat("p50 / p95 ms", f"{_num(lat['p50'], '{:.0f}')} / {_num(lat['p95'], '{:.0f}')}"),
            _stat("p99 ms", _num(lat["p99"], "{:.0f}")),
            _stat("cost", cost),
            _stat("tokens in / out", f"{g['tokens_in']:,} / {g['tokens_out']:,}"),
            _stat("cached", str(g["cached"])),
        ]
    )
    return (
        '<article class="card">'
        f"<header><div><h3>{_e(g['prompt'])}@{_e(g['version'])}</h3>"
        f'<div class="sub">{_e(g["model"])}</div></div>{verdict}</header>'
        f'<div class="big">{_pct(g["pass_rate"])}<small>pass rate</small></div>'
        f'<div class="ci-line">95% CI {_pct(lo)} – {_pct(hi)} · {g["cases"]} cases</div>'
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


def _empty(text: str) -> str:
    return f'<div class="empty">{_e(text)}</div>'


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
        text = _pct(a["pass_rate"], 0) + (f" · {metric:.2f}" if metric is not None else "")
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
        note = f"total {_money(g['cost'])} · mean {_money(sum(costs) / len(costs))}"
    else:
        chart = _empty("no priced calls" if g["cost_unknown"] else "no cost: free or cached calls")
        note = f"total {_money(g['cost'])}"
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
                _pct(g["pass_rate"], 0),
                b["fail_under"] if b else None,
            )
        )
    costs = [
        Bar(f"{g['prompt']}@{g['version']} {g['model']}", None, text=_money(g["cost"]))
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
            "Cost by group", "total USD", hbars(costs, label="cost by group", w=600, left=270)
        )
        + "</div>"
    )


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
                "out": _trunc(r.get("output")),
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


# ------------------------------------------------------------------------------ two runs


_TOKEN = re.compile(r"\w+|\s+|[^\w\s]+")


def word_diff(a: str, b: str) -> list[tuple[int, str]]:
    """Word-level diff: (0 both, -1 only in a, 1 only in b, text) runs; whitespace is kept."""
    ta, tb = _TOKEN.findall(a), _TOKEN.findall(b)
    tail_a = "".join(ta[DIFF_TOKENS:])
    tail_b = "".join(tb[DIFF_TOKENS:])
    ta, tb = ta[:DIFF_TOKENS], tb[:DIFF_TOKENS]
    ops: list[tuple[int, str]] = []

    def add(op: int, text: str) -> None:
        if not text:
            return
        if ops and ops[-1][0] == op:
            ops[-1] = (op, ops[-1][1] + text)
        else:
            ops.append((op, text))

    sm = difflib.SequenceMatcher(None, ta, tb, autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            add(0, "".join(ta[i1:i2]))
        else:
            add(-1, "".join(ta[i1:i2]))
            add(1, "".join(tb[j1:j2]))
    if tail_a == tail_b:
        add(0, tail_a)
    else:
        add(-1, tail_a)
        add(1, tail_b)
    return ops


def diff_fragment(ops: Sequence[tuple[int, str]], side: int) -> str:
    """One side of a word diff as HTML: A with <del>, B with <ins>."""
    out = []
    for op, text in ops:
        if op == 0:
            out.append(_e(text))
        elif op == side:
            tag = "del" if side < 0 else "ins"
            out.append(f"<{tag}>{_e(text)}</{tag}>")
    return "".join(out)


@dataclass
class Side:
    """One side of a comparison: its label, run summary and records."""

    label: str
    summary: dict[str, Any]
    records: list[dict[str, Any]]


def load_sides(project: Project, result: DiffResult) -> tuple[Side, Side]:
    """The records behind a ``compare_runs`` result (one run holding two versions is split
    by digest, in the order compare_runs used)."""
    from ..results import find_run

    runs = [find_run(project.runs_dir, rid) for rid in result.run_ids]
    if len(runs) == 1:
        recs = list(runs[0].records())
        digests = list(dict.fromkeys(r["digest"] for r in recs))
        summary = runs[0].summary()
        return (
            Side(result.label_a, summary, [r for r in recs if r["digest"] == digests[0]]),
            Side(result.label_b, summary, [r for r in recs if r["digest"] == digests[-1]]),
        )
    a, b = runs
    return (
        Side(result.label_a, a.summary(), list(a.records())),
        Side(result.label_b, b.summary(), list(b.records())),
    )


@dataclass
class _Case:
    score: float | None
    passed: float | None
    output: str | None
    why: str


def _case_sides(records: list[dict[str, Any]]) -> dict[tuple[str, str], _Case]:
    """(model, case id) -> mean score, share passed, first output, failing reasons."""
    acc: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        acc.setdefault((r["model"], str(r["case_id"])), []).append(r)
    out = {}
    for k, recs in acc.items():
        recs.sort(key=lambda r: int(r.get("repeat") or 0))
        usable = [r for r in recs if not r.get("error") or r.get("error_kind") == "render"]
        first = (usable or recs)[0]
        scores = [0.0 if r.get("error") else float(r.get("score") or 0.0) for r in usable]
        passes = [1.0 if r.get("pass") and not r.get("error") else 0.0 for r in usable]
        out[k] = _Case(
            sum(scores) / len(scores) if scores else None,
            sum(passes) / len(passes) if passes else None,
            first.get("output"),
            _reasons(first),
        )
    return out


def _status(c: Comparison, cid: str, a: _Case | None, b: _Case | None) -> str:
    for name, ids in (
        ("regressed", c.regressed),
        ("improved", c.improved),
        ("errored", c.errored),
        ("unscored", c.unscored),
        ("only-a", c.only_a),
        ("only-b", c.only_b),
    ):
        if cid in ids:
            return name
    if a and b and (a.passed or 0) >= 0.5 and (b.passed or 0) >= 0.5:
        return "same-pass"
    return "same-fail"


def _side_json(s: _Case | None, with_output: bool) -> dict[str, Any] | None:
    if s is None:
        return None
    return {
        "sc": s.score,
        "p": s.passed,
        "out": _trunc(s.output) if with_output else None,
        "why": _trunc(s.why, 600),
    }


def _verdict_class(low: float, high: float, margin: float) -> str:
    if high < 0:
        return "bad"
    return "ok" if low > -margin else "warn"


def _comparison_card(c: Comparison) -> str:
    from .diff import verdict_text

    level = f"{100 * (1 - c.alpha):g}%"
    rows = []
    if c.diff is not None and c.ci_low is not None and c.ci_high is not None:
        rows.append(
            (
                f"{c.metric} (gate)",
                c.diff,
                c.ci_low,
                c.ci_high,
                _verdict_class(c.ci_low, c.ci_high, c.margin),
            )
        )
    rows += [
        (m.metric, m.diff, m.ci_low, m.ci_high, _verdict_class(m.ci_low, m.ci_high, c.margin))
        for m in c.secondary
    ]
    table = [
        f'<tr><th>metric</th><th class="num">A</th><th class="num">B</th>'
        f'<th class="num">B − A</th><th class="num">{level} CI</th></tr>',
        f'<tr><td><b>{_e(c.metric)}</b> (gate)</td><td class="num">{_num(c.mean_a)}</td>'
        f'<td class="num">{_num(c.mean_b)}</td><td class="num">{_num(c.diff, "{:+.3f}")}</td>'
        f'<td class="num">{_ci(c.ci_low, c.ci_high)}</td></tr>',
    ]
    for m in c.secondary:
        table.append(
            f'<tr><td>{_e(m.metric)}</td><td class="num">{_num(m.mean_a)}</td>'
            f'<td class="num">{_num(m.mean_b)}</td><td class="num">{m.diff:+.3f}</td>'
            f'<td class="num">{_ci(m.ci_low, m.ci_high)}</td></tr>'
        )
    mc = c.mcnemar
    usage = []
    for name, d, fmt in (
        ("latency", c.latency_ms, "{:.0f} ms"),
        ("tokens out", c.tokens_out, "{:.1f}"),
        ("cost/call", c.cost, "${:.6f}"),
    ):
        if d.a or d.b:
            usage.append(f"{name} {_num(d.a, fmt)} → {_num(d.b, fmt)}")
    left = [
        f"{label}: {len(ids)}"
        for label, ids in (
            ("only in A", c.only_a),
            ("only in B", c.only_b),
            ("provider errors", c.errored),
            (f"no {c.metric}", c.unscored),
        )
        if ids
    ]
    chart = (
        forest(rows, c.margin, label=f"differences B − A with {level} intervals")
        if rows
        else _empty("nothing paired")
    )
    return (
        '<article class="card" style="margin-bottom:16px">'
        f'<header><div><h3>{_e(c.model)}</h3><div class="sub">{c.n_paired} paired cases'
        + (f", {c.repeats} samples per case averaged" if c.repeats > 1 else "")
        + f" · margin {c.margin:g} · bootstrap {c.n_boot}, seed {c.seed}</div></div>"
        f"{_badge(c.verdict)}</header>"
        f'<div class="verdict"><b>{_e(verdict_text(c))}</b></div>'
        f'<div class="cmp"><div class="scroll"><table class="tbl">{"".join(table)}</table></div>'
        f"<figure>{chart}</figure></div>"
        f'<div class="kv" style="margin-top:10px"><span>McNemar <b>{mc.b} regressed, {mc.c} '
        f"improved, one-sided p = {mc.p:.3g}</b></span>"
        + "".join(f"<span>{_e(u)}</span>" for u in usage + left)
        + "</div></article>"
    )


def _ci(low: float | None, high: float | None) -> str:
    return "–" if low is None or high is None else f"[{low:+.3f}, {high:+.3f}]"


def _examples(
    title: str,
    kind: str,
    ids: list[str],
    model: str,
    sides: tuple[dict[tuple[str, str], _Case], dict[tuple[str, str], _Case]],
    labels: tuple[str, str],
) -> str:
    if not ids:
        return ""
    blocks = []
    for cid in ids[:EXAMPLES]:
        a, b = sides[0].get((model, cid)), sides[1].get((model, cid))
        ops = word_diff(str((a.output if a else "") or ""), str((b.output if b else "") or ""))
        panes = []
        for side, case, label in ((-1, a, labels[0]), (1, b, labels[1])):
            why = f'<div class="why">{_e(case.why)}</div>' if case and case.why else ""
            score = f" · score {_num(case.score, '{:.2f}')}" if case else ""
            panes.append(
                f'<div class="pane"><h4>{"A" if side < 0 else "B"} · <span class="nc">{_e(label)}</span>{score}</h4>'
                f"<pre>{diff_fragment(ops, side)}</pre>{why}</div>"
            )
        blocks.append(
            f'<div class="example"><header><code>{_e(cid)}</code>{_badge(kind)}</header>'
            f'<div class="pair">{"".join(panes)}</div></div>'
        )
    more = ""
    if len(ids) > EXAMPLES:
        more = (
            f'<div class="muted">… {len(ids) - EXAMPLES} more: <a href="#cases" '
            f'data-filter-status="{_e(kind)}">show all {len(ids)} in the table</a></div>'
        )
    return (
        f'<article class="card" style="margin-bottom:16px"><header><h3>{_e(title)}: {len(ids)}</h3>'
        f'<span class="sub">{_e(model)} · word-level diff of outputs (first sample)</span></header>'
        f"{''.join(blocks)}{more}</article>"
    )


def _changes_html(ch: FileDiff) -> str:
    items = []
    if ch.changelog:
        items.append(f"<li>changelog: {_e(ch.changelog.strip())}</li>")
    if ch.model:
        items.append(
            f"<li>model: <code>{_e(ch.model[0])}</code> → <code>{_e(ch.model[1])}</code></li>"
        )
    items += [
        f"<li>params.{_e(k)}: <code>{_e(a)}</code> → <code>{_e(b)}</code></li>"
        for k, (a, b) in ch.params.items()
    ]
    items += [f"<li>removed assertion <code>{_e(t)}</code></li>" for t in ch.assertions_removed]
    items += [f"<li>added assertion <code>{_e(t)}</code></li>" for t in ch.assertions_added]
    lines = []
    for line in ch.template:
        cls = {"+": "a", "-": "d", "@": "h"}.get(line[:1], "")
        if line.startswith(("+++", "---")):
            cls = "h"
        lines.append(f'<span class="{cls}">{_e(line)}</span>' if cls else _e(line))
    udiff = f'<pre class="udiff">{chr(10).join(lines)}</pre>' if lines else ""
    listing = f"<ul>{''.join(items)}</ul>" if items else ""
    if not (listing or udiff):
        listing = '<div class="muted">no change beyond the version</div>'
    return f'<article class="card"><header><h3>What changed in the prompt file</h3></header>{listing}{udiff}</article>'


def _sides_table(a: Side, b: Side) -> str:
    rows = []
    for tag, side in (("A", a), ("B", b)):
        digests = {r["digest"] for r in side.records}
        for g in side.summary.get("groups") or []:
            if digests and g["digest"] not in digests:
                continue
            lo, hi = g["pass_rate_ci95"]
            rows.append(
                f"<tr><td>{tag}</td><td>{_e(g['prompt'])}@{_e(g['version'])}</td><td>{_e(g['model'])}</td>"
                f'<td class="num">{g["passed"]}/{g["n"]} ({_pct(g["pass_rate"])})</td>'
                f'<td class="num">{_pct(lo)} – {_pct(hi)}</td>'
                f'<td class="num">{_num(g["mean_score"])}</td><td class="num">{g["errors"]}</td>'
                f'<td class="num">{_num(g["latency_ms"]["p95"], "{:.0f}")}</td>'
                f'<td class="num">{_money(g["cost"])}</td></tr>'
            )
    head = (
        '<tr><th></th><th>version</th><th>model</th><th class="num">pass</th>'
        '<th class="num">95% CI</th><th class="num">score</th><th class="num">errors</th>'
        '<th class="num">p95 ms</th><th class="num">cost</th></tr>'
    )
    return (
        f'<article class="card scroll"><table class="tbl">{head}{"".join(rows)}</table></article>'
    )


def diff_rows(
    comparisons: Sequence[Comparison], a: Side, b: Side
) -> tuple[list[str], list[dict[str, Any]]]:
    """The embedded data of the paired case table: one row per (model, case id)."""
    ca, cb = _case_sides(a.records), _case_sides(b.records)
    models = [c.model for c in comparisons]
    rows: list[dict[str, Any]] = []
    for gi, c in enumerate(comparisons):
        ids = sorted(
            {cid for (m, cid) in ca if m == c.model} | {cid for (m, cid) in cb if m == c.model}
        )
        for cid in ids:
            sa, sb = ca.get((c.model, cid)), cb.get((c.model, cid))
            st = _status(c, cid, sa, sb)
            d = None
            if sa and sb and sa.score is not None and sb.score is not None:
                d = sb.score - sa.score
            rows.append({"id": cid, "g": gi, "st": st, "d": d, "_a": sa, "_b": sb})
    # word diffs for the cases that matter most, within a budget
    rank = {"regressed": 0, "improved": 1}
    budget = DIFF_CASES
    for row in sorted(rows, key=lambda r: rank.get(r["st"], 2)):
        sa, sb = row.pop("_a"), row.pop("_b")
        ops = None
        both = sa and sb and sa.output is not None and sb.output is not None
        if both and budget > 0 and (sa.output != sb.output or row["st"] in rank):
            budget -= 1
            ops = [[op, t] for op, t in word_diff(str(sa.output), str(sb.output))]
        row["ops"] = ops
        row["a"] = _side_json(sa, ops is None)
        row["b"] = _side_json(sb, ops is None)
    first: dict[tuple[str, str], dict[str, Any]] = {}
    for r in (*a.records, *b.records):
        first.setdefault((r["model"], str(r["case_id"])), r)
    for row in rows:
        rec = first.get((models[row["g"]], row["id"]))
        row["vars"] = _pretty(rec.get("vars") or {}) if rec else None
        row["exp"] = _pretty(rec.get("expected")) if rec else None
    return models, rows


def diff_html(result: DiffResult, a: Side, b: Side) -> str:
    """The report of two runs compared: verdicts, deltas with intervals, regressed and improved
    cases side by side with word diffs, and the paired case table."""
    v = result.verdict
    meta: list[tuple[str, Any]] = [("runs", ", ".join(result.run_ids)), ("dataset", result.dataset)]
    notes = "".join(f"<li>{_e(n)}</li>" for n in result.notes)
    header = (
        '<header class="top"><div class="wrap">'
        '<div class="brand"><b>promptops</b> · comparison report</div>'
        f'<div class="title-row"><h1>{_e(result.label_a)} → {_e(result.label_b)}</h1>'
        f"{_badge(v, f'verdict: {v}')}</div>{_meta_html(meta)}"
        + (f'<ul class="notes">{notes}</ul>' if notes else "")
        + '<nav class="tabs"><a href="#verdicts">Verdicts</a><a href="#examples">Regressed / improved</a>'
        '<a href="#cases">Cases</a></nav></div></header>'
    )
    body = ['<section id="verdicts"><h2>Verdicts</h2>']
    body += [_comparison_card(c) for c in result.comparisons]
    if not result.comparisons:
        body.append(_empty("no model ran on both sides: nothing to compare"))
    body.append("<h2>Both runs</h2>" + _sides_table(a, b))
    if result.changes is not None:
        body.append('<div style="margin-top:16px"></div>' + _changes_html(result.changes))
    body.append('</section><section id="examples"><h2>Regressed and improved cases</h2>')
    ca, cb = _case_sides(a.records), _case_sides(b.records)
    shown = False
    for c in result.comparisons:
        for title, kind, ids in (
            ("Regressed", "regressed", c.regressed),
            ("Improved", "improved", c.improved),
        ):
            block = _examples(title, kind, ids, c.model, (ca, cb), (a.label, b.label))
            shown = shown or bool(block)
            body.append(block)
    if not shown:
        body.append(_empty("no case changed from pass to fail or back"))
    body.append("</section>")
    models, rows = diff_rows(result.comparisons, a, b)
    cols: list[tuple[str, str, str | None]] = [("case", "18%", "id")]
    if len(models) > 1:
        cols.append(("model", "14%", None))
    cols += [
        ("status", "104px", "worst"),
        ("A score", "110px", None),
        ("B score", "110px", None),
        ("Δ", "70px", "score"),
        ("B output", "auto", None),
    ]
    body.append(_cases_section(cols, "Search id, inputs, outputs, reasons…   ( / )"))
    data = {"kind": "diff", "groups": models, "labels": [a.label, b.label], "rows": rows}
    title = f"promptops · {result.label_a} → {result.label_b}"
    return _page(title, header, "".join(body), data)
