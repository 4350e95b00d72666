"""promptops.pinning: dated model versions pass, aliases that can move under you do not."""

from __future__ import annotations

import pytest

from promptops.pinning import pin_problem


@pytest.mark.parametrize(
    "model",
    [
        "openai/gpt-4o-2024-08-06",
        "gpt-4o-mini-2024-07-18",
        "anthropic/claude-3-5-sonnet-20241022",
        "claude-3-opus-20240229",
        "gpt-4-0613",
        "gemini/gemini-1.5-pro-002",
        "vertex_ai/claude-3-5-sonnet@20240620",
        "bedrock/anthropic.claude-3-sonnet-20240229-v1:0",
        "bedrock/amazon.titan-text-express-v1",
        "mistral/mistral-large-2407",
        "echo/echo",
        "echo/anything-latest",
        "local/gemma-3-270m",
    ],
)
def test_pinned(model: str) -> None:
    assert pin_problem(model) is None


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            "gpt-4o",
            "'gpt-4o' is an alias; pin a dated version such as 'gpt-4o-YYYY-MM-DD' "
            "(or list self-hosted names under allow_unpinned in promptops.yaml)",
        ),
        (
            "openai/gpt-4o",
            "'openai/gpt-4o' is an alias; pin a dated version such as 'gpt-4o-YYYY-MM-DD' "
            "(or list self-hosted names under allow_unpinned in promptops.yaml)",
        ),
        (
            "claude-3-5-sonnet",
            "'claude-3-5-sonnet' is an alias; pin a dated version such as "
            "'claude-3-5-sonnet-YYYY-MM-DD' (or list self-hosted names under allow_unpinned in promptops.yaml)",
        ),
        (
            "anthropic/claude-3-5-sonnet-latest",
            "'anthropic/claude-3-5-sonnet-latest' is an alias that moves; pin a dated version",
        ),
        ("chatgpt-4o-latest", "'chatgpt-4o-latest' is an alias that moves; pin a dated version"),
        (
            "ollama/llama3:latest",
            "'ollama/llama3:latest' is an alias that moves; pin a dated version",
        ),
        (
            "gemini/gemini-1.5-pro-LATEST",
            "'gemini/gemini-1.5-pro-LATEST' is an alias that moves; pin a dated version",
        ),
    ],
)
def test_unpinned(model: str, message: str) -> None:
    assert pin_problem(model) == message


@pytest.mark.parametrize(
    "model", ["gpt-4-turbo", "gpt-3.5-turbo", "o1", "ollama/llama3", "hosted_vllm/my-model"]
)
def test_more_aliases(model: str) -> None:
    problem = pin_problem(model)
    assert problem is not None and "is an alias" in problem


def test_allow_unpinned_globs() -> None:
    allow = ["ollama/*", "hosted_vllm/my-model"]
    assert pin_problem("ollama/llama3", allow) is None
    assert pin_problem("ollama/llama3:latest", allow) is None
    assert pin_problem("hosted_vllm/my-model", allow) is None
    assert pin_problem("hosted_vllm/other-model", allow) is not None
    assert pin_problem("openai/gpt-4o", allow) is not None
    # globs are case-sensitive: a provider prefix is part of the id
    assert pin_problem("OLLAMA/llama3", allow) is not None


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini-2024-07-81", "claude-3-opus-20240230"])
def test_impossible_date_is_called_a_bad_date_not_a_missing_pin(model: str) -> None:
    why = pin_problem(model)
    assert why is not None and "is not a valid date" in why and "YYYY-MM-DD' (" not in why
