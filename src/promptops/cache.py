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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import CacheError, display_path

if TYPE_CHECKING:
    import asyncio

    _Waiter = asyncio.Future[dict[str, Any] | None]

T = TypeVar("T")

_CHUNK = 500  # keys per query (SQLite's limit on bound parameters is far above)

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

    The async ``aget``/``aput`` run the SQLite work in the cache's own thread, so a busy or
    slow database never stalls the event loop, and a lookup never queues behind other work in
    the loop's default executor (litellm runs each call's logging there: with 16 calls in
    flight, a cold eval's lookups waited behind it). Concurrent ``aget`` calls share their thread hops: the keys
    asked while a read is under way are read together by the next one, in one query (a hop
    per get cost more than the fully cached eval's rendering and checking together). A
    corrupted file or a full disk is a :class:`CacheError` that says what to do, not a
    traceback.

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
        # per event loop: the keys its agets wait for; present while its reader task runs
        self._wanted: dict[asyncio.AbstractEventLoop, dict[str, list[_Waiter]]] = {}
        self._readers: set[asyncio.Task[None]] = set()
        self._executor: ThreadPoolExecutor | None = None  # the SQLite thread, made on first use

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the cache's own worker thread (one: SQLite work is serial anyway,
        behind the lock)."""
        import asyncio

        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="promptops-cache")
            executor = self._executor
        return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)

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
        value = self.get_many([key]).get(key)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The cached values of ``keys`` (absent keys are left out): buffered answers first,
        the rest in one query per 500 keys."""
        found: dict[str, dict[str, Any]] = {}
        try:
            with self._lock:
                blobs = {k: b for k in keys if (b := self._pending.get(k)) is not None}
                rest = [k for k in dict.fromkeys(keys) if k not in blobs]
                for i in range(0, len(rest), _CHUNK):
                    chunk = rest[i : i + _CHUNK]
                    rows = (
                        self._conn()
                        .execute(
                            "SELECT key, value FROM responses WHERE key IN "
                            f"({','.join('?' * len(chunk))})",
                            chunk,
                        )
                        .fetchall()
                    )
                    blobs.update(rows)
            for k, blob in blobs.items():
                value = json.loads(blob)
                if isinstance(value, dict):
                    found[k] = value
        except (sqlite3.Error, OSError, ValueError, RecursionError) as e:
            raise self._fail(e) from None
        return found

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
        """:meth:`get`, in a worker thread unless the answer is still buffered; the keys of
        concurrent calls are read together (one thread hop and one query for all of them)."""
        import asyncio

        with self._lock:
            blob = self._pending.get(key)
        if blob is not None:
            self.hits += 1
            value: dict[str, Any] = json.loads(blob)
            return value
        loop = asyncio.get_running_loop()
        fut: _Waiter = loop.create_future()
        wanted = self._wanted.get(loop)
        if wanted is None:  # no reader on this loop: start one (it runs once this task waits)
            wanted = self._wanted[loop] = {}
            reader = loop.create_task(self._read_wanted(loop))
            self._readers.add(reader)
            reader.add_done_callback(self._readers.discard)
        wanted.setdefault(key, []).append(fut)
        found = await fut
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    async def _read_wanted(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serve ``loop``'s waiting keys, one batch per thread hop, until none are left; a
        batch is every key asked while the previous one was being read."""
        import asyncio

        try:
            while batch := self._wanted[loop]:
                self._wanted[loop] = {}
                try:
                    found = await self._in_thread(self.get_many, list(batch))
                except asyncio.CancelledError:
                    self._wanted[loop] = batch | self._wanted[loop]  # cancelled below
                    raise
                except Exception as e:  # a CacheError: each waiting get raises it
                    for futs in batch.values():
                        for f in futs:
                            if not f.done():
                                f.set_exception(e)
                    continue
                for k, futs in batch.items():
                    value = found.get(k)
                    for i, f in enumerate(futs):
                        if not f.done():  # its caller may have been cancelled meanwhile
                            # the same key asked twice: each caller gets its own dict
                            f.set_result(value if i == 0 or value is None else _copy(value))
        finally:
            for futs in self._wanted.pop(loop, {}).values():
                for f in futs:
                    f.cancel()

    async def aput(self, key: str, value: dict[str, Any]) -> None:
        """:meth:`put`, its SQLite work (a full batch's :meth:`flush`, with its busy waits and
        retry sleeps) in a worker thread; buffering alone stays on the loop (a thread hop per
        answer cost more than the buffering)."""
        if self._buffer(key, value):
            await self._in_thread(self.flush)

    async def aclose(self) -> None:
        """:meth:`close` in the cache's thread (it writes what is still buffered)."""
        await self._in_thread(self.close)

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
            executor, self._executor = self._executor, None
        if executor is not None:  # its thread ends once idle (this may run on it: no wait)
            executor.shutdown(wait=False)


def _copy(value: dict[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(value))
    return copied
