"""Eval evidence for a promotion: scan run summaries for a full, passing run of a prompt
version, and compare it against the version active in the environment.

:func:`find_evidence` is what ``promptops promote`` asks before it changes registry.yaml
(:mod:`promptops.registry.changes`); its :class:`Evidence` is recorded with the change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EvidenceError
from ..project import Project, PromptVersion, short_digest
from ..spec import Deployment

__all__ = ["Evidence", "find_evidence"]


@dataclass
class Evidence:
    """Why a promotion is allowed: a run where this digest met its bar, and a comparison."""

    run_id: str
    pass_rate: float | None
    fail_under: float
    dataset: str
    dataset_digest: str
    baseline: str | None = None  # the active version compared against
    compare_run: str | None = None
    verdict: str | None = None  # ok or inconclusive (regression and error are refused)
    comparisons: list[dict[str, Any]] = field(default_factory=list)

    @property
    def run_ids(self) -> list[str]:
        return list(dict.fromkeys(r for r in (self.run_id, self.compare_run) if r))


def _summary(run: Any, digest: str) -> dict[str, Any] | None:
    """A run's summary.json when it mentions ``digest`` (cheap text test before parsing)."""
    try:
        text = run.summary_path.read_text(encoding="utf-8")
    except OSError:
        return None
    if digest not in text:
        return None
    from ..errors import RunError

    try:
        data: dict[str, Any] = run.summary()  # migrated and validated (promptops.eval.records)
    except RunError:
        return None  # not a summary promptops wrote: no evidence
    return data


def _why_not_full(s: dict[str, Any], dataset: str, dataset_digest: str) -> str | None:
    """Why a run is not a complete run of the whole gold dataset as it is now (None: it is)."""
    if s.get("status") != "complete":
        return f"it is {s.get('status') or 'incomplete'}"
    opts = s.get("options") or {}
    partial = [f"--{k}" for k in ("filter", "limit", "shard") if opts.get(k)] + (
        ["--tests"] if opts.get("tests") else []
    )
    if partial:
        return f"it ran part of the cases ({', '.join(partial)})"
    got = ((s.get("provenance") or {}).get("datasets") or {}).get(dataset)
    if got is None:
        return f"it did not use {dataset}"
    if got != dataset_digest:
        return f"{dataset} has changed since ({short_digest(got)} then, {short_digest(dataset_digest)} now)"
    rec = s.get("records") or {}
    if rec and rec.get("written") != rec.get("planned"):
        return f"it has {rec.get('written')} of {rec.get('planned')} planned records"
    return None


def _why_short(g: dict[str, Any], s: dict[str, Any], cases: int) -> str | None:
    """Why a group does not hold exactly one record per case and repeat (None: it does)."""
    repeat = int((s.get("options") or {}).get("repeat") or 1)
    want = cases * repeat
    if g.get("n") != want:
        return f"it has {g.get('n')} of {want} records ({cases} cases x {repeat} repeats)"
    return None


def _is_dir_arg(text: str) -> bool:
    """``--evidence`` names a directory (a run downloaded from CI), not a run id."""
    return "/" in text or "\\" in text or text in (".", "..") or Path(text).is_dir()


def _runs_in(path: Path) -> list[Any]:
    """The runs in ``path``: a run directory itself, a runs directory, or a downloaded CI
    artifact that holds ``.promptops/runs/`` (as the check workflow uploads it)."""
    from ..eval.store import RunDir, list_runs

    if not path.is_dir():
        raise EvidenceError(
            f"{path}: no such directory (--evidence takes a run id or a run directory)"
        )
    if (path / "summary.json").is_file():
        return [RunDir(path)]
    for runs_dir in (path / ".promptops" / "runs", path):
        runs = [r for r in list_runs(runs_dir) if r.summary_path.is_file()]
        if runs:
            return _newest_first(runs)
    raise EvidenceError(
        f"{path}: not a run directory (no summary.json in it, nor runs under it or under "
        f"{path / '.promptops' / 'runs'})"
    )


