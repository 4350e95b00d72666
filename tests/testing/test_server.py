"""Tests for promptops.testing.server, driving it through the REAL litellm code path.

What litellm does with each scripted fault (exception types, retries, Retry-After) is pinned
apart, in tests/contracts/test_litellm_contract.py: those are upstream's behaviour, not ours.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm

from promptops.testing.server import (
    FakeOpenAI,
    Fault,
    Reply,
    Request,
    ServerProcess,
    by_content,
    constant,
    fail_first,
    flaky,
    noisy,
    sequence,
    slow,
)

litellm.suppress_debug_info = True

T = TypeVar("T")
NO_RETRIES: dict[str, Any] = {"num_retries": 0, "max_retries": 0}


def run(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run + close litellm's cached aiohttp sessions bound to that loop."""

    async def wrapper() -> T:
        try:
            return await coro
        finally:
            await litellm.close_litellm_async_clients()

    return asyncio.run(wrapper())


async def chat(server: FakeOpenAI, content: str = "hello there world", **kwargs: Any) -> Any:
    params: dict[str, Any] = {**NO_RETRIES, **kwargs}
    return await litellm.acompletion(
        model="openai/fake-model",
        api_base=server.url,
        api_key="sk-test",
        messages=[{"role": "user", "content": content}],
        **params,
    )


def capture(server: FakeOpenAI, **kwargs: Any) -> BaseException:
    async def go() -> BaseException:
        try:
            await chat(server, **kwargs)
        except Exception as exc:
            return exc
        raise AssertionError("expected an exception")

    return run(go())


def make_request(text: str, index: int = 0) -> Request:
    messages = [{"role": "user", "content": text}]
    return Request(
        index=index,
        kind="chat",
        method="POST",
        path="/v1/chat/completions",
        headers={},
        body={"model": "m", "messages": messages},
        model="m",
        messages=messages,
    )


def http_get(url: str) -> tuple[int, dict[str, Any]]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, json.loads(resp.read())


# --------------------------------------------------------------------------- #
# Happy path
# --------------------------------------------------------------------------- #


def test_echo_reply_content_usage_and_recording() -> None:
    with FakeOpenAI() as server:
        assert server.url == f"http://127.0.0.1:{server.port}/v1"
        resp = run(chat(server, "hello there world"))
        assert resp.choices[0].message.content == "hello there world"
        assert resp.choices[0].finish_reason == "stop"
        assert resp.usage.prompt_tokens == 3
        assert resp.usage.completion_tokens == 3
        assert resp.usage.total_tokens == 6
        assert resp.id == "chatcmpl-fake-0"
        assert (
            resp._hidden_params["additional_headers"]["llm_provider-x-request-id"] == "req_fake_0"
        )

        [req] = server.requests
        assert req.index == 0 and req.kind == "chat"
        assert req.model == "fake-model"
        assert req.text == "hello there world"
        assert req.headers["authorization"] == "Bearer sk-test"
        assert req.headers["x-stainless-retry-count"] == "0"
        assert req.body["messages"] == [{"role": "user", "content": "hello there world"}]
        assert server.counts == {"chat": 1}
        assert server.outcomes == {"ok": 1}


def test_system_message_and_content_parts_use_last_user_text() -> None:
    with FakeOpenAI() as server:

        async def go() -> Any:
            return await litellm.acompletion(
                model="openai/fake-model",
                api_base=server.url,
                api_key="sk-test",
                messages=[
                    {"role": "system", "content": "be terse"},
                    {"role": "user", "content": [{"type": "text", "text": "part one"}]},
                ],
                **NO_RETRIES,
            )

        resp = run(go())
        assert resp.choices[0].message.content == "part one"
        assert resp.usage.prompt_tokens == 4


def test_text_completion_endpoint() -> None:
    with FakeOpenAI() as server:

        async def go() -> Any:
            return await litellm.atext_completion(
                model="text-completion-openai/fake-model",
                api_base=server.url,
                api_key="sk-test",
                prompt="say hi there",
                **NO_RETRIES,
            )

        resp = run(go())
        assert resp.choices[0].text == "say hi there"
        assert resp.usage.total_tokens == 6
        assert server.requests[0].kind == "completion"
        assert server.requests[0].path == "/v1/completions"


def test_streaming_chat_with_usage() -> None:
    with FakeOpenAI() as server:

        async def go() -> tuple[str, Any]:
            stream = await chat(
                server, "a b  c d", stream=True, stream_options={"include_usage": True}
            )
            parts: list[str] = []
            usage = None
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    parts.append(chunk.choices[0].delta.content)
                if getattr(chunk, "usage", None):
                    usage = chunk.usage
            return "".join(parts), usage

        text, usage = run(go())
        assert text == "a b  c d"
        assert usage is not None and usage.completion_tokens == 4


