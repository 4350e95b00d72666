"""Inline SVG charts for the HTML reports: histograms, horizontal bars, forest plots and
the pass-rate strip. Plain strings, no plotting library."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ._html_common import _e


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


def _percent(t: float) -> str:
    return f"{t:.0%}"


def hbars(
    rows: Sequence[Bar],
    *,
    label: str = "bar chart",
    w: int = 360,
    left: int = 128,
    tick: Callable[[float], str] = _percent,
) -> str:
    """Horizontal 0..1 bars with interval whiskers and a red tick at each row's target.
    ``tick`` labels the axis at 0, ¼, ½, ¾ and 1 (default: as percentages)."""
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
        body.append(f'<text x="{x(t):.1f}" y="{h - 6}" text-anchor="middle">{_e(tick(t))}</text>')
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
