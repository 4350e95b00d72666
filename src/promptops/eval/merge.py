"""Shard runs put back together: ``promptops runs merge RUN...``.

``promptops eval REF --shard K/N`` evaluates the cases whose id hashes to shard K of N
(:func:`promptops.datasets.shard_of`), so N CI workers can split a large gold set. Merging
their runs gives one run whose records are the union of the shards' and whose summary is
recomputed from them with :func:`promptops.eval.summary.summarize`: the same summary one unsharded
run would have had (up to timing: latencies and wall time are the workers' own).

What may be merged, and what is refused (each refusal names the runs):

- every run evaluated the same prompt versions (digests), the same dataset contents (digests in
  provenance), the same models and the same judging options (``repeat``, ``filter``, ``limit``,
  ``tests``, ``fail_under``);
- every run is a shard of the same split ``N``; a run without ``--shard`` is refused, as is one
  shard given twice (pick one of the two, e.g. the re-run of a failed CI job);
- a record key (version, model, case, repeat) found in two runs must carry the same result,
  else the merge is refused (shards are disjoint by construction, so this means the inputs
  differ in a way the digests did not catch).

The merged run is ``complete`` only when every shard run is complete and the shards are
exactly 1..N; otherwise it is ``incomplete`` and ``summary["shards"]["missing"]`` lists the
absent shards. Its bar is judged like the runner's: a group meets ``--fail-under`` (else the
prompt's ``fail_under``, else 1.0) and the run is complete.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import RunError, UsageError
from .records import SCHEMA_VERSION, RunSpec, Summary
from .store import RunDir, checked_records, find_run, run_version
from .summary import build_summary, group_key, record_key, summarize

if TYPE_CHECKING:
    from ..project import Project
    from .runner import EvalResult

# Options that change which records exist or how they are judged: they must agree.
JUDGING_OPTIONS = ("models", "tests", "repeat", "filter", "limit", "fail_under")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")


@dataclass
class _Shard:
    run: RunDir
    meta: dict[str, Any]
    summary: dict[str, Any]
    k: int
    n: int

    @property
    def status(self) -> str:
        return str(self.summary.get("status") or "incomplete")


def _load(project: Project, run_ids: list[str]) -> list[_Shard]:
    if not run_ids:
        raise UsageError("give the shard runs to merge, e.g. promptops runs merge RUN1 RUN2")
    shards: list[_Shard] = []
    seen: dict[str, str] = {}
    for rid in run_ids:
        run = find_run(project.runs_dir, rid)
        if run.id in seen:
            raise UsageError(f"run {run.id} is given twice ({seen[run.id]!r} and {rid!r})")
        seen[run.id] = rid
        meta = run.meta()
        shard = (meta.get("options") or {}).get("shard")
        if not shard:
            raise RunError(
                f"run {run.id} is not a shard run (no --shard K/N); runs merge combines the "
                "runs of `promptops eval REF --shard K/N`"
            )
        k, n = int(shard[0]), int(shard[1])
        shards.append(_Shard(run, meta, run.summary(), k, n))
    return shards


def _check_compatible(shards: list[_Shard]) -> None:
    first = shards[0]

    def refuse(other: _Shard, what: str, a: Any, b: Any) -> None:
        raise RunError(
            f"runs {first.run.id} and {other.run.id} differ in {what} ({a!r} vs {b!r}); "
            "only shards of one eval can be merged"
        )

    digests = [r.get("digest") for r in first.meta.get("refs", [])]
    datasets = (first.meta.get("provenance") or {}).get("datasets", {})
    models = list(((first.meta.get("provenance") or {}).get("models") or {}).keys())
    for s in shards[1:]:
        if s.n != first.n:
            refuse(s, "the split (--shard K/N)", f"{first.k}/{first.n}", f"{s.k}/{s.n}")
        other_digests = [r.get("digest") for r in s.meta.get("refs", [])]
        if other_digests != digests:
            refuse(s, "prompt versions", digests, other_digests)
        other_ds = (s.meta.get("provenance") or {}).get("datasets", {})
        if other_ds != datasets:
            refuse(s, "dataset contents", datasets, other_ds)
        other_models = list(((s.meta.get("provenance") or {}).get("models") or {}).keys())
        if other_models != models:
            refuse(s, "models", models, other_models)
        for opt in JUDGING_OPTIONS:
            a, b = first.meta["options"].get(opt), s.meta["options"].get(opt)
            if a != b:
                refuse(s, f"option {opt!r}", a, b)
    by_k: dict[int, _Shard] = {}
    for s in shards:
        if s.k in by_k:
            raise RunError(
                f"shard {s.k}/{s.n} is given twice: runs {by_k[s.k].run.id} and {s.run.id}; "
                "keep one of them"
            )
        by_k[s.k] = s


def _fingerprint(rec: dict[str, Any]) -> tuple[Any, ...]:
    return (rec.get("pass"), rec.get("score"), rec.get("output"), rec.get("error"))


def _merge_provenance(shards: list[_Shard]) -> dict[str, Any]:
    """Fields every shard agrees on once; fields that differ (a worker's git checkout, Python,
    model identity...) from the first shard, with every shard's value under ``shards``."""
    provs = [s.meta.get("provenance") or {} for s in shards]
    merged = dict(provs[0])
    differing = sorted({k for p in provs for k in p if any(q.get(k) != p.get(k) for q in provs)})
    if differing:
        merged["shards"] = {
            s.run.id: {k: p.get(k) for k in differing} for s, p in zip(shards, provs, strict=True)
        }
    return merged


