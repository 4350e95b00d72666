"""The llama.cpp server (``xllamacpp``), run inside this process: one per model, on
``127.0.0.1`` and a port the OS picks; its slots and threads, health check and shutdown.

Why the defaults are what they are (threads, slots, ``swa_full``) and the measurements behind
them: ``docs/local-model.md``.
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from ...errors import ProviderError
from .models import MISSING_EXTRA, LocalModel

log = logging.getLogger(__name__)

CTX_PER_SLOT = 2048
"""Tokens of context (prompt + completion) given to each parallel slot."""

HEALTH_TIMEOUT_S = 120.0


@dataclass
class _Running:
    server: Any  # xllamacpp.Server; keeping the reference keeps the server alive
    api_base: str
    n_parallel: int
    n_ctx: int
    load_seconds: float


_servers: dict[str, _Running] = {}
_servers_lock = threading.Lock()
_atexit_registered = False


def _n_threads() -> int:
    """``$PROMPTOPS_LOCAL_THREADS`` if set, else half the CPUs this process may run on (at least 1).

    Half, because llama.cpp's threads meet at a barrier after every operation: when another
    process holds one of the cores, an all-core thread pool waits at each barrier for the
    descheduled thread (measurements: ``docs/local-model.md``).
    """
    env = os.environ.get("PROMPTOPS_LOCAL_THREADS", "").strip()
    if env:
        try:
            return max(int(env), 1)
        except ValueError:
            raise ProviderError(
                f"PROMPTOPS_LOCAL_THREADS must be a whole number, not {env!r}"
            ) from None
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS / Windows have no sched_getaffinity
        cpus = os.cpu_count() or 1
    return max(cpus // 2, 1)


def default_slots() -> int:
    """``$PROMPTOPS_LOCAL_SLOTS`` if set, else 1: the parallel slots a local server gets at most.

    Extra slots share the same cores and each evaluates the shared few-shot prefix once more;
    on the Quickstart eval batched decoding gained less than that cost (``docs/local-model.md``).
    """
    env = os.environ.get("PROMPTOPS_LOCAL_SLOTS", "").strip()
    if not env:
        return 1
    try:
        return max(int(env), 1)
    except ValueError:
        raise ProviderError(f"PROMPTOPS_LOCAL_SLOTS must be a whole number, not {env!r}") from None


def ensure_server(model: LocalModel, parallel: int, threads: int | None = None) -> str:
    """Start (once per process) the llama.cpp server for ``model``; return its api_base.

    Thread-safe: concurrent callers for the same model wait on a lock and share one
    server. The server gets ``max(parallel, 1)`` slots of :data:`CTX_PER_SLOT` tokens and
    listens on ``127.0.0.1`` on a free port chosen by the OS. ``threads`` defaults to
    ``$PROMPTOPS_LOCAL_THREADS`` or half the CPUs this process may run on (see
    :func:`_n_threads` and ``docs/local-model.md``). If it is already running with fewer slots than
    ``parallel`` it is kept as is (restarting would cost a model load and break
    in-flight requests); callers that send more concurrent requests than it has slots
    queue in the server (LocalProvider never does: it waits for a free slot).

    Returns e.g. ``"http://127.0.0.1:41234/v1"``.
    """
    global _atexit_registered
    slots = max(int(parallel), 1)
    key = str(model.path)
    with _servers_lock:
        running = _servers.get(key)
        if running is not None:
            if running.n_parallel < slots:
                log.info(
                    "%s: server already running with %d slots (asked %d); keeping it",
                    model.model_id,
                    running.n_parallel,
                    slots,
                )
            return running.api_base
        try:
            import xllamacpp
        except ImportError as e:
            raise ProviderError(MISSING_EXTRA) from e

        threads = max(int(threads), 1) if threads is not None else _n_threads()
        params = xllamacpp.CommonParams()
        params.model.path = str(model.path)
        params.model_alias = {model.name}
        params.hostnames = ["127.0.0.1"]
        params.port = 0  # the OS picks a free port; no probe-then-bind race
        params.n_parallel = slots
        params.n_ctx = CTX_PER_SLOT * slots  # split evenly: each slot gets CTX_PER_SLOT
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        # Gemma 3 uses sliding-window attention; without a full-size SWA cache llama.cpp
        # cannot reuse a slot's cached prefix and re-evaluates every prompt whole (cache_n 0).
        # With it, the few-shot examples shared by an eval's prompts are evaluated once per slot.
        params.swa_full = True
        # 0 = silent: request errors (e.g. context overflow) reach the caller as HTTP 400s
        params.verbosity = 3 if os.environ.get("PROMPTOPS_LOCAL_VERBOSE") else 0
        params.ui = False
        params.endpoint_metrics = True  # shutdown reads requests_processing (see _stop)
        t0 = time.perf_counter()
        try:
            server = xllamacpp.Server(params)
        except RuntimeError as e:
            raise ProviderError(
                f"{model.model_id}: llama.cpp could not load {model.path} "
                f"(set PROMPTOPS_LOCAL_VERBOSE=1 to see why): {e}"
            ) from e
        address = str(server.listening_address).rstrip("/")
        try:
            _wait_healthy(address, HEALTH_TIMEOUT_S)
        except ProviderError:
            del server
            raise
        load_s = time.perf_counter() - t0
        running = _Running(server, address + "/v1", slots, params.n_ctx, load_s)
        _servers[key] = running
        if not _atexit_registered:
            atexit.register(shutdown_all)
            _atexit_registered = True
        log.info(
            "%s: llama.cpp server on %s (%d slots x %d ctx, %d threads) loaded in %.2fs",
            model.model_id,
            address,
            slots,
            CTX_PER_SLOT,
            threads,
            load_s,
        )
        return running.api_base


def server_slots(model: LocalModel) -> int:
    """Parallel slots of the running server for ``model`` (0 if none is running)."""
    with _servers_lock:
        running = _servers.get(str(model.path))
        return running.n_parallel if running is not None else 0


_no_proxy_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _wait_healthy(address: str, timeout_s: float) -> None:
    """Poll ``GET /health`` until it answers 200 (503 while the model loads)."""
    deadline = time.monotonic() + timeout_s
    last: str = "no answer"
    while True:
        try:
            with _no_proxy_opener.open(address + "/health", timeout=5) as resp:
                if resp.status == 200:
                    return
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}"
        except OSError as e:
            last = str(e)
        if time.monotonic() > deadline:
            raise ProviderError(f"local model server at {address} is not healthy: {last}")
        time.sleep(0.05)


def shutdown_all(drain_timeout: float = 60.0) -> None:
    """Stop every server this process started (also run by ``atexit``).

    Waits up to ``drain_timeout`` seconds for in-flight requests to finish first (see
    :func:`_stop`). A later :func:`ensure_server` starts a fresh server.
    """
    with _servers_lock:
        running = list(_servers.values())
        _servers.clear()
    for r in running:
        _stop(r, drain_timeout)


_abandoned: list[Any] = []


def _stop(running: _Running, drain_timeout: float) -> None:
    """Destroy the server once no request is in flight.

    Why wait: ``xllamacpp.Server``'s destructor stops the decode loop and then joins the
    HTTP handler threads; a handler whose client is still connected waits for a result
    that will never come, and the destructor holds the GIL meanwhile, so the process
    hangs forever. Abandoning a *busy* server instead makes the process segfault at
    exit (the ggml compute threads outlive the library's static data). Non-streaming
    requests run to ``max_tokens`` even if their client has gone. So we poll
    ``requests_processing + requests_deferred`` (``/metrics``) until it reaches 0, then
    destroy (~0.1-0.2 s). If it does not reach 0 within ``drain_timeout`` seconds (or
    cannot be read) the server is leaked on purpose, which never hangs.
    """
    start = time.monotonic()
    warned = False
    while True:
        busy = _in_flight(running.server)
        if busy == 0:
            server, running.server = running.server, None
            del server  # terminates the loop and joins its threads
            return
        waited = time.monotonic() - start
        if busy is None or waited >= drain_timeout:
            log.warning(
                "local model server %s still busy (%s requests) after %.0fs; not stopping it",
                running.api_base,
                "unknown" if busy is None else busy,
                waited,
            )
            # one reference that is never released: finalization won't run the destructor
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(running.server))
            _abandoned.append(running.server)
            return
        if not warned and waited > 2.0:
            log.warning("waiting for %d local model request(s) to finish...", busy)
            warned = True
        time.sleep(0.05)


def _in_flight(server: Any) -> int | None:
    """Requests being processed or queued, from llama.cpp's metrics; None if unknown."""
    try:
        text = str(server.handle_metrics())
    except Exception:
        return None
    total: int | None = None
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("llamacpp:requests_processing", "llamacpp:requests_deferred"):
            try:
                total = (total or 0) + int(float(value))
            except ValueError:
                return None
    return total
