"""``promptops check``: the pre-merge gate.

Find the prompt versions a branch adds or changes since it left the base branch, and evaluate
each against its baseline:

1. the version active in ``env`` in registry.yaml *as of the merge base* (what users get now);
2. else, for a prompt never promoted there, the previous version: the highest lower version
   that exists at the merge base, else the highest lower version in the working tree;
3. else the prompt is new: it is evaluated alone and must meet its own ``fail_under`` bar
   (as ``promptops eval`` would), so a broken new prompt cannot merge unevaluated.

Lint runs first, and released versions are immutable: a version file that existed at the
merge base, is promoted to any environment (in registry.yaml at the base or now) and whose
content changed is an error. Either kind of problem stops the check before any model call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import Problem, PromptOpsError, ProviderError, display_path

if TYPE_CHECKING:
    from .diffing import DiffResult
    from .project import Project, PromptVersion
    from .runner import EvalOptions
    from .spec import RegistrySpec

FAILING = ("regression", "below-bar", "error")


@dataclass
class CheckEntry:
    """One changed prompt version and what its evaluation found."""

    ref: str
    file: str
    change: str  # added | modified
    baseline: str | None  # the ref compared against (None: a new prompt)
    baseline_reason: str
    verdict: str  # regression | ok | inconclusive | new | below-bar | error
    message: str = ""
    diff: DiffResult | None = None
    summary: dict[str, Any] | None = None  # the eval summary of a new prompt

    def to_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "file": self.file,
            "change": self.change,
            "baseline": self.baseline,
            "baseline_reason": self.baseline_reason,
            "verdict": self.verdict,
            "message": self.message,
            "diff": self.diff.to_json() if self.diff else None,
            "run": self.summary.get("run_id") if self.summary else None,
            "bar": self.summary.get("bar") if self.summary else None,
        }


@dataclass
class CheckReport:
    """Everything `check` found; ``exit_code`` is what CI acts on."""

    base: str
    merge_base: str
    env: str
    strict: bool
    problems: list[Problem] = field(default_factory=list)  # lint and immutability errors
    entries: list[CheckEntry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        bad = FAILING + (("inconclusive",) if self.strict else ())
        return bool(self.problems) or any(e.verdict in bad for e in self.entries)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "merge_base": self.merge_base,
            "env": self.env,
            "strict": self.strict,
            "passed": not self.failed,
            "problems": [str(p) for p in self.problems],
            "entries": [e.to_json() for e in self.entries],
            "notes": self.notes,
        }


class _Versions:
    """Versions of prompts in the working tree and in the merge base's tree."""

    def __init__(self, project: Project, root: Path, commit: str) -> None:
        self.project = project
        self.root = root
        self.commit = commit
        self.prompts_rel = project.prompts_dir.relative_to(root).as_posix()

    def rel(self, path: Path) -> str:
        return path.resolve().relative_to(self.root).as_posix()

    def at_base(self, name: str) -> dict[str, str]:
        """version -> file name in the base tree."""
        from .gitops import list_dir_at
        from .versions import parse_version

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
        from .gitops import read_file_at
        from .project import parse_prompt

        text = read_file_at(self.root, self.commit, relpath)
        if text is None:
            return None
        try:
            return parse_prompt(text, self.root / relpath)
        except PromptOpsError:
            return None

    def load(self, name: str, version: str) -> PromptVersion | None:
        """A version from the working tree, else from the base tree."""
        files = self.project.version_files(name)
        if version in files:
            try:
                return self.project.load(files[version])
            except PromptOpsError:
                return None
        fname = self.at_base(name).get(version)
        return self.parse_at_base(f"{self.prompts_rel}/{name}/{fname}") if fname else None

    def previous(self, name: str, version: str) -> str | None:
        """The highest lower version at the base, else the highest lower one in the tree."""
        from .versions import parse_version

        v = parse_version(version)
        for pool in (self.at_base(name), self.project.version_files(name)):
            lower = [x for x in pool if parse_version(x) < v]
            if lower:
                return max(lower, key=parse_version)
        return None


def _registry_at(project: Project, root: Path, commit: str) -> RegistrySpec | None:
    from .gitops import read_file_at
    from .loader import parse_yaml, validate
    from .spec import RegistrySpec

    rel = project.registry_path.relative_to(root).as_posix()
    text = read_file_at(root, commit, rel)
    if text is None:
        return None
    try:
        data, lines = parse_yaml(text, project.registry_path)
        return validate(RegistrySpec, data or {}, project.registry_path, lines)
    except PromptOpsError:
        return None


