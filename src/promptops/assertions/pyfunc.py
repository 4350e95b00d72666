"""The ``python`` assertion's plumbing: load a user's file by path (cached), interpret what the
function returns.

Loading a file runs it. ``promptops check`` evaluates pull requests, so it sets a
:class:`CodeGate` (a context variable) that admits only files as they are at the merge base,
and resolves the paths of a baseline read from the base tree in that tree.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import re
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from promptops.spec import AssertionSpec

from .base import AssertionConfigError, AssertionResult


def _error(message: str) -> AssertionResult:
    return AssertionResult(False, 0.0, "", error=message)


_MODULES: dict[tuple[str, int], ModuleType] = {}
_LOADING = threading.RLock()  # checks run in threads: load each module once
PY_REF = re.compile(r"^(?P<path>.+\.py):(?P<func>[A-Za-z_][A-Za-z0-9_]*)$")


@dataclass
class CodeGate:
    """Which python assertion files may run while it is active (see :func:`code_gate`).

    ``base_dir`` mirrors the repository at the merge base: a path under it is written there
    from the base tree on first use (a baseline read from the base tree has its paths resolved
    there). Any other path must be inside ``repo_root`` and identical to its merge-base
    version, unless ``trust_working_tree``. Refusals are kept in ``refused`` for the report."""

    repo_root: Path
    base_dir: Path
    read_at_base: Callable[[str], bytes | None]
    trust_working_tree: bool = False
    refused: list[str] = field(default_factory=list)

    def _refuse(self, message: str) -> AssertionConfigError:
        if message not in self.refused:
            self.refused.append(message)
        return AssertionConfigError(message)

    def problem(self, path: Path, shown: str) -> str | None:
        """Why ``path`` may not run (None: it may), without running anything."""
        try:
            rel = path.relative_to(self.base_dir).as_posix()
        except ValueError:
            rel = None
        if rel is not None:
            if self.read_at_base(rel) is None:
                return f"python assertion {shown}: not in the merge base's tree"
            return None
        if self.trust_working_tree:
            return None
        try:
            rel = path.relative_to(self.repo_root).as_posix()
        except ValueError:
            return (
                f"python assertion {shown}: outside the repository; check runs only python "
                "assertion files that exist unchanged at the merge base"
            )
        base = self.read_at_base(rel)
        why = None
        if base is None:
            why = "added on this branch"
        else:
            try:
                now = path.read_bytes()
            except OSError:
                now = None
            if now != base:
                why = "changed on this branch"
        if why is None:
            return None
        return (
            f"python assertion {shown}: {why}; check runs only python assertion files that exist "
            "unchanged at the merge base (pull-request code could read the CI's secrets). Merge "
            "the file first, or pass --trust-pr-code where the branch is trusted"
        )

    def admit(self, path: Path, shown: str) -> Path:
        """``path`` if it may run (materialized from the base tree when under ``base_dir``),
        else raise (and remember why)."""
        why = self.problem(path, shown)
        if why is not None:
            raise self._refuse(why)
        try:
            rel = path.relative_to(self.base_dir).as_posix()
        except ValueError:
            return path
        if not path.is_file():
            data = self.read_at_base(rel)
            assert data is not None
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return path


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


def _normalize(path: Path) -> str:
    import os

    return os.path.normpath(path)  # lexical: a symlink is judged by the file it is in git


def load_function(spec: AssertionSpec, value: Any, root: str) -> tuple[Callable[..., Any], str]:
    """The function named by ``value`` (``path.py:func``, relative to ``root``) and that
    reference. The module is loaded once per file version (path and mtime)."""
    if not isinstance(value, str):
        raise AssertionConfigError(f"{spec.type}: value must be 'path/to/file.py:function'")
    ref = value.strip()
    m = PY_REF.match(ref)
    if not m:
        raise AssertionConfigError(
            f"{spec.type}: value {ref!r} must look like 'path/to/file.py:function'"
        )
    path = Path(m["path"])
    if not path.is_absolute():
        path = Path(root) / path
    gate = _GATE.get()
    if gate is not None:
        path = gate.admit(Path(_normalize(path)), m["path"])
    try:
        path = path.resolve()
        key = (str(path), path.stat().st_mtime_ns)
    except OSError:
        raise AssertionConfigError(f"{spec.type}: {m['path']}: no such file") from None
    with _LOADING:
        return _load(spec, m, key, path)


def _load(
    spec: AssertionSpec, m: re.Match[str], key: tuple[str, int], path: Path
) -> tuple[Callable[..., Any], str]:
    ref = m.group(0)
    module = _MODULES.get(key)
    if module is None:
        name = "promptops_user_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
        mspec = importlib.util.spec_from_file_location(name, path)
        if mspec is None or mspec.loader is None:
            raise AssertionConfigError(f"{spec.type}: cannot load {m['path']} as a Python module")
        module = importlib.util.module_from_spec(mspec)
        sys.modules[name] = module
        try:
            mspec.loader.exec_module(module)
        except Exception as e:
            sys.modules.pop(name, None)
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
