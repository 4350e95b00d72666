"""Changing registry.yaml: gated promotion, canaries, abort-canary and rollback.

Each operation returns data (:class:`Change`); the CLI only formats it. A change is made under a file lock (``.promptops/registry.lock``): the
file is re-read under the lock, changed, written to a temp file beside it and renamed over it,
so two concurrent promotions cannot lose an update and a reader never sees half a file.
promptops rewrites the file in a fixed layout (environments in declared order, prompts sorted);
the comment block at the top is kept, other comments are not.

Every change is appended to the journal (:mod:`promptops.registry.journal`) and, with ``commit=True``, committed alone with a structured message whose trailers
``history`` reads back. History is the git log of registry.yaml; rollback finds the version
active before from it.

The runtime side (``Registry.load(...).get(...)``) lives in :mod:`promptops.registry.runtime`, the
evidence a promotion needs in :mod:`promptops.registry.evidence`, reading history back in
:mod:`promptops.registry.history`, and ``status`` in :mod:`promptops.registry.status`;
registry.yaml is parsed and written by :mod:`promptops.registry.file`.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import GitError, RegistryError, UsageError
from ..loader import read_text
from ..project import Project, PromptVersion, file_digest, short_digest
from ..spec import CanarySpec, Deployment, RegistrySpec, ShadowSpec
from . import journal
from .evidence import Evidence, evidence_run_dir, find_evidence
from .file import (
    HEADER,
    JOURNAL_FILE,
    STATE_DIR,
    dump_registry,
    file_header,
    parse_registry,
)
from .history import committed_states
from .runtime import prompt_file

__all__ = [
    "Change",
    "abort_canary",
    "promote",
    "rollback",
]

LOCK_FILE = "registry.lock"


# --------------------------------------------------------------------------- data


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
    earlier: list[str] = field(default_factory=list)  # uncommitted changes this commit includes
    before: Deployment | None = None
    after: Deployment | None = None
    time: str = field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds")
    )
    user: str = field(default_factory=lambda: _user())

    def subject(self) -> str:
        p, e = self.prompt, self.env
        if self.action == "abort-canary":
            text = f"promptops: abort canary {p} {self.from_version} in {e}"
        elif self.action == "rollback":
            text = f"promptops: roll back {p} in {e} to {self.to_version}"
        elif self.action == "shadow":
            text = (
                f"promptops: shadow {p} {self.to_version} in {e} ({self.canary}%)"
                if self.to_version
                else f"promptops: stop shadowing {p} {self.from_version} in {e}"
            )
        else:
            tail = f" (canary {self.canary}%)" if self.action == "canary" else ""
            text = f"promptops: promote {p} {self.to_version} to {e}{tail}"
        if self.earlier:
            n = len(self.earlier)
            text += f", with {n} earlier uncommitted change{'s' if n != 1 else ''}"
        return text

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
        """The commit message: subject, the earlier uncommitted changes the commit also holds,
        then git trailers that ``history`` parses."""
        body = ""
        if self.earlier:
            body = (
                "Also in this commit, changed earlier and not committed:\n"
                + "\n".join(f"- {line}" for line in self.earlier)
                + "\n\n"
            )
        return (
            self.subject()
            + "\n\n"
            + body
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


# --------------------------------------------------------------------------- file I/O


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return os.environ.get("USER") or "unknown"


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
            yield parse_registry(text, path), file_header(text)
        else:
            yield RegistrySpec.model_validate({}), HEADER
    finally:
        lock.release()


def _save(
    project: Project,
    spec: RegistrySpec,
    header: str,
    change: Change,
    commit: bool,
    also: tuple[Path, ...] = (),
) -> Change:
    """Write the changed spec, journal the change and optionally commit it (under the lock)."""
    assert change.after is not None
    if commit:
        from ..gitops import in_repo

        if not in_repo(project.root):
            raise GitError(
                f"{project.root} is not in a git repository; run git init, or leave out --commit"
            )
        change.earlier = uncommitted_changes(project, spec)
        if change.earlier:
            change.notes.append(
                "this commit also holds earlier uncommitted changes: " + "; ".join(change.earlier)
            )
    spec.prompts.setdefault(change.prompt, {})[change.env] = change.after
    _write(project.registry_path, dump_registry(spec, header))
    try:
        if commit:
            from ..gitops import commit_file

            try:
                change.commit = commit_file(project.registry_path, change.message(), also)
            except GitError as e:
                raise GitError(
                    f"registry.yaml was changed but not committed: {e.message}"
                ) from None
            if change.commit is None:
                change.notes.append("registry.yaml already matches HEAD; nothing to commit")
    finally:
        journal.append(project, change.to_json())
    return change


def uncommitted_changes(project: Project, spec: RegistrySpec) -> list[str]:
    """What registry.yaml as it is now (``spec``) changes from HEAD's, one line each: a commit
    of the file takes these along, so its message must say so."""
    from ..gitops import head_text
    from .history import diff_specs, parse_quietly

    text = head_text(project.registry_path)
    head = parse_quietly(text, project.registry_path)
    if text is not None and head is None:
        return ["registry.yaml as committed at HEAD is invalid; this commit replaces it"]
    out = []
    if head is not None:
        if head.environments != spec.environments:
            out.append(f"environments: {head.environments} -> {spec.environments}")
        if head.enforce_order != spec.enforce_order:
            out.append(f"enforce_order: {head.enforce_order} -> {spec.enforce_order}")
    for name, env, action, frm, to, weight in diff_specs(head, spec):
        what = f"{action} {name} in {env}: {frm or '-'} -> {to or '-'}"
        out.append(what + (f" ({weight}%)" if action == "canary" and weight is not None else ""))
    return out


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
    from ..refs import parse_ref, resolve_version

    ref = parse_ref(f"{name}@{version}")
    _, path = resolve_version(ref, project)
    pv = project.load(path)
    if pv.name != name:
        raise RegistryError(f"{project.rel(path)} declares name {pv.name!r}, not {name!r}")
    return pv


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
    from ..render import raise_for_templates

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
            if pv.spec.judge is not None:
                from ..quality.calibrate import require_calibrated

                require_calibrated(project, pv, "promote")
            change.evidence = find_evidence(project, pv, before, run_id=evidence_run, env=env)
            from ..quality.drift import write_evidence

            # the per-case evidence, beside registry.yaml: what `promptops drift` compares with
            run = evidence_run_dir(project, change.evidence.run_id, evidence_run)
            stored = write_evidence(project, pv, run)
            return _save(project, spec, header, change, commit, (stored,))
        else:
            if order:
                change.notes.append(f"forced past the environment order: {order}")
            if evidence_run:
                from ..eval.store import find_run

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
        keep = (
            before.shadow if before and before.shadow and before.shadow.version != version else None
        )
        after = Deployment(version=version, digest=pv.digest, canary=None, shadow=keep)
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
        shadow=before.shadow if before.shadow and before.shadow.version != version else None,
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


def shadow(
    project: Project,
    name: str,
    version: str,
    env: str,
    weight: int,
    *,
    reason: str | None = None,
    commit: bool = False,
) -> Change:
    """Call ``version`` in the background on ``weight`` percent of ``env``'s requests, beside
    the served version (``weight`` 0 stops it). Nothing is served from it, so no evidence is
    needed; its answers are recorded under the served call's trace id."""
    if not 0 <= weight <= 100:
        raise UsageError(f"--shadow {weight}: give the percentage of requests, 0-100")
    pv = _resolve(project, name, version) if weight else None
    if pv is not None:
        from ..render import raise_for_templates

        raise_for_templates(pv)
    with _locked(project) as (spec, header):
        _check_env(spec, env)
        before = spec.prompts.get(name, {}).get(env)
        if before is None:
            raise RegistryError(
                f"{name} has no version active in {env} to shadow; promote one first"
            )
        if pv is not None and pv.digest == before.digest:
            raise RegistryError(f"{name} {pv.version} is the active version in {env}")
        new = ShadowSpec(version=pv.version, digest=pv.digest, weight=weight) if pv else None
        if new is None and before.shadow is None:
            raise RegistryError(f"{name} has no shadow in {env}")
        after = before.model_copy(update={"shadow": new})
        change = Change(
            "shadow",
            name,
            env,
            before.shadow.version if before.shadow else None,
            pv.version if pv else None,
            canary=weight,
            reason=_reason(reason),
            before=before,
            after=after,
        )
        return _save(project, spec, header, change, commit)


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
    from ..versions import normalize

    target_version = normalize(to) if to else None
    with _locked(project) as (spec, header):
        _check_env(spec, env)
        before = spec.prompts.get(name, {}).get(env)
        if before is None:
            raise RegistryError(f"{name} has no version active in {env}; nothing to roll back")
        if target_version == before.version:
            raise RegistryError(f"{name} {before.version} is already active in {env}")
        log = committed_states(project)
        committed = log[0]["spec"] if log else None
        head = committed.prompts.get(name, {}).get(env) if committed is not None else None
        target: Deployment | None = None
        if target_version is None and (head is None or head.version != before.version):
            # The active version was promoted without --commit: git does not know what was
            # active before it, the journal does (the committed history would skip it).
            target = journal.previous(project, name, env, before.version)
            if target is None:
                raise RegistryError(
                    f"{name} {before.version} was made active in {env} without --commit and "
                    f"the journal ({STATE_DIR}/{JOURNAL_FILE}) does not say what was active "
                    f"before it; pass --to VERSION, or commit registry.yaml first"
                )
        for c in log if target is None else []:
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
        now = file_digest(path)
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
