"""Time limits for checks that run user-controlled work: ``python`` functions, regexes and
JSON Schemas (their ``pattern`` regexes and ``$ref`` graphs).

Both run off the event loop, so one slow case never stalls the other workers:

- a python function runs in a daemon thread; past its limit the case gets an assertion error
  and the thread is abandoned (Python cannot stop a thread; being a daemon, it does not keep
  the process alive at exit);
- a regex, or a JSON Schema validation, runs in a small helper process, because ``re`` holds
  the GIL while it matches (a thread would freeze the loop all the same); past the limit the
  process is killed.

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
from pathlib import Path
from types import CodeType
from typing import Any, TypeVar

from promptops.aio import wait_for
from promptops.errors import PromptOpsError

DEFAULT_TIMEOUT = (
    10.0  # seconds per python, regex or schema check unless the assertion sets timeout:
)

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
        return await wait_for(fut, timeout)
    except asyncio.TimeoutError:
        raise AssertionTimeout(
            f"{what} did not finish within {timeout:g}s (set timeout: on the assertion)"
        ) from None


# ---------------------------------------------------------------- helper processes
# ``re`` and jsonschema hold the GIL while they work: a runaway regex or schema would freeze the
# loop from a thread as well. They run in small helper processes (one request per JSON line),
# which are killed past the limit; idle helpers are kept for the next check.

_REGEX_WORKER = r"""
import json, re, sys
sys.stdout.write("{}\n")
sys.stdout.flush()
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


STARTUP_TIMEOUT = 60.0  # seconds for a helper to start (import its libraries) on a busy machine


class _Helper:
    """A helper process: it writes one line when it is ready (its imports done, so they do not
    count against a check's limit), then one reply line per request line."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            errors="surrogatepass",
        )
        if self._reply(STARTUP_TIMEOUT) is None:
            raise OSError(f"it did not start within {STARTUP_TIMEOUT:g}s")

    def ask(self, request: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        """The reply, or None when the process did not answer in time (it is then killed)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self._reply(timeout)

    def _reply(self, timeout: float) -> dict[str, Any] | None:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.kill()
            return None
        line = self.proc.stdout.readline()
        if not line:
            self.kill()
            raise OSError("it exited without an answer")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None


class _Pool:
    """Helper processes of one kind: at most ``size`` at once, idle ones reused."""

    def __init__(
        self, what: str, argv: Callable[[], list[str]], env: dict[str, str] | None = None
    ) -> None:
        self.what = what
        self.argv = argv
        self.env = env  # None: this process's environment
        self.idle: list[_Helper] = []
        self.lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))

    def ask(self, request: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        """The helper's reply (None: past ``timeout`` seconds; the helper was killed).
        Blocking: call it through :func:`off_loop` or a thread."""
        with self.slots:
            with self.lock:
                helper = self.idle.pop() if self.idle else None
            try:
                if helper is None or not helper.alive:
                    helper = _Helper(self.argv(), self.env)
                reply = helper.ask(request, timeout)
            except (OSError, ValueError) as e:
                if helper is not None:
                    helper.kill()
                raise PromptOpsError(f"the {self.what} helper process failed: {e}") from None
            if reply is not None:
                with self.lock:
                    self.idle.append(helper)
            return reply


_REGEX = _Pool("regex", lambda: [sys.executable, "-I", "-S", "-c", _REGEX_WORKER])
# site-packages (jsonschema; an expression's names may hold their types) but nothing of
# promptops's: these workers are files run by path
_SCHEMA = _Pool(
    "json-schema",
    lambda: [sys.executable, "-I", str(Path(__file__).with_name("schemaworker.py"))],
)
_EXPR = _Pool(
    "expr", lambda: [sys.executable, "-I", str(Path(__file__).with_name("exprruntime.py"))]
)


def regex_search(pattern: str, text: str, timeout: float) -> str | None:
    """``re.search(pattern, text)``'s matched text (None: no match), in a helper process that
    is killed past ``timeout`` seconds (then :class:`AssertionTimeout`). Blocking: call it
    through :func:`off_loop` or a thread."""
    reply = _REGEX.ask({"p": pattern, "t": text}, timeout)
    if reply is None:
        raise AssertionTimeout(
            f"regex /{pattern[:40]}/ did not finish within {timeout:g}s "
            f"(catastrophic backtracking?; set timeout: on the assertion)"
        )
    if "e" in reply:
        raise PromptOpsError(f"regex /{pattern[:40]}/: {reply['e']}")
    match = reply.get("m")
    return None if match is None else str(match)


def schema_validate(schema: str, instance: str, limit: int, timeout: float) -> dict[str, Any]:
    """Validate the JSON text ``instance`` against the JSON Schema text ``schema`` in a helper
    process killed past ``timeout`` seconds (then :class:`AssertionTimeout`): a schema's
    ``pattern``/``patternProperties`` regexes and its ``$ref``s can take any time. The reply
    (see :mod:`promptops.assertions.schemaworker`): ``{"p": [problems]}`` (at most ``limit``
    plus a count of the rest), ``{"c": message}`` for a schema that cannot be used, or
    ``{"e": message}``. Blocking: call it through :func:`off_loop` or a thread."""
    reply = _SCHEMA.ask({"s": schema, "i": instance, "n": limit}, timeout)
    if reply is None:
        raise AssertionTimeout(
            f"JSON Schema validation timed out: it did not finish within {timeout:g}s "
            "(a catastrophic pattern or patternProperties regex?; set timeout: on the assertion)"
        )
    return reply


def expr_eval(code: CodeType, names: dict[str, Any], time_limit: float) -> dict[str, Any]:
    """Run a compiled ``expr`` over ``names`` in a helper process
    (:mod:`promptops.assertions.exprruntime`): its trace function stops Python-level work at
    ``time_limit`` seconds, and the process is killed a second later (then
    :class:`AssertionTimeout`), whatever one C call is doing. Returns the helper's reply.
    Blocking: call it through :func:`off_loop` or a thread."""
    import base64
    import marshal
    import pickle

    try:
        data = pickle.dumps(names)
    except (pickle.PicklingError, TypeError, AttributeError) as e:
        raise PromptOpsError(f"expr: cannot pass its names to the helper process: {e}") from None
    request = {
        "c": base64.b64encode(marshal.dumps(code)).decode("ascii"),
        "n": base64.b64encode(data).decode("ascii"),
        "t": time_limit,
    }
    hard = time_limit + 1.0
    reply = _EXPR.ask(request, hard)
    if reply is None:
        raise AssertionTimeout(
            f"expr timed out: it did not finish within {hard:g}s (one long C call: a sum of "
            "lists, a huge join or round?; set timeout: on the assertion)"
        )
    return reply
