"""examples/production_loop.py end to end: several application processes against the loopback
model server; a worse canary ends in an automatic rollback every process follows, a good one
ramps to 100%."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "production_loop.py"


def load() -> Any:
    spec = importlib.util.spec_from_file_location("production_loop", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("scenario", ["bad", "good"])
def test_the_loop_decides_applies_and_every_process_follows(scenario: str) -> None:
    result = load().run(scenario, processes=3, timeout=240)
    verdicts = [s["verdict"] for s in result["steps"]]
    if scenario == "bad":
        assert verdicts == ["rollback"], result
        assert "error_rate is worse" in result["steps"][0]["reason"]
        assert (result["serving"], result["canary"]) == ("1.0.0", None)
    else:
        assert verdicts == ["advance", "advance"], result
        assert [s["next"] for s in result["steps"]] == [50, 100]
        assert (result["serving"], result["canary"]) == ("2.0.0", None)
    assert result["followed_s"] is not None and result["followed_s"] < 10, result
