"""Run directories on disk: the one place that reads and writes ``run.json``,
``results.jsonl`` and ``summary.json`` (their format is :mod:`promptops.eval.records`).

A run is a directory ``.promptops/runs/<run-id>/`` with ``run.json`` (what was asked, written
first), ``results.jsonl`` (one record per (case, version, model, repeat), appended as each
finishes) and ``summary.json`` (aggregates and provenance, rewritten at the end). A record
written later for the same key replaces an earlier one (a resumed run retries errors).

JSON files are written atomically (temp file + ``os.replace``) and without secrets. Reading
``run.json`` / ``summary.json`` migrates a file of an earlier release to the current
``schema_version`` and validates it; records are validated on read only where they cross a
boundary (:func:`checked_records`: evidence, merge), never on the eval hot path.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, overload

from pydantic import BaseModel, ValidationError

from ..errors import RunError
from .records import SCHEMA_VERSION, CaseRecord, RunSpec, Summary, migrate
from .summary import record_key, summarize

if TYPE_CHECKING:
    from ..project import Project, PromptVersion

__all__ = [
    "RunDir",
    "checked_records",
    "find_run",
    "iter_records",
    "latest_records",
    "list_runs",
    "run_version",
]


def iter_records(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a results.jsonl; a final line cut off by a crash is skipped."""
    for _, rec in _numbered_records(path):
        yield rec


