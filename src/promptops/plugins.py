"""Loading extensions: modules that register assertion types (``@assertion``) or providers
(``@provider``) when imported.

Two sources, loaded by the CLI before the commands that evaluate or lint:

* installed distributions that declare an entry point in the group ``promptops.plugins``
  (the value names a module, or a ``module:function`` called with no arguments);
* the ``plugins:`` list of promptops.yaml: module names of the project (a ``.py`` file or a
  package under its root), or paths of ``.py`` files under it. These are project code: they
  must resolve inside the project (symlinks followed), and run from their bytes
  (:mod:`promptops.codeload`), never through the import system's compiled caches.

``promptops check`` runs on untrusted pull requests with the CI's credentials, so there the
project's plugins are taken from promptops.yaml at the merge base and each plugin file must be
unchanged at the merge base (the :class:`~promptops.assertions.pyfunc.CodeGate` that guards
``python`` assertions), unless the caller trusts the branch (``--trust-pr-code``). Installed
entry points are trusted: the workflow installs them, not the pull request.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from .codeload import FINDER, Source, exec_module
from .errors import Problem, PromptOpsError, display_path
from .paths import CONFIG_FILE, OutsideProject, confine

if TYPE_CHECKING:
    from .assertions.pyfunc import CodeGate
    from .project import Project

ENTRY_POINT_GROUP = "promptops.plugins"
_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_loaded: dict[str, ModuleType | object] = {}  # entry point or file/module key -> loaded object


class PluginError(PromptOpsError):
    """A plugin could not be found or failed while importing."""


def entry_points() -> list[importlib.metadata.EntryPoint]:
    """The installed entry points of the ``promptops.plugins`` group."""
    return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def load_entry_points() -> list[str]:
    """Import every installed plugin (once per process); returns their names."""
    names = []
    for ep in entry_points():
        key = f"entry-point:{ep.value}"
        if key not in _loaded:
            try:
                obj = ep.load()
                if callable(obj) and not isinstance(obj, ModuleType):
                    obj()  # ``module:register`` style
            except PromptOpsError:
                raise
            except (Exception, SystemExit) as e:  # sys.exit() in a plugin must not end promptops
                raise PluginError(
                    f"plugin entry point {ep.name!r} ({ep.value}) failed to load: "
                    f"{type(e).__name__}: {e}"
                ) from None
            _loaded[key] = obj
        names.append(ep.name)
    return names


def _line(project: Project, index: int) -> tuple[str, int | None]:
    """promptops.yaml as shown, and the line of ``plugins[index]`` in it."""
    from .loader import load_yaml

    path = project.root / CONFIG_FILE
    line = None
    if path.is_file():
        try:
            _, lines = load_yaml(path)
            line = lines.line(("plugins", index))
        except PromptOpsError:
            line = None
    return display_path(path), line


def _module_files(root: Path, name: str) -> list[Path] | None:
    """The files under ``root`` that importing module ``name`` would run (its parent
    packages' ``__init__.py`` and the module, or every ``.py`` of a package); None when the
    module is not in the project. Lexical paths: :func:`_confined` follows their symlinks."""
    parts = name.split(".")
    files = []
    for i in range(1, len(parts)):
        init = root.joinpath(*parts[:i], "__init__.py")
        if init.is_file():
            files.append(init)
    base = root.joinpath(*parts)
    if base.with_suffix(".py").is_file():
        return [*files, base.with_suffix(".py")]
    if (base / "__init__.py").is_file():
        return [*files, *sorted(base.rglob("*.py"))]
    return None


def _confined(root: Path, files: list[Path], where: str, entry: str) -> None:
    """Every file a plugin runs must resolve (symlinks followed) inside the project."""
    for f in files:
        try:
            confine(root, f)
        except OutsideProject as e:
            raise PluginError(f"{where}: plugin {entry!r}: {e}") from None


def _plugin_files(project: Project, entry: str, where: str) -> tuple[str, list[Path] | None]:
    """How to load ``entry`` (``path`` or ``module``) and the project files it runs."""
    root = project.root.resolve()
    if entry.endswith(".py") or "/" in entry or "\\" in entry:
        try:
            path = confine(root, entry)
        except OutsideProject as e:
            raise PluginError(f"{where}: {e}") from None
        if not path.is_file():
            raise PluginError(f"{where}: no such file {entry!r} under the project")
        return "path", [path]
    if not _MODULE_NAME.match(entry):
        raise PluginError(f"{where}: {entry!r} is neither a module name nor a path to a .py file")
    files = _module_files(root, entry)
    if files:
        _confined(root, files, where, entry)
    return "module", files


def load_project_plugins(project: Project, gate: CodeGate | None = None) -> list[Problem]:
    """Load the modules of promptops.yaml's ``plugins:`` list (once per process each), from
    their bytes (:mod:`promptops.codeload`: no compiled cache is ever used).

    With a ``gate`` (``check``), a plugin whose files are new or changed on the branch is not
    loaded: the problems are returned, for the caller to report; the others run the merge
    base's bytes."""
    refused: list[Problem] = []
    root = project.root.resolve()
    for i, entry in enumerate(project.config.plugins):
        shown, line = _line(project, i)
        where = str(Problem(shown, line, f"plugins[{i}]", "")).rstrip().rstrip(":")
        kind, files = _plugin_files(project, entry, where)
        if gate is not None and files:
            changed = [f for f in files if gate.problem(f, entry, "plugin")]
            if changed:
                msg = (
                    f"plugin {entry!r} not loaded: "
                    f"{', '.join(display_path(f) for f in changed)} new or changed on this "
                    "branch; check loads only plugin files unchanged at the merge base "
                    "(pull-request code could read the CI's secrets). Merge the plugin first, "
                    "or pass --trust-pr-code where the branch is trusted"
                )
                refused.append(Problem(shown, line, f"plugins[{i}]", msg))
                continue
        key = f"{kind}:{files[-1] if kind == 'path' and files else entry}"
        if key in _loaded:
            continue
        try:
            sources = [_source(f, gate, entry) for f in files or []]
            _loaded[key] = _import(kind, entry, sources, root)
        except PromptOpsError:
            raise
        except (Exception, SystemExit) as e:  # sys.exit() in a plugin must not end promptops
            raise PluginError(
                f"{where}: importing {entry!r} failed: {type(e).__name__}: {e}"
            ) from None
    return refused


def _source(path: Path, gate: CodeGate | None, entry: str) -> Source:
    """The bytes to run for one plugin file: the merge base's under ``check``, else the
    file's."""
    data = gate.admit(path, entry, "plugin") if gate is not None else path.read_bytes()
    return Source(path, data, package=path.name == "__init__.py")


def _import(kind: str, entry: str, sources: list[Source], root: Path) -> ModuleType:
    if kind == "path":
        src = sources[-1]
        rel = src.path.relative_to(root).with_suffix("").as_posix()
        return exec_module("promptops_plugin_" + re.sub(r"\W", "_", rel), src)
    if sources:
        # a project module: every file served from its bytes by the finder, parents included
        # (a parent directory without __init__.py becomes an empty package)
        for src in sources:
            parts = src.path.relative_to(root).with_suffix("").parts
            FINDER.add(".".join(parts[:-1] if src.package else parts), src)
        names = entry.split(".")
        for i in range(1, len(names)):
            parent = ".".join(names[:i])
            if parent not in FINDER:
                FINDER.add(parent, Source(root.joinpath(*names[:i], "__init__.py"), b"", True))
    return importlib.import_module(entry)  # not in the project: an installed module


def load_plugins(project: Project) -> None:
    """Everything the CLI loads before ``eval``, ``diff`` and ``lint``: installed entry
    points, then the project's ``plugins:``."""
    load_entry_points()
    load_project_plugins(project)
