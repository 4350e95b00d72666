"""Loopback OpenAI-compatible HTTP server for tests and benchmarks.

The server speaks just enough of the OpenAI REST API for ``litellm`` (and the
``openai`` SDK underneath it) to run its *real* code path against it::

    from promptops.testing.server import FakeOpenAI, Fault, fail_first

    with FakeOpenAI(latency=0.01) as server:
        resp = await litellm.acompletion(
            model="openai/fake-model",
            api_base=server.url,            # "http://127.0.0.1:PORT/v1"
            api_key="sk-test",
            messages=[{"role": "user", "content": "hello"}],
            num_retries=0, max_retries=0,   # disable litellm + openai SDK retries
        )
        assert resp.choices[0].message.content == "hello"   # default: echo

Endpoints
    ``POST /v1/chat/completions`` and ``POST /v1/completions`` (OpenAI response
    shapes incl. ``usage``; ``"stream": true`` is answered with SSE chunks),
    ``GET /v1/models`` and ``GET /health``.  The ``/v1`` prefix is optional.

Behaviour is decided per model call by a *responder*: a callable taking a
:class:`Request` and returning an :data:`Outcome` -- a :class:`Reply` (a text
answer, optionally with its own latency), a :class:`Fault` (429 with
Retry-After, 5xx, malformed JSON, hang, dropped connection) or a plain ``str``
(shorthand for ``Reply(text)``).  Ready-made responders and combinators:
:func:`echo` (the default), :func:`constant`, :func:`sequence`,
:func:`fail_first`, :func:`flaky`, :func:`noisy`, :func:`by_content` and
:func:`slow`.

Implementation: a single asyncio event loop (stdlib ``asyncio`` streams, HTTP/1.1
keep-alive) running in a daemon thread; the responder is called on that thread,
one request at a time, so it never needs to be re-entrant.  Nothing is ever
logged per request.

The module is also a CLI used by benchmarks to run the server as a separate
process (see :func:`main` and :class:`ServerProcess`)::

    python -m promptops.testing.server --port 0 --latency 0.02

prints the base URL as the first line on stdout and serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import http
import json
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, TypeAlias

__all__ = [
    "EndpointKind",
    "FakeOpenAI",
    "Fault",
    "FaultKind",
    "Outcome",
    "Reply",
    "Request",
    "Responder",
    "ServerProcess",
    "by_content",
    "constant",
    "content_text",
    "count_tokens",
    "echo",
    "fail_first",
    "flaky",
    "main",
    "noisy",
    "sequence",
    "slow",
]

EndpointKind: TypeAlias = Literal["chat", "completion", "models", "health", "not_found"]
"""What a request was for; keys of :attr:`FakeOpenAI.counts`."""

FaultKind: TypeAlias = Literal["http_error", "malformed", "hang", "drop"]
"""Mechanism of a :class:`Fault` (a 429 is an ``http_error`` with status 429)."""

DEFAULT_MODELS: Final[tuple[str, ...]] = ("fake-model",)
_MAX_HEADER_LINES: Final = 200
_MAX_BODY: Final = 64 * 1024 * 1024
_TOKEN_BOUNDARY: Final = re.compile(r"(?<=\s)(?=\S)")


# --------------------------------------------------------------------------- #
# Data model
# --------------------------------------------------------------------------- #


def content_text(content: object) -> str:
    """Flatten an OpenAI message ``content`` (str, list of parts or None) to text."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "".join(parts)
    return str(content)


def count_tokens(text: str) -> int:
    """The fake tokenizer: number of whitespace-separated words."""
    return len(text.split())


