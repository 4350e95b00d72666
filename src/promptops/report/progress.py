"""The progress bar of a running eval, on stderr (rich loads when a bar starts)."""

from __future__ import annotations

from typing import Any

from .format import money


class Progress:
    """A rich progress bar on stderr: done/total, pass rate so far, errors, cost so far."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.task: Any = None
        self.done = self.passed = self.errors = 0
        self.cost = 0.0

    def start(self, total: int, run: Any) -> None:
        if not self.enabled:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        from .console import err

        self.bar = Progress(
            TextColumn("[bold]eval[/] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            console=err(),
            transient=False,
        )
        self.bar.start()
        self.task = self.bar.add_task(run.id, total=total, stats="")

    def update(self, rec: dict[str, Any]) -> None:
        if self.bar is None:
            return
        self.done += 1
        if not rec.get("skipped"):
            self.passed += bool(rec.get("pass"))
            self.errors += bool(rec.get("error"))
            self.cost += float(rec.get("cost") or 0.0) if not rec.get("cached") else 0.0
        rate = self.passed / self.done if self.done else 0
        self.bar.update(
            self.task, advance=1, stats=f"pass {rate:.0%}  errors {self.errors}  {money(self.cost)}"
        )

    def batch(self, info: Any) -> None:
        """A batch poll (eval --batch): its status and request counts in the description."""
        if self.bar is None:
            return
        done = f"{info.completed + info.failed}/{info.total}" if info.total else ""
        failed = f", {info.failed} failed" if info.failed else ""
        text = " ".join(x for x in ("batch", info.id, info.status, done) if x) + failed
        self.bar.update(self.task, description=text)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