def _numbered_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        return
    with path.open("r", encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.endswith("\n"):
                break  # partial write at the moment of a crash
            if line.strip():
                try:
                    rec = json.loads(line)
                except (json.JSONDecodeError, RecursionError):
                    continue  # not a record of ours (a hand edit, a disk error): skipped
                if isinstance(rec, dict) and {"case_id", "digest", "model"} <= rec.keys():
                    yield n, rec


def latest_records(path: Path) -> Iterator[dict[str, Any]]:
    """Records with later duplicates winning, streamed in two passes (bounded memory)."""
    last: dict[tuple[str, str, str, int], int] = {}
    for i, rec in enumerate(iter_records(path)):
        last[record_key(rec)] = i
    for i, rec in enumerate(iter_records(path)):
        if last.get(record_key(rec)) == i:
            yield rec


def checked_records(path: Path) -> Iterator[dict[str, Any]]:
    """:func:`latest_records`, each migrated to the current schema and validated against
    :class:`~promptops.eval.records.CaseRecord`; a record that does not fit raises RunError naming
    the line and field."""
    last: dict[tuple[str, str, str, int], int] = {}
    for n, rec in _numbered_records(path):
        last[record_key(rec)] = n
    for n, rec in _numbered_records(path):
        if last.get(record_key(rec)) == n:
            yield _validated(CaseRecord, rec, f"{path}:{n}")


def _validated(model: type[BaseModel], data: dict[str, Any], where: str) -> dict[str, Any]:
    """``data`` migrated and checked against ``model``; returned as a dict of the same shape
    (fields absent from the file stay absent)."""
    try:
        obj = model.model_validate(migrate(data))
    except ValueError as e:
        if isinstance(e, ValidationError):
            err = e.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "(top)"
            raise RunError(f"{where}: {field}: {err['msg']}") from None
        raise RunError(f"{where}: {e}") from None
    return dump(obj)


def dump(model: BaseModel) -> dict[str, Any]:
    """What is written for a model built by promptops: its schema version and the fields it
    set, by their file names."""
    data = model.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return {"schema_version": SCHEMA_VERSION, **data}


class RunDir:
    """One run's directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.id = path.name
        self._fh: IO[bytes] | None = None
        self._size = 0  # bytes of whole lines in results.jsonl

    @property
    def results_path(self) -> Path:
        return self.path / "results.jsonl"

    @property
    def summary_path(self) -> Path:
        return self.path / "summary.json"

    @property
    def meta_path(self) -> Path:
        return self.path / "run.json"

    def append(self, record: dict[str, Any]) -> None:
        """Append one record, written straight to the OS, so a crash loses at most this line.
        A write that fails (a full disk) is cut back off, so the file keeps whole lines, and
        raises RunError. Not validated (the hot path): the runner builds records of the
        :class:`~promptops.eval.records.CaseRecord` shape, and the tests check that they are."""
        from ..redact import redact_json

        line = redact_json(json.dumps(record, ensure_ascii=False, default=str))
        data = (line + "\n").encode("utf-8")  # a lone surrogate fails here, before any write
        try:
            if self._fh is None:
                self.path.mkdir(parents=True, exist_ok=True)
                self._fh = self.results_path.open("ab", buffering=0)
                self._size = self._fh.seek(0, os.SEEK_END)
            view = memoryview(data)
            while view:
                n = self._fh.write(view)
                if not n:
                    raise OSError(errno.EIO, "the write made no progress")
                view = view[n:]
        except OSError as e:
            self._cut_back()
            raise _unwritable(self.results_path, e) from None
        self._size += len(data)

    def _cut_back(self) -> None:
        """Drop what a failed append wrote (truncating frees space, so it works on a full disk)."""
        if self._fh is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fh.fileno(), self._size)

    def repair(self) -> int:
        """Cut a torn last line (a crash in the middle of a write) off results.jsonl, so the
        next append starts on a line of its own and that record is re-done. Returns the
        number of bytes removed (0: the file was whole)."""
        path = self.results_path
        try:
            fh = path.open("r+b")
        except FileNotFoundError:
            return 0
        with fh:
            size = fh.seek(0, os.SEEK_END)
            end = size
            while end > 0:
                step = min(1 << 16, end)
                fh.seek(end - step)
                chunk = fh.read(step)
                nl = chunk.rfind(b"\n")
                if nl >= 0:
                    end = end - step + nl + 1
                    break
                end -= step
            if end == size:
                return 0
            fh.truncate(end)
            return size - end

    def close(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):  # unbuffered: nothing is left to write
                self._fh.close()
            self._fh = None

    def write_spec(self, spec: RunSpec) -> dict[str, Any]:
        """Write ``run.json``, the first file of a run; returns what was written. When it
        cannot be written (a read-only or full disk) no run directory is left behind."""
        data = dump(spec)
        existed = self.path.is_dir()
        try:
            self.write_json(self.meta_path, data)
        except RunError:
            if not existed:
                with contextlib.suppress(OSError):
                    self.path.rmdir()  # only if empty
            raise
        return data

    def write_summary(self, summary: Summary) -> dict[str, Any]:
        """Write ``summary.json``; returns what was written."""
        data = dump(summary)
        self.write_json(self.summary_path, data)
        return data

    def write_json(self, path: Path, data: dict[str, Any]) -> None:
        """Write atomically (temp file + rename), without secrets; a file that cannot be
        written (read-only, full disk) raises RunError and leaves no temp file."""
        from ..redact import redact_json

        tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
        text = redact_json(json.dumps(data, indent=2, ensure_ascii=False, default=str))
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            tmp.write_text(text + "\n", encoding="utf-8")
            os.replace(tmp, path)
        except OSError as e:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise _unwritable(path, e) from None

    def meta(self) -> dict[str, Any]:
        """``run.json``, migrated to the current schema and validated."""
        return _validated(RunSpec, _read_json(self.meta_path), str(self.meta_path))

    def summary(self) -> dict[str, Any]:
        """``summary.json``, migrated and validated; a run without one yet (running, or
        killed) is summarized from its records with status ``incomplete``."""
        if self.summary_path.is_file():
            return _validated(Summary, _read_json(self.summary_path), str(self.summary_path))
        meta = self.meta() if self.meta_path.is_file() else {}
        return {
            **meta,
            "status": "incomplete",
            "groups": summarize(latest_records(self.results_path)),
        }

    def records(self) -> Iterator[dict[str, Any]]:
        return latest_records(self.results_path)


def _unwritable(path: Path, e: OSError) -> RunError:
    """One line for a run file that cannot be written: which file, and why."""
    from ..errors import display_path

    return RunError(f"cannot write {display_path(path)}: {e.strerror or e}")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{path}: missing") from None
    except json.JSONDecodeError as e:
        raise RunError(f"{path}:{e.lineno}: invalid JSON: {e.msg}") from None
    except RecursionError:
        raise RunError(f"{path}: invalid JSON: nested too deeply") from None
    except (UnicodeDecodeError, OSError) as e:
        raise RunError(f"{path}: cannot read: {e}") from None
    if not isinstance(data, dict):
        raise RunError(f"{path}: expected a JSON object")
    return data


def list_runs(runs_dir: Path) -> list[RunDir]:
    """Runs, newest first (run ids start with a UTC timestamp)."""
    if not runs_dir.is_dir():
        return []
    return [
        RunDir(p)
        for p in sorted(runs_dir.iterdir(), reverse=True)
        if p.is_dir() and (p / "run.json").is_file()
    ]


def find_run(runs_dir: Path, run_id: str) -> RunDir:
    """A run by id, unique prefix, or ``latest``."""
    runs = list_runs(runs_dir)
    if run_id == "latest":
        if not runs:
            raise RunError(f"no runs under {runs_dir}")
        return runs[0]
    exact = [r for r in runs if r.id == run_id]
    if exact:
        return exact[0]
    matches = [r for r in runs if r.id.startswith(run_id)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        recent = ", ".join(r.id for r in runs[:5]) or "none"
        raise RunError(f"run {run_id!r} not found; recent runs: {recent}")
    raise RunError(f"run id {run_id!r} is ambiguous: {', '.join(r.id for r in matches[:5])}")


@overload
def run_version(
    project: Project, meta: dict[str, Any], digest: str, *, resuming: Literal[True]
) -> PromptVersion: ...


@overload
def run_version(
    project: Project, meta: dict[str, Any], digest: str, *, resuming: bool = False
) -> PromptVersion | None: ...


def run_version(
    project: Project, meta: dict[str, Any], digest: str, *, resuming: bool = False
) -> PromptVersion | None:
    """The prompt version with ``digest`` that a run used (its ``refs`` in run.json), loaded
    from its file when that file is still on disk unchanged; else None. ``resuming``: the file
    must be there and unchanged (a RunError or the loader's error says why not)."""
    from ..errors import PromptOpsError

    for ref in meta.get("refs") or []:
        if ref.get("digest") != digest:
            continue
        try:
            pv = project.load(project.root / ref["file"])
        except (PromptOpsError, OSError, KeyError):
            if resuming:
                raise
            return None
        if pv.digest == digest:
            return pv
        if resuming:
            raise RunError(
                f"{ref['file']} changed since the run started ({digest[:19]}... -> "
                f"{pv.digest[:19]}...); start a new run instead of resuming"
            )
        return None
    if resuming:
        raise RunError(f"run.json names no prompt version {digest[:19]}...")
    return None
