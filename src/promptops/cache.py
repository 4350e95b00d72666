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

from .errors import CacheError, display_path

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
    """Get/put JSON values by key. Thread-safe (one connection behind a lock); cheap to open.

    The async ``aget``/``aput`` run the SQLite work in a thread, so a busy or slow database
    never stalls the event loop. A corrupted file or a full disk is a :class:`CacheError`
    that says what to do, not a traceback.

    With ``batch`` > 1, puts are buffered (visible to ``get`` at once) and written ``batch`` at
    a time in one transaction, and the rest on :meth:`flush`/:meth:`close`: one commit per
    response was the eval loop's largest cost after the model call. A crash loses at most
    ``batch - 1`` entries, which are simply asked again next time.
    """

    def __init__(self, directory: Path, batch: int = 1) -> None:
        self.path = directory / "responses.sqlite"
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self.hits = 0
        self.misses = 0
        self.batch = max(1, batch)
        self._pending: dict[str, str] = {}

    def _fail(self, e: Exception) -> CacheError:
        shown = display_path(self.path)
        corrupted = isinstance(e, ValueError | RecursionError) or (
            isinstance(e, sqlite3.DatabaseError) and not isinstance(e, sqlite3.OperationalError)
        )
        if corrupted:
            return CacheError(
                f"{shown}: the response cache is corrupted ({e}); delete the file "
                f"(it is only a cache) or run with --no-cache"
            )
        return CacheError(f"{shown}: response cache failed: {e}; run with --no-cache")

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(SCHEMA)
            except BaseException:
                conn.close()
                raise
            self._db = conn
        return self._db

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            with self._lock:
                blob = self._pending.get(key)
                if blob is None:
                    row = (
                        self._conn()
                        .execute("SELECT value FROM responses WHERE key = ?", (key,))
                        .fetchone()
                    )
                    blob = None if row is None else row[0]
            value = None if blob is None else json.loads(blob)
        except (sqlite3.Error, OSError, ValueError, RecursionError) as e:
            raise self._fail(e) from None
        if not isinstance(value, dict):
            self.misses += 1
            return None
        self.hits += 1
        return value

    def _buffer(self, key: str, value: dict[str, Any]) -> bool:
        """Buffer ``value`` without secrets (an answer can echo a key back); True when the
        batch is full and must be flushed. No SQLite work: safe on the event loop."""
        from .redact import redact_json

        blob = redact_json(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
        with self._lock:
            self._pending[key] = blob
            return len(self._pending) >= self.batch

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` without secrets."""
        if self._buffer(key, value):
            self.flush()

    def flush(self) -> None:
        """Write the buffered entries in one transaction."""
        with self._lock:
            rows, self._pending = list(self._pending.items()), {}
        if not rows:
            return
        now = time.time()
        for attempt in range(5):
            try:
                with self._lock:
                    conn = self._conn()
                    try:
                        conn.execute("BEGIN IMMEDIATE")
                        conn.executemany(
                            "INSERT OR REPLACE INTO responses (key, value, created) "
                            "VALUES (?, ?, ?)",
                            [(k, v, now) for k, v in rows],
                        )
                        conn.execute("COMMIT")
                    except BaseException:
                        if conn.in_transaction:
                            conn.execute("ROLLBACK")
                        raise
                return
            except sqlite3.OperationalError as e:  # locked beyond the busy timeout, disk full
                if attempt == 4 or "locked" not in str(e):
                    raise self._fail(e) from None
                time.sleep(0.05 * (attempt + 1))  # in a worker thread when called via aput
            except (sqlite3.Error, OSError) as e:
                raise self._fail(e) from None

    async def aget(self, key: str) -> dict[str, Any] | None:
        """:meth:`get`, in a worker thread unless the answer is still buffered."""
        import asyncio

        with self._lock:
            blob = self._pending.get(key)
        if blob is not None:
            self.hits += 1
            value: dict[str, Any] = json.loads(blob)
            return value
        return await asyncio.to_thread(self.get, key)

    async def aput(self, key: str, value: dict[str, Any]) -> None:
        """:meth:`put`, its SQLite work (a full batch's :meth:`flush`, with its busy waits and
        retry sleeps) in a worker thread; buffering alone stays on the loop (a thread hop per
        answer cost more than the buffering)."""
        import asyncio

        if self._buffer(key, value):
            await asyncio.to_thread(self.flush)

    async def aclose(self) -> None:
        """:meth:`close` in a worker thread (it writes what is still buffered)."""
        import asyncio

        await asyncio.to_thread(self.close)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._close()

    def _close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
