"""Streaming answers from the runtime: ``ActivePrompt.stream`` (sync) and ``astream`` (async).

::

    with reg.get("summarize", "prod", key=user).stream(document=text) as s:
        for chunk in s:
            send(chunk)
    s.reply  # the Reply: trace id, usage, cost, guards, ttft_ms

Models on the native OpenAI-compatible transport stream chunk by chunk
(:mod:`promptops.providers.streaming`), so do providers with the optional ``stream(call)`` hook
(litellm's); any other provider answers whole, as one chunk. The
call record and the span get the time to the first chunk: the span attribute
``gen_ai.response.time_to_first_chunk`` (seconds, the OpenTelemetry GenAI convention) and
``promptops.ttft_ms``; the record's ``ttft_ms``.

Guards: input guards run before the call, as for ``complete`` (a block answers with its reply,
one chunk, no model call). Output guards that ``block`` or ``mask`` must see the whole answer
before anyone does, so with one of those the answer is **buffered**: read whole, guarded, then
given as one chunk (``promptops.stream.buffered``; the time to first chunk still says when the
model's first chunk came). With only ``flag`` output guards the chunks pass as they arrive and
the guards run on the whole answer at the end (their triggers are in the reply and record).

Retries and fallbacks happen only before the first chunk reaches the caller; a stream that
breaks after that raises ProviderError (the caller has part of an answer) and is recorded as
failed.

The response cache (``Registry.load(cache=True)``) works as for ``complete``, under the same
keys: a cached answer is given as one chunk (``promptops.cache_hit``; no model call; its time to
first chunk is the lookup's, measured like any other, so a dashboard sees what the caller
waited), and a stream that ended whole is written to the cache, so a ``complete`` after it is a
hit and the other way round. A stream that broke, or that the caller closed before the end, is
never cached. Output guards run on a cached answer as on a fresh one.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..errors import ProviderError
from .guards import GuardHit, apply, compile_guards
from .loop import _arun, _run

if TYPE_CHECKING:
    from ..cache import ResponseCache
    from ..providers.base import Completion
    from ..providers.retry import Outcome
    from ..registry.runtime import ActivePrompt, Reply, _CallStart


def output_buffered(p: ActivePrompt) -> bool:
    """Whether this prompt's output guards force a buffered stream (block or mask)."""
    return any(g.spec.action in ("block", "mask") for g in compile_guards(p.prompt)["output"])


