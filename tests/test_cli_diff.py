"""``promptops diff`` and ``promptops check`` through typer's CliRunner."""

from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from promptops.testing.server import FakeOpenAI, Reply, echo

Cli = Callable[..., Result]

QA = """\
name: qa
version: {version}
model:
  id: openai/fake-model-2024-01-01
  params: {{temperature: 0}}
inputs:
  question: {{type: string}}
template: "{template}"
dataset: evals/qa.jsonl
assert:
  - {{type: icontains, value: "{{{{ expected }}}}"}}
"""


def git(root: Path, *args: str) -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    ident = ("-c", "user.name=t", "-c", "user.email=t@t.invalid", "-c", "commit.gpgsign=false")
    subprocess.run(["git", *ident, *args], cwd=root, env=env, capture_output=True, check=True)


def no_traceback(result: Result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")

    def responder(req: Any) -> Any:  # the terse prompt loses every case but each fourth
        if req.text.startswith("Terse:") and int(req.text.split()[-1]) % 4:
            return Reply("?")
        return echo(req)

    with FakeOpenAI(responder) as s:
        yield s


@pytest.fixture
def qa_repo(project: Path) -> Path:
    """qa 1.0.0 committed on main (never promoted); branch `feature` adds a worse 1.1.0."""
    (project / "prompts/qa").mkdir()
    (project / "prompts/qa/1.0.0.yaml").write_text(
        QA.format(version="1.0.0", template="Answer: {{ question }}")
    )
    (project / "evals/qa.jsonl").write_text(
        "".join(
            json.dumps(
                {"id": f"q{i:02d}", "vars": {"question": f"number {i}"}, "expected": f"number {i}"}
            )
            + "\n"
            for i in range(24)
        )
    )
    git(project, "add", "-A")
    git(project, "commit", "-qm", "qa")
    git(project, "checkout", "-qb", "feature")
    (project / "prompts/qa/1.1.0.yaml").write_text(
        QA.format(version="1.1.0", template="Terse: {{ question }}")
    )
    return project


# ------------------------------------------------------------------------------------------
# diff
# ------------------------------------------------------------------------------------------


def test_diff_two_refs_table(project: Path, cli: Cli) -> None:
    result = cli("diff", "summarize@prod", "summarize@2.0")
    no_traceback(result)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "summarize@1.0.0 → summarize@2.0.0" in out
    assert "params.temperature: 0 → 0.2" in out
    assert "+You write summaries with a title line." in out
    assert "echo/echo" in out and "3 paired cases" in out
    # 3 unchanged cases cannot show that B is no worse: inconclusive (exit 0), with the reason
    assert "verdict: INCONCLUSIVE" in out
    assert "below 236 cases no data can show ok at margin 0.02" in out


def test_diff_json_and_markdown(project: Path, cli: Cli, tmp_path: Path) -> None:
    result = cli("diff", "summarize@1.0.0", "summarize@1.1.0", "--format", "json", "--seed", "9")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["verdict"] == "inconclusive" and data["a"] == "summarize@1.0.0"
    assert data["comparisons"][0]["seed"] == 9 and data["comparisons"][0]["method"] == "tango"
    md = tmp_path / "out" / "diff.md"
    result = cli("diff", "summarize@1.0.0", "summarize@1.1.0", "-f", "markdown", "-o", str(md))
    assert result.exit_code == 0
    assert result.stdout.startswith(
        "### ⚠️ promptops diff `summarize@1.0.0` → `summarize@1.1.0`: inconclusive"
    )
    assert "```diff" in result.stdout and md.read_text() == result.stdout


def test_diff_repeat_averages_samples_per_case(project: Path, cli: Cli) -> None:
    result = cli("diff", "summarize@1.0.0", "summarize@2.0.0", "--repeat", "2", "-f", "json")
    assert result.exit_code == 0, result.output
    (c,) = json.loads(result.stdout)["comparisons"]
    assert c["repeats"] == 2 and c["n_paired"] == 3


def test_diff_run_ids(project: Path, cli: Cli) -> None:
    ids = []
    for ref in ("summarize@1.0.0", "summarize@1.1.0"):
        res = cli("eval", ref, "--format", "json")
        assert res.exit_code == 0, res.output
        ids.append(json.loads(res.stdout)["run_id"])
    result = cli("diff", *ids, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["runs"] == ids
    mixed = cli("diff", ids[0], "summarize@1.1.0")
    no_traceback(mixed)
    assert mixed.exit_code == 2 and "not one of each" in mixed.stderr


def test_diff_usage_errors(project: Path, cli: Cli) -> None:
    res = cli("diff", "summarize@1.0.0", "summarize@1.1.0", "--format", "html")
    assert res.exit_code == 2 and "--format" in res.stderr
    res = cli("diff", "summarize@1.0.0", "summarize@9.0")
    no_traceback(res)
    assert res.exit_code == 1 and "9.0.0 not found" in res.stderr


def test_diff_exits_1_on_a_regression(qa_repo: Path, cli: Cli, server: FakeOpenAI) -> None:
    result = cli("diff", "qa@1.0.0", "qa@1.1.0", "--api-base", server.url)
    no_traceback(result)
    assert result.exit_code == 1, result.output
    assert "verdict: REGRESSION" in result.stdout
    assert "regressed (worse in B): 18" in result.stdout
    assert "B fails 18 cases that A passed and passes 0 that A failed (of 24)" in result.stdout
    assert "q01" in result.stdout and "number 1" in result.stdout


# ------------------------------------------------------------------------------------------
# check
# ------------------------------------------------------------------------------------------


def test_check_writes_markdown_junit_and_step_summary(
    qa_repo: Path, cli: Cli, server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    md, junit = tmp_path / "check.md", tmp_path / "reports/junit.xml"
    result = cli(
        "check",
        "--base",
        "main",
        "--api-base",
        server.url,
        "--markdown",
        str(md),
        "--junit",
        str(junit),
    )
    no_traceback(result)
    assert result.exit_code == 1, result.output
    assert "check failed" in result.stdout and "qa@1.1.0 added vs qa@1.0.0" in result.stdout
    text = md.read_text()
    assert text.startswith("### promptops check ❌ failed")
    assert (
        "| `qa@1.1.0` | added | `qa@1.0.0` (previous version (never in prod)) | ❌ regression |"
        in text
    )
    assert "q01" in text
    assert summary.read_text() == "earlier step\n" + text
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    case = suite.find("testcase")
    assert case is not None and case.get("name") == "qa@1.1.0"
    failure = case.find("failure")
    assert failure is not None and "q01" in (failure.text or "")


def test_check_json_and_passing(qa_repo: Path, cli: Cli, server: FakeOpenAI) -> None:
    (qa_repo / "prompts/qa/1.1.0.yaml").write_text(
        QA.format(version="1.1.0", template="Answer:  {{ question }}")
    )
    result = cli("check", "--base", "main", "--api-base", server.url, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    # 24 unchanged cases: not enough to show ok, and inconclusive passes without --strict
    assert data["passed"] is True and data["entries"][0]["verdict"] == "inconclusive"
    assert "no drop" in data["entries"][0]["message"] or "cannot" in data["entries"][0]["message"]


def test_check_refuses_an_in_place_edit(project: Path, cli: Cli) -> None:
    path = project / "prompts/summarize/1.0.0.yaml"
    path.write_text(path.read_text().replace("First version.", "First version, edited."))
    result = cli("check", "--base", "main")
    no_traceback(result)
    assert result.exit_code == 1
    assert "summarize@1.0.0 is released (active in prod) and was edited in place" in result.stdout


def test_check_unknown_base(project: Path, cli: Cli) -> None:
    result = cli("check", "--base", "origin/main")
    no_traceback(result)
    assert result.exit_code == 1 and "unknown git revision 'origin/main'" in result.stderr


def test_the_ci_workflow_runs_check_with_options_that_exist(cli: Cli) -> None:
    import re

    import yaml

    workflow = Path(__file__).resolve().parents[1] / ".github/workflows/promptops.yml"
    data = yaml.safe_load(workflow.read_text(encoding="utf-8"))
    steps = [s for job in data["jobs"].values() for s in job["steps"]]
    (command,) = [s["run"] for s in steps if "promptops check" in s.get("run", "")]
    assert "--base" in command
    help_text = cli("check", "--help").stdout
    for option in re.findall(r"(--[a-z-]+)", command):
        assert option in help_text, option
    assert any(s.get("uses", "").startswith("actions/cache@") for s in steps)
    assert any(s.get("with", {}).get("fetch-depth") == 0 for s in steps)
