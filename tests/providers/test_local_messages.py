"""The local base model gets text only: content parts, tool calls and tool results flattened."""

from __future__ import annotations

from promptops.providers.local import completion_prompt
from promptops.providers.local_provider import _as_text


def test_parts_tool_calls_and_results_become_text() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather in Oslo?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"temp": 3}'},
    ]
    flat = _as_text(messages)
    assert flat == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": "w({})"},
        {"role": "user", "content": 'Tool result: {"temp": 3}'},
    ]
    prompt = completion_prompt(flat)
    assert "Weather in Oslo?" in prompt and "data:image" not in prompt
