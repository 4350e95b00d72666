"""The ``python`` assertion's plumbing: load a user's file by path (cached), interpret what the
function returns.

Loading a file runs it, from its bytes (:mod:`promptops.codeload`): never through the import
system, so a ``__pycache__`` beside it is never used. The file must resolve inside the project
(:func:`promptops.paths.confine`). ``promptops check`` evaluates pull requests, so it sets a
:class:`CodeGate` (a context variable) that admits only files whose bytes equal the merge
base's, and runs exactly those bytes; a baseline read from the base tree runs the base tree's
bytes.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from promptops.codeload import Source, exec_module, pycache_files
from promptops.paths import OutsideProject, confine
from promptops.spec import AssertionSpec

from .base import AssertionConfigError, AssertionResult


def _error(message: str) -> AssertionResult:
    return AssertionResult(False, 0.0, "", error=message)


_MODULES: dict[tuple[str, str], ModuleType] = {}  # (path, sha256 of the bytes run) -> module
_LOADING = threading.RLock()  # checks run in threads: load each module once
PY_REF = re.compile(r"^(?P<path>.+\.py):(?P<func>[A-Za-z_][A-Za-z0-9_]*)$")
_TRUST_HINT = (
    "(pull-request code could read the CI's secrets). Merge the file first, or pass "
    "--trust-pr-code where the branch is trusted"
)


@dataclass
class CodeGate:
    """Which python files (assertions, plugins) may run while it is active (see
    :func:`code_gate`), and the bytes that run.

    A path under ``base_dir`` names a file of the base tree (a baseline read from the base
    tree has its paths resolved there): its bytes come from the base tree. Any other path must
    resolve inside ``repo_root`` and its bytes equal its merge-base version's, unless
    ``trust_working_tree``. Refusals are kept in ``refused``, compiled caches found beside an
    admitted file (never used) in ``notes``, both for the report."""

    repo_root: Path
    base_dir: Path
    read_at_base: Callable[[str], bytes | None]
    trust_working_tree: bool = False
    refused: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def _refuse(self, message: str) -> AssertionConfigError:
        if message not in self.refused:
            self.refused.append(message)
        return AssertionConfigError(message)

    def _judge(self, path: Path, shown: str, what: str) -> tuple[str | None, bytes | None]:
        """(why ``path`` may not run, None) or (None, the bytes to run)."""
        try:
            rel = path.relative_to(self.base_dir).as_posix()
        except ValueError:
            rel = None
        if rel is not None:
            data = self.read_at_base(rel)
            if data is None:
                return f"{what} {shown}: not in the merge base's tree", None
            return None, data
        root = self.repo_root.resolve()
        try:
            rel = path.relative_to(self.repo_root).as_posix()
            real = path.resolve()
            real.relative_to(root)
        except (ValueError, OSError, RuntimeError):
            return (
                f"{what} {shown}: outside the repository (symlinks followed); check runs only "
                "python files that exist unchanged at the merge base"
            ), None
        try:
            now = real.read_bytes()
        except OSError:
            now = None
        if self.trust_working_tree:
            if now is None:
                return f"{what} {shown}: no such file", None
            return None, now
        base = self.read_at_base(rel)
        if base is None:
            why = "added on this branch"
        elif now != base:
            why = "changed on this branch"
        else:
            self._note_caches(path)
            return None, base  # the merge base's bytes: what was compared is what runs
        return (
            f"{what} {shown}: {why}; check runs only {what} files that exist unchanged at the "
            f"merge base {_TRUST_HINT}"
        ), None

    def _note_caches(self, path: Path) -> None:
        for pyc in pycache_files([path]):
            try:
                shown = pyc.relative_to(self.repo_root).as_posix()
            except ValueError:
                shown = str(pyc)
            note = (
                f"{shown}: ignored; check compiles python files from their source as at the "
                "merge base and never uses compiled caches (.pyc, __pycache__)"
            )
            if note not in self.notes:
                self.notes.append(note)

    def problem(self, path: Path, shown: str, what: str = "python assertion") -> str | None:
        """Why ``path`` may not run (None: it may), without running anything."""
        return self._judge(path, shown, what)[0]

    def admit(self, path: Path, shown: str, what: str = "python assertion") -> bytes:
        """The bytes to run for ``path`` (the merge base's), or raise (and remember why)."""
        why, data = self._judge(path, shown, what)
        if why is not None or data is None:
            raise self._refuse(why or f"{what} {shown}: not admitted")
        return data


_GATE: ContextVar[CodeGate | None] = ContextVar("promptops_code_gate", default=None)


@contextmanager
def code_gate(gate: CodeGate) -> Iterator[CodeGate]:
    """Run python assertions only through ``gate`` inside the ``with`` block."""
    token = _GATE.set(gate)
    try:
        yield gate
    finally:
        _GATE.reset(token)


def resolve_ref(value: str, root: str) -> tuple[Path, str] | None:
    """The absolute path and the function name of ``path.py:func`` (None: not that shape)."""
    m = PY_REF.match(value.strip())
    if not m:
        return None
    path = Path(m["path"])
    if not path.is_absolute():
        path = Path(root) / path
    return Path(_normalize(path)), m["func"]


def outside_problem(value: str, root: str) -> str | None:
    """Why the file of ``path.py:func`` may not be read: it resolves outside ``root``."""
    m = PY_REF.match(value.strip())
    if not m:
        return None
    try:
        confine(Path(root), m["path"])
    except OutsideProject as e:
        return f"python assertion file {e}"
    return None


def _normalize(path: Path) -> str:
    return os.path.normpath(path)  # lexical: a symlink is judged by the file it is in git


def load_function(spec: AssertionSpec, value: Any, root: str) -> tuple[Callable[..., Any], str]:
    """The function named by ``value`` (``path.py:func``, relative to ``root``) and that
    reference. The file must resolve inside ``root``; its module is run from its bytes, once
    per file content."""
    if not isinstance(value, str):
        raise AssertionConfigError(f"{spec.type}: value must be 'path/to/file.py:function'")
    ref = value.strip()
    m = PY_REF.match(ref)
    if not m:
        raise AssertionConfigError(
            f"{spec.type}: value {ref!r} must look like 'path/to/file.py:function'"
        )
    gate = _GATE.get()
    lexical = Path(_normalize(Path(root) / m["path"]))
    in_base_tree = gate is not None and lexical.is_relative_to(gate.base_dir)
    if not in_base_tree:
        why = outside_problem(ref, root)
        if why is not None:
            raise (gate._refuse(why) if gate is not None else AssertionConfigError(why))
    if gate is not None:
        data = gate.admit(lexical, m["path"])
    else:
        try:
            data = confine(Path(root), m["path"]).read_bytes()
        except OSError:
            raise AssertionConfigError(f"{spec.type}: {m['path']}: no such file") from None
    with _LOADING:
        return _load(spec, m, Source(lexical, data))


def _load(spec: AssertionSpec, m: re.Match[str], src: Source) -> tuple[Callable[..., Any], str]:
    ref = m.group(0)
    key = (str(src.path), hashlib.sha256(src.data).hexdigest())
    module = _MODULES.get(key)
    if module is None:
        name = "promptops_user_" + hashlib.sha1("\0".join(key).encode()).hexdigest()[:12]
        try:
            module = exec_module(name, src)
        except Exception as e:
            raise AssertionConfigError(
                f"{spec.type}: loading {m['path']} failed: {type(e).__name__}: {e}"
            ) from None
        _MODULES[key] = module
    fn = getattr(module, m["func"], None)
    if not callable(fn):
        raise AssertionConfigError(f"{spec.type}: {m['path']} has no function {m['func']!r}")
    return fn, ref


def to_result(spec: AssertionSpec, out: Any, where: str) -> AssertionResult:
    """Read what the function returned: bool, a score (passes at ``threshold``, default 0.5),
    a dict ``{pass, score, reason}`` or an AssertionResult."""
    threshold = spec.threshold if spec.threshold is not None else 0.5

    def bad_score(s: Any) -> bool:
        return (
            isinstance(s, bool)
            or not isinstance(s, int | float)
            or not (math.isfinite(s) and 0 <= s <= 1)
        )

    if isinstance(out, AssertionResult):
        return out
    if isinstance(out, bool):
        return AssertionResult(out, 1.0 if out else 0.0, f"{where} returned {out}")
    if isinstance(out, int | float):
        if bad_score(out):
            return _error(f"{where} returned score {out!r}, outside [0, 1]")
        return AssertionResult(out >= threshold, float(out), f"{where} scored {out:.3f}")
    if isinstance(out, dict):
        if "pass" not in out and "score" not in out:
            return _error(f"{where} returned a dict without 'pass' or 'score'")
        score = out.get("score")
        if score is not None and bad_score(score):
            return _error(f"{where} returned score {score!r}, outside [0, 1]")
        passed = bool(out["pass"]) if "pass" in out else score is not None and score >= threshold
        if score is None:
            score = 1.0 if passed else 0.0
        return AssertionResult(
            passed, float(score), str(out.get("reason", "")) or f"{where} returned {passed}"
        )
    return _error(
        f"{where} returned {type(out).__name__}; expected bool, a score in [0, 1] or a dict {{pass, score, reason}}"
    )
