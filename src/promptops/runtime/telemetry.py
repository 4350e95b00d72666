"""Telemetry of runtime calls: one OpenTelemetry span per call (optional ``otel`` extra) and one
:class:`~promptops.runtime.records.CallRecord` per call in a JSONL log.

Span names and attributes follow the OpenTelemetry GenAI semantic conventions (``chat
{model}``, ``gen_ai.request.model``, ``gen_ai.usage.input_tokens``, ...) plus ``promptops.*``
attributes (prompt name, version, digest, env, arm, trace id, guard triggers). Content
(rendered messages, the answer) is recorded only with ``capture_content=True``, and then with
personal data masked by the ``no-pii`` detectors unless ``mask_pii=False``. Nothing here
raises into the application: a telemetry failure is logged once and the call goes on.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .records import CallRecord, FeedbackRecord

log = logging.getLogger("promptops.runtime")
TRACER = "promptops"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def mask_pii(text: str) -> str:
    from ..assertions.pii import find_pii

    found = sorted(find_pii(text), key=lambda f: f.start)
    out, at = [], 0
    for f in found:
        if f.start < at:
            continue
        out += [text[at : f.start], f"[{f.kind.upper()}]"]
        at = f.end
    return "".join([*out, text[at:]])


@dataclass
class Telemetry:
    """Where a Registry's calls are recorded."""

    otel: bool = False
    record_to: Path | None = None
    capture_content: bool = False
    mask_pii: bool = True
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _tracer: Any = field(default=None, repr=False)
    _warned: bool = field(default=False, repr=False)

    def tracer(self) -> Any:
        if self._tracer is None:
            from opentelemetry import trace

            from .. import __version__

            self._tracer = trace.get_tracer(TRACER, __version__)
        return self._tracer

    def start_span(self, model: str) -> Any:
        """A span for one call, started in the caller's thread (so it has the caller's
        parent); None without ``otel``."""
        if not self.otel:
            return None
        from opentelemetry.trace import SpanKind

        return self.tracer().start_span(f"chat {model}", kind=SpanKind.CLIENT)

    def content(self, text: str) -> str | None:
        if not self.capture_content:
            return None
        return mask_pii(text) if self.mask_pii else text

    def content_vars(self, values: dict[str, Any]) -> str | None:
        """The input values as JSON, strings masked like the content."""
        if not self.capture_content:
            return None
        out = {
            k: (mask_pii(v) if self.mask_pii else v) if isinstance(v, str) else v
            for k, v in values.items()
        }
        return json.dumps(out, ensure_ascii=False, default=str)

    def end_span(self, span: Any, attrs: dict[str, Any], error: str | None) -> None:
        if span is None:
            return
        try:
            from opentelemetry.trace import Status, StatusCode

            span.set_attributes({k: v for k, v in attrs.items() if _otel_value(v)})
            if error is not None:
                span.set_status(Status(StatusCode.ERROR, error[:200]))
            span.end()
        except Exception as e:  # never break the call over telemetry
            self._warn(f"span: {type(e).__name__}: {e}")

    def write(self, record: CallRecord | FeedbackRecord) -> None:
        if self.record_to is None:
            return
        line = record.model_dump_json(exclude_none=True) + "\n"
        try:
            with self._lock:
                fd = os.open(self.record_to, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                try:
                    os.write(fd, line.encode("utf-8"))  # one write: lines never interleave
                finally:
                    os.close(fd)
        except OSError as e:
            self._warn(f"{self.record_to}: {e}")

    def feedback(self, trace_id: str, score: float, comment: str | None) -> FeedbackRecord:
        rec = FeedbackRecord(time=now_iso(), trace_id=trace_id, score=score, comment=comment)
        self.write(rec)
        if self.otel:
            span = self.tracer().start_span("promptops feedback")
            self.end_span(
                span,
                {
                    "promptops.trace_id": trace_id,
                    "promptops.feedback.score": score,
                    "promptops.feedback.comment": comment,
                },
                None,
            )
        log.info("feedback %s on %s", score, trace_id, extra={"promptops": rec.model_dump()})
        return rec

    def _warn(self, message: str) -> None:
        if not self._warned:
            log.warning("telemetry failed (calls go on): %s", message)
            self._warned = True


def _otel_value(v: Any) -> bool:
    if isinstance(v, str | bool | int | float):
        return True
    return isinstance(v, list) and all(isinstance(x, str | bool | int | float) for x in v)


def span_trace_id(span: Any) -> str | None:
    if span is None:
        return None
    ctx = span.get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def call_record(attrs: dict[str, Any], started: str, output: str | None) -> CallRecord:
    """The JSONL record of one call, from the log record's attributes."""
    g = attrs.get
    finish = g("gen_ai.response.finish_reasons") or [None]
    return CallRecord(
        time=started,
        trace_id=g("promptops.trace_id"),
        prompt=g("promptops.prompt.name"),
        version=g("promptops.prompt.version"),
        digest=g("promptops.prompt.digest"),
        env=g("promptops.env"),
        arm=g("promptops.arm"),
        model=g("gen_ai.request.model"),
        response_model=g("gen_ai.response.model"),
        input_tokens=g("gen_ai.usage.input_tokens"),
        output_tokens=g("gen_ai.usage.output_tokens"),
        latency_ms=g("promptops.latency_ms", 0.0),
        duration_ms=g("promptops.duration_ms"),
        cost=g("promptops.cost"),
        finish_reason=finish[0],
        output_chars=len(output) if output is not None else None,
        error_type=g("error.type"),
        cache_hit=bool(g("promptops.cache_hit", False)),
        attempts=int(g("promptops.attempts", 0)),
        guards=list(g("promptops.guard.triggers", [])),
        blocked=bool(g("promptops.guard.blocked", False)),
        streamed=bool(g("promptops.streamed", False)),
        ttft_ms=g("promptops.ttft_ms"),
        input=g("gen_ai.input.messages"),
        vars=_vars(g("promptops.content.vars")),
        output=g("gen_ai.output.messages"),
    )


def _vars(text: Any) -> dict[str, Any] | None:
    if not isinstance(text, str):
        return None
    data = json.loads(text)
    return data if isinstance(data, dict) else None


def dumps_messages(messages: list[dict[str, Any]]) -> str:
    return json.dumps(messages, ensure_ascii=False)
