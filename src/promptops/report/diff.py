"""Rendering a comparison (``promptops diff``), a pre-merge check (``promptops check``) and a
sample-size plan (``promptops power``): rich for the terminal, Markdown for PR comments and
step summaries, JUnit XML for CI."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .format import id_list, interval, num, one_line, signed
from .safe import md_code, md_fence, md_text, terminal_safe

if TYPE_CHECKING:
    from rich.console import Console

    from ..gate.check import CheckEntry, CheckReport
    from ..gate.compare import Comparison
    from ..gate.diff import DiffResult, FileDiff
    from ..gate.power import Plan

COLORS = {
    "regression": "red",
    "below-bar": "red",
    "error": "red",
    "inconclusive": "yellow",
    "skipped": "yellow",
    "ok": "green",
    "new": "green",
}
ICONS = {
    "regression": "❌",
    "below-bar": "❌",
    "error": "❌",
    "inconclusive": "⚠️",
    "skipped": "⏭️",
    "ok": "✅",
    "new": "🆕",
}
OUTPUT_CHARS = 160
TERMINAL_EXAMPLES = 10


def _ci(c: Comparison | Any) -> str:
    return interval(c.ci_low, c.ci_high)


def _short(text: str | None, limit: int = OUTPUT_CHARS) -> str:
    return "(no output)" if text is None else one_line(text, limit)


def _val(x: Any) -> str:
    """A parameter or field value: floats as %g, strings quoted, the rest as Python shows them."""
    return f"{x:g}" if isinstance(x, float) else repr(x)


def _usage_line(c: Comparison) -> str:
    parts = []
    for label, d, fmt in (
        ("latency", c.latency_ms, "{:.0f} ms"),
        ("tokens in", c.tokens_in, "{:.1f}"),
        ("tokens out", c.tokens_out, "{:.1f}"),
        ("cost/call", c.cost, "${:.6f}"),
    ):
        if not d.a and not d.b:  # unknown, or nothing to show (free models, cached answers)
            continue
        diff = d.diff
        change = ""
        if diff is not None:
            change = " (" + ("+" if diff >= 0 else "-") + fmt.format(abs(diff)) + ")"
        parts.append(f"{label} {num(d.a, fmt)} → {num(d.b, fmt)}{change}")
    return "; ".join(parts)


def _case_lists(c: Comparison) -> list[tuple[str, list[str]]]:
    return [
        (f"only in {c.ref_a or 'A'}", c.only_a),
        (f"only in {c.ref_b or 'B'}", c.only_b),
        ("call failed on A (counted as A failing)", c.failed_a),
        ("call failed on B (counted as B failing)", c.failed_b),
        ("non-finite value (counted as a failure)", c.invalid),
        ("every call failed on both sides (no evidence)", c.errored),
        (f"left out, no {c.metric} on a side", c.unscored),
    ]


METHODS = {
    "tango": "Tango score interval (pass/fail)",
    "floored-t": "t interval with a variance floor",
}


def _method(c: Comparison) -> str:
    return METHODS.get(c.method, c.method or "no interval")


def _moved(c: Comparison) -> str:
    what = "pass → fail" if c.binary else f"down by more than {c.margin:g}"
    back = "fail → pass" if c.binary else "up"
    return f"{c.metric}: {c.mcnemar.b} {what}, {c.mcnemar.c} {back}"


def confidence(c: Comparison) -> str:
    """The interval's confidence: 95% in a fixed design, higher at an early sequential look."""
    two_sided = 1 - 2 * c.level if c.level else 1 - c.alpha
    return f"{100 * two_sided:.4g}%"


def verdict_text(c: Comparison) -> str:
    """The verdict and its plain-sentence explanation."""
    from ..gate.explain import explain

    return f"{c.verdict}: {explain(c)}"


# --------------------------------------------------------------------------------------------
# Terminal
# --------------------------------------------------------------------------------------------


