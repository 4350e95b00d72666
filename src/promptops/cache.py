"""Content-addressed response cache: one SQLite file under ``.promptops/cache/``.

The key is a sha256 over the model, its pinned identity (e.g. a local file's sha256), the
parameters, the rendered messages, the api_base and the repeat index, so ``--repeat`` samples
stay independent. SQLite in WAL mode lets concurrent runs read and write without corrupting
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
    """sha256 of the canonical JSON of everything that determines a response."""
    blob = json.dumps(
        {
            "model": model,
            "identity": identity or {},
            "params": params,
            "messages": messages,
            "api_base": api_base,
            "repeat": repeat,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    """Get/put JSON values by key. Thread-safe; cheap to open.

    ``batch`` > 1 buffers that many puts and writes them in one transaction (an eval writes
    one entry per call; a commit each costs more than the rest of the bookkeeping). Buffered
    entries are visible to ``get`` at once and written by ``flush``/``close``; a process killed
    outright loses at most ``batch - 1`` of them (they are asked again next time)."""

    def __init__(self, directory: Path, batch: int = 1) -> None:
        self.path = directory / "responses.sqlite"
        self._local = threading.local()
        self.hits = 0
        self.misses = 0
        self.batch = max(1, batch)
        self._pending: dict[str, str] = {}
        self._lock = threading.Lock()

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
        blob = self._pending.get(key)
        if blob is None:
            row = (
                self._conn().execute("SELECT value FROM responses WHERE key = ?", (key,)).fetchone()
            )
            blob = None if row is None else row[0]
        if blob is None:
            self.misses += 1
            return None
        self.hits += 1
        value: dict[str, Any] = json.loads(blob)
        return value

    def put(self, key: str, value: dict[str, Any]) -> None:
        blob = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            self._pending[key] = blob
            full = len(self._pending) >= self.batch
        if full:
            self.flush()

    def flush(self) -> None:
        """Write the buffered entries in one transaction."""
        with self._lock:
            rows, self._pending = list(self._pending.items()), {}
        if not rows:
            return
        now = time.time()
        for attempt in range(5):
            conn = self._conn()
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(
                    "INSERT OR REPLACE INTO responses (key, value, created) VALUES (?, ?, ?)",
                    [(k, v, now) for k, v in rows],
                )
                conn.execute("COMMIT")
                return
            except sqlite3.OperationalError:  # database is locked beyond the busy timeout
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def close(self) -> None:
        self.flush()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
