"""``promptops import``: bring prompts and tests in from another tool."""

from __future__ import annotations

from pathlib import Path

import typer

from ..report import ImportView, Subject, TextFormat, show
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
    keep_api_base: bool = typer.Option(
        False,
        "--keep-api-base",
        help="Write the provider's apiBaseUrl as model.api_base (evals send your key there).",
    ),
    drop_unconverted: bool = typer.Option(
        False,
        "--drop-unconverted",
        help="Leave out checks that do not convert (default: each becomes a check that fails).",
    ),
    fmt: TextFormat = typer.Option(TextFormat.TEXT, "--format", "-f", help="text or json."),
) -> None:
    """Convert a promptfoo config into prompt versions and a JSONL dataset; list what did not convert."""
    from ..importers.promptfoo import import_promptfoo
    from ..project import Project

    project = Project.find()
    result = import_promptfoo(
        config,
        project.root,
        name=name,
        force=force,
        keep_api_base=keep_api_base,
        drop_unconverted=drop_unconverted,
    )
    files = [project.rel(p) for p in result.files]
    show(Subject.IMPORT, fmt, ImportView(result, files))