def print_changes(console: Console, changes: FileDiff) -> None:
    if changes.empty:
        console.print("  no change beyond the version (and changelog)", style="dim", markup=False)
    if changes.changelog:
        console.print(f"  changelog: {changes.changelog.strip()}", markup=False)
    if changes.model:
        console.print(f"  model: {changes.model[0]} → {changes.model[1]}", markup=False)
    for k, (a, b) in changes.params.items():
        console.print(f"  params.{k}: {_val(a)} → {_val(b)}", markup=False)
    for k, (a, b) in changes.fields.items():
        console.print(f"  {k}: {_short(repr(a), 80)} → {_short(repr(b), 80)}", markup=False)
    for t in changes.assertions_removed:
        console.print(f"  - assert {t}", style="red", markup=False)
    for t in changes.assertions_added:
        console.print(f"  + assert {t}", style="green", markup=False)
    for line in changes.template:
        style = "bold" if line.startswith(("---", "+++")) else None
        if style is None:
            style = {"+": "green", "-": "red", "@": "cyan"}.get(line[:1], "dim")
        console.print(f"  {line}", style=style, markup=False)


def _metrics_table(c: Comparison, head_a: str, head_b: str) -> Any:
    from rich.table import Table

    t = Table(show_edge=False, header_style="bold", pad_edge=False)
    for i, col in enumerate(("metric", head_a, head_b, "B − A", f"{confidence(c)} CI")):
        t.add_column(col, justify="left" if i == 0 else "right", no_wrap=i > 0)
    style = "red" if (c.ci_high is not None and c.ci_high < -c.margin) else None
    t.add_row(
        f"{c.metric} (gate)", num(c.mean_a), num(c.mean_b), signed(c.diff), _ci(c), style=style
    )
    for m in c.secondary:
        t.add_row(m.metric, num(m.mean_a), num(m.mean_b), signed(m.diff), _ci(m))
    return t


def _examples_table(title: str, examples: list[Any], head_a: str, head_b: str) -> Any:
    from rich.markup import escape
    from rich.table import Table

    et = Table(title=title, title_justify="left", header_style="bold")
    et.add_column("case", no_wrap=True)
    et.add_column(escape(head_a), ratio=1)
    et.add_column(escape(head_b), ratio=1)
    et.add_column("why B failed", ratio=1, style="yellow")
    for e in examples:
        et.add_row(
            escape(e.case_id),
            escape(_short(e.output_a, 100)),
            escape(_short(e.output_b, 100)),
            escape(_short("; ".join(e.why_b), 100)),
        )
    return et


def print_comparison(console: Console, c: Comparison) -> None:
    from rich.markup import escape

    rep = f", {c.repeats} samples per case averaged" if c.repeats > 1 else ""
    console.print(
        f"[bold]{escape(c.model)}[/]  {c.n_paired} paired cases{rep}, gate metric {c.metric}, "
        f"margin {c.margin:g}, {_method(c)}",
        highlight=False,
    )
    from .fit import table_width

    t = _metrics_table(c, c.ref_a or "A", c.ref_b or "B")
    if table_width(console, t) > console.width:  # never cut prompt@version: name them apart
        console.print(f"  A = {c.ref_a or '?'}", markup=False, soft_wrap=True)
        console.print(f"  B = {c.ref_b or '?'}", markup=False, soft_wrap=True)
        t = _metrics_table(c, "A", "B")
    console.print(t)
    console.print(f"  cases that moved on {_moved(c)}", markup=False)
    usage = _usage_line(c)
    if usage:
        console.print(f"  {usage}", style="dim", markup=False)
    for label, ids in _case_lists(c):
        if ids:
            console.print(f"  {label}: {id_list(ids)}", style="yellow", markup=False)
    for title, ids in (
        ("regressed (worse in B)", c.regressed),
        ("improved", c.improved),
    ):
        if not ids:
            continue
        keep = set(ids)
        examples = [e for e in c.examples if e.case_id in keep][:TERMINAL_EXAMPLES]

        head = f"{title}: {len(ids)}"
        et = _examples_table(head, examples, c.ref_a or "A", c.ref_b or "B")
        if table_width(console, et) > console.width:
            et = _examples_table(head, examples, "A", "B")
        console.print(et)
        if len(ids) > len(examples):
            console.print(
                f"  … {len(ids) - len(examples)} more: {id_list(ids[len(examples) :])}",
                style="dim",
                markup=False,
            )
    console.print(f"  {verdict_text(c)}", style=f"bold {COLORS[c.verdict]}", markup=False)


