"""litellm's price data, read without importing litellm (its import takes seconds).

litellm ships its price map as a JSON file in its package
(``model_prices_and_context_window_backup.json``). The native provider and ``eval --estimate``
read that file once, lazily. Where the file moved in a later litellm, any
``model_prices_and_context_window*.json`` under the package is taken instead; with none, prices
are unknown (``None``), never invented.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any

PRICE_FILE = "model_prices_and_context_window_backup.json"


def _package_dir() -> Path | None:
    spec = find_spec("litellm")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def price_file(package: Path | None = None) -> Path | None:
    """The price JSON in litellm's package (``package``: its directory, for tests); None when
    litellm is not installed or ships no such file."""
    root = package if package is not None else _package_dir()
    if root is None:
        return None
    direct = root / PRICE_FILE
    if direct.is_file():
        return direct
    found = sorted(root.rglob("model_prices_and_context_window*.json"))
    return found[0] if found else None


@lru_cache(maxsize=1)
def price_map() -> dict[str, dict[str, Any]]:
    """Model id -> litellm's facts about it (prices per token, context window, features)."""
    path = price_file()
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}


def model_info(model: str) -> dict[str, Any] | None:
    """The entry for ``model``: the full id (``openai/gpt-4o``), else the id without its
    provider prefix (``gpt-4o``), as litellm looks it up."""
    prices = price_map()
    if model in prices:
        return prices[model]
    _, _, name = model.partition("/")
    return prices.get(name) if name else None


def cost(model: str, tokens_in: int | None, tokens_out: int | None) -> float | None:
    """Dollars for a call's tokens; None when the model has no known price."""
    info = model_info(model)
    if info is None:
        return None
    price_in = info.get("input_cost_per_token")
    price_out = info.get("output_cost_per_token")
    if not isinstance(price_in, int | float) or not isinstance(price_out, int | float):
        return None
    return float((tokens_in or 0) * price_in + (tokens_out or 0) * price_out)


def known_chat_models() -> list[str]:
    """Ids of chat and completion models in the price map (for "did you mean")."""
    return [k for k, v in price_map().items() if v.get("mode") in ("chat", "completion")]


BATCH_DISCOUNT = 0.5
"""The batch price as a share of the ordinary one where the price file gives none: OpenAI's
and Anthropic's batch APIs both bill half the synchronous rate (their pricing pages)."""


def batch_cost(model: str, tokens_in: int | None, tokens_out: int | None) -> float | None:
    """Dollars for a call's tokens sent through a batch API: litellm's
    ``input_cost_per_token_batches`` / ``output_cost_per_token_batches`` where the price file
    has them, else :data:`BATCH_DISCOUNT` of the ordinary price; None when no price is known."""
    info = model_info(model)
    if info is None:
        return None
    full = cost(model, tokens_in, tokens_out)
    price_in = info.get("input_cost_per_token_batches")
    price_out = info.get("output_cost_per_token_batches")
    if isinstance(price_in, int | float) and isinstance(price_out, int | float):
        return float((tokens_in or 0) * price_in + (tokens_out or 0) * price_out)
    return None if full is None else full * BATCH_DISCOUNT
