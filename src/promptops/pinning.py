"""Is a model id pinned to a dated version, or an alias that can change under you?

Rules (documented in the README):
- ``echo/...`` and ``local/...`` are pinned by construction (local resolves to a package
  version and file sha256, recorded in each run).
- ids ending in ``latest`` (``-latest``, ``:latest``, ``@latest``) are aliases.
- otherwise the last path segment must carry a version pin: a date (``2024-08-06``,
  ``20241022``), an OpenAI-style ``-0613`` suffix, a Gemini-style ``-002`` suffix, or a Vertex /
  Bedrock ``@20240620`` / ``-v1:0`` suffix.
- ``allow_unpinned`` in promptops.yaml lists glob patterns for self-hosted names
  (for example ``ollama/*`` or ``hosted_vllm/my-model``).
"""

from __future__ import annotations

import datetime
import fnmatch
import re

_PINNED_PROVIDERS = ("echo/", "local/")
_DATE = re.compile(r"(19|20)\d{2}-?[01]\d-?[0-3]\d")
_SUFFIX = re.compile(r"(-\d{4}$)|(-\d{3}$)|(@\d{6,8})|(-v\d+(:\d+)?$)")
_DATE_LIKE = re.compile(r"(?<!\d)((?:19|20)\d{2})(-?)(\d{2})\2(\d{2})(?!\d)")


def _bad_date(segment: str) -> str | None:
    """A date-shaped pin that is no date (``2024-07-81``, ``20240230``), or None."""
    for m in _DATE_LIKE.finditer(segment):
        try:
            datetime.date(int(m.group(1)), int(m.group(3)), int(m.group(4)))
        except ValueError:
            return m.group(0)
    return None


def pin_problem(model_id: str, allow: list[str] | tuple[str, ...] = ()) -> str | None:
    """Why ``model_id`` is not pinned, or None when it is."""
    if model_id.startswith(_PINNED_PROVIDERS):
        return None
    if any(fnmatch.fnmatchcase(model_id, pat) for pat in allow):
        return None
    last = model_id.rsplit("/", 1)[-1]
    bad = _bad_date(last)
    if bad is not None:
        return (
            f"{model_id!r}: {bad!r} is not a valid date (YYYY-MM-DD); check the pinned version "
            "against the provider's model list"
        )
    if re.search(r"latest$", last, re.I):
        return f"{model_id!r} is an alias that moves; pin a dated version"
    if _DATE.search(last) or _SUFFIX.search(last):
        return None
    return (
        f"{model_id!r} is an alias; pin a dated version such as '{last}-YYYY-MM-DD' "
        "(or list self-hosted names under allow_unpinned in promptops.yaml)"
    )
