"""``promptops init``, then the generated workflow's steps run as a script: the first push, the
next push and a force-push each exit 0; the branch the workflow watches is the one init made.

The steps run with bash in the new project, the environment GitHub would give them for a push
(``github.event.before`` is all zeros on a branch's first push), and this venv's ``promptops``
on PATH instead of the workflow's ``pip install`` (the install itself is tested in
test_fresh_install.py). The starter prompt runs on the bundled local model.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

BIN = Path(sys.executable).parent


def git(root: Path, *args: str) -> str:
    """git with the test's identity and no user config (the fixture's variables are set)."""
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def gitenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """No user git config but ours; a git identity (set in os.environ too, for git())."""
    config = tmp_path / "gitconfig"
    config.write_text("")
    for k in [k for k in os.environ if k.startswith("GIT_")]:
        monkeypatch.delenv(k)
    for k, v in {
        "GIT_AUTHOR_NAME": "New Comer",
        "GIT_AUTHOR_EMAIL": "new@example.invalid",
        "GIT_COMMITTER_NAME": "New Comer",
        "GIT_COMMITTER_EMAIL": "new@example.invalid",
        "GIT_CONFIG_GLOBAL": str(config),
        "GIT_CONFIG_NOSYSTEM": "1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")]),
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return dict(os.environ)


def init(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "promptops"), "init", "proj", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def workflow(root: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(
        (root / ".github" / "workflows" / "promptops.yml").read_text(encoding="utf-8")
    )
    return data


def check_step(root: Path) -> dict[str, Any]:
    steps = workflow(root)["jobs"]["check"]["steps"]
    (step,) = [s for s in steps if "promptops check" in s.get("run", "")]
    return dict(step)


def run_step(root: Path, env: dict[str, str], **github: str) -> subprocess.CompletedProcess[str]:
    """The check step's script, with its ``env:`` as GitHub would fill it for this event."""
    step = check_step(root)
    filled = {k: github.get(k, "") for k in step["env"]}
    return subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        cwd=root,
        env={**env, **filled},
        capture_output=True,
        text=True,
        timeout=1200,
    )


@pytest.mark.parametrize("configured", [None, "trunk"])
def test_init_creates_the_branch_its_workflow_watches(
    tmp_path: Path, gitenv: dict[str, str], configured: str | None
) -> None:
    if configured:
        Path(gitenv["GIT_CONFIG_GLOBAL"]).write_text(f"[init]\n\tdefaultBranch = {configured}\n")
    done = init(tmp_path, gitenv)
    assert done.returncode == 0, done.stderr
    branch = configured or "main"
    root = tmp_path / "proj"
    assert git(root, "symbolic-ref", "--short", "HEAD") == branch
    on = workflow(root)[True]  # YAML 1.1 reads the key `on` as true
    assert on["push"]["branches"] == [branch]
    assert f"pushes to {branch}" in done.stdout


def test_init_in_an_existing_repository_follows_its_branch(
    tmp_path: Path, gitenv: dict[str, str]
) -> None:
    (tmp_path / "proj").mkdir()
    git(tmp_path / "proj", "init", "-q", "-b", "develop")
    done = init(tmp_path, gitenv)
    assert done.returncode == 0, done.stderr
    assert workflow(tmp_path / "proj")[True]["push"]["branches"] == ["develop"]


def test_init_install_spec(tmp_path: Path, gitenv: dict[str, str]) -> None:
    spec = "promptops-cli[local] @ git+https://github.com/example/promptops@0123abc"
    done = init(tmp_path, gitenv, "--install", spec)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "proj" / ".github" / "workflows" / "promptops.yml").read_text()
    assert f"pip install '{spec}'" in text
    for bad, why in [
        ("promptops", "unrelated project"),
        ("promptops-cli @ git+https://user:tok@github.com/x/y@1", "credentials"),
    ]:
        shutil.rmtree(tmp_path / "proj", ignore_errors=True)
        done = init(tmp_path, gitenv, "--install", bad)
        assert done.returncode == 2, done.stdout
        assert why in done.stderr and "Traceback" not in done.stderr
        assert "user:tok" not in done.stdout + done.stderr
        assert not (tmp_path / "proj").exists()


@pytest.mark.local_model
@pytest.mark.slow
def test_first_push_next_push_and_force_push_pass(tmp_path: Path, gitenv: dict[str, str]) -> None:
    pytest.importorskip("xllamacpp", reason="the starter prompt runs on the bundled local model")
    assert init(tmp_path, gitenv).returncode == 0
    root = tmp_path / "proj"
    git(root, "add", "-A")
    git(root, "commit", "-qm", "promptops init")
    first = git(root, "rev-parse", "HEAD")

    done = run_step(root, gitenv, EVENT="push", BEFORE="0" * 40)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no earlier commit to judge against" in done.stdout
    assert "hello@1.0.0" in done.stdout and "check passed" in done.stdout

    # the next push: a new version, judged against the commit before the push
    new = root / "prompts" / "hello" / "1.1.0.yaml"
    new.write_text(
        (root / "prompts" / "hello" / "1.0.0.yaml")
        .read_text()
        .replace("version: 1.0.0", "version: 1.1.0")
        .replace("changelog: First version.", "changelog: The same, as a second version.")
    )
    git(root, "add", "-A")
    git(root, "commit", "-qm", "hello 1.1.0")
    done = run_step(root, gitenv, EVENT="push", BEFORE=first)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "hello@1.1.0" in done.stdout and "no earlier commit" not in done.stdout

    # a force-push: the "before" commit is gone from the repository
    done = run_step(root, gitenv, EVENT="push", BEFORE="1234567" * 5 + "89abc")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no earlier commit to judge against" in done.stdout


def test_check_without_a_common_ancestor_says_what_to_do(
    tmp_path: Path, gitenv: dict[str, str]
) -> None:
    assert init(tmp_path, gitenv).returncode == 0
    root = tmp_path / "proj"
    git(root, "add", "-A")
    git(root, "commit", "-qm", "init")
    git(root, "checkout", "-q", "--orphan", "unrelated")
    git(root, "commit", "-qm", "unrelated history")
    done = subprocess.run(
        [str(BIN / "promptops"), "check", "--base", "main"],
        cwd=root,
        env=gitenv,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no common ancestor" in done.stderr and "--base none" in done.stderr
    assert "Traceback" not in done.stderr
