"""Summaries of run records: groups per (prompt, version, model) and the pass-rate bar.

The files of a run are read and written by :mod:`promptops.eval.store`; their format is
:mod:`promptops.eval.records`. This module is the one summary builder (the runner, ``runs merge``
and a run without a summary yet all aggregate records here).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..stats import mean, percentiles, wilson_interval


def record_key(rec: dict[str, Any]) -> tuple[str, str, str, int]:
    return (rec["digest"], rec["model"], rec["case_id"], int(rec.get("repeat", 0)))


def group_label(prompt: str, version: str, model: str) -> str:
    """How a (prompt, version, model) group is named in summaries and bars."""
    return f"{prompt}@{version} {model}"


def group_key(rec: dict[str, Any]) -> str:
    return group_label(rec["prompt"], rec["version"], rec["model"])


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
    # the prompt's derived_metrics (name, expression), over these records' metric sums
    derived: list[tuple[str, str]] = field(default_factory=list)
    metric_sums: dict[str, list[float]] = field(default_factory=dict)  # metric -> weight*score

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
            if self.derived and a.get("metric"):
                w = a.get("weight")
                score = float(a.get("score") or 0.0) * (1.0 if w is None else float(w))
                self.metric_sums.setdefault(a["metric"], []).append(score)

    def to_json(self) -> dict[str, Any]:
        low, high = wilson_interval(self.passed, self.n)
        scored = self.n - self.errors
        derived: dict[str, Any] = {}
        if self.derived:
            from ..derived import compute

            sums = {k: math.fsum(v) for k, v in self.metric_sums.items()}
            derived["derived_metrics"] = compute(self.derived, sums, self.n)
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
            **derived,
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


Derived = dict[tuple[str, str], list[tuple[str, str]]]
"""Derived metric definitions (name, expression) by (prompt, version)."""


def summarize(
    records: Iterable[dict[str, Any]],
    order: list[str] | None = None,
    derived: Derived | None = None,
) -> list[dict[str, Any]]:
    """Aggregate records per (prompt, version, model); groups follow ``order`` (their
    ``group_key``s) where given, else first-seen order; ``derived``: the prompts' derived
    metrics."""
    tally = Tally(derived)
    for rec in records:
        tally.count(rec)
    return tally.groups(order)


class Tally:
    """The groups of a run's records, kept up as the runner writes them, so its summary needs
    no second read of results.jsonl: at 67,000 records that read took 4 s, and a run stopped by
    SIGTERM must end in seconds whatever its size.

    A run rewrites a record (same :func:`record_key`) only on resume; :meth:`carry` holds an
    earlier record that a rerun may replace, and it counts only if none does. Keys are kept as
    hashes: a collision (or a key written twice) makes :attr:`exact` False, and the caller
    then reads the file instead."""

    def __init__(self, derived: Derived | None = None) -> None:
        self._derived = derived or {}
        self._groups: dict[str, Group] = {}
        self._keys: set[int] = set()
        self._carried: dict[tuple[str, str, str, int], dict[str, Any]] = {}
        self.exact = True
        self.written = 0

    def add(self, rec: dict[str, Any]) -> None:
        key = record_key(rec)
        h = hash(key)
        if h in self._keys:
            self.exact = False
        self._keys.add(h)
        self._carried.pop(key, None)
        self.count(rec)

    def carry(self, rec: dict[str, Any]) -> None:
        self._carried[record_key(rec)] = rec

    def count(self, rec: dict[str, Any]) -> None:
        """Count ``rec`` in its group (no key bookkeeping: :func:`summarize`'s records)."""
        self.written += 1
        key = group_key(rec)
        g = self._groups.get(key)
        if g is None:
            g = self._groups[key] = Group(
                rec["prompt"],
                rec["version"],
                rec["digest"],
                rec["model"],
                derived=self._derived.get((rec["prompt"], rec["version"]), []),
            )
        g.add(rec)

    def groups(self, order: list[str] | None = None) -> list[dict[str, Any]]:
        """The groups (in ``order`` of their ``group_key``s where given, else first seen),
        counting the carried records no rerun replaced."""
        for rec in self._carried.values():
            self.count(rec)
        self._carried = {}
        keys = list(self._groups)
        if order:
            rank = {k: i for i, k in enumerate(order)}
            keys.sort(key=lambda k: rank.get(k, len(rank)))
        return [self._groups[k].to_json() for k in keys]


def build_summary(
    meta: dict[str, Any],
    status: str,
    groups: list[dict[str, Any]],
    fail_under: dict[str, float],
    *,
    wall_s: float,
    network_calls: int,
    budget: dict[str, Any],
    ended: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A run's summary.json (a :class:`promptops.eval.records.Summary`), for the runner and for a
    merge: the run.json fields, ``status`` and ``fields`` (error, records, repairs, signal,
    shards...), timings, the groups and the bar judged from ``fail_under`` (by group key)."""
    from .records import SCHEMA_VERSION

    return {
        **meta,
        "schema_version": SCHEMA_VERSION,
        "status": status,
        **fields,
        "ended": ended or datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_s": round(wall_s, 3),
        "network_calls": network_calls,
        "budget": budget,
        "groups": groups,
        "bar": judge_bar(groups, fail_under, status),
    }
