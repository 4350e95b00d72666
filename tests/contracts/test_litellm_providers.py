"""Contract: the committed provider list (lint checks prefixes without importing litellm) is the
one the installed litellm routes."""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def test_committed_provider_list_matches_installed_litellm() -> None:
    import litellm

    from promptops._litellm_providers import PROVIDERS

    installed = {str(getattr(p, "value", p)) for p in litellm.provider_list}
    added, removed = sorted(installed - PROVIDERS), sorted(PROVIDERS - installed)
    assert not added and not removed, (
        f"litellm {litellm.__version__ if hasattr(litellm, '__version__') else ''} routes a "
        f"different set of providers (new: {added}, gone: {removed}); "
        "run `python scripts/gen_providers.py` and commit src/promptops/_litellm_providers.py"
    )
