"""Prompt tokens before a call (providers/tokens.py): encodings, the chat overhead, fallbacks."""

from __future__ import annotations

import pytest

from promptops.providers import tokens


def test_encodings_by_model() -> None:
    assert tokens.encoding_name("openai/gpt-4o-mini-2024-07-18") == ("o200k_base", True)
    assert tokens.encoding_name("openai/gpt-4-0613") == ("cl100k_base", True)
    assert tokens.encoding_name("anthropic/claude-3-5-haiku-20241022") == ("cl100k_base", False)
    _, label = tokens.counter("anthropic/claude-3-5-haiku-20241022")
    assert "approximation" in label


def test_chat_overhead_images_and_tools() -> None:
    def words(text: str) -> int:
        return len(text.split())

    messages = [
        {"role": "system", "content": "be brief"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
            ],
        },
    ]
    # 3 priming + per message (3 + role word) + content words + 85 for the image
    assert tokens.prompt_tokens(messages, words) == 3 + (3 + 1 + 2) + (3 + 1 + 3 + 85)
    tools = [{"type": "function", "function": {"name": "f"}}]
    assert tokens.prompt_tokens(messages, words, tools) > tokens.prompt_tokens(messages, words)


def test_without_a_tokenizer_four_characters_count_as_a_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tokens, "_encoder", lambda name: None)
    count, label = tokens.counter("openai/gpt-4o-mini-2024-07-18")
    assert count("abcdefgh") == 2 and "no tokenizer" in label
