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


# Providers whose models litellm's price list names in full: an id of theirs that the list does
# not know is a typo (or a model newer than the installed litellm: allow_unpinned admits it).
# Providers that serve names their users choose (azure deployments, ollama, hosted_vllm,
# openrouter, ...) are not checked, and neither is any id with an api_base.
LISTED_PROVIDERS = ("openai", "anthropic", "gemini", "mistral", "deepseek", "xai")
PRICE_FILE = "model_prices_and_context_window_backup.json"


def model_problem(
    model_id: str, *, api_base: str | None = None, allow: list[str] | tuple[str, ...] = ()
) -> str | None:
    """:func:`provider_problem`, then whether litellm's model list knows the id: a bare id
    (litellm can route it only by that list) must be in it; an id of one of
    :data:`LISTED_PROVIDERS` that is not, but is close to one that is, is taken for a typo.
    Unchecked when an ``api_base`` is set, the id matches ``allow`` (allow_unpinned), or no
    list is installed."""
    import fnmatch

    why = provider_problem(model_id)
    if why or api_base or any(fnmatch.fnmatchcase(model_id, pat) for pat in allow):
        return why
    from .providers.litellm_provider import endpoint_env

    if endpoint_env(model_id):  # OPENAI_BASE_URL and the like: a server of the user's choice
        return None
    prefix, slash, name = model_id.partition("/")
    if not slash:
        prefix, name = "", model_id
    if prefix and prefix not in LISTED_PROVIDERS:
        return None
    if name.startswith("ft:"):  # a fine-tuned model: the account's own name
        return None
    listed = known_models()
    if not listed:
        return None
    if prefix:
        names = listed.get(prefix, {})
        if name in names:
            return None
        close = [f"{prefix}/{n}" for n in _closest(name, names)]
        if not close:  # like no id litellm knows: a name it may not list yet, not a typo
            return None
    else:
        bare = {n: p for p, names in listed.items() for n in names}
        if model_id in bare:
            return None
        close = [f"{bare[n]}/{n}" for n in _closest(model_id, bare)]
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    where = f"{prefix}'s models" if prefix else "models litellm can route without a provider"
    return (
        f"unknown model {model_id!r}: not among {where} in the installed litellm's list{hint} "
        "(a newer or self-hosted model: list it under allow_unpinned in promptops.yaml)"
    )


def _closest(name: str, names: dict[str, str]) -> list[str]:
    """Up to three close names, each as its newest dated (pinned) version when the list has
    one: the suggestion should pass the pinning check too."""
    from .pinning import pin_problem

    out: list[str] = []
    for hit in difflib.get_close_matches(name, sorted(names), n=3, cutoff=0.75):
        if pin_problem(hit) is not None:
            dated = [n for n in names if n.startswith(hit + "-") and pin_problem(n) is None]
            dated = [n for n in dated if n[len(hit) + 1 :][:1].isdigit()]  # hit-2024-07-18
            hit = max(dated) if dated else hit
        if hit not in out:
            out.append(hit)
    return out


_KNOWN: dict[str, dict[str, str]] | None = None


def known_models() -> dict[str, dict[str, str]]:
    """provider -> {model name: mode} for LISTED_PROVIDERS' chat and completion models, read
    from the price list litellm ships (its JSON file, without importing litellm: ~0.1 s).
    Empty when litellm or the file is not there (then nothing is checked)."""
    global _KNOWN
    if _KNOWN is None:
        _KNOWN = _read_known(price_file())
    return _KNOWN


def price_file() -> str | None:
    """Where litellm's price list is, found without importing litellm."""
    import importlib.util
    import os

    try:
        spec = importlib.util.find_spec("litellm")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(folder, PRICE_FILE)
        if os.path.isfile(path):
            return path
    return None


def _read_known(path: str | None) -> dict[str, dict[str, str]]:
    import json

    if path is None:
        return {}
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    out: dict[str, dict[str, str]] = {}
    if not isinstance(data, dict):
        return out
    for key, info in data.items():
        if not isinstance(info, dict):
            continue
        provider, mode = info.get("litellm_provider"), info.get("mode")
        if provider not in LISTED_PROVIDERS or mode not in ("chat", "completion", "responses"):
            continue
        name = key.removeprefix(f"{provider}/")
        out.setdefault(provider, {})[name] = mode
    return out


def id_problem(
    model_id: str, *, api_base: str | None = None, allow: list[str] | tuple[str, ...] = ()
) -> str | None:
    """The one problem to report about a model id, or None: a moving alias (``-latest``) is a
    pinning problem; otherwise an unknown provider or model (with the closest known ids)
    comes before the pinning rule, whose advice would only date the typo."""
    from .pinning import pin_problem

    pin = pin_problem(model_id, allow)
    if pin and model_id.lower().endswith("latest"):
        return pin
    return model_problem(model_id, api_base=api_base, allow=allow) or pin
