"""What `list` and `show` print, as plain data (the CLI only formats it)."""

from __future__ import annotations

from typing import Any

from .errors import PromptOpsError
from .project import Project, PromptVersion


def _active(project: Project) -> dict[str, dict[str, str]]:
    """prompt -> env -> version (with canary noted)."""
    try:
        reg = project.registry_spec()
    except PromptOpsError:
        return {}
    out: dict[str, dict[str, str]] = {}
    for name, envs in reg.prompts.items():
        for env in reg.environments:
            dep = envs.get(env)
            if dep:
                label = dep.version + (
                    f"+{dep.canary.version}@{dep.canary.weight}%" if dep.canary else ""
                )
                out.setdefault(name, {})[env] = label
    return out


def catalog(project: Project) -> list[dict[str, Any]]:
    """One row per prompt: versions, latest version's digest and description, environments."""
    active = _active(project)
    rows = []
    for name in project.prompt_names():
        files = project.version_files(name)
        latest = list(files)[-1] if files else None
        digest, description = "", ""
        if latest:
            try:
                pv = project.load(files[latest])
                digest, description = pv.digest, pv.spec.description
            except PromptOpsError:
                description = "(invalid: run promptops lint)"
        rows.append(
            {
                "name": name,
                "versions": list(files),
                "latest": latest,
                "digest": digest,
                "description": description,
                "environments": active.get(name, {}),
            }
        )
    return rows


def describe(pv: PromptVersion, project: Project) -> dict[str, Any]:
    """Everything `show` displays about one version."""
    spec = pv.spec
    cases = None
    try:
        ds = project.dataset_path(pv)
    except PromptOpsError:
        ds = None  # outside the project: lint names it, nothing reads it
    if ds is not None and ds.is_file():
        with ds.open("rb") as fh:
            cases = sum(1 for line in fh if line.strip())
    active = [
        f"{env}{' (canary)' if role == 'canary' else ''}"
        for env, role in _where_active(pv, project)
    ]
    return {
        "name": pv.name,
        "version": pv.version,
        "digest": pv.digest,
        "file": project.rel(pv.path),
        "description": spec.description,
        "changelog": spec.changelog,
        "model": spec.model.id,
        "params": spec.model.params.as_kwargs(),
        "api_base": spec.model.api_base,
        "fallbacks": spec.fallbacks,
        "inputs": {
            k: {
                "type": v.type,
                "required": v.is_required,
                "default": v.default,
                "description": v.description,
            }
            for k, v in spec.inputs.items()
        },
        "output": spec.output.model_dump(by_alias=True),
        "assert": [
            a.model_dump(by_alias=True, exclude_defaults=True) | {"type": a.type}
            for a in spec.assert_
        ],
        "threshold": spec.threshold,
        "fail_under": spec.fail_under,
        "gate": spec.gate.model_dump(),
        "dataset": spec.dataset,
        "cases": cases,
        "tests": len(spec.tests),
        "active": active,
        "metadata": spec.metadata,
    }


def _where_active(pv: PromptVersion, project: Project) -> list[tuple[str, str]]:
    try:
        reg = project.registry_spec()
    except PromptOpsError:
        return []
    out = []
    for env, dep in reg.prompts.get(pv.name, {}).items():
        if dep.version == pv.version:
            out.append((env, "active"))
        if dep.canary and dep.canary.version == pv.version:
            out.append((env, "canary"))
    return out
