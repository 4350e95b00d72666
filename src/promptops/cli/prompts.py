"""Commands that need no model: render, lint, list, show, schema, init."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ..report import LintView, Subject, TableFormat, TextFormat, write_json
from ..report import show as show_
from .root import app

FormatOpt = typer.Option(TextFormat.TEXT, "--format", "-f", help="text or json.")


def _project() -> Any:
    from ..project import Project

    return Project.find()


@app.command()
def render(
    ref: str = typer.Argument(..., help="Prompt ref: summarize@2.0, summarize@prod, a file path."),
    var: list[str] = typer.Option(
        [], "--var", "-v", help="k=value, or k=@file to read a file. Repeatable."
    ),
    vars_file: Path | None = typer.Option(None, "--vars", help="JSON or YAML file of variables."),
    fmt: TextFormat = FormatOpt,
) -> None:
    """Render a prompt version's messages with the given variables."""
    from ..refs import resolve
    from ..render import parse_vars, render_messages

    project = _project()
    pv = resolve(ref, project)
    values = parse_vars(pv, var, vars_file)
    messages = render_messages(pv, values)
    info = {
        "prompt": pv.name,
        "version": pv.version,
        "digest": pv.digest,
        "model": pv.spec.model.id,
        "params": pv.spec.model.params.as_kwargs(),
        "messages": messages,
        **pv.spec.tool_params(),
    }
    if pv.spec.response_format is not None:
        info["response_format"] = pv.spec.response_format.as_param()
    show_(Subject.RENDER, fmt, info)


@app.command()
def lint(
    paths: list[Path] = typer.Argument(
        None, help="Files or directories (default: the whole project)."
    ),
    fmt: TextFormat = FormatOpt,
) -> None:
    """Check prompt files, datasets and registry.yaml; list every problem as file:line: field: message."""
    from ..lint import lint as run_lint
    from ..plugins import load_plugins

    project = _project()
    load_plugins(project)
    problems = run_lint(project, list(paths) if paths else None)
    view = LintView(problems)
    if fmt is TextFormat.TEXT and not problems:
        view.files = sum(1 for _ in project.all_files())
    show_(Subject.LINT, fmt, view)
    if problems:
        raise typer.Exit(1)


@app.command("list")
def list_prompts(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List prompts with their versions and what each environment serves."""
    from ..catalog import catalog

    rows = catalog(_project())
    show_(Subject.PROMPTS, TableFormat.JSON if json_out else TableFormat.TABLE, rows)


@app.command()
def show(
    ref: str = typer.Argument(..., help="Prompt ref."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show one prompt version: model, params, inputs, assertions, dataset, where it is active."""
    from ..catalog import describe
    from ..refs import resolve

    project = _project()
    pv = resolve(ref, project)
    info = describe(pv, project)
    show_(Subject.PROMPT, TextFormat.JSON if json_out else TextFormat.TEXT, info)


@app.command()
def schema(
    kind: str = typer.Argument(
        "prompt",
        help="prompt, case, registry, run, record, summary, call, snapshot, analysis or "
        "shadow-analysis.",
    ),
) -> None:
    """Print the JSON Schema of prompt files, dataset cases, registry.yaml, a run's run.json,
    results.jsonl records and summary.json, the runtime's call records, a published snapshot's
    manifest, or a canary or shadow analysis."""
    from ..schemas import json_schema

    write_json(json_schema(kind))


@app.command()
def init(
    directory: Path = typer.Argument(Path("."), help="Project directory (created if missing)."),
    no_git: bool = typer.Option(
        False, "--no-git", help="Don't run git init when the directory is not in a repository."
    ),
    install: str | None = typer.Option(
        None,
        "--install",
        metavar="SPEC",
        help="What the CI workflow pip-installs, e.g. 'promptops-cli[local] @ "
        "git+https://github.com/OWNER/REPO@COMMIT' or a path (default: the git commit this "
        "promptops came from, else promptops-cli[local]==VERSION).",
    ),
) -> None:
    """Scaffold prompts/, evals/, registry.yaml, JSON Schemas and a CI workflow; git init too."""
    from .. import gitops
    from ..report.console import out, warn
    from ..scaffold import install_requirement, scaffold

    spec, problem = install_requirement(install)
    probe = directory  # the directory may not exist yet: ask its nearest existing parent
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    in_repo = gitops.in_repo(probe)
    branch = (gitops.current_branch(probe) if in_repo else None) or (gitops.default_branch_name())
    created = scaffold(directory, branch=branch, install=spec)
    console = out()
    for p in created:
        console.print(f"created {p}", markup=False)
    if not in_repo:
        if no_git:
            warn(
                f"note: {directory} is not in a git repository; history, rollback, check and "
                f"--commit need one: run git init -b {branch}"
            )
        else:
            gitops.init_repo(directory, branch)
            console.print(
                f"initialized a git repository in {directory} (branch {branch})", markup=False
            )
    console.print(
        f"the workflow runs check on pull requests and pushes to {branch}, and installs {spec}",
        markup=False,
    )
    if problem:
        warn(f"warning: {problem}")
    console.print(
        "next: promptops lint && promptops eval hello@1.0, then commit the files "
        "(git add -A && git commit -m 'promptops init')",
        style="green",
        markup=False,
    )


@app.command()
def new(
    name: str = typer.Argument(..., help="Prompt name, e.g. extract-invoice."),
    major: bool = typer.Option(False, "--major", help="Bump the major version (2.0.0)."),
    minor: bool = typer.Option(False, "--minor", help="Bump the minor version (default)."),
    patch: bool = typer.Option(False, "--patch", help="Bump the patch version."),
    from_scratch: bool = typer.Option(
        False, "--from-scratch", help="A new prompt at 1.0.0 with a dataset stub."
    ),
    model: str = typer.Option(
        "local/gemma-3-270m", "--model", "-m", help="Pinned model of a --from-scratch prompt."
    ),
) -> None:
    """Start the next version of a prompt (a bumped copy of the highest one), or a new prompt."""
    from ..authoring import new_prompt, new_version
    from ..errors import UsageError
    from ..report.console import out

    parts = [p for p, on in (("major", major), ("minor", minor), ("patch", patch)) if on]
    if len(parts) > 1 or (parts and from_scratch):
        raise UsageError("give at most one of --major, --minor, --patch, --from-scratch")
    project = _project()
    console = out()
    if from_scratch:
        made = new_prompt(project, name, model)
        console.print(f"created {project.rel(made.prompt)}", markup=False)
        console.print(f"created {project.rel(made.dataset or made.prompt)}", markup=False)
        console.print(
            f"next: edit both TODOs, then promptops lint && promptops eval {name}@1.0.0",
            style="green",
            markup=False,
        )
        return
    made = new_version(project, name, parts[0] if parts else "minor")  # type: ignore[arg-type]
    console.print(f"created {project.rel(made.prompt)}", markup=False)
    old = made.source.stem if made.source else ""
    console.print(
        f"next: edit it and its changelog, then promptops diff {name}@{old} {name}@{made.version}",
        style="green",
        markup=False,
    )
