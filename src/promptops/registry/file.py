"""registry.yaml as a file: the one parse path (schema plus the checks the schema cannot make)
and the writer, used by ``promptops check``/``lint``/``status`` (through
:meth:`Project.registry_spec`), the registry verbs (:mod:`promptops.registry.changes`), the history
(:mod:`promptops.registry.history`) and the runtime API (:mod:`promptops.registry.runtime`) alike, so every
reader sees the same normalized values (a canary written ``2.0`` is ``2.0.0`` everywhere).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from ..errors import Problem, SpecError, display_path
from ..loader import LineMap, parse_yaml, read_text, validate
from ..spec import RegistrySpec

if TYPE_CHECKING:
    from ..project import Project

STATE_DIR = ".promptops"
JOURNAL_FILE = "registry-log.jsonl"
HEADER = """\
# Which version of each prompt every environment serves. Change it with promptops promote,
# rollback and abort-canary (they check eval evidence and record who, when and why).
# Hand edits are validated on the next read; comments below this header are not kept.
"""
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
VERSION_RE = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)([-+].*)?$")


def parse_registry(text: str, path: Path) -> RegistrySpec:
    """Parse registry.yaml text strictly; every problem names the file, line and field."""
    data, lines = parse_yaml(text, path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError.of(path, 1, None, "expected a mapping with 'environments' and 'prompts'")
    spec = validate(RegistrySpec, data, path, lines)
    problems = registry_problems(spec, path, lines)
    if problems:
        raise SpecError("\n".join(map(str, problems)), problems)
    return spec


def registry_problems(spec: RegistrySpec, path: Path, lines: LineMap) -> list[Problem]:
    """What the schema alone does not catch: digest format, canary beside itself, bad versions.

    Valid versions, active and canary, were normalized by the schema (``2.0`` -> ``2.0.0``).
    """
    out: list[Problem] = []

    def bad(loc: tuple[str, ...], msg: str) -> None:
        out.append(Problem(display_path(path), lines.line(loc), ".".join(loc), msg))

    for name, envs in spec.prompts.items():
        for env, dep in envs.items():
            at = ("prompts", name, env)
            if not VERSION_RE.match(dep.version):  # the schema normalized every valid one
                bad((*at, "version"), f"{dep.version!r} is not a version such as 1.2.0")
            if not DIGEST_RE.match(dep.digest):
                bad(
                    (*at, "digest"),
                    "expected sha256: and 64 hex digits (copy it from promptops status)",
                )
            if dep.shadow is not None:
                if not DIGEST_RE.match(dep.shadow.digest):
                    bad((*at, "shadow", "digest"), "expected sha256: and 64 hex digits")
                if dep.shadow.version == dep.version:
                    bad(
                        (*at, "shadow", "version"),
                        f"the shadow is the active version {dep.version}",
                    )
            if dep.canary is None:
                continue
            if not VERSION_RE.match(dep.canary.version):  # the schema normalized every valid one
                bad(
                    (*at, "canary", "version"),
                    f"{dep.canary.version!r} is not a version such as 1.2.0",
                )
            if dep.canary.version == dep.version:
                bad(
                    (*at, "canary", "version"),
                    f"the canary is the active version {dep.version}; drop it",
                )
            if not DIGEST_RE.match(dep.canary.digest):
                bad((*at, "canary", "digest"), "expected sha256: and 64 hex digits")
    return out


def read_registry_file(path: Path) -> RegistrySpec:
    """A registry.yaml file, validated; a missing file is an empty registry."""
    if not path.is_file():
        return RegistrySpec.model_validate({})
    return parse_registry(read_text(path), path)


def read_registry(project: Project) -> RegistrySpec:
    """The project's registry.yaml, validated; a missing file is an empty registry."""
    return read_registry_file(project.registry_path)


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
    if spec.canary_policy is not None:
        import json

        policy = spec.canary_policy.model_dump(mode="json", exclude_unset=True)
        lines.append("canary_policy:" if policy else "canary_policy: {}")
        lines += [f"  {k}: {json.dumps(v)}" for k, v in policy.items()]
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
            if dep.shadow is not None:
                sh = dep.shadow
                lines += [
                    "      shadow:",
                    f"        version: {_scalar(sh.version)}",
                    f"        digest: {_scalar(sh.digest)}",
                    f"        weight: {sh.weight}",
                ]
    return "\n".join(lines) + "\n"


def file_header(text: str) -> str:
    """The comment block at the top of a file (kept when promptops rewrites it)."""
    out = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        out.append(line)
    return "\n".join(out) + "\n" if out else HEADER
