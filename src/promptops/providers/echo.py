"""``echo/<anything>``: returns the rendered prompt. For dry runs, demos and tests."""

from __future__ import annotations

from typing import Any

from .base import Call, Completion, provider


class EchoProvider:
    cacheable = False
    default_timeout = 60.0

    async def complete(self, call: Call) -> Completion:
        text = "\n\n".join(m["content"] for m in call.messages)
        if call.model.endswith("/last"):
            text = call.messages[-1]["content"] if call.messages else ""
        prompt_words = sum(len(m["content"].split()) for m in call.messages)
        return Completion(
            text=text,
            model=call.model,
            tokens_in=prompt_words,
            tokens_out=len(text.split()),
            cost=0.0,
            latency_ms=0.0,
            finish_reason="stop",
        )

    def identity(self, model: str) -> dict[str, Any]:
        return {}


@provider("echo")
def _echo() -> EchoProvider:
    return EchoProvider()
