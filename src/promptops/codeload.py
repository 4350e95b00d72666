"""Running a project's Python (``python`` assertion files, ``plugins:``) from exactly the bytes
that were admitted.

Python's import system prefers a file's compiled cache: an *unchecked* hash-based
``__pycache__/NAME.cpython-3XX.pyc`` is used without looking at the source at all. So a pull
request that adds such a file beside an unchanged, admitted source would run its own code.
Project code is therefore never imported through the path finders: its bytes are read once,
compared (under ``check``) with the merge base, then compiled and executed, and those same
bytes are what runs. No ``.pyc`` is read or written. Modules of a plugin package are served by
:class:`AdmittedFinder` from their admitted bytes, so ``import pkg.sub`` inside a plugin never
reaches the file system's caches either.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType


@dataclass(frozen=True)
class Source:
    """One admitted file: where it is (for tracebacks and ``__file__``) and its bytes."""

    path: Path
    data: bytes
    package: bool = False  # an ``__init__.py``


def exec_module(name: str, src: Source) -> ModuleType:
    """Compile ``src.data`` and run it as module ``name`` (registered in ``sys.modules`` while
    it runs, removed again when it fails)."""
    code = compile(src.data, str(src.path), "exec", dont_inherit=True)
    module = ModuleType(name)
    module.__file__ = str(src.path)
    if src.package:
        module.__path__ = []  # submodules come only from AdmittedFinder
        module.__package__ = name
    else:
        module.__package__ = name.rpartition(".")[0]
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return sys.modules.get(name, module)


def pycache_files(paths: Sequence[Path]) -> list[Path]:
    """The compiled caches beside ``paths`` (``__pycache__/*.pyc`` and stray ``*.pyc``): never
    used, but named in ``check``'s notes so a planted one is visible."""
    out: set[Path] = set()
    for path in paths:
        d = path.parent
        try:
            out.update(p for p in (d / "__pycache__").glob("*.pyc") if p.is_file())
            out.update(p for p in d.glob("*.pyc") if p.is_file())
        except OSError:
            continue
    return sorted(out)


class _Loader(importlib.abc.Loader):
    def __init__(self, src: Source) -> None:
        self.src = src

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        code = compile(self.src.data, str(self.src.path), "exec", dont_inherit=True)
        exec(code, module.__dict__)


class AdmittedFinder(importlib.abc.MetaPathFinder):
    """First on ``sys.meta_path``: serves the admitted modules of project plugins by name,
    from their bytes; every other name is left to Python."""

    def __init__(self) -> None:
        self._modules: dict[str, Source] = {}
        self._lock = threading.Lock()

    def add(self, name: str, src: Source) -> None:
        with self._lock:
            self._modules[name] = src
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)

    def __contains__(self, name: object) -> bool:
        return name in self._modules

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        src = self._modules.get(fullname)
        if src is None:
            return None
        spec = importlib.machinery.ModuleSpec(
            fullname, _Loader(src), origin=str(src.path), is_package=src.package
        )
        spec.has_location = True
        return spec


FINDER = AdmittedFinder()
