"""Markdown for PR comments and ``$GITHUB_STEP_SUMMARY``."""

from __future__ import annotations

from typing import Any

from ..eval.summary import group_key
from ..toolcalls import format_calls
from .format import failed_assertions, money, num, pct
from .safe import md_text


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
        verdict = ("✅" if b["met"] else f"❌ < {b['fail_under']:.0%}") if b else ""
        lines.append(
            f"| {md_text(g['prompt'])}@{g['version']} | {md_text(g['model'])} | {g['passed']}/{g['n']} "
            f"({pct(g['pass_rate'])}) | {pct(lo)}–{pct(hi)} | {num(g['mean_score'])} | {g['errors']} | {num(p95, '{:.0f}')} "
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
            why = r.get("error") or "; ".join(failed_assertions(r))
            if r.get("tool_calls"):
                why += f" — calls: {format_calls(r['tool_calls'])}"
            lines.append(
                f"| {md_text(r['case_id'])} | {r['prompt']}@{r['version']} | {md_text(r['model'])} | {md_text(why)[:300]} |"
            )
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"