def _why_not_consistent(run: Any, cand: dict[str, Any]) -> str | None:
    """A run from elsewhere counts only when its results.jsonl adds up to its summary's group:
    the same digest, model, cases and passes."""
    from ..errors import RunError
    from ..eval.store import checked_records
    from ..eval.summary import summarize

    if not run.results_path.is_file():
        return "it has no results.jsonl to check its summary against"
    try:
        groups = summarize(checked_records(run.results_path))
    except RunError as e:
        return f"its results.jsonl does not fit the record format ({e.message})"
    except (ValueError, KeyError, TypeError) as e:
        return f"its results.jsonl is unreadable ({type(e).__name__})"
    got = next(
        (g for g in groups if g["digest"] == cand["digest"] and g["model"] == cand["model"]),
        None,
    )
    if got is None or (got["n"], got["passed"]) != (cand.get("n"), cand.get("passed")):
        return "its results.jsonl does not add up to its summary.json"
    return None


def _newest_first(runs: list[Any]) -> list[Any]:
    """By when summary.json was written (run ids only have second resolution)."""

    def written(run: Any) -> int:
        try:
            return int(run.summary_path.stat().st_mtime_ns)
        except OSError:
            return 0

    return sorted(runs, key=written, reverse=True)


def _group(s: dict[str, Any], digest: str, model: str | None) -> dict[str, Any] | None:
    """The run's group of ``digest`` (on ``model`` unless None)."""
    return next(
        (
            g
            for g in s.get("groups") or []
            if g.get("digest") == digest and model in (None, g.get("model"))
        ),
        None,
    )


def find_evidence(
    project: Project,
    pv: PromptVersion,
    active: Deployment | None,
    *,
    run_id: str | None = None,
    env: str = "ENV",
) -> Evidence:
    """Evidence that ``pv`` may replace ``active``, or an EvidenceError saying what to run.

    Only complete runs of the whole gold dataset, as the file is now, on the pinned model
    count. The newest such run of ``pv``'s digest must meet the prompt's own bar (fail_under,
    default 1.0): a later failing run is not outweighed by an earlier passing one. When
    ``active`` is another digest, the newest such run holding both (``promptops diff``) is
    compared, and a regression is refused.

    Only summary.json files are read while searching; results.jsonl only for the comparison.
    """
    from ..datasets import file_digest, iter_cases
    from ..eval.store import find_run, list_runs

    how = (
        f"or, with a run made elsewhere (a CI artifact of `promptops check`): "
        f"promptops promote {pv.name} {pv.version} --env {env} --evidence RUN_DIR; "
        f'or override: promptops promote {pv.name} {pv.version} --env {env} --force --reason "..."'
    )
    ds = project.dataset_path(pv)
    if ds is None:
        raise EvidenceError(
            f"{pv.name} {pv.version} has no gold dataset (dataset: in {project.rel(pv.path)}), "
            f"so no eval can vouch for it; add one and run: promptops eval {pv.ref}; {how}"
        )
    if not ds.is_file():
        raise EvidenceError(f"{project.rel(ds)}: dataset of {pv.ref} not found; {how}")
    dataset, ds_digest = project.rel(ds), file_digest(ds)
    model = pv.spec.model.id
    need = pv.spec.fail_under if pv.spec.fail_under is not None else 1.0
    baseline = active if active is not None and active.digest != pv.digest else None
    external = run_id is not None and _is_dir_arg(run_id)
    if run_id is not None and external:
        runs = _runs_in(Path(run_id))
    elif run_id is not None:
        runs = [find_run(project.runs_dir, run_id)]
    else:
        runs = _newest_first(list_runs(project.runs_dir))
    newest: tuple[str, float | None] | None = None  # (run id, pass rate) of the newest full run
    cmp: tuple[Any, dict[str, Any], dict[str, Any]] | None = None
    why: str | None = None  # why an explicitly given run does not count
    n_cases: int | None = None  # cases in the dataset, counted once when needed
    for run in runs:
        s = _summary(run, pv.digest)
        cand = _group(s, pv.digest, model) if s is not None else None
        if s is None or cand is None:
            why = f"it has no results of {pv.ref} ({short_digest(pv.digest)}) on {model}"
            continue
        why = _why_not_full(s, dataset, ds_digest)
        if not why:
            if n_cases is None:
                n_cases = sum(1 for _ in iter_cases(ds))
            why = _why_short(cand, s, n_cases)
        if not why and external:
            why = _why_not_consistent(run, cand)
        if why:
            continue
        if newest is None:
            newest = (run.id, cand.get("pass_rate"))
        if baseline is not None and cmp is None:
            base = _group(s, baseline.digest, model) or _group(s, baseline.digest, None)
            if base is not None:
                cmp = (run, base, cand)
        if baseline is None or cmp is not None:
            break
    if newest is None:
        detail = f" ({'in ' if external else 'run '}{run_id}: {why})" if run_id and why else ""
        raise EvidenceError(
            f"no eval run of {pv.name} {pv.version} ({short_digest(pv.digest)}) on {dataset} met its bar{detail}; "
            f"run: promptops eval {pv.ref}; {how}"
        )
    rate = newest[1]
    if rate is None or rate < need - 1e-12:
        raise EvidenceError(
            f"{pv.name} {pv.version} missed its bar in its newest eval run {newest[0]}: pass rate {_pct(rate)}, "
            f"needs {_pct(need)}; fix it and run: promptops eval {pv.ref}; {how}"
        )
    ev = Evidence(newest[0], rate, need, dataset, ds_digest)
    if baseline is None:
        return ev
    ev.baseline = baseline.version
    if cmp is None:
        raise EvidenceError(
            f"no comparison of {pv.name} {pv.version} against the active {baseline.version} on {dataset}; "
            f"run: promptops diff {pv.name}@{baseline.version} {pv.ref}; {how}"
        )
    run, base, cand = cmp
    ev.compare_run = run.id
    ev.verdict, ev.comparisons = _compare(run, base, cand, pv)
    if ev.verdict == "regression":
        raise EvidenceError(
            f"{pv.name} {pv.version} regressed against the active {baseline.version} in run {run.id} "
            f"({pv.spec.gate.metric}, margin {pv.spec.gate.margin}): see promptops show-run {run.id}; "
            f"fix it and run the comparison again, {how}"
        )
    if ev.verdict == "error":
        raise EvidenceError(
            f"the comparison of {pv.name} {pv.version} against the active {baseline.version} in "
            f"run {run.id} is 'error' (calls failed on both sides, so some cases carry no "
            f"evidence): see promptops show-run {run.id}; rerun them with promptops eval "
            f"--resume {run.id}, {how}"
        )
    return ev


