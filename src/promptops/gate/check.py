"""``promptops check``: the pre-merge gate.

Find the prompt versions a branch adds or changes since it left the base branch, and evaluate
each against its baseline:

1. the version active in ``env`` in registry.yaml *as of the merge base* (what users get now);
2. else, for a prompt never promoted there, the previous version: the highest lower version
   that exists at the merge base, else the highest lower version in the working tree;
3. else the prompt is new: it is evaluated alone and must meet its own ``fail_under`` bar
   (as ``promptops eval`` would), so a broken new prompt cannot merge unevaluated.

Lint runs first, and released versions are immutable: a version file that existed at the
merge base, was promoted to any environment (in registry.yaml at the base, now, or in any
commit of its history: a retired version can come back by rollback) and whose content changed
is an error. Either kind of problem stops the check before any model call, as
does anything the pull-request trust model refuses (:mod:`promptops.gate.trust`: endpoints off the
merge base's allowlist, python assertion files new or changed on the branch, remote ``$ref``).

The gate fails closed: a version is not called ``ok`` (or ``new``) when it could not really be
evaluated: the model's credentials are missing (``--if-no-credentials skip`` makes that an
explicit, reported skip instead), most of a side's calls failed, or the two sides' error rates
differ materially.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import Problem, PromptOpsError, ProviderError, display_path
from .merge_base import Trees, find_baseline, promoted_envs, registry_at, retired_envs

if TYPE_CHECKING:
    from ..eval.runner import EvalOptions
    from ..project import Project, PromptVersion
    from ..spec import RegistrySpec
    from .diff import DiffResult
    from .rules import GoldDiff, Planned, Rules

FAILING = ("regression", "below-bar", "error")
NO_CREDENTIALS = ("fail", "skip")
MOST_FAILED = 0.5  # a side with more than this share of failed calls was not evaluated
ERROR_RATE_GAP = 0.10  # error rates further apart than this make the comparison unfair


@dataclass
class CheckEntry:
    """One changed prompt version and what its evaluation found."""

    ref: str
    file: str
    change: str  # added | modified
    baseline: str | None  # the ref compared against (None: a new prompt)
    baseline_reason: str
    verdict: str  # regression | ok | inconclusive | new | below-bar | error | skipped
    message: str = ""
    diff: DiffResult | None = None
    summary: dict[str, Any] | None = None  # the eval summary of a new prompt
    rules_from: str = ""  # where the rules it was judged by came from
    rule_changes: list[str] = field(default_factory=list)  # the branch's edits, old -> new
    gold: GoldDiff | None = None  # the branch's gold set against the base's

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
            "rules_from": self.rules_from,
            "rule_changes": self.rule_changes,
            "gold": self.gold.to_json() if self.gold else None,
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
    def warnings(self) -> list[CheckEntry]:
        """Entries that pass the check without having shown anything: ``inconclusive`` (when
        not strict) and ``skipped``. A summary shows them as warnings, never as a green tick."""
        return [e for e in self.entries if e.verdict in ("inconclusive", "skipped")]

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
            "warnings": [e.ref for e in self.warnings] if not self.failed else [],
            "problems": [str(p) for p in self.problems],
            "entries": [e.to_json() for e in self.entries],
            "notes": self.notes,
        }


def check(
    project: Project,
    base: str = "origin/main",
    env: str = "prod",
    strict: bool = False,
    opts: EvalOptions | None = None,
    *,
    seed: int = 0,
    alpha: float | None = None,
    sequential: int = 0,
    run_lint: bool = True,
    on_event: Callable[[str], None] | None = None,
    trust_pr_code: bool = False,
    if_no_credentials: str = "fail",
) -> CheckReport:
    """Lint, refuse in-place edits of released versions and what the trust model refuses, then
    evaluate every added or changed prompt version against its baseline. Never raises for a
    failing evaluation: that is an entry with verdict ``error``.

    ``trust_pr_code`` lets python assertion files that are new or changed on the branch run;
    ``if_no_credentials`` (``fail`` or ``skip``) says what a version whose model credentials
    are missing from the environment becomes. ``alpha`` defaults to ``gate.alpha`` of the merge
    base's promptops.yaml; ``gate.inconclusive: fail`` there makes the check ``strict``."""
    from ..errors import UsageError
    from ..gitops import EMPTY_TREE, merge_base, repo_root
    from .trust import policy_at

    if if_no_credentials not in NO_CREDENTIALS:
        raise UsageError(f"--if-no-credentials must be fail or skip, got {if_no_credentials!r}")
    root = repo_root(project.root)
    mb = merge_base(project.root, base)
    config, policy_notes = policy_at(project, root, mb)
    project = project.with_config(config)  # the policy of the merge base, not the branch's
    if not strict and config.gate.inconclusive == "fail":
        strict = True
        policy_notes.append(
            "inconclusive fails this check (gate.inconclusive: fail in promptops.yaml at the "
            "merge base)"
        )
    report = CheckReport(base, mb, env, strict)
    if mb == EMPTY_TREE:
        report.notes.append(
            f"no earlier commit to judge against (--base {base}: a branch's first push, or a "
            "force-push): every prompt version counts as added and is evaluated against the "
            "previous version in the tree if there is one, else on its own against its bar, "
            "under the default policy"
        )
    report.notes += policy_notes
    with tempfile.TemporaryDirectory(prefix="promptops-base-") as tmp:
        _check(
            project,
            report,
            Trees(project, root, mb, Path(tmp).resolve()),
            opts,
            seed=seed,
            alpha=config.gate.alpha if alpha is None else alpha,
            sequential=sequential,
            run_lint=run_lint,
            say=on_event or (lambda _msg: None),
            trust_pr_code=trust_pr_code,
            if_no_credentials=if_no_credentials,
        )
    return report


