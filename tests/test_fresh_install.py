"""The README's two Quickstart commands, verbatim, on a fresh venv with the pip it bundles.

A clean copy of the repository (the files git tracks or would add), a ``python3`` on PATH that is
each supported interpreter found on this machine (3.10 to 3.13), and the Quickstart's commands run
by bash exactly as printed. The first runs the main job (install from the lock, then the eval on
the bundled local model); the second installs the dev lock and runs the tests, shortened here to
a few test files for time (``.ci/run`` runs it in full). The venv's pip must still be the one
``ensurepip`` bundles: that is the pip a newcomer has.

It downloads from the package index and takes minutes, so it runs under ``CI=true`` (``.ci/run``)
or with ``PROMPTOPS_TEST_FRESH_INSTALL=1``.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SUPPORTED = ("3.10", "3.11", "3.12", "3.13")
FULL_TESTS = " && .venv/bin/pytest -n 2 -q"
# The shortened test run of the second command: quick files that need no browser or npm.
SUBSET_TESTS = (
    " && .venv/bin/pytest -q -p no:cacheprovider tests/test_refs.py tests/test_pinning.py"
)

enabled = bool(os.environ.get("CI") or os.environ.get("PROMPTOPS_TEST_FRESH_INSTALL"))


def quickstart_commands(text: str = README) -> list[str]:
    """The ``$ `` lines of the Quickstart's console blocks, in order."""
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    bodies = re.findall(r"^```console\n(.*?)^```", section, re.S | re.M)
    return [ln[2:] for body in bodies for ln in body.splitlines() if ln.startswith("$ ")]


def interpreter(minor: str) -> tuple[str, str] | None:
    """(path, bundled pip version) of a CPython ``minor`` with venv and ensurepip, or None."""
    candidates = [shutil.which(f"python{minor}") or ""]
    candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{minor}.*/bin/python3")))
    candidates += [f"/usr/bin/python{minor}", f"/usr/local/bin/python{minor}"]
    probe = (
        "import sys, venv, ensurepip; print('%d.%d' % sys.version_info[:2], ensurepip.version())"
    )
    for exe in filter(None, candidates):
        if not os.access(exe, os.X_OK):
            continue
        done = subprocess.run([exe, "-c", probe], capture_output=True, text=True, timeout=60)
        words = done.stdout.split()
        if done.returncode == 0 and len(words) == 2 and words[0] == minor:
            return exe, words[1]
    return None


def clean_copy(dest: Path) -> Path:
    """The files git tracks or would add (no .venv, no caches, no run records)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def test_readme_has_two_quickstart_commands_with_a_test_run_to_shorten() -> None:
    commands = quickstart_commands()
    assert len(commands) == 2
    assert commands[0].startswith("python3 -m venv .venv && ")
    assert commands[1].count(FULL_TESTS) == 1 and commands[1].endswith(FULL_TESTS)


def test_ci_and_the_github_workflow_run_the_commands_verbatim() -> None:
    first, second = quickstart_commands()
    assert second in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    github = (ROOT / ".github" / "workflows" / "promptops.yml").read_text(encoding="utf-8")
    assert f"- run: {first}\n" in github and f"- run: {second}\n" in github
    matrix = re.findall(r'python-version: \["3\.10", "3\.11", "3\.12", "3\.13"\]', github)
    assert matrix, "the test job runs on every supported Python"


@pytest.mark.slow
@pytest.mark.skipif(
    not enabled,
    reason="downloads from the package index: CI=true or PROMPTOPS_TEST_FRESH_INSTALL=1",
)
@pytest.mark.parametrize("minor", SUPPORTED)
def test_readme_commands_verbatim_on_a_fresh_venv(minor: str, tmp_path: Path) -> None:
    found = interpreter(minor)
    default = subprocess.run(
        ["python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    if found is None:
        if minor == default:
            pytest.fail(f"python3 is {minor} but has no venv/ensurepip")
        pytest.skip(f"no Python {minor} on this machine")
    exe, bundled_pip = found
    project = clean_copy(tmp_path / "promptops")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python3").symlink_to(exe)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PIP_REQUIRE_VIRTUALENV"}
    }
    env["PATH"] = os.pathsep.join(
        [str(bindir)] + [p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p]
    )
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    first, second = quickstart_commands()
    shortened = second.replace(FULL_TESTS, SUBSET_TESTS)
    try:
        for command in (first, shortened):
            done = subprocess.run(
                ["bash", "-c", command],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
                timeout=1800,
            )
            tail = (done.stdout[-3000:] + "\n" + done.stderr[-3000:]).strip()
            assert done.returncode == 0, f"Python {minor}: $ {command}\n{tail}"
            assert "Traceback" not in done.stderr, f"Python {minor}: $ {command}\n{tail}"
            if command is first:
                # the eval's table: one row for the version it ran
                assert "summarize@2.0.0" in done.stdout, done.stdout[-3000:]
            else:
                assert re.search(r"\b\d+ passed\b", done.stdout), done.stdout[-3000:]
        pip = subprocess.run(
            [str(project / ".venv" / "bin" / "pip"), "--version"], capture_output=True, text=True
        )
        assert pip.stdout.startswith(f"pip {bundled_pip} "), pip.stdout
    finally:
        shutil.rmtree(project / ".venv", ignore_errors=True)
