"""The completion prompt a local base model gets: chat messages flattened to text (content parts,
tool calls and tool results), rendered as few-shot Input:/Output: blocks, and its stop strings."""

from __future__ import annotations

from promptops.providers.local.prompt import completion_prompt, default_stop, flatten_messages


def test_completion_prompt_few_shot() -> None:
    prompt = completion_prompt(
        [
            {"role": "system", "content": "Classify the sentiment."},
            {"role": "user", "content": "I loved it"},
            {"role": "assistant", "content": "positive"},
            {"role": "user", "content": "Terrible service "},
        ]
    )
    assert prompt == (
        "Classify the sentiment.\n\n"
        "Input: I loved it\nOutput: positive\n\n"
        "Input: Terrible service\nOutput:"
    )


def test_completion_prompt_final_assistant_is_continued() -> None:
    prompt = completion_prompt(
        [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "The answer is"}]
    )
    assert prompt == "Input: 2+2?\nOutput: The answer is"


def test_default_stop() -> None:
    assert "\n" in default_stop()
    assert "\n" not in default_stop(multiline=True)
    assert all(len(s) > 0 for s in default_stop(multiline=True))
    assert len(default_stop()) <= 4 and len(default_stop(multiline=True)) <= 4


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
    flat = flatten_messages(messages)
    assert flat == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": "w({})"},
        {"role": "user", "content": 'Tool result: {"temp": 3}'},
    ]
    prompt = completion_prompt(flat)
    assert "Weather in Oslo?" in prompt and "data:image" not in prompt
