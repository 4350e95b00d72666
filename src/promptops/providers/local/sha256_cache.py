"""sha256 of model files, computed once per file: cached in
``$XDG_CACHE_HOME/promptops/gguf-sha256.json`` (default ``~/.cache/promptops``), keyed by
path, size and mtime."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_HASH_CACHE_FILE = "gguf-sha256.json"
_hash_lock = threading.Lock()


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "promptops"


def file_sha256(path: Path) -> str:
    """sha256 of ``path``, cached in a JSON sidecar keyed by path, size and mtime."""
    path = path.resolve()
    st = path.stat()
    key = str(path)
    stamp = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    cache_file = _cache_dir() / _HASH_CACHE_FILE
    with _hash_lock:
        cache = _read_hash_cache(cache_file)
        hit = cache.get(key)
        if (
            isinstance(hit, dict)
            and hit.get("size") == stamp["size"]
            and hit.get("mtime_ns") == stamp["mtime_ns"]
            and isinstance(hit.get("sha256"), str)
        ):
            return str(hit["sha256"])
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        sha = digest.hexdigest()
        cache = _read_hash_cache(cache_file)  # re-read: another process may have written
        cache[key] = {**stamp, "sha256": sha}
        _write_hash_cache(cache_file, cache)
        return sha


def _read_hash_cache(cache_file: Path) -> dict[str, Any]:
    try:
        data = json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_hash_cache(cache_file: Path, cache: dict[str, Any]) -> None:
    """Atomic best-effort write; an unwritable cache only costs a re-hash next time."""
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".sha256-", dir=cache_file.parent)
    except OSError as e:
        log.debug("could not write %s: %s", cache_file, e)
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(cache, f, indent=1, sort_keys=True)
        os.replace(tmp, cache_file)
    except OSError as e:
        log.debug("could not write %s: %s", cache_file, e)
        Path(tmp).unlink(missing_ok=True)
