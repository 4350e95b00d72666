"""Telemetry: one OpenTelemetry span per call with GenAI attribute names, the JSONL call record,
content only when asked (PII masked), and feedback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from promptops import Registry
from promptops.errors import UsageError
from promptops.runtime.records import CallRecord, FeedbackRecord

otel_trace = pytest.importorskip("opentelemetry.trace")
sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

_EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def _provider() -> None:
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    otel_trace.set_tracer_provider(provider)  # once per process: OpenTelemetry's rule


@pytest.fixture
def spans(project: Path) -> Iterator[InMemorySpanExporter]:
    _EXPORTER.clear()
    yield _EXPORTER


def records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_one_span_per_call_with_genai_and_promptops_attributes(
    spans: InMemorySpanExporter, project: Path
) -> None:
    reg = Registry.load(".", otel=True, record_to=project / "calls.jsonl")
    reply = reg.get("summarize", "prod").complete(document="The cat sat.")
    (span,) = spans.get_finished_spans()
    a = dict(span.attributes or {})
    assert span.name == "chat echo/echo" and span.kind == otel_trace.SpanKind.CLIENT
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.request.model"] == "echo/echo"
    assert a["gen_ai.response.model"] == "echo/echo"
    assert a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] > 0
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.request.temperature"] == 0.0 and a["gen_ai.request.max_tokens"] == 200
    assert a["promptops.prompt.name"] == "summarize" and a["promptops.prompt.version"] == "1.0.0"
    assert a["promptops.prompt.digest"].startswith("sha256:")
    assert (a["promptops.env"], a["promptops.arm"]) == ("prod", "stable")
    # the span's trace id is the reply's and the record's
    assert format(span.context.trace_id, "032x") == reply.trace_id == a["promptops.trace_id"]
    assert "gen_ai.input.messages" not in a  # no content unless asked
    (rec,) = records(project / "calls.jsonl")
    parsed = CallRecord.model_validate(rec)
    assert parsed.trace_id == reply.trace_id and parsed.version == "1.0.0"
    assert parsed.output_chars == len(reply.text) and parsed.input is None


def test_a_span_under_the_applications_span_shares_its_trace(
    spans: InMemorySpanExporter,
) -> None:
    reg = Registry.load(".", otel=True)
    tracer = otel_trace.get_tracer("app")
    with tracer.start_as_current_span("handle request") as parent:
        reply = reg.get("summarize", "prod").complete(document="x")
    child = next(s for s in spans.get_finished_spans() if s.name.startswith("chat"))
    assert child.parent is not None and child.parent.span_id == parent.get_span_context().span_id
    assert reply.trace_id == format(parent.get_span_context().trace_id, "032x")


def test_content_is_captured_only_when_asked_and_pii_is_masked(
    spans: InMemorySpanExporter, project: Path
) -> None:
    reg = Registry.load(".", otel=True, record_to=project / "c.jsonl", capture_content=True)
    reg.get("summarize", "prod").complete(document="Mail jane.doe@example.com today.")
    a = dict(spans.get_finished_spans()[0].attributes or {})
    assert "[EMAIL] today." in a["gen_ai.input.messages"]
    assert "jane.doe" not in a["gen_ai.input.messages"] + a["gen_ai.output.messages"]
    (rec,) = records(project / "c.jsonl")
    assert "jane.doe" not in json.dumps(rec) and "[EMAIL]" in str(rec["output"])


def test_a_failed_call_ends_its_span_with_an_error(
    spans: InMemorySpanExporter, project: Path
) -> None:
    from promptops.errors import ProviderError

    reg = Registry.load(".", otel=True, record_to=project / "c.jsonl", retries=0)
    p = reg.get("summarize", "prod")
    reg.api_base = "http://127.0.0.1:9"
    broken = p.prompt.spec.model.model_copy(update={"id": "openai/gpt-4o-mini-2024-07-18"})
    p.prompt.spec = p.prompt.spec.model_copy(update={"model": broken})
    with pytest.raises(ProviderError):
        p.complete(document="x")
    (span,) = spans.get_finished_spans()
    assert span.status.status_code == otel_trace.StatusCode.ERROR
    assert "error.type" in (span.attributes or {})
    (rec,) = records(project / "c.jsonl")
    assert rec["error_type"] and "output_chars" not in rec


def test_feedback_joins_the_call_by_trace_id(spans: InMemorySpanExporter, project: Path) -> None:
    reg = Registry.load(".", otel=True, record_to=project / "c.jsonl")
    reply = reg.get("summarize", "prod").complete(document="x")
    reg.feedback(reply.trace_id, 0.0, "wrong summary")
    call, fb = records(project / "c.jsonl")
    assert FeedbackRecord.model_validate(fb).trace_id == call["trace_id"] == reply.trace_id
    assert fb["score"] == 0.0 and fb["comment"] == "wrong summary"
    names = [s.name for s in spans.get_finished_spans()]
    assert names == ["chat echo/echo", "promptops feedback"]
    with pytest.raises(UsageError, match="from 0 \\(bad\\) to 1"):
        reg.feedback(reply.trace_id, 5)


def otlp_json(finished: object) -> dict[str, object]:
    """Spans as one OTLP/JSON export line, the encoding the Collector's file exporter writes
    (ints as strings, arrays as arrayValue)."""

    def value(v: object) -> dict[str, object]:
        if isinstance(v, bool):
            return {"boolValue": v}
        if isinstance(v, int):
            return {"intValue": str(v)}
        if isinstance(v, float):
            return {"doubleValue": v}
        if isinstance(v, tuple | list):
            return {"arrayValue": {"values": [value(x) for x in v]}}
        return {"stringValue": str(v)}

    spans = [
        {
            "traceId": format(s.context.trace_id, "032x"),
            "spanId": format(s.context.span_id, "016x"),
            "name": s.name,
            "startTimeUnixNano": str(s.start_time),
            "endTimeUnixNano": str(s.end_time),
            "attributes": [{"key": k, "value": value(v)} for k, v in (s.attributes or {}).items()],
        }
        for s in finished  # type: ignore[attr-defined]
    ]
    return {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}


def test_the_runtimes_spans_exported_as_otlp_json_are_read_by_canary_and_capture(
    spans: InMemorySpanExporter, project: Path
) -> None:
    """What a collector exports is what canary analyze and capture read: the same calls as the
    runtime's own JSONL log, feedback joined by trace id, captured inputs found."""
    from promptops.analysis.canary import read_records
    from promptops.quality.callrecords import read_records as read_calls

    reg = Registry.load(".", otel=True, record_to=project / "calls.jsonl", capture_content=True)
    p = reg.get("summarize", "prod")
    replies = [p.complete(document=f"Item {i} happened.") for i in range(3)]
    reg.feedback(replies[1].trace_id, 0.0, "wrong")
    otlp = project / "otlp.jsonl"
    otlp.write_text(json.dumps(otlp_json(spans.get_finished_spans())) + "\n")
    from_spans, feedback = read_records([otlp])
    from_log, feedback_log = read_records([project / "calls.jsonl"])
    keys = ("trace_id", "prompt", "version", "digest", "env", "arm", "model", "error_type")
    assert [[getattr(c, k) for k in keys] for c in from_spans] == [
        [getattr(c, k) for k in keys] for c in from_log
    ]
    assert [c.latency_ms for c in from_spans] == [c.latency_ms for c in from_log]
    assert all(c.time.endswith("Z") for c in from_spans)
    assert feedback == feedback_log == {replies[1].trace_id: [0.0]}
    captured = list(read_calls([otlp]))
    assert [c.vars for c in captured] == [{"document": f"Item {i} happened."} for i in range(3)]
    assert [c.feedback for c in captured] == [None, 0.0, None]