def test_chunk_delay_spaces_the_streamed_chunks() -> None:
    """Default: every chunk at once; chunk_delay=0.02: content chunks about 20 ms apart."""

    def stream_once(server: FakeOpenAI) -> str:
        async def go() -> str:
            stream = await chat(server, "a b c d", stream=True)
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

        return run(go())

    with FakeOpenAI() as server:
        assert stream_once(server) == "a b c d"
        (times,) = server.stream_times.values()
        assert len(times) == 4 and times[-1] - times[0] < 0.015
    with FakeOpenAI(chunk_delay=0.02) as server:
        assert stream_once(server) == "a b c d"
        (times,) = server.stream_times.values()
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert len(times) == 4 and all(g >= 0.018 for g in gaps)
        server.reset()
        assert server.stream_times == {}
    with pytest.raises(ValueError, match="chunk_delay"):
        FakeOpenAI(chunk_delay=-1)


def test_models_health_and_404() -> None:
    with FakeOpenAI(models=("a", "b")) as server:
        status, body = http_get(server.url + "/models")
        assert status == 200 and [m["id"] for m in body["data"]] == ["a", "b"]
        assert http_get(server.base_url + "/health") == (200, {"status": "ok"})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(server.url + "/nope", timeout=5)
        assert info.value.code == 404
        assert server.counts == {"models": 1, "health": 1, "not_found": 1}
        assert server.calls == 0  # only model calls are recorded in .requests


def test_concurrent_calls_get_unique_indices() -> None:
    with FakeOpenAI(latency=0.01) as server:

        async def go() -> list[str]:
            results = await asyncio.gather(*(chat(server, f"case {i}") for i in range(40)))
            return [r.choices[0].message.content for r in results]

        assert run(go()) == [f"case {i}" for i in range(40)]
        assert sorted(r.index for r in server.requests) == list(range(40))
        server.reset()
        assert server.calls == 0 and server.counts == {}


def test_reply_latency_override() -> None:
    with FakeOpenAI(constant(Reply("late", latency=0.3))) as server:
        start = time.perf_counter()
        resp = run(chat(server))
        assert time.perf_counter() - start >= 0.3
        assert resp.choices[0].message.content == "late"


def test_responder_exception_becomes_500_and_is_recorded() -> None:
    def broken(request: Request) -> str:
        raise ValueError("boom")

    with FakeOpenAI(broken) as server:
        exc = capture(server)
        assert isinstance(exc, litellm.InternalServerError)
        assert "boom" in str(exc)
        assert [type(e) for e in server.errors] == [ValueError]
        assert server.outcomes == {"responder_error": 1}


# --------------------------------------------------------------------------- #
# Scripted faults through litellm
# --------------------------------------------------------------------------- #


def test_own_retry_loop_with_fail_first() -> None:
    responder = fail_first(2, Fault.rate_limit(retry_after=0.01))
    cases = [f"case {i}" for i in range(5)]

    async def with_retries(server: FakeOpenAI, text: str) -> tuple[str, int]:
        for attempt in range(5):
            try:
                resp = await chat(server, text)
                return resp.choices[0].message.content, attempt
            except litellm.RateLimitError as exc:
                headers = exc.litellm_response_headers
                assert headers is not None
                await asyncio.sleep(float(headers["retry-after"]))
        raise AssertionError("gave up")

    with FakeOpenAI(responder) as server:

        async def go() -> list[tuple[str, int]]:
            return list(await asyncio.gather(*(with_retries(server, c) for c in cases)))

        assert run(go()) == [(c, 2) for c in cases]
        assert server.calls == 15
        assert server.outcomes == {"rate_limit": 10, "ok": 5}
        assert set(responder.attempts.values()) == {3}  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- #
# Lifecycle
# --------------------------------------------------------------------------- #


def test_hang_is_aborted_when_server_stops() -> None:
    server = FakeOpenAI(constant(Fault.hang(30))).start()
    sock = socket.create_connection(("127.0.0.1", server.port))
    body = b'{"model":"m","messages":[{"role":"user","content":"x"}]}'
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    assert server.wait_for_calls(1)
    start = time.perf_counter()
    server.stop()
    assert time.perf_counter() - start < 2
    sock.settimeout(2)
    assert sock.recv(100) == b""  # closed without a response
    sock.close()
    assert not server.running


def test_restart_and_idempotent_stop() -> None:
    server = FakeOpenAI()
    with server:
        first = server.port
        assert http_get(server.base_url + "/health")[0] == 200
    server.stop()
    with server:
        assert http_get(server.base_url + "/health")[0] == 200
    assert isinstance(first, int)


def test_runtime_responder_swap() -> None:
    with FakeOpenAI() as server:
        assert run(chat(server, "a")).choices[0].message.content == "a"
        server.responder = constant("swapped")
        assert run(chat(server, "a")).choices[0].message.content == "swapped"


def test_cli_process_prints_url_and_serves() -> None:
    with ServerProcess(latency=0.0, args=["--fail-first", "1", "--fault", "server_error"]) as proc:
        assert proc.url.startswith("http://127.0.0.1:") and proc.url.endswith("/v1")
        assert http_get(proc.url.removesuffix("/v1") + "/health") == (200, {"status": "ok"})

        async def go() -> tuple[type[BaseException] | None, str]:
            kwargs = {**NO_RETRIES, "api_base": proc.url, "api_key": "sk-test"}
            messages = [{"role": "user", "content": "ping"}]
            first: type[BaseException] | None = None
            try:
                await litellm.acompletion(model="openai/m", messages=messages, **kwargs)
            except litellm.InternalServerError as exc:
                first = type(exc)
            resp = await litellm.acompletion(model="openai/m", messages=messages, **kwargs)
            return first, resp.choices[0].message.content

        assert run(go()) == (litellm.InternalServerError, "ping")
        assert proc.proc is not None
        pid_proc = proc.proc
    assert pid_proc.poll() is not None


