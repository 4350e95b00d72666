"""The rules a changed prompt version is judged by: its baseline's, as at the merge base.

A pull request can edit every file, the version file it adds included. So ``check`` evaluates
the branch's prompt (messages, model, parameters, tools: what the change is about) under the
rules of the baseline as its file is at the merge base: the gate metric and margin, the
assertion suite, ``threshold``, the ``fail_under`` bar and the gold set (the dataset's content
at the merge base, or the inline ``tests``). The branch's edits to any of them are listed
(:attr:`Rules.changes`, old -> new) and apply after the merge. The verdict is decided on the
base's cases; cases the branch adds are evaluated on their own and reported, cases it edits or
removes are listed as a diff of the gold set (:class:`GoldDiff`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import PromptOpsError

if TYPE_CHECKING:
    from ..eval.runner import EvalOptions
    from ..project import Project, PromptVersion
    from ..spec import AssertionSpec, CaseSpec, PromptSpec
    from .merge_base import Trees

__all__ = ["GoldDiff", "Planned", "Rules", "bar_misses", "evaluate_added", "judged", "plan_version"]

ADDED_DIR = ".promptops-check-added"  # under the base tree's mirror: the branch's added cases
SHOWN = 12  # case ids named in a sentence; the rest are counted


def _ids(ids: list[str]) -> str:
    more = len(ids) - SHOWN
    return ", ".join(ids[:SHOWN]) + (f" and {more} more" if more > 0 else "")


@dataclass
class GoldDiff:
    """How the branch's gold set differs from the base's (by case id)."""

    base: str  # the base's gold set: a dataset path, or "inline tests of REF"
    branch: str  # the branch version's own
    added: list[str] = field(default_factory=list)
    edited: dict[str, list[str]] = field(default_factory=dict)  # id -> fields that differ
    removed: list[str] = field(default_factory=list)
    added_passed: int | None = None  # of the added cases, how many the branch version passed
    added_total: int | None = None  # samples evaluated (None: not evaluated)
    added_error: str = ""  # why the added cases could not be evaluated

    @property
    def empty(self) -> bool:
        return not (self.added or self.edited or self.removed)

    def lines(self) -> list[str]:
        """The diff in sentences, for reports."""
        out = []
        where = f"{self.base} -> {self.branch}" if self.base != self.branch else self.base
        if self.edited:
            shown = _ids([f"{i} ({', '.join(f)})" for i, f in self.edited.items()])
            out.append(
                f"gold set {where}: {len(self.edited)} case(s) edited on this branch: {shown}; "
                "judged on the base's version of them"
            )
        if self.removed:
            out.append(
                f"gold set {where}: {len(self.removed)} case(s) removed on this branch: "
                f"{_ids(self.removed)}; still judged (they are the base's)"
            )
        if self.added:
            ran = (
                f"the branch's version passes {self.added_passed} of {self.added_total}"
                if self.added_total is not None
                else (f"not evaluated: {self.added_error}" if self.added_error else "")
            )
            out.append(
                f"gold set {where}: {len(self.added)} case(s) added on this branch "
                f"({_ids(self.added)}), not part of the verdict" + (f"; {ran}" if ran else "")
            )
        return out

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Rules:
    """The version ``check`` evaluates, and where its rules came from."""

    pv: PromptVersion  # the branch's prompt under the base's rules
    source: str  # "qa@1.0.0 at the merge base", or why the branch's own rules apply
    changes: list[str] = field(default_factory=list)  # rule edits on the branch, old -> new
    dataset: Path | None = None  # the base's gold dataset, written from the base tree
    gold: GoldDiff | None = None
    added: Path | None = None  # a JSONL of the cases the branch adds (None: none)
    bar: float | None = None  # the base's fail_under (None: unset, no bar beyond the verdict)
    trusted: bool = True  # False: no version at the merge base to take rules from


def _shown(value: Any) -> str:
    return "unset" if value is None else str(value)


def _assert_texts(spec: PromptSpec) -> list[tuple[str, str]]:
    return [
        (
            json.dumps(
                a.model_dump(by_alias=True, exclude_defaults=True), sort_keys=True, default=str
            ),
            a.label,
        )
        for a in spec.assert_
    ]


def rule_changes(base: PromptSpec, branch: PromptSpec) -> list[str]:
    """The branch's edits to the rules, old -> new (empty: it kept the base's)."""
    out = []
    for name in ("metric", "margin"):
        old, new = getattr(base.gate, name), getattr(branch.gate, name)
        if old != new:
            out.append(f"gate.{name}: {old} -> {new}")
    ta, tb = _assert_texts(base), _assert_texts(branch)
    if [t for t, _ in ta] != [t for t, _ in tb]:
        removed = [lbl for t, lbl in ta if t not in [x for x, _ in tb]]
        added = [lbl for t, lbl in tb if t not in [x for x, _ in ta]]
        detail = "; ".join(
            part
            for part in (
                f"removed {', '.join(removed)}" if removed else "",
                f"added {', '.join(added)}" if added else "",
            )
            if part
        )
        out.append(
            f"assert: {len(ta)} assertion(s) -> {len(tb)}" + (f" ({detail})" if detail else "")
        )
    for name in ("threshold", "fail_under", "dataset"):
        old, new = getattr(base, name), getattr(branch, name)
        if old != new:
            out.append(f"{name}: {_shown(old)} -> {_shown(new)}")
    if base.scoring != branch.scoring:  # it decides each case: the base's is used
        out.append(
            f"scoring: {'set' if base.scoring else 'none'} -> "
            f"{'edited' if branch.scoring else 'none'}"
        )
    if base.derived_metrics != branch.derived_metrics:
        out.append("derived_metrics: edited")
    if base.tests != branch.tests:
        out.append(f"tests: {len(base.tests)} inline case(s) -> {len(branch.tests)}, edited")
    if base.output != branch.output:
        # not replaced: it shapes the request; a json-schema assertion without a schema of its
        # own checks replies against the branch's (shown, so a loosened schema is visible)
        out.append(
            f"output: {base.output.format} -> {branch.output.format}, schema "
            f"{'changed' if base.output.json_schema != branch.output.json_schema else 'kept'} "
            "(json-schema assertions without a schema of their own keep the base's)"
        )
    return out


def _cases(path: Path | None, pv: PromptVersion) -> dict[str, CaseSpec]:
    from ..datasets import inline_cases, iter_cases

    source = iter_cases(path, pv) if path is not None else inline_cases(pv)
    return {c.id: c.spec for c in source}


def gold_diff(
    base: dict[str, CaseSpec], branch: dict[str, CaseSpec], base_name: str, branch_name: str
) -> GoldDiff:
    out = GoldDiff(base_name, branch_name)
    for cid, spec in branch.items():
        if cid not in base:
            out.added.append(cid)
            continue
        a = base[cid].model_dump(by_alias=True)
        b = spec.model_dump(by_alias=True)
        fields = [k for k in dict.fromkeys([*a, *b]) if a.get(k) != b.get(k)]
        if fields:
            out.edited[cid] = fields
    out.removed = [cid for cid in base if cid not in branch]
    return out


def with_base_schema(asserts: list[AssertionSpec], schema: dict[str, Any] | None) -> list[Any]:
    """The base's assertions with the base's ``output.schema`` written into every
    ``json-schema`` assertion that has no schema of its own: such an assertion would otherwise
    check replies against the branch's schema, which the branch can loosen. (The request still
    asks for the branch's schema: that is the prompt under test.)"""
    if schema is None:
        return list(asserts)
    return [
        a.model_copy(update={"value": schema})
        if a.base_type == "json-schema" and a.value is None
        else a
        for a in asserts
    ]


