"""The loopback OpenAI-compatible HTTP server itself: :class:`FakeOpenAI` (asyncio streams on a
daemon thread, HTTP/1.1 keep-alive, SSE streaming) and its wire helpers.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import random
import re
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Final

from .fake_batches import BatchService
from .fake_message_batches import MessageBatchService
from .outcomes import (
    DEFAULT_MODELS,
    EndpointKind,
    Fault,
    Reply,
    Request,
    Responder,
    as_reply,
    count_tokens,
)
from .responders import echo

_MAX_HEADER_LINES: Final = 200
_MAX_BODY: Final = 64 * 1024 * 1024
_TOKEN_BOUNDARY: Final = re.compile(r"(?<=\s)(?=\S)")


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
        chunk_delay: seconds between a streamed answer's content chunks (SSE), each written
            and flushed as it is due (default 0: the whole stream at once, after ``latency``).
            :attr:`stream_times` has when each content chunk was sent.

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
        chunk_delay: float = 0.0,
    ) -> None:
        if chunk_delay < 0:
            raise ValueError(f"chunk_delay must be >= 0, got {chunk_delay!r}")
        self.responder: Responder = responder if responder is not None else echo
        self.latency = latency
        self.jitter = jitter
        self.seed = seed
        self.host = host
        self.max_hang = max_hang
        self.chunk_delay = chunk_delay
        self._stream_times: dict[int, list[float]] = {}
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
        self.batches = BatchService(self)  # /v1/files and /v1/batches
        self.message_batches = MessageBatchService(self)  # Anthropic's /v1/messages/batches
        self._batch_lines = 0

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
    def stream_times(self) -> dict[int, list[float]]:
        """Request index -> ``time.perf_counter()`` at which each content chunk of its
        streamed answer was written (same clock as the caller's in this process)."""
        with self._lock:
            return {k: list(v) for k, v in self._stream_times.items()}

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
            self._stream_times.clear()

    def next_index(self) -> int:
        """Reserve the next model-call index (a batch line's, which is not an HTTP request)."""
        with self._lock:
            self._batch_lines += 1
            return 1_000_000 + self._batch_lines

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
        if route.startswith("/messages/batches"):
            status, payload, ctype = await self.message_batches.handle(
                method, route, headers, raw_body
            )
            await self._send(writer, status, payload, keep_alive, content_type=ctype)
            return keep_alive
        if route.startswith(("/files", "/batches")):
            status, payload, ctype = await self.batches.handle(method, route, headers, raw_body)
            await self._send(writer, status, payload, keep_alive, content_type=ctype)
            return keep_alive
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
            outcome = as_reply(self.responder(request))
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

    def completion_payload(self, request: Request, reply: Reply) -> dict[str, Any]:
        """The chat/completion response body for ``reply`` (a batch line's ``response.body``)."""
        return self._completion_payload(request, reply)

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
        content: set[int] = set()  # indexes of the events that carry text
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
            for p in _TOKEN_BOUNDARY.split(reply.text):
                if p:
                    content.add(len(events))
                    events.append(chunk(piece(p, None)))
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
        sent: list[float] = []
        with self._lock:
            self._stream_times[request.index] = sent
        delay = self.chunk_delay
        for i, event in enumerate(events):
            if delay > 0 and i in content and sent:
                await writer.drain()
                await asyncio.sleep(delay)
            writer.write(b"%x\r\n%s\r\n" % (len(event), event))
            if i in content:
                if delay > 0:
                    await writer.drain()
                with self._lock:
                    sent.append(time.perf_counter())
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
        content_type: str = "",
    ) -> None:
        head = [
            f"HTTP/1.1 {status} {_reason(status)}",
            f"Content-Type: {content_type or 'application/json'}",
            f"Content-Length: {len(body)}",
            f"Connection: {'keep-alive' if keep_alive else 'close'}",
        ]
        head.extend(f"{k}: {v}" for k, v in extra)
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
