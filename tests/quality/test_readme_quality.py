"""The README's quality-loop section: every ``$ promptops`` line of its ``shell`` blocks runs, in
order, in a test project (echo model; tests/test_readme.py runs the ``console`` blocks on the
bundled local model, and skips without it). ``review`` serves until stopped: it must print its
URL, answer on it, and is then stopped."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from conftest import assert_no_traceback

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
SECTION = README.split("## The quality loop", 1)[1].split("\n## ", 1)[0]


def commands() -> list[str]:
    out = []
    for body in re.findall(r"^```shell\n(.*?)^```", SECTION, re.S | re.M):
        out += [ln[2:] for ln in body.splitlines() if ln.startswith("$ promptops ")]
    return out


def test_the_section_has_each_command() -> None:
    verbs = [c.split()[1] for c in commands()]
    assert verbs == ["capture", "capture", "review", "review", "calibrate", "drift"]


def test_the_commands_run_in_order(project: Path, cli: Callable[..., Result]) -> None:
    calls = [
        {
            "promptops.prompt.name": "summarize",
            "promptops.trace_id": f"t{i}",
            "promptops.vars": {"document": f"Note {i} from ada{i}@example.com"},
            "promptops.output": f"Note {i}",
            **extra,
        }
        for i, extra in enumerate(
            [{"error.type": "timeout"}, {"promptops.feedback.score": -1}, {}] * 20
        )
    ]
    (project / "calls.jsonl").write_text("".join(json.dumps(c) + "\n" for c in calls))
    assert cli("eval", "summarize@1.0.0").exit_code == 0  # a run for `review latest`
    for command in commands():
        args = shlex.split(command)[1:]
        if args[0] == "review":
            proc = subprocess.Popen(
                [sys.executable, "-m", "promptops", *args],
                cwd=project,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                assert proc.stdout is not None
                lines = [proc.stdout.readline() for _ in range(3)]
                url = lines[2].removeprefix("open ").strip()
                with urllib.request.urlopen(url, timeout=10) as r:
                    assert r.status == 200, command
            finally:
                proc.terminate()
                proc.wait(10)
            continue
        result = cli(*args)
        assert result.exit_code == 0, f"$ {command}\n{result.output}"
        assert_no_traceback(result)
    candidates = (project / "evals/summarize.candidates.jsonl").read_text()
    assert "[email]" in candidates and "@example.com" not in candidates
    assert len(candidates.splitlines()) >= 40  # 20 errors + 20 negative feedback, then a sample


@pytest.mark.parametrize("command", commands())
def test_each_command_has_help(command: str, cli: Callable[..., Result]) -> None:
    verb = shlex.split(command)[1]
    assert cli(verb, "--help").exit_code == 0