def judged(
    project: Project,
    trees: Trees,
    pv: PromptVersion,
    baseline: PromptVersion,
    dataset_override: str | None = None,
) -> Rules:
    """``pv`` under the rules of ``baseline`` as at the merge base. Raises PromptOpsError when
    the base's gold set cannot be read (the check then reports ``error``)."""
    from ..project import PromptVersion as PV

    source = trees.at_merge_base(baseline)
    if source is None and trees.exists_at_base(baseline):
        raise PromptOpsError(
            f"{baseline.ref}: its file at the merge base does not parse, so there are no "
            "trusted rules to judge a new version by; fix it on the base branch first"
        )
    if source is None:
        # the baseline exists only on the branch: there is nothing trusted to take rules from
        return Rules(
            pv,
            f"{pv.ref}'s own (no earlier version of {pv.name} at the merge base)",
            trusted=False,
            bar=pv.spec.fail_under,
        )
    base = source.spec
    spec = pv.spec.model_copy(
        update={
            "gate": base.gate,
            "assert_": with_base_schema(base.assert_, base.output.json_schema),
            "threshold": base.threshold,
            "scoring": base.scoring,  # it decides every case: a branch's could pass them all
            "derived_metrics": base.derived_metrics,
            "fail_under": base.fail_under,
            "dataset": base.dataset,
            "tests": [
                c.model_copy(
                    update={"assert_": with_base_schema(c.assert_, base.output.json_schema)}
                )
                for c in base.tests
            ],
        }
    )
    # its assertions are the base's: python paths resolve in the base tree
    judged_pv = PV(spec, pv.path, pv.digest, pv.lines, pv.raw, trees.base_project_root)
    rules = Rules(
        judged_pv,
        f"{source.ref} at the merge base",
        rule_changes(base, pv.spec),
        bar=base.fail_under,
    )
    if dataset_override is not None:
        return rules  # the caller chose the cases
    if base.dataset is None and not base.tests:
        raise PromptOpsError(
            f"{source.ref} has no gold set at the merge base (no dataset, no inline tests); "
            "check judges a changed version on the base's cases: merge a gold set first"
        )
    if base.dataset is not None:
        data, dest = trees.project_file_at_base(base.dataset)
        if data is None:
            raise PromptOpsError(
                f"{base.dataset}: the gold dataset of {source.ref} is not in the merge base's "
                "tree; check judges a changed version on the base's gold set"
            )
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        rules.dataset = dest
        base_name = base.dataset
    else:
        base_name = f"inline tests of {source.ref}"
    base_cases = _cases(rules.dataset, judged_pv)
    branch_path = project.dataset_path(pv)
    branch_name = pv.spec.dataset or f"inline tests of {pv.ref}"
    try:
        if branch_path is not None and not _inside(branch_path, project.root):
            return rules  # never read (and show ids from) a file outside the project
        if branch_path is not None and not branch_path.is_file():
            return rules  # lint names the missing file
        branch_cases = _cases(branch_path, pv)
    except PromptOpsError:
        return rules  # lint names the problem in the branch's cases
    rules.gold = gold_diff(base_cases, branch_cases, base_name, branch_name)
    if rules.gold.added:
        out = trees.base_dir / ADDED_DIR / f"{pv.name}-{pv.version}.jsonl"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            "".join(
                json.dumps(
                    branch_cases[cid].model_dump(by_alias=True, exclude_defaults=True),
                    ensure_ascii=False,
                )
                + "\n"
                for cid in rules.gold.added
            ),
            encoding="utf-8",
        )
        rules.added = out
    return rules


