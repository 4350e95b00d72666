"""Narrow terminals: `runs`, `eval` and `diff` never cut run ids or prompt@version; they drop
less important columns or stack lines instead."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rich.cells import cell_len
from typer.testing import Result

Cli = Callable[..., Result]


@pytest.fixture
def width(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """COLUMNS for the commands under test (the CLI's consoles are built once, so rebuild)."""
    from promptops.report.console import err, out

    monkeypatch.setenv("COLUMNS", str(request.param))
    out.cache_clear()
    err.cache_clear()
    yield int(request.param)
    out.cache_clear()
    err.cache_clear()


def _run_ids(cli: Cli) -> list[str]:
    return [r["run_id"] for r in json.loads(cli("runs", "--json").stdout)]


@pytest.mark.parametrize("width", [80, 60], indirect=True)
def test_runs_eval_and_diff_keep_identifiers_whole(project: Path, cli: Cli, width: int) -> None:
    ev = cli("eval", "summarize@1.0", "summarize@2.0", "-q")
    assert ev.exit_code == 0, ev.output
    diff = cli("diff", "summarize@1.0", "summarize@2.0")
    assert diff.exit_code == 0, diff.output
    runs = cli("runs")
    assert runs.exit_code == 0, runs.output
    ids = _run_ids(cli)
    assert len(ids) == 2 and all(len(i) > 40 for i in ids)  # long enough to be cut before
    for result in (ev, diff, runs):
        assert "…" not in result.stdout, result.stdout
    # runs: every run id whole, each version whole, and no line wider than the terminal
    for run_id in ids:
        assert run_id in runs.stdout
    for line in runs.stdout.splitlines():
        assert cell_len(line) <= width, line
    assert runs.stdout.count("summarize@1.0.0") == 2
    # eval: version · model rows whole; the table fits
    table = ev.stdout.split("\nrun ")[0]
    for line in table.splitlines():
        assert cell_len(line) <= width, line
    assert re.search(r"^summarize@1\.0\.0 .*3/3 100%.*met$", table, re.M), table
    assert re.search(r"^summarize@2\.0\.0 ", table, re.M)
    # diff: the metrics table names both versions whole (in its header or as A = / B =)
    metrics = diff.stdout[diff.stdout.index("paired cases") :]
    assert "summarize@1.0.0" in metrics and "summarize@2.0.0" in metrics
    table_lines = [ln for ln in metrics.splitlines() if "│" in ln or "┃" in ln]
    assert table_lines and all(cell_len(ln) <= width for ln in table_lines)
    # show-run: the per-assertion table keeps prompt@version whole too
    shown = cli("show-run", ids[-1])
    assert shown.exit_code == 0, shown.output
    assert "…" not in shown.stdout
    assertions = shown.stdout[shown.stdout.index("pass rate per assertion") :]
    assert assertions.count("summarize@1.0.0") == 1 and assertions.count("summarize@2.0.0") == 1


@pytest.mark.parametrize("width", [60], indirect=True)
def test_narrow_tables_drop_columns_in_order(project: Path, cli: Cli, width: int) -> None:
    ev = cli("eval", "summarize@1.0", "-q")
    header = ev.stdout.splitlines()[0].split()
    # the latency and interval columns go first; pass, err and bar always stay
    assert "p50/p95" not in header and "CI" not in header
    assert {"pass", "err", "bar"} <= set(header)
    runs = cli("runs").stdout
    assert "started" not in runs


@pytest.mark.parametrize("width", [200], indirect=True)
def test_wide_terminals_keep_every_column(project: Path, cli: Cli, width: int) -> None:
    ev = cli("eval", "summarize@1.0", "-q")
    assert ev.stdout.splitlines()[0].split() == [
        "version", "·", "model", "pass", "95%", "CI", "score", "err", "p50/p95", "ms", "cost", "bar",
    ]  # fmt: skip
    runs = cli("runs").stdout
    assert runs.splitlines()[0].split("┃")[2].strip() == "started"
    diff = cli("diff", "summarize@1.0", "summarize@2.0").stdout
    assert "A = summarize@1.0.0" not in diff
    assert re.search(r"metric\s+┃ summarize@1\.0\.0 ┃ summarize@2\.0\.0 ┃", diff)
