"""Prompt references: ``summarize@2.0``, ``summarize@2``, ``summarize@latest``, ``summarize@prod``
and paths (``prompts/summarize@2.0``, ``prompts/summarize/2.0.0.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import RefError
from .project import Project, PromptVersion, version_files_in
from .spec import NAME_RE
from .versions import is_major_only, is_version, normalize, parse_version

Kind = Literal["exact", "major", "latest", "env", "file"]


@dataclass(frozen=True)
class Ref:
    """A parsed reference, before it is looked up."""

    text: str
    name: str
    kind: Kind
    selector: str  # version, major, env name or file path
    base: Path | None = None  # the prompts directory, when the ref was a path

    def __str__(self) -> str:
        return self.text


def parse_ref(text: str) -> Ref:
    """Parse a reference without touching the disk (except to tell a file path)."""
    raw = text.strip()
    if not raw:
        raise RefError("empty prompt reference; expected NAME@VERSION, NAME@ENV or a file path")
    if raw.endswith((".yaml", ".yml")) and "@" not in raw:
        path = Path(raw)
        return Ref(raw, path.parent.name, "file", str(path))
    head, sep, sel = raw.rpartition("@")
    if not sep:
        head, sel = raw, "latest"
    base: Path | None = None
    name = head
    if "/" in head or "\\" in head:
        p = Path(head)
        name = p.name
        base = p.parent
    if not NAME_RE.match(name) or ".." in name:
        raise RefError(f"{text!r}: {name!r} is not a valid prompt name")
    sel = sel.strip()
    if not sel:
        raise RefError(
            f"{text!r}: nothing after '@'; expected a version, 'latest' or an environment"
        )
    if sel == "latest":
        return Ref(raw, name, "latest", sel, base)
    if is_major_only(sel):
        return Ref(raw, name, "major", str(int(sel.lstrip("v"))), base)
    if is_version(sel):
        return Ref(raw, name, "exact", normalize(sel), base)
    if sel[:1].isdigit():
        raise RefError(f"{text!r}: {sel!r} is not a valid version (expected e.g. 2.0.0)")
    return Ref(raw, name, "env", sel, base)


def _prompts_dir(ref: Ref, project: Project) -> Path:
    if ref.base is None:
        return project.prompts_dir
    base = ref.base if ref.base.is_absolute() else Path.cwd() / ref.base
    return base


def _available(project: Project, name: str, versions: list[str]) -> str:
    if versions:
        return f"; versions of {name}: " + ", ".join(versions)
    names = project.prompt_names()
    return "; prompts: " + (", ".join(names) if names else f"none under {project.prompts_dir}")


def resolve_version(ref: Ref, project: Project) -> tuple[str, Path]:
    """The exact version and file a ref points at."""
    if ref.kind == "file":
        path = Path(ref.selector)
        path = path if path.is_absolute() else Path.cwd() / path
        if not path.is_file():
            raise RefError(f"{ref.text}: no such file")
        return path.stem, path
    pdir = _prompts_dir(ref, project)
    files = version_files_in(pdir / ref.name)
    versions = list(files)
    if ref.kind == "latest":
        if not versions:
            raise RefError(
                f"{ref.text}: no versions found{_available(project, ref.name, versions)}"
            )
        v = versions[-1]
        return v, files[v]
    if ref.kind == "exact":
        if ref.selector in files:
            return ref.selector, files[ref.selector]
        raise RefError(
            f"{ref.text}: version {ref.selector} not found{_available(project, ref.name, versions)}"
        )
    if ref.kind == "major":
        matching = [v for v in versions if parse_version(v).major == int(ref.selector)]
        if not matching:
            raise RefError(
                f"{ref.text}: no {ref.selector}.x.y version{_available(project, ref.name, versions)}"
            )
        v = matching[-1]
        return v, files[v]
    # environment
    reg = project.registry_spec()
    if ref.selector not in reg.environments:
        raise RefError(
            f"{ref.text}: {ref.selector!r} is neither a version nor an environment; "
            f"environments: {', '.join(reg.environments)}"
        )
    dep = reg.prompts.get(ref.name, {}).get(ref.selector)
    if dep is None:
        active = sorted(reg.prompts.get(ref.name, {}))
        where = f"; active in: {', '.join(active)}" if active else ""
        raise RefError(f"{ref.text}: {ref.name} has no version active in {ref.selector}{where}")
    if dep.version not in files:
        raise RefError(
            f"{ref.text}: registry.yaml points at {ref.name} {dep.version}, which does not exist"
            f"{_available(project, ref.name, versions)}"
        )
    return dep.version, files[dep.version]


def resolve(text: str, project: Project) -> PromptVersion:
    """Parse, resolve and load a reference."""
    ref = parse_ref(text)
    _, path = resolve_version(ref, project)
    return project.load(path)
