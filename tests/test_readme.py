"""Every example in README.md runs, in order, on a copy of this repository's example project.

Console blocks: each ``$ `` line is run with the installed ``promptops`` (the Quickstart's install
steps are what ``.ci/run`` executes verbatim; here only their ``promptops`` part runs). A trailing
``# exit N`` comment gives the expected exit code (default 0). Placeholders are filled from the
runs made so far: ``RUN_ID`` is the newest run, ``RUN_A``/``RUN_B`` the single-version runs of
summarize 1.0.0 and 2.0.0, ``RUN_1 RUN_2`` the two newest (the shard runs). Python blocks are
executed in the project; YAML and JSON blocks are validated against the models they document.

The evals run on the bundled local model, so the cache makes every repeated case free.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import git
from promptops.spec import CaseSpec, ProjectConfig, PromptSpec, RegistrySpec

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BIN = Path(sys.executable).parent
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)

pytest.importorskip("xllamacpp", reason="the README's examples run on the bundled local model")


EXAMPLES_README = (ROOT / "examples" / "README.md").read_text(encoding="utf-8")


def blocks(lang: str, text: str = README) -> list[str]:
    return [body for kind, body in BLOCK.findall(text) if kind == lang]


def commands() -> list[tuple[str, int]]:
    """README.md's console lines, then examples/README.md's bash lines, in order."""
    lines = [
        ln[2:] for body in blocks("console") for ln in body.splitlines() if ln.startswith("$ ")
    ]
    lines += [
        ln for body in blocks("bash", EXAMPLES_README) for ln in body.splitlines() if ln.strip()
    ]
    out = []
    for line in lines:
        m = re.search(r"#\s*exits? (\d+)", line)
        expected = int(m.group(1)) if m else 0
        for part in line.split(" && "):
            part = part.strip()
            if part.startswith(".venv/bin/promptops "):
                part = part[len(".venv/bin/") :]
            if part.startswith(("promptops ", "python ")):
                out.append((part, expected))
    return out


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("readme")
    for name in ("prompts", "evals", "examples"):
        shutil.copytree(ROOT / name, root / name)
    for name in ("registry.yaml", "promptops.yaml"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, root / name)
    (root / ".gitignore").write_text(".promptops/\n*.html\n*.csv\n*.md\n*.parquet\n*.xml\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "example project")
    git(root, "remote", "add", "origin", str(root))
    git(root, "fetch", "-q", "origin")
    return root


def _runs(root: Path) -> list[str]:
    runs = root / ".promptops" / "runs"
    return sorted(p.name for p in runs.iterdir()) if runs.is_dir() else []


def test_readme_has_the_two_quickstart_commands() -> None:
    quick = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    lines = [
        ln[2:] for b in BLOCK.findall(quick) for ln in b[1].splitlines() if ln.startswith("$ ")
    ]
    assert len(lines) == 2
    assert (
        "--require-hashes -r requirements/local.txt" in lines[0]
        and "promptops eval prompts/summarize@2.0" in lines[0]
    )
    ci = (ROOT / ".ci" / "run").read_text()
    assert lines[1] in ci, ".ci/run must run the README's test command verbatim"


def test_console_examples_run_in_order(example: Path) -> None:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "COLUMNS": "120"}
    env.pop("GITHUB_STEP_SUMMARY", None)
    by_command: dict[str, list[str]] = {}
    for command, expected in commands():
        before = _runs(example)
        args = shlex.split(command, comments=True)
        fill = {
            "RUN_ID": "latest",
            "RUN_A": by_command.get("eval summarize@1.0", ["?"])[0],
            "RUN_B": by_command.get("eval prompts/summarize@2.0", ["?"])[0],
        }
        newest = before[-2:]
        if len(newest) == 2:
            fill.update({"RUN_1": newest[0], "RUN_2": newest[1]})
        args = [fill.get(a, a) for a in args]
        exe = sys.executable if args[0] == "python" else str(BIN / args[0])
        done = subprocess.run(
            [exe, *args[1:]],
            cwd=example,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == expected, f"$ {command}\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr, f"$ {command}\n{done.stderr}"
        key = " ".join(args[1:3]) if args[1] == "eval" else " ".join(args[1:])
        by_command[key.split(" --")[0]] = [r for r in _runs(example) if r not in before]
    assert (example / "report.html").read_text().lower().startswith("<!doctype html>")
    assert "case_id" in (example / "results.csv").read_text().splitlines()[0].split(",")
    assert (example / "my-prompts" / "prompts" / "hello" / "1.0.0.yaml").is_file()


def test_python_examples_run(example: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(example)
    for body in blocks("python"):
        exec(compile(body, "README.md", "exec"), {})


def test_data_examples_match_the_models() -> None:
    for body in blocks("yaml"):
        data = yaml.safe_load(body)
        if "name" in data and "version" in data:
            PromptSpec.model_validate(data)
        elif "environments" in data:
            RegistrySpec.model_validate(data)
        elif "allow_unpinned" in data or "plugins" in data:
            ProjectConfig.model_validate(data)
        elif set(data) <= {f.alias or n for n, f in PromptSpec.model_fields.items()}:
            # a fragment of a prompt file: valid once completed with the required fields
            head = {"name": "x", "version": "1.0.0", "model": "echo/echo"}
            if "messages" not in data:
                head["template"] = "{{ question }}"
            PromptSpec.model_validate({**head, **data})
        else:
            assert "repos" in data  # the pre-commit config
    for body in blocks("json"):
        CaseSpec.model_validate(json.loads(body))
