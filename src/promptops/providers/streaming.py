"""Streamed chat completions on the native (OpenAI-compatible) transport.

Kept apart from :mod:`promptops.providers.native` (whose hot path is tuned separately): it
reuses the provider's connection pools, endpoint and headers, and sends ``stream: true`` with
``stream_options.include_usage`` so the last event carries the token counts. Server-sent events
are read line by line; each text delta is yielded as it arrives, then one final
:class:`~promptops.providers.base.Completion` with the whole text, usage, cost, total latency
and ``extra["ttft_ms"]``: the time from sending the request to the first content chunk. A
stream that ends without ``[DONE]`` or a finish reason is an error, not a shorter answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from .base import Call, CallError, Completion
from .native import NativeProvider, classify_status, openai_params, parse_reply, wire_model


async def native_stream(prov: NativeProvider, call: Call) -> AsyncIterator[str | Completion]:
    """Text deltas, then the Completion. Raises CallError (before or during the stream)."""
    import asyncio

    import aiohttp

    name = wire_model(call.model)
    body: dict[str, Any] = {
        "model": name,
        "messages": call.messages,
        **openai_params(name, call.params),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    base = prov.endpoint(call.api_base)
    start = time.perf_counter()
    first: float | None = None
    parts: list[str] = []
    finish: str | None = None
    usage: dict[str, Any] | None = None
    model: str | None = None
    done = False
    try:
        async with prov.client(base).post(
            base + "/chat/completions",
            json=body,
            headers=prov.headers(call.model),
            timeout=aiohttp.ClientTimeout(total=call.timeout),
        ) as response:
            if response.status >= 400:
                raw = await response.read()
                raise classify_status(
                    response.status, response.headers, raw, call.model, call.api_base
                )
            async for line in response.content:
                text = line.decode("utf-8").strip()
                if not text.startswith("data:"):
                    continue
                data = text[5:].strip()
                if data == "[DONE]":
                    done = True
                    break
                event = _event(data)
                model = event.get("model") or model
                if isinstance(event.get("usage"), dict):
                    usage = event["usage"]
                for choice in event.get("choices") or []:
                    delta = (choice.get("delta") or {}).get("content")
                    finish = choice.get("finish_reason") or finish
                    if isinstance(delta, str) and delta:
                        if first is None:
                            first = time.perf_counter()
                        parts.append(delta)
                        yield delta
    except (asyncio.TimeoutError, TimeoutError) as exc:
        raise CallError(
            f"Timeout: the stream did not end within {call.timeout:g}s ({type(exc).__name__})",
            transient=True,
            kind="timeout",
        ) from None
    except aiohttp.ClientError as exc:
        raise CallError(
            f"APIConnectionError: {type(exc).__name__}: {exc}", transient=True, kind="connection"
        ) from None
    if not done and finish is None:  # cut short: never taken for a whole answer (or cached)
        raise CallError(
            "the stream ended before its last event (no finish_reason, no [DONE])",
            transient=True,
            kind="malformed",
        )
    end = time.perf_counter()
    whole = {
        "choices": [{"message": {"content": "".join(parts)}, "finish_reason": finish}],
        "usage": usage or {},
        "model": model,
    }
    comp = parse_reply(whole, call.model, (end - start) * 1000)
    comp.extra["ttft_ms"] = round(((first or end) - start) * 1000, 3)
    yield comp


def _event(data: str) -> dict[str, Any]:
    try:
        event = json.loads(data)
    except ValueError as exc:
        raise CallError(
            f"malformed stream event: not JSON ({exc})", transient=True, kind="malformed"
        ) from None
    if not isinstance(event, dict):
        raise CallError("malformed stream event: not an object", transient=True, kind="malformed")
    return event


def as_stream(comp: Completion) -> AsyncIterator[str | Completion]:
    """A whole answer as a stream of one chunk (providers that do not stream)."""

    async def one() -> AsyncIterator[str | Completion]:
        if comp.text:
            yield comp.text
        comp.extra.setdefault("ttft_ms", round(comp.latency_ms, 3))
        yield comp

    return one()
