"""What ``promptops review`` shows and changes, without the web server: the cases of a run
(failing ones first, grouped by the assertion that failed) or of a candidates file, the labels
given so far, and the two actions, labelling and accepting a candidate into its gold set.

:class:`ReviewSession` is used by :mod:`promptops.quality.review_server` and is a plain library
object, so the same review can be scripted or tested without a browser.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PromptOpsError, SpecError, UsageError, display_path
from .labels import (
    JudgedOutcome,
    Label,
    append_label,
    append_lines,
    labels_path,
    latest_labels,
    now,
    output_hash,
)

PAGE_SIZE = 50


def rubric_hash(spec: Any) -> str:
    """What identifies a judge's instructions: type, value (the rubric), judge prompt and
    threshold; a label given under one rubric does not calibrate another."""
    data = {
        "type": spec.type,
        "value": spec.value,
        "judge_prompt": spec.judge_prompt,
        "threshold": spec.threshold,
    }
    text = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def is_model_graded(type_name: str) -> bool:
    from ..assertions import REGISTRY

    kind = REGISTRY.get(type_name.removeprefix("not-"))
    return bool(kind is not None and kind.model_graded)


def judged_outcomes(specs: list[Any], outcomes: list[dict[str, Any]]) -> list[JudgedOutcome]:
    """The model-graded outcomes of a record, paired with the prompt's own assertion specs
    (a record lists the prompt's assertions first, in order, then the case's)."""
    out = []
    for spec, got in zip(specs, outcomes, strict=False):
        if got.get("type") != spec.type or not is_model_graded(spec.type):
            continue
        if got.get("error"):
            continue
        out.append(
            JudgedOutcome(
                type=spec.type,
                judge=spec.judge,
                rubric=rubric_hash(spec),
                passed=bool(got.get("pass")),
                score=got.get("score"),
            )
        )
    return out


def _group_of(rec: dict[str, Any]) -> str:
    if rec.get("error"):
        return f"error: {rec.get('error_kind') or 'error'}"
    if rec.get("pass"):
        return "passed"
    for a in rec.get("assertions") or []:
        if a.get("error"):
            return f"{a.get('type')} (could not run)"
        if not a.get("pass"):
            return str(a.get("type"))
    return "below threshold"


@dataclass
class ReviewSession:
    """The cases under review and what was done to them in this session."""

    root: Path
    prompt: str
    source: str  # the run id, or the candidates file (relative)
    kind: str  # "run" or "candidates"
    items: list[dict[str, Any]]
    reviewer: str
    gold: Path | None = None
    candidates: Path | None = None
    specs: dict[str, list[Any]] = field(default_factory=dict)  # version -> prompt's assertions
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def labels_file(self) -> Path:
        return labels_path(self.root, self.prompt)

    def groups(self) -> list[dict[str, Any]]:
        counts: dict[str, int] = {}
        for item in self.items:
            counts[item["group"]] = counts.get(item["group"], 0) + 1
        return [{"name": k, "n": v} for k, v in counts.items()]

    def page(
        self, offset: int = 0, limit: int = PAGE_SIZE, group: str | None = None
    ) -> dict[str, Any]:
        """One page of items, with their current labels."""
        limit = max(1, min(limit, 500))
        items = self.items if not group else [i for i in self.items if i["group"] == group]
        offset = max(0, min(offset, max(len(items) - 1, 0)))
        labels = latest_labels(self.labels_file)
        shown = []
        for item in items[offset : offset + limit]:
            label = labels.get(self._key(item))
            shown.append(
                {
                    **item,
                    "label": label.label if label else None,
                    "note": label.note if label else "",
                }
            )
        labelled = sum(1 for i in self.items if self._key(i) in labels)
        return {
            "kind": self.kind,
            "source": self.source,
            "prompt": self.prompt,
            "total": len(items),
            "all": len(self.items),
            "labelled": labelled,
            "offset": offset,
            "items": shown,
            "groups": self.groups(),
        }

    def _key(self, item: dict[str, Any]) -> tuple[str, str | None, str | None, str | None]:
        return (item["case_id"], item.get("model"), item.get("output_hash"), self.source)

    def _item(self, key: Any) -> dict[str, Any]:
        if not isinstance(key, int) or isinstance(key, bool) or not 0 <= key < len(self.items):
            raise UsageError(f"no case with key {key!r}")
        return self.items[key]

    def label(self, key: Any, value: Any, note: Any = "") -> Label:
        """Record a label for one item (appended to labels/NAME.jsonl at once)."""
        item = self._item(key)
        if value not in ("pass", "fail") and not (
            isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5
        ):
            raise UsageError(f"label must be pass, fail or 1-5, not {value!r}")
        if not isinstance(note, str):
            raise UsageError("note must be text")
        from ..redact import redact_text

        judged = []
        specs = self.specs.get(item.get("version") or "")
        if specs is not None:
            judged = judged_outcomes(specs, item.get("assertions") or [])
        label = Label(
            case_id=item["case_id"],
            prompt=self.prompt,
            version=item.get("version"),
            model=item.get("model"),
            run=self.source,
            output_hash=item.get("output_hash"),
            label=value,
            note=redact_text(note[:2000]),
            reviewer=self.reviewer,
            time=now(),
            judged=judged,
        )
        with self._lock:
            append_label(self.labels_file, label)
        return label

    def accept(self, key: Any, expected: Any) -> dict[str, Any]:
        """Move a candidate into the gold set with ``expected`` (JSON text or a value)."""
        from ..spec import CaseSpec

        if self.kind != "candidates" or self.gold is None or self.candidates is None:
            raise UsageError("only candidates can be accepted into a gold set")
        item = self._item(key)
        if item.get("accepted"):
            raise UsageError(f"{item['case_id']} is already in {display_path(self.gold)}")
        if isinstance(expected, str):
            text = expected
            expected = None
            if text.strip():
                expected = text  # plain text that is not JSON is an expected string
                with contextlib.suppress(json.JSONDecodeError):
                    expected = json.loads(text)
        case = CaseSpec.model_validate({**item["case"], "expected": expected})
        problems = self._vars_problems(case)
        if problems:
            raise UsageError(f"{case.id} does not fit {self.prompt}: {'; '.join(problems)}")
        line = json.dumps(
            case.model_dump(mode="json", by_alias=True, exclude_defaults=True), ensure_ascii=False
        )
        with self._lock:
            existing = _case_ids(self.gold)
            if case.id in existing:
                raise UsageError(f"{display_path(self.gold)} already has a case {case.id!r}")
            append_lines(self.gold, [line])
            _remove_case(self.candidates, case.id)
            item["accepted"] = True
            item["expected"] = expected
            item["group"] = item["status"] = "accepted"
        return {"accepted": case.id, "gold": display_path(self.gold)}

    def _vars_problems(self, case: Any) -> list[str]:
        """Why a candidate's vars would not run on the prompt's newest version (its inputs
        changed since the call was made, or the record held something else)."""
        from ..datasets import vars_problems
        from ..project import Project

        project = Project(self.root)
        versions = project.version_files(self.prompt)
        if not versions:
            return []
        try:
            pv = project.load(list(versions.values())[-1])
        except SpecError:
            return []
        return vars_problems(pv, case)


def _case_ids(path: Path) -> set[str]:
    from ..datasets import iter_cases

    return {c.id for c in iter_cases(path)} if path.exists() else set()


def _remove_case(path: Path, case_id: str) -> None:
    """Rewrite the candidates file without one case (atomically)."""
    import os

    kept = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        try:
            data = json.loads(raw) if raw.strip() else None
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict) and data.get("id") == case_id:
            continue
        if raw.strip():
            kept.append(raw)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    os.replace(tmp, path)


def _reviewer(root: Path) -> str:
    from ..gitops import identity

    who = identity(root)
    if not who:
        raise UsageError(
            "who is reviewing? set it with: git config user.name 'Your Name' && "
            "git config user.email you@example.com"
        )
    return who


def open_run(project: Any, run_id: str, reviewer: str | None = None) -> ReviewSession:
    """A run's records, failing first, grouped by the assertion that failed."""
    from ..eval.store import find_run

    run = find_run(project.runs_dir, run_id)
    records = list(run.records())
    if not records:
        raise PromptOpsError(f"run {run.id} has no records")
    prompts = sorted({r["prompt"] for r in records})
    if len(prompts) > 1:
        raise UsageError(f"run {run.id} evaluated {', '.join(prompts)}; review one prompt's run")
    prompt = prompts[0]
    items = []
    for rec in records:
        output = rec.get("output")
        items.append(
            {
                "case_id": str(rec.get("case_id")),
                "version": rec.get("version"),
                "model": rec.get("model"),
                "repeat": rec.get("repeat", 0),
                "vars": rec.get("vars") or {},
                "expected": rec.get("expected"),
                "output": output,
                "output_hash": output_hash(output),
                "error": rec.get("error"),
                "status": "error" if rec.get("error") else ("pass" if rec.get("pass") else "fail"),
                "score": rec.get("score"),
                "group": _group_of(rec),
                "assertions": [
                    {k: a.get(k) for k in ("type", "pass", "score", "reason", "error")}
                    for a in rec.get("assertions") or []
                ],
            }
        )
    counts: dict[str, int] = {}
    for item in items:
        counts[item["group"]] = counts.get(item["group"], 0) + 1

    def order(item: dict[str, Any]) -> tuple[int, int, str]:
        g = item["group"]
        rank = 2 if g == "passed" else (1 if g.startswith("error") else 0)
        return (rank, -counts[g], g)

    items.sort(key=order)  # stable: within a group, the run's order
    for i, item in enumerate(items):
        item["key"] = i
    specs: dict[str, list[Any]] = {}
    for version in {str(i["version"]) for i in items}:
        path = project.version_files(prompt).get(version)
        if path is not None:
            # a version file that no longer loads: no judge outcomes are copied
            with contextlib.suppress(SpecError):
                specs[version] = list(project.load(path).spec.assert_)
    return ReviewSession(
        root=project.root,
        prompt=prompt,
        source=run.id,
        kind="run",
        items=items,
        reviewer=reviewer or _reviewer(project.root),
        specs=specs,
    )


