"""`promptops new`: the next version of a prompt, or a new prompt with its dataset stub."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from conftest import SUMMARIZE_2_0_0, assert_no_traceback, error_lines
from promptops.authoring import bump, next_version_text

Cli = Callable[..., Result]


@pytest.fixture(autouse=True)
def _in_project(project: Path) -> None:
    pass


@pytest.mark.parametrize(
    ("flag", "version"), [("--minor", "2.1.0"), ("--major", "3.0.0"), ("--patch", "2.0.1")]
)
def test_new_bumps_the_highest_version(project: Path, cli: Cli, flag: str, version: str) -> None:
    result = cli("new", "summarize", flag)
    assert result.exit_code == 0, result.output
    target = project / f"prompts/summarize/{version}.yaml"
    assert result.stdout.splitlines()[0] == f"created prompts/summarize/{version}.yaml"
    assert f"promptops diff summarize@2.0.0 summarize@{version}" in result.stdout
    text = target.read_text()
    # the copy is the highest version's text with two lines changed, comments and layout kept
    expected = SUMMARIZE_2_0_0.replace("version: 2.0.0", f"version: {version}").replace(
        "changelog: Title line; block-scalar template.",
        'changelog: "TODO: what changed since 2.0.0, and why."',
    )
    assert text == expected
    # the placeholder must be replaced before the version merges: lint (and check) say so
    result = cli("lint")
    assert result.exit_code == 1, result.output
    assert f"prompts/summarize/{version}.yaml:4: changelog: still the TODO placeholder" in (
        result.output
    )
    target.write_text(text.replace('"TODO: what changed since 2.0.0, and why."', "Shorter."))
    assert cli("lint").exit_code == 0
    target.write_text(text)
    shown = json.loads(cli("show", f"summarize@{version}", "--json").stdout)
    assert shown["changelog"] == "TODO: what changed since 2.0.0, and why."


def test_new_defaults_to_minor_and_never_overwrites(project: Path, cli: Cli) -> None:
    assert cli("new", "summarize").exit_code == 0
    assert (project / "prompts/summarize/2.1.0.yaml").is_file()
    # the highest is now 2.1.0, so the next minor is 2.2.0
    assert cli("new", "summarize").stdout.startswith("created prompts/summarize/2.2.0.yaml")
    # a highest file that is not a version file is reported, not copied or overwritten
    (project / "prompts/summarize/2.2.1.yaml").write_text("# mine\n")
    result = cli("new", "summarize", "--patch")
    assert_no_traceback(result)
    assert result.exit_code == 1
    assert error_lines(result) == [
        "prompts/summarize/2.2.1.yaml: no top-level `version:` line to bump"
    ]
    assert (project / "prompts/summarize/2.2.1.yaml").read_text() == "# mine\n"
    assert not (project / "prompts/summarize/2.2.2.yaml").exists()


def test_new_of_an_unknown_prompt_says_how_to_start_one(cli: Cli) -> None:
    result = cli("new", "extract-invoice")
    assert result.exit_code == 1
    assert error_lines(result) == [
        "no prompt named 'extract-invoice' (prompts: summarize); "
        "to start one: promptops new extract-invoice --from-scratch"
    ]


def test_new_flags_are_exclusive(cli: Cli) -> None:
    result = cli("new", "summarize", "--major", "--patch")
    assert result.exit_code == 2
    assert error_lines(result) == ["give at most one of --major, --minor, --patch, --from-scratch"]


def test_new_from_scratch_writes_a_prompt_and_dataset_that_lint_and_eval(
    project: Path, cli: Cli
) -> None:
    result = cli("new", "extract-invoice", "--from-scratch", "--model", "echo/echo")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:2] == [
        "created prompts/extract-invoice/1.0.0.yaml",
        "created evals/extract-invoice.jsonl",
    ]
    assert cli("lint").exit_code == 0, cli("lint").output
    shown = json.loads(cli("show", "extract-invoice@1.0", "--json").stdout)
    assert (shown["model"], shown["cases"], shown["dataset"]) == (
        "echo/echo",
        1,
        "evals/extract-invoice.jsonl",
    )
    # the echo provider returns the rendered prompt, which holds the stub's "TODO" input
    ev = cli("eval", "extract-invoice", "-q", "--format", "json")
    assert ev.exit_code == 0, ev.output
    # a second --from-scratch refuses, and says how to make the next version instead
    again = cli("new", "extract-invoice", "--from-scratch")
    assert again.exit_code == 1
    assert error_lines(again) == [
        "prompt 'extract-invoice' already exists; for its next version: promptops new extract-invoice"
    ]


def test_new_from_scratch_refuses_bad_names_and_existing_datasets(project: Path, cli: Cli) -> None:
    bad = cli("new", "Bad/Name", "--from-scratch")
    assert bad.exit_code == 2
    assert "is not a valid prompt name" in bad.stderr
    (project / "evals/extract.jsonl").write_text("{}\n")
    clash = cli("new", "extract", "--from-scratch")
    assert clash.exit_code == 1
    assert error_lines(clash) == ["evals/extract.jsonl: already exists; nothing was written"]
    assert not (project / "prompts/extract").exists()


def test_new_from_scratch_points_at_the_committed_schema(project: Path, cli: Cli) -> None:
    (project / "schemas").mkdir()
    (project / "schemas/prompt.schema.json").write_text("{}")
    assert cli("new", "x", "--from-scratch").exit_code == 0
    first = (project / "prompts/x/1.0.0.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../schemas/prompt.schema.json"
    hint = first.split("=", 1)[1]
    assert (project / "prompts/x" / hint).resolve().is_file()


def test_bump() -> None:
    assert [bump("1.2.3", p) for p in ("major", "minor", "patch")] == ["2.0.0", "1.3.0", "1.2.4"]  # type: ignore[arg-type]


def test_changelog_block_scalar_and_missing_changelog() -> None:
    block = "name: a\nversion: 1.0.0\nchangelog: |\n  line one\n  line two\nmodel: echo/echo\n"
    assert next_version_text(block, "1.0.0", "1.1.0") == (
        'name: a\nversion: 1.1.0\nchangelog: "TODO: what changed since 1.0.0, and why."\n'
        "model: echo/echo\n"
    )
    quoted = 'name: a\nversion: 1.0.0\nchangelog: "one\n  two"\n\nmodel: echo/echo\n'
    assert next_version_text(quoted, "1.0.0", "1.1.0") == (
        'name: a\nversion: 1.1.0\nchangelog: "TODO: what changed since 1.0.0, and why."\n'
        "\nmodel: echo/echo\n"
    )
    none = "name: a\nversion: 1.0.0\nmodel: echo/echo\n"
    assert next_version_text(none, "1.0.0", "2.0.0") == (
        'name: a\nversion: 2.0.0\nchangelog: "TODO: what changed since 1.0.0, and why."\n'
        "model: echo/echo\n"
    )
