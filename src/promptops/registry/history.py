"""History of registry.yaml: who changed what and when, newest first.

History is the git log of registry.yaml. promptops' own commits carry structured trailers
(:meth:`promptops.registry.changes.Change.message`), read back here; other commits' changes are
inferred by diffing the file between commits. Changes not committed yet come from the working
file and the journal (``.promptops/registry-log.jsonl``) that :mod:`promptops.registry.changes` writes.
Rollback finds the version active before from the same log (:func:`committed_states`).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import GitError, SpecError
from ..project import Project
from ..spec import RegistrySpec
from . import journal
from .file import parse_registry, read_registry

__all__ = ["HistoryEntry", "history"]


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


def committed_states(project: Project) -> list[dict[str, Any]]:
    """Committed states of registry.yaml, newest first, each with its parsed spec (None when
    that commit's file is missing or invalid)."""
    from ..gitops import file_log

    log = file_log(project.registry_path)
    if log is None:
        raise GitError(
            f"{project.root} is not in a git repository: registry history comes from git; "
            "run git init and commit registry.yaml"
        )
    for c in log:
        c["spec"] = parse_quietly(c["text"], project.registry_path)
    return log


def parse_quietly(text: str | None, path: Path) -> RegistrySpec | None:
    if text is None:
        return None
    try:
        return parse_registry(text, path)
    except SpecError:
        return None


Inferred = tuple[str, str, str, str | None, str | None, int | None]


def diff_specs(old: RegistrySpec | None, new: RegistrySpec | None) -> list[Inferred]:
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
            elif (
                x is not None
                and (x.version, x.digest, x.canary) == (y.version, y.digest, y.canary)
                and x.shadow != y.shadow
            ):
                sh = y.shadow
                out.append(
                    (
                        name,
                        env,
                        "shadow",
                        x.shadow.version if x.shadow else None,
                        sh.version if sh else None,
                        sh.weight if sh else 0,
                    )
                )
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
    log = committed_states(project)
    path = project.registry_path
    working = read_registry(project) if path.is_file() else None
    entries: list[HistoryEntry] = []
    head = log[0]["spec"] if log else None
    if working is not None and working != head:
        logged = journal.entries(project)
        for name, e, action, frm, to, weight in diff_specs(head, working):
            entry = HistoryEntry(
                None, None, None, name, e, action, frm, to, weight, subject="(uncommitted)"
            )
            line = next(
                (
                    j
                    for j in reversed(logged)
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
        for name, e, action, frm, to, weight in diff_specs(older, c["spec"]):
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