async def _chunks(
    p: ActivePrompt,
    messages: list[dict[str, str]],
    call: _CallStart,
    hits: list[GuardHit],
    values: dict[str, Any],
    make_reply: Callable[..., Reply],
) -> AsyncIterator[Any]:
    """Text chunks for the caller, then the Reply (consumed by the wrappers)."""
    from ..providers.base import Call, CallError, route
    from ..providers.native import NativeProvider
    from ..providers.retry import Outcome
    from ..providers.streaming import as_stream, native_stream

    buffered = output_buffered(p)
    reg = p.registry
    caller = reg.caller()
    via = None if p.prompt.spec.model.provider == "auto" else "litellm"
    chain = [(p.model, p.api_base, via)] + [(m, reg.api_base, None) for m in p.fallbacks]
    from ..redact import strip_url

    for url in dict.fromkeys(b for _, b, _ in chain if b):
        strip_url(url)  # registers the URL's credentials for redaction, as Caller.complete does
    outcome = Outcome(None)
    comp: Completion | None = None
    last: CallError | None = None
    sent = False
    started = time.perf_counter()
    # the keys complete() would use (repeat 0), per model of the chain; [] when not cacheable
    keys = [caller.cache_keys(m, messages, p.params, b, 0, provider=how) for m, b, how in chain]
    try:
        comp = await _lookup(caller.cache, chain, keys, outcome)
        if comp is not None:  # one chunk; its time to first chunk is the lookup's
            comp.extra = {**comp.extra, "ttft_ms": _ms(started)}
            if comp.text and not buffered:
                sent = True
                yield comp.text
        for (model, base, how), key in zip(chain, keys, strict=True):
            if comp is not None:
                break
            outcome.tried.append(model)
            prov = route(model, base, how)
            caller.prepare([model])
            one = Call(model, messages, p.params, base, caller.timeout or prov.default_timeout)
            for attempt in range(caller.retries + 1):
                outcome.attempts += 1
                try:
                    hook = getattr(prov, "stream", None)  # a provider's optional hook
                    if isinstance(prov, NativeProvider):
                        source = native_stream(prov, one)
                    elif hook is not None:
                        source = hook(one)
                    else:
                        source = as_stream(await prov.complete(one))
                    try:
                        async for item in source:
                            if isinstance(item, str):
                                if not buffered:
                                    sent = True
                                    yield item
                            else:
                                comp = item
                    finally:  # the connection goes back to the pool, also on an early close
                        await source.aclose()  # type: ignore[attr-defined]
                    if comp is not None and key and caller.cache is not None:
                        # whole (the source ended normally): cached as complete() caches
                        whole = comp.to_json()
                        whole["extra"] = {k: v for k, v in comp.extra.items() if k != "ttft_ms"}
                        await caller.cache.aput(key[0], whole)
                    break
                except CallError as e:
                    last = e
                    if sent or not e.transient or attempt == caller.retries:
                        break
                    await caller.sleep(caller.delay(attempt, e))
            if comp is not None or sent:
                break
    except GeneratorExit:  # the caller closed the stream early: recorded as cancelled
        outcome.error, outcome.error_kind = "the caller closed the stream", "cancelled"
        attrs = p._attributes(outcome, call.trace_id, _ms(started))
        attrs["promptops.streamed"] = True
        p._finish(call, attrs, messages, None, outcome.error)
        raise
    duration_ms = round((time.perf_counter() - started) * 1000, 3)
    if comp is None:
        assert last is not None
        outcome.error, outcome.error_kind = str(last), last.kind
    outcome.completion = comp
    latency_ms = round(comp.latency_ms, 3) if comp is not None and not comp.cached else duration_ms
    attrs = p._attributes(outcome, call.trace_id, latency_ms)
    attrs["promptops.duration_ms"] = duration_ms
    attrs["promptops.streamed"] = True
    attrs["promptops.stream.buffered"] = buffered
    ttft = comp.extra.get("ttft_ms") if comp is not None else None
    if isinstance(ttft, int | float):
        attrs["promptops.ttft_ms"] = ttft
        attrs["gen_ai.response.time_to_first_chunk"] = round(ttft / 1000, 6)
    head = f"{p.name}@{p.version} env={p.env} arm={p.arm} model={p.model}"
    if comp is None:
        import logging

        if hits:
            attrs["promptops.guard.triggers"] = [h.tag() for h in hits]
        logging.getLogger("promptops.runtime").warning(
            "%s stream failed after %.0f ms: %s",
            head,
            duration_ms,
            outcome.error,
            extra={"promptops": attrs},
        )
        p._finish(call, attrs, messages, None, outcome.error or "failed")
        raise ProviderError(
            f"{p.name}@{p.version} ({p.env}, {p.arm}): {', '.join(outcome.tried)} failed"
            + (" mid-stream" if sent else "")
            + f": {outcome.error}"
        )
    out = apply(compile_guards(p.prompt)["output"], comp.text)
    hits = hits + out.hits
    blocked = out.blocked is not None
    text = out.reply if out.reply is not None else out.text
    if hits:
        attrs["promptops.guard.triggers"] = [h.tag() for h in hits]
        attrs["promptops.guard.blocked"] = blocked
    if buffered and text:
        yield text
    import logging

    logging.getLogger("promptops.runtime").info(
        "%s streamed in %.0f ms (first chunk %s ms)",
        head,
        latency_ms,
        ttft,
        extra={"promptops": attrs},
    )
    p._finish(call, attrs, messages, text, values=values)
    if p.shadow is not None:
        reg._start_shadow(p, values, call)
    from ..toolcalls import parse_calls

    yield make_reply(
        text=text,
        usage={"input_tokens": comp.tokens_in, "output_tokens": comp.tokens_out},
        cost=comp.cost,
        latency_ms=latency_ms,
        model=comp.model,
        trace_id=call.trace_id,
        tool_calls=parse_calls(comp.tool_calls),
        metadata={
            **p.metadata,
            "promptops.cache_hit": comp.cached,
            "promptops.attempts": outcome.attempts,
            "promptops.ttft_ms": ttft,
            "gen_ai.request.model": p.model,
            "gen_ai.response.finish_reasons": [comp.finish_reason] if comp.finish_reason else [],
        },
        guards=hits,
        blocked=blocked,
        ttft_ms=ttft if isinstance(ttft, int | float) else None,
    )


