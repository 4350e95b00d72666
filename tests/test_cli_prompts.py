"""The model-free commands: render, list, show, schema, init; and the CLI's error boundary."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from conftest import SUMMARIZE_1_0_0, assert_no_traceback, error_lines, git
from promptops.project import load_prompt

Write = Callable[..., Path]
Cli = Callable[..., Result]


def digest(project: Path, version: str) -> str:
    return load_prompt(project / f"prompts/summarize/{version}.yaml").digest


# ------------------------------------------------------------------ render


def test_render_text(project: Path, cli: Cli) -> None:
    result = cli("render", "summarize@2.0", "--var", "document=It rained all day.")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    # 80 columns: the digest goes on a line of its own
    assert lines[:2] == ["summarize@2.0.0", f"  {digest(project, '2.0.0')}"]
    assert lines[2] == "model echo/echo  temperature=0.2 max_tokens=200"
    assert lines[3].startswith("system ─")
    assert lines[4] == "You write summaries with a title line."
    assert lines[5].startswith("user ─")
    assert lines[6:] == ["Summarize in at most 30 words.", "", "Document:", "It rained all day."]
    assert max(len(line) for line in lines) <= 80
    assert result.stderr == ""


def test_render_json(project: Path, cli: Cli) -> None:
    result = cli(
        "render", "summarize@prod", "-v", "document=Hi.", "-v", "max_words=7", "--format", "json"
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "prompt": "summarize",
        "version": "1.0.0",
        "digest": digest(project, "1.0.0"),
        "model": "echo/echo",
        "params": {"temperature": 0.0, "max_tokens": 200},
        "messages": [
            {"role": "system", "content": "Summarize the user's document in at most 7 words."},
            {"role": "user", "content": "Hi."},
        ],
    }


@pytest.mark.parametrize(
    "ref",
    [
        "summarize@2.0",
        "summarize@2.0.0",
        "summarize@2",
        "summarize@latest",
        "summarize",
        "prompts/summarize@2.0",
        "prompts/summarize/2.0.0.yaml",
    ],
)
def test_render_ref_forms(project: Path, cli: Cli, ref: str) -> None:
    result = cli("render", ref, "--var", "document=x", "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["version"] == "2.0.0"


def test_render_var_from_file_and_vars_file(project: Path, write: Write, cli: Cli) -> None:
    write("doc.txt", "Line one.\nLine two.\n")
    write("vars.yaml", "document: from yaml\nmax_words: 12\n")
    result = cli("render", "summarize@1.0", "--var", "document=@doc.txt", "-f", "json")
    assert json.loads(result.stdout)["messages"][1]["content"] == "Line one.\nLine two.\n"
    result = cli(
        "render", "summarize@1.0", "--vars", "vars.yaml", "--var", "max_words=3", "-f", "json"
    )
    assert json.loads(result.stdout)["messages"] == [
        {"role": "system", "content": "Summarize the user's document in at most 3 words."},
        {"role": "user", "content": "from yaml"},
    ]


def test_render_dataset_values_with_jinja_are_text(project: Path, write: Write, cli: Cli) -> None:
    write("vars.json", json.dumps({"document": "{{ 7 * 7 }} {{ ''.__class__.__mro__ }} {% if %}"}))
    result = cli("render", "summarize@1.0", "--vars", "vars.json", "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert (
        json.loads(result.stdout)["messages"][1]["content"]
        == "{{ 7 * 7 }} {{ ''.__class__.__mro__ }} {% if %}"
    )
    text = cli("render", "summarize@1.0", "--vars", "vars.json")
    assert text.stdout.splitlines()[-1] == "{{ 7 * 7 }} {{ ''.__class__.__mro__ }} {% if %}"


def test_render_ten_megabyte_value(project: Path, write: Write, cli: Cli) -> None:
    big = "x" * (10 * 1024 * 1024 - 1) + "!"
    write("big.txt", big)
    result = cli("render", "summarize@1.0", "--var", "document=@big.txt", "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["messages"][1]["content"] == big


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["summarize@2.0"], "missing required input(s) document for summarize@2.0.0"),
        (
            ["summarize@2.0", "--var", "document=x", "--var", "tone=dry"],
            "unknown variable(s) tone for summarize@2.0.0; declared inputs: document, max_words",
        ),
        (
            ["summarize@2.0", "--var", "document=x", "--var", "max_words=many"],
            "input 'max_words' must be integer, got 'many'",
        ),
        (
            ["summarize@7"],
            "summarize@7: no 7.x.y version; versions of summarize: 1.0.0, 1.1.0, 2.0.0",
        ),
        (
            ["summarize@2.1"],
            "summarize@2.1: version 2.1.0 not found; versions of summarize: 1.0.0, 1.1.0, 2.0.0",
        ),
        (["sumarize@2"], "sumarize@2: no 2.x.y version; prompts: summarize"),
        (
            ["summarize@dev"],
            "summarize@dev: summarize has no version active in dev; active in: prod",
        ),
        (["../summarize@1"], "../summarize@1: no 1.x.y version; prompts: summarize"),
        (["summarize@2", "--vars", "nope.json"], "nope.json: file not found"),
    ],
)
def test_render_user_errors(project: Path, cli: Cli, args: list[str], message: str) -> None:
    result = cli("render", *args)
    assert_no_traceback(result)
    assert result.exit_code == 1
    assert error_lines(result) == [message]
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["summarize@2", "--var", "document"],
            "--var 'document': expected NAME=VALUE or NAME=@FILE",
        ),
        (
            ["summarize@2", "--var", "document=@missing.txt"],
            "--var document=@missing.txt: no such file",
        ),
    ],
)
def test_render_usage_errors_exit_2(project: Path, cli: Cli, args: list[str], message: str) -> None:
    result = cli("render", *args)
    assert_no_traceback(result)
    assert result.exit_code == 2
    assert error_lines(result) == [message]


def test_click_usage_errors_exit_2(project: Path, cli: Cli) -> None:
    for args in (["render"], ["render", "x", "--nope"], ["show"], ["frobnicate"]):
        result = cli(*args)
        assert_no_traceback(result)
        assert result.exit_code == 2, args


def test_errors_are_red_on_stderr(project: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from promptops.report import console as output

    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    output.err.cache_clear()
    try:
        result = cli("render", "summarize@9")
    finally:
        output.err.cache_clear()
    assert result.exit_code == 1
    assert result.stderr.startswith("\x1b[31m")
    assert "summarize@9: no 9.x.y version" in result.stderr


# ------------------------------------------------------------------ list


def test_list_json(project: Path, cli: Cli) -> None:
    result = cli("list", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == [
        {
            "name": "summarize",
            "versions": ["1.0.0", "1.1.0", "2.0.0"],
            "latest": "2.0.0",
            "digest": digest(project, "2.0.0"),
            "description": "Summarize a document, with a title line.",
            "environments": {"prod": "1.0.0"},
        }
    ]


def test_list_table(project: Path, cli: Cli) -> None:
    result = cli("list")
    assert result.exit_code == 0, result.stderr
    assert "summarize" in result.stdout
    assert digest(project, "2.0.0")[7:19] in result.stdout
    assert "prod=1.0.0" in result.stdout


def test_list_shows_invalid_prompt_without_failing(project: Path, write: Write, cli: Cli) -> None:
    write("prompts/broken/1.0.0.yaml", "name: [\n")
    write("registry.yaml", "environments: [dev, '1.0']\n")  # invalid: list still works
    result = cli("list", "--json")
    assert result.exit_code == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["broken"]["description"] == "(invalid: run promptops lint)"
    assert rows["summarize"]["environments"] == {}


def test_list_empty_directory(tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("list", "--json")
    assert (result.exit_code, json.loads(result.stdout)) == (0, [])


# ------------------------------------------------------------------ show


def test_show_json(project: Path, cli: Cli) -> None:
    result = cli("show", "summarize@prod", "--json")
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["version"] == "1.0.0"
    assert info["digest"] == digest(project, "1.0.0")
    assert info["file"] == "prompts/summarize/1.0.0.yaml"
    assert info["model"] == "echo/echo"
    assert info["params"] == {"temperature": 0.0, "max_tokens": 200}
    assert info["inputs"] == {
        "document": {
            "type": "string",
            "required": True,
            "default": None,
            "description": "The text to summarize.",
        },
        "max_words": {
            "type": "integer",
            "required": False,
            "default": 30,
            "description": "Word budget.",
        },
    }
    assert info["assert"] == [{"type": "icontains", "value": "{{ document }}"}]
    assert (info["dataset"], info["cases"], info["tests"]) == ("evals/summarize.jsonl", 3, 0)
    assert info["active"] == ["prod"]
    other = json.loads(cli("show", "summarize@2", "--json").stdout)
    assert (other["version"], other["active"]) == ("2.0.0", [])


def test_show_canary(project: Path, write: Write, cli: Cli) -> None:
    d1, d2 = digest(project, "1.0.0"), digest(project, "2.0.0")
    write(
        "registry.yaml",
        f"""\
        environments: [dev, staging, prod]
        prompts:
          summarize:
            prod:
              version: 1.0.0
              digest: {d1}
              canary: {{version: 2.0.0, digest: {d2}, weight: 10}}
        """,
    )
    assert json.loads(cli("show", "summarize@2", "--json").stdout)["active"] == ["prod (canary)"]
    assert json.loads(cli("list", "--json").stdout)[0]["environments"] == {
        "prod": "1.0.0+2.0.0@10%"
    }


def test_show_text(project: Path, cli: Cli) -> None:
    result = cli("show", "summarize@1")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.splitlines()[:2] == ["summarize@1.1.0", f"  {digest(project, '1.1.0')}"]
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "changelog: Ask for one sentence." in out
    assert "file: prompts/summarize/1.1.0.yaml" in out
    assert "dataset: evals/summarize.jsonl (3 cases)" in out
    assert "max_words" in out and "icontains" in out


def test_show_unknown_ref(project: Path, cli: Cli) -> None:
    result = cli("show", "summarize@5.0", "--json")
    assert result.exit_code == 1
    assert error_lines(result) == [
        "summarize@5.0: version 5.0.0 not found; versions of summarize: 1.0.0, 1.1.0, 2.0.0"
    ]
    assert result.stdout == ""


# ------------------------------------------------------------------ schema


@pytest.mark.parametrize("kind", ["prompt", "case", "registry"])
def test_schema_kinds(cli: Cli, kind: str) -> None:
    result = cli("schema", kind)
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["$id"] == f"https://promptops.dev/schemas/{kind}.schema.json"
    assert schema["additionalProperties"] is False


def test_schema_default_and_unknown(cli: Cli) -> None:
    assert json.loads(cli("schema").stdout)["title"] == "PromptSpec"
    result = cli("schema", "dataset")
    assert result.exit_code == 2
    assert error_lines(result) == [
        "unknown schema 'dataset'; choose one of prompt, case, registry, run, record, summary, "
        "call, snapshot, analysis, shadow-analysis"
    ]


# ------------------------------------------------------------------ init


def test_init_creates_a_project_that_lints(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = cli("init", str(tmp_path / "new"))
    assert result.exit_code == 0, result.stderr
    root = tmp_path / "new"
    for rel in (
        "prompts/hello/1.0.0.yaml",
        "evals/hello.jsonl",
        "registry.yaml",
        ".github/workflows/promptops.yml",
        "schemas/prompt.schema.json",
        "schemas/registry.schema.json",
        ".gitignore",
    ):
        assert (root / rel).is_file(), rel
        assert f"created {root / rel}" in result.stdout
    assert (root / ".gitignore").read_text() == ".promptops/\n"
    # not inside a work tree: init runs git init and says so
    assert (root / ".git").is_dir()
    assert f"initialized a git repository in {root}" in result.stdout
    monkeypatch.chdir(root)
    lint = cli("lint")
    assert (lint.exit_code, lint.stdout) == (0, "ok: 1 prompt file, no problems\n")
    show = json.loads(cli("show", "hello@1.0", "--json").stdout)
    assert (show["model"], show["cases"]) == ("local/gemma-3-270m", 5)
    # a bar a real project keeps: 4 of 5 cases, not all of them
    assert show["fail_under"] == 0.8
    # the editor hints point at schema files that exist in the project
    for rel in ("prompts/hello/1.0.0.yaml", "registry.yaml"):
        hint = next(
            line for line in (root / rel).read_text().splitlines() if "$schema=" in line
        ).split("$schema=", 1)[1]
        schema = json.loads(((root / rel).parent / hint).read_text())
        assert schema["$schema"].startswith("https://json-schema.org/")
    # eval without refs suggests a ref of this project
    noref = cli("eval")
    assert noref.exit_code == 2
    assert error_lines(noref) == ["give at least one prompt ref, e.g. promptops eval hello@1.0.0"]


def test_init_in_a_repository_or_with_no_git(project: Path, tmp_path: Path, cli: Cli) -> None:
    inside = cli("init", "sub")
    assert inside.exit_code == 0, inside.output
    assert not (project / "sub/.git").exists()
    assert "initialized a git repository" not in inside.stdout
    outside = tmp_path.parent / f"{tmp_path.name}-nogit"
    result = cli("init", str(outside), "--no-git")
    assert result.exit_code == 0, result.output
    assert not (outside / ".git").exists()
    lines = error_lines(result)
    assert lines[0] == (
        f"note: {outside} is not in a git repository; history, rollback, check and --commit "
        "need one: run git init -b main"
    )
    # an editable install names no git commit CI could install: said, with the fix
    assert lines[1:] == [
        "warning: promptops was installed from a local path, so the workflow installs "
        "promptops-cli[local]==0.1.0 from the package index, which has no release of it yet: "
        "edit that pip install line in .github/workflows/promptops.yml, or init with --install "
        "'promptops-cli[local] @ git+https://github.com/OWNER/REPO@COMMIT' (or a path in the "
        "repository)"
    ]


def test_init_refuses_to_overwrite(project: Path, write: Write, cli: Cli) -> None:
    write("registry.yaml", "# mine\n")
    result = cli("init", ".")
    assert_no_traceback(result)
    assert result.exit_code == 1
    assert error_lines(result) == [
        ".: refusing to overwrite existing registry.yaml; nothing was written"
    ]
    assert (project / "registry.yaml").read_text() == "# mine\n"
    assert not (project / "prompts/hello").exists()
    assert not (project / "evals/hello.jsonl").exists()


def test_init_appends_to_existing_gitignore(tmp_path: Path, write: Write, cli: Cli) -> None:
    write("proj/.gitignore", "*.pyc")
    assert cli("init", str(tmp_path / "proj")).exit_code == 0
    assert (tmp_path / "proj/.gitignore").read_text() == "*.pyc\n.promptops/\n"


def test_init_on_a_file(tmp_path: Path, write: Write, cli: Cli) -> None:
    path = write("afile", "x")
    result = cli("init", str(path))
    assert result.exit_code == 1
    assert error_lines(result) == [f"{path}: exists and is not a directory"]


# ------------------------------------------------------------------ help


def test_help_lists_commands(cli: Cli) -> None:
    result = cli("--help")
    assert result.exit_code == 0
    for command in ("render", "lint", "list", "show", "schema", "init"):
        assert command in result.stdout
    assert (
        "Render a prompt version's messages with the given variables."
        in cli("render", "--help").stdout
    )


def test_version(cli: Cli) -> None:
    from promptops import __version__

    result = cli("--version")
    assert (result.exit_code, result.stdout) == (0, f"promptops {__version__}\n")


def test_fixture_constants_match_files(project: Path) -> None:
    assert (project / "prompts/summarize/1.0.0.yaml").read_text() == SUMMARIZE_1_0_0


def test_fixture_is_a_clean_committed_repo(project: Path) -> None:
    assert git(project, "status", "--porcelain") == ""
    assert git(project, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert git(project, "ls-files").split() == [
        ".gitignore",
        "evals/summarize.jsonl",
        "prompts/summarize/1.0.0.yaml",
        "prompts/summarize/1.1.0.yaml",
        "prompts/summarize/2.0.0.yaml",
        "registry.yaml",
    ]
    assert git(project, "config", "user.email").strip() == "tests@promptops.invalid"
