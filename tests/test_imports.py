"""Heavy imports stay out of the model-free commands.

``promptops --help``, ``render``, ``lint``, ``list`` and ``show`` must not import litellm, pandas
or gitpython (``git``). Each check runs in a fresh interpreter: once asking ``sys.modules`` after
running the command in-process, and once running the real console script under
``PYTHONPROFILEIMPORTTIME`` and reading every module it imported from the report. rich loads
only when something is printed to a terminal: ``--help`` and the JSON forms do without it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_python

BANNED = ("litellm", "pandas", "git")
SCRIPT = Path(sys.executable).parent / "promptops"

COMMANDS = [
    ["--help"],
    ["render", "summarize@2.0", "--var", "document=Some text."],
    ["render", "summarize@prod", "--var", "document=Some text.", "--format", "json"],
    ["lint"],
    ["list"],
    ["list", "--json"],
    ["show", "summarize@prod"],
    ["show", "summarize@2", "--json"],
]
IDS = [" ".join(c[:2]) if c[0] != "render" else f"render {c[-1]}" for c in COMMANDS]


def banned_loaded(modules: list[str]) -> list[str]:
    return sorted({m.split(".")[0] for m in modules} & set(BANNED))


def test_importing_the_cli_is_light(tmp_path: Path) -> None:
    done = run_python(
        "import sys, json, promptops.cli\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{BANNED!r})))",
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_the_check_can_fail(tmp_path: Path) -> None:
    # the same probe notices a heavy import when there is one
    done = run_python(
        "import sys, json, git, promptops.cli\nprint(json.dumps(sorted(sys.modules)))", tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert banned_loaded(json.loads(done.stdout)) == ["git"]


@pytest.mark.parametrize("args", COMMANDS, ids=IDS)
def test_command_in_process(project: Path, args: list[str]) -> None:
    code = (
        "import sys, json\n"
        "from typer.testing import CliRunner\n"
        "from promptops.cli import app\n"
        f"result = CliRunner().invoke(app, {args!r})\n"
        "print(json.dumps({'exit': result.exit_code, 'error': repr(result.exception),\n"
        "                  'modules': sorted(sys.modules)}))\n"
    )
    done = run_python(code, project)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["exit"] == 0, report["error"]
    assert banned_loaded(report["modules"]) == []


@pytest.mark.parametrize("args", COMMANDS, ids=IDS)
def test_console_script_import_report(project: Path, args: list[str]) -> None:
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    done = subprocess.run(
        [str(SCRIPT), *args], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    imported = [
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    ]
    assert "promptops.cli" in imported  # the report is real
    assert banned_loaded(imported) == []


RICH_FREE = [
    ["--help"],
    ["list", "--json"],
    ["show", "summarize@2", "--json"],
    ["render", "summarize@prod", "--var", "document=x", "--format", "json"],
    ["lint", "--format", "json"],
    ["status", "--json"],
    ["power", "--format", "json"],
    ["schema"],
]


def test_rich_loads_only_to_print_to_a_terminal(project: Path) -> None:
    # rich (~50 ms) is imported by report/console.py, which only terminal renderers import
    code = (
        "import sys, json\n"
        "from typer.testing import CliRunner\n"
        "from promptops.cli import app\n"
        f"codes = [CliRunner().invoke(app, args).exit_code for args in {RICH_FREE!r}]\n"
        "json_only = sorted(m for m in sys.modules if m.split('.')[0] == 'rich')\n"
        "CliRunner().invoke(app, ['list'])\n"
        "table = 'rich' in sys.modules\n"
        "print(json.dumps({'codes': codes, 'rich': json_only, 'table': table}))\n"
    )
    done = run_python(code, project)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["codes"] == [0] * len(RICH_FREE)
    assert report["rich"] == []
    assert report["table"]  # the probe sees rich when a table is printed
