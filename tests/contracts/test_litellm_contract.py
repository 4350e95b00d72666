"""Contract tests: the behaviour of litellm (and the openai SDK under it) that promptops relies on.

These tests pin third-party behaviour, not promptops's. When one fails after a dependency
upgrade, upstream changed: the failure message says what promptops assumed, and
``promptops.providers.litellm_provider`` (the only module that imports litellm) is where to adapt.

What promptops relies on (litellm 1.110 / openai SDK, aiohttp transport):

=====================  =======================================  ==========================
server behaviour       litellm exception (all subclass           status_code / retried by
                       openai.APIError & litellm exceptions)     default (SDK max_retries=2)
=====================  =======================================  ==========================
429 + Retry-After      litellm.RateLimitError                    429 / yes (3 calls)
500                    litellm.InternalServerError               500 / yes (3 calls)
503                    litellm.ServiceUnavailableError           503 / yes (3 calls)
400                    litellm.BadRequestError                   400 / no
200 + malformed JSON   litellm.InternalServerError               500 / no
dropped connection     litellm.InternalServerError               500 / yes (3 calls)
hang > timeout         litellm.Timeout (openai.APITimeoutError)  408 / yes (3 calls)
=====================  =======================================  ==========================

Retries: a per-call ``num_retries=N`` overrides the SDK's ``max_retries``; promptops passes
``num_retries=0, max_retries=0`` and runs its own retry loop.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm
import openai

from promptops.providers.litellm_provider import classify
from promptops.testing.server import FakeOpenAI, Fault, constant

litellm.suppress_debug_info = True

T = TypeVar("T")
NO_RETRIES: dict[str, Any] = {"num_retries": 0, "max_retries": 0}
UPSTREAM = "litellm/openai changed upstream: "


def run(coro: Coroutine[Any, Any, T]) -> T:
    async def wrapper() -> T:
        try:
            return await coro
        finally:
            await litellm.close_litellm_async_clients()

    return asyncio.run(wrapper())


def capture(server: FakeOpenAI, **kwargs: Any) -> BaseException:
    async def go() -> BaseException:
        try:
            await litellm.acompletion(
                model="openai/fake-model",
                api_base=server.url,
                api_key="sk-test",
                messages=[{"role": "user", "content": "hello"}],
                **{**NO_RETRIES, **kwargs},
            )
        except Exception as exc:
            return exc
        raise AssertionError("expected an exception")

    return run(go())


# --------------------------------------------------------------------------- #
# Fault -> litellm exception mapping (no retries)
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("fault", "exc_type", "status"),
    [
        (Fault.rate_limit(retry_after=0.2), litellm.RateLimitError, 429),
        (Fault.server_error(), litellm.InternalServerError, 500),
        (Fault.unavailable(), litellm.ServiceUnavailableError, 503),
        (Fault.http_error(400), litellm.BadRequestError, 400),
        (Fault.malformed(), litellm.InternalServerError, 500),
        (Fault.malformed('{"unexpected": "shape"}'), litellm.InternalServerError, 500),
        (Fault.drop(), litellm.InternalServerError, 500),
        (Fault.drop(reset=True), litellm.InternalServerError, 500),
        (Fault.hang(10), litellm.Timeout, 408),
    ],
    ids=["429", "500", "503", "400", "malformed", "wrong-shape", "drop", "reset", "hang"],
)
def test_fault_maps_to_litellm_exception(
    fault: Fault, exc_type: type[Exception], status: int
) -> None:
    with FakeOpenAI(constant(fault)) as server:
        start = time.perf_counter()
        exc = capture(server, timeout=0.5)
        elapsed = time.perf_counter() - start
        assert type(exc) is exc_type, f"{UPSTREAM}{fault.label} now raises {exc!r}"
        assert isinstance(exc, openai.APIError)
        assert getattr(exc, "status_code", None) == status
        assert server.calls == 1, f"{UPSTREAM}num_retries=0, max_retries=0 no longer stops retries"
        assert server.outcomes == {fault.label: 1}
        assert elapsed < 5
    if fault.kind == "drop":
        assert "Connection error" in str(exc)
        assert not isinstance(exc, (litellm.APIConnectionError, openai.APIConnectionError))
    if fault.kind == "hang":
        # litellm.Timeout subclasses openai.APITimeoutError -> openai.APIConnectionError,
        # but NOT litellm.APIConnectionError
        assert isinstance(exc, openai.APITimeoutError)
        assert not isinstance(exc, litellm.APIConnectionError)
        assert 0.4 < elapsed < 3


def test_litellm_exception_hierarchy() -> None:
    """Catch ``openai.APIError`` (or explicit litellm classes), not ``litellm.APIError``."""
    for cls in (
        litellm.RateLimitError,
        litellm.InternalServerError,
        litellm.ServiceUnavailableError,
        litellm.BadRequestError,
        litellm.Timeout,
    ):
        assert issubclass(cls, openai.APIError)
        assert not issubclass(cls, litellm.APIError)
        assert not issubclass(cls, litellm.APIConnectionError)
    assert issubclass(litellm.Timeout, openai.APIConnectionError)


def test_retry_after_is_reachable_from_exception() -> None:
    """promptops honours a 429's Retry-After; litellm must expose the response headers."""
    with FakeOpenAI(constant(Fault.rate_limit(retry_after=0.2))) as server:
        exc = capture(server)
    assert isinstance(exc, litellm.RateLimitError)
    headers = getattr(exc, "litellm_response_headers", None) or getattr(exc, "headers", None)
    if not headers:
        headers = getattr(getattr(exc, "response", None), "headers", None)
    assert headers, f"{UPSTREAM}a RateLimitError no longer carries the response headers"
    assert float(headers["retry-after"]) == pytest.approx(0.2)
    err = classify(exc)  # type: ignore[arg-type]
    assert err.transient and err.status == 429
    assert err.retry_after == pytest.approx(0.2), f"{UPSTREAM}Retry-After is no longer read"


# --------------------------------------------------------------------------- #
# Internal retries (litellm + openai SDK)
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("kwargs", "expected_calls"),
    [
        ({}, 3),  # openai SDK default max_retries=2
        ({"num_retries": 0}, 1),  # num_retries is forwarded as the SDK max_retries
        ({"max_retries": 0}, 1),
        ({"num_retries": 0, "max_retries": 0}, 1),  # recommended
        ({"num_retries": 0, "max_retries": 2}, 1),  # num_retries wins
        ({"num_retries": 1, "max_retries": 0}, 2),  # ... also when larger
    ],
)
def test_internal_retry_kwargs(kwargs: dict[str, Any], expected_calls: int) -> None:
    with FakeOpenAI(constant(Fault.server_error())) as server:

        async def go() -> BaseException:
            try:
                await litellm.acompletion(
                    model="openai/fake-model",
                    api_base=server.url,
                    api_key="sk-test",
                    messages=[{"role": "user", "content": "x"}],
                    **kwargs,
                )
            except litellm.InternalServerError as exc:
                return exc
            raise AssertionError("expected InternalServerError")

        run(go())
        assert server.calls == expected_calls, (
            f"{UPSTREAM}retry kwargs {kwargs} now make {server.calls} calls"
        )
        retry_counts = [r.headers.get("x-stainless-retry-count") for r in server.requests]
        assert retry_counts == [str(i) for i in range(expected_calls)]