def _compare(
    run: Any, base: dict[str, Any], cand: dict[str, Any], pv: PromptVersion
) -> tuple[str, list[dict[str, Any]]]:
    """The verdict of the run's two groups, paired by case (as ``promptops diff`` does: when
    the pinned model changed, each side on its own model)."""
    from ..gate.compare import compare_records, overall_verdict

    label = None if base["model"] == cand["model"] else f"{base['model']} -> {cand['model']}"
    records = list(run.records())

    def pick(g: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            r if label is None else {**r, "model": label}
            for r in records
            if r.get("digest") == g["digest"] and r.get("model") == g["model"]
        ]

    results = compare_records(
        pick(base), pick(cand), metric=pv.spec.gate.metric, margin=pv.spec.gate.margin, seed=0
    )
    keep = (
        "model",
        "metric",
        "verdict",
        "reason",
        "n_paired",
        "mean_a",
        "mean_b",
        "diff",
        "ci_low",
        "ci_high",
    )
    return overall_verdict(results), [{k: getattr(c, k) for k in keep} for c in results]


def _pct(x: Any) -> str:
    return "-" if x is None else f"{100 * float(x):.1f}%"


def evidence_run_dir(project: Project, run_id: str, given: str | None) -> Any:
    """The RunDir of the evidence run ``run_id`` that :func:`find_evidence` chose, in the
    project's runs or in the directory given with ``--evidence``."""
    from ..eval.store import find_run

    if given is not None and _is_dir_arg(given):
        for run in _runs_in(Path(given)):
            if run.id == run_id:
                return run
    return find_run(project.runs_dir, run_id)
