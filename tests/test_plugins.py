"""Plugins: the ``promptops.plugins`` entry-point group and promptops.yaml's ``plugins:`` list,
loaded by the CLI, so a plugin's assertion type works in ``promptops eval`` and ``lint``; under
``check``, project plugins come from the merge base and must be unchanged there."""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from conftest import assert_no_traceback, git
from promptops import plugins
from promptops.assertions import REGISTRY

Cli = Callable[..., Result]
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "plugin"
MODULE = "promptops_example_plugin"

PROMPT = """\
name: brief
version: 1.0.0
model: {id: echo/echo}
inputs:
  text: {type: string}
messages:
  - role: user
    content: "{{ text }}"
dataset: evals/brief.jsonl
assert:
  - {type: max-sentences, value: 2}
"""
CASES = [
    {"id": "one", "vars": {"text": "One sentence only."}},
    {"id": "three", "vars": {"text": "First. Second! Third?"}},
]


@pytest.fixture(autouse=True)
def _forget_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test loads plugins afresh and leaves no registered type behind."""
    monkeypatch.setattr(plugins, "_loaded", {})
    monkeypatch.setattr(plugins, "entry_points", lambda: [])
    before = set(REGISTRY)
    yield
    for name in set(REGISTRY) - before:
        del REGISTRY[name]
    for name in [m for m in sys.modules if MODULE in m or m.startswith("promptops_plugin_")]:
        del sys.modules[name]


def brief_prompt(root: Path) -> None:
    (root / "prompts/brief").mkdir(parents=True)
    (root / "prompts/brief/1.0.0.yaml").write_text(PROMPT)
    (root / "evals/brief.jsonl").write_text("".join(json.dumps(c) + "\n" for c in CASES))


def eval_json(cli: Cli) -> dict[str, object]:
    result = cli("eval", "brief@1.0.0", "-q", "--format", "json", "--fail-under", "0")
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def records(project: Path, summary: dict[str, object]) -> dict[str, dict[str, object]]:
    path = project / ".promptops/runs" / str(summary["run_id"]) / "results.jsonl"
    recs = [json.loads(line) for line in path.read_text().splitlines()]
    return {r["case_id"]: r for r in recs}


def assert_plugin_judged(project: Path, summary: dict[str, object]) -> None:
    by_case = records(project, summary)
    assert by_case["one"]["pass"] is True
    assert by_case["three"]["pass"] is False
    assert "3 sentences (not at most 2)" in json.dumps(by_case["three"])


def test_without_the_plugin_the_type_is_unknown(project: Path, cli: Cli) -> None:
    brief_prompt(project)
    result = cli("lint")
    assert result.exit_code == 1
    assert "max-sentences" in result.stdout + result.stderr


@pytest.mark.parametrize("listed", [MODULE, f"plugins/{MODULE}.py"])
def test_a_plugin_listed_in_promptops_yaml_is_used_by_eval_and_lint(
    project: Path, cli: Cli, listed: str
) -> None:
    brief_prompt(project)
    target = project / (f"{MODULE}.py" if listed == MODULE else listed)
    target.parent.mkdir(exist_ok=True)
    shutil.copy(EXAMPLE / f"{MODULE}.py", target)
    (project / "promptops.yaml").write_text(f"plugins: [{listed}]\n")
    assert cli("lint").exit_code == 0
    assert_plugin_judged(project, eval_json(cli))
    # the type's lint check, declared next to its checker, runs under promptops lint
    (project / "prompts/brief/1.0.0.yaml").write_text(PROMPT.replace("value: 2", "value: two"))
    bad = cli("lint")
    assert bad.exit_code == 1
    assert "value must be a whole number of sentences, 1 or more, got 'two'" in (
        bad.stdout + bad.stderr
    )


def test_an_installed_entry_point_is_used_by_eval(
    project: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    brief_prompt(project)
    monkeypatch.syspath_prepend(str(EXAMPLE))  # as if pip-installed from examples/plugin
    declared = (EXAMPLE / "pyproject.toml").read_text()
    assert f'max-sentences = "{MODULE}"' in declared and '"promptops.plugins"' in declared
    ep = importlib.metadata.EntryPoint("max-sentences", MODULE, plugins.ENTRY_POINT_GROUP)
    monkeypatch.setattr(plugins, "entry_points", lambda: [ep])
    assert_plugin_judged(project, eval_json(cli))


def test_a_missing_or_broken_plugin_is_a_clear_error(project: Path, cli: Cli) -> None:
    (project / "promptops.yaml").write_text("prompts_dir: prompts\nplugins:\n  - no_such_mod\n")
    result = cli("lint")
    assert_no_traceback(result)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "promptops.yaml:3: plugins[0]: importing 'no_such_mod' failed: ModuleNotFoundError"
    )
    (project / "promptops.yaml").write_text("plugins: [../outside.py]\n")
    result = cli("eval", "summarize@1.0.0")
    assert result.exit_code == 1
    assert "promptops.yaml:1: plugins[0]: '../outside.py' is outside the project" in result.stderr


def _marker_plugin(path: Path, marker: str) -> None:
    path.parent.mkdir(exist_ok=True)
    path.write_text(
        (EXAMPLE / f"{MODULE}.py").read_text()
        + f"\n\nimport pathlib\n\npathlib.Path({marker!r}).write_text('imported')\n"
    )


def test_check_loads_project_plugins_only_from_the_merge_base_unchanged(
    project: Path, cli: Cli
) -> None:
    marker = project.parent / f"{project.name}-plugin-ran"
    plugin = project / "plugins/wordy.py"
    _marker_plugin(plugin, str(marker))
    (project / "promptops.yaml").write_text("plugins: [plugins/wordy.py]\n")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "plugin on main")
    git(project, "checkout", "-q", "-b", "pr")

    # unchanged at the merge base: loaded
    ok = cli("check", "--base", "main")
    assert ok.exit_code == 0, ok.output
    assert marker.read_text() == "imported"
    marker.unlink()
    plugins._loaded.clear()

    # the branch edits it: not imported, and check fails saying why
    plugin.write_text(plugin.read_text() + "\n# edited on the branch\n")
    git(project, "commit", "-qam", "edit the plugin")
    refused = cli("check", "--base", "main")
    assert_no_traceback(refused)
    assert refused.exit_code == 1
    assert "plugin 'plugins/wordy.py' not loaded: plugins/wordy.py new or changed" in (
        refused.stdout
    )
    assert "--trust-pr-code" in refused.stdout
    assert not marker.exists()

    # a plugin listed only on the branch is not even considered
    other = project / "plugins/other.py"
    _marker_plugin(other, str(marker))
    (project / "promptops.yaml").write_text("plugins: [plugins/wordy.py, plugins/other.py]\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "list another plugin")
    again = cli("check", "--base", "main", "--trust-pr-code")
    assert again.exit_code == 0, again.output
    assert marker.read_text() == "imported"  # wordy.py, trusted now
    assert "changes plugins on this branch" in again.stdout
    assert "promptops_plugin_plugins_other" not in sys.modules
