"""The eval loop: every (version, model, case, repeat) rendered, called, checked and recorded.

Asyncio with a bounded number of workers pulling from a lazily filled queue, so a dataset of
any size runs in bounded memory. Records are appended as they finish; an interrupted run keeps
them and ``resume`` skips them. The runner never prints: callers pass ``on_record``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..aio import cancelling
from ..datasets import Case, file_digest, inline_cases, iter_cases, select
from ..errors import PromptOpsError, RenderError, RunError, SpecError, Terminated, UsageError
from ..project import Project, PromptVersion
from ..redact import redact_obj
from ..render import bind_inputs, render_bound
from ..toolcalls import call_params, parse_calls
from .records import SCHEMA_VERSION, RunSpec, Summary
from .store import RunDir, checked_records, find_run, latest_records
from .summary import Tally, build_summary, group_label, record_key, summarize
from .supervise import SigTerm, Stop, describe, run_all

if TYPE_CHECKING:
    from ..providers.breaker import Breaker


@dataclass
class EvalOptions:
    """Everything ``promptops eval`` can be asked (the CLI maps its flags onto this)."""

    models: list[str] = field(default_factory=list)
    dataset: str | None = None
    tests: bool = False
    concurrency: int = 8
    repeat: int = 1
    max_cost: float | None = None
    timeout: float | None = None  # seconds per call; None: the provider's default
    retries: int = 3
    use_cache: bool = True
    filter: str | None = None
    limit: int | None = None
    shard: tuple[int, int] | None = None
    api_base: str | None = None
    fail_under: float | None = None
    cases: list[str] | None = None  # only these case ids (a sequential look's batch)
    batch: bool = False  # uncached calls through the provider's batch API (eval/batch.py)
    batch_poll: float = 5.0  # seconds before the first batch poll (then 1.5x, up to 60 s)

    def check(self) -> None:
        if self.concurrency < 1:
            raise UsageError("--concurrency must be at least 1")
        if self.repeat < 1:
            raise UsageError("--repeat must be at least 1")
        if self.retries < 0:
            raise UsageError("--retries must be 0 or more")
        if self.timeout is not None and self.timeout <= 0:
            raise UsageError("--timeout must be positive")
        if self.limit is not None and self.limit < 1:
            raise UsageError("--limit must be at least 1")
        if self.fail_under is not None and not 0 <= self.fail_under <= 1:
            raise UsageError("--fail-under is a pass rate between 0 and 1")
        if self.max_cost is not None and self.max_cost < 0:
            raise UsageError("--max-cost must be 0 or more")
        if self.batch_poll <= 0:
            raise UsageError("--batch-poll must be positive")
        if self.shard is not None:
            k, n = self.shard
            if not (n >= 1 and 1 <= k <= n):
                raise UsageError(f"--shard {k}/{n}: expected K/N with 1 <= K <= N")


@dataclass
class Target:
    """One (prompt version, model) column of the matrix."""

    pv: PromptVersion
    model: str
    dataset: Path | None  # None: the prompt's inline tests
    api_base: str | None
    fallbacks: list[str]
    provider: str | None = None  # the model block's explicit choice ("litellm"), pinned only


@dataclass
class EvalResult:
    run: RunDir
    summary: dict[str, Any]

    @property
    def status(self) -> str:
        return str(self.summary["status"])

    @property
    def met_bar(self) -> bool:
        return bool(self.summary["bar"]["met"])

    @property
    def stop_reason(self) -> str | None:
        """Why the run stopped early on a configuration error (None: it did not)."""
        reason = self.summary.get("stop_reason")
        return str(reason) if reason else None


def new_run_id(label: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in ".-" else "-" for c in label)[:40]
    return f"{stamp}-{safe}-{secrets.token_hex(2)}"


def _targets(project: Project, versions: list[PromptVersion], opts: EvalOptions) -> list[Target]:
    out = []
    for pv in versions:
        if opts.tests:
            ds = None
            if not pv.spec.tests:
                raise UsageError(f"{pv.ref} has no inline tests")
        else:
            ds = project.dataset_path(pv, opts.dataset)
            if ds is None:
                if not pv.spec.tests:
                    raise UsageError(
                        f"{pv.ref} has no dataset and no inline tests; pass --dataset FILE"
                    )
            elif not ds.is_file():
                raise PromptOpsError(f"{project.rel(ds)}: dataset not found (from {pv.ref})")
        models = opts.models or [pv.spec.model.id]
        for m in models:
            pinned = m == pv.spec.model.id
            api_base = opts.api_base or (pv.spec.model.api_base if pinned else None)
            via = pv.spec.model.provider if pinned and pv.spec.model.provider != "auto" else None
            fallbacks = list(pv.spec.fallbacks) if pinned else []
            out.append(Target(pv, m, ds, api_base, fallbacks, via))
    return out


def _preflight(project: Project, versions: list[PromptVersion], opts: EvalOptions) -> None:
    """Lint's errors for these versions stop the run before any call, and nothing is recorded."""
    from ..lint import preflight

    problems = preflight(project, versions, opts.models, opts.api_base)
    if problems:
        raise SpecError("\n".join(str(p) for p in problems), problems)


