"""``--format`` options are Enums (a typo is a usage error listing the choices), and every
command renders through the one (subject, format) dispatch in :mod:`promptops.report`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from conftest import assert_no_traceback
from promptops.report import RENDERERS, Format, Subject

Cli = Callable[..., Result]

COMMANDS = [
    (["show-run", "latest"], "'table', 'json', 'markdown'"),
    (["eval", "summarize@1.0.0"], "'table', 'json', 'markdown'"),
    (["runs", "merge", "x"], "'table', 'json', 'markdown'"),
    (["diff", "summarize@1.0.0", "summarize@2.0.0"], "'table', 'json', 'markdown'"),
    (["check"], "'table', 'json', 'markdown'"),
    (["power"], "'table', 'json'"),
    (["export", "latest"], "'csv', 'jsonl', 'parquet'"),
    (["render", "summarize@1.0.0"], "'text', 'json'"),
    (["lint"], "'text', 'json'"),
    (["import", "promptfoo", "promptfooconfig.yaml"], "'text', 'json'"),
]


@pytest.mark.parametrize(("args", "choices"), COMMANDS, ids=lambda a: " ".join(a)[:30])
def test_an_unknown_format_is_a_usage_error_listing_the_choices(
    project: Path, cli: Cli, args: list[str], choices: str
) -> None:
    result = cli(*args, "--format", "nonsense")
    assert_no_traceback(result)
    assert result.exit_code == 2, result.output
    assert f"'nonsense' is not one of {choices}" in result.stderr
    assert not (project / ".promptops" / "runs").exists()  # nothing ran


def test_every_subject_has_a_renderer_for_every_format() -> None:
    assert set(RENDERERS) == {(s, f) for s in Subject for f in Format}


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
