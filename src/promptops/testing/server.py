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
    ``GET /v1/models`` and ``GET /health``, and OpenAI's Files and Batch APIs
    (``/v1/files``, ``/v1/batches``: see :mod:`promptops.testing.fake_batches`;
    ``server.batches`` sets their pace and counts them).  The ``/v1`` prefix is optional.

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

import sys

from .fake_openai import FakeOpenAI
from .outcomes import (
    EndpointKind,
    Fault,
    FaultKind,
    Outcome,
    Reply,
    Request,
    Responder,
    content_text,
    count_tokens,
)
from .process import ServerProcess, main
from .responders import (
    by_content,
    constant,
    echo,
    fail_first,
    flaky,
    noisy,
    sequence,
    slow,
)

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

if __name__ == "__main__":
    sys.exit(main())