def _promoted_envs(name: str, version: str, registries: list[RegistrySpec | None]) -> list[str]:
    envs: dict[str, None] = {}
    for reg in registries:
        if reg is None:
            continue
        for env, dep in reg.prompts.get(name, {}).items():
            if dep.version == version or (dep.canary is not None and dep.canary.version == version):
                envs[env] = None
    return list(envs)


def check(
    project: Project,
    base: str = "origin/main",
    env: str = "prod",
    strict: bool = False,
    opts: EvalOptions | None = None,
    *,
    seed: int = 0,
    n_boot: int = 10000,
    alpha: float = 0.05,
    run_lint: bool = True,
    on_event: Callable[[str], None] | None = None,
) -> CheckReport:
    """Lint, refuse in-place edits of released versions, then evaluate every added or changed
    prompt version against its baseline. Never raises for a failing evaluation: that is an
    entry with verdict ``error``."""
    from .gitops import changed_files, merge_base, repo_root
    from .lint import lint

    say = on_event or (lambda _msg: None)
    root = repo_root(project.root)
    mb = merge_base(project.root, base)
    report = CheckReport(base, mb, env, strict)
    if run_lint:
        report.problems += [p for p in lint(project) if p.severity == "error"]
    trees = _Versions(project, root, mb)
    reg_base = _registry_at(project, root, mb)
    try:
        reg_now: RegistrySpec | None = project.registry_spec()
    except PromptOpsError:
        reg_now = None  # lint has reported it
    candidates: list[tuple[PromptVersion, str]] = []
    for status, relpath in changed_files(project.root, mb, trees.prompts_rel):
        parts = relpath[len(trees.prompts_rel) + 1 :].split("/")
        if len(parts) != 2 or not parts[1].endswith((".yaml", ".yml")):
            continue
        path = root / relpath
        if status == "D" or not path.is_file():
            report.notes.append(f"{relpath}: deleted")
            continue
        try:
            pv = project.load(path)
        except PromptOpsError:
            continue  # lint names the problem
        old = trees.parse_at_base(relpath)
        change = "added" if old is None and status == "A" else "modified"
        if old is not None and old.digest == pv.digest:
            continue  # formatting or comments only: the parsed content is the same
        envs = _promoted_envs(pv.name, pv.version, [reg_base, reg_now])
        if change == "modified" and envs:
            report.problems.append(
                Problem(
                    display_path(path),
                    None,
                    None,
                    f"{pv.ref} is released (active in {', '.join(envs)}) and was edited in place; "
                    "released versions are immutable: restore the file and add a new version",
                )
            )
            continue
        candidates.append((pv, change))
    if report.problems:
        if candidates:
            report.notes.append("nothing was evaluated: fix the problems above first")
        return report
    if not candidates:
        report.notes.append(f"no prompt version was added or changed since {base}")
    for pv, change in sorted(candidates, key=lambda t: (t[0].name, t[0].semver)):
        report.entries.append(
            _evaluate(
                project, trees, pv, change, reg_base, env, base, opts, seed, n_boot, alpha, say
            )
        )
    return report


def _baseline(
    trees: _Versions, pv: PromptVersion, reg_base: RegistrySpec | None, env: str, base: str
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


def _evaluate(
    project: Project,
    trees: _Versions,
    pv: PromptVersion,
    change: str,
    reg_base: RegistrySpec | None,
    env: str,
    base: str,
    opts: EvalOptions | None,
    seed: int,
    n_boot: int,
    alpha: float,
    say: Callable[[str], None],
) -> CheckEntry:
    from .diffing import diff_refs
    from .runner import EvalOptions, run_eval

    baseline, why = _baseline(trees, pv, reg_base, env, base)
    entry = CheckEntry(
        pv.ref, trees.rel(pv.path), change, baseline.ref if baseline else None, why, "error"
    )
    try:
        if baseline is None:
            say(f"evaluating {pv.ref} ({why})")
            result = run_eval(
                project, [pv], opts or EvalOptions(), command=f"promptops check {pv.ref}"
            )
            if result.stop_reason:
                raise ProviderError(result.stop_reason)
            entry.summary = result.summary
            entry.verdict = "new" if result.met_bar else "below-bar"
            groups = result.summary.get("groups", [])
            entry.message = (
                "; ".join(f"{g['model']}: pass {g['passed']}/{g['n']}" for g in groups)
                or "no cases ran"
            )
        else:
            say(f"evaluating {pv.ref} against {baseline.ref} ({why})")
            entry.diff = diff_refs(
                project, baseline, pv, opts, seed=seed, n_boot=n_boot, alpha=alpha
            )
            entry.verdict = entry.diff.verdict
            entry.message = "; ".join(f"{c.model}: {c.reason}" for c in entry.diff.comparisons) or (
                "no model ran on both sides"
            )
    except PromptOpsError as e:
        entry.verdict = "error"
        entry.message = e.message
    return entry
