"""promptops.cache: buffered puts are visible at once, written in batches and on close;
concurrent gets are read together."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from promptops.cache import ResponseCache
from promptops.errors import CacheError


def test_batched_puts_are_visible_then_written(tmp_path: Path) -> None:
    writer = ResponseCache(tmp_path, batch=3)
    writer.put("a", {"text": "A"})
    writer.put("b", {"text": "B"})
    assert writer.get("a") == {"text": "A"}, "a buffered entry answers its own process"
    assert ResponseCache(tmp_path).get("a") is None, "not written yet"
    writer.put("c", {"text": "C"})  # the batch is full: one transaction
    other = ResponseCache(tmp_path)
    assert [other.get(k) for k in "abc"] == [{"text": "A"}, {"text": "B"}, {"text": "C"}]
    writer.put("d", {"text": "D"})
    writer.close()
    assert ResponseCache(tmp_path).get("d") == {"text": "D"}, "close writes the rest"


def test_default_writes_each_put(tmp_path: Path) -> None:
    ResponseCache(tmp_path).put("k", {"v": 1})
    assert ResponseCache(tmp_path).get("k") == {"v": 1}


def test_concurrent_agets_share_one_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Gets asked together are read in one thread hop and one query; each gets its answer."""
    writer = ResponseCache(tmp_path)
    for k in "abcd":
        writer.put(k, {"text": k.upper()})
    writer.close()
    cache = ResponseCache(tmp_path)
    reads: list[list[str]] = []
    real = ResponseCache.get_many

    def get_many(self: ResponseCache, keys: list[str]) -> dict[str, Any]:
        reads.append(sorted(keys))
        return real(self, keys)

    monkeypatch.setattr(ResponseCache, "get_many", get_many)

    async def main() -> list[dict[str, Any] | None]:
        return list(await asyncio.gather(*(cache.aget(k) for k in ["a", "b", "x", "d", "a"])))

    got = asyncio.run(main())
    assert got == [{"text": "A"}, {"text": "B"}, None, {"text": "D"}, {"text": "A"}]
    assert got[0] is not got[4], "the same key asked twice: two dicts, as from two gets"
    assert reads == [["a", "b", "d", "x"]]
    assert (cache.hits, cache.misses) == (4, 1)


def test_a_failed_batched_read_fails_every_waiting_get(tmp_path: Path) -> None:
    (tmp_path / "responses.sqlite").write_bytes(b"this is not a database\n" * 200)
    cache = ResponseCache(tmp_path)

    async def main() -> list[object]:
        return list(await asyncio.gather(*(cache.aget(k) for k in "abc"), return_exceptions=True))

    got = asyncio.run(main())
    assert all(isinstance(e, CacheError) and "corrupted" in str(e) for e in got), got


def test_a_cancelled_get_leaves_the_others_served(tmp_path: Path) -> None:
    ResponseCache(tmp_path).put("a", {"text": "A"})
    cache = ResponseCache(tmp_path)

    async def main() -> dict[str, Any] | None:
        gone = asyncio.ensure_future(cache.aget("a"))
        kept = asyncio.ensure_future(cache.aget("a"))
        await asyncio.sleep(0)
        gone.cancel()
        return await kept

    assert asyncio.run(main()) == {"text": "A"}
