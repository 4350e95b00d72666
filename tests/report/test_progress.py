"""The eval progress bar's batch line (eval --batch)."""

from __future__ import annotations

from typing import Any

from promptops.eval.batch import BatchInfo
from promptops.report.progress import Progress


class _Bar:
    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []

    def update(self, task: Any, **fields: Any) -> None:
        self.updates.append(fields)


def test_a_batch_poll_shows_its_status_and_request_counts() -> None:
    p = Progress(enabled=True)
    bar = p.bar = _Bar()
    p.batch(BatchInfo("batch-1", "in_progress", 10, 6, 1))
    p.batch(BatchInfo("batch-1", "validating", 0, 0, 0))
    assert bar.updates[0]["description"] == "batch batch-1 in_progress 7/10, 1 failed"
    assert bar.updates[1]["description"] == "batch batch-1 validating"


def test_no_bar_no_output() -> None:
    Progress(enabled=False).batch(BatchInfo("b", "completed", 1, 1, 0))  # does nothing
