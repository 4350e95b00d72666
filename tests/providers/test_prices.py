"""litellm's price file read without importing litellm, and the fallback when it moves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptops.providers import prices


def test_the_installed_price_file_is_found_and_priced() -> None:
    path = prices.price_file()
    assert path is not None and path.name == prices.PRICE_FILE
    info = prices.model_info("openai/gpt-4o-mini-2024-07-18")
    assert info is not None
    expected = 1000 * info["input_cost_per_token"] + 10 * info["output_cost_per_token"]
    assert prices.cost("openai/gpt-4o-mini-2024-07-18", 1000, 10) == pytest.approx(expected)
    assert prices.cost("openai/no-such-model-2020-01-01", 10, 10) is None


def test_a_moved_price_file_is_still_found(tmp_path: Path) -> None:
    moved = tmp_path / "data" / "model_prices_and_context_window.json"
    moved.parent.mkdir()
    moved.write_text(json.dumps({"m": {"input_cost_per_token": 1e-6}}))
    assert prices.price_file(tmp_path) == moved


def test_no_price_file_means_unknown_prices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert prices.price_file(tmp_path) is None
    monkeypatch.setattr(prices, "_package_dir", lambda: tmp_path)
    prices.price_map.cache_clear()
    try:
        assert prices.cost("openai/gpt-4o-mini-2024-07-18", 10, 10) is None
        assert prices.known_chat_models() == []
    finally:
        prices.price_map.cache_clear()
