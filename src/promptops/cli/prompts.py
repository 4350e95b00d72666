"""Commands that need no model: render, lint, list, show, schema, init."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ..report import TextFormat
from .output import err, error_lines, out, print_json
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
    if fmt is TextFormat.JSON:
        print_json(info)
        return
    from rich.rule import Rule

    console = out()
    params = " ".join(f"{k}={v}" for k, v in pv.spec.model.params.as_kwargs().items())
    console.print(f"{pv.ref}  {pv.digest}", style="bold", markup=False)
    console.print(
        f"model {pv.spec.model.id}" + (f"  {params}" if params else ""), style="dim", markup=False
    )
    if pv.spec.tools:
        names = ", ".join(t.function.name for t in pv.spec.tools)
        console.print(f"tools {names}", style="dim", markup=False)
    for m in messages:
        console.print(Rule(m["role"], align="left", style="cyan"))
        console.print(_shown_content(m.get("content")), markup=False)


def _shown_content(content: Any) -> str:
    """Message content as text; image parts as ``[image: URL]``, data URLs shortened."""
    if not isinstance(content, list):
        return "" if content is None else str(content)
    shown = []
    for part in content:
        if part.get("type") == "text":
            shown.append(str(part.get("text", "")))
            continue
        url = str((part.get("image_url") or {}).get("url", ""))
        if url.startswith("data:"):
            url = f"{url.split(',', 1)[0]} ({len(url)} chars)"
        shown.append(f"[image: {url}]")
    return "\n".join(shown)


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
    if fmt is TextFormat.JSON:
        print_json([p.__dict__ for p in problems])
    elif problems:
        error_lines([str(p) for p in problems])
    if problems:
        if fmt is not TextFormat.JSON:
            error_lines([f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"])
        raise typer.Exit(1)
    if fmt is not TextFormat.JSON:
        n = sum(1 for _ in project.all_files())
        out().print(f"ok: {n} prompt file{'s' if n != 1 else ''}, no problems", style="green")


@app.command("list")
def list_prompts(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List prompts with their versions and what each environment serves."""
    from ..catalog import catalog

    rows = catalog(_project())
    if json_out:
        print_json(rows)
        return
    from rich import box
    from rich.table import Table

    from ..project import short_digest

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    wide = out().width >= 110
    table.add_column("prompt", no_wrap=True)
    table.add_column("versions", min_width=8)
    table.add_column("latest", no_wrap=True)
    table.add_column("digest", no_wrap=True)
    table.add_column("environments", min_width=12)
    if wide:
        table.add_column("description", overflow="ellipsis", no_wrap=True, max_width=50)
    for r in rows:
        envs = " ".join(f"{e}={v}" for e, v in r["environments"].items())
        table.add_row(
            r["name"],
            ", ".join(r["versions"]),
            r["latest"] or "-",
            short_digest(r["digest"]) if r["digest"] else "-",
            envs or "-",
            *([r["description"]] if wide else []),
        )
    out().print(table)


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
    if json_out:
        print_json(info)
        return
    from rich.table import Table

    console = out()
    console.print(f"{pv.ref}  {pv.digest}", style="bold", markup=False)
    for key in ("description", "changelog"):
        if info[key]:
            console.print(f"{key}: {info[key]}", markup=False)
    console.print(f"model: {info['model']}  params: {info['params']}", markup=False)
    if info["fallbacks"]:
        console.print(f"fallbacks: {', '.join(info['fallbacks'])}", markup=False)
    console.print(f"file: {info['file']}", markup=False)
    if info["dataset"]:
        console.print(f"dataset: {info['dataset']} ({info['cases']} cases)", markup=False)
    if info["active"]:
        console.print("active: " + ", ".join(info["active"]), markup=False)
    t = Table("input", "type", "required", "default", "description", show_edge=False)
    for name, i in info["inputs"].items():
        t.add_row(
            name,
            i["type"],
            "yes" if i["required"] else "no",
            "" if i["default"] is None else repr(i["default"]),
            i["description"],
        )
    console.print(t)
    t2 = Table("assertion", "value", "weight", "threshold", show_edge=False)
    for a in info["assert"]:
        t2.add_row(
            a["type"],
            _short(a.get("value")),
            str(a.get("weight", 1.0)),
            str(a.get("threshold") or ""),
        )
    console.print(t2)


def _short(v: Any, n: int = 60) -> str:
    s = "" if v is None else str(v)
    return s if len(s) <= n else s[: n - 1] + "…"


@app.command()
def schema(
    kind: str = typer.Argument("prompt", help="prompt, case, registry, run, record or summary."),
) -> None:
    """Print the JSON Schema of prompt files, dataset cases, registry.yaml, or a run's run.json,
    results.jsonl records and summary.json."""
    from ..schemas import json_schema

    print_json(json_schema(kind))


@app.command()
def init(
    directory: Path = typer.Argument(Path("."), help="Project directory (created if missing)."),
    no_git: bool = typer.Option(
        False, "--no-git", help="Don't run git init when the directory is not in a repository."
    ),
) -> None:
    """Scaffold prompts/, evals/, registry.yaml, JSON Schemas and a CI workflow; git init too."""
    from .. import gitops
    from ..scaffold import scaffold

    created = scaffold(directory)
    console = out()
    for p in created:
        console.print(f"created {p}", markup=False)
    if not gitops.in_repo(directory):
        if no_git:
            err().print(
                f"note: {directory} is not in a git repository; history, rollback, check and "
                f"--commit need one: run git init",
                style="yellow",
                markup=False,
            )
        else:
            gitops.init_repo(directory)
            console.print(f"initialized a git repository in {directory}", markup=False)
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
