"""LocalProvider's scheduling: a call reaches a llama.cpp server only when a slot is free.

No model is loaded: the servers and the inner completions call are stand-ins.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from promptops.errors import ProviderError
from promptops.providers.base import Call, Completion
from promptops.providers.local import models, server
from promptops.providers.local import provider as local_provider

MODEL = models.LocalModel("local/x.gguf", Path("/models/x.gguf"), "0" * 64)


class FakeInner:
    """Records how many calls each server has in flight; answers after yielding a few times."""

    def __init__(self) -> None:
        self.in_flight: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.seen: list[str] = []

    async def complete(self, call: Call) -> Completion:
        base = str(call.api_base)
        self.seen.append(call.messages[0]["content"])
        self.in_flight[base] = self.in_flight.get(base, 0) + 1
        self.peak[base] = max(self.peak.get(base, 0), self.in_flight[base])
        for _ in range(5):
            await asyncio.sleep(0)
        self.in_flight[base] -= 1
        return Completion(text=" ok ", model=call.model, latency_ms=1.0)

    async def aclose(self) -> None:
        pass


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> tuple[local_provider.LocalProvider, FakeInner]:
    started: list[int] = []

    def ensure_server(model: Any, parallel: int, threads: Any = None) -> str:
        started.append(parallel)
        return "http://127.0.0.1:9000/v1"

    def server_slots(model: Any) -> int:
        return started[0]

    monkeypatch.setattr(server, "ensure_server", ensure_server)
    monkeypatch.setattr(server, "server_slots", server_slots)
    monkeypatch.setattr(local_provider, "_resolve", lambda model_id: MODEL)
    p = local_provider.LocalProvider()
    inner = FakeInner()
    p._inner = inner  # type: ignore[assignment]
    return p, inner


async def _many(p: local_provider.LocalProvider, n: int) -> list[Completion]:
    calls = [Call("local/x.gguf", [{"role": "user", "content": f"q{i}"}]) for i in range(n)]
    try:
        return await asyncio.gather(*(p.complete(c) for c in calls))
    finally:
        await p.aclose()


@pytest.mark.parametrize("slots", [1, 3])
def test_calls_never_queue_inside_the_server(
    provider: tuple[local_provider.LocalProvider, FakeInner],
    monkeypatch: pytest.MonkeyPatch,
    slots: int,
) -> None:
    p, inner = provider
    monkeypatch.setenv("PROMPTOPS_LOCAL_SLOTS", str(slots))
    p.prepare("local/x.gguf", 8)  # the provider hook, with the eval's concurrency
    out = asyncio.run(_many(p, 12))
    assert [c.text for c in out] == ["ok"] * 12
    assert sorted(inner.seen) == sorted(f"Input: q{i}\nOutput:" for i in range(12))
    # the server got `slots` slots and never more calls at once than that
    assert inner.peak == {"http://127.0.0.1:9000/v1": slots}


def test_slots_default_to_one_and_never_exceed_the_concurrency(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    p = local_provider.LocalProvider()
    monkeypatch.delenv("PROMPTOPS_LOCAL_SLOTS", raising=False)
    p.prepare("local/x.gguf", 8)
    assert p._slots["local/x.gguf"] == 1
    monkeypatch.setenv("PROMPTOPS_LOCAL_SLOTS", "4")
    p.prepare("local/x.gguf", 8)
    assert p._slots["local/x.gguf"] == 4
    p.prepare("local/x.gguf", 2)
    assert p._slots["local/x.gguf"] == 2
    p.prepare("local/x.gguf", None)  # no bound (the runtime API): the cap
    assert p._slots["local/x.gguf"] == 4
    monkeypatch.setenv("PROMPTOPS_LOCAL_SLOTS", "lots")
    with pytest.raises(ProviderError, match="PROMPTOPS_LOCAL_SLOTS"):
        p.prepare("local/x.gguf", 8)