def gold_set_notes(project: Project, trees: Trees, judged_rules: list[Rules]) -> list[str]:
    """A note for each gold dataset the branch changes that no entry's gold-set diff shows
    (a dataset-only change evaluates nothing, but the report says the gold set changed)."""
    import posixpath

    from ..gitops import changed_files

    shown = {r.gold.base for r in judged_rules if r.gold is not None and not r.gold.empty}
    users: dict[str, list[str]] = {}
    for name in project.prompt_names():
        for path in project.version_files(name).values():
            try:
                pv = project.load(path)
            except PromptOpsError:
                continue  # lint names it
            if pv.spec.dataset:
                users.setdefault(posixpath.normpath(pv.spec.dataset), []).append(pv.ref)
    prefix = project.root.relative_to(trees.root).as_posix()
    out = []
    for status, rel in changed_files(project.root, trees.commit):
        if prefix != ".":
            if not rel.startswith(prefix + "/"):
                continue
            rel = rel[len(prefix) + 1 :]
        if rel not in users or rel in shown:
            continue
        what = {"A": "added", "D": "deleted"}.get(status, "changed")
        refs = _ids(users[rel])
        out.append(
            f"gold dataset {rel} {what} on this branch (named by {refs}); check judges changed "
            "versions on the merge base's copy, so the change applies after the merge"
        )
    return out


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def _passed(rec: dict[str, Any]) -> bool:
    score = rec.get("score")
    finite = score is None or (isinstance(score, int | float) and math.isfinite(score))
    return bool(rec.get("pass")) and not rec.get("error") and finite