def _check(
    project: Project,
    report: CheckReport,
    trees: Trees,
    opts: EvalOptions | None,
    *,
    seed: int,
    alpha: float,
    sequential: int,
    run_lint: bool,
    say: Callable[[str], None],
    trust_pr_code: bool,
    if_no_credentials: str,
) -> None:
    from ..assertions.pyfunc import CodeGate, code_gate
    from ..gitops import changed_files, read_bytes_at
    from ..lint import lint
    from ..plugins import load_entry_points, load_project_plugins
    from .rules import gold_set_notes, plan_version

    root, mb, base, env = trees.root, trees.commit, report.base, report.env
    gate = CodeGate(
        root,
        trees.base_dir,
        lambda rel: read_bytes_at(root, mb, rel),
        trust_working_tree=trust_pr_code,
        notes=report.notes,  # compiled caches found beside admitted files (never used)
    )
    # before lint, which knows the plugins' assertion types: installed ones are trusted, the
    # project's come from the merge base's promptops.yaml and must be unchanged there
    load_entry_points()
    report.problems += load_project_plugins(project, gate)
    if run_lint:
        report.problems += [p for p in lint(project) if p.severity in ("error", "hygiene")]
    reg_base = registry_at(project, root, mb)
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
        envs = promoted_envs(pv.name, pv.version, [reg_base, reg_now])
        retired = [] if envs or change != "modified" else retired_envs(project, pv)
        if change == "modified" and (envs or retired):
            where = (
                f"is released (active in {', '.join(envs)})"
                if envs
                else f"was released (active in {', '.join(retired)} before; rollback can restore it)"
            )
            report.problems.append(
                Problem(
                    display_path(path),
                    None,
                    None,
                    f"{pv.ref} {where} and was edited in place; "
                    "released versions are immutable: restore the file and add a new version",
                )
            )
            continue
        candidates.append((pv, change))
    plan: list[Planned] = []
    for pv, change in sorted(candidates, key=lambda t: (t[0].name, t[0].semver)):
        baseline, why = find_baseline(trees, pv, reg_base, env, base)
        plan.append(plan_version(project, trees, pv, change, baseline, why, opts))
    report.notes += gold_set_notes(project, trees, [i.rules for i in plan if i.rules is not None])
    # reported with the lint problems, so one run shows everything (nothing runs to find them)
    report.problems += _trust_problems(project, plan, opts, gate, mb)
    report.problems = list(dict.fromkeys(report.problems))  # lint may have named one too
    if report.problems:
        if candidates:
            report.notes.append("nothing was evaluated: fix the problems above first")
        return
    if not candidates:
        report.notes.append(f"no prompt version was added or changed since {base}")
        return
    with code_gate(gate):
        for item in plan:
            pv, baseline = item.pv, item.baseline
            entry = CheckEntry(
                pv.ref,
                trees.rel(pv.path),
                item.change,
                baseline.ref if baseline else None,
                item.why,
                "error",
            )
            if item.rules is not None:
                entry.rules_from = item.rules.source
                entry.rule_changes = item.rules.changes
                entry.gold = item.rules.gold
            uncalibrated = None if item.error else _uncalibrated(project, trees, pv, baseline)
            if item.error:
                entry.message = item.error
            elif uncalibrated:
                entry.message = uncalibrated
            else:
                missing = _missing_credentials(project, item)
                if missing:
                    _no_credentials(entry, missing, if_no_credentials)
                else:
                    _evaluate(project, entry, item, seed, alpha, sequential, say)
            report.entries.append(entry)
    report.problems += [Problem("check", None, None, m) for m in gate.refused]
    skipped = [e.ref for e in report.entries if e.verdict == "skipped"]
    if skipped:
        report.notes.append(
            f"NOT EVALUATED (no credentials, --if-no-credentials skip): {', '.join(skipped)}"
        )


