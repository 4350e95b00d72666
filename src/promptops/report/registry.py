"""The registry on the terminal: a change made (promote, canary, abort-canary, rollback), the
history of registry.yaml, and what every environment serves (status)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .console import warn
from .format import pct

if TYPE_CHECKING:
    from rich.console import Console

    from ..registry.changes import Change
    from ..registry.history import HistoryEntry
    from ..registry.status import Slot, StatusRow


def short_digest(digest: str | None) -> str:
    from ..project import short_digest as short

    return short(digest) if digest else "-"


def print_change(console: Console, change: Change) -> None:
    if not change.changed:
        for note in change.notes:
            console.print(note, markup=False)
        return
    was = (
        f", was {change.from_version}"
        if change.action in ("promote", "rollback") and change.from_version
        else ""
    )
    line = {
        "promote": f"promoted {change.prompt} {change.to_version} to {change.env}{was}",
        "canary": f"canary {change.prompt} {change.to_version} at {change.canary}% in {change.env}, "
        f"beside {change.from_version}",
        "abort-canary": f"aborted canary {change.prompt} {change.from_version} in {change.env}; "
        f"serving {change.to_version}",
        "rollback": f"rolled back {change.prompt} in {change.env} to {change.to_version}{was}",
        "shadow": f"shadow {change.prompt} {change.to_version} on {change.canary}% of {change.env}"
        if change.to_version
        else f"stopped shadowing {change.prompt} {change.from_version} in {change.env}",
    }[change.action]
    console.print(line, style="green", markup=False)
    ev = change.evidence
    if ev is not None:
        text = (
            f"  evidence: run {ev.run_id}, pass rate {pct(ev.pass_rate or 0)} "
            f"(bar {pct(ev.fail_under, 0)})"
        )
        if ev.compare_run:
            text += f"; vs {ev.baseline}: {ev.verdict} (run {ev.compare_run})"
        console.print(text, markup=False)
    if change.forced:
        warn(f"  forced without evidence: {change.reason}")
    elif change.reason:
        console.print(f"  reason: {change.reason}", markup=False)
    for note in change.notes:
        console.print(f"  {note}", style="dim", markup=False)
    if change.commit:
        console.print(f"  committed {change.commit[:10]}", markup=False)


def print_history(console: Console, entries: list[HistoryEntry]) -> None:
    """One line per change, newest first: when, commit, prompt, env, what, who, why."""
    if not entries:
        console.print("no changes to registry.yaml yet", markup=False)
        return
    for e in entries:
        change = {
            "canary": f"canary {e.to_version} at {e.canary}% beside {e.from_version}",
            "abort-canary": f"abort canary {e.from_version}, serving {e.to_version}",
            "remove": f"remove {e.from_version}",
            "shadow": f"shadow {e.to_version} on {e.canary}%"
            if e.to_version
            else f"stop shadow {e.from_version}",
        }.get(e.action, f"{e.action} {e.from_version or '-'} -> {e.to_version}")
        when = (e.date or "")[:16].replace("T", " ")
        line = f"{when:16}  {(e.commit or 'uncommitted')[:11]:11}  {e.prompt}  {e.env}  {change}"
        console.print(line, markup=False, end="")
        console.print(f"  by {e.author}" if e.author else "", style="dim", markup=False, end="")
        if e.reason:
            console.print(
                f"  {'forced: ' if e.forced else ''}{e.reason!r}",
                style="yellow" if e.forced else None,
                markup=False,
                end="",
            )
        console.print(f"  evidence {e.evidence}" if e.evidence else "", style="dim", markup=False)


def print_status(console: Console, environments: list[str], rows: list[StatusRow]) -> None:
    """A prompt x environment table (active version, digest, whether the file still matches;
    the canary below it), and a warning on stderr when a deployment no longer matches."""
    from rich.table import Table

    t = Table("prompt", *environments, show_edge=False, header_style="bold", show_lines=True)
    cells: dict[str, dict[str, str]] = {}
    for r in rows:
        cells.setdefault(r.prompt, {})[r.env] = _status_cell(r)
    for prompt, by_env in cells.items():
        t.add_row(prompt, *(by_env.get(e, "-") for e in environments))
    console.print(t)
    bad = [r for r in rows if not r.ok]
    if bad:
        warn(
            f"{len(bad)} deployment(s) no longer match their files; restore them or promote new versions"
        )


def _status_cell(row: StatusRow) -> str:
    from rich.markup import escape

    def slot(s: Slot) -> str:
        mark = "[green]ok[/]" if s.state == "ok" else f"[red]{s.state.upper()}[/]"
        return f"{escape(s.version)} {short_digest(s.digest)} {mark}"

    if row.active is None:
        return "-"
    text = slot(row.active)
    if row.canary is not None:
        text += f"\ncanary {row.canary.weight}%: {slot(row.canary)}"
    return text
