"""Content-addressed response cache: one SQLite file under ``.promptops/cache/``.

The key is a sha256 over the model, its pinned identity (e.g. a local file's sha256, or the
endpoint named by environment variables such as ``OPENAI_BASE_URL``), the parameters, the
rendered messages, the api_base (without credentials) and the repeat index, so ``--repeat``
samples stay independent and another server never answers from this one's cache. SQLite in WAL mode lets concurrent runs read and write without corrupting
anything (writers wait on a busy timeout); entries are immutable, so a race just writes the
same value twice.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

SCHEMA = "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL)"


def cache_key(
    model: str,
    messages: list[dict[str, str]],
    params: dict[str, Any],
    api_base: str | None,
    repeat: int,
    identity: dict[str, Any] | None = None,
) -> str:
    """sha256 of the canonical JSON of everything that determines a response. The endpoint
    counts (``api_base``, or the provider's endpoint environment variables, which providers
    put in ``identity``); credentials in it don't, so rotating a key keeps the cache."""
    from .redact import strip_url

    blob = json.dumps(
        {
            "model": model,
            "identity": identity or {},
            "params": params,
            "messages": messages,
            "api_base": strip_url(api_base) if api_base else api_base,
            "repeat": repeat,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    """Get/put JSON values by key. Thread-safe; cheap to open."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "responses.sqlite"
        self._local = threading.local()
        self.hits = 0
        self.misses = 0

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(SCHEMA)
            self._local.conn = conn
        return conn

    def get(self, key: str) -> dict[str, Any] | None:
        row = self._conn().execute("SELECT value FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        value: dict[str, Any] = json.loads(row[0])
        return value

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` without secrets (an answer can echo a key back)."""
        from .redact import redact_json

        blob = redact_json(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
        for attempt in range(5):
            try:
                self._conn().execute(
                    "INSERT OR REPLACE INTO responses (key, value, created) VALUES (?, ?, ?)",
                    (key, blob, time.time()),
                )
                return
            except sqlite3.OperationalError:  # database is locked beyond the busy timeout
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
