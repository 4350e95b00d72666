"""``echo/<anything>``: returns the rendered prompt. For dry runs, demos and tests."""

from __future__ import annotations

from typing import Any

from ..content import content_text
from .base import Call, Completion, provider


class EchoProvider:
    cacheable = False
    default_timeout = 60.0

    async def complete(self, call: Call) -> Completion:
        texts = [content_text(m.get("content")) for m in call.messages]
        text = "\n\n".join(texts)
        if call.model.endswith("/last"):
            text = texts[-1] if texts else ""
        prompt_words = sum(len(t.split()) for t in texts)
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
