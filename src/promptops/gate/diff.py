"""What changed between two prompt versions, and comparing them: by evaluating both on the
same cases (:func:`diff_refs`), or from two stored runs (:func:`compare_runs`).

This is the part of ``promptops diff`` that loads prompts and runs evals; the paired
statistics over the records are :mod:`promptops.gate.compare`.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ProviderError, UsageError
from .compare import Comparison, compare_records, finite, overall_verdict

if TYPE_CHECKING:
    from ..eval.runner import EvalOptions
    from ..eval.store import RunDir
    from ..project import Project, PromptVersion
    from .sequential import Sequential

__all__ = ["DiffResult", "FileDiff", "compare_runs", "diff_refs", "file_diff"]


# --------------------------------------------------------------------------------------------
# What changed in the prompt files
# --------------------------------------------------------------------------------------------


@dataclass
class FileDiff:
    """What changed between two prompt files, beyond formatting and comments."""

    ref_a: str
    ref_b: str
    template: list[str]  # unified diff lines of the message templates
    model: tuple[str, str] | None
    params: dict[str, tuple[Any, Any]]
    assertions_added: list[str]
    assertions_removed: list[str]
    fields: dict[str, tuple[Any, Any]]  # other top-level fields that changed
    changelog: str  # B's changelog

    @property
    def empty(self) -> bool:
        return not (
            self.template
            or self.model
            or self.params
            or self.assertions_added
            or self.assertions_removed
            or self.fields
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _template_text(pv: PromptVersion) -> list[str]:
    lines = []
    for m in pv.spec.chat():
        lines.append(f"[{m.role or 'placeholder'}]")
        lines.extend(m.text().splitlines() or [""])
    return lines


def _assertion_texts(pv: PromptVersion) -> list[str]:
    return [
        json.dumps(a.model_dump(by_alias=True, exclude_defaults=True), sort_keys=True, default=str)
        for a in pv.spec.assert_
    ]


_HANDLED = {"name", "version", "messages", "template", "assert", "model", "changelog"}


def file_diff(pv_a: PromptVersion, pv_b: PromptVersion) -> FileDiff:
    """Template text diff, model, parameter, assertion and other field changes from A to B."""
    template = list(
        difflib.unified_diff(
            _template_text(pv_a),
            _template_text(pv_b),
            fromfile=pv_a.ref,
            tofile=pv_b.ref,
            lineterm="",
            n=2,
        )
    )
    ma, mb = pv_a.spec.model, pv_b.spec.model
    model = (ma.id, mb.id) if ma.id != mb.id else None
    pa, pb = ma.params.as_kwargs(), mb.params.as_kwargs()
    if ma.api_base != mb.api_base:
        pa["api_base"], pb["api_base"] = ma.api_base, mb.api_base
    params = {
        k: (pa.get(k), pb.get(k)) for k in sorted(set(pa) | set(pb)) if pa.get(k) != pb.get(k)
    }
    ta, tb = _assertion_texts(pv_a), _assertion_texts(pv_b)
    added = [t for t in tb if t not in ta]
    removed = [t for t in ta if t not in tb]
    fields = {
        k: (pv_a.raw.get(k), pv_b.raw.get(k))
        for k in sorted(set(pv_a.raw) | set(pv_b.raw) - _HANDLED)
        if k not in _HANDLED and pv_a.raw.get(k) != pv_b.raw.get(k)
    }
    return FileDiff(
        pv_a.ref, pv_b.ref, template, model, params, added, removed, fields, pv_b.spec.changelog
    )


# --------------------------------------------------------------------------------------------
# Refs and runs
# --------------------------------------------------------------------------------------------


@dataclass
class DiffResult:
    """A compared with B: file changes, per-model comparisons and where the records are."""

    label_a: str
    label_b: str
    comparisons: list[Comparison]
    changes: FileDiff | None
    run_ids: list[str]
    dataset: str | None  # the dataset both versions ran on (None: inline tests or stored runs)
    notes: list[str] = field(default_factory=list)
    run: RunDir | None = None  # the eval run diff_refs made
    sequential: Sequential | None = None  # the look schedule and where it stopped

    @property
    def verdict(self) -> str:
        return overall_verdict(self.comparisons)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = finite(
            {
                "a": self.label_a,
                "b": self.label_b,
                "verdict": self.verdict,
                "runs": self.run_ids,
                "dataset": self.dataset,
                "notes": self.notes,
                "changes": self.changes.to_json() if self.changes else None,
                "comparisons": [c.to_json() for c in self.comparisons],
                "sequential": self.sequential.to_json() if self.sequential else None,
            }
        )
        return data


def _gate(pv: PromptVersion | None, metric: str | None, margin: float | None) -> tuple[str, float]:
    gate = pv.spec.gate if pv is not None else None
    return (
        metric or (gate.metric if gate else "score"),
        margin if margin is not None else (gate.margin if gate else 0.02),
    )


def diff_refs(
    project: Project,
    ref_a: str | PromptVersion,
    ref_b: str | PromptVersion,
    opts: EvalOptions | None = None,
    *,
    metric: str | None = None,
    margin: float | None = None,
    seed: int = 0,
    alpha: float = 0.05,
    on_start: Callable[[int, RunDir], None] | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    sequential: int = 0,
    resume: str | None = None,
) -> DiffResult:
    """Evaluate A and B in one run on the same cases and models, then compare them.

    ``sequential``: evaluate the cases in that many seeded batches and stop at the first look
    that decides (group-sequential, alpha spending); ``resume``: continue such a run with its
    stored schedule.

    Dataset: ``opts.dataset`` when given, else B's (the candidate's gold set, which a change
    may have extended), else each version's inline tests matched by case id. Models:
    ``opts.models`` when given (both versions on each); else each version on its pinned model,
    compared pinned-to-pinned. Metric and margin default to B's ``gate`` settings.
    """
    from dataclasses import replace

    from ..eval.runner import EvalOptions, run_eval
    from ..refs import resolve

    pv_a = ref_a if not isinstance(ref_a, str) else resolve(ref_a, project)
    pv_b = ref_b if not isinstance(ref_b, str) else resolve(ref_b, project)
    if pv_a.digest == pv_b.digest:
        raise UsageError(
            f"{pv_a.ref} and {pv_b.ref} are the same prompt (digest {pv_a.digest[:19]}...)"
        )
    opts = replace(opts) if opts is not None else EvalOptions()
    notes: list[str] = []
    dataset: str | None = None
    if opts.dataset is not None:
        dataset = opts.dataset
    elif not opts.tests:
        if pv_b.spec.dataset is not None:
            dataset = pv_b.spec.dataset
            opts.dataset = str(project.dataset_path(pv_b))  # confined to the project
            if pv_a.spec.dataset != pv_b.spec.dataset:
                notes.append(f"the versions name different datasets; both ran on B's {dataset}")
        elif pv_b.spec.tests and pv_a.spec.tests:
            opts.tests = True
            notes.append("no dataset: each version ran its inline tests, matched by case id")
        else:
            raise UsageError(f"{pv_b.ref} has no dataset; pass --dataset FILE")
    else:
        notes.append("each version ran its inline tests, matched by case id")
    relabel = None
    if not opts.models and pv_a.spec.model.id != pv_b.spec.model.id:
        relabel = f"{pv_a.spec.model.id} -> {pv_b.spec.model.id}"
        notes.append(f"the model changed: each version ran on its pinned model ({relabel})")
    metric, margin = _gate(pv_b, metric, margin)
    command = f"promptops diff {pv_a.ref} {pv_b.ref}"

    def split(run: RunDir) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        recs_a, recs_b = [], []
        for rec in run.records():
            if relabel is not None:
                rec = {**rec, "model": relabel}
            if rec["digest"] == pv_a.digest:
                recs_a.append(rec)
            elif rec["digest"] == pv_b.digest:
                recs_b.append(rec)
        return recs_a, recs_b

    seq: Sequential | None = None
    if sequential or resume is not None:
        from .sequential import run_sequential, sequential_note

        seq, result = run_sequential(
            project,
            pv_a,
            pv_b,
            opts,
            sequential,
            resume,
            seed,
            alpha,
            margin,
            metric,
            split,
            on_start,
            on_record,
            command,
        )
        notes.append(sequential_note(seq))
    else:
        result = run_eval(
            project, [pv_a, pv_b], opts, on_start=on_start, on_record=on_record, command=command
        )
    if result.stop_reason:
        raise ProviderError(result.stop_reason)
    recs_a, recs_b = split(result.run)
    level = seq.last_level if seq is not None else None
    comps = compare_records(
        recs_a, recs_b, metric=metric, margin=margin, seed=seed, alpha=alpha, level=level
    )
    if result.status != "complete":
        notes.append(
            f"the eval run stopped early ({result.status}); only finished cases are compared"
        )
    return DiffResult(
        pv_a.ref,
        pv_b.ref,
        comps,
        file_diff(pv_a, pv_b),
        [result.run.id],
        dataset,
        notes,
        result.run,
        seq,
    )


def compare_runs(
    project: Project,
    run_a_id: str,
    run_b_id: str,
    *,
    metric: str | None = None,
    margin: float | None = None,
    seed: int = 0,
    alpha: float = 0.05,
) -> DiffResult:
    """Compare two stored runs as they are (one prompt version each; or one run holding two
    versions, given twice)."""
    from ..eval.store import find_run

    run_a, run_b = find_run(project.runs_dir, run_a_id), find_run(project.runs_dir, run_b_id)
    by_digest: dict[str, list[dict[str, Any]]] = {}
    recs_a = list(run_a.records())
    digests_a = list(dict.fromkeys(r["digest"] for r in recs_a))
    if run_a.id == run_b.id:
        if len(digests_a) != 2:
            raise UsageError(
                f"run {run_a.id} holds {len(digests_a)} versions; comparing a run with "
                "itself needs exactly two"
            )
        da, db = digests_a
        for r in recs_a:
            by_digest.setdefault(r["digest"], []).append(r)
        records_a, records_b = by_digest[da], by_digest[db]
    else:
        recs_b = list(run_b.records())
        digests_b = list(dict.fromkeys(r["digest"] for r in recs_b))
        for run, digests in ((run_a, digests_a), (run_b, digests_b)):
            if len(digests) != 1:
                raise UsageError(
                    f"run {run.id} holds {len(digests)} prompt versions; give a run of one "
                    "version, or the same run twice to compare its two versions"
                )
        da, db = digests_a[0], digests_b[0]
        records_a, records_b = recs_a, recs_b
    from ..eval.store import run_version

    pv_a, pv_b = run_version(project, run_a.meta(), da), run_version(project, run_b.meta(), db)
    metric, margin = _gate(pv_b, metric, margin)
    comps = compare_records(
        records_a, records_b, metric=metric, margin=margin, seed=seed, alpha=alpha
    )
    notes = []
    changes = None
    if pv_a is not None and pv_b is not None and da != db:
        changes = file_diff(pv_a, pv_b)
    elif da != db:
        notes.append("a prompt file changed since its run; no file diff")
    ds_a = run_a.meta().get("provenance", {}).get("datasets", {})
    ds_b = run_b.meta().get("provenance", {}).get("datasets", {})
    if ds_a != ds_b:
        notes.append(
            "the runs used different datasets (or dataset contents); only shared case ids are paired"
        )
    models_a = {r["model"] for r in records_a}
    models_b = {r["model"] for r in records_b}
    if models_a != models_b:
        notes.append(
            "models on one side only are not compared: " + ", ".join(sorted(models_a ^ models_b))
        )
    label_a = (
        run_a.id
        if run_a.id != run_b.id
        else f"{run_a.id} ({records_a[0]['prompt']}@{records_a[0]['version']})"
    )
    label_b = (
        run_b.id
        if run_a.id != run_b.id
        else f"{run_b.id} ({records_b[0]['prompt']}@{records_b[0]['version']})"
    )
    dataset = next(iter(ds_b), None) if len(ds_b) == 1 else None
    return DiffResult(
        label_a, label_b, comps, changes, list(dict.fromkeys([run_a.id, run_b.id])), dataset, notes
    )
