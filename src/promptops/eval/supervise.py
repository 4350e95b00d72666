"""Supervising the eval loop's tasks: the first failure stops everything, loudly.

The runner's producer fills a bounded queue that its workers drain; a worker that dies must
not leave the producer blocked on a full queue (a hang with a false "complete"). ``run_all``
cancels every task at the first exception, ``describe`` turns what escaped into one line for
the user, and ``SigTerm`` makes SIGTERM (a CI cancel) stop a run like Ctrl-C does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from ..aio import cancel_and_settle
from ..errors import PromptOpsError

GRACE = 10.0  # seconds the loop's tasks get to end once cancelled


class Stop(Exception):
    """A worker hit an internal error; the reason is in the runner's ``fatal`` list."""


def describe(e: BaseException) -> str:
    """One line for an exception that escaped a case: the user's message, or type and text."""
    from ..assertions.limits import AbortRun

    if isinstance(e, PromptOpsError | AbortRun):
        return e.message
    if isinstance(e, SystemExit):
        return f"sys.exit({e.code!r}) was called (by a python assertion?)"
    from ..providers.base import redact

    text = str(e) or repr(e)
    if isinstance(e, OSError) and e.strerror:
        text = f"{e.strerror}" + (f": {e.filename}" if e.filename else "")
    return redact(f"{type(e).__name__}: {text}")


async def run_all(
    produce: Callable[[], Awaitable[None]],
    work: Callable[[], Awaitable[None]],
    n: int,
    queue: asyncio.Queue[Any],
    fatal: list[str] | None = None,
) -> None:
    """Run the producer and ``n`` workers; the first exception cancels all the others (a
    worker that dies must not leave the producer blocked on a full queue). Cancelling is
    repeated until every task has ended (a task that swallowed a cancellation, as 3.11's
    ``asyncio.wait_for`` or a plugin can, is not waited for forever); tasks still running
    after :data:`GRACE` seconds are abandoned and named in ``fatal``."""

    async def feed() -> None:
        await produce()
        for _ in range(n):
            await queue.put(None)

    tasks = [asyncio.ensure_future(feed()), *(asyncio.ensure_future(work()) for _ in range(n))]
    try:
        pending = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                if t.cancelled():  # nobody here cancelled it: a future cancelled inside a
                    # unit (a cache read, a helper) ended it; with every worker gone so, the
                    # producer would wait on a full queue forever
                    if fatal is not None:
                        fatal.append("a worker of the run was cancelled from inside a case")
                    raise Stop
                exc = t.exception()
                if exc is not None:
                    raise exc
    finally:
        stuck = await cancel_and_settle(tasks, GRACE)
        if stuck and fatal is not None:
            fatal.append(
                f"{len(stuck)} of the run's tasks did not stop within {GRACE:g}s of being "
                f"cancelled (a plugin that ignores cancellation?)"
            )


class SigTerm:
    """While an eval runs in the main thread, SIGTERM cancels it like Ctrl-C does (so the
    summary is written); calling the object says whether that happened."""

    def __init__(self, task: asyncio.Task[Any] | None) -> None:
        import signal

        self.hit = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task = task
        if task is None or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
            return  # someone else handles SIGTERM (or not our loop): leave it alone
        try:
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGTERM, self._fire)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, Windows
            return
        self.loop = loop

    def _fire(self) -> None:
        self.hit = True
        if self.task is not None:
            self.task.cancel()

    def __call__(self) -> bool:
        return self.hit

    def restore(self) -> None:
        import signal

        if self.loop is not None:
            self.loop.remove_signal_handler(signal.SIGTERM)
            self.loop = None