# --------------------------------------------------------------------------- #
# Responder helpers (unit level)
# --------------------------------------------------------------------------- #


def test_fail_first_is_per_prompt() -> None:
    fault = Fault.server_error(503)
    responder = fail_first(1, fault)
    assert responder(make_request("a")) is fault
    assert responder(make_request("b")) is fault
    assert responder(make_request("a")) == Reply("a")
    assert responder(make_request("b")) == Reply("b")


def test_sequence_then_default() -> None:
    responder = sequence("one", Fault.drop())
    assert responder(make_request("x")) == "one"
    assert responder(make_request("x")) == Fault.drop()
    assert responder(make_request("x")) == Reply("x")


def test_by_content_mapping_substring_and_function() -> None:
    exact = by_content({"2+2?": "4"}, default=constant("?"))
    assert exact(make_request("2+2?")) == "4"
    assert exact(make_request("what is 2+2?")) == "?"
    sub = by_content({"capital": "Paris"}, substring=True)
    assert sub(make_request("the capital of France")) == "Paris"
    assert sub(make_request("other")) == Reply("other")
    fn = by_content(lambda text: text.upper() if text.startswith("x") else None)
    assert fn(make_request("xy")) == "XY"
    assert fn(make_request("ab")) == Reply("ab")


def _answers(responder: Callable[[Request], Any], prompts: list[str]) -> list[str]:
    out: list[str] = []
    for p in prompts:
        outcome = responder(make_request(p))
        assert isinstance(outcome, Reply)
        out.append(outcome.text)
    return out


def test_noisy_is_seeded_order_independent_and_calibrated() -> None:
    prompts = [f"q{i}" for i in range(4000)]
    a = _answers(noisy(0.7, correct="right", wrong="wrong", seed=1), prompts)
    b = _answers(noisy(0.7, correct="right", wrong="wrong", seed=1), list(reversed(prompts)))
    c = _answers(noisy(0.7, correct="right", wrong="wrong", seed=2), prompts)
    assert a == list(reversed(b))  # arrival order does not matter
    assert a != c  # seeds give independent streams
    rate = a.count("right") / len(a)
    assert abs(rate - 0.7) < 0.03
    # repeated calls of the same prompt are fresh trials
    again = noisy(0.5, seed=3)
    assert len(set(_answers(again, ["same"] * 50))) == 2
    # default correct answer is the echo; per-request probability
    echoing = noisy(lambda r: 1.0 if r.text == "sure" else 0.0, wrong="nope")
    assert _answers(echoing, ["sure", "other"]) == ["sure", "nope"]


def test_flaky_and_slow() -> None:
    fault = Fault.server_error()
    responder = flaky(0.25, fault, seed=7)
    outcomes = [responder(make_request(f"q{i}")) for i in range(2000)]
    assert abs(sum(o is fault for o in outcomes) / 2000 - 0.25) < 0.03
    delayed = slow(0.5, constant(Fault.rate_limit(retry_after=1)))(make_request("x"))
    assert isinstance(delayed, Fault) and delayed.latency == 0.5 and delayed.status == 429
    delayed_reply = slow(0.5)(make_request("x"))
    assert delayed_reply == Reply("x", latency=0.5)


def test_noisy_through_litellm() -> None:
    with FakeOpenAI(noisy(0.5, correct="yes", wrong="no", seed=0)) as server:

        async def go() -> list[str]:
            results = await asyncio.gather(*(chat(server, f"q{i}") for i in range(60)))
            return [r.choices[0].message.content for r in results]

        answers = run(go())
    assert set(answers) == {"yes", "no"}
    expected = _answers(noisy(0.5, correct="yes", wrong="no", seed=0), [f"q{i}" for i in range(60)])
    assert answers == expected


# --------------------------------------------------------------------------- #
# Throughput smoke test
# --------------------------------------------------------------------------- #


@pytest.mark.slow
def test_throughput_smoke() -> None:
    """400 litellm calls at concurrency 16, 20 ms latency (ideal 0.5 s).

    litellm costs ~3-4 ms CPU per call on the client side, so the bound is loose.
    """
    n, concurrency = 400, 16
    with FakeOpenAI(latency=0.02) as server:

        async def go() -> float:
            sem = asyncio.Semaphore(concurrency)

            async def one(i: int) -> None:
                async with sem:
                    resp = await chat(server, f"case {i}", timeout=30)
                    assert resp.choices[0].message.content == f"case {i}"

            start = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(n)))
            return time.perf_counter() - start

        elapsed = run(go())
        assert server.calls == n
        assert elapsed < 20
