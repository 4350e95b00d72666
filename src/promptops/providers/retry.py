"""Calling a model well: cache first, retries with backoff and jitter, then fallbacks.

:class:`Caller` is the one path every model call takes: the eval runner's cases and
conversation turns, the judges of model-graded assertions, and the runtime API.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..aio import wait_for
from ..cache import ResponseCache, cache_key
from ..errors import PromptOpsError
from .base import Call, CallError, Completion, Provider, prepare, route


@dataclass
class Outcome:
    """The result of calling a model chain for one prompt."""

    completion: Completion | None
    error: str | None = None
    error_kind: str | None = None
    hint: str | None = None  # what to do about a configuration error
    attempts: int = 0
    tried: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.completion is not None


@dataclass
class Caller:
    """Cache-aware, retrying caller shared by the eval runner, judges and the runtime API."""

    cache: ResponseCache | None = None
    retries: int = 3
    timeout: float | None = None  # None: each provider's default_timeout
    # calls this caller may have in flight, told to each model's provider once before its
    # first call (the provider hook, see providers.base.prepare); None: no bound (runtime API)
    concurrency: int | None = None
    backoff: float = 0.5
    backoff_max: float = 30.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)
    calls: int = 0  # network calls made (for tests and progress)
    # model -> its provider identity, read once per caller (one eval run): reading the
    # endpoint environment variables on every call was the cached path's largest cost
    _identities: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    _prepared: set[str] = field(default_factory=set, repr=False)

    def prepare(self, models: Iterable[str]) -> None:
        """Run the provider hook for each model not prepared yet (see
        :func:`promptops.providers.base.prepare`). :meth:`complete` does it for every model of
        its chain; call it first to have a setup error raised before any call."""
        for m in models:
            if m not in self._prepared:
                prepare(m, self.concurrency)
                self._prepared.add(m)

    def _key(
        self,
        prov: Provider,
        model: str,
        messages: list[dict[str, str]],
        params: dict[str, Any],
        api_base: str | None,
        repeat: int,
    ) -> str | None:
        """The cache key: the same whichever provider calls the model (native or litellm), so
        an answer cached on one path is a hit on the other."""
        if self.cache is None or not prov.cacheable:
            return None
        identity = self._identities.get(model)
        if identity is None:
            try:
                identity = self._identities[model] = prov.identity(model)
            except PromptOpsError:
                return None  # e.g. a local model that cannot be resolved: the call says why
        return cache_key(model, messages, params, api_base, repeat, identity)

    def cache_keys(
        self,
        model: str,
        messages: list[dict[str, Any]],
        params: dict[str, Any],
        api_base: str | None = None,
        repeat: int = 0,
        fallbacks: list[str] | tuple[str, ...] = (),
        fallback_api_base: str | None = None,
        provider: str | None = None,
    ) -> list[str]:
        """The cache keys :meth:`complete` would look up for this call, over the chain (for
        counting what the cache answers without calling: ``eval --estimate``)."""
        chain = [(model, api_base, provider)] + [(m, fallback_api_base, None) for m in fallbacks]
        keys = [self._key(route(m, b, via), m, messages, params, b, repeat) for m, b, via in chain]
        return [k for k in keys if k is not None]

    def delay(self, attempt: int, err: CallError) -> float:
        """Exponential backoff with full jitter; a server's Retry-After wins when longer."""
        base = min(self.backoff_max, self.backoff * (2**attempt))
        wait: float = base * (0.5 + self.rng.random() / 2)
        if err.retry_after is not None:
            wait = max(wait, min(err.retry_after, self.backoff_max))
        return wait

    async def complete(
        self,
        model: str,
        messages: list[dict[str, str]],
        params: dict[str, Any] | None = None,
        api_base: str | None = None,
        repeat: int = 0,
        fallbacks: list[str] | tuple[str, ...] = (),
        fallback_api_base: str | None = None,
        before_call: Callable[[], Awaitable[None]] | None = None,
        provider: str | None = None,
    ) -> Outcome:
        """Answer from the cache when any model in the chain has it; else call in order.

        ``api_base`` is the endpoint of ``model``, ``fallback_api_base`` that of each fallback
        (None: the provider's own). ``attempts`` counts the calls made over the chain, ``tried``
        the models called (on a cache hit: the model whose answer it was). ``before_call`` is
        awaited once, before the first network call (the eval's probe gate: see
        :mod:`promptops.providers.breaker`); its exception propagates. ``provider``: the
        pinned model's explicit choice (``"litellm"``; None: :func:`~promptops.providers.base.route`
        decides)."""
        params = params or {}
        chain = [model, *fallbacks]
        bases = [api_base, *[fallback_api_base] * len(fallbacks)]
        for url in dict.fromkeys(b for b in bases if b):
            from ..redact import strip_url

            strip_url(url)  # registers the URL's credentials for redaction
        self.prepare(chain)
        provs = [route(model, api_base, provider)] + [
            route(m, fallback_api_base) for m in fallbacks
        ]
        keys = [
            self._key(p, m, messages, params, base, repeat)
            for p, m, base in zip(provs, chain, bases, strict=True)
        ]
        if self.cache is not None:
            for m, key in zip(chain, keys, strict=True):
                if key is None:
                    continue
                hit = await self.cache.aget(key)
                if hit is not None:
                    comp = Completion.from_json(hit)
                    comp.cached = True
                    return Outcome(comp, attempts=0, tried=[m])
        if before_call is not None:
            await before_call()
        outcome = Outcome(None)
        last: CallError | None = None
        for prov, m, base, key in zip(provs, chain, bases, keys, strict=True):
            outcome.tried.append(m)
            timeout = self.timeout or prov.default_timeout
            call = Call(m, messages, params, base, timeout)
            for attempt in range(self.retries + 1):
                outcome.attempts += 1
                self.calls += 1
                try:
                    comp = await wait_for(prov.complete(call), timeout + 5)
                except asyncio.TimeoutError:
                    last = CallError(
                        f"no answer within {timeout:g}s", transient=True, kind="timeout"
                    )
                except CallError as e:
                    last = e
                else:
                    if key is not None and self.cache is not None:
                        await self.cache.aput(key, comp.to_json())
                    outcome.completion = comp
                    return outcome
                if not last.transient or attempt == self.retries:
                    break
                await self.sleep(self.delay(attempt, last))
        assert last is not None
        outcome.error = str(last)
        outcome.error_kind = last.kind
        outcome.hint = last.hint
        return outcome
