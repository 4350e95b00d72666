"""docs/architecture.md is where a newcomer looks for the room of a change: every source path it
names must exist, and every module under src/promptops must be named there, so the page cannot
drift from the tree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "src" / "promptops"
DOC = ROOT / "docs" / "architecture.md"
# `gate/check.py`, `registry/evidence.find_evidence`, `report/__init__.py`, `cli/`, `eval/runner.run_eval`
PATH = re.compile(r"`((?:[a-z_]+/)+(?:[a-z_]+(?:\.py)?)?)(?:[.:][A-Za-z_]+)*`")


def named_paths(text: str) -> set[str]:
    out = set()
    for m in PATH.finditer(text):
        path = m.group(1)
        if path.startswith(("docs/", "examples/", "schemas/", "tests/", ".promptops/", "src/")):
            continue
        out.add(path)
    return out


def resolves(path: str) -> bool:
    target = PKG / path
    if path.endswith("/"):
        return target.is_dir()
    return target.is_file() or target.with_suffix(".py").is_file() or target.is_dir()


def test_every_path_the_page_names_exists() -> None:
    missing = sorted(p for p in named_paths(DOC.read_text()) if not resolves(p))
    assert not missing, f"docs/architecture.md names paths that are not in src/promptops: {missing}"


def test_the_path_check_can_fail() -> None:
    assert named_paths("see `gate/nowhere.py` and `eval/runner.run_eval`") == {
        "gate/nowhere.py",
        "eval/runner",
    }
    assert not resolves("gate/nowhere.py") and resolves("eval/runner")


@pytest.mark.parametrize(
    "package",
    [
        "eval",
        "gate",
        "registry",
        "runtime",
        "analysis",
        "providers",
        "report",
        "cli",
        "assertions",
        "testing",
    ],
)
def test_every_module_of_a_package_is_on_the_page(package: str) -> None:
    """A module added to a package gets its line on the page (its name appears in the text)."""
    text = DOC.read_text()
    absent = [
        p.name
        for p in sorted((PKG / package).glob("*.py"))
        if p.name != "__init__.py" and not re.search(rf"\b{p.stem}\.py\b", text)
    ]
    assert not absent, f"docs/architecture.md does not mention {package}/{absent}"


def test_no_package_name_is_both_a_function_and_a_submodule() -> None:
    """Importing ``pkg.name`` rebinds ``pkg.name`` to the submodule: a function of the same
    name in ``pkg/__init__.py`` is then replaced, depending on import order."""
    import ast

    clashes = []
    for init in PKG.rglob("__init__.py"):
        subs = {p.stem for p in init.parent.glob("*.py")} | {
            p.name for p in init.parent.iterdir() if (p / "__init__.py").is_file()
        }
        tree = ast.parse(init.read_text(encoding="utf-8"))
        for node in tree.body:
            names = []
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            clashes += [f"{init.parent.name}.{n}" for n in names if n in subs]
    assert not clashes, f"names that are also submodules: {clashes}"


BARE = re.compile(r"`([a-z_]+\.py)`")


def test_every_module_file_the_page_names_exists() -> None:
    """A bare ``x.py`` (no folder) must be some module's file name: a renamed module leaves
    no stale name behind."""
    names = {p.name for p in PKG.rglob("*.py")}
    stale = sorted({m for m in BARE.findall(DOC.read_text()) if m not in names})
    assert not stale, f"docs/architecture.md names modules that do not exist: {stale}"