def _datasets(project: Project, item: Planned) -> list[Path]:
    """The case files an evaluation of ``item`` reads: the gold set, the branch's added cases."""
    ds = project.dataset_path(item.pv, item.opts.dataset if item.opts is not None else None)
    out = [ds] if ds is not None and ds.is_file() else []
    if item.rules is not None and item.rules.added is not None:
        out.append(item.rules.added)
    return out


def _trust_problems(
    project: Project,
    plan: list[Planned],
    opts: EvalOptions | None,
    gate: Any,
    commit: str,
) -> list[Problem]:
    """Everything the pull-request trust model refuses in the versions to evaluate."""
    from .trust import api_base_message, dataset_problems, host_allowed, version_problems

    models = opts.models if opts is not None else []
    api_base = opts.api_base if opts is not None else None
    out: list[Problem] = []
    if not plan:
        return out  # nothing will be called
    if api_base and not host_allowed(api_base, project.config.allowed_api_hosts):
        out.append(Problem("--api-base", None, None, api_base_message(api_base, commit)))
    datasets: dict[Path, list[Path]] = {}
    for item in plan:
        # the judged version is the branch's prompt with the baseline's rules: checking both
        # files covers it, and refuses what the branch's file would run after the merge
        for v in (item.original, item.baseline):
            if v is None:
                continue
            pinned = not models or v.spec.model.id in models
            out += version_problems(v, project, gate, commit, api_base, pinned)
        try:
            own = project.dataset_path(item.original)
            files = _datasets(project, item)
        except PromptOpsError as e:
            out += e.problems  # outside the project: refused before anything reads it
            continue
        files += [own] if own is not None and own.is_file() else []
        for ds in files:
            roots = datasets.setdefault(ds, [])
            for v in (item.pv, item.original, item.baseline):
                if v is not None and (v.code_root or project.root) not in roots:
                    roots.append(v.code_root or project.root)
    for ds, roots in datasets.items():
        out += dataset_problems(ds, roots, gate)
    return list(dict.fromkeys(out))


def _uncalibrated(
    project: Project, trees: Trees, pv: PromptVersion, baseline: PromptVersion | None
) -> str | None:
    """Why ``pv``'s judges may not decide (its ``judge:`` requirement, or the baseline's when
    the new version drops it), with labels read at the merge base: a pull request cannot
    calibrate its own judge by adding labels; they count once merged."""
    need = pv.spec.judge or (baseline.spec.judge if baseline is not None else None)
    if need is None:
        return None
    from ..gitops import read_file_at
    from ..quality.calibrate import calibration_problems
    from ..quality.labels import labels_path, parse_labels

    path = labels_path(project.root, pv.name)
    rel = trees.rel(path.parent) + "/" + path.name
    text = read_file_at(trees.root, trees.commit, rel) or ""
    try:
        labels = parse_labels(text, path)
    except PromptOpsError as e:
        return f"judge not calibrated: {rel} at the merge base is unreadable: {e.message}"
    problems = calibration_problems(pv, labels, rel, need)
    if not problems:
        return None
    return (
        f"judge not calibrated (min_kappa {need.min_kappa:g}, min_labels {need.min_labels}; "
        f"labels at the merge base): " + "; ".join(problems)
    )


def _missing_credentials(project: Project, item: Planned) -> dict[str, list[str]]:
    """model -> credential environment variables it needs and lacks (empty counts as lacking)."""
    from ..providers import missing_credentials
    from .trust import model_ids

    models = item.opts.models if item.opts is not None else []
    wanted: list[str] = []
    files: list[Path | None] = [*_datasets(project, item)] or [None]
    for ds in files:
        wanted += model_ids(item.pv, models, ds)
    if item.baseline is not None:
        wanted += model_ids(item.baseline, models, None)
    out = {}
    for m in dict.fromkeys(wanted):
        names = missing_credentials(m)
        if names:
            out[m] = names
    return out


def _no_credentials(entry: CheckEntry, missing: dict[str, list[str]], mode: str) -> None:
    names = sorted({n for ns in missing.values() for n in ns})
    entry.message = (
        f"cannot evaluate: no credentials: {', '.join(names)} not set or empty "
        f"(needed by {', '.join(missing)}); a pull request from a fork gets no secrets"
    )
    if mode == "skip":
        entry.verdict = "skipped"
        entry.message += "; skipped as --if-no-credentials skip asks"
    else:
        entry.verdict = "error"
        entry.message += (
            "; set the secret, or let the workflow choose --if-no-credentials skip for such runs"
        )


