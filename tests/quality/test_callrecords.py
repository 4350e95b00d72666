"""The one reader of production call records: every shape a record arrives in reads the same."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptops.errors import SpecError
from promptops.quality.callrecords import parse_record, read_records

FLAT = {
    "promptops.prompt.name": "summarize",
    "promptops.prompt.version": "1.0.0",
    "promptops.trace_id": "ab" * 16,
    "promptops.env": "prod",
    "gen_ai.request.model": "echo/echo",
    "promptops.latency_ms": 12.5,
    "promptops.vars": {"document": "Hello"},
    "promptops.output": "Hi",
}


def test_flat_attributes() -> None:
    r = parse_record(FLAT, "calls.jsonl", 3)
    assert r is not None
    assert (r.prompt, r.version, r.trace_id) == ("summarize", "1.0.0", "ab" * 16)
    assert r.vars == {"document": "Hello"} and r.output == "Hi" and r.error is None
    names = r.names()
    assert names["env"] == "prod" and names["latency_ms"] == 12.5 and names["model"] == "echo/echo"


def test_log_line_with_nested_extra() -> None:
    line = {
        "message": "summarize@1.0.0 failed",
        "promptops": {
            "prompt": {"name": "summarize", "version": "1.0.0"},
            "trace_id": "t1",
            "vars": {"document": "x"},
            "error": "timeout",
            "feedback": {"score": -1, "comment": "wrong"},
        },
    }
    r = parse_record(line, "f", 1)
    assert r is not None and r.prompt == "summarize" and r.trace_id == "t1"
    assert r.error == "timeout" and r.feedback == -1.0 and r.feedback_comment == "wrong"


def test_exported_span_with_json_text_attributes() -> None:
    span = {
        "name": "chat",
        "context": {"trace_id": "0x" + "cd" * 16},
        "attributes": {
            "promptops.prompt.name": "summarize",
            "promptops.vars": json.dumps({"document": "y"}),
            "gen_ai.completion": json.dumps([{"role": "assistant", "content": "done"}]),
            "promptops.guards": json.dumps([{"type": "no-pii", "passed": False}]),
        },
    }
    r = parse_record(span, "f", 1)
    assert r is not None and r.trace_id == "cd" * 16
    assert r.vars == {"document": "y"} and r.output == "done"
    assert r.guards == [{"type": "no-pii", "passed": False}]


def test_per_input_attributes_and_records_without_content() -> None:
    r = parse_record(
        {
            "promptops.prompt.name": "s",
            "promptops.vars.document": "z",
            "promptops.vars.max_words": 3,
        },
        "f",
        1,
    )
    assert r is not None and r.vars == {"document": "z", "max_words": 3}
    bare = parse_record({"promptops.prompt.name": "s"}, "f", 1)
    assert bare is not None and bare.vars is None


@pytest.mark.parametrize("data", [[1, 2], "text", {"message": "no prompt"}, {"promptops": 3}])
def test_lines_that_are_not_call_records(data: object) -> None:
    assert parse_record(data, "f", 1) is None


def test_read_records_skips_foreign_lines_and_names_bad_json(tmp_path: Path) -> None:
    good = tmp_path / "calls.jsonl"
    good.write_text(json.dumps(FLAT) + "\n" + json.dumps({"level": "info"}) + "\n\n")
    skipped: list[str] = []
    assert [r.line for r in read_records([good], skipped)] == [1]
    [why] = skipped
    assert why.endswith("calls.jsonl:2: not a call record (no promptops.prompt.name)")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(FLAT) + "\n{oops\n")
    with pytest.raises(SpecError) as e:
        list(read_records([bad]))
    assert "bad.jsonl:2" in e.value.message and "invalid JSON" in e.value.message


def test_otlp_json_export_lines(tmp_path: Path) -> None:
    """The OpenTelemetry Collector's file exporter: one line, several spans, typed values."""

    def attr(key: str, value: dict[str, object]) -> dict[str, object]:
        return {"key": key, "value": value}

    def span(trace: str, doc: str, feedback: float | None) -> dict[str, object]:
        attrs = [
            attr("promptops.prompt.name", {"stringValue": "summarize"}),
            attr("promptops.vars", {"stringValue": json.dumps({"document": doc})}),
            attr("gen_ai.usage.input_tokens", {"intValue": "12"}),
            attr("promptops.cache_hit", {"boolValue": False}),
            attr(
                "gen_ai.response.finish_reasons",
                {"arrayValue": {"values": [{"stringValue": "stop"}]}},
            ),
        ]
        if feedback is not None:
            attrs.append(attr("promptops.feedback.score", {"doubleValue": feedback}))
        return {"traceId": trace, "name": "chat", "attributes": attrs}

    other = {"traceId": "cc" * 16, "name": "db.query", "attributes": []}
    line = {
        "resourceSpans": [
            {
                "resource": {"attributes": []},
                "scopeSpans": [
                    {
                        "scope": {"name": "promptops"},
                        "spans": [span("aa" * 16, "one", -1.0), span("bb" * 16, "two", None)],
                    },
                    {"spans": [other]},
                ],
            }
        ]
    }
    path = tmp_path / "otlp.jsonl"
    path.write_text(
        json.dumps(line)
        + "\n"
        + json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [other]}]}]})
        + "\n"
    )
    skipped: list[str] = []
    records = list(read_records([path], skipped))
    assert [(r.trace_id, r.vars, r.feedback) for r in records] == [
        ("aa" * 16, {"document": "one"}, -1.0),
        ("bb" * 16, {"document": "two"}, None),
    ]
    assert records[0].attrs["gen_ai.usage.input_tokens"] == 12
    assert records[0].attrs["gen_ai.response.finish_reasons"] == ["stop"]
    [why] = skipped
    assert why.endswith("otlp.jsonl:2: not a call record (no promptops.prompt.name)")


def test_feedback_given_apart_is_joined_by_trace_id(tmp_path: Path) -> None:
    calls = tmp_path / "calls.jsonl"
    calls.write_text(
        json.dumps(FLAT) + "\n" + json.dumps({**FLAT, "promptops.trace_id": "other"}) + "\n"
    )
    later = tmp_path / "feedback.jsonl"
    later.write_text(
        json.dumps(
            {
                "promptops.trace_id": "ab" * 16,
                "promptops.feedback.score": -1,
                "promptops.feedback.comment": "wrong",
            }
        )
        + "\n"
    )
    skipped: list[str] = []
    records = list(read_records([calls, later], skipped))
    assert [(r.trace_id, r.feedback, r.feedback_comment) for r in records] == [
        ("ab" * 16, -1.0, "wrong"),
        ("other", None, None),
    ]
    assert skipped == []  # the feedback line is not counted as foreign
