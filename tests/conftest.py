"""Shared fixtures: a throwaway promptops project in a git repository, a file writer, a CLI runner.

The ``project`` fixture is function-scoped and not autouse, so tests that need no project pay
nothing. A module whose every test needs one makes it autouse locally::

    @pytest.fixture(autouse=True)
    def _in_project(project: Path) -> None:
        pass

The project it builds (root = ``tmp_path``, which is also the working directory)::

    prompts/summarize/1.0.0.yaml   echo/echo, inputs document (string) + max_words (integer, 30)
    prompts/summarize/1.1.0.yaml   same inputs, reworded system message
    prompts/summarize/2.0.0.yaml   same inputs, block-scalar user template, temperature 0.2
    evals/summarize.jsonl          3 cases (ids: short, long, budget)
    registry.yaml                  environments dev, staging, prod; summarize prod = 1.0.0
    .gitignore                     .promptops/

It is committed once on branch ``main``; the working tree is clean when a test starts. The
files are built and committed once per session and copied per test, which keeps the fixture at
a few milliseconds. The file texts are module constants here so tests can assert on them.

Model calls never leave the machine: the fixture prompts use the ``echo`` provider.

Fixtures: ``project`` (the above; returns its root), ``write`` (``write("prompts/x/1.0.0.yaml",
text)`` under ``tmp_path``), ``cli`` (``cli("render", "summarize@2.0", ...)`` -> typer Result).
Helpers to import with ``from conftest import ...``: ``git(root, *args)``, ``build_project``,
``assert_no_traceback(result)``, ``error_lines(result)``, ``run_python(code, cwd)``,
``check_written_runs(runs_dir)`` and the file
texts ``SUMMARIZE_1_0_0``, ``SUMMARIZE_1_1_0``, ``SUMMARIZE_2_0_0``, ``SUMMARIZE_CASES``.
"""

from __future__ import annotations

import os

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

GIT_IDENTITY = ("-c", "user.name=promptops tests", "-c", "user.email=tests@promptops.invalid")

SUMMARIZE_1_0_0 = """\
name: summarize
version: 1.0.0
description: Summarize a document in a few words.
changelog: First version.
model:
  id: echo/echo
  params: {temperature: 0, max_tokens: 200}
inputs:
  document: {type: string, description: The text to summarize.}
  max_words: {type: integer, default: 30, description: Word budget.}
messages:
  - role: system
    content: Summarize the user's document in at most {{ max_words }} words.
  - role: user
    content: "{{ document }}"
dataset: evals/summarize.jsonl
assert:
  - {type: icontains, value: "{{ document }}"}
"""

SUMMARIZE_1_1_0 = (
    SUMMARIZE_1_0_0.replace("version: 1.0.0", "version: 1.1.0")
    .replace("changelog: First version.", "changelog: Ask for one sentence.")
    .replace(
        "content: Summarize the user's document in at most {{ max_words }} words.",
        "content: Summarize the user's document in one sentence of at most {{ max_words }} words.",
    )
)

SUMMARIZE_2_0_0 = """\
name: summarize
version: 2.0.0
description: Summarize a document, with a title line.
changelog: Title line; block-scalar template.
model:
  id: echo/echo
  params: {temperature: 0.2, max_tokens: 200}
inputs:
  document: {type: string, description: The text to summarize.}
  max_words: {type: integer, default: 30, description: Word budget.}
messages:
  - role: system
    content: You write summaries with a title line.
  - role: user
    content: |
      Summarize in at most {{ max_words }} words.

      Document:
      {{ document }}
dataset: evals/summarize.jsonl
assert:
  - {type: icontains, value: "{{ document }}"}
"""

SUMMARIZE_CASES = [
    {"id": "short", "vars": {"document": "The cat sat on the mat."}, "expected": "cat"},
    {
        "id": "long",
        "vars": {"document": "Rain is expected all week. Bring an umbrella to work."},
        "expected": "rain",
    },
    {"id": "budget", "vars": {"document": "Prices rose by 3%.", "max_words": 5}, "expected": "3%"},
]

REGISTRY_TEMPLATE = """\
environments: [dev, staging, prod]
prompts:
  summarize:
    prod:
      version: 1.0.0
      digest: {digest}
"""

PROMPT_FILES = {
    "prompts/summarize/1.0.0.yaml": SUMMARIZE_1_0_0,
    "prompts/summarize/1.1.0.yaml": SUMMARIZE_1_1_0,
    "prompts/summarize/2.0.0.yaml": SUMMARIZE_2_0_0,
}


