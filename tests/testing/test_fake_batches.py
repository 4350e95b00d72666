"""The fake server's /v1/files and /v1/batches, driven by the official openai SDK (so the shapes
are the ones a real client parses)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from promptops.testing.server import FakeOpenAI, Fault, Reply, Request


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as s:
        s.batches.delay = 0.02
        yield s


def client(server: FakeOpenAI) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url, api_key="sk-test", max_retries=0)


def line(custom_id: str, text: str) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "fake-model", "messages": [{"role": "user", "content": text}]},
    }


def upload(c: openai.OpenAI, lines: list[Any]) -> str:
    data = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
    f = c.files.create(file=("in.jsonl", data.encode()), purpose="batch")
    assert f.purpose == "batch" and f.bytes == len(data.encode())
    return f.id


def wait(c: openai.OpenAI, batch_id: str, seen: list[str] | None = None) -> Any:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        b = c.batches.retrieve(batch_id)
        if seen is not None and (not seen or seen[-1] != b.status):
            seen.append(b.status)
        if b.status in ("completed", "failed", "expired", "cancelled"):
            return b
        time.sleep(0.005)
    raise AssertionError("batch did not finish")


def read_lines(c: openai.OpenAI, file_id: str | None) -> dict[str, dict[str, Any]]:
    if file_id is None:
        return {}
    text = c.files.content(file_id).text
    return {(o := json.loads(x))["custom_id"]: o for x in text.splitlines()}


def test_a_batch_goes_through_every_status_and_answers_each_line(server: FakeOpenAI) -> None:
    c = client(server)
    fid = upload(c, [line("a", "hello there"), line("b", "second line")])
    b = c.batches.create(
        input_file_id=fid, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert b.status == "validating"
    seen: list[str] = []
    b = wait(c, b.id, seen)
    assert seen == ["validating", "in_progress", "finalizing", "completed"]
    assert (b.request_counts.total, b.request_counts.completed, b.request_counts.failed) == (
        2,
        2,
        0,
    )
    assert b.error_file_id is None and b.completed_at is not None
    out = read_lines(c, b.output_file_id)
    assert set(out) == {"a", "b"}
    body = out["a"]["response"]["body"]
    assert out["a"]["response"]["status_code"] == 200 and out["a"]["error"] is None
    assert body["choices"][0]["message"]["content"] == "hello there"
    assert body["usage"]["prompt_tokens"] == 2
    assert server.calls == 0  # batch lines are not HTTP model calls
    assert [r.text for r in server.batches.lines] == ["hello there", "second line"]
    assert server.batches.ops["batch_create"] == 1
    assert [x.id for x in c.batches.list().data] == [b.id]


def test_a_line_the_responder_fails_goes_to_the_error_file(server: FakeOpenAI) -> None:
    def responder(request: Request) -> Any:
        if "bad" in request.text:
            return Fault.server_error(503, "overloaded")
        if "boom" in request.text:
            raise RuntimeError("responder bug")
        return Reply("ok")

    server.responder = responder
    c = client(server)
    fid = upload(c, [line("1", "fine"), line("2", "bad one"), line("3", "boom")])
    b = wait(
        c,
        c.batches.create(
            input_file_id=fid, endpoint="/v1/chat/completions", completion_window="24h"
        ).id,
    )
    assert b.status == "completed"
    assert (b.request_counts.completed, b.request_counts.failed) == (1, 2)
    errors = read_lines(c, b.error_file_id)
    assert set(errors) == {"2", "3"}
    assert errors["2"]["response"]["status_code"] == 503
    assert errors["2"]["response"]["body"]["error"]["message"] == "overloaded"
    assert errors["3"]["response"]["status_code"] == 500
    assert set(read_lines(c, b.output_file_id)) == {"1"}


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        ("{not json", "invalid_json_line"),
        (json.dumps(line("a", "dup")), "duplicate_custom_id"),
        (json.dumps({**line("z", "x"), "url": "/v1/embeddings"}), "invalid_url"),
    ],
)
def test_a_malformed_input_file_fails_the_batch_naming_the_line(
    server: FakeOpenAI, bad: str, code: str
) -> None:
    c = client(server)
    fid = upload(c, [line("a", "one"), bad])
    b = wait(
        c,
        c.batches.create(
            input_file_id=fid, endpoint="/v1/chat/completions", completion_window="24h"
        ).id,
    )
    assert b.status == "failed" and b.failed_at is not None
    assert b.errors is not None and b.errors.data
    assert (b.errors.data[0].code, b.errors.data[0].line) == (code, 2)
    assert server.batches.lines == []


def test_an_expired_batch_keeps_its_answers_and_marks_the_rest_batch_expired(
    server: FakeOpenAI,
) -> None:
    server.batches.expire_after = 2
    c = client(server)
    fid = upload(c, [line(str(i), f"case {i}") for i in range(5)])
    b = wait(
        c,
        c.batches.create(
            input_file_id=fid, endpoint="/v1/chat/completions", completion_window="24h"
        ).id,
    )
    assert b.status == "expired" and b.expired_at is not None
    assert set(read_lines(c, b.output_file_id)) == {"0", "1"}
    errors = read_lines(c, b.error_file_id)
    assert set(errors) == {"2", "3", "4"}
    assert errors["4"]["error"]["code"] == "batch_expired" and errors["4"]["response"] is None


def test_cancel_stops_the_batch_between_lines(server: FakeOpenAI) -> None:
    server.batches.line_delay = 0.05
    c = client(server)
    fid = upload(c, [line(str(i), f"case {i}") for i in range(40)])
    b = c.batches.create(
        input_file_id=fid, endpoint="/v1/chat/completions", completion_window="24h"
    )
    while c.batches.retrieve(b.id).request_counts.completed < 2:  # type: ignore[union-attr]
        time.sleep(0.01)
    assert c.batches.cancel(b.id).status == "cancelling"
    b = wait(c, b.id)
    assert b.status == "cancelled" and b.cancelled_at is not None
    done = read_lines(c, b.output_file_id)
    assert 2 <= len(done) < 40
    with pytest.raises(openai.ConflictError):
        c.batches.cancel(b.id)


def test_create_refuses_an_unknown_file_and_another_endpoint(server: FakeOpenAI) -> None:
    c = client(server)
    with pytest.raises(openai.NotFoundError):
        c.batches.create(
            input_file_id="file-nope", endpoint="/v1/chat/completions", completion_window="24h"
        )
    fid = upload(c, [line("a", "x")])
    with pytest.raises(openai.BadRequestError):
        c.batches.create(input_file_id=fid, endpoint="/v1/embeddings", completion_window="24h")
    with pytest.raises(openai.BadRequestError):
        c.files.create(file=("x.jsonl", b"{}\n"), purpose="fine-tune")
    with pytest.raises(openai.NotFoundError):
        c.batches.retrieve("batch-nope")
    assert c.files.retrieve(fid).filename == "in.jsonl"
