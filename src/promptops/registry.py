"""registry.yaml: environments, gated promotion, canaries, rollback, history and status.

Each operation returns data (:class:`Change`, :class:`HistoryEntry`, :class:`StatusRow`); the
CLI only formats it. A change is made under a file lock (``.promptops/registry.lock``): the
file is re-read under the lock, changed, written to a temp file beside it and renamed over it,
so two concurrent promotions cannot lose an update and a reader never sees half a file.
promptops rewrites the file in a fixed layout (environments in declared order, prompts sorted);
the comment block at the top is kept, other comments are not.

Every change is appended to ``.promptops/registry-log.jsonl`` (who, when, reason, evidence)
and, with ``commit=True``, committed alone with a structured message whose trailers
``history`` reads back. History is the git log of registry.yaml; rollback finds the version
active before from it.

The runtime side (``Registry.load(...).get(...)``) lives in :mod:`promptops.runtime` and is
re-exported here.
"""

from __future__ import annotations

import getpass
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from .errors import EvidenceError, GitError, RegistryError, SpecError, UsageError
from .loader import read_text
from .project import Project, PromptVersion, load_prompt, short_digest
from .runtime import ActivePrompt, Registry, Reply, parse_registry, prompt_file, read_registry
from .spec import CanarySpec, Deployment, RegistrySpec

__all__ = [
    "ActivePrompt",
    "Change",
    "Evidence",
    "HistoryEntry",
    "Registry",
    "Reply",
    "Slot",
    "StatusRow",
    "abort_canary",
    "dump_registry",
    "find_evidence",
    "history",
    "promote",
    "read_registry",
    "rollback",
    "status",
]

STATE_DIR = ".promptops"
LOCK_FILE = "registry.lock"
JOURNAL_FILE = "registry-log.jsonl"
HEADER = """\
# Which version of each prompt every environment serves. Change it with promptops promote,
# rollback and abort-canary (they check eval evidence and record who, when and why).
# Hand edits are validated on the next read; comments below this header are not kept.
"""


# --------------------------------------------------------------------------- data


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
    verdict: str | None = None  # ok or inconclusive (a regression is refused)
    comparisons: list[dict[str, Any]] = field(default_factory=list)

    @property
    def run_ids(self) -> list[str]:
        return list(dict.fromkeys(r for r in (self.run_id, self.compare_run) if r))


