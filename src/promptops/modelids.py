"""Is a model id's provider one that can answer? Checked by lint and before every eval.

The prefix before the first ``/`` must be a provider litellm routes (a committed list, so lint
never imports litellm; a contract test compares it with the installed litellm) or one of ours
(``echo/``, ``local/``, or a registered plugin). A typo gets the closest known prefix. Bare ids
(``gpt-4o-mini-2024-07-18``) are left to litellm, which infers the provider from its own
model list; a bare id it cannot route stops the run after its first calls with a suggestion.
"""

from __future__ import annotations

import difflib

from ._litellm_providers import PROVIDERS

OURS = ("echo", "local")
# promptops.providers.local.models.BUNDLED_NAME (not imported: cheap)
LOCAL_BUNDLED = "gemma-3-270m"


def provider_problem(model_id: str) -> str | None:
    """Why ``model_id`` names no known provider (with the closest known id), or None."""
    if "/" not in model_id:
        return None
    prefix, _, rest = model_id.partition("/")
    if prefix == "local":
        return _local_problem(model_id, rest)
    if prefix in PROVIDERS or prefix in OURS or prefix in _plugins():
        return None
    known = sorted(PROVIDERS | set(OURS) | _plugins())
    close = difflib.get_close_matches(prefix, known, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}/{rest}'?" if close else ""
    return f"unknown provider {prefix!r} in {model_id!r}{hint} (known: litellm's providers, echo, local)"


def _local_problem(model_id: str, name: str) -> str | None:
    if name == LOCAL_BUNDLED or name.lower().endswith(".gguf"):
        return None
    close = difflib.get_close_matches(name, [LOCAL_BUNDLED], n=1, cutoff=0.6)
    hint = f"did you mean 'local/{close[0]}'?" if close else f"use 'local/{LOCAL_BUNDLED}'"
    return f"unknown local model {model_id!r}: {hint} (or 'local/<path>.gguf')"


def _plugins() -> set[str]:
    """Prefixes registered with ``@provider`` (built-ins and any imported plugin)."""
    from .providers.base import _FACTORIES

    return set(_FACTORIES)