def gold_of(candidates: Path) -> Path:
    name = candidates.name
    if not name.endswith(".candidates.jsonl"):
        raise UsageError(f"{display_path(candidates)}: a candidates file ends in .candidates.jsonl")
    return candidates.with_name(name[: -len(".candidates.jsonl")] + ".jsonl")


def _prompt_of(project: Any, gold: Path) -> str | None:
    for name in project.prompt_names():
        versions = project.version_files(name)
        if not versions:
            continue
        try:
            pv = project.load(list(versions.values())[-1])
        except SpecError:
            continue
        ds = project.dataset_path(pv)
        if ds is not None and ds.resolve() == gold.resolve():
            return str(name)
    return None


def open_candidates(
    project: Any, path: Path, prompt: str | None = None, reviewer: str | None = None
) -> ReviewSession:
    """A candidates file; accepting moves a case into the gold set beside it."""
    from ..datasets import iter_cases

    gold = gold_of(path)
    if not path.is_file():
        raise SpecError.of(path, None, None, "candidates file not found")
    name = prompt or _prompt_of(project, gold)
    if name is None:
        raise UsageError(
            f"no prompt has {display_path(gold)} as its dataset; name it with --prompt"
        )
    items: list[dict[str, Any]] = []
    for case in iter_cases(path):
        spec = case.spec
        output = spec.metadata.get("output")
        output = output if isinstance(output, str) else None
        items.append(
            {
                "key": len(items),
                "case_id": spec.id,
                "version": spec.metadata.get("version"),
                "model": None,
                "vars": spec.vars,
                "expected": spec.expected,
                "output": output,
                "output_hash": output_hash(output),
                "status": "candidate",
                "group": "candidate",
                "metadata": spec.metadata,
                "assertions": [],
                "case": spec.model_dump(mode="json", by_alias=True, exclude_defaults=True),
            }
        )
    return ReviewSession(
        root=project.root,
        prompt=name,
        source=project.rel(path),
        kind="candidates",
        items=items,
        reviewer=reviewer or _reviewer(project.root),
        gold=gold,
        candidates=path,
    )


def open_review(project: Any, target: str, prompt: str | None = None) -> ReviewSession:
    """A run id (or ``latest``), or a ``*.candidates.jsonl`` file."""
    if target.endswith(".jsonl"):
        path = Path(target)
        return open_candidates(project, path if path.is_absolute() else Path.cwd() / path, prompt)
    return open_run(project, target)