def _order(shards: list[_Shard], records: list[dict[str, Any]]) -> list[str]:
    """Group order as the runner has it: versions in ref order, models in provenance order."""
    meta = shards[0].meta
    digest_rank = {r.get("digest"): i for i, r in enumerate(meta.get("refs", []))}
    model_rank = {
        m: i for i, m in enumerate(((meta.get("provenance") or {}).get("models") or {}).keys())
    }
    groups: dict[str, tuple[int, int]] = {}
    for rec in records:
        key = group_key(rec)
        if key not in groups:
            groups[key] = (
                digest_rank.get(rec["digest"], len(digest_rank)),
                model_rank.get(rec["model"], len(model_rank)),
            )
    return sorted(groups, key=lambda k: groups[k])


def _fail_under(
    project: Project, shards: list[_Shard], groups: list[dict[str, Any]]
) -> dict[str, float]:
    """Each group's bar: --fail-under, else what a shard's summary recorded, else the prompt
    file's ``fail_under`` (when it is unchanged on disk), else 1.0."""
    opt = shards[0].meta["options"].get("fail_under")
    recorded: dict[str, float] = {}
    for s in shards:
        for b in (s.summary.get("bar") or {}).get("groups", []):
            recorded.setdefault(b["group"], float(b["fail_under"]))
    out: dict[str, float] = {}
    for g in groups:
        key = group_key(g)
        if opt is not None:
            out[key] = float(opt)
        elif key in recorded:
            out[key] = recorded[key]
        else:
            pv = run_version(project, shards[0].meta, g["digest"])
            bar = pv.spec.fail_under if pv is not None else None
            out[key] = 1.0 if bar is None else float(bar)
    return out


def _derived(
    project: Project, shards: list[_Shard], records: list[dict[str, Any]]
) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """The derived metrics of each (prompt, version) the records hold, from its prompt file
    when that file is still the one the run used (as the bar is read)."""
    out: dict[tuple[str, str], list[tuple[str, str]]] = {}
    seen: set[str] = set()
    for rec in records:
        if rec["digest"] in seen:
            continue
        seen.add(rec["digest"])
        pv = run_version(project, shards[0].meta, rec["digest"])
        if pv is not None and pv.spec.derived_metrics:
            defs = [(d.name, d.value) for d in pv.spec.derived_metrics]
            out[(rec["prompt"], rec["version"])] = defs
    return out


def merge_runs(project: Project, run_ids: list[str], new_id: str | None = None) -> EvalResult:
    """Combine shard runs of one eval into a new run; see the module docstring for the rules."""
    from .runner import EvalResult, new_run_id

    shards = _load(project, run_ids)
    _check_compatible(shards)
    shards.sort(key=lambda s: s.k)
    n = shards[0].n
    if new_id is not None:
        if not _ID_RE.match(new_id):
            raise UsageError(
                f"--id {new_id!r}: use letters, digits, '.', '_' and '-', starting with a "
                "letter or digit"
            )
        if (project.runs_dir / new_id).exists():
            raise RunError(f"run {new_id} already exists; choose another --id")
    else:
        label = "+".join(
            str(r.get("ref", "")).replace("@", "-") for r in shards[0].meta.get("refs", [])
        )
        new_id = new_run_id(f"merged-{label}")
    records: list[dict[str, Any]] = []
    seen: dict[tuple[str, str, str, int], tuple[str, tuple[Any, ...]]] = {}
    for s in shards:
        for rec in checked_records(s.run.results_path):  # validated: runs from elsewhere
            key = record_key(rec)
            fp = _fingerprint(rec)
            if key in seen:
                if seen[key][1] != fp:
                    raise RunError(
                        f"case {rec['case_id']!r} ({group_key(rec)}, repeat {key[3]}) has "
                        f"different results in runs {seen[key][0]} and {s.run.id}"
                    )
                continue
            seen[key] = (s.run.id, fp)
            records.append(rec)
    present = [s.k for s in shards]
    missing = [k for k in range(1, n + 1) if k not in present]
    complete = not missing and all(s.status == "complete" for s in shards)
    status = "complete" if complete else "incomplete"
    run = RunDir(project.runs_dir / new_id)
    first = shards[0].meta
    starts = [str(s.meta.get("started")) for s in shards if s.meta.get("started")]
    ends = [str(s.summary.get("ended")) for s in shards if s.summary.get("ended")]
    meta: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run.id,
        "command": "promptops runs merge " + " ".join(s.run.id for s in shards),
        "started": min(starts) if starts else None,
        "refs": first.get("refs", []),
        "options": {**first["options"], "shard": None},
        "provenance": _merge_provenance(shards),
        "merged_from": [
            {"run_id": s.run.id, "shard": [s.k, s.n], "status": s.status} for s in shards
        ],
    }
    meta = run.write_spec(RunSpec.model_validate(meta))
    try:
        for rec in records:
            run.append(rec)
    finally:
        run.close()
    groups = summarize(records, _order(shards, records), _derived(project, shards, records))
    spent = sum(float((s.summary.get("budget") or {}).get("spent") or 0.0) for s in shards)
    summary = build_summary(
        meta,
        status,
        groups,
        _fail_under(project, shards, groups),
        ended=max(ends) if ends else None,
        wall_s=max([float(s.summary.get("wall_s") or 0.0) for s in shards] or [0.0]),
        network_calls=sum(int(s.summary.get("network_calls") or 0) for s in shards),
        budget={"max_cost": first["options"].get("max_cost"), "spent": round(spent, 8)},
        shards={"n": n, "present": present, "missing": missing},
    )
    summary = run.write_summary(Summary.model_validate(summary))
    return EvalResult(run, summary)


__all__ = ["JUDGING_OPTIONS", "merge_runs"]