def print_diff(console: Console, result: DiffResult) -> None:
    """The whole comparison for the terminal."""
    console.print(f"[bold]{result.label_a} → {result.label_b}[/]", highlight=False)
    meta = [f"run {', '.join(result.run_ids)}"]
    if result.dataset:
        meta.append(f"dataset {result.dataset}")
    console.print("  " + "   ".join(meta), style="dim", markup=False)
    for note in result.notes:
        console.print(f"  note: {note}", style="yellow", markup=False)
    if result.changes is not None:
        console.print("[bold]changes[/]")
        print_changes(console, result.changes)
    for c in result.comparisons:
        console.print()
        print_comparison(console, c)
    if not result.comparisons:
        console.print(
            "no model ran on both sides: nothing to compare", style="yellow", markup=False
        )
    console.print()
    v = result.verdict
    console.print(f"verdict: {v.upper()}", style=f"bold {COLORS[v]}", markup=False)


def print_check(console: Console, report: CheckReport) -> None:
    console.print(
        f"[bold]promptops check[/] against {report.base} (merge base {report.merge_base[:10]}), env {report.env}",
        highlight=False,
    )
    for p in report.problems:
        console.print(str(p), style="red", markup=False)
    for note in report.notes:
        console.print(f"note: {note}", style="dim", markup=False)
    for e in report.entries:
        console.print()
        base = (
            f" vs {e.baseline} ({e.baseline_reason})" if e.baseline else f" ({e.baseline_reason})"
        )
        console.print(f"[bold]{e.ref}[/] {e.change}{base}", highlight=False)
        for line in _rule_lines(e):
            console.print(f"  {terminal_safe(line)}", style="yellow", markup=False)
        for note in e.diff.notes if e.diff is not None else []:
            console.print(f"  note: {note}", style="yellow", markup=False)
        if e.diff is not None and e.diff.comparisons:
            for c in e.diff.comparisons:
                print_comparison(console, c)
        if e.diff is not None and e.diff.comparisons and e.verdict == "error":
            console.print(f"  error: {e.message}", style="bold red", markup=False)
        elif not (e.diff is not None and e.diff.comparisons):
            console.print(
                f"  {e.verdict}: {e.message}",
                style=f"bold {COLORS.get(e.verdict, 'red')}",
                markup=False,
            )
    console.print()
    if report.failed:
        console.print("check failed", style="bold red", markup=False)
    elif report.warnings:
        console.print(
            f"check passed with warnings: {_warned(report)}", style="bold yellow", markup=False
        )
    else:
        console.print("check passed", style="bold green", markup=False)


def _warned(report: CheckReport) -> str:
    return ", ".join(f"{e.ref} {e.verdict}" for e in report.warnings)


def _rule_lines(e: CheckEntry) -> list[str]:
    """Where the rules came from, the branch's edits to them and its gold-set diff."""
    out = []
    if e.rules_from:
        out.append(f"rules: {e.rules_from}")
    out += [f"rule changed on this branch (applies after merge): {c}" for c in e.rule_changes]
    if e.gold is not None:
        out += e.gold.lines()
    return out


def print_plan(console: Console, p: Plan) -> None:
    """``promptops power``: the cases a comparison needs, in sentences."""
    pts = f"{100 * p.drop:g} points"

    def say(line: str) -> None:
        console.print(line, markup=False)

    say(
        f"pass rate {p.pass_rate:g}, margin {p.margin:g}, {100 * p.power:g}% power, "
        f"alpha {p.alpha:g}; {100 * p.discordance:.1f}% of cases assumed to differ "
        f"({p.discordance_source})"
    )
    if p.detect is None:
        say(f"a drop of {pts} is within the margin {p.margin:g}: it is never a regression")
    else:
        say(
            f"to call a drop of {pts} a regression: {p.detect} paired cases "
            f"(exact power {_pct(p.detect_power)})"
        )
    if p.ok is not None:
        say(f"to call an unchanged prompt ok: {p.ok} paired cases (exact {_pct(p.ok_power)})")
    if p.ok_floor is not None:
        say(
            f"fewer than {p.ok_floor} cases can never give ok at margin {p.margin:g}, "
            "even when no case changes"
        )
    if p.cases is not None and p.power_detect is not None and p.power_ok is not None:
        say(
            f"with {p.cases} cases: a drop of {pts} is called a regression "
            f"{_pct(p.power_detect)} of the time; an unchanged prompt is called ok "
            f"{_pct(p.power_ok)} of the time"
        )