def _provider_errors(records: Iterable[dict[str, Any]]) -> dict[str, tuple[int, int, str]]:
    """digest -> (records, failed model calls, an example error)."""
    counts: dict[str, list[Any]] = {}
    for rec in records:
        c = counts.setdefault(rec["digest"], [0, 0, ""])
        c[0] += 1
        if rec.get("error") and rec.get("error_kind") != "render":
            c[1] += 1
            c[2] = c[2] or str(rec["error"])
    return {d: (n, e, ex) for d, (n, e, ex) in counts.items()}


def _fail_closed(entry: CheckEntry, sides: list[tuple[str, str]], records: Any) -> None:
    """Turn the verdict into ``error`` when a side was not really evaluated."""
    found = _provider_errors(records)
    rates = []
    for ref, digest in sides:
        n, errors, example = found.get(digest, (0, 0, ""))
        if n == 0:
            entry.verdict = "error"
            entry.message = f"cannot evaluate {ref}: no case was evaluated; {entry.message}"
            return
        if errors > MOST_FAILED * n:
            entry.verdict = "error"
            entry.message = (
                f"cannot evaluate {ref}: {errors} of {n} model calls failed "
                f"(e.g. {example[:300]}); {entry.message}"
            )
            return
        rates.append((ref, n, errors))
    if len(rates) == 2:
        (ra, na, ea), (rb, nb, eb) = rates
        if abs(ea / na - eb / nb) > ERROR_RATE_GAP and abs(ea - eb) >= 2:
            entry.verdict = "error"
            entry.message = (
                f"error rates differ: {ea} of {na} calls failed for {ra}, {eb} of {nb} for {rb}; "
                "failed calls count as failures of their side, so the comparison would measure "
                f"the provider's errors, not the prompts; {entry.message}"
            )


def _evaluate(
    project: Project,
    entry: CheckEntry,
    item: Planned,
    seed: int,
    alpha: float,
    sequential: int,
    say: Callable[[str], None],
) -> None:
    from ..eval.runner import EvalOptions, run_eval
    from .diff import diff_refs, file_diff
    from .explain import explain
    from .rules import evaluate_added

    why = entry.baseline_reason
    pv, baseline, opts = item.pv, item.baseline, item.opts
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
            _fail_closed(entry, [(pv.ref, pv.digest)], result.run.records())
            return
        say(f"evaluating {pv.ref} against {baseline.ref} ({why})")
        entry.diff = diff_refs(
            project, baseline, pv, opts, seed=seed, alpha=alpha, sequential=sequential
        )
        entry.diff.changes = file_diff(baseline, item.original)  # what the branch wrote
        rules = item.rules
        if rules is not None and rules.dataset is not None and pv.spec.dataset is not None:
            entry.diff.dataset = f"{pv.spec.dataset} as at the merge base"
        entry.verdict = entry.diff.verdict
        entry.message = "; ".join(f"{c.model}: {explain(c)}" for c in entry.diff.comparisons) or (
            "no model ran on both sides"
        )
        _nothing_paired(entry)
        if entry.diff.run is not None:
            records = list(entry.diff.run.records())
            sides = [(baseline.ref, baseline.digest), (pv.ref, pv.digest)]
            _fail_closed(entry, sides, records)
            if rules is not None:
                _below_bar(entry, rules, records)
        if rules is not None and rules.added is not None and rules.gold is not None:
            evaluate_added(project, item, rules)
    except PromptOpsError as e:
        entry.verdict = "error"
        entry.message = e.message


def _nothing_paired(entry: CheckEntry) -> None:
    """No model compared, or a gate metric no case has on both sides: nothing was judged."""
    assert entry.diff is not None
    if not entry.diff.comparisons:
        entry.verdict = "error"
        entry.message = "no model ran on both sides: nothing was compared"
        return
    for c in entry.diff.comparisons:
        if c.n_paired == 0:
            entry.verdict = "error"
            lack = f" ({len(c.unscored)} case(s) lack it on a side)" if c.unscored else ""
            entry.message = (
                f"{c.model}: no case has the gate metric {c.metric!r} on both sides{lack}; "
                "nothing was compared, so nothing can pass"
            )
            return


def _below_bar(entry: CheckEntry, rules: Rules, records: list[dict[str, Any]]) -> None:
    """The base's ``fail_under`` holds for the branch's version too, whatever the comparison
    says."""
    from .rules import bar_misses

    if rules.bar is None or entry.verdict == "error":
        return
    misses = bar_misses(records, rules.pv.digest, rules.bar)
    if not misses:
        return
    model, passed, n = misses[0]
    entry.verdict = "below-bar"
    entry.message = (
        f"{entry.ref} passes {passed} of {n} cases ({100 * passed / n:.0f}%) on {model}, below "
        f"the bar of {100 * rules.bar:g}% (fail_under, from {rules.source}), so it fails "
        f"whatever the comparison says; {entry.message}"
    )
