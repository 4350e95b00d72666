"""``promptops export``: a run's records as csv, jsonl or parquet."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from conftest import assert_no_traceback, error_lines
from promptops.report.export import flatten, records_frame

Cli = Callable[..., Result]


@pytest.fixture
def evaluated(project: Path, cli: Cli) -> Path:
    result = cli("eval", "summarize@2.0", "--quiet")
    assert result.exit_code in (0, 1), result.output
    return project


def test_csv_to_stdout(evaluated: Path, cli: Cli) -> None:
    result = cli("export", "latest", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert sorted(r["case_id"] for r in rows) == ["budget", "long", "short"]
    head = list(rows[0])
    assert head[:6] == ["run_id", "case_id", "prompt", "version", "model", "repeat"]
    for col in ("vars.document", "vars.max_words", "expected", "output", "score", "pass"):
        assert col in head, col
    assert "assert.icontains.pass" in head and "assert.icontains.score" in head
    budget = next(r for r in rows if r["case_id"] == "budget")
    assert budget["vars.max_words"] == "5" and budget["expected"] == "3%"
    assert budget["version"] == "2.0.0" and budget["assert.icontains.pass"] == "True"


def test_jsonl_and_parquet_files(evaluated: Path, cli: Cli) -> None:
    import pandas as pd

    assert cli("export", "--format", "jsonl", "-o", "out/run.jsonl").exit_code == 0
    lines = (evaluated / "out/run.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == 3 and all(isinstance(r["score"], float) for r in rows)
    assert {r["vars.max_words"] for r in rows} == {None, 5}  # the case's own vars, as written
    assert {r["model"] for r in rows} == {"echo/echo"}
    result = cli("export", "latest", "--format", "parquet", "--output", "out/run.parquet")
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(evaluated / "out/run.parquet")
    assert len(frame) == 3 and frame["score"].dtype.kind == "f"
    assert set(frame["case_id"]) == {"short", "long", "budget"}


def test_parquet_needs_a_file_and_pyarrow(
    evaluated: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = cli("export", "--format", "parquet")
    assert result.exit_code == 2 and "--output" in error_lines(result)[0]
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow -> ImportError
    result = cli("export", "--format", "parquet", "-o", "x.parquet")
    assert result.exit_code == 1
    assert "pip install 'promptops-cli[parquet]'" in error_lines(result)[0]
    assert_no_traceback(result)
    bad = cli("export", "--format", "xlsx")
    assert bad.exit_code == 2 and "'xlsx' is not one of 'csv', 'jsonl', 'parquet'" in bad.stderr


def record(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "case_id": "c1",
        "prompt": "p",
        "version": "1.0.0",
        "digest": "sha256:x",
        "model": "echo/echo",
        "repeat": 0,
        "vars": {},
        "expected": None,
        "output": "out",
        "pass": True,
        "score": 1.0,
        "assertions": [],
    }
    return base | kw


def test_flatten_labels_and_one_type_per_column(tmp_path: Path) -> None:
    rec = record(
        assertions=[
            {"type": "contains", "metric": None, "pass": True, "score": 1.0},
            {"type": "contains", "metric": None, "pass": False, "score": 0.0},
            {"type": "similar", "metric": "sim", "pass": True, "score": 0.8},
        ],
        vars={"doc": "x", "tags": ["a", "b"]},
        expected={"answer": 1},
    )
    row = flatten(rec)
    assert row["assert.contains.pass"] is True and row["assert.contains#2.pass"] is False
    assert row["assert.sim.score"] == 0.8
    assert row["vars.tags"] == '["a", "b"]' and row["expected"] == '{"answer": 1}'
    records = [
        record(case_id="a", vars={"x": 1}, expected="yes"),
        record(case_id="b", vars={"x": "two"}, expected=3),
        record(case_id="c", vars={"x": None}, error="boom", output=None, score=0.0),
    ]
    frame = records_frame(records)

    def values(col: str) -> list[Any]:
        return list(frame[col].astype(object).where(frame[col].notna(), None))

    assert values("vars.x") == ["1", "two", None]
    assert values("expected") == ["yes", "3", None]
    assert values("score") == [1.0, 1.0, 0.0] and str(frame["score"].dtype) == "Float64"
    frame.to_parquet(tmp_path / "mixed.parquet", index=False)  # one type per column


# ------------------------------------------------------------------ other integrations

REPO = Path(__file__).resolve().parents[2]


def test_pre_commit_hook_runs_promptops_lint(project: Path, cli: Cli) -> None:
    import re
    import shlex

    import yaml

    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    hook = next(h for h in hooks if h["id"] == "promptops-lint")
    assert hook["language"] == "python" and hook["pass_filenames"] is False
    files = re.compile(hook["files"])
    # python assertion modules are linted too (lint checks the function they name exists)
    for path in (
        "prompts/summarize/1.0.0.yaml",
        "evals/summarize.jsonl",
        "registry.yaml",
        "checks/assertions.py",
    ):
        assert files.search(path), path
    assert not files.search("README.md")
    # the README's `repo: local` snippet runs the same command on the same files
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    snippet = readme.split("# .pre-commit-config.yaml", 1)[1].split("\n", 1)[1].split("```", 1)[0]
    local = yaml.safe_load(snippet)["repos"][0]
    assert local["repo"] == "local"
    (local_hook,) = local["hooks"]
    assert (local_hook["entry"], local_hook["files"]) == (hook["entry"], hook["files"])
    assert local_hook["language"] == "system" and local_hook["pass_filenames"] is False
    program, *args = shlex.split(hook["entry"])
    assert program == "promptops"
    ok = cli(*args)
    assert ok.exit_code == 0, ok.output
    (project / "prompts/summarize/3.0.0.yaml").write_text("name: summarize\nversion: 3.0.0\n")
    bad = cli(*args)
    assert bad.exit_code == 1 and "prompts/summarize/3.0.0.yaml" in bad.stderr


def test_shell_completion_script(cli: Cli) -> None:
    import shellingham

    try:
        shellingham.detect_shell()
    except shellingham.ShellDetectionFailure:
        pytest.skip("no parent shell to write a completion script for")
    result = cli("--show-completion")
    assert result.exit_code == 0, result.output
    assert "_PROMPTOPS_COMPLETE" in result.stdout
