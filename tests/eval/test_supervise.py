"""Issue 21 (4): every run ends. SIGTERM and Ctrl-C end a large run within seconds with a
summary and the documented exit code; an internal error ends it promptly with status ``error``
at any concurrency, even when a worker's cancellation is swallowed on the way (3.11's
``asyncio.wait_for`` did that whenever an answer arrived in the same loop step)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def _dataset(project: Path, n: int, bad: int | None = None) -> None:
    with (project / "evals/summarize.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(n):
            doc = "x \ud83d y" if i == bad else f"doc {i}"
            fh.write(json.dumps({"id": f"c{i}", "vars": {"document": doc}}) + "\n")


def _summary(project: Path) -> dict:
    (run,) = list((project / ".promptops/runs").iterdir())
    return json.loads((run / "summary.json").read_text(encoding="utf-8"))


def _lines(project: Path) -> int:
    files = list((project / ".promptops/runs").glob("*/results.jsonl"))
    return files[0].read_bytes().count(b"\n") if files else 0


@pytest.mark.parametrize("concurrency", ["8", "32"])
def test_an_internal_error_ends_a_run_of_many_workers(project: Path, concurrency: str) -> None:
    """A lone surrogate at case 150 of 200: the run stalled after ~166 records, forever."""
    _dataset(project, 200, bad=150)
    done = subprocess.run(
        [sys.executable, "-m", "promptops", "eval", "summarize@1.0", "-q", "-c", concurrency],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=90,
        env=ENV,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "case c150 (evals/summarize.jsonl:151): UnicodeEncodeError" in done.stderr
    s = _summary(project)
    assert s["status"] == "error"
    assert s["records"]["written"] == _lines(project) < 200


def _start(project: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "promptops", "eval", "summarize@1.0", "-q", *args],
        cwd=project,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )


def _stop_when_running(
    project: Path, proc: subprocess.Popen[str], sig: int, records: int
) -> tuple[str, float]:
    """Send ``sig`` once ``records`` are written; its stderr and the seconds it took to end."""
    deadline = time.monotonic() + 120
    while _lines(project) < records and proc.poll() is None:
        assert time.monotonic() < deadline, "the run wrote no records"
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before the signal: " + proc.stderr.read()[-2000:]
    proc.send_signal(sig)
    sent = time.monotonic()
    try:
        _out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"the run was still alive 60 s after signal {sig}")
    return err, time.monotonic() - sent


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_ends_a_large_echo_run_within_seconds(project: Path, sig: int, code: int) -> None:
    """The audit's run (echo, concurrency 32) sat in epoll_wait after SIGTERM, 3 of 3 tries."""
    _dataset(project, 20_000)
    proc = _start(project, "-c", "32")
    err, took = _stop_when_running(project, proc, sig, 2_000)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    s = _summary(project)
    assert s["status"] == "interrupted"
    assert s["records"]["planned"] == 20_000
    assert s["records"]["written"] == _lines(project) < 20_000
    assert s["groups"][0]["n"] == s["records"]["written"]
    # a few seconds on an idle machine; generous here, the suite shares two busy cores
    assert took < 20, f"{took:.1f} s from the signal to the exit"


PLUGIN = """\
import asyncio

from promptops.providers.base import Completion, provider


class Deaf:
    \"\"\"Answers after a short wait, and swallows a cancellation that arrives meanwhile.\"\"\"

    cacheable = False
    default_timeout = 60.0

    async def complete(self, call):
        try:
            await asyncio.sleep(0.02)
        except asyncio.CancelledError:
            pass
        return Completion(text="doc", model=call.model, cost=0.0, latency_ms=1.0)

    def identity(self, model):
        return {}


@provider("deaf")
def _deaf():
    return Deaf()
"""


def test_a_provider_that_swallows_cancellation_does_not_keep_the_run_alive(
    project: Path,
) -> None:
    (project / "checks").mkdir()
    (project / "checks/deaf.py").write_text(PLUGIN, encoding="utf-8")
    (project / "promptops.yaml").write_text(
        "plugins: [checks/deaf.py]\nallow_unpinned: ['deaf/*']\n", encoding="utf-8"
    )
    _dataset(project, 5_000)
    proc = _start(project, "-c", "16", "-m", "deaf/x")
    err, took = _stop_when_running(project, proc, signal.SIGTERM, 200)
    assert proc.returncode == 143, err
    assert "terminated (SIGTERM)" in err
    assert _summary(project)["status"] == "interrupted"
    assert took < 20, f"{took:.1f} s"


EXITER = """\
from promptops.assertions import assertion


@assertion("quit-now", needs_value=False)
def quit_now(spec, value, ctx):
    raise SystemExit(3)
"""


