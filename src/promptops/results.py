"""Run records on disk and their summaries.

A run is a directory ``.promptops/runs/<run-id>/`` with ``run.json`` (what was asked, written
first), ``results.jsonl`` (one record per (case, version, model, repeat), appended as each
finishes) and ``summary.json`` (aggregates and provenance, rewritten at the end). A record
written later for the same key replaces an earlier one (a resumed run retries errors).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .errors import RunError
from .stats import mean, percentiles, wilson_interval


def record_key(rec: dict[str, Any]) -> tuple[str, str, str, int]:
    return (rec["digest"], rec["model"], rec["case_id"], int(rec.get("repeat", 0)))


def group_label(prompt: str, version: str, model: str) -> str:
    """How a (prompt, version, model) group is named in summaries and bars."""
    return f"{prompt}@{version} {model}"


def group_key(rec: dict[str, Any]) -> str:
    return group_label(rec["prompt"], rec["version"], rec["model"])


def iter_records(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a results.jsonl; a final line cut off by a crash is skipped."""
    if not path.is_file():
        return
    with path.open("r", encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                break  # partial write at the moment of a crash
            if line.strip():
                try:
                    rec = json.loads(line)
                except (json.JSONDecodeError, RecursionError):
                    continue  # not a record of ours (a hand edit, a disk error): skipped
                if isinstance(rec, dict) and {"case_id", "digest", "model"} <= rec.keys():
                    yield rec


def latest_records(path: Path) -> Iterator[dict[str, Any]]:
    """Records with later duplicates winning, streamed in two passes (bounded memory)."""
    last: dict[tuple[str, str, str, int], int] = {}
    for i, rec in enumerate(iter_records(path)):
        last[record_key(rec)] = i
    for i, rec in enumerate(iter_records(path)):
        if last.get(record_key(rec)) == i:
            yield rec


@dataclass
class Group:
    """Running aggregates for one (prompt, version, model)."""

    prompt: str
    version: str
    digest: str
    model: str
    n: int = 0
    passed: int = 0
    errors: int = 0
    assert_errors: int = 0
    scores: list[float] = field(default_factory=list)
    cached: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    costs: list[float] = field(default_factory=list)
    cost_unknown: int = 0
    latencies: list[float] = field(default_factory=list)
    assertions: dict[str, list[int]] = field(default_factory=dict)  # label -> [passed, total]
    # Sums are taken with math.fsum at the end, so a summary does not depend on record order
    # (merged shard runs equal the unsharded run exactly).
    metrics: dict[str, list[float]] = field(default_factory=dict)  # label -> scores
    error_kinds: dict[str, int] = field(default_factory=dict)
    cases: set[str] = field(default_factory=set)

    def add(self, rec: dict[str, Any]) -> None:
        self.n += 1
        self.cases.add(rec["case_id"])
        if rec.get("error"):
            self.errors += 1
            kind = rec.get("error_kind") or "error"
            self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1
            return
        if rec.get("assert_error"):
            self.assert_errors += 1
        self.passed += bool(rec.get("pass"))
        self.scores.append(float(rec.get("score") or 0.0))
        self.cached += bool(rec.get("cached"))
        self.tokens_in += rec.get("tokens_in") or 0
        self.tokens_out += rec.get("tokens_out") or 0
        if rec.get("cost") is None:
            self.cost_unknown += 1
        else:
            self.costs.append(float(rec["cost"]))
        if rec.get("latency_ms") is not None and not rec.get("cached"):
            self.latencies.append(float(rec["latency_ms"]))
        for a in rec.get("assertions", []):
            label = a.get("metric") or a["type"]
            pa = self.assertions.setdefault(label, [0, 0])
            pa[0] += bool(a.get("pass"))
            pa[1] += 1
            self.metrics.setdefault(label, []).append(float(a.get("score") or 0.0))

    def to_json(self) -> dict[str, Any]:
        low, high = wilson_interval(self.passed, self.n)
        scored = self.n - self.errors
        return {
            "prompt": self.prompt,
            "version": self.version,
            "digest": self.digest,
            "model": self.model,
            "n": self.n,
            "cases": len(self.cases),
            "passed": self.passed,
            "failed": scored - self.passed,
            "errors": self.errors,
            "error_kinds": self.error_kinds,
            "assert_errors": self.assert_errors,
            "pass_rate": self.passed / self.n if self.n else None,
            "pass_rate_ci95": [low, high],
            "mean_score": math.fsum(self.scores) / scored if scored else None,
            "assertions": {
                k: {"passed": v[0], "n": v[1], "pass_rate": v[0] / v[1] if v[1] else None}
                for k, v in sorted(self.assertions.items())
            },
            "metrics": {k: math.fsum(v) / len(v) for k, v in sorted(self.metrics.items()) if v},
            "latency_ms": {**percentiles(self.latencies), "mean": mean(self.latencies)},
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost": round(math.fsum(self.costs), 8),
            "cost_unknown": self.cost_unknown,
            "cached": self.cached,
        }


def judge_bar(
    groups: list[dict[str, Any]], fail_under: dict[str, float], status: str
) -> dict[str, Any]:
    """Did every group meet its pass-rate bar (``fail_under`` by group key, default 1.0) in a
    complete run? Shared by the runner and by merged shard runs."""
    rows = []
    met = status == "complete"
    for g in groups:
        key = group_key(g)
        need = fail_under.get(key, 1.0)
        # a group of only errors measured nothing: it meets no bar, not even fail_under 0
        scored = g["n"] - g.get("errors", 0)
        ok = g["pass_rate"] is not None and scored > 0 and g["pass_rate"] >= need - 1e-12
        met = met and ok
        rows.append({"group": key, "fail_under": need, "met": ok})
    return {"met": met and bool(groups), "groups": rows}


def summarize(
    records: Iterable[dict[str, Any]], order: list[str] | None = None
) -> list[dict[str, Any]]:
    """Aggregate records per (prompt, version, model); groups follow ``order`` (their
    ``group_key``s) where given, else first-seen order."""
    groups: dict[str, Group] = {}
    for rec in records:
        key = group_key(rec)
        g = groups.get(key)
        if g is None:
            g = groups[key] = Group(rec["prompt"], rec["version"], rec["digest"], rec["model"])
        g.add(rec)
    keys = list(groups)
    if order:
        rank = {k: i for i, k in enumerate(order)}
        keys.sort(key=lambda k: rank.get(k, len(rank)))
    return [groups[k].to_json() for k in keys]


class RunDir:
    """One run's directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.id = path.name
        self._fh: IO[str] | None = None

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
        """Append one record and flush it to the OS, so a crash loses at most this line."""
        if self._fh is None:
            self.path.mkdir(parents=True, exist_ok=True)
            self._fh = self.results_path.open("a", encoding="utf-8")
        from .redact import redact_json

        line = redact_json(json.dumps(record, ensure_ascii=False, default=str))
        self._fh.write(line + "\n")
        self._fh.flush()

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
            self._fh.close()
            self._fh = None

    def write_json(self, path: Path, data: dict[str, Any]) -> None:
        """Write atomically (temp file + rename), without secrets."""
        from .redact import redact_json

        self.path.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
        text = redact_json(json.dumps(data, indent=2, ensure_ascii=False, default=str))
        tmp.write_text(text + "\n", encoding="utf-8")
        os.replace(tmp, path)

    def meta(self) -> dict[str, Any]:
        return _read_json(self.meta_path)

    def summary(self) -> dict[str, Any]:
        if self.summary_path.is_file():
            return _read_json(self.summary_path)
        meta = self.meta() if self.meta_path.is_file() else {}
        return {
            **meta,
            "status": "incomplete",
            "groups": summarize(latest_records(self.results_path)),
        }

    def records(self) -> Iterator[dict[str, Any]]:
        return latest_records(self.results_path)


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
