"""promptops promote / abort-canary / rollback / history / status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from conftest import assert_no_traceback, error_lines, git, run_python
from promptops.project import Project
from promptops.registry.file import read_registry

Cli = Callable[..., Result]


@pytest.fixture(autouse=True)
def _env(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var, value in {
        "GIT_AUTHOR_NAME": "Ada Lovelace",
        "GIT_AUTHOR_EMAIL": "ada@example.invalid",
        "GIT_COMMITTER_NAME": "Ada Lovelace",
        "GIT_COMMITTER_EMAIL": "ada@example.invalid",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }.items():
        monkeypatch.setenv(var, value)


def active(project: Path, env: str) -> tuple[str, str | None, int | None] | None:
    dep = read_registry(Project(project)).prompts.get("summarize", {}).get(env)
    if dep is None:
        return None
    return (
        dep.version,
        dep.canary.version if dep.canary else None,
        dep.canary.weight if dep.canary else None,
    )


def test_promote_without_evidence_says_what_to_run(cli: Cli) -> None:
    result = cli("promote", "summarize", "2.0", "--env", "prod")
    assert result.exit_code == 1
    assert_no_traceback(result)
    [line] = error_lines(result)
    assert line.startswith("no eval run of summarize 2.0.0 (")
    assert "run: promptops eval summarize@2.0.0" in line


def test_promote_with_evidence_then_rollback(cli: Cli, project: Path) -> None:
    assert cli("eval", "summarize@1.0.0", "summarize@2.0.0", "-q", "-f", "json").exit_code == 0
    result = cli("promote", "summarize@2.0", "--env", "prod", "--commit")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("promoted summarize 2.0.0 to prod, was 1.0.0")
    assert "evidence: run " in result.stdout and "committed " in result.stdout
    assert active(project, "prod") == ("2.0.0", None, None)
    result = cli("rollback", "summarize", "--env", "prod", "--reason", "errors", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (
        data["action"] == "rollback"
        and data["to_version"] == "1.0.0"
        and data["reason"] == "errors"
    )
    assert active(project, "prod") == ("1.0.0", None, None)


def test_force_canary_ramp_and_abort(cli: Cli, project: Path) -> None:
    result = cli("promote", "summarize", "2.0.0", "--env", "prod", "--canary", "5", "--force")
    assert result.exit_code == 2 and "--force needs --reason" in result.stderr
    result = cli(
        "promote", "summarize", "2.0.0", "--env", "prod", "--canary", "5", "--force", "-r", "try"
    )
    assert result.exit_code == 0, result.output
    assert "canary summarize 2.0.0 at 5% in prod, beside 1.0.0" in result.stdout
    assert "forced without evidence: try" in result.stderr
    assert (
        cli(
            "promote", "summarize", "2.0.0", "-e", "prod", "--canary", "20", "--force", "-r", "ramp"
        ).exit_code
        == 0
    )
    assert active(project, "prod") == ("1.0.0", "2.0.0", 20)
    result = cli("abort-canary", "summarize", "--env", "prod")
    assert (
        result.exit_code == 0
        and "aborted canary summarize 2.0.0 in prod; serving 1.0.0" in result.stdout
    )
    assert active(project, "prod") == ("1.0.0", None, None)
    result = cli("abort-canary", "summarize", "--env", "prod")
    assert result.exit_code == 1 and error_lines(result) == ["summarize has no canary in prod"]


def test_usage_errors(cli: Cli) -> None:
    result = cli("promote", "summarize", "--env", "prod")
    assert result.exit_code == 2 and "which version of summarize?" in result.stderr
    result = cli("promote", "summarize", "2.0.0")
    assert result.exit_code == 2 and "--env" in result.output


def test_history_lists_changes_newest_first(cli: Cli, project: Path) -> None:
    cli("promote", "summarize", "1.1.0", "-e", "prod", "--force", "-r", "first fix", "--commit")
    cli("promote", "summarize", "2.0.0", "-e", "dev", "--force", "-r", "try it")
    result = cli("history")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert (
        "uncommitted" in lines[0]
        and "summarize  dev  promote - -> 2.0.0" in lines[0]
        and "'try it'" in lines[0]
    )
    assert "summarize  prod  promote 1.0.0 -> 1.1.0" in lines[1] and "by Ada Lovelace" in lines[1]
    assert "forced: 'first fix'" in lines[1]
    assert "summarize  prod  promote - -> 1.0.0" in lines[2]
    data = json.loads(cli("history", "summarize", "--env", "prod", "--json").stdout)
    assert [d["to_version"] for d in data] == ["1.1.0", "1.0.0"]


def test_status_table_json_and_check(cli: Cli, project: Path) -> None:
    result = cli("status")
    assert result.exit_code == 0 and "1.0.0" in result.stdout and " ok" in result.stdout
    data = json.loads(cli("status", "--json").stdout)
    prod = next(r for r in data if r["env"] == "prod")
    assert prod["active"]["version"] == "1.0.0" and prod["active"]["state"] == "ok"
    path = project / "prompts/summarize/1.0.0.yaml"
    path.write_text(path.read_text().replace("First version.", "Edited."))
    result = cli("status", "--check")
    assert result.exit_code == 1 and "CHANGED" in result.stdout
    assert "no longer match their files" in result.stderr


def test_invalid_registry_is_reported_without_traceback(cli: Cli, project: Path) -> None:
    (project / "registry.yaml").write_text(
        "environments: [dev]\nprompts:\n  summarize:\n    prod: {version: 1.0.0}\n"
    )
    result = cli("status")
    assert result.exit_code == 1
    assert_no_traceback(result)
    assert any(
        line.startswith("registry.yaml:4: prompts.summarize.prod") for line in error_lines(result)
    )


def test_registry_commands_do_not_import_litellm_pandas_or_git(project: Path) -> None:
    code = (
        "import sys\nfrom promptops.cli import app\n"
        "try:\n    app(['promote', 'summarize', '2.0.0', '-e', 'dev', '--force', '-r', 'x'])\nexcept SystemExit:\n    pass\n"
        "try:\n    app(['status'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('litellm', 'git', 'pandas') if m in sys.modules), file=sys.stderr)"
    )
    done = run_python(code, project)
    assert done.stderr.strip().splitlines()[-1] == "[]", done.stderr


def test_two_cli_promotes_racing_both_land(project: Path) -> None:
    d = project / "prompts" / "other"
    d.mkdir()
    src = (project / "prompts/summarize/1.1.0.yaml").read_text()
    (d / "1.1.0.yaml").write_text(src.replace("name: summarize", "name: other"))
    exe = str(Path(sys.executable).with_name("promptops"))
    for round_ in range(3):
        env = "dev" if round_ % 2 == 0 else "staging"
        procs = [
            subprocess.Popen(
                [exe, "promote", name, "1.1.0", "--env", env, "--force", "--reason", "x"],
                cwd=project,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name in ("summarize", "other")
        ]
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
        spec = read_registry(Project(project))
        assert spec.prompts["summarize"][env].version == "1.1.0"
        assert spec.prompts["other"][env].version == "1.1.0"
    git(project, "status", "--porcelain")  # still a healthy repository


def test_rollback_after_uncommitted_promotions_returns_to_the_previous_one(
    cli: Cli, project: Path
) -> None:
    """Issue 11: promotions made without --commit are not in git; the journal says what was
    active before, so rollback does not skip them back to the last committed version."""
    for version in ("1.1.0", "2.0.0"):
        result = cli("promote", "summarize", version, "--env", "prod", "--force", "-r", "x")
        assert result.exit_code == 0, result.output
    result = cli("rollback", "summarize", "--env", "prod")
    assert result.exit_code == 0, result.output
    assert "1.1.0" in result.stdout and "2.0.0" in result.stdout
    assert "version: 1.1.0" in (project / "registry.yaml").read_text(encoding="utf-8")


def test_rollback_without_a_journal_of_an_uncommitted_promotion_refuses(
    cli: Cli, project: Path
) -> None:
    assert (
        cli("promote", "summarize", "2.0.0", "--env", "prod", "--force", "-r", "x").exit_code == 0
    )
    (project / ".promptops/registry-log.jsonl").unlink()
    result = cli("rollback", "summarize", "--env", "prod")
    assert result.exit_code == 1
    assert "was made active in prod without --commit" in result.stderr
    assert "pass --to VERSION" in result.stderr