def _cases(t: Target, opts: EvalOptions) -> Iterator[Case]:
    source = iter_cases(t.dataset, t.pv) if t.dataset is not None else inline_cases(t.pv)
    picked = select(source, opts.filter, opts.limit, opts.shard)
    if opts.cases is not None:
        keep = set(opts.cases)
        return (c for c in picked if c.id in keep)
    return picked


def _validate(targets: list[Target], opts: EvalOptions) -> int:
    """Stream every dataset once before starting: a bad line stops the run here. Returns units."""
    total = 0
    counted: dict[tuple[str, str], int] = {}
    for t in targets:
        key = (t.pv.digest, str(t.dataset))
        if key not in counted:
            counted[key] = sum(1 for _ in _cases(t, opts))
        total += counted[key] * opts.repeat
    return total


def _messages_hash(messages: list[dict[str, Any]]) -> str:
    blob = json.dumps(messages, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


class _Budget:
    def __init__(self, limit: float | None) -> None:
        self.limit = limit
        self.spent = 0.0

    @property
    def exhausted(self) -> bool:
        return self.limit is not None and self.spent >= self.limit


class RunJudge:
    """The judge callable of model-graded assertions for one unit: temperature 0, through the
    run's Caller (cache, retries), costs counted against the budget.

    ``judges`` is the run's breaker for judge models (apart from the evaluated models': the
    same id may be both): a judge whose first calls all fail with one configuration error (a
    missing or rejected key, an unknown model) is stopped like an evaluated model, and the run
    with it. A unit that asked a stopped judge is ``refused``: it is not recorded (resume runs
    it)."""

    def __init__(self, caller: Any, budget: _Budget, judges: Breaker | None = None) -> None:
        self.caller = caller
        self.budget = budget
        self.judges = judges
        self.refused = False
        self.failed = False  # a judge call got no answer: the case is not judged, resume reruns it

    async def __call__(self, model: str, messages: list[dict[str, str]]) -> str:
        if self.judges is None:
            out = await self._call(model, messages)
        else:
            # a place at the judge's probe gate, taken before its first call (none when the
            # cache answers) and kept until the call is observed
            from ..providers.breaker import Stopped

            ticket = self.judges.ticket(model)
            try:
                if self.judges.stopped(model):
                    raise Stopped
                out = await self._call(model, messages, ticket)
                comp = out.completion
                self.judges.observe(
                    model,
                    {
                        "error": out.error,
                        "error_kind": out.error_kind,
                        "hint": out.hint,
                        "attempts": out.attempts,
                        "cached": comp is not None and comp.cached,
                    },
                )
            except Stopped:
                self.refused = True
                raise PromptOpsError(f"judge {model} stopped: its setup is wrong") from None
            finally:
                ticket.release()
        if not out.ok:
            self.failed = True
            raise PromptOpsError(f"judge {model} failed: {out.error}")
        if not out.completion.cached and out.completion.cost:
            self.budget.spent += out.completion.cost
        return str(out.completion.text)

    async def _call(
        self,
        model: str,
        messages: list[dict[str, str]],
        before_call: Callable[[], Awaitable[None]] | None = None,
    ) -> Any:
        return await self.caller.complete(
            model, messages, {"temperature": 0}, None, 0, before_call=before_call
        )


async def _evaluate_unit(
    project: Project,
    caller: Any,
    t: Target,
    case: Case,
    repeat: int,
    budget: _Budget,
    judges: Breaker | None = None,
    before_call: Callable[[], Awaitable[None]] | None = None,
) -> dict[str, Any] | None:
    """One unit's record; None when a judge it needed was stopped (not recorded)."""
    judge = RunJudge(caller, budget, judges)
    rec = await _unit_record(project, caller, t, case, repeat, budget, judge, before_call)
    if judge.refused:
        return None
    if judge.failed:
        rec["judge_failed"] = True
    return rec


async def _unit_record(
    project: Project,
    caller: Any,
    t: Target,
    case: Case,
    repeat: int,
    budget: _Budget,
    judge: RunJudge,
    before_call: Callable[[], Awaitable[None]] | None,
) -> dict[str, Any]:
    from ..assertions import AssertionContext, run_assertions

    pv = t.pv
    rec: dict[str, Any] = {  # a promptops.eval.records.CaseRecord (not validated: the hot path)
        "schema_version": SCHEMA_VERSION,
        "case_id": case.id,
        "prompt": pv.name,
        "version": pv.version,
        "digest": pv.digest,
        "model": t.model,
        "repeat": repeat,
        "trace_id": uuid.uuid4().hex,
        "vars": case.spec.vars,
        "expected": case.spec.expected,
        "error": None,
        "error_kind": None,
    }
    try:
        bound = bind_inputs(pv, case.spec.vars, where=f"{case.source}:{case.line}")
        messages = render_bound(pv, bound)
    except RenderError as e:
        return rec | {"error": e.message, "error_kind": "render", "pass": False, "score": 0.0}
    rec["messages_hash"] = _messages_hash(messages)
    if case.spec.turns:
        from .conversation import run_turns

        return await run_turns(
            rec, messages, bound, project, caller, t, case, repeat, budget, judge, before_call
        )
    outcome = await caller.complete(
        t.model,
        messages,
        call_params(pv, t.model),
        t.api_base,
        repeat,
        t.fallbacks,
        before_call=before_call,
        provider=t.provider,
    )
    rec["attempts"] = outcome.attempts
    if not outcome.ok:
        return rec | {
            "error": outcome.error,
            "error_kind": outcome.error_kind,
            "hint": outcome.hint,
            "pass": False,
            "score": 0.0,
            "output": None,
        }
    comp = outcome.completion
    if not comp.cached and comp.cost:
        budget.spent += comp.cost
    rec.update(
        {
            "answered_by": comp.model,
            "output": comp.text,
            "latency_ms": round(comp.latency_ms, 3),
            "tokens_in": comp.tokens_in,
            "tokens_out": comp.tokens_out,
            "cost": comp.cost,
            "cached": comp.cached,
            "finish_reason": comp.finish_reason,
        }
    )
    tool_calls = parse_calls(comp.tool_calls)
    if tool_calls:
        rec["tool_calls"] = tool_calls

    ctx = AssertionContext(
        output=comp.text,
        vars=bound,
        expected=case.spec.expected,
        metadata=case.spec.metadata,
        messages=messages,
        output_format=pv.spec.output.format,
        output_schema=pv.spec.output.json_schema,
        latency_ms=comp.latency_ms,
        cost=comp.cost,
        judge=judge,
        project_root=str(pv.code_root or project.root),
        case_id=case.id,
        tool_calls=tool_calls,
        tools=pv.spec.tool_params().get("tools", []),
        finish_reason=comp.finish_reason,
    )
    threshold = case.spec.threshold if case.spec.threshold is not None else pv.spec.threshold
    verdict = await run_assertions([*pv.spec.assert_, *case.spec.assert_], ctx, threshold)
    if (scoring := case.spec.scoring or pv.spec.scoring) is not None:
        from ..assertions.suite import scored

        verdict = await scored(verdict, scoring, ctx, threshold)
    rec.update(verdict.record_fields())
    return rec


def _check_resumable(
    project: Project, run: RunDir, meta: dict[str, Any], targets: list[Target]
) -> None:
    """Refuse to resume when a prompt or dataset differs from when the run started: its
    records would mix old and new cases under one summary."""
    then = (meta.get("provenance") or {}).get("datasets") or {}
    prompts = {r.get("ref"): r.get("digest") for r in meta.get("refs") or []}
    for t in targets:
        if t.pv.ref in prompts and prompts[t.pv.ref] != t.pv.digest:
            raise RunError(
                f"{project.rel(t.pv.path)} changed since run {run.id} started; "
                f"start a new run instead of resuming"
            )
        if t.dataset is None:
            continue
        rel = project.rel(t.dataset)
        now = file_digest(t.dataset)
        if then.get(rel) != now:
            was = str(then.get(rel) or "not used")[:19]
            raise RunError(
                f"{rel} changed since run {run.id} started ({was}... then, {now[:19]}... now); "
                f"its records would mix old and new cases: start a new run instead of resuming"
            )


def _provenance(project: Project, targets: list[Target]) -> dict[str, Any]:
    from ..gitops import revision

    prompts = {t.pv.ref: {"digest": t.pv.digest, "file": project.rel(t.pv.path)} for t in targets}
    datasets = {}
    for t in targets:
        if t.dataset is not None:
            datasets[project.rel(t.dataset)] = file_digest(t.dataset)
    models: dict[str, Any] = {}
    from ..providers import get_provider

    for t in targets:
        try:
            models[t.model] = get_provider(t.model).identity(t.model)
        except PromptOpsError as e:
            models[t.model] = {"error": e.message}
    return {
        "git": revision(project.root),
        "prompts": prompts,
        "datasets": datasets,
        "models": models,
        "promptops_version": __version__,
        "python": sys.version.split()[0],
    }


def _fail_under(targets: list[Target], opts: EvalOptions) -> dict[str, float]:
    """The bar per group: ``--fail-under``, else the version's ``fail_under``, else 1.0."""
    need: dict[str, float] = {}
    for t in targets:
        bar = opts.fail_under if opts.fail_under is not None else t.pv.spec.fail_under
        need[group_label(t.pv.name, t.pv.version, t.model)] = 1.0 if bar is None else bar
    return need


async def arun_eval(
    project: Project,
    versions: list[PromptVersion],
    opts: EvalOptions,
    *,
    on_start: Callable[[int, RunDir], None] | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    resume: str | None = None,
    command: str = "",
    on_batch: Callable[[Any], None] | None = None,
) -> EvalResult:
    """Run an eval (or resume one) and return its summary. Raises before starting on bad input."""
    from ..cache import ResponseCache
    from ..providers import Caller
    from ..providers.base import aclose_all
    from ..providers.breaker import Breaker, Stopped, stop_reason

    opts.check()
    _preflight(project, versions, opts)
    targets = _targets(project, versions, opts)
    if opts.batch:
        from .batch import check_batchable

        check_batchable(targets, opts)
    total = _validate(targets, opts)
    repairs: list[str] = []
    derived = {
        (t.pv.name, t.pv.version): [(d.name, d.value) for d in t.pv.spec.derived_metrics]
        for t in targets
        if t.pv.spec.derived_metrics
    }
    tally = Tally(derived)  # the summary's groups, kept as records are written
    if resume is not None:
        run = find_run(project.runs_dir, resume)
        meta = run.meta()
        _check_resumable(project, run, meta, targets)
        cut = run.repair()
        if cut:
            repairs.append(
                f"{project.rel(run.results_path)}: dropped a torn last line ({cut} bytes, "
                f"a write cut off by a crash); its case is run again"
            )
        done = set()
        for r in checked_records(run.results_path):
            if not r.get("error") and not r.get("judge_failed"):
                done.add(record_key(r))
                tally.add(r)
            else:  # run again; counts until its new record is written
                tally.carry(r)
    else:
        label = "+".join(dict.fromkeys(f"{v.name}-{v.version}" for v in versions))
        run = RunDir(project.runs_dir / new_run_id(label))
        done = set()
        spec = RunSpec.model_validate(
            {
                "schema_version": SCHEMA_VERSION,
                "run_id": run.id,
                "command": command,
                "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "refs": [
                    {"ref": v.ref, "file": project.rel(v.path), "digest": v.digest}
                    for v in versions
                ],
                "options": {**asdict(opts), "shard": list(opts.shard) if opts.shard else None},
                "provenance": _provenance(project, targets),
            }
        )
        meta = run.write_spec(spec)
    cache = ResponseCache(project.cache_dir, batch=32) if opts.use_cache else None
    caller: Any = Caller(
        cache=cache, retries=opts.retries, timeout=opts.timeout, concurrency=opts.concurrency
    )
    # each provider hears the concurrency before its first call (judges on their first call);
    # a setup that cannot work (e.g. a bad slot count) stops the run here, before any call
    caller.prepare(m for t in targets for m in (t.model, *t.fallbacks))
    budget = _Budget(opts.max_cost)
    breaker = Breaker()
    judges = Breaker()  # judge models: a wrong key stops the run in a few calls too
    if on_start:
        on_start(total, run)
    status = "complete"
    fatal: list[str] = []  # why the run stopped early (the first internal error)
    held: set[tuple[str, str, str, int]] = set()  # units a batch left unanswered: not run
    batch_error: PromptOpsError | None = None  # why --batch could not submit or collect
    queue: asyncio.Queue[tuple[Target, Case, int] | None] = asyncio.Queue(
        maxsize=opts.concurrency * 4
    )

    async def produce() -> None:
        nonlocal status
        n = 0
        for t in targets:
            for case in _cases(t, opts):
                n += 1
                if n % 256 == 0:  # skipped cases and a free queue never wait: let SIGTERM in
                    await asyncio.sleep(0)
                if judges.tripped:
                    return
                if breaker.stopped(t.model):
                    break
                for r in range(opts.repeat):
                    if budget.exhausted:
                        status = "budget"
                        return
                    if (t.pv.digest, t.model, case.id, r) in done:
                        if on_record:
                            on_record({"skipped": True, "case_id": case.id})
                        continue
                    if (t.pv.digest, t.model, case.id, r) in held:
                        continue
                    await queue.put((t, case, r))

    async def work() -> None:
        while True:
            if cancelling():  # a cancellation swallowed on the way (a plugin): leave now
                raise asyncio.CancelledError
            item = await queue.get()
            if item is None:
                return
            t, case, r = item
            if breaker.stopped(t.model) or judges.tripped:
                continue  # its setup is wrong: not run, not recorded (resume runs it)
            # its place at the model's probe gate, taken before its first call (none when
            # the cache answers) and kept until the unit is observed
            ticket = breaker.ticket(t.model)
            try:
                try:
                    rec = await _evaluate_unit(project, caller, t, case, r, budget, judges, ticket)
                    if rec is None:  # a judge it asked was stopped: not recorded
                        continue
                    breaker.observe(t.model, rec)
                finally:
                    ticket.release()
                run.append(rec)
                tally.add(rec)
            except Stopped:
                continue  # stopped while it waited at the gate: not recorded either
            except (asyncio.CancelledError, KeyboardInterrupt):
                # Ctrl-C: on 3.11 asyncio turns it into a cancellation; on 3.10 it is raised
                # in whatever runs, here included: either way the run is interrupted
                raise
            except BaseException as e:  # any escape ends the run, loudly
                fatal.append(f"case {case.id} ({case.source}:{case.line}): {describe(e)}")
                raise Stop from None
            if on_record:
                on_record(rec)

    started = time.perf_counter()
    terminated = SigTerm(asyncio.current_task())
    try:
        if opts.batch:  # the batch answers first; the loop records them (eval/batch.py)
            from .batch import BatchPhase

            phase = BatchPhase(
                project, run, targets, opts, caller, done, lambda t: _cases(t, opts), on_batch
            )
            phase.resuming = resume is not None
            try:
                caller = await phase.run()
            except PromptOpsError as e:  # the provider refused or failed: not an internal error
                batch_error = e
                fatal.append(e.message)
                raise Stop from None
            held = phase.held
        await run_all(produce, work, opts.concurrency, queue, fatal)
        await aclose_all()
        if held:
            status = "incomplete"
            fatal.append(phase.held_message())
    except Stop:
        status = "error"
    except (asyncio.CancelledError, KeyboardInterrupt):
        status = "interrupted"
        if not terminated():
            raise
    except Exception as e:  # from the producer: reading cases, a dataset that changed mid-run
        status = "error"
        fatal.append(describe(e))
    finally:
        terminated.restore()
        # the providers' connection pools of this loop (none left open after a failed run)
        with contextlib.suppress(asyncio.CancelledError):
            await aclose_all()
        run.close()
        if cache is not None:
            try:
                try:  # writes the buffered answers: SQLite work, off the loop
                    await cache.aclose()
                except asyncio.CancelledError:  # a second Ctrl-C: finish the job here
                    cache.close()
            except PromptOpsError as e:  # a full disk: the records are kept, the answers not
                fatal.append(describe(e))
                if status == "complete":
                    status = "error"
        breaker.finish()
        judges.finish()
        stopped = breaker.report() + [s | {"judge": True} for s in judges.report()]
        if stopped and status != "interrupted":
            status = "error"
        order = [group_label(t.pv.name, t.pv.version, t.model) for t in targets]
        if tally.exact:
            groups = tally.groups(order)
        else:  # a record key written twice: the file says which record counts
            groups = summarize(latest_records(run.results_path), order, derived)
        written = sum(g["n"] for g in groups)
        if opts.cases is not None:  # a sequential look: the file may hold later looks' cases
            keep = set(opts.cases)
            written = sum(1 for r in latest_records(run.results_path) if r["case_id"] in keep)
        if status == "complete" and written != total:
            status = "error"
            fatal.append(f"{written} records for {total} planned (cases x models x repeats)")
        summary = build_summary(
            meta,
            status,
            groups,
            _fail_under(targets, opts),
            error=fatal[0] if fatal else None,
            records={"planned": total, "written": written},
            repairs=repairs,
            **({"signal": "SIGTERM"} if terminated() else {}),
            wall_s=time.perf_counter() - started,
            network_calls=caller.calls,
            budget={"max_cost": opts.max_cost, "spent": round(budget.spent, 8)},
        )
        if stopped:
            summary["stop_reason"], summary["stopped"] = stop_reason(stopped), stopped
        summary = redact_obj(summary)  # what is shown equals what is stored: no secrets
        unwritten = None  # why summary.json could not be written (a full disk)
        try:
            summary = run.write_summary(Summary.model_validate(summary))
        except (PromptOpsError, OSError) as e:
            unwritten = describe(e)
    kept = f"{written} of {total} records kept in run {run.id}"
    resume_it = f"promptops eval --resume {run.id}"
    if terminated():
        no_summary = f" (no summary: {unwritten})" if unwritten else ""
        raise Terminated(f"terminated (SIGTERM): {kept}{no_summary}; finish it with: {resume_it}")
    if unwritten is not None:  # nothing is marked: say what is on disk and what to do
        cause = f"{fatal[0]}; " if fatal else ""
        raise RunError(
            f"eval stopped: {cause}its summary could not be written ({unwritten}); {kept}, "
            f"without a summary; once there is space, finish it with: {resume_it}"
        )
    if batch_error is not None:  # (its own class: a RunError for a bad batches.json)
        from ..errors import ProviderError

        cls = RunError if isinstance(batch_error, RunError) else ProviderError
        raise cls(
            f"{batch_error.message}; {kept}, marked 'error'; once fixed, finish it with: "
            f"{resume_it}"
        )
    if status == "error" and fatal:  # (a configuration stop has no fatal: see stop_reason)
        raise RunError(
            f"eval stopped with an internal error, run {run.id} is marked 'error': {fatal[0]}"
        )
    return EvalResult(run, summary)


def run_eval(
    project: Project, versions: list[PromptVersion], opts: EvalOptions | None = None, **kwargs: Any
) -> EvalResult:
    """Synchronous wrapper around :func:`arun_eval`."""
    return asyncio.run(arun_eval(project, versions, opts or EvalOptions(), **kwargs))
