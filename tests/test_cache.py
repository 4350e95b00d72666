"""promptops.cache: buffered puts are visible at once, written in batches and on close."""

from __future__ import annotations

from pathlib import Path

from promptops.cache import ResponseCache


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
