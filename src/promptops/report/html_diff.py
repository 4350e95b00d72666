"""The HTML report of two runs compared (``diff_html``): verdict cards, regressed and
improved cases side by side with word-level diffs (difflib), and the paired case table."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..toolcalls import shown_output
from ._html_common import (
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
from .format import interval, money, num, pct, signed
from .svg import forest

if TYPE_CHECKING:
    from ..gate.compare import Comparison
    from ..gate.diff import DiffResult, FileDiff
    from ..project import Project

EXAMPLES = 25  # regressed / improved cases shown side by side (all are in the table)
DIFF_TOKENS = 3000  # words per side fed to difflib
DIFF_CASES = 3000  # cases whose outputs get a word diff in the table (regressed/improved first)


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
    from ..eval.store import find_run

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
            shown_output(first),
            _reasons(first),
        )
    return out


def _status(c: Comparison, cid: str, a: _Case | None, b: _Case | None) -> str:
    for name, ids in (
        ("errored", [*c.errored, *c.failed_a, *c.failed_b]),  # a failed call: shown as such
        ("regressed", c.regressed),
        ("improved", c.improved),
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
    if high < -margin:
        return "bad"
    return "ok" if low > -margin else "warn"


def _comparison_card(c: Comparison) -> str:
    from .diff import confidence, verdict_text

    level = confidence(c)
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
        f'<tr><td><b>{_e(c.metric)}</b> (gate)</td><td class="num">{num(c.mean_a, none=NA)}</td>'
        f'<td class="num">{num(c.mean_b, none=NA)}</td><td class="num">{signed(c.diff, none=NA)}</td>'
        f'<td class="num">{interval(c.ci_low, c.ci_high, none=NA)}</td></tr>',
    ]
    for m in c.secondary:
        table.append(
            f'<tr><td>{_e(m.metric)}</td><td class="num">{num(m.mean_a, none=NA)}</td>'
            f'<td class="num">{num(m.mean_b, none=NA)}</td><td class="num">{m.diff:+.3f}</td>'
            f'<td class="num">{interval(m.ci_low, m.ci_high, none=NA)}</td></tr>'
        )
    mc = c.mcnemar
    usage = []
    for name, d, fmt in (
        ("latency", c.latency_ms, "{:.0f} ms"),
        ("tokens out", c.tokens_out, "{:.1f}"),
        ("cost/call", c.cost, "${:.6f}"),
    ):
        if d.a or d.b:
            usage.append(f"{name} {num(d.a, fmt, none=NA)} → {num(d.b, fmt, none=NA)}")
    left = [
        f"{label}: {len(ids)}"
        for label, ids in (
            ("only in A", c.only_a),
            ("only in B", c.only_b),
            ("calls failed on both sides", c.errored),
            ("calls failed on A", c.failed_a),
            ("calls failed on B", c.failed_b),
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
        + f" · margin {c.margin:g} · {_e(c.method)}</div></div>"
        f"{_badge(c.verdict)}</header>"
        f'<div class="verdict"><b>{_e(verdict_text(c))}</b></div>'
        f'<div class="cmp"><div class="scroll"><table class="tbl">{"".join(table)}</table></div>'
        f"<figure>{chart}</figure></div>"
        f'<div class="kv" style="margin-top:10px"><span>cases moved <b>{mc.b} worse, {mc.c} '
        f"better</b></span>"
        + "".join(f"<span>{_e(u)}</span>" for u in usage + left)
        + "</div></article>"
    )


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
            score = f" · score {num(case.score, '{:.2f}', none=NA)}" if case else ""
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
                f'<td class="num">{g["passed"]}/{g["n"]} ({pct(g["pass_rate"], none=NA)})</td>'
                f'<td class="num">{pct(lo, none=NA)} – {pct(hi, none=NA)}</td>'
                f'<td class="num">{num(g["mean_score"], none=NA)}</td><td class="num">{g["errors"]}</td>'
                f'<td class="num">{num(g["latency_ms"]["p95"], "{:.0f}", none=NA)}</td>'
                f'<td class="num">{money(g["cost"], none=NA)}</td></tr>'
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
