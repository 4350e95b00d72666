"""The fake server's Anthropic /v1/messages/batches, driven over plain HTTP (urllib), so the
shapes checked are the wire's, independent of promptops's client."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from promptops.testing.server import FakeOpenAI, Fault, Reply, Request

HEADERS = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as s:
        s.message_batches.delay = 0.02
        yield s


def call(
    server: FakeOpenAI,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        server.base_url + path,
        data=data,
        method=method,
        headers=HEADERS if headers is None else headers,
    )
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def request(custom_id: str, text: str, **params: Any) -> dict[str, Any]:
    p = {"model": "claude-x", "max_tokens": 10, "messages": [{"role": "user", "content": text}]}
    return {"custom_id": custom_id, "params": {**p, **params}}


def create(server: FakeOpenAI, requests: list[Any]) -> dict[str, Any]:
    status, raw = call(server, "POST", "/v1/messages/batches", {"requests": requests})
    assert status == 200, raw
    return json.loads(raw)  # type: ignore[no-any-return]


def wait(server: FakeOpenAI, batch_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status, raw = call(server, "GET", f"/v1/messages/batches/{batch_id}")
        assert status == 200
        batch = json.loads(raw)
        if batch["processing_status"] == "ended":
            return batch  # type: ignore[no-any-return]
        time.sleep(0.005)
    raise AssertionError("batch did not end")


def results(server: FakeOpenAI, batch: dict[str, Any]) -> dict[str, dict[str, Any]]:
    url = batch["results_url"]
    assert url.startswith(server.base_url)
    status, raw = call(server, "GET", url[len(server.base_url) :])
    assert status == 200
    return {(o := json.loads(x))["custom_id"]: o["result"] for x in raw.splitlines()}


def test_a_batch_answers_each_request_and_ends_with_a_results_url(server: FakeOpenAI) -> None:
    def responder(r: Request) -> Any:
        if r.text == "boom":
            return Fault.server_error(529, "busy")
        if r.text == "tool":
            return Reply(tool_calls=(("get_weather", '{"city": "Oslo"}'),))
        return Reply(f"re: {r.text}")

    server.responder = responder
    batch = create(
        server,
        [
            request("a", "hi", system=[{"type": "text", "text": "be nice"}]),
            request("b", "boom"),
            request("c", "tool"),
            {"custom_id": "d", "params": {"model": "m", "messages": []}},  # no max_tokens
        ],
    )
    assert batch["type"] == "message_batch" and batch["processing_status"] == "in_progress"
    assert batch["request_counts"]["processing"] == 4 and batch["results_url"] is None
    status, raw = call(server, "GET", f"/v1/messages/batches/{batch['id']}/results")
    assert status == 400 and json.loads(raw)["error"]["type"] == "invalid_request_error"
    ended = wait(server, batch["id"])
    assert ended["request_counts"] == {
        "processing": 0,
        "succeeded": 2,
        "errored": 2,
        "canceled": 0,
        "expired": 0,
    }
    res = results(server, ended)
    msg = res["a"]["message"]
    assert res["a"]["type"] == "succeeded" and msg["content"] == [
        {"type": "text", "text": "re: hi"}
    ]
    assert msg["stop_reason"] == "end_turn" and msg["usage"] == {
        "input_tokens": 3,
        "output_tokens": 2,
    }
    assert res["b"] == {
        "type": "errored",
        "error": {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}},
    }
    tool = res["c"]["message"]
    assert tool["stop_reason"] == "tool_use"
    assert tool["content"][0]["name"] == "get_weather" and tool["content"][0]["input"] == {
        "city": "Oslo"
    }
    assert res["d"]["error"]["error"]["message"] == "max_tokens: Field required"
    assert server.message_batches.lines[0].messages[0]["role"] == "system"  # system as a message
    assert server.calls == 0


@pytest.mark.parametrize(
    ("requests", "says"),
    [
        ([request("has space", "x")], "custom_id: must match"),
        ([request("x" * 65, "x")], "custom_id: must match"),
        ([request("a", "x"), request("a", "y")], "'a' is repeated"),
        ([{"custom_id": "a"}], "requests.0.params: Field required"),
        ([], "non-empty list"),
    ],
)
def test_a_malformed_batch_is_rejected_whole(
    server: FakeOpenAI, requests: list[Any], says: str
) -> None:
    status, raw = call(server, "POST", "/v1/messages/batches", {"requests": requests})
    assert status == 400 and says in json.loads(raw)["error"]["message"]
    assert server.message_batches.batches == []


def test_the_key_and_version_headers_are_required(server: FakeOpenAI) -> None:
    status, raw = call(
        server, "GET", "/v1/messages/batches", headers={"anthropic-version": "2023-06-01"}
    )
    assert status == 401 and json.loads(raw)["error"]["type"] == "authentication_error"
    status, _ = call(server, "GET", "/v1/messages/batches", headers={"x-api-key": "k"})
    assert status == 400


def test_expire_after_expires_the_rest(server: FakeOpenAI) -> None:
    server.message_batches.expire_after = 1
    batch = wait(
        server, create(server, [request("a", "1"), request("b", "2"), request("c", "3")])["id"]
    )
    assert batch["request_counts"]["succeeded"] == 1 and batch["request_counts"]["expired"] == 2
    assert [r["type"] for r in results(server, batch).values()] == [
        "succeeded",
        "expired",
        "expired",
    ]


def test_cancel_stops_between_requests_and_lists_newest_first(server: FakeOpenAI) -> None:
    server.message_batches.line_delay = 0.05
    first = create(server, [request("a", "1")])
    batch = create(server, [request(f"r{i}", str(i)) for i in range(20)])
    while not any(r.text == "0" for r in server.message_batches.lines):
        time.sleep(0.005)
    status, raw = call(server, "POST", f"/v1/messages/batches/{batch['id']}/cancel")
    assert status == 200 and json.loads(raw)["processing_status"] == "canceling"
    ended = wait(server, batch["id"])
    counts = ended["request_counts"]
    assert counts["canceled"] >= 1 and counts["succeeded"] + counts["canceled"] == 20
    assert ended["cancel_initiated_at"] is not None
    status, raw = call(server, "POST", f"/v1/messages/batches/{batch['id']}/cancel")
    assert status == 400  # ended
    status, raw = call(server, "GET", "/v1/messages/batches")
    assert [b["id"] for b in json.loads(raw)["data"]] == [batch["id"], first["id"]]
    status, _ = call(server, "GET", "/v1/messages/batches/msgbatch_nope")
    assert status == 404
