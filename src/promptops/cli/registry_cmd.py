"""``promptops promote``, ``abort-canary``, ``rollback``, ``history`` and ``status``: registry.yaml."""

from __future__ import annotations

from typing import Any

import typer

from .output import out, print_json, warn
from .root import app

EnvOpt = typer.Option(..., "--env", "-e", help="Environment, as declared in registry.yaml.")
ReasonOpt = typer.Option(
    None, "--reason", "-r", help="Why; recorded with the change (and in the commit)."
)
CommitOpt = typer.Option(
    False, "--commit", help="Commit registry.yaml alone, with a structured message."
)
JsonOpt = typer.Option(False, "--json", help="Print JSON.")


def _project() -> Any:
    from ..project import Project

    return Project.find()


def _short(digest: str | None) -> str:
    from ..project import short_digest

    return short_digest(digest) if digest else "-"


def _show(change: Any, json_out: bool) -> None:
    if json_out:
        print_json(change.to_json())
        return
    console = out()
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
    }[change.action]
    console.print(line, style="green", markup=False)
    ev = change.evidence
    if ev is not None:
        text = f"  evidence: run {ev.run_id}, pass rate {100 * (ev.pass_rate or 0):.1f}% (bar {100 * ev.fail_under:.0f}%)"
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


@app.command("promote")
def promote(
    name: str = typer.Argument(..., help="Prompt name (or NAME@VERSION)."),
    version: str | None = typer.Argument(
        None, help="2.0, 2.0.0, 2 (highest 2.x), latest, or an environment to copy."
    ),
    env: str = EnvOpt,
    canary: int | None = typer.Option(
        None, "--canary", help="Serve it to this % of traffic beside the active version."
    ),
    force: bool = typer.Option(
        False, "--force", help="Promote without eval evidence (needs --reason)."
    ),
    reason: str | None = ReasonOpt,
    commit: bool = CommitOpt,
    evidence: str | None = typer.Option(
        None,
        "--evidence",
        help="Run id, or a run directory made elsewhere (a CI artifact), to use as evidence.",
    ),
    json_out: bool = JsonOpt,
) -> None:
    """Make a version active in an environment (or a canary), given eval evidence."""
    from ..errors import UsageError
    from ..registry.changes import promote as promote_

    if version is None:
        name, sep, version = name.partition("@")
        if not sep:
            raise UsageError(
                f"which version of {name}? e.g. promptops promote {name} 2.0.0 --env {env}"
            )
    change = promote_(
        _project(),
        name,
        version,
        env,
        canary=canary,
        force=force,
        reason=reason,
        commit=commit,
        evidence_run=evidence,
    )
    _show(change, json_out)


@app.command("abort-canary")
def abort_canary(
    name: str = typer.Argument(..., help="Prompt name."),
    env: str = EnvOpt,
    reason: str | None = ReasonOpt,
    commit: bool = CommitOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Drop an environment's canary: all traffic back on the active version."""
    from ..registry.changes import abort_canary as abort_

    _show(abort_(_project(), name, env, reason=reason, commit=commit), json_out)


@app.command("rollback")
def rollback(
    name: str = typer.Argument(..., help="Prompt name."),
    env: str = EnvOpt,
    to: str | None = typer.Option(
        None, "--to", help="A version that was active in ENV before (default: the last one)."
    ),
    reason: str | None = ReasonOpt,
    commit: bool = CommitOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Go back to the version active before, from registry.yaml's git history; no eval needed."""
    from ..registry.changes import rollback as rollback_

    _show(rollback_(_project(), name, env, to=to, reason=reason, commit=commit), json_out)


@app.command("history")
def history(
    prompt: str | None = typer.Argument(None, help="Only this prompt."),
    env: str | None = typer.Option(None, "--env", "-e", help="Only this environment."),
    limit: int | None = typer.Option(None, "--limit", "-n", help="Only the newest N changes."),
    json_out: bool = JsonOpt,
) -> None:
    """Who changed which version where, and when: the git log of registry.yaml, newest first."""
    from ..registry.history import history as history_

    entries = history_(_project(), prompt, env, limit)
    if json_out:
        print_json([e.to_json() for e in entries])
        return
    if not entries:
        out().print("no changes to registry.yaml yet", markup=False)
        return
    console = out()
    for e in entries:
        change = {
            "canary": f"canary {e.to_version} at {e.canary}% beside {e.from_version}",
            "abort-canary": f"abort canary {e.from_version}, serving {e.to_version}",
            "remove": f"remove {e.from_version}",
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


@app.command("status")
def status(
    json_out: bool = JsonOpt,
    check: bool = typer.Option(
        False, "--check", help="Exit 1 when a promoted digest no longer matches its file."
    ),
) -> None:
    """What every environment serves, and whether each promoted file is unchanged."""
    from ..registry.file import read_registry
    from ..registry.status import status as status_

    project = _project()
    rows = status_(project)
    if json_out:
        print_json([r.to_json() for r in rows])
    else:
        from rich.table import Table

        envs = read_registry(project).environments
        t = Table("prompt", *envs, show_edge=False, header_style="bold", show_lines=True)
        cells: dict[str, dict[str, str]] = {}
        for r in rows:
            cells.setdefault(r.prompt, {})[r.env] = _cell(r)
        for prompt, by_env in cells.items():
            t.add_row(prompt, *(by_env.get(e, "-") for e in envs))
        out().print(t)
    bad = [r for r in rows if not r.ok]
    if bad and not json_out:
        warn(
            f"{len(bad)} deployment(s) no longer match their files; restore them or promote new versions"
        )
    if check and bad:
        raise typer.Exit(1)


def _cell(row: Any) -> str:
    from rich.markup import escape

    def slot(s: Any) -> str:
        mark = "[green]ok[/]" if s.state == "ok" else f"[red]{s.state.upper()}[/]"
        return f"{escape(s.version)} {_short(s.digest)} {mark}"

    if row.active is None:
        return "-"
    text = slot(row.active)
    if row.canary is not None:
        text += f"\ncanary {row.canary.weight}%: {slot(row.canary)}"
    return text
