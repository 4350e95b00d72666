"""The litellm path's import (providers/litellm_provider.py): frozen out of the cyclic
collector's sight in promptops's own process only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from promptops.testing.server import FakeOpenAI

PROMPT = """\
name: qa
version: 1.0.0
model:
  id: openai/gpt-4o-mini-2024-07-18
  api_base: {url}
  provider: litellm
  params: {{temperature: 0, max_tokens: 20}}
inputs:
  question: string
template: "Q: {{{{ question }}}}"
dataset: evals/qa.jsonl
assert:
  - {{type: icontains, value: "Q:"}}
"""

COMMAND = """\
import gc, sys
from promptops.cli import main
sys.argv = ["promptops", "eval", "qa@1.0", "-q", "--format", "json"]
try:
    main()
except SystemExit as e:
    print("exit", e.code)
print("frozen", gc.get_freeze_count() > 0, "litellm" in sys.modules)
"""

LIBRARY = """\
import gc, sys
from promptops.eval.runner import run_eval
from promptops.project import Project
from promptops.refs import resolve
project = Project.find()
result = run_eval(project, [resolve("qa@1.0", project)])
print("status", result.summary["status"])
print("frozen", gc.get_freeze_count() > 0, "litellm" in sys.modules)
"""


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    with FakeOpenAI() as server:
        (tmp_path / "prompts/qa").mkdir(parents=True)
        (tmp_path / "evals").mkdir()
        (tmp_path / "prompts/qa/1.0.0.yaml").write_text(PROMPT.format(url=server.url))
        (tmp_path / "evals/qa.jsonl").write_text(
            "".join(
                json.dumps({"id": f"c{i}", "vars": {"question": f"q{i}"}}) + "\n" for i in range(3)
            )
        )
        yield tmp_path
        assert server.calls >= 3


def _run(code: str, cwd: Path) -> list[str]:
    env_key = {"OPENAI_API_KEY": "sk-test-0123456789", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env={**os.environ, **env_key},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout.splitlines()


def test_the_command_imports_litellm_frozen(project: Path) -> None:
    lines = _run(COMMAND, project)
    assert lines[-2:] == ["exit 0", "frozen True True"], lines


def test_an_application_process_is_left_alone(project: Path) -> None:
    lines = _run(LIBRARY, project)
    assert lines[-2:] == ["status complete", "frozen False True"], lines
