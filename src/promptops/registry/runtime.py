"""The runtime API: what an application uses to serve prompts from registry.yaml.

::

    from promptops import Registry

    reg = Registry.load(".")                             # parses registry.yaml only
    p = reg.get("summarize", env="prod", key=user_id)    # stable or canary arm, by key
    messages = p.render(document=text)                   # the CLI's sandboxed renderer
    reply = p.complete(document=text)                    # pinned model, fallbacks, one log record

Loading is cheap: registry.yaml is parsed at ``load``; a prompt file is read, validated and
digest-checked the first time ``get`` needs it, then kept. ``Registry.load(url_or_dir,
refresh=30)`` follows what ``promptops publish`` writes (:mod:`promptops.runtime.source`):
a background thread swaps in each new verified snapshot, and keeps the last good one when
the source is down. Nothing here imports litellm until ``complete`` is called, and
gitpython never.

Canary arms are chosen by ``sha256("{name}:{env}:{key}")`` modulo 10,000 compared with
``weight * 100``: the same key always gets the same arm, in every process and on every
machine, and the share of keys on the canary matches the weight. Without a key each call
draws at random.

``complete`` logs one record per call to the ``promptops.runtime`` logger, with its
attributes in ``record.promptops`` (a dict keyed by OpenTelemetry GenAI semantic-convention
names where one exists, ``promptops.*`` otherwise). API keys are never part of it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ..errors import PromptOpsError, ProviderError, RegistryError, UsageError, display_path
from ..paths import REGISTRY_FILE
from ..project import Project, PromptVersion, load_prompt, short_digest
from ..render import render_messages
from ..runtime.guards import GuardHit, apply, compile_guards, guard_inputs
from ..runtime.loop import _arun, _run
from ..runtime.records import FeedbackRecord
from ..runtime.source import (
    Snapshot,
    SnapshotCache,
    describe,
    fetch,
    is_published,
    read_project,
)
from ..runtime.telemetry import Telemetry, call_record, dumps_messages, now_iso, span_trace_id
from ..spec import Deployment, RegistrySpec
from ..toolcalls import parse_calls

if TYPE_CHECKING:
    from ..providers import Caller, Outcome
    from ..runtime.streaming import AsyncStream, Stream

log = logging.getLogger("promptops.runtime")

Arm = Literal["stable", "canary", "shadow"]
MAX_SHADOW_IN_FLIGHT = 8  # shadow calls beyond this are dropped (counted in shadow_dropped)
BUCKETS = 10_000
T = TypeVar("T")


# --------------------------------------------------------------------------- registry.yaml


def prompt_file(project: Project, name: str, version: str) -> Path | None:
    """The file of one version, found by name without listing the directory when possible."""
    d = project.prompts_dir / name
    for suffix in (".yaml", ".yml"):
        path = d / f"{version}{suffix}"
        if path.is_file():
            return path
    return project.version_files(name).get(version)


# --------------------------------------------------------------------------- canary arms


def bucket(name: str, env: str, key: object) -> int:
    """Stable bucket 0..9999 of a key (independent of Python's hash seed and of the process)."""
    digest = hashlib.sha256(f"{name}:{env}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def choose_arm(name: str, env: str, key: object | None, weight: int) -> Arm:
    """``canary`` for ``weight`` percent of keys; a random draw when there is no key."""
    if weight <= 0:
        return "stable"
    b = random.randrange(BUCKETS) if key is None else bucket(name, env, key)
    return "canary" if b < weight * (BUCKETS // 100) else "stable"


# --------------------------------------------------------------------------- runtime objects


@dataclass(frozen=True)
class _CallStart:
    trace_id: str
    span: Any  # an OpenTelemetry span, or None
    started: str


@dataclass(frozen=True)
class Reply:
    """One model answer with its usage and the metadata to attach to traces and logs."""

    text: str
    usage: dict[str, int | None]
    cost: float | None
    latency_ms: float
    model: str
    trace_id: str
    metadata: dict[str, Any] = field(default_factory=dict)
    # calls the model made (prompts with tools): [{id, name, arguments (parsed), raw}]
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    # guards that triggered on this call (see promptops.runtime.guards), in order
    guards: list[GuardHit] = field(default_factory=list)
    blocked: bool = False  # a block guard answered instead of the model (text is its reply)
    ttft_ms: float | None = None  # streamed calls: time to the model's first chunk


@dataclass(frozen=True)
class ActivePrompt:
    """The version an environment serves to one caller: render it, call it, log with it."""

    name: str
    version: str
    digest: str
    env: str
    arm: Arm
    prompt: PromptVersion = field(repr=False)
    registry: Registry = field(repr=False, compare=False)
    # the version also called in the background for this request (never served), if any
    shadow: PromptVersion | None = field(default=None, repr=False, compare=False)

    @property
    def model(self) -> str:
        return self.prompt.spec.model.id

    @property
    def params(self) -> dict[str, Any]:
        """Sampling parameters plus tools, tool_choice and response_format, as sent."""
        from ..toolcalls import call_params

        return call_params(self.prompt, self.model)

    @property
    def fallbacks(self) -> list[str]:
        return list(self.prompt.spec.fallbacks)

    @property
    def api_base(self) -> str | None:
        return self.registry.api_base or self.prompt.spec.model.api_base

    @property
    def metadata(self) -> dict[str, str]:
        """What to put on every trace span or log line about this prompt."""
        return {
            "promptops.prompt.name": self.name,
            "promptops.prompt.version": self.version,
            "promptops.prompt.digest": self.digest,
            "promptops.env": self.env,
            "promptops.arm": self.arm,
        }

    def render(
        self, vars: Mapping[str, Any] | None = None, /, **values: Any
    ) -> list[dict[str, str]]:
        """Chat messages for these inputs (a dict, keywords, or both; keywords win)."""
        return render_messages(self.prompt, {**(vars or {}), **values})

    def complete(self, vars: Mapping[str, Any] | None = None, /, **values: Any) -> Reply:
        """Render and call the pinned model (fallbacks in order); blocking. The prompt's
        input guards run first (a block answers without calling the model), its output
        guards on the answer.

        Runs on a private event loop thread, so it also works from async code; there,
        prefer ``await acomplete(...)``."""
        call = self._start()
        ready = self._prepare({**(vars or {}), **values}, call)
        if isinstance(ready, Reply):
            return ready
        return _run(self._call(ready[0], call, ready[1], ready[2]))

    async def acomplete(self, vars: Mapping[str, Any] | None = None, /, **values: Any) -> Reply:
        """``complete`` for async code."""
        call = self._start()
        ready = self._prepare({**(vars or {}), **values}, call)
        if isinstance(ready, Reply):
            return ready
        return await _arun(self._call(ready[0], call, ready[1], ready[2]))

    def stream(self, vars: Mapping[str, Any] | None = None, /, **values: Any) -> Stream:
        """``complete``, streamed: an iterator of text chunks, then ``.reply`` (see
        :mod:`promptops.runtime.streaming`, which also says how guards apply)."""
        from ..runtime.streaming import Stream, start

        return Stream(start(self, {**(vars or {}), **values}, Reply))

    def astream(self, vars: Mapping[str, Any] | None = None, /, **values: Any) -> AsyncStream:
        """``stream`` for async code: ``async for chunk in p.astream(...)``."""
        from ..runtime.streaming import AsyncStream, start

        return AsyncStream(start(self, {**(vars or {}), **values}, Reply))

    def _start(self) -> _CallStart:
        """The call's span (started in the caller's thread, under its parent) and trace id."""
        span = self.registry.telemetry.start_span(self.model)
        return _CallStart(span_trace_id(span) or _trace_id(), span, now_iso())

    def _finish(
        self,
        call: _CallStart,
        attrs: dict[str, Any],
        messages: list[dict[str, str]] | None,
        output: str | None,
        error: str | None = None,
        values: dict[str, Any] | None = None,
    ) -> None:
        """The span's attributes and end, and the JSONL record (content only when asked)."""
        tel = self.registry.telemetry
        if messages is not None and tel.capture_content:
            attrs["gen_ai.input.messages"] = tel.content(dumps_messages(messages))
            if values is not None:
                attrs["promptops.content.vars"] = tel.content_vars(values)
            if output is not None:
                attrs["gen_ai.output.messages"] = tel.content(output)
        tel.end_span(call.span, attrs, error)
        if tel.record_to is not None:
            try:
                tel.write(call_record(attrs, call.started, output))
            except ValueError as e:  # a record that does not fit its model: a bug, not fatal
                tel._warn(f"call record: {e}")

    def _prepare(
        self, values: dict[str, Any], call: _CallStart
    ) -> tuple[list[dict[str, str]], list[GuardHit], dict[str, Any]] | Reply:
        """Input guards, then the messages; or the blocked call's reply (logged)."""
        guards = compile_guards(self.prompt)
        values, hits, block = guard_inputs(guards["input"], values)
        if block is None:
            return render_messages(self.prompt, values), hits, values
        assert block.reply is not None
        trace_id = call.trace_id
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": self.model,
            **self.metadata,
            "promptops.trace_id": trace_id,
            "promptops.latency_ms": 0.0,
            "promptops.guard.triggers": [h.tag() for h in hits],
            "promptops.guard.blocked": True,
        }
        log.info(
            "%s@%s env=%s arm=%s blocked by input guard %s",
            self.name,
            self.version,
            self.env,
            self.arm,
            block.blocked.name if block.blocked else "?",
            extra={"promptops": attrs},
        )
        self._finish(call, attrs, None, block.reply)
        return Reply(
            text=block.reply,
            usage={"input_tokens": 0, "output_tokens": 0},
            cost=0.0,
            latency_ms=0.0,
            model=self.model,
            trace_id=trace_id,
            metadata={**self.metadata, "promptops.guard.blocked": True},
            guards=hits,
            blocked=True,
        )

    async def _call(
        self,
        messages: list[dict[str, str]],
        call: _CallStart,
        hits: list[GuardHit] | None = None,
        values: dict[str, Any] | None = None,
    ) -> Reply:
        hits = list(hits or [])
        trace_id = call.trace_id
        started = time.perf_counter()
        outcome = await self._chain(messages)
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        comp = outcome.completion
        # The answering call's own time; duration_ms adds retries, fallbacks and first-use imports.
        latency_ms = (
            round(comp.latency_ms, 3) if comp is not None and not comp.cached else duration_ms
        )
        attrs = self._attributes(outcome, trace_id, latency_ms)
        attrs["promptops.duration_ms"] = duration_ms
        head = f"{self.name}@{self.version} env={self.env} arm={self.arm} model={self.model}"
        text, blocked = (comp.text if comp is not None else ""), False
        if comp is not None:
            out = apply(compile_guards(self.prompt)["output"], comp.text)
            hits += out.hits
            blocked = out.blocked is not None
            text = out.reply if out.reply is not None else out.text
        if hits:
            attrs["promptops.guard.triggers"] = [h.tag() for h in hits]
            attrs["promptops.guard.blocked"] = blocked
        if comp is None:
            log.warning(
                "%s failed after %.0f ms: %s",
                head,
                duration_ms,
                outcome.error,
                extra={"promptops": attrs},
            )
            self._finish(call, attrs, messages, None, outcome.error or "failed")
            raise ProviderError(
                f"{self.name}@{self.version} ({self.env}, {self.arm}): {', '.join(outcome.tried)} failed: "
                f"{outcome.error}"
            )
        log.info("%s answered in %.0f ms", head, latency_ms, extra={"promptops": attrs})
        self._finish(call, attrs, messages, text, values=values)
        if self.shadow is not None and values is not None:
            self.registry._start_shadow(self, values, call)
        return Reply(
            text=text,
            usage={"input_tokens": comp.tokens_in, "output_tokens": comp.tokens_out},
            cost=comp.cost,
            latency_ms=latency_ms,
            model=comp.model,
            trace_id=trace_id,
            tool_calls=parse_calls(comp.tool_calls),
            metadata={
                **self.metadata,
                "promptops.cache_hit": comp.cached,
                "promptops.attempts": outcome.attempts,
                "gen_ai.request.model": self.model,
                "gen_ai.response.finish_reasons": [comp.finish_reason]
                if comp.finish_reason
                else [],
            },
            guards=hits,
            blocked=blocked,
        )

    async def _shadow_call(self, values: dict[str, Any], call: _CallStart) -> None:
        """The shadow version on the same (guarded) inputs: logged and recorded under the
        served call's trace id, never returned to anyone."""
        try:
            messages = render_messages(self.prompt, values)
            outcome = await self._chain(messages)
            comp = outcome.completion
            latency = round(comp.latency_ms, 3) if comp is not None else 0.0
            attrs = self._attributes(outcome, call.trace_id, latency)
            text = None
            if comp is not None:
                out = apply(compile_guards(self.prompt)["output"], comp.text)
                text = out.reply if out.reply is not None else out.text
                if out.hits:
                    attrs["promptops.guard.triggers"] = [h.tag() for h in out.hits]
                    attrs["promptops.guard.blocked"] = out.blocked is not None
            log.info(
                "%s@%s env=%s shadow %s",
                self.name,
                self.version,
                self.env,
                "answered" if comp is not None else f"failed: {outcome.error}",
                extra={"promptops": attrs},
            )
            self._finish(
                _CallStart(call.trace_id, None, call.started), attrs, messages, text, values=values
            )
        except Exception as e:  # a shadow never affects the application
            log.warning("shadow call of %s@%s failed: %s", self.name, self.version, e)
        finally:
            self.registry._shadow_done()

    async def _chain(self, messages: list[dict[str, str]]) -> Outcome:
        """The pinned model, then each fallback in order, through the registry's Caller (the
        eval's path: cache over the chain first, retries, fallbacks). Registry.load(api_base=...)
        applies to all of them; a prompt's own model.api_base only to its model."""
        return await self.registry.caller().complete(
            self.model,
            messages,
            self.params,
            self.api_base,
            0,
            self.fallbacks,
            fallback_api_base=self.registry.api_base,
            provider=None if self.prompt.spec.model.provider == "auto" else "litellm",
        )

    def _attributes(self, outcome: Outcome, trace_id: str, latency_ms: float) -> dict[str, Any]:
        """One log record's attributes; None values are left out (OpenTelemetry has no null)."""
        comp = outcome.completion
        system = self.model.split("/", 1)[0] if "/" in self.model else "openai"
        params = self.params
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": system,
            "gen_ai.provider.name": system,
            "gen_ai.request.model": self.model,
            "gen_ai.request.temperature": params.get("temperature"),
            "gen_ai.request.max_tokens": params.get("max_tokens"),
            "gen_ai.request.top_p": params.get("top_p"),
            "gen_ai.request.seed": params.get("seed"),
            "gen_ai.response.model": comp.model if comp else None,
            "gen_ai.response.finish_reasons": [comp.finish_reason]
            if comp and comp.finish_reason
            else None,
            "gen_ai.usage.input_tokens": comp.tokens_in if comp else None,
            "gen_ai.usage.output_tokens": comp.tokens_out if comp else None,
            "error.type": outcome.error_kind if comp is None else None,
            **self.metadata,
            "promptops.trace_id": trace_id,
            "promptops.latency_ms": latency_ms,
            "promptops.cost": comp.cost if comp else None,
            "promptops.cache_hit": comp.cached if comp else False,
            "promptops.attempts": outcome.attempts,
            "promptops.models_tried": list(outcome.tried),
            "promptops.error": outcome.error,
        }
        return {k: v for k, v in attrs.items() if v is not None}


class Registry:
    """registry.yaml loaded for serving: ``get`` the version an environment serves.

    The loaded state (registry.yaml and the prompt files it names) is one immutable
    :class:`~promptops.runtime.source.Snapshot`; a refresh builds a new one off the calling
    path and swaps it in whole, so ``get`` never waits on the network or sees half a change."""

    def __init__(
        self,
        project: Project,
        spec: RegistrySpec,
        *,
        api_base: str | None = None,
        timeout: float = 60.0,
        retries: int = 2,
        cache: bool = False,
        snapshot: Snapshot | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._state = snapshot or Snapshot(project, spec, "", time.time())
        self.telemetry = telemetry or Telemetry()
        self.api_base = api_base
        self.timeout = timeout
        self.retries = retries
        self.cache = cache
        self._caller: Caller | None = None
        self._lock = threading.Lock()
        self.source: str | None = None
        self.refresh_interval: float | None = None
        self.last_error: str | None = None
        self.refreshed_at: float = self._state.loaded_at
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._snapshots: SnapshotCache | None = None
        self._fetch_timeout = 10.0
        self.shadow_in_flight = 0
        self.shadow_dropped = 0  # shadow calls skipped because MAX_SHADOW_IN_FLIGHT were running
        self.shadow_started = 0
        self._shadow_tasks: set[asyncio.Task[None]] = set()

    @property
    def project(self) -> Project:
        return self._state.project

    @property
    def spec(self) -> RegistrySpec:
        return self._state.spec

    @property
    def snapshot(self) -> str:
        """What is loaded: the manifest digest (published) or registry.yaml's sha256 (project)."""
        return self._state.version

    @classmethod
    def load(
        cls,
        path: str | Path = ".",
        *,
        refresh: float | None = None,
        bundled: str | Path | None = None,
        api_base: str | None = None,
        timeout: float = 60.0,
        retries: int = 2,
        cache: bool = False,
        otel: bool = False,
        record_to: str | Path | None = None,
        capture_content: bool = False,
        mask_pii: bool = True,
    ) -> Registry:
        """Load from a project directory (or registry.yaml itself), a published directory, or
        a published URL (``https://...``, or any fsspec URL such as ``s3://bucket/prompts``).

        ``refresh`` is the seconds between background re-reads (default: 30 for a published
        source, none for a project; 0 turns it off). A refresh verifies every digest before
        swapping; when the source is unreachable or invalid the last good snapshot keeps
        serving and ``last_error`` says why. ``bundled`` is a published directory shipped with
        the application, served when the source cannot be read at startup.

        ``api_base`` overrides every prompt's ``model.api_base`` and is the endpoint of its
        fallbacks too; ``timeout`` and ``retries`` apply per model call; ``cache=True`` answers
        repeated identical calls from the project's response cache (off by default: an
        application usually wants fresh answers), looked up over the whole chain first as in
        ``eval``: a fallback's cached answer is used without calling the pinned model again.
        The runtime sets no bound on calls in flight (the application does), so a local model's
        server gets ``$PROMPTOPS_LOCAL_SLOTS`` slots (1 by default).

        Telemetry: ``otel=True`` makes one OpenTelemetry span per call (the ``otel`` extra;
        the application configures the tracer provider and exporter); ``record_to`` appends
        one call record per call to a JSONL file (what ``promptops canary analyze`` reads);
        ``capture_content`` adds the messages and the answer to both, with personal data
        masked unless ``mask_pii=False``.
        """
        source = str(path)
        published = is_published(source)
        snapshots = SnapshotCache() if published or bundled is not None else None
        error: str | None = None
        state: Snapshot | None
        try:
            if published:
                assert snapshots is not None
                state = fetch(source, snapshots)
            else:
                state = read_project(Path(source))
        except (RegistryError, OSError) as e:
            if bundled is None:
                if snapshots is not None:
                    snapshots.close()
                raise
            error = str(e)
            state = None
        if state is None:  # the source failed: start from the bundled snapshot
            assert snapshots is not None and bundled is not None
            try:
                state = fetch(str(bundled), snapshots)
            except (RegistryError, OSError) as e:
                snapshots.close()
                raise RegistryError(
                    f"cannot load the registry from {describe(source)} ({error}) nor from "
                    f"the bundled snapshot ({e})"
                ) from None
            assert state is not None
            log.warning(
                "registry source unreachable at startup; serving the bundled snapshot: %s", error
            )
        reg = cls(
            state.project,
            state.spec,
            api_base=api_base,
            timeout=timeout,
            retries=retries,
            cache=cache,
            snapshot=state,
            telemetry=Telemetry(
                otel=otel,
                record_to=Path(record_to) if record_to is not None else None,
                capture_content=capture_content,
                mask_pii=mask_pii,
            ),
        )
        reg.source, reg.last_error, reg._snapshots = source, error, snapshots
        interval = (30.0 if published else None) if refresh is None else refresh
        if interval:
            reg.refresh_interval = float(interval)
            reg._thread = threading.Thread(
                target=reg._refresh_loop, name="promptops-registry-refresh", daemon=True
            )
            reg._thread.start()
        if snapshots is not None:
            weakref.finalize(reg, snapshots.close)
        return reg

    def feedback(self, trace_id: str, score: float, comment: str | None = None) -> FeedbackRecord:
        """Record a user's verdict on one call (``Reply.trace_id``): 0 (bad) to 1 (good).
        Written to the call log (``record_to``), and as a span with ``otel``."""
        if not 0 <= score <= 1:
            raise UsageError(f"feedback score {score}: give a number from 0 (bad) to 1 (good)")
        return self.telemetry.feedback(trace_id, float(score), comment)

    def _start_shadow(self, served: ActivePrompt, values: dict[str, Any], call: _CallStart) -> None:
        """Schedule the shadow call on the background loop (we are on it); bounded, dropped
        with a count when full. Never awaited by the served call."""
        assert served.shadow is not None
        with self._lock:
            if self.shadow_in_flight >= MAX_SHADOW_IN_FLIGHT:
                self.shadow_dropped += 1
                return
            self.shadow_in_flight += 1
            self.shadow_started += 1
        pv = served.shadow
        shadow = ActivePrompt(served.name, pv.version, pv.digest, served.env, "shadow", pv, self)
        task = asyncio.get_running_loop().create_task(shadow._shadow_call(values, call))
        self._shadow_tasks.add(task)
        task.add_done_callback(self._shadow_tasks.discard)

    def _shadow_done(self) -> None:
        with self._lock:
            self.shadow_in_flight -= 1

    def wait_shadows(self, timeout: float = 30.0) -> bool:
        """Wait until no shadow call is running (tests, graceful shutdown); True when idle."""
        deadline = time.monotonic() + timeout
        while self.shadow_in_flight and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.shadow_in_flight == 0

    def refresh(self) -> bool:
        """Re-read the source now (the background thread calls this); True when a new snapshot
        was swapped in. Never raises: a failure keeps the current snapshot, in ``last_error``."""
        if self.source is None:
            return False
        have = self._state
        try:
            if is_published(self.source):
                if self._snapshots is None:
                    self._snapshots = SnapshotCache()
                new = fetch(self.source, self._snapshots, have.version, self._fetch_timeout)
            else:
                new = read_project(Path(self.source), have.version, verify=True)
        except Exception as e:  # the refresh thread must never die; keep serving the last good
            message = e.message if isinstance(e, PromptOpsError) else f"{type(e).__name__}: {e}"
            if message != self.last_error:
                log.warning(
                    "registry refresh failed; still serving %s: %s", have.version[:19], message
                )
            self.last_error = message
            return False
        self.last_error = None
        self.refreshed_at = time.time()
        if new is None:
            return False
        self._state = new
        log.info("registry refreshed: now serving %s", new.version[:19])
        return True

    def _refresh_loop(self) -> None:
        assert self.refresh_interval is not None
        while not self._stop.wait(self.refresh_interval):
            self.refresh()

    def close(self) -> None:
        """Stop the background refresh (it is a daemon thread: exiting needs no close)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    @property
    def environments(self) -> list[str]:
        return list(self.spec.environments)

    def prompts(self) -> list[str]:
        """Names of the prompts with a version active somewhere."""
        return sorted(self.spec.prompts)

    def deployment(self, name: str, env: str) -> Deployment:
        """What ``env`` serves for ``name``; a clear RegistryError when nothing is."""
        return self._deployment(self.spec, name, env)

    @staticmethod
    def _deployment(spec: RegistrySpec, name: str, env: str) -> Deployment:
        if env not in spec.environments:
            raise RegistryError(
                f"unknown environment {env!r}; environments: {', '.join(spec.environments)}"
            )
        envs = spec.prompts.get(name)
        if envs is None:
            known = ", ".join(sorted(spec.prompts)) or "none"
            raise RegistryError(f"no prompt {name!r} in {REGISTRY_FILE}; prompts: {known}")
        dep = envs.get(env)
        if dep is None:
            active = [e for e in spec.environments if e in envs]
            raise RegistryError(
                f"{name} has no version active in {env}; active in: {', '.join(active)}"
            )
        return dep

    def get(self, name: str, env: str, key: object | None = None) -> ActivePrompt:
        """The prompt ``env`` serves to ``key`` (stable or canary arm; random without a key)."""
        state = self._state  # one snapshot for the whole lookup, even if a refresh swaps now
        dep = self._deployment(state.spec, name, env)
        arm: Arm = "stable"
        version, digest = dep.version, dep.digest
        if dep.canary is not None and choose_arm(name, env, key, dep.canary.weight) == "canary":
            arm, version, digest = "canary", dep.canary.version, dep.canary.digest
        pv = self._load(state, name, version, digest, env)
        shadow = None
        if (
            dep.shadow is not None
            and choose_arm(f"{name}:shadow", env, key, dep.shadow.weight) == "canary"
        ):
            shadow = self._load(state, name, dep.shadow.version, dep.shadow.digest, env)
        return ActivePrompt(name, version, digest, env, arm, pv, self, shadow)

    def _load(
        self, state: Snapshot, name: str, version: str, digest: str, env: str
    ) -> PromptVersion:
        pv = state.prompts.get((name, version))
        if pv is None:
            path = prompt_file(state.project, name, version)
            if path is None:
                raise RegistryError(
                    f"{REGISTRY_FILE}: {name} {version} is active in {env}, but "
                    f"{display_path(state.project.prompts_dir / name)}/{version}.yaml does not exist"
                )
            pv = load_prompt(path)
            compile_guards(pv)  # a guard that cannot work fails here, naming file and line
            state.prompts[(name, version)] = pv
        if pv.digest != digest:
            raise RegistryError(
                f"{display_path(pv.path)} was edited after it was promoted to {env}: registry.yaml has "
                f"{short_digest(digest)}, the file {short_digest(pv.digest)}; restore the file "
                f"(git checkout -- {display_path(pv.path)}) or make a new version and promote it"
            )
        return pv

    def caller(self) -> Caller:
        """The shared model caller (created on the first call; imports the providers then):
        the one the eval runner uses, with no concurrency bound (``concurrency=None``)."""
        with self._lock:
            if self._caller is None:
                from ..providers import Caller

                cache = None
                if self.cache:
                    from ..cache import ResponseCache

                    cache = ResponseCache(self.project.cache_dir)
                self._caller = Caller(
                    cache=cache, retries=self.retries, timeout=self.timeout, concurrency=None
                )
            return self._caller


# --------------------------------------------------------------------------- helpers


def _trace_id() -> str:
    """The current OpenTelemetry trace id when the app uses OpenTelemetry, else a new one."""
    otel = sys.modules.get("opentelemetry.trace")
    if otel is not None:
        try:
            ctx = otel.get_current_span().get_span_context()
            if ctx.is_valid:
                return format(ctx.trace_id, "032x")
        except Exception:  # pragma: no cover - a broken tracer must not break the call
            pass
    return uuid.uuid4().hex
