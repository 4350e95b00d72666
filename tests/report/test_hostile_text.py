"""Issue 11, lower items: text from outputs, datasets and changelogs is data in every medium
(terminal, JUnit XML, PR-comment Markdown, CSV), and odd files give clear errors."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from conftest import assert_no_traceback, git

Cli = Callable[..., Result]

HOSTILE = (
    '\x1b[2J\x1b]0;pwned\x07 NUL\x00 bell\x07 =HYPERLINK("http://evil.example") '
    "<img src=x onerror=alert(1)> ![i](http://evil.example/p.png) [click](http://evil.example) "
    "</details> @octocat"
)


@pytest.fixture(autouse=True)
def _in_project(project: Path) -> None:
    # the evil case fails, with the output as the reason (so it reaches every report)
    (project / "checks.py").write_text(
        "def check(output, context):\n    return {'pass': False, 'reason': output}\n",
        encoding="utf-8",
    )
    cases = [
        {"id": "ok", "vars": {"document": "fine"}},
        {"id": "formula", "vars": {"document": '=HYPERLINK("http://evil.example","x")'}},
        {
            "id": "evil",
            "vars": {"document": HOSTILE},
            "assert": [{"type": "python", "value": "checks.py:check"}],
        },
    ]
    (project / "evals/summarize.jsonl").write_text(
        "".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8"
    )


def test_escape_sequences_from_outputs_never_reach_the_terminal(cli: Cli) -> None:
    result = cli("eval", "summarize@1.0", "-q")
    assert result.exit_code == 1  # the evil case fails its assertion
    assert "output:" in result.stdout  # the failing case's output is shown...
    assert "\x1b" not in result.output and "\x07" not in result.output  # ...defanged
    assert "\\x1b[2J" in result.stdout
    shown = cli("show-run", "latest")
    assert "\x1b" not in shown.output and "\x00" not in shown.output


def test_junit_is_well_formed_with_nul_and_control_characters(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "junit.xml"
    cli("eval", "summarize@1.0", "-q", "--junit", str(out))
    root = ET.parse(out).getroot()  # raises on a not-well-formed file
    failure = root.find(".//testcase[@name='evil']/failure")
    assert failure is not None and "NUL\\x00" in (failure.text or "")


def test_pr_markdown_neutralises_html_images_links_and_mentions(cli: Cli) -> None:
    result = cli("eval", "summarize@1.0", "-q", "--format", "markdown")
    md = result.stdout
    assert "<img" not in md and "</details> @" not in md
    assert md.count("</details>") == md.count("<details>") == 1
    assert "![i](" not in md and "[click](" not in md
    assert "http://evil" not in md  # no autolink either
    assert "@octocat" not in md and "@\u200boctocat" in md
    assert "&lt;img src=x onerror=alert(1)&gt;" in md
    assert "\x1b" not in md and "\x00" not in md


def test_changelog_in_the_diff_markdown_is_neutralised(project: Path, cli: Cli) -> None:
    path = project / "prompts/summarize/2.0.0.yaml"
    text = path.read_text(encoding="utf-8").replace(
        "changelog: Title line; block-scalar template.",
        'changelog: "</details><img src=x> [x](http://evil.example) @octocat ```"',
    )
    path.write_text(text, encoding="utf-8")
    result = cli("diff", "summarize@1.0", "summarize@2.0", "--format", "markdown")
    assert_no_traceback(result)
    md = result.stdout
    assert "changelog: &lt;/details&gt;&lt;img src=x&gt; \\[x\\](http" in md
    assert "@octocat" not in md and "http://evil" not in md


def test_csv_export_neutralises_formula_cells(cli: Cli, tmp_path: Path) -> None:
    cli("eval", "summarize@1.0", "-q")
    (tmp_path / "evals/f.jsonl").write_text("", encoding="utf-8")
    out = tmp_path / "out.csv"
    result = cli("export", "latest", "--format", "csv", "--output", str(out))
    assert result.exit_code == 0, result.output
    import csv

    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    cells = [v for r in rows for v in r.values() if v]
    assert not [c for c in cells if c[0] in "=+@"], cells
    assert '\'=HYPERLINK("http://evil.example","x")' in cells
    assert not [c for c in cells if "\x00" in c]
    assert [c for c in cells if "NUL\u2400 bell" in c]  # shown, on every Python, not dropped


def test_a_deeply_nested_json_line_is_a_clear_error(project: Path, cli: Cli) -> None:
    with (project / "evals/summarize.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"id": "deep", "vars": {"document": ' + "[" * 100_000 + "]" * 100_000 + "}}\n")
    for args in (("lint",), ("eval", "summarize@1.0", "-q")):
        result = cli(*args)
        assert result.exit_code == 1
        assert_no_traceback(result)
        assert "evals/summarize.jsonl:4: JSON nested too deeply" in result.output


def test_a_non_utf8_file_in_the_base_tree_is_a_clear_error(project: Path, cli: Cli) -> None:
    (project / "registry.yaml").write_bytes(b"environments: [dev, prod]\n# caf\xe9\n")
    git(project, "commit", "-q", "-am", "latin-1 registry")
    git(project, "checkout", "-q", "-b", "feature")
    (project / "registry.yaml").write_text("environments: [dev, prod]\n", encoding="utf-8")
    git(project, "commit", "-q", "-am", "fix")
    result = cli("check", "--base", "main")
    assert result.exit_code == 1
    assert_no_traceback(result)
    assert "registry.yaml:2: not valid UTF-8 (byte 0xe9) in commit" in result.output


def test_an_all_error_group_does_not_meet_fail_under_zero(project: Path, cli: Cli) -> None:
    path = project / "prompts/summarize/1.0.0.yaml"
    text = path.read_text(encoding="utf-8").replace("  id: echo/echo", "  id: nope/unknown-model")
    path.write_text(text, encoding="utf-8")
    result = cli("eval", "summarize@1.0", "-q", "--fail-under", "0", "--retries", "0")
    assert result.exit_code == 1, result.output
    assert_no_traceback(result)


def test_an_empty_registry_is_a_lint_problem(project: Path, cli: Cli) -> None:
    (project / "registry.yaml").write_text("# nothing yet\n", encoding="utf-8")
    result = cli("lint")
    assert result.exit_code == 1
    assert "registry.yaml: registry.yaml is empty; declare environments" in result.output
