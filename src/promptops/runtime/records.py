"""The production call record: one line per call (and per feedback) in the runtime's JSONL log,
the input of ``promptops canary analyze``. Typed and versioned like the run record; its JSON
Schema is published (``promptops schema call``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CALL_SCHEMA_VERSION = 1


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CallRecord(_Record):
    """One model call made through ``ActivePrompt.complete`` (or answered by a block guard)."""

    kind: Literal["call"] = Field("call", description="Record kind.")
    schema_version: Literal[1] = Field(1, description="Version of this format.")
    time: str = Field(description="When the call started (UTC, ISO 8601).")
    trace_id: str = Field(description="The call's trace id (the OpenTelemetry one when in a span).")
    prompt: str = Field(description="Prompt name.")
    version: str = Field(description="Prompt version served.")
    digest: str = Field(description="Digest of the version served.")
    env: str = Field(description="Environment.")
    arm: Literal["stable", "canary", "shadow"] = Field(description="Which arm served it.")
    model: str = Field(description="Pinned model requested.")
    response_model: str | None = Field(None, description="Model that answered.")
    input_tokens: int | None = Field(None, description="Prompt tokens.")
    output_tokens: int | None = Field(None, description="Completion tokens.")
    latency_ms: float = Field(description="The answering call's latency.")
    duration_ms: float | None = Field(None, description="Whole call: retries and fallbacks too.")
    cost: float | None = Field(None, description="Cost in USD, when known.")
    finish_reason: str | None = Field(None, description="Why the model stopped.")
    output_chars: int | None = Field(None, description="Length of the answer served.")
    error_type: str | None = Field(None, description="Error kind when the call failed.")
    cache_hit: bool = Field(False, description="Answered from the response cache.")
    attempts: int = Field(0, description="Model calls made, over the chain.")
    guards: list[str] = Field(
        default_factory=list, description="Guards that triggered, as stage:name:action."
    )
    blocked: bool = Field(False, description="A block guard answered instead of the model.")
    streamed: bool = Field(False, description="Answered as a stream (ActivePrompt.stream).")
    ttft_ms: float | None = Field(
        None, description="Streamed: time from the request to the model's first chunk."
    )
    input: str | None = Field(None, description="Rendered messages (capture_content only).")
    vars: dict[str, Any] | None = Field(
        None, description="Input values after input guards (capture_content only)."
    )
    output: str | None = Field(None, description="Answer served (capture_content only).")


class FeedbackRecord(_Record):
    """User feedback on one call, joined to it by trace id."""

    kind: Literal["feedback"] = Field("feedback", description="Record kind.")
    schema_version: Literal[1] = Field(1, description="Version of this format.")
    time: str = Field(description="When it was recorded (UTC, ISO 8601).")
    trace_id: str = Field(description="The call's trace id (Reply.trace_id).")
    score: float = Field(ge=0, le=1, description="0 (bad) to 1 (good).")
    comment: str | None = Field(None, description="Free text.")
