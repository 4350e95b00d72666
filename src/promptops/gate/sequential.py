"""Sequential comparisons: cases in a seeded order, evaluated in batches, with a look after
each batch at the level an alpha-spending function allows; it stops at the first look that
decides. Driven through the runner's public API (``EvalOptions.cases`` and ``resume``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from .compare import compare_records, finite, overall_verdict

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ..datasets import Case
    from ..eval.runner import EvalOptions, EvalResult
    from ..eval.store import RunDir
    from ..project import Project, PromptVersion

SEQUENTIAL_FILE = "sequential.json"


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
    spending: str = "Lan-DeMets O'Brien-Fleming-type (Jennison & Turnbull boundaries)"

    @property
    def cases_used(self) -> int:
        return self.sizes[len(self.looks) - 1] if self.looks else 0

    def to_json(self) -> dict[str, Any]:
        return {
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
    def from_json(cls, data: dict[str, Any]) -> Sequential:
        return cls(
            int(data["seed"]),
            int(data["n_max"]),
            [int(x) for x in data["sizes"]],
            [float(x) for x in data["levels"]],
            [str(x) for x in data["order"]],
            list(data.get("looks") or []),
            data.get("stopped_at"),
        )


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
        seq = Sequential.from_json(json.loads(path.read_text(encoding="utf-8")))
        seq.looks, seq.stopped_at = [], None  # replayed: finished cases are not called again
        run_id = run.id
    else:
        if looks < 1:
            raise UsageError("--sequential needs at least 1 look")
        order = seeded_order(_case_ids(project, pv_a, pv_b, opts), seed)
        if not order:
            raise UsageError(f"{pv_b.ref}: no cases to compare")
        sizes = gatestats.look_sizes(len(order), looks)
        seq = Sequential(seed, len(order), sizes, gatestats.look_levels(sizes, alpha / 2), order)
    result = None
    for k, (size, level) in enumerate(zip(seq.sizes, seq.levels, strict=True), start=1):
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
        seq.looks.append(
            {
                "look": k,
                "cases": size,
                "level": level,
                "verdict": verdict,
                "intervals": {c.model: [c.ci_low, c.ci_high] for c in comps},
            }
        )
        decided = verdict in ("regression", "ok") and result.status == "complete"
        if decided:
            seq.stopped_at = k
        result.run.write_json(result.run.path / SEQUENTIAL_FILE, finite(seq.to_json()))
        if decided or result.status != "complete":
            break
    assert result is not None
    return seq, result


def sequential_note(seq: Sequential) -> str:
    where = (
        f"stopped at look {seq.stopped_at} of {len(seq.sizes)}"
        if seq.stopped_at is not None
        else f"ran all {len(seq.sizes)} looks without a decision"
        if len(seq.looks) == len(seq.sizes)
        else f"interrupted after look {len(seq.looks)} of {len(seq.sizes)}"
    )
    return (
        f"sequential: {where}, {seq.cases_used} of {seq.n_max} cases "
        f"(looks at {', '.join(map(str, seq.sizes))}; seed {seq.seed})"
    )
