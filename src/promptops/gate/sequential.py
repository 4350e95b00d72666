"""Sequential comparisons: cases in a seeded order, evaluated in batches, with a look after
each batch at the level an alpha-spending function allows; it stops at the first look that
decides. Driven through the runner's public API (``EvalOptions.cases`` and ``resume``).

``sequential.json`` records the settings the levels were computed for (margin, metric, alpha,
the schedule) and a resume with other settings is refused: a recorded `regression` must not
become `ok` because the margin changed between looks. The look history is append-only: a
resume continues after the last complete look and never rewrites the looks before it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import RunError, UsageError
from .compare import compare_records, finite, overall_verdict

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ..datasets import Case
    from ..eval.runner import EvalOptions, EvalResult
    from ..eval.store import RunDir
    from ..project import Project, PromptVersion

SEQUENTIAL_FILE = "sequential.json"
SPENDING = "Lan-DeMets O'Brien-Fleming-type (Jennison & Turnbull boundaries)"
_FLAGS = {"margin": "--margin", "metric": "--metric", "alpha": "--alpha"}


@dataclass
class Sequential:
    """A group-sequential comparison: cases in a seeded order, evaluated in batches, with a
    look after each batch at the level the alpha-spending function allows; it stops at the
    first look that decides. Stored in the run directory as ``sequential.json``."""

    seed: int
    n_max: int
    sizes: list[int]  # cumulative paired cases at each look
    levels: list[float]  # one-sided level of each bound at each look
    order: list[str]  # case ids in evaluation order
    looks: list[dict[str, Any]] = field(default_factory=list)  # what each look found
    stopped_at: int | None = None  # 1-based look that decided (None: not decided)
    spending: str = SPENDING
    margin: float = 0.02
    metric: str = "score"
    alpha: float = 0.05

    @property
    def looks_done(self) -> int:
        """Complete looks recorded (a look interrupted and taken again counts once)."""
        return len({int(x.get("look", 0)) for x in self.looks if x.get("complete", True)})

    @property
    def last_level(self) -> float | None:
        """The level of the latest look (the one the result is read at)."""
        if self.stopped_at is not None:
            return self.levels[self.stopped_at - 1]
        if not self.looks:
            return None
        return self.levels[int(self.looks[-1].get("look", 1)) - 1]

    def settings(self) -> dict[str, Any]:
        """What the looks' levels and verdicts depend on; a resume must match them."""
        return {"margin": self.margin, "metric": self.metric, "alpha": self.alpha}

    @property
    def cases_used(self) -> int:
        if self.stopped_at is not None:
            return self.sizes[self.stopped_at - 1]
        return max((int(x.get("cases", 0)) for x in self.looks), default=0)

    def to_json(self) -> dict[str, Any]:
        return {
            "margin": self.margin,
            "metric": self.metric,
            "alpha": self.alpha,
            "seed": self.seed,
            "n_max": self.n_max,
            "sizes": self.sizes,
            "levels": self.levels,
            "spending": self.spending,
            "looks": self.looks,
            "stopped_at": self.stopped_at,
            "cases_used": self.cases_used,
            "order": self.order,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str = SEQUENTIAL_FILE) -> Sequential:
        """Strict: a file without its settings (written before they were recorded) or with
        a malformed field is refused, naming the field."""
        missing = [
            k
            for k in ("margin", "metric", "alpha", "seed", "sizes", "levels", "order")
            if k not in data
        ]
        if missing:
            raise RunError(
                f"{where}: {', '.join(missing)}: not recorded, so a resume cannot be checked "
                "against the settings it started with; start a new sequential run"
            )
        try:
            seq = cls(
                int(data["seed"]),
                int(data["n_max"]),
                [int(x) for x in data["sizes"]],
                [float(x) for x in data["levels"]],
                [str(x) for x in data["order"]],
                [dict(x) for x in data.get("looks") or []],
                None if data.get("stopped_at") is None else int(data["stopped_at"]),
                str(data.get("spending") or SPENDING),
                float(data["margin"]),
                str(data["metric"]),
                float(data["alpha"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise RunError(f"{where}: malformed ({e})") from None
        if len(seq.sizes) != len(seq.levels) or not seq.sizes:
            raise RunError(f"{where}: sizes and levels: the schedule does not match")
        return seq


def seeded_order(ids: list[str], seed: int) -> list[str]:
    """Case ids in a seeded order that does not depend on file order (sha256 of seed and id)."""
    import hashlib

    return sorted(ids, key=lambda c: hashlib.sha256(f"{seed}:{c}".encode()).hexdigest())


def _case_ids(
    project: Project, pv_a: PromptVersion, pv_b: PromptVersion, opts: EvalOptions
) -> list[str]:
    """The ids of the cases a diff evaluates (B's dataset or the shared inline tests)."""
    from ..datasets import inline_cases, iter_cases, select

    if opts.tests:
        ids_a = {c.id for c in inline_cases(pv_a)}
        source: Iterator[Case] = (c for c in inline_cases(pv_b) if c.id in ids_a)
    else:
        path = project.dataset_path(pv_b, opts.dataset)
        if path is None or not path.is_file():
            raise UsageError(f"{pv_b.ref}: no dataset to draw sequential batches from")
        source = iter_cases(path, pv_b)
    return [c.id for c in select(source, opts.filter, opts.limit, opts.shard)]


def run_sequential(
    project: Project,
    pv_a: PromptVersion,
    pv_b: PromptVersion,
    opts: EvalOptions,
    looks: int,
    resume: str | None,
    seed: int,
    alpha: float,
    margin: float,
    metric: str,
    split: Callable[[RunDir], tuple[list[dict[str, Any]], list[dict[str, Any]]]],
    on_start: Callable[[int, RunDir], None] | None,
    on_record: Callable[[dict[str, Any]], None] | None,
    command: str,
) -> tuple[Sequential, EvalResult]:
    """Evaluate seeded batches, look after each, stop at the first decided look."""
    from dataclasses import replace

    from ..eval.runner import run_eval
    from ..eval.store import find_run
    from . import statistics as gatestats

    run_id: str | None = None
    if resume is not None:
        run = find_run(project.runs_dir, resume)
        path = run.path / SEQUENTIAL_FILE
        if not path.is_file():
            raise UsageError(f"run {run.id} is not a sequential comparison (no {SEQUENTIAL_FILE})")
        digests = {r.get("digest") for r in run.meta().get("refs", [])}
        if digests != {pv_a.digest, pv_b.digest}:
            raise UsageError(
                f"run {run.id} compared other prompt versions; resume it with the same A and B"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise RunError(f"{path}: cannot read: {e}") from None
        if not isinstance(data, dict):
            raise RunError(f"{path}: expected a JSON object")
        seq = Sequential.from_json(data, str(path))
        now = {"margin": margin, "metric": metric, "alpha": alpha}
        changed = [
            f"{_FLAGS[k]} {seq.settings()[k]:g} (now {now[k]:g})"
            if isinstance(now[k], float)
            else f"{_FLAGS[k]} {seq.settings()[k]} (now {now[k]})"
            for k in now
            if seq.settings()[k] != now[k]
        ]
        if changed:
            raise RunError(
                f"run {run.id} was started with {', '.join(changed)}; its looks were "
                "taken at those settings, so resume it with the same ones (or start a new run)"
            )
        run_id = run.id

    else:
        if looks < 1:
            raise UsageError("--sequential needs at least 1 look")
        order = seeded_order(_case_ids(project, pv_a, pv_b, opts), seed)
        if not order:
            raise UsageError(f"{pv_b.ref}: no cases to compare")
        sizes = gatestats.look_sizes(len(order), looks)
        levels = gatestats.look_levels(sizes, alpha / 2)
        seq = Sequential(
            seed, len(order), sizes, levels, order, margin=margin, metric=metric, alpha=alpha
        )
    done = [int(x.get("look", 0)) for x in seq.looks if x.get("complete", True)]
    first = max(done, default=0) + 1 if seq.stopped_at is None else seq.stopped_at
    result = None
    for k, (size, level) in enumerate(zip(seq.sizes, seq.levels, strict=True), start=1):
        if k < first:
            continue  # recorded: the history is append-only
        batch = replace(opts, cases=seq.order[:size])
        result = run_eval(
            project,
            [pv_a, pv_b],
            batch,
            on_start=on_start,
            on_record=on_record,
            resume=run_id,
            command=command,
        )
        run_id = result.run.id
        comps = compare_records(
            *split(result.run), metric=metric, margin=margin, seed=seed, alpha=alpha, level=level
        )
        verdict = overall_verdict(comps)
        if seq.stopped_at is not None:
            break  # decided before: the resume only re-reads its cases, nothing is appended
        complete = result.status == "complete"
        seq.looks.append(
            {
                "look": k,
                "cases": size,
                "level": level,
                "verdict": verdict,
                "complete": complete,
                "intervals": {c.model: [c.ci_low, c.ci_high] for c in comps},
                "p_values": {c.model: c.p_value for c in comps},
            }
        )
        decided = verdict in ("regression", "ok") and complete
        if decided:
            seq.stopped_at = k
        result.run.write_json(result.run.path / SEQUENTIAL_FILE, finite(seq.to_json()))
        if decided or not complete:
            break
    if result is None:  # every look was taken before: re-read the last batch, no new calls
        size = seq.cases_used or seq.sizes[-1]
        result = run_eval(
            project,
            [pv_a, pv_b],
            replace(opts, cases=seq.order[:size]),
            on_start=on_start,
            on_record=on_record,
            resume=run_id,
            command=command,
        )
    return seq, result


def sequential_note(seq: Sequential) -> str:
    where = (
        f"stopped at look {seq.stopped_at} of {len(seq.sizes)}"
        if seq.stopped_at is not None
        else f"ran all {len(seq.sizes)} looks without a decision"
        if seq.looks_done == len(seq.sizes)
        else f"interrupted after look {seq.looks_done} of {len(seq.sizes)}"
    )
    return (
        f"sequential: {where}, {seq.cases_used} of {seq.n_max} cases "
        f"(looks at {', '.join(map(str, seq.sizes))}; seed {seq.seed})"
    )