@dataclass(frozen=True, eq=False)
class Request:
    """One request as received by the server (immutable snapshot).

    Attributes:
        index: 0-based arrival order among *model calls* (chat + completion);
            ``-1`` for other endpoints (models, health, unknown paths).
        kind: endpoint kind, see :data:`EndpointKind`.
        method: HTTP method.
        path: request path without query string (e.g. ``/v1/chat/completions``).
        headers: request headers, keys lower-cased.
        body: decoded JSON body (``{}`` when absent).
        model: ``body["model"]`` (``""`` if absent).
        messages: ``body["messages"]`` for chat calls, else ``[]``.
        prompt: ``body["prompt"]`` for completion calls (lists joined by
            newlines), else ``""``.
        stream: ``body["stream"]`` truthiness.
        received_at: ``time.monotonic()`` when the request was parsed.
    """

    index: int
    kind: EndpointKind
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    model: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)
    prompt: str = ""
    stream: bool = False
    received_at: float = 0.0

    @property
    def text(self) -> str:
        """Content of the last ``user`` message (chat) or the prompt (completion).

        Falls back to the last message of any role when there is no user message.
        """
        if self.kind == "completion":
            return self.prompt
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return content_text(message.get("content"))
        if self.messages:
            return content_text(self.messages[-1].get("content"))
        return ""

    @property
    def key(self) -> str:
        """Stable identity of the *prompt* (all messages, or the completion prompt).

        Used by :func:`fail_first`, :func:`flaky` and :func:`noisy` to treat each
        distinct case separately regardless of arrival order.
        """
        if self.kind == "completion":
            return "prompt:" + self.prompt
        return "messages:" + json.dumps(
            [[m.get("role"), content_text(m.get("content"))] for m in self.messages],
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @property
    def prompt_tokens(self) -> int:
        """Fake prompt token count (words in all messages / the prompt)."""
        if self.kind == "completion":
            return count_tokens(self.prompt)
        return sum(count_tokens(content_text(m.get("content"))) for m in self.messages)


@dataclass(frozen=True)
class Reply:
    """A successful answer.

    Attributes:
        text: assistant content (chat) / completion text.
        latency: seconds to wait before answering; ``None`` uses the server's
            latency (+ jitter).
        finish_reason: ``choices[i].finish_reason``.
        prompt_tokens / completion_tokens: override the word-count based usage.
        model: override the ``model`` echoed in the response.
        headers: extra response headers.
        tool_calls: function calls to answer with, ``(name, arguments JSON string)``
            pairs; with no ``text`` the message content is ``null`` (see
            :mod:`promptops.testing.tools`).
    """

    text: str = ""
    latency: float | None = None
    finish_reason: str = "stop"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    model: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    tool_calls: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Fault:
    """A failure to inject.  Build with the class-method constructors.

    Attributes:
        kind: mechanism (see :data:`FaultKind`).
        status: HTTP status for ``http_error`` (200 for ``malformed``).
        message: error message in the OpenAI-style error body.
        error_type: ``error.type`` in the body.
        retry_after: seconds; emitted as ``Retry-After`` (``%g`` formatted, may
            be fractional) and ``retry-after-ms`` headers.
        seconds: hang duration (capped by ``FakeOpenAI.max_hang``).
        body: raw payload for ``malformed``.
        reset: for ``drop``: send a TCP RST (SO_LINGER 0) instead of a FIN.
        latency: delay before the fault is delivered; ``None`` = server latency.
        headers: extra response headers.
    """

    kind: FaultKind
    status: int = 500
    message: str = ""
    error_type: str = "server_error"
    retry_after: float | None = None
    seconds: float = 0.0
    body: bytes = b""
    reset: bool = False
    latency: float | None = None
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        """Key used in :attr:`FakeOpenAI.outcomes` (``rate_limit``, ``http_500``, ...)."""
        if self.kind == "http_error":
            return "rate_limit" if self.status == 429 else f"http_{self.status}"
        return self.kind

    @classmethod
    def http_error(
        cls,
        status: int,
        message: str | None = None,
        *,
        error_type: str | None = None,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
        latency: float | None = None,
    ) -> Fault:
        """Any HTTP error status with an OpenAI-style JSON error body."""
        if error_type is None:
            error_type = "server_error" if status >= 500 else "invalid_request_error"
        return cls(
            kind="http_error",
            status=status,
            message=message or f"fake server error {status}",
            error_type=error_type,
            retry_after=retry_after,
            headers=tuple((headers or {}).items()),
            latency=latency,
        )

    @classmethod
    def rate_limit(cls, retry_after: float | None = 1.0, message: str | None = None) -> Fault:
        """HTTP 429 with ``Retry-After: <retry_after>`` (omitted if ``None``)."""
        return cls.http_error(
            429,
            message or "Rate limit reached (fake)",
            error_type="requests",
            retry_after=retry_after,
            headers={"x-ratelimit-remaining-requests": "0"},
        )

    @classmethod
    def server_error(cls, status: int = 500, message: str | None = None) -> Fault:
        """HTTP 5xx (default 500) with an OpenAI-style error body."""
        return cls.http_error(status, message or f"The server had an error ({status}, fake)")

    @classmethod
    def unavailable(cls, retry_after: float | None = None) -> Fault:
        """HTTP 503 Service Unavailable (optionally with Retry-After)."""
        return cls.http_error(
            503,
            "The engine is currently overloaded (fake)",
            error_type="service_unavailable",
            retry_after=retry_after,
        )

    @classmethod
    def malformed(cls, body: bytes | str = b'{"id": "chatcmpl-broken", "choices": [') -> Fault:
        """HTTP 200 with ``Content-Type: application/json`` and an unparsable body."""
        raw = body.encode() if isinstance(body, str) else body
        return cls(kind="malformed", status=200, body=raw)

    @classmethod
    def hang(cls, seconds: float = 30.0) -> Fault:
        """Never answer: keep the connection open for ``seconds`` then close it.

        Ends early when the client closes the connection or the server stops.
        """
        return cls(kind="hang", seconds=seconds)

    @classmethod
    def drop(cls, *, reset: bool = False) -> Fault:
        """Close the connection without sending anything (FIN, or RST if ``reset``)."""
        return cls(kind="drop", reset=reset)


Outcome: TypeAlias = Reply | Fault | str
"""What a responder returns; a ``str`` is shorthand for ``Reply(text)``."""

Responder: TypeAlias = Callable[[Request], Outcome]
"""Decides the outcome of one model call."""


def _as_reply(outcome: Outcome) -> Reply | Fault:
    return Reply(outcome) if isinstance(outcome, str) else outcome


# --------------------------------------------------------------------------- #
# Responders
# --------------------------------------------------------------------------- #


def echo(request: Request) -> Reply:
    """Default responder: answer with the last user message (or the prompt)."""
    return Reply(request.text)


def constant(outcome: Outcome) -> Responder:
    """Always return ``outcome``."""

    def responder(request: Request) -> Outcome:
        return outcome

    return responder


def sequence(*outcomes: Outcome, then: Responder = echo) -> Responder:
    """Return ``outcomes`` in global arrival order, then delegate to ``then``."""
    lock = threading.Lock()
    queue = list(outcomes)
    position = 0

    def responder(request: Request) -> Outcome:
        nonlocal position
        with lock:
            if position < len(queue):
                position += 1
                return queue[position - 1]
        return then(request)

    return responder


def fail_first(
    n: int,
    fault: Fault | None = None,
    *,
    then: Responder = echo,
    key: Callable[[Request], str] | None = None,
) -> Responder:
    """Fail the first ``n`` calls *of each distinct prompt*, then delegate to ``then``.

    Args:
        n: failures per prompt before succeeding.
        fault: what to fail with (default HTTP 500).
        then: responder used once a prompt has failed ``n`` times.
        key: prompt identity (default :attr:`Request.key`).

    The returned callable has an ``attempts`` attribute: ``dict[key, calls]``.
    """
    chosen = fault if fault is not None else Fault.server_error()
    keyfunc = key if key is not None else _request_key
    lock = threading.Lock()
    attempts: dict[str, int] = {}

    def responder(request: Request) -> Outcome:
        k = keyfunc(request)
        with lock:
            seen = attempts.get(k, 0)
            attempts[k] = seen + 1
        return chosen if seen < n else then(request)

    responder.attempts = attempts  # type: ignore[attr-defined]
    return responder


def _request_key(request: Request) -> str:
    return request.key


def _unit(seed: int, key: str, nth: int, salt: str) -> float:
    """Deterministic uniform [0, 1) draw from (seed, key, occurrence, salt)."""
    digest = hashlib.blake2b(f"{seed}\x00{salt}\x00{nth}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


class _Occurrences:
    """Thread-safe per-key occurrence counter (n-th time a prompt is seen)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: Counter[str] = Counter()

    def next(self, key: str) -> int:
        with self._lock:
            nth = self._seen[key]
            self._seen[key] = nth + 1
            return nth


def flaky(
    p_fault: float,
    fault: Fault | None = None,
    *,
    seed: int = 0,
    then: Responder = echo,
    key: Callable[[Request], str] | None = None,
) -> Responder:
    """Fail with probability ``p_fault`` (seeded, reproducible), else delegate.

    The draw depends only on ``(seed, prompt key, how many times this prompt was
    seen)``, so results do not depend on the arrival order of *different* prompts
    under concurrency.
    """
    chosen = fault if fault is not None else Fault.server_error()
    keyfunc = key if key is not None else _request_key
    occurrences = _Occurrences()

    def responder(request: Request) -> Outcome:
        k = keyfunc(request)
        if _unit(seed, k, occurrences.next(k), "flaky") < p_fault:
            return chosen
        return then(request)

    return responder


TextSource: TypeAlias = str | Callable[[Request], str]


def _text_of(source: TextSource, request: Request) -> str:
    return source if isinstance(source, str) else source(request)


def _echo_text(request: Request) -> str:
    return request.text


def noisy(
    p_correct: float | Callable[[Request], float],
    correct: TextSource = _echo_text,
    wrong: TextSource = "WRONG",
    seed: int = 0,
    *,
    key: Callable[[Request], str] | None = None,
) -> Responder:
    """Answer ``correct`` with probability ``p_correct`` else ``wrong`` (seeded).

    Args:
        p_correct: probability, or a function of the request (per-case accuracy).
        correct: answer text, or a function of the request (default: echo).
        wrong: answer text, or a function of the request.
        seed: different seeds give independent answer streams (e.g. baseline
            vs. candidate runs for false-alarm-rate tests of a regression gate).
        key: prompt identity (default :attr:`Request.key`).

    Each draw depends only on ``(seed, prompt key, occurrence of that prompt)``,
    so a run is reproducible regardless of concurrency, while repeated calls of
    the same prompt are independent trials.
    """
    keyfunc = key if key is not None else _request_key
    occurrences = _Occurrences()

    def responder(request: Request) -> Outcome:
        k = keyfunc(request)
        p = p_correct(request) if callable(p_correct) else p_correct
        u = _unit(seed, k, occurrences.next(k), "noisy")
        return Reply(_text_of(correct if u < p else wrong, request))

    return responder


def by_content(
    answers: Mapping[str, Outcome] | Callable[[str], Outcome | None],
    *,
    default: Responder = echo,
    substring: bool = False,
) -> Responder:
    """Decide the answer from the user message (:attr:`Request.text`).

    Args:
        answers: mapping from user text to outcome (exact match, or first key
            contained in the text if ``substring``), or a function of the text
            returning an outcome or ``None``.
        default: responder used when nothing matches / the function returns None.
    """

    def responder(request: Request) -> Outcome:
        text = request.text
        found: Outcome | None
        if callable(answers):
            found = answers(text)
        elif substring:
            found = next((v for k, v in answers.items() if k in text), None)
        else:
            found = answers.get(text)
        return default(request) if found is None else found

    return responder


def slow(latency: float, then: Responder = echo) -> Responder:
    """Delegate to ``then`` but answer after ``latency`` seconds (replies and faults)."""

    def responder(request: Request) -> Outcome:
        outcome = _as_reply(then(request))
        if isinstance(outcome, Reply):
            return Reply(
                text=outcome.text,
                latency=latency,
                finish_reason=outcome.finish_reason,
                prompt_tokens=outcome.prompt_tokens,
                completion_tokens=outcome.completion_tokens,
                model=outcome.model,
                headers=outcome.headers,
            )
        return Fault(
            kind=outcome.kind,
            status=outcome.status,
            message=outcome.message,
            error_type=outcome.error_type,
            retry_after=outcome.retry_after,
            seconds=outcome.seconds,
            body=outcome.body,
            reset=outcome.reset,
            latency=latency,
            headers=outcome.headers,
        )

    return responder


# --------------------------------------------------------------------------- #
# HTTP plumbing
# --------------------------------------------------------------------------- #


def _chat_message(reply: Reply, index: int) -> dict[str, Any]:
    if not reply.tool_calls:
        return {"role": "assistant", "content": reply.text, "refusal": None}
    calls = [
        {
            "id": f"call_fake_{index}_{i}",
            "type": "function",
            "function": {"name": name, "arguments": arguments},
        }
        for i, (name, arguments) in enumerate(reply.tool_calls)
    ]
    return {
        "role": "assistant",
        "content": reply.text or None,
        "refusal": None,
        "tool_calls": calls,
    }


class _BadRequest(Exception):
    pass


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _error_body(message: str, error_type: str, code: str | int | None = None) -> bytes:
    return _dumps({"error": {"message": message, "type": error_type, "param": None, "code": code}})


def _format_seconds(value: float) -> str:
    return f"{value:g}"


_ROUTES: Final[dict[str, tuple[EndpointKind, str]]] = {
    "/chat/completions": ("chat", "POST"),
    "/completions": ("completion", "POST"),
    "/models": ("models", "GET"),
    "/health": ("health", "GET"),
}


class FakeOpenAI:
    """In-process fake OpenAI server on ``127.0.0.1`` (daemon thread, asyncio).

    Args:
        responder: decides each model call (default :func:`echo`).  Called on
            the server thread; may be replaced at any time via ``.responder``.
        latency: default seconds before each model call is answered (applies to
            faults too, unless the outcome sets its own ``latency``).
        seed: seeds the latency jitter RNG (and nothing else).
        jitter: extra uniform random latency in ``[0, jitter]`` seconds.
        host / port: bind address; port 0 picks a free port.
        models: ids listed by ``GET /v1/models``.
        max_hang: cap for :meth:`Fault.hang` durations (seconds).

    Thread-safe accessors: :attr:`requests`, :attr:`calls`, :attr:`counts`,
    :attr:`outcomes`, :attr:`errors`, :meth:`reset`, :meth:`wait_for_calls`.
    Use as a context manager (``with FakeOpenAI() as s:``) or call
    :meth:`start` / :meth:`stop`.
    """

    def __init__(
        self,
        responder: Responder | None = None,
        latency: float = 0.0,
        seed: int = 0,
        *,
        jitter: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        models: Sequence[str] = DEFAULT_MODELS,
        max_hang: float = 30.0,
    ) -> None:
        self.responder: Responder = responder if responder is not None else echo
        self.latency = latency
        self.jitter = jitter
        self.seed = seed
        self.host = host
        self.max_hang = max_hang
        self.models = tuple(models)
        self._requested_port = port
        self._port: int | None = None
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self._counts: Counter[str] = Counter()
        self._outcomes: Counter[str] = Counter()
        self._errors: list[BaseException] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._startup_error: BaseException | None = None
        self._created = int(time.time())

    # -- lifecycle --------------------------------------------------------- #

    def start(self) -> FakeOpenAI:
        """Bind and start serving in a daemon thread; returns ``self``."""
        if self._thread is not None:
            raise RuntimeError("FakeOpenAI already started")
        ready = threading.Event()
        self._startup_error = None
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="FakeOpenAI", daemon=True
        )
        self._thread.start()
        if not ready.wait(timeout=30):
            raise RuntimeError("FakeOpenAI did not start within 30 s")
        if self._startup_error is not None:
            self._thread.join()
            self._thread = None
            raise self._startup_error
        return self

    def stop(self) -> None:
        """Stop serving: abort hangs, close all connections, join the thread.

        Idempotent.  The server can be started again afterwards (new port if 0).
        """
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout=30)
        self._thread = None
        self._loop = None
        self._stopping = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def port(self) -> int:
        """Bound TCP port (only valid after :meth:`start`)."""
        if self._port is None:
            raise RuntimeError("FakeOpenAI not started")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` (no ``/v1``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """``http://HOST:PORT/v1`` -- pass as litellm ``api_base``."""
        return self.base_url + "/v1"

    # -- introspection ----------------------------------------------------- #

    @property
    def requests(self) -> list[Request]:
        """Snapshot of recorded model calls (chat + completion) in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def calls(self) -> int:
        """Number of model calls (chat + completion) received."""
        with self._lock:
            return len(self._requests)

    @property
    def counts(self) -> dict[str, int]:
        """Requests received per :data:`EndpointKind` (snapshot)."""
        with self._lock:
            return dict(self._counts)

    @property
    def outcomes(self) -> dict[str, int]:
        """Model-call outcomes: ``ok``, ``rate_limit``, ``http_500``, ``malformed``,
        ``hang``, ``drop``, ``responder_error`` ... (snapshot)."""
        with self._lock:
            return dict(self._outcomes)

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions raised by the responder (each answered with HTTP 500) or by
        the server itself (connection aborted)."""
        with self._lock:
            return list(self._errors)

    def reset(self) -> None:
        """Forget recorded requests, counts, outcomes and errors (index restarts at 0)."""
        with self._lock:
            self._requests.clear()
            self._counts.clear()
            self._outcomes.clear()
            self._errors.clear()

    def wait_for_calls(self, n: int, timeout: float = 5.0) -> bool:
        """Block until at least ``n`` model calls were received (or timeout)."""
        deadline = time.monotonic() + timeout
        while self.calls < n:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    # -- server loop ------------------------------------------------------- #

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(ready))
        except BaseException as exc:  # pragma: no cover - defensive
            if not ready.is_set():
                self._startup_error = exc
                ready.set()
        finally:
            ready.set()
            loop.close()

    async def _serve(self, ready: threading.Event) -> None:
        self._stopping = asyncio.Event()
        try:
            server = await asyncio.start_server(
                self._handle, self.host, self._requested_port, backlog=1024
            )
        except BaseException as exc:
            self._startup_error = exc
            ready.set()
            return
        self._port = int(server.sockets[0].getsockname()[1])
        ready.set()
        try:
            await self._stopping.wait()
        finally:
            server.close()
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while await self._serve_one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            # Server shutdown.  Finish normally: asyncio's stream protocol calls
            # task.exception() on this task, which would log a cancelled task.
            pass
        except _BadRequest as exc:
            with contextlib.suppress(ConnectionError):
                await self._send(writer, 400, _error_body(str(exc), "invalid_request_error"), False)
        except Exception as exc:  # server bug: record it, never print it
            with self._lock:
                self._errors.append(exc)
            writer.transport.abort()
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    async def _read_body(self, reader: asyncio.StreamReader, headers: Mapping[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size_line = await reader.readline()
                try:
                    size = int(size_line.split(b";", 1)[0].strip(), 16)
                except ValueError as exc:
                    raise _BadRequest("bad chunk size") from exc
                if size == 0:
                    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > _MAX_BODY:
                    raise _BadRequest("body too large")
                chunks.append(await reader.readexactly(size))
                await reader.readline()
        length_header = headers.get("content-length")
        if not length_header:
            return b""
        try:
            length = int(length_header)
        except ValueError as exc:
            raise _BadRequest("bad Content-Length") from exc
        if length < 0 or length > _MAX_BODY:
            raise _BadRequest("bad Content-Length")
        return await reader.readexactly(length) if length else b""

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; return whether to keep the connection open."""
        line = await reader.readline()
        if not line:
            return False
        if line in (b"\r\n", b"\n"):
            return True
        parts = line.decode("latin-1").split()
        if len(parts) != 3:
            raise _BadRequest("malformed request line")
        method, target, version = parts
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADER_LINES):
            raw = await reader.readline()
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _sep, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        else:
            raise _BadRequest("too many headers")
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        raw_body = await self._read_body(reader, headers)

        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"

        path = target.split("?", 1)[0]
        route = path[3:] if path.startswith("/v1/") else path
        route = route.rstrip("/") or "/"
        kind, allowed = _ROUTES.get(route, ("not_found", ""))
        if kind == "not_found":
            self._count(kind)
            await self._send(
                writer, 404, _error_body(f"no route {path}", "invalid_request_error"), keep_alive
            )
            return keep_alive
        if method != allowed:
            self._count(kind)
            await self._send(
                writer,
                405,
                _error_body(f"{method} not allowed", "invalid_request_error"),
                keep_alive,
            )
            return keep_alive
        if kind == "health":
            self._count(kind)
            await self._send(writer, 200, b'{"status":"ok"}', keep_alive)
            return keep_alive
        if kind == "models":
            self._count(kind)
            data = [
                {"id": m, "object": "model", "created": self._created, "owned_by": "promptops"}
                for m in self.models
            ]
            await self._send(writer, 200, _dumps({"object": "list", "data": data}), keep_alive)
            return keep_alive

        try:
            body = json.loads(raw_body) if raw_body else {}
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._count(kind)
            await self._send(
                writer,
                400,
                _error_body("body is not a JSON object", "invalid_request_error"),
                keep_alive,
            )
            return keep_alive
        return await self._model_call(kind, method, path, headers, body, reader, writer, keep_alive)

    def _count(self, kind: EndpointKind) -> None:
        with self._lock:
            self._counts[kind] += 1

    async def _model_call(
        self,
        kind: EndpointKind,
        method: str,
        path: str,
        headers: dict[str, str],
        body: dict[str, Any],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        keep_alive: bool,
    ) -> bool:
        messages_raw = body.get("messages") if kind == "chat" else None
        messages = (
            [m for m in messages_raw if isinstance(m, dict)]
            if isinstance(messages_raw, list)
            else []
        )
        prompt_raw = body.get("prompt") if kind == "completion" else None
        if isinstance(prompt_raw, list):
            prompt = "\n".join(p for p in prompt_raw if isinstance(p, str))
        else:
            prompt = prompt_raw if isinstance(prompt_raw, str) else ""
        model = body.get("model")
        with self._lock:
            request = Request(
                index=len(self._requests),
                kind=kind,
                method=method,
                path=path,
                headers=headers,
                body=body,
                model=model if isinstance(model, str) else "",
                messages=messages,
                prompt=prompt,
                stream=bool(body.get("stream")),
                received_at=time.monotonic(),
            )
            self._requests.append(request)
            self._counts[kind] += 1

        label: str
        try:
            outcome = _as_reply(self.responder(request))
            label = "ok" if isinstance(outcome, Reply) else outcome.label
        except Exception as exc:  # responder bug: surface as a 500
            with self._lock:
                self._errors.append(exc)
            outcome = Fault.http_error(500, f"fake server responder raised {exc!r}")
            label = "responder_error"
        with self._lock:
            self._outcomes[label] += 1

        delay = outcome.latency
        if delay is None:
            delay = self.latency + (self._rng.uniform(0.0, self.jitter) if self.jitter > 0 else 0.0)
        if delay > 0:
            await asyncio.sleep(delay)

        if isinstance(outcome, Reply):
            if request.stream:
                return await self._send_stream(writer, request, outcome, keep_alive)
            payload = self._completion_payload(request, outcome)
            extra = (("x-request-id", f"req_fake_{request.index}"), *outcome.headers)
            await self._send(writer, 200, _dumps(payload), keep_alive, extra)
            return keep_alive
        return await self._send_fault(reader, writer, outcome, keep_alive)

    async def _send_fault(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        fault: Fault,
        keep_alive: bool,
    ) -> bool:
        if fault.kind == "http_error":
            extra: list[tuple[str, str]] = list(fault.headers)
            if fault.retry_after is not None:
                extra.append(("Retry-After", _format_seconds(fault.retry_after)))
                extra.append(("retry-after-ms", str(round(fault.retry_after * 1000))))
            body = _error_body(fault.message, fault.error_type, fault.status)
            await self._send(writer, fault.status, body, keep_alive, extra)
            return keep_alive
        if fault.kind == "malformed":
            await self._send(writer, 200, fault.body, keep_alive)
            return keep_alive
        if fault.kind == "hang":
            await self._hang(reader, min(fault.seconds, self.max_hang))
        elif fault.reset:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
        return False

    async def _hang(self, reader: asyncio.StreamReader, seconds: float) -> None:
        """Wait ``seconds``, or until the peer closes / the server stops."""
        if self._stopping is None:
            return
        eof = asyncio.ensure_future(reader.read(1))
        stopped = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({eof, stopped}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in (eof, stopped):
                fut.cancel()
            await asyncio.gather(eof, stopped, return_exceptions=True)

    def _completion_payload(self, request: Request, reply: Reply) -> dict[str, Any]:
        n_raw = request.body.get("n", 1)
        n = n_raw if isinstance(n_raw, int) and 1 <= n_raw <= 128 else 1
        prompt_tokens = (
            reply.prompt_tokens if reply.prompt_tokens is not None else request.prompt_tokens
        )
        completion_tokens = (
            reply.completion_tokens
            if reply.completion_tokens is not None
            else count_tokens(reply.text) * n
        )
        model = reply.model or request.model or self.models[0]
        choices: list[dict[str, Any]]
        if request.kind == "chat":
            choices = [
                {
                    "index": i,
                    "message": _chat_message(reply, request.index),
                    "logprobs": None,
                    "finish_reason": reply.finish_reason,
                }
                for i in range(n)
            ]
            prefix, obj = "chatcmpl", "chat.completion"
        else:
            choices = [
                {
                    "index": i,
                    "text": reply.text,
                    "logprobs": None,
                    "finish_reason": reply.finish_reason,
                }
                for i in range(n)
            ]
            prefix, obj = "cmpl", "text_completion"
        return {
            "id": f"{prefix}-fake-{request.index}",
            "object": obj,
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    async def _send_stream(
        self, writer: asyncio.StreamWriter, request: Request, reply: Reply, keep_alive: bool
    ) -> bool:
        model = reply.model or request.model or self.models[0]
        created = int(time.time())
        chat = request.kind == "chat"
        ident = f"{'chatcmpl' if chat else 'cmpl'}-fake-{request.index}"
        obj = "chat.completion.chunk" if chat else "text_completion"

        def chunk(choice: dict[str, Any] | None, usage: dict[str, int] | None = None) -> bytes:
            event: dict[str, Any] = {
                "id": ident,
                "object": obj,
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [] if choice is None else [choice],
            }
            if usage is not None:
                event["usage"] = usage
            return b"data: " + _dumps(event) + b"\n\n"

        def piece(text: str | None, finish: str | None) -> dict[str, Any]:
            if chat:
                delta: dict[str, Any] = {} if text is None else {"content": text}
                return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}

        events: list[bytes] = []
        if chat:
            events.append(
                chunk(
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": ""},
                        "logprobs": None,
                        "finish_reason": None,
                    }
                )
            )
        if reply.text:
            events.extend(chunk(piece(p, None)) for p in _TOKEN_BOUNDARY.split(reply.text) if p)
        events.append(chunk(piece(None, reply.finish_reason)))
        options = request.body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            prompt_tokens = (
                reply.prompt_tokens if reply.prompt_tokens is not None else request.prompt_tokens
            )
            completion_tokens = (
                reply.completion_tokens
                if reply.completion_tokens is not None
                else count_tokens(reply.text)
            )
            events.append(
                chunk(
                    None,
                    {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": completion_tokens,
                        "total_tokens": prompt_tokens + completion_tokens,
                    },
                )
            )
        events.append(b"data: [DONE]\n\n")

        head = [
            "HTTP/1.1 200 OK",
            "Content-Type: text/event-stream; charset=utf-8",
            "Cache-Control: no-cache",
            "Transfer-Encoding: chunked",
            f"x-request-id: req_fake_{request.index}",
            f"Connection: {'keep-alive' if keep_alive else 'close'}",
        ]
        head.extend(f"{k}: {v}" for k, v in reply.headers)
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        for event in events:
            writer.write(b"%x\r\n%s\r\n" % (len(event), event))
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return keep_alive

    @staticmethod
    async def _send(
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        keep_alive: bool,
        extra: Iterable[tuple[str, str]] = (),
    ) -> None:
        head = [
            f"HTTP/1.1 {status} {_reason(status)}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            f"Connection: {'keep-alive' if keep_alive else 'close'}",
        ]
        head.extend(f"{k}: {v}" for k, v in extra)
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()


# --------------------------------------------------------------------------- #
# Separate-process server (benchmarks)
# --------------------------------------------------------------------------- #


class ServerProcess:
    """Run ``python -m promptops.testing.server`` as a child process.

    Example::

        with ServerProcess(latency=0.02) as proc:
            ...  # use proc.url as api_base

    ``args`` are extra CLI arguments (e.g. ``["--fault", "rate_limit",
    "--fail-first", "1"]``).  On exit the child is terminated (SIGTERM, then
    SIGKILL after 5 s); it is started with ``--exit-with-parent`` so it also
    goes away if this process crashes.
    """

    def __init__(
        self,
        latency: float = 0.0,
        *,
        port: int = 0,
        args: Sequence[str] = (),
        python: str = sys.executable,
        startup_timeout: float = 30.0,
    ) -> None:
        self.command = [
            python,
            "-m",
            "promptops.testing.server",
            "--port",
            str(port),
            "--latency",
            repr(latency),
            "--exit-with-parent",
            *args,
        ]
        self.startup_timeout = startup_timeout
        self.url = ""
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> ServerProcess:
        """Start the child and wait for its URL line."""
        env = dict(os.environ)
        src = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
        self.proc = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env
        )
        stdout = self.proc.stdout
        assert stdout is not None
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(self.startup_timeout)
        line = result[0].strip() if result else ""
        if not line.startswith("http"):
            self.stop()
            raise RuntimeError(f"fake server process failed to start (got {line!r})")
        self.url = line
        return self

    def stop(self) -> None:
        """Terminate the child (idempotent)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


_CLI_FAULTS: Final[dict[str, Callable[[float], Fault]]] = {
    "rate_limit": lambda retry_after: Fault.rate_limit(retry_after=retry_after),
    "server_error": lambda _r: Fault.server_error(),
    "unavailable": lambda retry_after: Fault.unavailable(retry_after=retry_after),
    "malformed": lambda _r: Fault.malformed(),
    "hang": lambda _r: Fault.hang(),
    "drop": lambda _r: Fault.drop(),
    "unauthorized": lambda _r: Fault.http_error(401, "Incorrect API key provided (fake)"),
    "not_found": lambda _r: Fault.http_error(404, "The model does not exist (fake)"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m promptops.testing.server",
        description="Fake OpenAI-compatible server. Prints its base URL (…/v1) on the "
        "first stdout line, then serves until SIGTERM/SIGINT.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per model call")
    parser.add_argument("--jitter", type=float, default=0.0, help="extra uniform latency [0, J]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", action="append", default=None, help="model id(s) for /v1/models")
    parser.add_argument(
        "--fault",
        choices=sorted(_CLI_FAULTS),
        default="server_error",
        help="fault used by --fail-first / --fault-rate",
    )
    parser.add_argument("--retry-after", type=float, default=1.0, help="Retry-After for rate_limit")
    parser.add_argument("--fail-first", type=int, default=0, help="fail first N calls per prompt")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="seeded random fault rate")
    parser.add_argument(
        "--stats",
        action="store_true",
        help="on shutdown print a JSON line with counts/outcomes to stdout",
    )
    parser.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="exit when the parent process dies (no orphaned servers after a crash)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point (see module docstring)."""
    args = _parser().parse_args(argv)
    fault = _CLI_FAULTS[args.fault](args.retry_after)
    responder: Responder = echo
    if args.fault_rate > 0:
        responder = flaky(args.fault_rate, fault, seed=args.seed, then=responder)
    if args.fail_first > 0:
        responder = fail_first(args.fail_first, fault, then=responder)
    server = FakeOpenAI(
        responder,
        latency=args.latency,
        seed=args.seed,
        jitter=args.jitter,
        host=args.host,
        port=args.port,
        models=args.model or DEFAULT_MODELS,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    parent = os.getppid()
    server.start()
    try:
        print(server.url, flush=True)
        while not stop.wait(0.5):
            if args.exit_with_parent and os.getppid() != parent:
                break
    finally:
        server.stop()
        if args.stats:
            print(
                json.dumps(
                    {"calls": server.calls, "counts": server.counts, "outcomes": server.outcomes}
                ),
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
