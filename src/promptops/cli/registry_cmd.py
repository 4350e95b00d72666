"""``promptops promote``, ``abort-canary``, ``rollback``, ``history`` and ``status``: registry.yaml."""

from __future__ import annotations

from typing import Any

import typer

from ..report import StatusView, Subject, TableFormat, TextFormat, show, write_json
from .root import app

EnvOpt = typer.Option(..., "--env", "-e", help="Environment, as declared in registry.yaml.")
ReasonOpt = typer.Option(
    None, "--reason", "-r", help="Why; recorded with the change (and in the commit)."
)
CommitOpt = typer.Option(
    False, "--commit", help="Commit registry.yaml alone, with a structured message."
)
JsonOpt = typer.Option(False, "--json", help="Print JSON.")
PublishOpt = typer.Option(
    False,
    "--publish",
    help="Then publish the snapshot applications follow (promptops.yaml publish_to).",
)


def _project() -> Any:
    from ..project import Project

    return Project.find()


def _show(change: Any, json_out: bool, project: Any = None, publish: bool = False) -> None:
    if not publish:
        show(Subject.CHANGE, TextFormat.JSON if json_out else TextFormat.TEXT, change)
        return
    from ..runtime.snapshot import publish as publish_

    result = publish_(project)
    if json_out:
        write_json({**change.to_json(), "published": result.to_json()})
    else:
        show(Subject.CHANGE, TextFormat.TEXT, change)
        _print_published(result)


def _print_published(result: Any) -> None:
    what = "published" if result.changed else "unchanged, republished"
    typer.echo(
        f"{what}: {result.manifest[:19]}... ({result.files} files, {result.written} new) to {result.to}"
    )


@app.command("publish")
def publish(
    to: str | None = typer.Option(
        None,
        "--to",
        help="Directory or fsspec URL (s3://..., gs://...); default: promptops.yaml publish_to.",
    ),
    json_out: bool = JsonOpt,
) -> None:
    """Publish what every environment serves as a content-addressed snapshot applications follow."""
    from ..runtime.snapshot import publish as publish_

    result = publish_(_project(), to)
    if json_out:
        write_json(result.to_json())
    else:
        _print_published(result)


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
    shadow: int | None = typer.Option(
        None,
        "--shadow",
        help="Also call it in the background on this % of requests, never served (0 stops).",
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
    publish: bool = PublishOpt,
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
    project = _project()
    if shadow is not None:
        from ..registry.changes import shadow as shadow_

        if canary is not None or force:
            raise UsageError("--shadow serves nothing: leave out --canary and --force")
        change = shadow_(project, name, version, env, shadow, reason=reason, commit=commit)
        _show(change, json_out, project, publish)
        return
    change = promote_(
        project,
        name,
        version,
        env,
        canary=canary,
        force=force,
        reason=reason,
        commit=commit,
        evidence_run=evidence,
    )
    _show(change, json_out, project, publish)


@app.command("abort-canary")
def abort_canary(
    name: str = typer.Argument(..., help="Prompt name."),
    env: str = EnvOpt,
    reason: str | None = ReasonOpt,
    commit: bool = CommitOpt,
    json_out: bool = JsonOpt,
    publish: bool = PublishOpt,
) -> None:
    """Drop an environment's canary: all traffic back on the active version."""
    from ..registry.changes import abort_canary as abort_

    project = _project()
    _show(abort_(project, name, env, reason=reason, commit=commit), json_out, project, publish)


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
    publish: bool = PublishOpt,
) -> None:
    """Go back to the version active before, from registry.yaml's git history; no eval needed."""
    from ..registry.changes import rollback as rollback_

    project = _project()
    change = rollback_(project, name, env, to=to, reason=reason, commit=commit)
    _show(change, json_out, project, publish)


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
    show(Subject.HISTORY, TextFormat.JSON if json_out else TextFormat.TEXT, entries)


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
    envs = [] if json_out else list(read_registry(project).environments)
    show(
        Subject.STATUS, TableFormat.JSON if json_out else TableFormat.TABLE, StatusView(envs, rows)
    )
    if check and not all(r.ok for r in rows):
        raise typer.Exit(1)
