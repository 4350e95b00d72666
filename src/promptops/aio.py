"""asyncio helpers that never lose a cancellation.

Python 3.11's ``asyncio.wait_for`` returns the awaited result when a cancellation arrives in
the same loop step as that result (CPython gh-86296, fixed in 3.12): the cancelled task goes
on as if nothing had been asked of it. In the eval loop that was a worker that took the next
case from the queue and waited there forever, so a run stopped by SIGTERM or by an internal
error never ended (echo answers at once, so with 32 workers some worker always hit it).
:func:`wait_for` is the replacement every time limit on the loop goes through.
"""

from __future__ import annotations

import asyncio
import sys
import weakref
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["cancel_and_settle", "cancelling", "wait_for"]


async def wait_for(aw: Awaitable[T], timeout: float | None) -> T:
    """``await aw`` for at most ``timeout`` seconds (None: no limit), then
    :class:`asyncio.TimeoutError`. A cancellation of the calling task always propagates."""
    if timeout is None:
        return await aw
    if sys.version_info >= (3, 11):
        # no task in between: a cancellation reaches ``aw`` and comes back out unchanged
        async with asyncio.timeout(timeout):
            return await aw
    task = asyncio.ensure_future(aw)  # pragma: no cover - Python 3.10
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        raise asyncio.TimeoutError
    return task.result()


# Tasks cancel_and_settle has asked to stop: Python 3.10 has no Task.cancelling() to ask
_ASKED: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()


def cancelling() -> bool:
    """Whether the current task has been asked to stop and has not complied yet (code that
    swallowed a cancellation, here or in a plugin, leaves the request pending). On Python
    3.10, which does not count cancellations, only :func:`cancel_and_settle`'s are known."""
    task = asyncio.current_task()
    if task is None:
        return False
    count = getattr(task, "cancelling", None)  # Python 3.11+
    return bool(count()) if count is not None else task in _ASKED


async def cancel_and_settle(
    tasks: list[asyncio.Task[Any]], grace: float = 10.0, every: float = 0.1
) -> list[asyncio.Task[Any]]:
    """Cancel ``tasks`` and wait until they have ended, cancelling again every ``every``
    seconds the ones still running (a task that swallowed one cancellation gets another).
    Returns the tasks still running after ``grace`` seconds (abandoned: the caller reports
    them); an exception of a task is retrieved, never raised here."""
    pending = {t for t in tasks if not t.done()}
    loop = asyncio.get_running_loop()
    until = loop.time() + grace
    while pending:
        for t in pending:
            _ASKED.add(t)
            t.cancel()
        left = until - loop.time()
        if left <= 0:
            break
        _, pending = await asyncio.wait(pending, timeout=min(every, left))
    for t in tasks:
        if t.done() and not t.cancelled():
            t.exception()  # retrieved: no "exception was never retrieved" at exit
    return [t for t in tasks if not t.done()]
