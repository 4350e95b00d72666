"""codeload: project code runs from the bytes it was admitted with, never from a compiled
cache. The poisoned caches here are real: unchecked hash-based pycs built with py_compile,
which Python's import system runs without looking at the source."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import poison
from promptops.codeload import FINDER, Source, exec_module, pycache_files


@pytest.fixture
def clean_modules() -> Iterator[None]:
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        del sys.modules[name]


def test_the_import_system_runs_a_poisoned_pyc_but_exec_module_runs_the_source(
    tmp_path: Path, clean_modules: None
) -> None:
    src = tmp_path / "grade.py"
    src.write_text("WHO = 'source'\n")
    cfile = poison(src, "WHO = 'payload'\n")
    assert cfile.parent.name == "__pycache__"
    # the attack works on the import system: it runs the payload, not the source
    spec = importlib.util.spec_from_file_location("poisoned_by_path", src)
    assert spec is not None and spec.loader is not None
    via_import = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(via_import)
    assert via_import.WHO == "payload"
    # and not on ours
    module = exec_module("codeload_test_grade", Source(src, src.read_bytes()))
    assert module.WHO == "source"
    assert module.__file__ == str(src)
    assert pycache_files([src]) == [cfile]


def test_exec_module_runs_exactly_the_given_bytes_and_forgets_a_failed_module(
    tmp_path: Path, clean_modules: None
) -> None:
    src = tmp_path / "grade.py"
    src.write_text("WHO = 'on disk'\n")
    module = exec_module("codeload_test_bytes", Source(src, b"WHO = 'admitted'\n"))
    assert module.WHO == "admitted"
    with pytest.raises(ZeroDivisionError):
        exec_module("codeload_test_broken", Source(src, b"1 / 0\n"))
    assert "codeload_test_broken" not in sys.modules
    assert not (tmp_path / "__pycache__").exists()  # nothing compiled to disk


def test_a_package_is_served_from_admitted_bytes_and_nothing_else(
    tmp_path: Path, clean_modules: None
) -> None:
    pkg = tmp_path / "cl_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from . import sub\n")
    (pkg / "sub.py").write_text("WHO = 'source'\n")
    (pkg / "other.py").write_text("WHO = 'not admitted'\n")
    poison(pkg / "sub.py", "WHO = 'payload'\n")
    poison(pkg / "other.py", "WHO = 'payload'\n")
    FINDER.add("cl_pkg", Source(pkg / "__init__.py", (pkg / "__init__.py").read_bytes(), True))
    FINDER.add("cl_pkg.sub", Source(pkg / "sub.py", (pkg / "sub.py").read_bytes()))
    sys.path.insert(0, str(tmp_path))  # even with the folder importable, the finder decides
    try:
        mod = importlib.import_module("cl_pkg")
        assert mod.sub.WHO == "source"
        # a module of the folder that was not admitted is not found through the package
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module("cl_pkg.other")
    finally:
        sys.path.remove(str(tmp_path))
