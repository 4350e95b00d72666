"""promptops.eval.summary: the runner's running Tally gives the summary a read of the whole
results file would (so a stopped run needs no second read of a file of any size)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from promptops.eval.store import latest_records
from promptops.eval.summary import Tally, summarize

Cli = Callable[..., Result]


def _rec(case: str, *, error: str | None = None, passed: bool = True) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "case_id": case,
        "prompt": "p",
        "version": "1.0.0",
        "digest": "sha256:x",
        "model": "echo/echo",
        "repeat": 0,
        "error": error,
    }
    if error is None:
        rec |= {"pass": passed, "score": float(passed), "latency_ms": 2.0, "cost": 0.0}
    return rec


def test_a_carried_record_counts_unless_a_rerun_replaces_it() -> None:
    tally = Tally()
    tally.add(_rec("a"))
    tally.carry(_rec("b", error="boom"))
    tally.carry(_rec("c", error="boom"))
    tally.add(_rec("b", passed=False))  # b was run again; c was not reached
    (g,) = tally.groups()
    assert (g["n"], g["passed"], g["failed"], g["errors"]) == (3, 1, 1, 1)
    assert tally.exact
    expected = summarize([_rec("a"), _rec("b", passed=False), _rec("c", error="boom")])
    assert [g] == expected


def test_a_key_written_twice_makes_the_tally_inexact() -> None:
    tally = Tally()
    tally.add(_rec("a"))
    tally.add(_rec("a"))
    assert not tally.exact


def _groups(project: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    (run,) = list((project / ".promptops/runs").iterdir())
    s = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    return s["groups"], summarize(latest_records(run / "results.jsonl"))


def test_the_summary_of_a_resumed_run_equals_the_files(
    project: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from promptops.providers.base import CallError
    from promptops.providers.echo import EchoProvider

    real = EchoProvider.complete

    async def failing(self: EchoProvider, call: Any) -> Any:
        if "cat" in json.dumps(call.messages):
            raise CallError("down for this one", transient=False)
        return await real(self, call)

    monkeypatch.setattr(EchoProvider, "complete", failing)
    first = cli("eval", "summarize@1.0", "-q", "--format", "json")
    assert first.exit_code == 1, first.output
    stored, read = _groups(project)
    assert stored == read and stored[0]["errors"] == 1
    monkeypatch.setattr(EchoProvider, "complete", real)
    (run,) = list((project / ".promptops/runs").iterdir())
    again = cli("eval", "--resume", run.name, "-q", "--format", "json")
    assert again.exit_code == 0, again.output
    stored, read = _groups(project)
    assert stored == read and (stored[0]["n"], stored[0]["errors"]) == (3, 0)
