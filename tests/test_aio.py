"""promptops.aio: time limits and cancelling that never lose a cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable

import pytest

from promptops.aio import cancel_and_settle, cancelling, wait_for


async def _answer() -> int:
    return 42


def _cancel_as_the_answer_arrives(wait: Callable[[Awaitable[int], float], Awaitable[int]]) -> bool:
    """Whether a task cancelled in the loop step where its awaited answer arrives stops."""
    after: list[str] = []

    async def worker(ready: asyncio.Event) -> None:
        async def answer() -> int:
            await ready.wait()
            return 42

        await wait(answer(), 10)
        after.append("went on")  # must not run: this task was cancelled
        await asyncio.sleep(3600)

    async def main() -> bool:
        ready = asyncio.Event()
        task = asyncio.ensure_future(worker(ready))
        await asyncio.sleep(0)  # the worker waits for its answer now
        ready.set()  # the answer and the cancellation arrive in the same loop step
        task.cancel()
        try:
            await asyncio.wait_for(asyncio.shield(task), 2)
        except asyncio.CancelledError:
            return True
        except asyncio.TimeoutError:  # it went on to the next thing and waits there
            task.cancel()
            return False
        return False

    stopped = asyncio.run(main())
    assert stopped == (after == [])
    return stopped


def test_wait_for_never_swallows_a_cancellation_that_meets_the_answer() -> None:
    assert _cancel_as_the_answer_arrives(wait_for)


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the flaw is in 3.11's wait_for")
def test_the_standard_wait_for_of_3_11_swallows_it() -> None:
    """Why promptops.aio exists (CPython gh-86296): the same test with asyncio.wait_for."""
    assert not _cancel_as_the_answer_arrives(asyncio.wait_for)


def test_wait_for_times_out_and_returns() -> None:
    async def main() -> int:
        with pytest.raises(asyncio.TimeoutError):
            await wait_for(asyncio.sleep(10), 0.01)
        return await wait_for(_answer(), 1)

    assert asyncio.run(main()) == 42


def test_wait_for_leaves_a_plain_future_cancelled_on_timeout() -> None:
    async def main() -> asyncio.Future[int]:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        with pytest.raises(asyncio.TimeoutError):
            await wait_for(fut, 0.01)
        return fut

    assert asyncio.run(main()).cancelled()


def test_cancel_and_settle_recancels_a_task_that_swallowed_a_cancellation() -> None:
    seen: list[int] = []

    async def stubborn() -> None:
        for _ in range(2):  # swallows two cancellations, as a careless plugin would
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                seen.append(1)
                assert cancelling()
        await asyncio.sleep(3600)

    async def main() -> tuple[list[asyncio.Task[None]], bool]:
        task = asyncio.ensure_future(stubborn())
        await asyncio.sleep(0)
        stuck = await cancel_and_settle([task], grace=5, every=0.01)
        return stuck, task.cancelled()

    stuck, cancelled = asyncio.run(main())
    assert stuck == [] and cancelled and len(seen) == 2


def test_cancel_and_settle_gives_up_after_its_grace() -> None:
    async def deaf() -> None:
        while True:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(3600)

    async def main() -> int:
        task = asyncio.ensure_future(deaf())
        await asyncio.sleep(0)
        stuck = await cancel_and_settle([task], grace=0.2, every=0.01)
        n = len(stuck)
        task.cancel()  # leave nothing behind for asyncio.run: make it end for real
        task.get_coro().close()  # type: ignore[union-attr]
        return n

    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(main()) == 1
    finally:
        loop.close()
