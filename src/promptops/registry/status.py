"""``promptops status``: what each environment serves, and whether each promoted digest still
matches its file (``ok``, ``changed``, ``missing`` or ``invalid``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..project import Project, file_digest
from .file import read_registry
from .runtime import prompt_file

__all__ = ["Slot", "StatusRow", "status"]


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
                file_digest(path) if path else None,
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