@dataclass
class Change:
    """One change to registry.yaml, as made (or refused as a no-op)."""

    action: str  # promote | canary | abort-canary | rollback
    prompt: str
    env: str
    from_version: str | None
    to_version: str | None
    canary: int | None = None  # canary weight after the change
    reason: str | None = None
    forced: bool = False
    evidence: Evidence | None = None
    changed: bool = True
    commit: str | None = None
    notes: list[str] = field(default_factory=list)
    before: Deployment | None = None
    after: Deployment | None = None
    time: str = field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds")
    )
    user: str = field(default_factory=lambda: _user())

    def subject(self) -> str:
        p, e = self.prompt, self.env
        if self.action == "abort-canary":
            return f"promptops: abort canary {p} {self.from_version} in {e}"
        if self.action == "rollback":
            return f"promptops: roll back {p} in {e} to {self.to_version}"
        tail = f" (canary {self.canary}%)" if self.action == "canary" else ""
        return f"promptops: promote {p} {self.to_version} to {e}{tail}"

    def trailers(self) -> dict[str, str]:
        out = {
            "Prompt": self.prompt,
            "Env": self.env,
            "Action": self.action,
            "From": self.from_version or "-",
            "To": self.to_version or "-",
        }
        if self.canary is not None:
            out["Canary"] = str(self.canary)
        if self.reason:
            out["Reason"] = self.reason
        if self.evidence is not None:
            out["Evidence"] = ", ".join(self.evidence.run_ids)
        out["Forced"] = "yes" if self.forced else "no"
        return out

    def message(self) -> str:
        """The commit message: subject, then git trailers that ``history`` parses."""
        return (
            self.subject()
            + "\n\n"
            + "\n".join(f"{k}: {v}" for k, v in self.trailers().items())
            + "\n"
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.evidence is not None:
            data["evidence"]["run_ids"] = self.evidence.run_ids
        data["before"] = self.before.model_dump(exclude_none=True) if self.before else None
        data["after"] = self.after.model_dump(exclude_none=True) if self.after else None
        data["subject"] = self.subject()
        return data


@dataclass
class HistoryEntry:
    """One change to one (prompt, environment), from a commit or the working file."""

    commit: str | None  # None: not committed yet
    author: str | None
    date: str | None
    prompt: str
    env: str
    action: str  # promote | canary | abort-canary | rollback | remove
    from_version: str | None
    to_version: str | None
    canary: int | None = None
    reason: str | None = None
    evidence: str | None = None
    forced: bool = False
    subject: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Slot:
    """A version an environment serves and whether its file still has the promoted digest."""

    version: str
    digest: str
    state: str  # ok | changed | missing | invalid
    file: str | None = None
    file_digest: str | None = None
    weight: int | None = None  # canary only


@dataclass
class StatusRow:
    prompt: str
    env: str
    active: Slot | None
    canary: Slot | None = None

    @property
    def ok(self) -> bool:
        return all(s is None or s.state == "ok" for s in (self.active, self.canary))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- file I/O


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return os.environ.get("USER") or "unknown"


def _scalar(value: str | int | bool) -> str:
    """A YAML scalar, quoted only where plain text would read as something else."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6)
    return text.removesuffix("\n").removesuffix("\n...")


def dump_registry(spec: RegistrySpec, header: str = HEADER) -> str:
    """registry.yaml text in promptops' layout: block style, environments in declared order."""
    lines = [header.rstrip("\n")] if header.strip() else []
    lines.append("environments: [" + ", ".join(_scalar(e) for e in spec.environments) + "]")
    if spec.enforce_order:
        lines.append("enforce_order: true")
    prompts = {n: envs for n, envs in sorted(spec.prompts.items()) if envs}
    lines.append("prompts:" if prompts else "prompts: {}")
    for name, envs in prompts.items():
        lines.append(f"  {_scalar(name)}:")
        for env in spec.environments:
            dep = envs.get(env)
            if dep is None:
                continue
            lines += [
                f"    {_scalar(env)}:",
                f"      version: {_scalar(dep.version)}",
                f"      digest: {_scalar(dep.digest)}",
            ]
            if dep.canary is not None:
                c = dep.canary
                lines += [
                    "      canary:",
                    f"        version: {_scalar(c.version)}",
                    f"        digest: {_scalar(c.digest)}",
                    f"        weight: {c.weight}",
                ]
    return "\n".join(lines) + "\n"


def _header(text: str) -> str:
    """The comment block at the top of a file (kept when promptops rewrites it)."""
    out = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        out.append(line)
    return "\n".join(out) + "\n" if out else HEADER


def _write(path: Path, text: str) -> None:
    """Atomic replace: temp file in the same directory, fsync, rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def _locked(project: Project, timeout: float = 60.0) -> Iterator[tuple[RegistrySpec, str]]:
    """Hold the registry lock; yield the file as it is now (spec, header to keep)."""
    from filelock import FileLock, Timeout

    state = project.root / STATE_DIR
    state.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(state / LOCK_FILE), timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        raise RegistryError(
            f"registry.yaml is locked by another promptops process ({state / LOCK_FILE}); "
            "try again when it has finished"
        ) from None
    try:
        path = project.registry_path
        if path.is_file():
            text = read_text(path)
            yield parse_registry(text, path), _header(text)
        else:
            yield RegistrySpec.model_validate({}), HEADER
    finally:
        lock.release()


def _save(
    project: Project, spec: RegistrySpec, header: str, change: Change, commit: bool
) -> Change:
    """Write the changed spec, journal the change and optionally commit it (under the lock)."""
    assert change.after is not None
    if commit:
        from .gitops import in_repo

        if not in_repo(project.root):
            raise GitError(
                f"{project.root} is not in a git repository; run git init, or leave out --commit"
            )
    spec.prompts.setdefault(change.prompt, {})[change.env] = change.after
    _write(project.registry_path, dump_registry(spec, header))
    try:
        if commit:
            from .gitops import commit_file

            try:
                change.commit = commit_file(project.registry_path, change.message())
            except GitError as e:
                raise GitError(
                    f"registry.yaml was changed but not committed: {e.message}"
                ) from None
            if change.commit is None:
                change.notes.append("registry.yaml already matches HEAD; nothing to commit")
    finally:
        with (project.root / STATE_DIR / JOURNAL_FILE).open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(change.to_json(), ensure_ascii=False, default=str) + "\n")
    return change


def _reason(reason: str | None) -> str | None:
    """One line (it becomes a git trailer)."""
    text = " ".join((reason or "").split())
    return text or None


def _check_env(spec: RegistrySpec, env: str) -> None:
    if env not in spec.environments:
        raise RegistryError(
            f"unknown environment {env!r}; registry.yaml declares: {', '.join(spec.environments)}"
        )


def _resolve(project: Project, name: str, version: str) -> PromptVersion:
    from .refs import parse_ref, resolve_version

    ref = parse_ref(f"{name}@{version}")
    _, path = resolve_version(ref, project)
    pv = project.load(path)
    if pv.name != name:
        raise RegistryError(f"{project.rel(path)} declares name {pv.name!r}, not {name!r}")
    return pv


# --------------------------------------------------------------------------- evidence


def _summary(run: Any, digest: str) -> dict[str, Any] | None:
    """A run's summary.json when it mentions ``digest`` (cheap text test before parsing)."""
    try:
        text = run.summary_path.read_text(encoding="utf-8")
    except OSError:
        return None
    if digest not in text:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


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
    from .datasets import file_digest
    from .results import find_run, list_runs

    how = (
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
    runs = (
        [find_run(project.runs_dir, run_id)]
        if run_id
        else _newest_first(list_runs(project.runs_dir))
    )
    newest: tuple[str, float | None] | None = None  # (run id, pass rate) of the newest full run
    cmp: tuple[Any, dict[str, Any], dict[str, Any]] | None = None
    why: str | None = None  # why an explicitly given run does not count
    for run in runs:
        s = _summary(run, pv.digest)
        cand = _group(s, pv.digest, model) if s is not None else None
        if s is None or cand is None:
            why = f"it has no results of {pv.ref} ({short_digest(pv.digest)}) on {model}"
            continue
        why = _why_not_full(s, dataset, ds_digest)
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
        detail = f" (run {run_id}: {why})" if run_id and why else ""
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
    return ev


def _compare(
    run: Any, base: dict[str, Any], cand: dict[str, Any], pv: PromptVersion
) -> tuple[str, list[dict[str, Any]]]:
    """The verdict of the run's two groups, paired by case (as ``promptops diff`` does: when
    the pinned model changed, each side on its own model)."""
    from .compare import compare_records, overall_verdict

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


# --------------------------------------------------------------------------- changes


def promote(
    project: Project,
    name: str,
    version: str,
    env: str,
    *,
    canary: int | None = None,
    force: bool = False,
    reason: str | None = None,
    commit: bool = False,
    evidence_run: str | None = None,
) -> Change:
    """Make ``version`` active in ``env`` (or, with ``canary``, serve it to that percentage
    of traffic beside the active version), given eval evidence or ``force`` with a reason.

    ``version`` is anything a ref takes after ``@``: 2.0, 2.0.0, 2 (highest 2.x), latest, or an
    environment (promote what staging serves). Promoting the canary's version without
    ``canary`` completes the canary; promoting another version drops it (noted in the change).
    """
    reason = _reason(reason)
    if force and not reason:
        raise UsageError('--force needs --reason "...": the reason is recorded with the change')
    if canary is not None and not 1 <= canary <= 100:
        raise UsageError(f"--canary {canary}: give the percentage of traffic, 1-100")
    pv = _resolve(project, name, version)
    from .render import raise_for_templates

    raise_for_templates(pv)
    with _locked(project) as (spec, header):
        _check_env(spec, env)
        before = spec.prompts.get(name, {}).get(env)
        after, change = _promoted(before, pv, env, canary)
        change.reason, change.forced = reason, force
        if after == before:
            change.changed = False
            change.notes.append(
                f"{pv.name} {pv.version} is already {'the canary' if canary else 'active'} "
                f"in {env}{f' at {canary}%' if canary else ''}; nothing to do"
            )
            return change
        order = _order_problem(spec, name, env, pv)
        if not force:
            if order:
                raise RegistryError(f'{order}; or override: --force --reason "..."')
            change.evidence = find_evidence(project, pv, before, run_id=evidence_run, env=env)
        else:
            if order:
                change.notes.append(f"forced past the environment order: {order}")
            if evidence_run:
                from .results import find_run

                change.notes.append(
                    f"evidence run given: {find_run(project.runs_dir, evidence_run).id}"
                )
        return _save(project, spec, header, change, commit)


def _promoted(
    before: Deployment | None, pv: PromptVersion, env: str, canary: int | None
) -> tuple[Deployment, Change]:
    """The deployment after promoting ``pv`` and the change describing it."""
    name, version = pv.name, pv.version
    if canary is None:
        after = Deployment(version=version, digest=pv.digest, canary=None)
        change = Change(
            "promote",
            name,
            env,
            before.version if before else None,
            version,
            before=before,
            after=after,
        )
        if before is not None and before.canary is not None:
            c = before.canary
            change.notes.append(
                f"canary {c.version} completed"
                if c.version == version
                else f"canary {c.version} ({c.weight}%) dropped"
            )
        return after, change
    if before is None:
        raise RegistryError(
            f"{name} has no version active in {env} to run a canary beside; promote one "
            f"first: promptops promote {name} VERSION --env {env}"
        )
    if before.version == version and before.digest == pv.digest:
        raise RegistryError(
            f"{name} {version} is already the active version in {env}; a canary needs another version"
        )
    after = Deployment(
        version=before.version,
        digest=before.digest,
        canary=CanarySpec(version=version, digest=pv.digest, weight=canary),
    )
    change = Change(
        "canary", name, env, before.version, version, canary=canary, before=before, after=after
    )
    if before.canary is not None and before.canary.version != version:
        change.notes.append(f"canary {before.canary.version} ({before.canary.weight}%) replaced")
    return after, change


def _order_problem(spec: RegistrySpec, name: str, env: str, pv: PromptVersion) -> str | None:
    if not spec.enforce_order:
        return None
    i = spec.environments.index(env)
    if i == 0:
        return None
    prev = spec.environments[i - 1]
    dep = spec.prompts.get(name, {}).get(prev)
    if dep is not None and dep.digest == pv.digest:
        return None
    return (
        f"{name} {pv.version} is not active in {prev}, and environments are promoted in order "
        f"({' -> '.join(spec.environments)}): promote it to {prev} first"
    )


def abort_canary(
    project: Project, name: str, env: str, *, reason: str | None = None, commit: bool = False
) -> Change:
    """Stop a canary: all traffic back on the active version. No evidence needed."""
    with _locked(project) as (spec, header):
        _check_env(spec, env)
        before = spec.prompts.get(name, {}).get(env)
        if before is None or before.canary is None:
            raise RegistryError(f"{name} has no canary in {env}")
        after = Deployment(version=before.version, digest=before.digest, canary=None)
        change = Change(
            "abort-canary",
            name,
            env,
            before.canary.version,
            before.version,
            reason=_reason(reason),
            before=before,
            after=after,
        )
        return _save(project, spec, header, change, commit)


def rollback(
    project: Project,
    name: str,
    env: str,
    *,
    to: str | None = None,
    reason: str | None = None,
    commit: bool = False,
) -> Change:
    """Make the version active before the current one active again (or ``to``, a version that
    was active in ``env`` before), found from the history of registry.yaml. No eval needed:
    it was vetted when it was promoted. Rolling back twice returns to where you started."""
    from .versions import normalize

    target_version = normalize(to) if to else None
    with _locked(project) as (spec, header):
        _check_env(spec, env)
        before = spec.prompts.get(name, {}).get(env)
        if before is None:
            raise RegistryError(f"{name} has no version active in {env}; nothing to roll back")
        if target_version == before.version:
            raise RegistryError(f"{name} {before.version} is already active in {env}")
        log = _file_log(project)
        target: Deployment | None = None
        for c in log:
            dep = c["spec"].prompts.get(name, {}).get(env) if c["spec"] is not None else None
            if (
                dep is not None
                and dep.version != before.version
                and target_version in (None, dep.version)
            ):
                target = dep
                break
        if target is None:
            which = (
                f"{name} {target_version} was never"
                if target_version
                else f"no other version of {name} was"
            )
            raise RegistryError(
                f"{which} active in {env} in the git history of registry.yaml ({len(log)} "
                f"commits); promote the version you want: promptops promote {name} VERSION --env {env}"
            )
        path = prompt_file(project, name, target.version)
        if path is None:
            raise RegistryError(
                f"cannot roll back to {name} {target.version}: its file no longer exists"
            )
        now = _digest_of(path)
        if now != target.digest:
            raise RegistryError(
                f"cannot roll back to {name} {target.version}: {project.rel(path)} changed since it "
                f"was active ({short_digest(target.digest)} then, {short_digest(now or '?')} now); "
                f"restore it from git or promote a new version"
            )
        after = Deployment(version=target.version, digest=target.digest, canary=None)
        change = Change(
            "rollback",
            name,
            env,
            before.version,
            target.version,
            reason=_reason(reason),
            before=before,
            after=after,
        )
        if before.canary is not None:
            change.notes.append(f"canary {before.canary.version} ({before.canary.weight}%) dropped")
        return _save(project, spec, header, change, commit)


def _digest_of(path: Path) -> str | None:
    try:
        return load_prompt(path).digest
    except SpecError:
        return None


# --------------------------------------------------------------------------- history


def _file_log(project: Project) -> list[dict[str, Any]]:
    """Committed states of registry.yaml, newest first, each with its parsed spec (None when
    that commit's file is missing or invalid)."""
    from .gitops import file_log

    log = file_log(project.registry_path)
    if log is None:
        raise GitError(
            f"{project.root} is not in a git repository: registry history comes from git; "
            "run git init and commit registry.yaml"
        )
    for c in log:
        c["spec"] = _parse_quietly(c["text"], project.registry_path)
    return log


def _parse_quietly(text: str | None, path: Path) -> RegistrySpec | None:
    if text is None:
        return None
    try:
        return parse_registry(text, path)
    except SpecError:
        return None


Inferred = tuple[str, str, str, str | None, str | None, int | None]


def _diff(old: RegistrySpec | None, new: RegistrySpec | None) -> list[Inferred]:
    """Inferred changes between two states: (prompt, env, action, from, to, canary weight)."""
    a = old.prompts if old else {}
    b = new.prompts if new else {}
    envs = list(
        dict.fromkeys([*(new.environments if new else []), *(old.environments if old else [])])
    )
    out: list[Inferred] = []
    for name in sorted(set(a) | set(b)):
        for env in envs:
            x, y = a.get(name, {}).get(env), b.get(name, {}).get(env)
            if x == y:
                continue
            if y is None:
                assert x is not None
                out.append((name, env, "remove", x.version, None, None))
            elif x is None or (x.version, x.digest) != (y.version, y.digest):
                if y.canary is not None and (x is None or x.canary != y.canary):
                    out.append((name, env, "canary", y.version, y.canary.version, y.canary.weight))
                out.append((name, env, "promote", x.version if x else None, y.version, None))
            elif y.canary is None:
                out.append(
                    (
                        name,
                        env,
                        "abort-canary",
                        x.canary.version if x.canary else None,
                        y.version,
                        None,
                    )
                )
            else:
                out.append((name, env, "canary", y.version, y.canary.version, y.canary.weight))
    return out


def _trailers(message: str) -> dict[str, str]:
    """Git trailers (``Key: value`` lines) of a commit message's last paragraph."""
    para = message.strip().split("\n\n")[-1]
    found = [re.match(r"^([A-Za-z][A-Za-z0-9-]*): (.*)$", line) for line in para.splitlines()]
    return {m.group(1): m.group(2).strip() for m in found if m} if found and all(found) else {}


def _annotate(entry: HistoryEntry, trailers: dict[str, str]) -> None:
    """Fill in what a promptops commit's trailers say about a change."""
    entry.action = trailers.get("Action") or entry.action
    entry.reason = trailers.get("Reason")
    entry.evidence = trailers.get("Evidence")
    entry.forced = trailers.get("Forced") == "yes"


def history(
    project: Project, prompt: str | None = None, env: str | None = None, limit: int | None = None
) -> list[HistoryEntry]:
    """Who changed what and when, newest first: the git log of registry.yaml (promptops'
    trailers where present, otherwise inferred by diffing the file between commits), plus
    the working file's changes not committed yet."""
    log = _file_log(project)
    path = project.registry_path
    working = read_registry(project) if path.is_file() else None
    entries: list[HistoryEntry] = []
    head = log[0]["spec"] if log else None
    if working is not None and working != head:
        journal = _journal(project)
        for name, e, action, frm, to, weight in _diff(head, working):
            entry = HistoryEntry(
                None, None, None, name, e, action, frm, to, weight, subject="(uncommitted)"
            )
            line = next(
                (
                    j
                    for j in reversed(journal)
                    if j.get("prompt") == name
                    and j.get("env") == e
                    and j.get("to_version") == to
                    and not j.get("commit")
                ),
                None,
            )
            if line is not None:
                ev = line.get("evidence") or {}
                entry.action, entry.reason, entry.forced = (
                    line["action"],
                    line.get("reason"),
                    bool(line.get("forced")),
                )
                entry.evidence = ", ".join(ev.get("run_ids") or []) or None
                entry.author, entry.date = line.get("user"), line.get("time")
            entries.append(entry)
    for i, c in enumerate(log):
        older = log[i + 1]["spec"] if i + 1 < len(log) else None
        subject = c["message"].strip().splitlines()[0] if c["message"].strip() else ""
        trailers = _trailers(c["message"])
        for name, e, action, frm, to, weight in _diff(older, c["spec"]):
            entry = HistoryEntry(
                c["commit"],
                c["author"],
                c["date"],
                name,
                e,
                action,
                frm,
                to,
                weight,
                subject=subject,
            )
            if trailers.get("Prompt") == name and trailers.get("Env") == e:
                _annotate(entry, trailers)
            entries.append(entry)
    entries = [
        x
        for x in entries
        if (prompt is None or x.prompt == prompt) and (env is None or x.env == env)
    ]
    return entries[:limit] if limit else entries


def _journal(project: Project) -> list[dict[str, Any]]:
    path = project.root / STATE_DIR / JOURNAL_FILE
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


# --------------------------------------------------------------------------- status


def status(project: Project) -> list[StatusRow]:
    """Every prompt (in the registry or on disk) x every environment: what is served and
    whether each promoted digest still matches its file."""
    spec = read_registry(project)
    digests: dict[tuple[str, str], tuple[str | None, str | None]] = {}

    def slot(name: str, version: str, digest: str, weight: int | None = None) -> Slot:
        if (name, version) not in digests:
            path = prompt_file(project, name, version)
            digests[(name, version)] = (
                project.rel(path) if path else None,
                _digest_of(path) if path else None,
            )
        file, now = digests[(name, version)]
        state = (
            "missing"
            if file is None
            else "invalid"
            if now is None
            else "ok"
            if now == digest
            else "changed"
        )
        return Slot(version, digest, state, file, now, weight)

    rows = []
    for name in sorted(set(spec.prompts) | set(project.prompt_names())):
        envs = spec.prompts.get(name, {})
        for env in spec.environments:
            dep = envs.get(env)
            if dep is None:
                rows.append(StatusRow(name, env, None))
                continue
            c = dep.canary
            rows.append(
                StatusRow(
                    name,
                    env,
                    slot(name, dep.version, dep.digest),
                    slot(name, c.version, c.digest, c.weight) if c else None,
                )
            )
    return rows