async def _lookup(
    cache: ResponseCache | None,
    chain: list[tuple[str, str | None, str | None]],
    keys: list[list[str]],
    outcome: Outcome,
) -> Completion | None:
    """The cached answer of the first model in the chain that has one (as ``complete``)."""
    if cache is None:
        return None
    from ..providers.base import Completion

    for (model, _, _), key in zip(chain, keys, strict=True):
        hit = await cache.aget(key[0]) if key else None
        if hit is not None:
            comp = Completion.from_json(hit)
            comp.cached = True
            outcome.tried.append(model)
            return comp
    return None


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


async def _one(reply: Reply) -> AsyncIterator[Any]:
    """A reply already decided (an input guard's block) as a stream of one chunk."""
    if reply.text:
        yield reply.text
    yield reply


def start(
    p: ActivePrompt, values: dict[str, Any], make_reply: Callable[..., Reply]
) -> AsyncIterator[Any]:
    """The stream of one call: input guards now (in the caller's thread), then the model.
    ``make_reply``: the Reply class (passed in: this module does not import the registry)."""
    call = p._start()
    ready = p._prepare(values, call)
    if not isinstance(ready, tuple):
        return _one(ready)
    messages, hits, guarded = ready
    return _chunks(p, messages, call, hits, guarded, make_reply)


async def _next(agen: AsyncIterator[Any]) -> Any:
    return await agen.__anext__()


async def _close(agen: Any) -> None:
    await agen.aclose()


class Stream:
    """A blocking iterator of text chunks; ``reply`` is the Reply once the stream ended.
    Close it (or use ``with``) when stopping early: the connection is released and the call
    recorded as cancelled."""

    def __init__(self, agen: AsyncIterator[Any]) -> None:
        self._agen = agen
        self.reply: Reply | None = None
        self._done = False

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> str:
        if self._done:
            raise StopIteration
        try:
            item = _run(_next(self._agen))
        except StopAsyncIteration:
            self._done = True
            raise StopIteration from None
        except BaseException:
            self._done = True
            raise
        if isinstance(item, str):
            return item
        self.reply, self._done = item, True
        raise StopIteration

    def close(self) -> None:
        if not self._done:
            self._done = True
            _run(_close(self._agen))

    def __enter__(self) -> Stream:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncStream:
    """``Stream`` for async code: ``async for chunk in p.astream(...)``; then ``reply``."""

    def __init__(self, agen: AsyncIterator[Any]) -> None:
        self._agen = agen
        self.reply: Reply | None = None
        self._done = False

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> str:
        if self._done:
            raise StopAsyncIteration
        try:
            item = await _arun(_next(self._agen))
        except StopAsyncIteration:
            self._done = True
            raise
        except BaseException:
            self._done = True
            raise
        if isinstance(item, str):
            return item
        self.reply, self._done = item, True
        raise StopAsyncIteration

    async def aclose(self) -> None:
        if not self._done:
            self._done = True
            await _arun(_close(self._agen))

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