def _pct(x: float | None) -> str:
    if x is None:
        return "–"
    v = 100 * x
    return f"{v:.0f}%" if v == 0 or v >= 99.5 or abs(v - round(v)) < 0.05 else f"{v:.1f}%"


# --------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------


def _md_comparison(c: Comparison, heading: str = "####") -> list[str]:
    rep = f", {c.repeats} samples per case averaged" if c.repeats > 1 else ""
    lines = [
        f"{heading} {ICONS[c.verdict]} {md_code(c.model)} — {c.verdict}",
        "",
        f"{c.n_paired} paired cases{rep}; gate metric `{c.metric}`, margin {c.margin:g}; "
        f"{_method(c)}.",
        "",
        f"| metric | {md_text(c.ref_a or 'A')} | {md_text(c.ref_b or 'B')} | B − A | {confidence(c)} CI |",
        "|---|---:|---:|---:|---:|",
        f"| **{md_text(c.metric)}** | {num(c.mean_a)} | {num(c.mean_b)} | {signed(c.diff)} | {_ci(c)} |",
    ]
    lines += [
        f"| {md_text(m.metric)} | {num(m.mean_a)} | {num(m.mean_b)} | {signed(m.diff)} | {_ci(m)} |"
        for m in c.secondary
    ]
    lines += ["", f"Cases that moved on {_moved(c)}."]
    usage = _usage_line(c)
    if usage:
        lines.append(f"Usage: {usage}.")
    for label, ids in _case_lists(c):
        if ids:
            lines.append(f"{label.capitalize()}: {md_text(id_list(ids))}.")
    lines += ["", f"**{md_text(verdict_text(c))}**"]
    for title, ids in (
        ("Regressed (worse in B)", c.regressed),
        ("Improved", c.improved),
    ):
        if not ids:
            continue
        keep = set(ids)
        lines += [
            "",
            f"<details><summary>{title}: {len(ids)} — {md_text(id_list(ids, 8))}</summary>",
            "",
        ]
        lines += [
            f"| case | {md_text(c.ref_a or 'A')} | {md_text(c.ref_b or 'B')} | why B failed |",
            "|---|---|---|---|",
        ]
        for e in c.examples:
            if e.case_id in keep:
                lines.append(
                    f"| {md_text(e.case_id)} | {md_text(_short(e.output_a))} | {md_text(_short(e.output_b))} "
                    f"| {md_text(_short('; '.join(e.why_b), 200))} |"
                )
        lines += ["", "</details>"]
    return lines


def _md_changes(changes: FileDiff) -> list[str]:
    lines = []
    if changes.changelog:
        lines.append(f"- changelog: {md_text(changes.changelog.strip())}")
    if changes.model:
        lines.append(f"- model: {md_code(changes.model[0])} → {md_code(changes.model[1])}")
    lines += [
        f"- params.{md_text(k)}: {md_code(_val(a))} → {md_code(_val(b))}"
        for k, (a, b) in changes.params.items()
    ]
    lines += [
        f"- {md_text(k)}: {md_code(_short(repr(a), 80))} → {md_code(_short(repr(b), 80))}"
        for k, (a, b) in changes.fields.items()
    ]
    lines += [f"- removed assertion {md_code(t)}" for t in changes.assertions_removed]
    lines += [f"- added assertion {md_code(t)}" for t in changes.assertions_added]
    if changes.template:
        lines += ["", *md_fence(list(changes.template), "diff")]
    if not lines:
        lines.append("- no change beyond the version")
    return lines


def diff_markdown(result: DiffResult) -> str:
    v = result.verdict
    lines = [f"### {ICONS[v]} promptops diff `{result.label_a}` → `{result.label_b}`: {v}", ""]
    meta = f"Run {', '.join(f'`{r}`' for r in result.run_ids)}"
    if result.dataset:
        meta += f" on `{result.dataset}`"
    lines += [meta + ".", ""]
    lines += [f"> {md_text(n)}" for n in result.notes]
    if result.changes is not None:
        lines += ["", "**Changes**", "", *_md_changes(result.changes)]
    for c in result.comparisons:
        lines += ["", *_md_comparison(c)]
    return "\n".join(lines) + "\n"


