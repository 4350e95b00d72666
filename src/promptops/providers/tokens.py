"""Counting a chat call's prompt tokens before making it (for ``eval --estimate``).

OpenAI models: tiktoken with the model's encoding (``o200k_base`` for the gpt-4o family and
later, ``cl100k_base`` before), plus the chat format's overhead (3 tokens per message, 1 per
name, 3 to prime the reply: OpenAI's published recipe). Other models get ``cl100k_base`` as an
approximation, and say so. The encodings are read from the copies litellm ships (offline),
found without importing litellm; when tiktoken or those files are missing, 4 characters count
as a token (said too). Images count 85 tokens each (OpenAI's low-detail price; high detail
costs more).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import lru_cache
from typing import Any

# tiktoken's cache file names (sha1 of the download URL) of the encodings litellm bundles
_BUNDLED = {
    "cl100k_base": "9b5ad71b2ce5302211f9c61530b329a4922fc6a4",
    "o200k_base": "fb374d419588a4632f3f557e76b4b70aebbca790",
}
_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")
IMAGE_TOKENS = 85
PER_MESSAGE = 3
PER_NAME = 1
REPLY_PRIMING = 3


def encoding_name(model: str) -> tuple[str, bool]:
    """The tiktoken encoding for ``model`` and whether it is the model's own (False: an
    approximation, for a model that is not OpenAI's)."""
    prefix, sep, name = model.partition("/")
    if not sep:
        prefix, name = "openai", model
    own = prefix == "openai"
    return ("o200k_base" if name.startswith(_O200K_PREFIXES) else "cl100k_base"), own


@lru_cache(maxsize=4)
def _encoder(name: str) -> Callable[[str], int] | None:
    """A token counter for the encoding, or None when it cannot be loaded offline."""
    from .prices import _package_dir

    try:
        import tiktoken
    except ImportError:
        return None
    if not os.environ.get("TIKTOKEN_CACHE_DIR"):
        package = _package_dir()
        if package is None:
            return None
        bundled = package / "litellm_core_utils" / "tokenizers"
        if not (bundled / _BUNDLED[name]).is_file():
            return None  # tiktoken would download it: never from here
        os.environ["TIKTOKEN_CACHE_DIR"] = str(bundled)
    try:
        enc = tiktoken.get_encoding(name)
    except Exception:  # no file, no network: the character rule instead
        return None
    return lambda text: len(enc.encode(text, disallowed_special=()))


def counter(model: str) -> tuple[Callable[[str], int], str]:
    """A text token counter for ``model`` and a label naming how it counts."""
    name, own = encoding_name(model)
    enc = _encoder(name)
    if enc is None:
        return (lambda text: (len(text) + 3) // 4), "4 characters a token (no tokenizer)"
    return enc, name if own else f"{name} (approximation for {model.partition('/')[0]})"


def _content_tokens(content: Any, count: Callable[[str], int]) -> int:
    if isinstance(content, str):
        return count(content)
    total = 0
    for part in content or []:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text":
            total += count(str(part.get("text") or ""))
        elif part.get("type") in ("image_url", "image"):
            total += IMAGE_TOKENS
    return total


def prompt_tokens(
    messages: list[dict[str, Any]],
    count: Callable[[str], int],
    tools: list[dict[str, Any]] | None = None,
) -> int:
    """The prompt tokens of one chat call (messages, the chat format's overhead, and tool
    definitions counted as their JSON)."""
    total = REPLY_PRIMING
    for m in messages:
        total += PER_MESSAGE + count(str(m.get("role", "")))
        total += _content_tokens(m.get("content"), count)
        if m.get("name"):
            total += PER_NAME + count(str(m["name"]))
        for tc in m.get("tool_calls") or []:
            total += count(json.dumps(tc, separators=(",", ":")))
    if tools:
        total += count(json.dumps(tools, separators=(",", ":")))
    return total