def bar_misses(
    records: Iterable[dict[str, Any]], digest: str, bar: float
) -> list[tuple[str, int, int]]:
    """(model, passed, samples) of every model on which the version with ``digest`` passes
    less than ``bar`` of its samples (a failed call or a NaN score is a failure)."""
    counts: dict[str, list[int]] = {}
    for rec in records:
        if rec.get("digest") != digest:
            continue
        c = counts.setdefault(str(rec["model"]), [0, 0])
        c[0] += _passed(rec)
        c[1] += 1
    return [(m, p, n) for m, (p, n) in counts.items() if n and p / n < bar - 1e-12]


@dataclass
class Planned:
    """A version to evaluate: as the branch wrote it, and as ``check`` judges it (under the
    rules of its baseline at the merge base)."""

    original: PromptVersion
    change: str
    baseline: PromptVersion | None
    why: str
    rules: Rules | None  # None: a new prompt (its own rules and bar), or ``error``
    opts: EvalOptions | None  # the caller's, with the base's gold dataset
    error: str = ""  # why it cannot be evaluated

    @property
    def pv(self) -> PromptVersion:
        return self.rules.pv if self.rules is not None else self.original


def plan_version(
    project: Project,
    trees: Trees,
    pv: PromptVersion,
    change: str,
    baseline: PromptVersion | None,
    why: str,
    opts: EvalOptions | None,
) -> Planned:
    from dataclasses import replace

    from ..eval.runner import EvalOptions

    if baseline is None:
        return Planned(pv, change, None, why, None, opts)
    try:
        rules = judged(project, trees, pv, baseline, opts.dataset if opts is not None else None)
    except PromptOpsError as e:
        return Planned(pv, change, baseline, why, None, opts, error=e.message)
    run_opts = opts
    if rules.dataset is not None:
        run_opts = replace(opts or EvalOptions(), dataset=str(rules.dataset))
    return Planned(pv, change, baseline, why, rules, run_opts)


def evaluate_added(project: Project, item: Planned, rules: Rules) -> None:
    """Run the branch's version on the cases the branch added to the gold set (reported, not
    part of the verdict)."""
    from dataclasses import replace

    from ..eval.runner import EvalOptions, run_eval

    assert rules.gold is not None and rules.added is not None
    opts = replace(item.opts or EvalOptions(), dataset=str(rules.added))
    try:
        result = run_eval(project, [rules.pv], opts, command=f"promptops check {rules.pv.ref}")
    except PromptOpsError as e:
        rules.gold.added_error = e.message
        return
    if result.stop_reason:
        rules.gold.added_error = result.stop_reason
        return
    groups = result.summary.get("groups", [])
    rules.gold.added_passed = sum(int(g["passed"]) for g in groups)
    rules.gold.added_total = sum(int(g["n"]) for g in groups)
