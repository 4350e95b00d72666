"""The judge on a seeded sample of production records (``--judge-sample N --seed S``).

Judging every production call would cost as much as serving it, so ``canary analyze`` and
``shadow analyze`` draw a seeded random sample of the records that carry captured content
(``capture_content=True``) and score each answer with the prompt's model-graded assertions
(``llm-rubric``, ``g-eval``, ...), whose judge is pinned in the prompt file, through the same
Caller the eval runner uses (response cache, retries). Both arms are measured with the same
ruler: the candidate's (canary or shadow) model-graded assertions, else the stable version's.

The sample depends only on the seed and the set of records (they are ordered by trace id
first), so re-running the analysis on the same records judges the same calls, and the
response cache answers those again for free. A judge call that fails leaves its record out
(never a zero score: a broken judge must not look like a bad answer) and is counted.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import PromptOpsError, RegistryError
from ..project import Project, PromptVersion, load_prompt
from ..runtime.records import CallRecord
from ..spec import AssertionSpec


class JudgeSample(BaseModel):
    """What the judge scored: the sample, the ruler, and what could not be judged."""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(description="Seed of the sample.")
    size: int = Field(description="Records asked for (per arm for canary, pairs for shadow).")
    assertions: list[str] = Field(description="The model-graded assertions used, with judges.")
    ruler: str = Field(description="Version whose model-graded assertions scored both arms.")
    without_content: int = Field(
        description="Records left out: no captured content (record with capture_content=True) "
        "or answered by a block guard."
    )
    sampled: dict[str, list[str]] = Field(description="Trace ids sampled, per arm.")
    failed: int = Field(0, description="Sampled records whose judge call failed (left out).")
    scores: dict[str, float | None] = Field(
        default_factory=dict, description="Mean judged score per arm."
    )


def pinned_version(project: Project, name: str, version: str, digest: str) -> PromptVersion:
    """The prompt file registry.yaml promoted, refused when it changed since."""
    path = project.version_files(name).get(version)
    if path is None:
        raise RegistryError(f"{name} {version}: no file in {project.prompts_dir}")
    pv = load_prompt(path)
    if pv.digest != digest:
        raise RegistryError(f"{name} {version} changed since it was promoted; restore it")
    return pv


def graded_specs(
    project: Project, *versions: PromptVersion
) -> tuple[PromptVersion, list[AssertionSpec]]:
    """The first version (candidate first) with model-graded assertions, and those; refused
    (CalibrationError) when that version requires calibrated judges (``judge:``) and its
    judges are not, as ``eval`` and ``promote`` refuse their verdicts."""
    from ..assertions import REGISTRY
    from ..quality.calibrate import require_calibrated

    for pv in versions:
        specs = [a for a in pv.spec.assert_ if _graded(REGISTRY, a)]
        if specs:
            require_calibrated(project, pv, "--judge-sample")
            return pv, specs
    names = " and ".join(f"{pv.spec.name} {pv.version}" for pv in versions)
    raise RegistryError(
        f"--judge-sample: {names} declare no model-graded assertion (llm-rubric, g-eval, ...); "
        "nothing to judge with"
    )


def _graded(registry: Any, a: AssertionSpec) -> bool:
    t = registry.get(a.base_type)
    return bool(t is not None and t.model_graded)


def has_content(c: CallRecord) -> bool:
    """A model's answer with its inputs captured (a block guard's reply is not the model's)."""
    return c.output is not None and c.vars is not None and not c.blocked


def draw(records: list[CallRecord], n: int, seed: int) -> list[CallRecord]:
    """A seeded sample of n records (all when fewer), independent of the records' order."""
    ordered = sorted(records, key=lambda c: (c.trace_id, c.time, c.arm))
    if len(ordered) <= n:
        return ordered
    return random.Random(seed).sample(ordered, n)


def no_content_error(name: str, env: str, total: int) -> RegistryError:
    return RegistryError(
        f"--judge-sample: none of the {total} records of {name} in {env} carry content, so "
        "none can be judged; record them with Registry.load(..., capture_content=True)"
    )


class _Judge:
    """The judge callable of model-graded assertions: temperature 0, through the Caller."""

    def __init__(self, caller: Any) -> None:
        self.caller = caller

    async def __call__(self, model: str, messages: list[dict[str, str]]) -> str:
        out = await self.caller.complete(model, messages, {"temperature": 0})
        if not out.ok:
            raise PromptOpsError(f"judge {model} failed: {out.error}")
        return str(out.completion.text)


def _messages(c: CallRecord) -> list[dict[str, str]]:
    try:
        data = json.loads(c.input or "[]")
    except json.JSONDecodeError:
        return []
    return [m for m in data if isinstance(m, dict)] if isinstance(data, list) else []


def judge_records(
    project: Project,
    specs: list[AssertionSpec],
    groups: dict[str, list[CallRecord]],
    concurrency: int = 8,
) -> dict[str, list[float | None]]:
    """Each record's weighted judged score (None: the judge failed on it), per group, in order;
    one event loop, the project's response cache, the providers' pools closed at the end."""
    from ..assertions import AssertionContext, run_assertions
    from ..cache import ResponseCache
    from ..providers.base import aclose_all
    from ..providers.retry import Caller

    async def every() -> dict[str, list[float | None]]:
        cache = ResponseCache(project.cache_dir)
        judge = _Judge(Caller(cache=cache, concurrency=concurrency))
        gate = asyncio.Semaphore(concurrency)

        async def one(c: CallRecord) -> float | None:
            ctx = AssertionContext(
                output=c.output or "",
                vars=dict(c.vars or {}),
                messages=_messages(c),
                judge=judge,
                project_root=str(project.root),
                case_id=c.trace_id,
            )
            async with gate:
                verdict = await run_assertions(specs, ctx, None)
            return None if verdict.error is not None else verdict.score

        try:
            return {
                k: list(await asyncio.gather(*(one(c) for c in recs))) for k, recs in groups.items()
            }
        finally:
            await aclose_all()
            await cache.aclose()

    return asyncio.run(every())


def describe(specs: list[AssertionSpec]) -> list[str]:
    return [f"{a.type} (judge {a.judge})" if a.judge else a.type for a in specs]