def _md_entry_row(e: CheckEntry) -> str:
    icon = ICONS.get(e.verdict, "❌")
    base = (
        f"`{e.baseline}` ({md_text(e.baseline_reason)})"
        if e.baseline
        else md_text(e.baseline_reason)
    )
    if e.diff is not None and e.diff.comparisons:
        c = e.diff.comparisons[0]
        score = f"{num(c.mean_a)} → {num(c.mean_b)} ({signed(c.diff)} {_ci(c)})"
        mc = f"{c.mcnemar.b}↓ {c.mcnemar.c}↑"
    else:
        score = mc = ""
    return f"| `{e.ref}` | {e.change} | {base} | {icon} {e.verdict} | {score} | {mc} |"


def check_markdown(report: CheckReport) -> str:
    """The PR comment / step summary of a check."""
    if report.failed:
        status = "❌ failed"
    elif report.warnings:
        warned = ", ".join(f"{md_code(e.ref)} {e.verdict}" for e in report.warnings)
        status = f"⚠️ passed with warnings ({warned})"
    else:
        status = "✅ passed"
    lines = [
        f"### promptops check {status}",
        "",
        f"Against `{report.base}` (merge base `{report.merge_base[:10]}`), baseline environment `{report.env}`"
        + (", strict" if report.strict else "")
        + ".",
    ]
    if report.problems:
        lines += ["", "**Problems**", ""] + [f"- {md_code(p)}" for p in report.problems]
    if report.entries:
        lines += [
            "",
            "| version | change | baseline | verdict | gate metric A → B (Δ, 95% CI) | cases ↓ ↑ |",
            "|---|---|---|---|---|---|",
        ]
        lines += [_md_entry_row(e) for e in report.entries]
    for note in report.notes:
        lines += ["", f"> {md_text(note)}"]
    for e in report.entries:
        lines += ["", f"#### `{e.ref}`", "", md_text(e.message)]
        rules = _rule_lines(e)
        if rules:
            lines += [""] + [f"- {md_text(r)}" for r in rules]
        if e.diff is not None and e.diff.notes:
            lines += [""] + [f"> {md_text(n)}" for n in e.diff.notes]
        if e.diff is not None:
            if e.diff.changes is not None:
                lines += [
                    "",
                    "<details><summary>changes</summary>",
                    "",
                    *_md_changes(e.diff.changes),
                    "",
                    "</details>",
                ]
            for c in e.diff.comparisons:
                lines += ["", *_md_comparison(c, "#####")]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# JUnit
# --------------------------------------------------------------------------------------------


def write_check_junit(path: Path, report: CheckReport) -> None:
    """One testcase per checked version (and one per problem): regressions are failures,
    inconclusive ones are skipped (failures with ``--strict``)."""
    suite = ET.Element("testsuite", name="promptops check")
    failures = errors = skipped = 0
    for p in report.problems:
        tc = ET.SubElement(suite, "testcase", classname="promptops.lint", name=str(p.path))
        ET.SubElement(tc, "error", type="problem", message=str(p)[:500]).text = str(p)
        errors += 1
    for e in report.entries:
        tc = ET.SubElement(suite, "testcase", classname="promptops.gate.check", name=e.ref)
        detail = "\n".join([e.message, *_rule_lines(e)])
        if e.diff is not None:
            detail += "".join(
                f"\n{c.model}: regressed {', '.join(c.regressed) or 'none'}"
                for c in e.diff.comparisons
            )
        if e.verdict == "error":
            ET.SubElement(tc, "error", type="error", message=e.message[:500]).text = detail
            errors += 1
        elif e.verdict in ("regression", "below-bar") or (
            e.verdict == "inconclusive" and report.strict
        ):
            ET.SubElement(
                tc, "failure", type=e.verdict, message=f"{e.verdict}: {e.message}"[:500]
            ).text = detail
            failures += 1
        elif e.verdict in ("inconclusive", "skipped"):
            ET.SubElement(tc, "skipped", message=f"{e.verdict}: {e.message}"[:500])
            skipped += 1
        else:
            ET.SubElement(tc, "system-out").text = detail
    suite.set("tests", str(len(report.problems) + len(report.entries)))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    root = ET.Element("testsuites", name="promptops check")
    root.append(suite)
    from .junit import write_xml

    write_xml(path, root)
