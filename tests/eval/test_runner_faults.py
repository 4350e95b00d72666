"""Issue 11: an internal error in a worker ends the run promptly and loudly (status ``error``,
the cause shown, no traceback), a run is ``complete`` only with every planned record, and
``promote`` refuses anything less as evidence. SIGTERM is handled like Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from conftest import assert_no_traceback, git
from promptops.testing.server import FakeOpenAI

Cli = Callable[..., Result]
N = 30  # more cases than 4x the concurrency: a dead worker used to block the producer forever


@pytest.fixture(autouse=True)
def _in_project(project: Path) -> None:
    lines = [
        {"id": f"c{i:02d}", "vars": {"document": f"doc {i}"}, "expected": "doc"} for i in range(N)
    ]
    (project / "evals/summarize.jsonl").write_text(
        "".join(json.dumps(c) + "\n" for c in lines), encoding="utf-8"
    )


def _eval(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """A real process with a hard timeout: a hang fails the test instead of stalling it."""
    return subprocess.run(
        [sys.executable, "-m", "promptops", "eval", "summarize@1.0", "-q", "-c", "2", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={
            **os.environ,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "OPENAI_API_KEY": "sk-x-0123456789",
        },
    )


def _use_server(project: Path, url: str) -> None:
    """Point summarize 1.0.0 at the loopback server (litellm's real path; cacheable)."""
    path = project / "prompts/summarize/1.0.0.yaml"
    text = path.read_text(encoding="utf-8").replace(
        "  id: echo/echo\n", f"  id: openai/gpt-4o-mini-2024-07-18\n  api_base: {url}\n"
    )
    path.write_text(text, encoding="utf-8")


def _summary(project: Path) -> dict:
    (run,) = list((project / ".promptops/runs").iterdir())
    return json.loads((run / "summary.json").read_text(encoding="utf-8"))


def _assert_error_run_refused(
    project: Path, cli: Cli, done: subprocess.CompletedProcess[str]
) -> str:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "eval stopped with an internal error" in done.stderr
    s = _summary(project)
    assert s["status"] == "error"
    assert s["bar"]["met"] is False
    assert s["error"]
    run_id = next((project / ".promptops/runs").iterdir()).name
    promoted = cli("promote", "summarize", "1.0.0", "--env", "dev", "--evidence", run_id)
    assert promoted.exit_code == 1
    assert_no_traceback(promoted)
    # refused: it is an error run (or, when it stopped before any record, it has none)
    assert "it is error" in promoted.stderr or "it has no results" in promoted.stderr
    return done.stderr


def test_lone_surrogate_in_a_dataset_value_ends_the_run_with_error(project: Path, cli: Cli) -> None:
    with (project / "evals/summarize.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"id": "bad", "vars": {"document": "x \\ud83d y"}}\n')
    err = _assert_error_run_refused(project, cli, _eval(project))
    assert "case bad (evals/summarize.jsonl:31): UnicodeEncodeError" in err


def _spoil_cache(cache: Path, how: str) -> None:
    import sqlite3

    if how == "garbage":
        cache.write_bytes(b"this is not a database\n" * 200)
    elif how == "truncated":
        data = cache.read_bytes()
        cache.write_bytes(data[: len(data) // 3])
    else:  # one row's value is not JSON any more
        with sqlite3.connect(cache) as db:
            db.execute('UPDATE responses SET value = \'{"text": "cut off\'')


@pytest.mark.parametrize("how", ["garbage", "truncated", "bad-row"])
def test_corrupted_cache_ends_the_run_with_a_clear_error(
    project: Path, cli: Cli, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = project / ".promptops/cache/responses.sqlite"
    with FakeOpenAI() as server:
        _use_server(project, server.url)
        if how == "garbage":
            cache.parent.mkdir(parents=True)
        else:  # a real cache first (in-process: no second litellm import), then spoil it
            monkeypatch.setenv("OPENAI_API_KEY", "sk-x-0123456789")
            first = cli("eval", "summarize@1.0", "-q", "-c", "2", "--format", "json")
            assert first.exit_code == 0, first.output
            assert server.calls == N
            for leftover in (project / ".promptops/runs").iterdir():
                import shutil

                shutil.rmtree(leftover)
            import sqlite3

            with sqlite3.connect(cache) as db:  # fold the WAL into the file
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        _spoil_cache(cache, how)
        err = _assert_error_run_refused(project, cli, _eval(project))
    assert "the response cache is corrupted" in err
    assert "--no-cache" in err


def test_sys_exit_in_a_python_assertion_ends_the_run_with_error(project: Path, cli: Cli) -> None:
    (project / "checks.py").write_text(
        "import sys\n\ndef check(output, context):\n    sys.exit(3)\n", encoding="utf-8"
    )
    (project / "evals/summarize.jsonl").write_text(
        "".join(
            json.dumps(
                {
                    "id": f"c{i:02d}",
                    "vars": {"document": f"doc {i}"},
                    "assert": [{"type": "python", "value": "checks.py:check"}],
                }
            )
            + "\n"
            for i in range(N)
        ),
        encoding="utf-8",
    )
    err = _assert_error_run_refused(project, cli, _eval(project))
    assert "checks.py:check called sys.exit(3)" in err


def test_disk_full_while_appending_records_ends_the_run_with_error(
    project: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from promptops.eval.store import RunDir

    real = RunDir.append
    calls = {"n": 0}

    def append(self: RunDir, record: dict) -> None:
        calls["n"] += 1
        if calls["n"] > 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self, record)

    monkeypatch.setattr(RunDir, "append", append)
    result = cli("eval", "summarize@1.0", "-q", "-c", "2")
    assert result.exit_code == 1
    assert_no_traceback(result)
    assert "No space left on device" in result.stderr
    s = _summary(project)
    assert s["status"] == "error"
    assert s["records"] == {"planned": N, "written": 5}


def test_complete_run_records_planned_and_written(project: Path, cli: Cli) -> None:
    result = cli("eval", "summarize@1.0", "-q", "-c", "2", "--format", "json")
    assert result.exit_code == 0, result.output
    s = _summary(project)
    assert s["status"] == "complete"
    assert s["records"] == {"planned": N, "written": N}


def test_promote_refuses_a_complete_run_short_of_records(project: Path, cli: Cli) -> None:
    """A run that says complete but holds fewer records than the dataset has cases (as the old
    runner wrote after a dead worker) is not evidence."""
    assert cli("eval", "summarize@1.0", "-q").exit_code == 0
    (run,) = list((project / ".promptops/runs").iterdir())
    s = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    del s["records"]  # an old summary: no planned/written counts
    s["groups"][0]["n"] = 12
    (run / "summary.json").write_text(json.dumps(s), encoding="utf-8")
    result = cli("promote", "summarize", "1.0.0", "--env", "dev", "--evidence", run.name)
    assert result.exit_code == 1
    assert_no_traceback(result)
    assert f"it has 12 of {N} records ({N} cases x 1 repeats)" in result.stderr
    s["groups"][0]["n"] = N
    (run / "summary.json").write_text(json.dumps(s), encoding="utf-8")
    assert (
        cli("promote", "summarize", "1.0.0", "--env", "dev", "--evidence", run.name).exit_code == 0
    )


def test_sigterm_writes_a_summary_and_exits_143(project: Path) -> None:
    with FakeOpenAI(latency=0.2) as server:
        _use_server(project, server.url)
        proc = subprocess.Popen(
            [sys.executable, "-m", "promptops", "eval", "summarize@1.0", "-q", "-c", "1"],
            cwd=project,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "OPENAI_API_KEY": "sk-test-0123456789"},
        )
        deadline = time.time() + 60
        results = project / ".promptops/runs"
        while time.time() < deadline:
            files = list(results.glob("*/results.jsonl"))
            if files and files[0].read_text(encoding="utf-8").count("\n") >= 2:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    assert "terminated (SIGTERM)" in err
    assert "--resume" in err
    s = _summary(project)
    assert s["status"] == "interrupted"
    assert s["signal"] == "SIGTERM"
    assert 2 <= s["records"]["written"] < N


# --------------------------------------------------------------------------- time limits


def _dataset_with(project: Path, assertion: dict) -> None:
    (project / "evals/summarize.jsonl").write_text(
        "".join(
            json.dumps(
                {
                    "id": f"c{i:02d}",
                    "vars": {"document": "a" * 40 + "!" if i == 3 else f"doc {i}"},
                    "assert": [assertion] if i == 3 else [],
                }
            )
            + "\n"
            for i in range(8)
        ),
        encoding="utf-8",
    )


def _the_timed_out_case(project: Path, done: subprocess.CompletedProcess[str]) -> dict:
    """The run finished all 8 cases, 7 passed and c03's check errored: c03's record."""
    s = json.loads(done.stdout)
    assert s["status"] == "complete"
    g = s["groups"][0]
    assert (g["n"], g["passed"], g["assert_errors"]) == (8, 7, 1)
    (rec,) = [
        json.loads(line)
        for line in next((project / ".promptops/runs").glob("*/results.jsonl")).open()
        if '"c03"' in line
    ]
    return dict(rec)


def test_a_python_check_that_never_returns_times_out_and_the_run_continues(
    project: Path,
) -> None:
    (project / "checks.py").write_text(
        "def check(output, context):\n    while True:\n        pass\n", encoding="utf-8"
    )
    _dataset_with(project, {"type": "python", "value": "checks.py:check", "timeout": 0.5})
    done = _eval(project, "--format", "json")
    assert done.returncode == 1, done.stderr  # the bar (1.0) is missed by that one case
    rec = _the_timed_out_case(project, done)
    assert "did not finish within 0.5s" in rec["assert_error"]


def test_a_catastrophic_regex_times_out_and_the_run_continues(project: Path) -> None:
    _dataset_with(project, {"type": "regex", "value": "(a+)+$", "timeout": 0.5})
    done = _eval(project, "--format", "json")
    assert done.returncode == 1, done.stderr
    rec = _the_timed_out_case(project, done)
    assert "catastrophic backtracking" in rec["assert_error"]


SHAPED = """\
name: shaped
version: 1.0.0
model: {id: echo/last}
inputs:
  name: string
template: '{"name": "{{ name }}"}'
output:
  format: json
  schema: {type: object, properties: {name: {type: string, pattern: "^(a+)+$"}}}
dataset: evals/shaped.jsonl
assert:
  - {type: json-schema, timeout: 0.5}
"""


def test_a_catastrophic_pattern_in_an_output_schema_times_out_and_the_run_continues(
    project: Path,
) -> None:
    """A pull request can put any pattern in a prompt's output schema: ``check`` and ``eval``
    must not hang on it (about 20 s of backtracking here, minutes on a slower case)."""
    (project / "prompts/shaped").mkdir()
    (project / "prompts/shaped/1.0.0.yaml").write_text(SHAPED, encoding="utf-8")
    names = ["a" * 28 + "!" if i == 3 else "a" * (i + 1) for i in range(8)]
    (project / "evals/shaped.jsonl").write_text(
        "".join(
            json.dumps({"id": f"c{i:02d}", "vars": {"name": n}}) + "\n" for i, n in enumerate(names)
        ),
        encoding="utf-8",
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "promptops", "eval", "shaped@1.0", "-q", "-c", "2", "-f", "json"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    took = time.monotonic() - started
    assert done.returncode == 1, done.stderr  # the bar (1.0) is missed by that one case
    rec = _the_timed_out_case(project, done)
    assert "JSON Schema validation timed out" in rec["assert_error"]
    assert "within 0.5s" in rec["assert_error"]
    assert took < 15, f"{took:.1f} s"


# --------------------------------------------------------------------------- exact resume


def test_resume_repairs_a_torn_last_line_and_redoes_that_case(project: Path, cli: Cli) -> None:
    assert cli("eval", "summarize@1.0", "-q").exit_code == 0
    (run,) = list((project / ".promptops/runs").iterdir())
    results = run / "results.jsonl"
    data = results.read_bytes()
    results.write_bytes(data[:-25])  # the last record cut off mid-write, no newline
    result = cli("eval", "--resume", run.name, "-q", "--format", "json")
    assert result.exit_code == 0, result.output
    assert "dropped a torn last line" in result.stderr
    s = json.loads(result.stdout)
    assert s["status"] == "complete"
    assert s["records"] == {"planned": N, "written": N}
    lines = results.read_text(encoding="utf-8").splitlines()
    assert len(lines) == N  # every line whole JSON, one per case
    assert sorted(json.loads(x)["case_id"] for x in lines) == [f"c{i:02d}" for i in range(N)]


def test_resume_refuses_when_the_dataset_changed(project: Path, cli: Cli) -> None:
    assert cli("eval", "summarize@1.0", "-q", "--limit", "3").exit_code == 0
    (run,) = list((project / ".promptops/runs").iterdir())
    (project / "evals/summarize.jsonl").write_text(
        json.dumps({"id": "new", "vars": {"document": "new"}}) + "\n", encoding="utf-8"
    )
    result = cli("eval", "--resume", run.name, "-q")
    assert result.exit_code == 1
    assert_no_traceback(result)
    assert "evals/summarize.jsonl changed since run" in result.stderr
    assert "start a new run instead of resuming" in result.stderr


def test_lint_reports_a_lone_surrogate(project: Path, cli: Cli) -> None:
    with (project / "evals/summarize.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"id": "bad", "vars": {"document": "x \\ud83d y"}}\n')
    result = cli("lint")
    assert result.exit_code == 1
    assert "evals/summarize.jsonl:31: a string holds a lone surrogate" in result.output


def test_cache_writes_happen_off_the_event_loop(
    project: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's busy waits and put's retry sleeps must not stall the other workers."""
    import threading

    from promptops.cache import ResponseCache

    threads: list[bool] = []
    real_flush, real_get_many = ResponseCache.flush, ResponseCache.get_many

    # every SQLite statement is in get_many (reads) or flush (writes of the buffered answers)
    def flush(self: ResponseCache) -> None:
        threads.append(threading.current_thread() is threading.main_thread())
        real_flush(self)

    def get_many(self: ResponseCache, keys: list[str]) -> dict[str, Any]:
        threads.append(threading.current_thread() is threading.main_thread())
        return real_get_many(self, keys)

    monkeypatch.setattr(ResponseCache, "flush", flush)
    monkeypatch.setattr(ResponseCache, "get_many", get_many)
    with FakeOpenAI() as server:
        _use_server(project, server.url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-x-0123456789")
        result = cli("eval", "summarize@1.0", "-q", "--limit", "4")
    assert result.exit_code in (0, 1), result.output
    # the reads of the 4 keys (batched) and the flush of the 4 answers at the end, none on the
    # loop's thread
    assert len(threads) >= 2 and not any(threads)


def test_check_fails_promptly_when_an_eval_stops_with_an_internal_error(
    project: Path, cli: Cli
) -> None:
    """``check`` evaluates through the same runner: the internal error fails the check (exit 1,
    the cause shown) instead of hanging it."""
    # the check function exists unchanged at the merge base (the PR adds only a prompt)
    (project / "checks.py").write_text(
        "import sys\n\ndef check(output, context):\n    sys.exit(3)\n", encoding="utf-8"
    )
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "checks")
    git(project, "checkout", "-q", "-b", "feature")
    text = (project / "prompts/summarize/1.0.0.yaml").read_text(encoding="utf-8")
    text = text.replace("name: summarize", "name: exiter").replace(
        "dataset: evals/summarize.jsonl", "dataset: evals/exiter.jsonl"
    )
    text = text.replace(
        '  - {type: icontains, value: "{{ document }}"}',
        "  - {type: python, value: 'checks.py:check'}",
    )
    (project / "prompts/exiter").mkdir()
    (project / "prompts/exiter/1.0.0.yaml").write_text(text, encoding="utf-8")
    (project / "evals/exiter.jsonl").write_text(
        (project / "evals/summarize.jsonl").read_text(encoding="utf-8"), encoding="utf-8"
    )
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "exiter")
    done = subprocess.run(
        [sys.executable, "-m", "promptops", "check", "--base", "main", "-c", "2"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "checks.py:check called sys.exit(3)" in done.stdout + done.stderr
