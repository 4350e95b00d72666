"""What the fake server's responders see and return: the :class:`Request` of one model
call, and its outcome, a :class:`Reply` or a :class:`Fault` (see :mod:`promptops.testing.server`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias

EndpointKind: TypeAlias = Literal["chat", "completion", "models", "health", "not_found"]
"""What a request was for; keys of :attr:`FakeOpenAI.counts`."""

FaultKind: TypeAlias = Literal["http_error", "malformed", "hang", "drop"]
"""Mechanism of a :class:`Fault` (a 429 is an ``http_error`` with status 429)."""

DEFAULT_MODELS: Final[tuple[str, ...]] = ("fake-model",)


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


def as_reply(outcome: Outcome) -> Reply | Fault:
    return Reply(outcome) if isinstance(outcome, str) else outcome
