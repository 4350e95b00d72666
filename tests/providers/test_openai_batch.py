"""providers/openai_batch.py: the input lines, the result lines, and errors over real HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from promptops.providers.base import CallError, Completion
from promptops.providers.openai_batch import BatchClient, parse_result, request_line
from promptops.providers.prices import batch_cost
from promptops.testing.server import FakeOpenAI, Fault

MODEL = "openai/gpt-4o-mini-2024-07-18"


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as s:
        yield s


def test_an_input_line_carries_the_body_the_native_path_would_post() -> None:
    line = json.loads(
        request_line(
            "u-1",
            "openai/o3-mini",
            [{"role": "user", "content": "hi"}],
            {"max_tokens": 9, "temperature": 0, "seed": None},
        )
    )
    assert line == {
        "custom_id": "u-1",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": "o3-mini",
            "messages": [{"role": "user", "content": "hi"}],
            "max_completion_tokens": 9,
        },
    }


def test_result_lines_become_answers_errors_or_nothing() -> None:
    body = {
        "choices": [{"message": {"content": "yes"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 2},
    }
    ok = parse_result(
        {"custom_id": "a", "response": {"status_code": 200, "body": body}}, MODEL, None
    )
    assert isinstance(ok, Completion) and ok.text == "yes" and ok.latency_ms == 0.0
    assert ok.cost == pytest.approx(batch_cost(MODEL, 10, 2))
    failed = parse_result(
        {
            "custom_id": "b",
            "response": {"status_code": 429, "body": {"error": {"message": "slow down"}}},
        },
        MODEL,
        None,
    )
    assert (
        isinstance(failed, CallError) and failed.kind == "rate_limit" and "slow down" in str(failed)
    )
    expired = {
        "custom_id": "c",
        "response": None,
        "error": {"code": "batch_expired", "message": "x"},
    }
    assert parse_result(expired, MODEL, None) is None
    malformed = parse_result(
        {"response": {"status_code": 200, "body": {"choices": []}}}, MODEL, None
    )
    assert isinstance(malformed, CallError) and malformed.kind == "malformed"


def test_a_rejected_key_is_an_auth_error_with_the_fix(
    server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    client = BatchClient(MODEL, server.url)
    with pytest.raises(CallError) as e:
        asyncio.run(client.upload(b"{}\n", "x.jsonl"))
    assert e.value.kind == "auth" and "OPENAI_API_KEY" in (e.value.hint or "")


def test_upload_create_retrieve_and_download(
    server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789")
    server.batches.delay = 0.01

    async def go() -> tuple[dict, bytes]:
        client = BatchClient(MODEL, server.url)
        try:
            fid = await client.upload(
                request_line("u-1", MODEL, [{"role": "user", "content": "hey"}], {}), "in.jsonl"
            )
            batch = await client.create(fid, {"promptops_run": "r1"})
            while (info := await client.retrieve(batch["id"]))["status"] != "completed":
                await asyncio.sleep(0.01)
            listed = await client.list()
            assert [b["id"] for b in listed] == [batch["id"]]
            return info, await client.content(info["output_file_id"])
        finally:
            await client.prov.aclose()

    info, out = asyncio.run(go())
    assert info["metadata"] == {"promptops_run": "r1"}
    line = json.loads(out)
    assert line["custom_id"] == "u-1"
    assert line["response"]["body"]["choices"][0]["message"]["content"] == "hey"
    assert server.batches.lines[0].headers == {}  # batch lines carry no request headers


def test_a_missing_batch_is_not_found(server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789")
    server.responder = lambda r: Fault.server_error(500)  # (unused: no model call is made)
    with pytest.raises(CallError) as e:
        asyncio.run(BatchClient(MODEL, server.url).retrieve("batch-nope"))
    assert e.value.kind == "not_found"
