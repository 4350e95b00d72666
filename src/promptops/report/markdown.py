"""Markdown for PR comments and ``$GITHUB_STEP_SUMMARY``."""

from __future__ import annotations

from typing import Any

from ..eval.summary import group_key
from ..toolcalls import format_calls
from .safe import md_text
from .text import money


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _cell(text: Any) -> str:
    return md_text(text)


def eval_markdown(summary: dict[str, Any], records: list[dict[str, Any]] | None = None) -> str:
    lines = [f"### promptops eval `{summary.get('run_id', '')}` — {summary['status']}", ""]
    lines += [
        "| prompt | model | pass | 95% CI | score | errors | p95 ms | cost | bar |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    bars = {b["group"]: b for b in summary.get("bar", {}).get("groups", [])}
    for g in summary["groups"]:
        b = bars.get(group_key(g))
        lo, hi = g["pass_rate_ci95"]
        p95 = g["latency_ms"]["p95"]
        score = "-" if g["mean_score"] is None else f"{g['mean_score']:.3f}"
        p95s = "-" if p95 is None else f"{p95:.0f}"
        verdict = ("✅" if b["met"] else f"❌ < {b['fail_under']:.0%}") if b else ""
        lines.append(
            f"| {_cell(g['prompt'])}@{g['version']} | {_cell(g['model'])} | {g['passed']}/{g['n']} "
            f"({_pct(g['pass_rate'])}) | {_pct(lo)}–{_pct(hi)} | {score} | {g['errors']} | {p95s} "
            f"| {money(g['cost'])} | {verdict} |"
        )
    failing = [r for r in (records or []) if not r.get("pass")][:10]
    if failing:
        lines += [
            "",
            "<details><summary>failing cases</summary>",
            "",
            "| case | prompt | model | why |",
            "|---|---|---|---|",
        ]
        for r in failing:
            why = r.get("error") or "; ".join(
                f"{a['type']}: {a.get('error') or a.get('reason', '')}"
                for a in r.get("assertions", [])
                if not a["pass"]
            )
            if r.get("tool_calls"):
                why += f" — calls: {format_calls(r['tool_calls'])}"
            lines.append(
                f"| {_cell(r['case_id'])} | {r['prompt']}@{r['version']} | {_cell(r['model'])} | {_cell(why)[:300]} |"
            )
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"
