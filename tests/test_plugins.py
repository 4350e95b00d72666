"""Plugins: the ``promptops.plugins`` entry-point group and promptops.yaml's ``plugins:`` list,
loaded by the CLI, so a plugin's assertion type works in ``promptops eval`` and ``lint``; under
``check``, project plugins come from the merge base and must be unchanged there."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib
from click.testing import Result

from conftest import assert_no_traceback, git, poison
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
    for name in [
        m for m in sys.modules if MODULE in m or m.startswith(("promptops_plugin_", "wordypkg"))
    ]:
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


def test_the_example_installed_by_pip_is_used_by_the_cli(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """examples/plugin, pip-installed into a directory of its own, found by a ``promptops``
    process through its ``promptops.plugins`` entry point alone (no ``plugins:`` list)."""
    declared = tomllib.loads((EXAMPLE / "pyproject.toml").read_text(encoding="utf-8"))
    ours = tomllib.loads((EXAMPLE.parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    assert declared["project"]["entry-points"][plugins.ENTRY_POINT_GROUP] == {
        "max-sentences": MODULE
    }
    # it depends on this distribution (``promptops`` on PyPI is another project)
    assert declared["project"]["dependencies"] == [ours["project"]["name"]]
    if importlib.util.find_spec("pip") is None:
        pytest.fail(f"this test installs examples/plugin with pip: {sys.executable} has no pip")
    work = tmp_path_factory.mktemp("plugin-install")
    site, source = work / "site", work / "plugin"
    shutil.copytree(EXAMPLE, source)  # a build may leave files beside the sources
    # `pip install ./examples/plugin`, offline: its build backend (hatchling) is in the dev lock
    install = ["install", "-q", "--no-deps", "--no-index", "--no-build-isolation", "--target"]
    pip = subprocess.run(
        [sys.executable, "-m", "pip", *install, str(site), str(source)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    assert (site / f"{MODULE}.py").is_file()
    brief_prompt(project)
    assert not (project / "promptops.yaml").exists()

    def promptops(*args: str, installed: bool = True) -> subprocess.CompletedProcess[str]:
        path = [str(site)] if installed else []
        path += [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
        env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
        return subprocess.run(
            [sys.executable, "-m", "promptops", *args],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    unknown = promptops("lint", installed=False)
    assert unknown.returncode == 1 and "max-sentences" in unknown.stdout + unknown.stderr
    lint = promptops("lint")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    done = promptops("eval", "brief@1.0.0", "-q", "--format", "json", "--fail-under", "0")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert_plugin_judged(project, json.loads(done.stdout))
    # the type's own lint check runs too
    (project / "prompts/brief/1.0.0.yaml").write_text(PROMPT.replace("value: 2", "value: two"))
    bad = promptops("lint")
    assert bad.returncode == 1
    assert "value must be a whole number of sentences, 1 or more, got 'two'" in (
        bad.stdout + bad.stderr
    )


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
    # sys.exit() while a plugin is imported is that plugin's error, not promptops' exit code
    (project / "checks").mkdir(exist_ok=True)
    (project / "checks/quits.py").write_text("import sys\nsys.exit(3)\n")
    (project / "promptops.yaml").write_text("plugins: [checks/quits.py]\n")
    result = cli("eval", "summarize@1.0.0")
    assert_no_traceback(result)
    assert result.exit_code == 1, result.output
    assert "plugins[0]: importing 'checks/quits.py' failed: SystemExit: 3" in result.stderr


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


@pytest.mark.parametrize("listed", ["plugins/wordy.py", "wordypkg"])
def test_a_poisoned_pyc_beside_an_unchanged_plugin_never_runs(
    project: Path, cli: Cli, listed: str
) -> None:
    """A file plugin, and a package plugin whose submodule is imported by its __init__: the
    branch adds pycs built from a payload; check and eval run the sources."""
    marker = project.parent / f"{project.name}-plugin-ran"
    payload = project.parent / f"{project.name}-payload-ran"
    steal = f"import pathlib\npathlib.Path({str(payload)!r}).write_text('payload')\n"
    if listed.endswith(".py"):
        plugin = project / listed
        _marker_plugin(plugin, str(marker))
        poisoned = [plugin]
    else:
        pkg = project / listed
        pkg.mkdir()
        (pkg / "__init__.py").write_text("from . import impl\n")
        _marker_plugin(pkg / "impl.py", str(marker))
        poisoned = [pkg / "__init__.py", pkg / "impl.py"]
    brief_prompt(project)
    (project / "promptops.yaml").write_text(f"plugins: [{listed}]\n")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "plugin on main")
    git(project, "checkout", "-q", "-b", "pr")
    for f in poisoned:
        git(project, "add", "-f", str(poison(f, steal)))
    (project / "prompts/brief/1.0.1.yaml").write_text(PROMPT.replace("1.0.0", "1.0.1"))
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "pycs")

    result = cli("check", "--base", "main")
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    assert marker.read_text() == "imported"
    assert not payload.exists()
    assert "__pycache__" in result.stdout and "never uses compiled caches" in result.stdout
    marker.unlink()
    plugins._loaded.clear()
    for name in [m for m in sys.modules if m.startswith("wordypkg")]:
        del sys.modules[name]
    assert_plugin_judged(project, eval_json(cli))
    assert marker.read_text() == "imported" and not payload.exists()


@pytest.mark.parametrize("listed", ["plugins/linked.py", "vendorpkg"])
def test_a_plugin_linked_outside_the_project_is_refused(
    project: Path, cli: Cli, tmp_path_factory: pytest.TempPathFactory, listed: str
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    marker = outside / "ran"
    _marker_plugin(outside / "evil.py", str(marker))
    if listed.endswith(".py"):
        (project / "plugins").mkdir()
        (project / listed).symlink_to(outside / "evil.py")
    else:
        (outside / "__init__.py").write_text((outside / "evil.py").read_text())
        (project / listed).symlink_to(outside, target_is_directory=True)
    (project / "promptops.yaml").write_text(f"plugins: [{listed}]\n")
    result = cli("lint")
    assert_no_traceback(result)
    assert result.exit_code == 1
    assert result.stderr.startswith("promptops.yaml:1: plugins[0]: ")
    assert "is outside the project" in result.stderr
    assert not marker.exists()
