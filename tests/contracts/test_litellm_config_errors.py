"""Contract: how litellm reports configuration errors, which promptops classifies as permanent
(``promptops.providers.litellm_provider.classify``), and the provider list lint checks prefixes
against without importing litellm. A failure here means upstream changed."""

from __future__ import annotations

import asyncio
import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def test_committed_provider_list_matches_installed_litellm() -> None:
    import litellm

    from promptops._litellm_providers import PROVIDERS

    installed = {str(getattr(p, "value", p)) for p in litellm.provider_list}
    added, removed = sorted(installed - PROVIDERS), sorted(PROVIDERS - installed)
    assert not added and not removed, (
        f"the installed litellm routes a different set of providers (new: {added}, gone: "
        f"{removed}); run `python scripts/gen_providers.py` and commit "
        "src/promptops/_litellm_providers.py"
    )


def _raise(model: str, monkeypatch: pytest.MonkeyPatch) -> Exception:
    import litellm

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)

    async def call() -> None:
        await litellm.acompletion(
            model=model,
            messages=[{"role": "user", "content": "hi"}],
            api_base="http://127.0.0.1:9/v1",  # never reached
            num_retries=0,
            max_retries=0,
        )

    with pytest.raises(Exception) as info:
        asyncio.run(call())
    return info.value


@pytest.mark.parametrize(
    ("model", "kind"),
    [
        ("openai/gpt-4o-mini-2024-07-18", "auth"),
        ("opneai/gpt-4o-mini-2024-07-18", "unknown_provider"),
    ],
)
def test_client_side_refusals_are_recognised(
    model: str, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from promptops.providers.litellm_provider import classify

    exc = _raise(model, monkeypatch)
    err = classify(exc, model)
    assert err.kind == kind and not err.transient, (
        f"litellm now reports {model} without a key as {type(exc).__name__}: {exc}; "
        "adapt classify() so it stays a permanent configuration error"
    )
