"""``promptops import``: bring prompts and tests in from another tool."""

from __future__ import annotations

from pathlib import Path

import typer

from ..report import TextFormat
from .output import out, print_json
from .root import app

import_app = typer.Typer(
    help="Convert another tool's config into promptops files.", no_args_is_help=True
)
app.add_typer(import_app, name="import")


@import_app.command("promptfoo")
def promptfoo(
    config: Path = typer.Argument(..., help="promptfooconfig.yaml to convert."),
    name: str | None = typer.Option(
        None, "--name", help="Prompt name (default: from the config's description)."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite files that exist."),
    fmt: TextFormat = typer.Option(TextFormat.TEXT, "--format", "-f", help="text or json."),
) -> None:
    """Convert a promptfoo config into prompt versions and a JSONL dataset; list what did not convert."""
    from ..importers.promptfoo import import_promptfoo
    from ..project import Project

    project = Project.find()
    result = import_promptfoo(config, project.root, name=name, force=force)
    if fmt is TextFormat.JSON:
        print_json(
            {
                "name": result.name,
                "versions": result.versions,
                "cases": result.cases,
                "expanded_cases": result.expanded,
                "scenario_cases": result.scenario_cases,
                "files": [project.rel(p) for p in result.files],
                "not_converted": [str(s) for s in result.skipped],
                "notes": [str(s) for s in result.notes],
            }
        )
        return
    console = out()
    for path in result.files:
        console.print(f"wrote {project.rel(path)}", markup=False)
    made = []
    if result.expanded:
        made.append(f"{result.expanded} from {result.expanded_tests} test(s) with list-valued vars")
    if result.scenarios:
        made.append(f"{result.scenario_cases} from {result.scenarios} scenario(s)")
    expanded = f" ({'; '.join(made)})" if made else ""
    console.print(
        f"{result.name}: {len(result.versions)} version(s), {result.cases} case(s){expanded}",
        markup=False,
    )
    if result.notes:
        console.print("check:", style="yellow", markup=False)
        for s in result.notes:
            console.print(f"  {s}", markup=False)
    if result.skipped:
        console.print(f"not converted ({len(result.skipped)}):", style="yellow", markup=False)
        for s in result.skipped:
            console.print(f"  {s}", markup=False)
    else:
        console.print("everything converted", markup=False)
