"""``--format`` options are Enums (a typo is a usage error listing the choices), and every
command renders through the one (subject, format) dispatch in :mod:`promptops.report`."""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any, get_type_hints

import pytest
from click.testing import Result

from conftest import assert_no_traceback
from promptops.report import (
    FORMATS,
    RENDERERS,
    TEXTS,
    Format,
    Subject,
    TextFormat,
    render_text,
    show,
)

Cli = Callable[..., Result]


def _commands() -> list[tuple[list[str], type[Enum]]]:
    """Every command (sub-apps included) with a ``--format`` option, and that option's type."""
    import typer

    from promptops.cli import app

    found = []

    def walk(cmd: Any, path: list[str]) -> None:
        for param in cmd.params:
            if "--format" in getattr(param, "opts", ()):
                found.append((path, get_type_hints(cmd.callback)[param.name]))
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


FORMAT_COMMANDS = _commands()


def test_the_walk_finds_the_format_options() -> None:
    names = {" ".join(path) for path, _ in FORMAT_COMMANDS}
    assert {"eval", "show-run", "runs merge", "diff", "check", "import promptfoo"} <= names


@pytest.mark.parametrize(
    ("args", "kind"), FORMAT_COMMANDS, ids=[" ".join(p) for p, _ in FORMAT_COMMANDS]
)
def test_every_format_option_is_an_enum_and_a_typo_is_a_usage_error(
    project: Path, cli: Cli, args: list[str], kind: type[Enum]
) -> None:
    assert isinstance(kind, type) and issubclass(kind, Enum), kind
    result = cli(*args, "--format", "nonsense")
    assert_no_traceback(result)
    assert result.exit_code == 2, result.output
    choices = ", ".join(repr(member.value) for member in kind)
    assert f"'nonsense' is not one of {choices}" in result.stderr
    assert not (project / ".promptops" / "runs").exists()  # nothing ran


def test_every_subject_has_a_renderer_for_every_format() -> None:
    for subject in Subject:
        registered = {f for s, f in (*RENDERERS, *TEXTS) if s is subject}
        assert registered == {f.value for f in FORMATS[subject]}, subject
    assert not set(RENDERERS) & set(TEXTS)


def test_a_format_a_subject_does_not_come_in_is_refused() -> None:
    with pytest.raises(ValueError):
        render_text(Subject.RUN, TextFormat.TEXT, None)
    with pytest.raises(ValueError):
        show(Subject.STATUS, Format.MARKDOWN, None)


@pytest.mark.parametrize("fmt", ["json", "markdown"])
def test_the_output_file_holds_what_the_screen_shows(project: Path, cli: Cli, fmt: str) -> None:
    result = cli("eval", "summarize@1.0.0", "-q", "-f", fmt, "-o", "report.txt")
    assert result.exit_code == 0, result.output
    assert (project / "report.txt").read_text(encoding="utf-8") == result.stdout


def test_show_run_formats_render_the_same_run(project: Path, cli: Cli) -> None:
    assert cli("eval", "summarize@1.0.0", "-q", "-f", "json").exit_code == 0
    as_json = cli("show-run", "latest", "--format", "json")
    assert as_json.exit_code == 0
    summary = json.loads(as_json.stdout)
    as_md = cli("show-run", "latest", "-f", "markdown")
    assert as_md.exit_code == 0 and summary["run_id"] in as_md.stdout
    table = cli("show-run", "latest")
    assert table.exit_code == 0 and summary["run_id"] in table.stdout
    assert table.stdout != as_md.stdout