def git(root: Path, *args: str) -> str:
    """Run git in ``root`` with a fixed identity and no user/system config; return stdout."""
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
    }
    done = subprocess.run(
        ["git", *GIT_IDENTITY, "-c", "commit.gpgsign=false", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def build_project(root: Path) -> Path:
    """Write the standard test project into ``root`` and commit it (see the module docstring)."""
    from promptops.project import load_prompt

    for rel, text in PROMPT_FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (root / "evals").mkdir(exist_ok=True)
    (root / "evals" / "summarize.jsonl").write_text(
        "".join(json.dumps(c) + "\n" for c in SUMMARIZE_CASES), encoding="utf-8"
    )
    digest = load_prompt(root / "prompts/summarize/1.0.0.yaml").digest
    (root / "registry.yaml").write_text(REGISTRY_TEMPLATE.format(digest=digest), encoding="utf-8")
    (root / ".gitignore").write_text(".promptops/\n", encoding="utf-8")
    git(root, "init", "-q", "--template=", "-b", "main")  # no sample hooks: faster to copy
    # a local identity, so code under test (gitpython, `promptops promote`) can commit here too
    git(root, "config", "user.name", "promptops tests")
    git(root, "config", "user.email", "tests@promptops.invalid")
    git(root, "config", "commit.gpgsign", "false")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial prompts")
    return root


@pytest.fixture(scope="session")
def _project_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_project(tmp_path_factory.mktemp("project-template"))


@pytest.fixture
def project(
    _project_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A fresh committed project in ``tmp_path``; the working directory for the test. At the
    end, every run the test wrote must fit the run record models (:func:`check_written_runs`)."""
    shutil.copytree(_project_template, tmp_path, dirs_exist_ok=True, symlinks=True)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    check_written_runs(tmp_path / ".promptops" / "runs")


def check_written_runs(runs_dir: Path) -> int:
    """Validate the files of every run under ``runs_dir`` written by this promptops (those at
    the current ``schema_version``: hand-made and 0.1.0 files are left alone) against
    ``promptops.eval.records`` with ``extra="forbid"``, so a field the code writes but the models do
    not describe (or misspell) fails the test that wrote it. Returns the records checked."""
    if not runs_dir.is_dir():
        return 0
    from promptops.eval.records import SCHEMA_VERSION, CaseRecord, RunSpec, Summary

    n = 0
    for run in sorted(runs_dir.iterdir()):
        for name, model in (("run.json", RunSpec), ("summary.json", Summary)):
            try:
                data = json.loads((run / name).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and data.get("schema_version") == SCHEMA_VERSION:
                model.model_validate(data)
        try:
            lines = (run / "results.jsonl").read_text(encoding="utf-8").splitlines()
        except (OSError, ValueError):
            continue
        for line in lines:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and rec.get("schema_version") == SCHEMA_VERSION:
                CaseRecord.model_validate(rec)
                n += 1
    return n


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """``write(rel_path, content)``: write a file under ``tmp_path`` (the project root when the
    ``project`` fixture is used), creating directories. ``str`` content is dedented and written
    as UTF-8; ``bytes`` are written unchanged. Returns the absolute path."""

    def _write(rel: str | Path, content: str | bytes) -> Path:
        path = Path(rel) if Path(rel).is_absolute() else tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def cli() -> Callable[..., Result]:
    """``cli(*args, input=None)``: run ``promptops ARGS`` in-process with typer's CliRunner.

    ``result.stdout`` and ``result.stderr`` are separate (``result.output`` has both). An
    exception escaping the error boundary lands in ``result.exception``: check it with
    ``assert_no_traceback``."""
    from promptops.cli import app

    runner = CliRunner()

    def _run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), input=input, catch_exceptions=True)

    return _run


def assert_no_traceback(result: Result) -> None:
    """A command ended through the error boundary, not with an escaped exception."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    assert "Traceback" not in result.stderr


def error_lines(result: Result) -> list[str]:
    """The non-empty lines the command printed on stderr."""
    return [line for line in result.stderr.splitlines() if line.strip()]


def run_python(code: str, cwd: Path, extra: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
    """Run the venv's Python (the one running the tests) on ``code`` in ``cwd``."""
    return subprocess.run(
        [sys.executable, *extra, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def poison(source: Path, payload: str) -> Path:
    """Compile ``payload`` into the unchecked hash-based pyc the import system would run for
    ``source`` (``__pycache__/NAME.cpython-3XX.pyc``): the audit's attack, where Python never
    looks at the source beside it."""
    import importlib.util
    import py_compile

    evil = source.parent / f"_{source.stem}_payload.py"
    evil.write_text(payload)
    cfile = Path(importlib.util.cache_from_source(str(source)))
    py_compile.compile(
        str(evil),
        cfile=str(cfile),
        doraise=True,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    evil.unlink()
    return cfile
