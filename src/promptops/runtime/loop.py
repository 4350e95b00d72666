"""The one background event loop where every runtime model call runs (see ``_background_loop``),
and the helpers that run coroutines on it from sync and async code."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _background_loop() -> asyncio.AbstractEventLoop:
    """One long-lived loop on a daemon thread where every runtime model call runs.

    litellm's HTTP clients and its logging worker bind to the loop that first uses them; calls
    from ``complete`` and from ``acomplete`` under the application's own loops all run here, so
    nothing is rebound (a worker task orphaned by a rebind is what printed "Task was destroyed
    but it is pending!" at exit). An ``atexit`` hook stops it cleanly."""
    global _loop
    with _loop_lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="promptops-runtime", daemon=True).start()
            _loop = loop
            import atexit

            atexit.register(_stop_background_loop)
        return _loop


_hook_after_litellm = False


def _hook_last() -> None:
    """Keep our exit hook after litellm's in registration order, so it runs first (atexit is
    last in, first out): the logging worker is drained on its own loop before litellm's hook
    looks at the queue from the main thread, where it would run the same callbacks again."""
    global _hook_after_litellm
    if not _hook_after_litellm and "litellm" in sys.modules:
        import atexit

        atexit.unregister(_stop_background_loop)
        atexit.register(_stop_background_loop)
        _hook_after_litellm = True


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on the background loop and wait for it (blocking)."""
    try:
        return asyncio.run_coroutine_threadsafe(coro, _background_loop()).result()
    finally:
        _hook_last()


async def _arun(coro: Coroutine[Any, Any, T]) -> T:
    """Await a coroutine that runs on the background loop (cancelling this cancels it)."""
    loop = _background_loop()
    try:
        if asyncio.get_running_loop() is loop:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))
    finally:
        _hook_last()


async def _drain(timeout: float) -> None:
    """Flush and stop litellm's logging worker, then cancel and await whatever else is
    still pending on the loop."""
    module = sys.modules.get("litellm.litellm_core_utils.logging_worker")
    worker = getattr(module, "GLOBAL_LOGGING_WORKER", None)
    for step in ("flush", "stop"):
        fn = getattr(worker, step, None)
        if fn is None:
            continue
        # best effort at exit: never break the application's shutdown
        with contextlib.suppress(Exception):
            await asyncio.wait_for(fn(), timeout)
    from ..providers.base import aclose_all

    with contextlib.suppress(Exception):  # the providers' connection pools on this loop
        await asyncio.wait_for(aclose_all(), timeout)
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _stop_background_loop(timeout: float = 2.0) -> None:
    global _loop
    with _loop_lock:
        loop, _loop = _loop, None
    if loop is None or not loop.is_running():
        return
    with contextlib.suppress(Exception):  # best effort at exit
        asyncio.run_coroutine_threadsafe(_drain(timeout), loop).result(timeout + 1)
    loop.call_soon_threadsafe(loop.stop)
