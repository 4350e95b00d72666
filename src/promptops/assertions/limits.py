"""Time limits for checks that run user-controlled work: ``python`` functions and regexes.

Both run off the event loop, so one slow case never stalls the other workers:

- a python function runs in a daemon thread; past its limit the case gets an assertion error
  and the thread is abandoned (Python cannot stop a thread; being a daemon, it does not keep
  the process alive at exit);
- a regex runs in a small helper process, because ``re`` holds the GIL while it matches (a
  thread would freeze the loop all the same); past the limit the process is killed.

``sys.exit()`` (or another ``BaseException``) in a python function is not a failed check but a
broken one: it becomes :class:`AbortRun`, which ends the whole run with status ``error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import os
import queue
import select
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from promptops.errors import PromptOpsError

DEFAULT_TIMEOUT = 10.0  # seconds per python or regex check unless the assertion sets timeout:

T = TypeVar("T")


class AssertionTimeout(PromptOpsError):
    """A check ran past its time limit."""


class AbortRun(BaseException):
    """User code in a check tried to leave the process (``sys.exit()``); the runner ends the
    run with status ``error`` and this message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _DaemonPool:
    """Reusable daemon threads: a job that never returns keeps its thread (abandoned, it
    cannot be stopped) and the next job gets a fresh one; starting a thread per job would
    cost more than a typical check."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.idle = 0

    def submit(self, job: Callable[[], None]) -> None:
        with self.lock:
            spawn = self.idle == 0
            if not spawn:
                self.idle -= 1
        self.jobs.put(job)
        if spawn:
            threading.Thread(target=self._work, name="promptops check", daemon=True).start()

    def _work(self) -> None:
        while True:
            self.jobs.get()()
            with self.lock:
                self.idle += 1


_POOL = _DaemonPool()


async def off_loop(fn: Callable[[], T], timeout: float | None, what: str) -> T:
    """``fn()`` in a daemon thread, awaited for at most ``timeout`` seconds (None: ``fn``
    bounds its own time)."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[T] = loop.create_future()

    def settle(value: Any, exc: BaseException | None) -> None:
        if fut.done():
            return
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(value)

    def target() -> None:
        try:
            value, exc = fn(), None
        except BaseException as e:  # carried back to the loop, judged there
            value, exc = None, e
        # RuntimeError: the loop is gone (the run ended while this check ran on)
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, value, exc)

    # in the caller's context: context variables (check's CodeGate for python files) must
    # hold in the thread exactly as on the loop
    context = contextvars.copy_context()
    _POOL.submit(lambda: context.run(target))
    if timeout is None:
        return await fut
    try:
        return await asyncio.wait_for(fut, timeout)
    except asyncio.TimeoutError:
        raise AssertionTimeout(
            f"{what} did not finish within {timeout:g}s (set timeout: on the assertion)"
        ) from None


# ---------------------------------------------------------------- regex in a helper process

_WORKER = r"""
import json, re, sys
for line in sys.stdin:
    req = json.loads(line)
    try:
        m = re.compile(req["p"]).search(req["t"])
        out = {"m": None if m is None else m.group()}
    except Exception as e:
        out = {"e": f"{type(e).__name__}: {e}"}
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
"""


class _RegexProcess:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            errors="surrogatepass",
        )

    def search(self, pattern: str, text: str, timeout: float) -> dict[str, Any] | None:
        """The reply, or None when the process did not answer in time (it is then killed)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"p": pattern, "t": text}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.kill()
            return None
        line = self.proc.stdout.readline()
        if not line:
            self.kill()
            raise PromptOpsError("the regex helper process died")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None


_idle: list[_RegexProcess] = []
_idle_lock = threading.Lock()
_slots = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))  # helper processes at most


def regex_search(pattern: str, text: str, timeout: float) -> str | None:
    """``re.search(pattern, text)``'s matched text (None: no match), in a helper process that
    is killed past ``timeout`` seconds (then :class:`AssertionTimeout`). Blocking: call it
    through :func:`off_loop` or a thread."""
    with _slots:
        with _idle_lock:
            worker = _idle.pop() if _idle else None
        if worker is None or not worker.alive:
            worker = _RegexProcess()
        try:
            reply = worker.search(pattern, text, timeout)
        except (OSError, ValueError) as e:
            worker.kill()
            raise PromptOpsError(f"the regex helper process failed: {e}") from None
        if reply is None:
            raise AssertionTimeout(
                f"regex /{pattern[:40]}/ did not finish within {timeout:g}s "
                f"(catastrophic backtracking?; set timeout: on the assertion)"
            )
        with _idle_lock:
            _idle.append(worker)
    if "e" in reply:
        raise PromptOpsError(f"regex /{pattern[:40]}/: {reply['e']}")
    match = reply.get("m")
    return None if match is None else str(match)
