"""The merge base, as ``promptops check`` sees it: prompt versions in the working tree and in the
base's tree (:class:`Trees`), registry.yaml at the base, where a version was ever promoted
(released versions are immutable), and which version a changed one is compared against
(:func:`find_baseline`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import PromptOpsError

if TYPE_CHECKING:
    from ..project import Project, PromptVersion
    from ..spec import RegistrySpec

__all__ = ["Trees", "find_baseline", "promoted_envs", "registry_at", "retired_envs"]


class Trees:
    """Versions of prompts in the working tree and in the merge base's tree."""

    def __init__(self, project: Project, root: Path, commit: str, base_dir: Path) -> None:
        self.project = project
        self.root = root
        self.commit = commit
        self.prompts_rel = project.prompts_dir.relative_to(root).as_posix()
        # the base tree's python files are materialized here on demand (pyfunc.CodeGate)
        self.base_dir = base_dir
        self.base_project_root = base_dir / project.root.relative_to(root)

    def rel(self, path: Path) -> str:
        return path.resolve().relative_to(self.root).as_posix()

    def at_base(self, name: str) -> dict[str, str]:
        """version -> file name in the base tree."""
        from ..gitops import list_dir_at
        from ..versions import parse_version

        out = {}
        for fname in list_dir_at(self.root, self.commit, f"{self.prompts_rel}/{name}"):
            stem, dot, ext = fname.rpartition(".")
            if dot and ext in ("yaml", "yml"):
                try:
                    out[str(parse_version(stem))] = fname
                except ValueError:
                    continue
        return out

    def parse_at_base(self, relpath: str) -> PromptVersion | None:
        from ..gitops import read_file_at
        from ..project import parse_prompt

        text = read_file_at(self.root, self.commit, relpath)
        if text is None:
            return None
        try:
            pv = parse_prompt(text, self.root / relpath)
        except PromptOpsError:
            return None
        pv.code_root = self.base_project_root  # its python assertions run as at the base
        return pv

    def load(self, name: str, version: str) -> PromptVersion | None:
        """A version as the base tree has it (a baseline is what the base branch serves, not
        the branch's edit of it), else from the working tree."""
        fname = self.at_base(name).get(version)
        if fname:
            pv = self.parse_at_base(f"{self.prompts_rel}/{name}/{fname}")
            if pv is not None:
                return pv
        files = self.project.version_files(name)
        if version in files:
            try:
                return self.project.load(files[version])
            except PromptOpsError:
                return None
        return None

    def at_merge_base(self, pv: PromptVersion) -> PromptVersion | None:
        """``pv`` as its file is at the merge base (None: not there, or invalid there)."""
        if pv.code_root is not None:
            return pv  # read from the base tree already
        return self.parse_at_base(self.rel(pv.path))

    def exists_at_base(self, pv: PromptVersion) -> bool:
        from ..gitops import read_bytes_at

        return (
            pv.code_root is not None
            or read_bytes_at(self.root, self.commit, self.rel(pv.path)) is not None
        )

    def project_file_at_base(self, rel: str) -> tuple[bytes | None, Path]:
        """The bytes of a project-relative file at the merge base, and where the base tree's
        copy goes under ``base_dir``; refuses a path that leaves the project."""
        import posixpath

        norm = posixpath.normpath(rel.replace("\\", "/"))
        if norm.startswith(("../", "/")) or norm in ("..", "."):
            raise PromptOpsError(f"{rel}: the path leaves the project")
        from ..gitops import read_bytes_at

        repo_rel = (self.project.root.relative_to(self.root) / norm).as_posix()
        return read_bytes_at(self.root, self.commit, repo_rel), self.base_project_root / norm

    def previous(self, name: str, version: str) -> str | None:
        """The highest lower version at the base, else the highest lower one in the tree."""
        from ..versions import parse_version

        v = parse_version(version)
        for pool in (self.at_base(name), self.project.version_files(name)):
            lower = [x for x in pool if parse_version(x) < v]
            if lower:
                return max(lower, key=parse_version)
        return None


def registry_at(project: Project, root: Path, commit: str) -> RegistrySpec | None:
    from ..gitops import read_file_at
    from ..registry.file import parse_registry

    rel = project.registry_path.relative_to(root).as_posix()
    text = read_file_at(root, commit, rel)
    if text is None:
        return None
    try:
        return parse_registry(text, project.registry_path)
    except PromptOpsError:
        return None


def promoted_envs(name: str, version: str, registries: list[RegistrySpec | None]) -> list[str]:
    envs: dict[str, None] = {}
    for reg in registries:
        if reg is None:
            continue
        for env, dep in reg.prompts.get(name, {}).items():
            if dep.version == version or (dep.canary is not None and dep.canary.version == version):
                envs[env] = None
    return list(envs)


def retired_envs(project: Project, pv: PromptVersion) -> list[str]:
    """Environments that served ``pv``'s version in any committed registry.yaml (a version
    retired since is still released: ``rollback`` may bring it back)."""
    from ..registry.history import committed_states

    try:
        log = committed_states(project)
    except PromptOpsError:
        return []
    return promoted_envs(pv.name, pv.version, [c["spec"] for c in log])


def find_baseline(
    trees: Trees, pv: PromptVersion, reg_base: RegistrySpec | None, env: str, base: str
) -> tuple[PromptVersion | None, str]:
    dep = reg_base.prompts.get(pv.name, {}).get(env) if reg_base is not None else None
    if dep is not None and dep.version != pv.version:
        active = trees.load(pv.name, dep.version)
        if active is not None:
            return active, f"active in {env} at {base}"
    prev = trees.previous(pv.name, pv.version)
    if prev is not None:
        loaded = trees.load(pv.name, prev)
        if loaded is not None:
            return (
                loaded,
                f"previous version (never in {env})" if dep is None else "previous version",
            )
    return None, "new prompt: no earlier version"