def test_sys_exit_in_a_plugin_assertion_is_an_error_run(project: Path) -> None:
    """Was status 'interrupted' and exit 3 (the plugin's code) with two checks on a case."""
    (project / "checks").mkdir()
    (project / "checks/exiter.py").write_text(EXITER, encoding="utf-8")
    (project / "promptops.yaml").write_text("plugins: [checks/exiter.py]\n", encoding="utf-8")
    path = project / "prompts/summarize/1.0.0.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "  - {type: quit-now}\n", encoding="utf-8")
    _dataset(project, 40)
    done = subprocess.run(
        [sys.executable, "-m", "promptops", "eval", "summarize@1.0", "-q", "-c", "4"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=90,
        env=ENV,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "assertion quit-now called sys.exit(3)" in done.stderr
    assert _summary(project)["status"] == "error"


# ------------------------------------------------------------------ the watchdog (issue 21)

CHECKS = """\
import sys
import time


def raises(output, context):
    raise ValueError("broken check")


def leaves(output, context):
    sys.exit(2)


def sleeps(output, context):
    time.sleep(3600)


def weird(output, context):
    return float("nan")
"""


def _bad_cases(n: int) -> list[str]:
    """Lines no run should hang on, one kind each: what the audit and the fuzzing tried."""

    def case(i: int, document: object = "doc", **more: object) -> str:
        return json.dumps({"id": f"bad{n}-{i}", "vars": {"document": document}, **more})

    py = [{"type": "python", "value": f"checks.py:{f}", "timeout": 0.5} for f in
          ("raises", "leaves", "sleeps", "weird")]  # fmt: skip
    return [
        case(0, "x \ud83d y"),
        case(1, expected="\udc00"),
        case(2, metadata={"k": "\ud83d"}),
        case(3, "lorem " * 300_000),
        case(4, expected=json.loads("[" * 300 + "]" * 300)),
        case(5, expected=float("nan")),
        case(6, "nul \x00 esc \x1b[31m bidi \u202e"),
        case(7, "{{ 7 * 7 }}{% for %}{{ ''.__class__ }}"),
        case(8, assert_=[{"type": "regex", "value": "("}]),
        case(9, "a" * 40 + "!", assert_=[{"type": "regex", "value": "(a+)+$", "timeout": 0.5}]),
        *(case(10 + i, assert_=[a]) for i, a in enumerate(py)),
        case(14, assert_=[{"type": "json-field", "value": {"path": "$..*", "equals": [1e308]}}]),
        case(15, assert_=[{"type": "max-words", "value": "{{ 10 ** 10 ** 10 }}"}]),
        json.dumps({"id": f"bad{n}-16", "vars": {"document": "d", "max_words": 10**30}}),
    ]


def _watch(
    project: Path, args: list[str], stall: float = 30, limit: float = 150
) -> tuple[int, str]:
    """Run eval; fail when it is alive but writes nothing for ``stall`` seconds."""
    proc = _start(project, *args)
    last, since, started = -1, time.monotonic(), time.monotonic()
    while proc.poll() is None:
        files = list((project / ".promptops/runs").glob("*/*"))
        size = sum(f.stat().st_size for f in files if f.is_file())
        if size != last:
            last, since = size, time.monotonic()
        if time.monotonic() - since > stall or time.monotonic() - started > limit:
            proc.kill()
            _out, err = proc.communicate()
            pytest.fail(f"the run made no progress for {stall:g} s ({args}): {err[-500:]}")
        time.sleep(0.2)
    _out, err = proc.communicate()
    return proc.returncode, err


@pytest.mark.parametrize("seed", range(4))
def test_fuzzed_bad_records_never_leave_a_run_alive_without_progress(
    project: Path, seed: int
) -> None:
    import random
    import shutil

    rng = random.Random(seed)
    (project / "checks.py").write_text(CHECKS, encoding="utf-8")
    good = [json.dumps({"id": f"c{i}", "vars": {"document": f"doc {i}"}}) for i in range(40)]
    bad = rng.sample(_bad_cases(seed), 4)
    lines = [x.replace('"assert_"', '"assert"') for x in good + bad]
    rng.shuffle(lines)
    (project / "evals/summarize.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    shutil.rmtree(project / ".promptops", ignore_errors=True)
    code, err = _watch(project, ["-c", str(rng.choice([1, 4, 16]))])
    assert code in (0, 1), err
    assert "Traceback" not in err
    runs = list((project / ".promptops/runs").glob("*/run.json"))
    if not runs:  # refused before the run: a line of the dataset is named
        assert "evals/summarize.jsonl:" in err, err
        return
    run = runs[0].parent
    s = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert s["status"] in ("complete", "error"), s["status"]
    results = run / "results.jsonl"
    written = results.read_bytes().count(b"\n") if results.exists() else 0
    assert s["records"] == {"planned": 44, "written": written}
    if s["status"] == "error":
        assert "eval stopped" in err and s["error"]


def test_a_worker_cancelled_from_inside_ends_the_run_instead_of_stalling_it() -> None:
    """A CancelledError raised inside a unit (a future cancelled under it) ended a worker
    without an exception; with every worker gone so, the producer waited on a full queue."""
    import asyncio

    from promptops.eval.supervise import Stop, run_all

    async def main() -> list[str]:
        queue: asyncio.Queue[object] = asyncio.Queue(maxsize=2)
        fatal: list[str] = []

        async def produce() -> None:
            for i in range(100):
                await queue.put(i)

        async def work() -> None:
            await queue.get()
            fut = asyncio.get_running_loop().create_future()
            fut.cancel()
            await fut  # CancelledError, though nobody cancelled this task

        with pytest.raises(Stop):
            await asyncio.wait_for(run_all(produce, work, 2, queue, fatal), 10)
        return fatal

    assert asyncio.run(main()) == ["a worker of the run was cancelled from inside a case"]
