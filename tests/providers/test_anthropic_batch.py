"""providers/anthropic_batch.py: the request params (litellm's own transformation), result
lines as answers, the status in the shared vocabulary, and the client over real HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from promptops.providers import anthropic_batch as ab
from promptops.providers.base import CallError, Completion
from promptops.providers.batches import batch_client
from promptops.providers.prices import batch_cost
from promptops.testing.server import FakeOpenAI, Fault, Reply, Request

MODEL = "anthropic/claude-haiku-4-5-20251001"  # dated, with batch prices in litellm's map
KEY = "sk-ant-test-0123456789"
SYSTEM_USER = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "What is 2+2?"},
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as s:
        s.message_batches.delay = 0.01
        yield s


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.delenv("ANTHROPIC_API_BASE", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)


def test_params_split_out_the_system_prompt_and_keep_max_tokens() -> None:
    body = ab.request_params(MODEL, SYSTEM_USER, {"temperature": 0, "max_tokens": 20})
    assert body == {
        "model": "claude-haiku-4-5-20251001",
        "system": [{"type": "text", "text": "Answer briefly."}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "What is 2+2?"}]}],
        "temperature": 0,
        "max_tokens": 20,
    }


def test_params_without_max_tokens_get_litellms_default_for_the_model() -> None:
    import litellm

    body = ab.request_params(MODEL, SYSTEM_USER, {})
    expected = litellm.AnthropicConfig.get_max_tokens_for_model("claude-haiku-4-5-20251001")
    assert isinstance(body["max_tokens"], int) and body["max_tokens"] == expected > 0


def test_params_carry_tools_in_anthropics_format() -> None:
    body = ab.request_params(
        MODEL, SYSTEM_USER, {"tools": TOOLS, "tool_choice": "required", "max_tokens": 50}
    )
    (tool,) = body["tools"]
    assert tool["name"] == "get_weather" and tool["description"] == "The weather in a city"
    assert tool["input_schema"] == {"type": "object", "properties": {"city": {"type": "string"}}}
    assert body["tool_choice"] == {"type": "any"}
    assert "function" not in tool and "parameters" not in tool


def test_a_request_line_is_custom_id_and_params() -> None:
    line = json.loads(ab.request_line("u-abc_1", MODEL, SYSTEM_USER, {"max_tokens": 5}))
    assert set(line) == {"custom_id", "params"} and line["custom_id"] == "u-abc_1"
    assert line["params"]["max_tokens"] == 5


def _message(**over: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": "4"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 12, "output_tokens": 1},
    }
    msg.update(over)
    return msg


def test_a_succeeded_line_is_a_completion_at_the_batch_price() -> None:
    line = {"custom_id": "u-1", "result": {"type": "succeeded", "message": _message()}}
    comp = ab.parse_result(line, MODEL, None)
    assert isinstance(comp, Completion)
    assert (comp.text, comp.tokens_in, comp.tokens_out, comp.finish_reason) == ("4", 12, 1, "stop")
    assert comp.cost == pytest.approx(12 * 5e-07 + 1 * 2.5e-06)
    assert comp.cost == pytest.approx(batch_cost(MODEL, 12, 1))
    assert comp.model == MODEL and comp.tool_calls is None


def test_a_tool_use_reply_is_tool_calls_and_cache_tokens_count_as_input() -> None:
    msg = _message(
        content=[
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}
        ],
        stop_reason="tool_use",
        usage={"input_tokens": 3, "cache_read_input_tokens": 7, "output_tokens": 4},
    )
    comp = ab.parse_result(
        {"custom_id": "u", "result": {"type": "succeeded", "message": msg}}, MODEL, None
    )
    assert isinstance(comp, Completion)
    assert comp.text == "" and comp.finish_reason == "tool_calls" and comp.tokens_in == 10
    assert comp.tool_calls == [
        {"id": "toolu_1", "name": "get_weather", "arguments": '{"city": "Oslo"}'}
    ]


def test_errored_lines_are_call_errors_and_unrun_ones_nothing() -> None:
    def errored(etype: str) -> dict[str, Any]:
        error = {"type": "error", "error": {"type": etype, "message": "nope"}}
        return {"custom_id": "u", "result": {"type": "errored", "error": error}}

    bad = ab.parse_result(errored("invalid_request_error"), MODEL, None)
    assert isinstance(bad, CallError) and bad.kind == "rejected" and "nope" in str(bad)
    busy = ab.parse_result(errored("overloaded_error"), MODEL, None)
    assert isinstance(busy, CallError) and busy.transient
    auth = ab.parse_result(errored("authentication_error"), MODEL, None)
    assert (
        isinstance(auth, CallError)
        and auth.kind == "auth"
        and "ANTHROPIC_API_KEY" in str(auth.hint)
    )
    for kind in ("canceled", "expired"):
        assert ab.parse_result({"custom_id": "u", "result": {"type": kind}}, MODEL, None) is None
    broken = ab.parse_result(
        {"custom_id": "u", "result": {"type": "succeeded", "message": {}}}, MODEL, None
    )
    assert isinstance(broken, CallError) and broken.kind == "malformed"


@pytest.mark.parametrize(
    ("processing", "counts", "status"),
    [
        ("in_progress", {"processing": 3}, "in_progress"),
        ("canceling", {"processing": 1, "succeeded": 2}, "cancelling"),
        ("ended", {"succeeded": 2, "errored": 1}, "completed"),
        ("ended", {"succeeded": 2, "expired": 1}, "expired"),
        ("ended", {"succeeded": 1, "canceled": 2, "expired": 1}, "cancelled"),
    ],
)
def test_the_batch_status_is_reported_in_the_shared_vocabulary(
    processing: str, counts: dict[str, int], status: str
) -> None:
    info = ab.normalize({"id": "b", "processing_status": processing, "request_counts": counts})
    assert info["status"] == status
    assert info["request_counts"]["total"] == sum(counts.values())
    assert info["request_counts"]["completed"] == counts.get("succeeded", 0)


@pytest.mark.parametrize(
    ("api_base", "env", "base"),
    [
        (None, None, "https://api.anthropic.com"),
        ("http://h:1/v1", None, "http://h:1"),
        ("http://h:1/v1/messages/", None, "http://h:1"),
        (None, "http://e:2/", "http://e:2"),
    ],
)
def test_the_endpoint(
    api_base: str | None, env: str | None, base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if env:
        monkeypatch.setenv("ANTHROPIC_API_BASE", env)
    assert ab.endpoint(api_base) == base


def test_the_client_runs_a_batch_over_http(server: FakeOpenAI) -> None:
    def responder(request: Request) -> Any:
        if request.text == "fail":
            return Fault.server_error(529, "overloaded")
        return Reply(f"re: {request.text}")

    server.responder = responder
    client = batch_client(MODEL, server.url)
    assert isinstance(client, ab.AnthropicBatchClient)

    async def go() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        lines = [
            client.line("u-ok", [{"role": "user", "content": "hello"}], {"max_tokens": 9}),
            client.line("u-bad", [{"role": "user", "content": "fail"}], {"max_tokens": 9}),
        ]
        batch, file_id = await client.submit(lines, "run-1")
        assert file_id is None and batch["status"] == "in_progress"
        while (info := await client.retrieve(batch["id"]))["status"] != "completed":
            await asyncio.sleep(0.01)
        return info, await client.results(info, True)

    info, lines = asyncio.run(go())
    assert info["request_counts"] == {"total": 2, "completed": 1, "failed": 1}
    answers = {line["custom_id"]: client.parse(line) for line in lines}
    ok, bad = answers["u-ok"], answers["u-bad"]
    assert isinstance(ok, Completion) and ok.text == "re: hello" and ok.finish_reason == "stop"
    assert isinstance(bad, CallError) and bad.transient and "overloaded" in str(bad)
    assert set(server.message_batches.api_keys) == {KEY}
    assert server.message_batches.submitted(info["id"])[0]["params"]["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "hello"}]}
    ]
    assert server.calls == 0


def test_a_missing_key_is_an_auth_error_naming_the_variable(
    server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    client = batch_client(MODEL, server.url)
    with pytest.raises(CallError) as e:
        asyncio.run(client.submit([b'{"custom_id":"a","params":{}}'], "r"))
    assert e.value.kind == "auth" and "ANTHROPIC_API_KEY" in str(e.value.hint)
    assert server.message_batches.ops == {}


def test_an_unknown_batch_is_not_found(server: FakeOpenAI) -> None:
    client = batch_client(MODEL, server.url)
    with pytest.raises(CallError) as e:
        asyncio.run(client.retrieve("msgbatch_unknown"))
    assert e.value.kind == "not_found"


def test_params_carry_an_image_as_an_anthropic_image_block() -> None:
    pixel = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{pixel}"}},
            ],
        }
    ]
    body = ab.request_params(MODEL, messages, {"max_tokens": 5})
    blocks = body["messages"][0]["content"]
    image = next(b for b in blocks if b["type"] == "image")
    assert image["source"] == {"type": "base64", "media_type": "image/png", "data": pixel}


def test_results_are_read_only_from_the_batchs_own_endpoint(server: FakeOpenAI) -> None:
    """A results_url on another host is not followed: the key goes only to the api base."""
    client = batch_client(MODEL, server.url)

    async def go() -> list[dict[str, Any]]:
        line = client.line("u-1", [{"role": "user", "content": "hi"}], {"max_tokens": 5})
        batch, _ = await client.submit([line], "r")
        while (info := await client.retrieve(batch["id"]))["status"] != "completed":
            await asyncio.sleep(0.01)
        info["results_url"] = "http://203.0.113.9/steal"
        return await client.results(info, True)

    (line,) = asyncio.run(go())
    assert line["custom_id"] == "u-1" and line["result"]["type"] == "succeeded"
    assert server.message_batches.ops["results"] == 1
