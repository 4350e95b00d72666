"""Model providers. Importing this package is cheap: litellm loads on its first call (the native
OpenAI-compatible path never loads it)."""

from __future__ import annotations

from . import echo as _echo
from . import litellm_provider as _litellm_provider
from . import native as _native
from .base import (
    Call,
    CallError,
    Completion,
    Provider,
    get_provider,
    missing_credentials,
    provider,
    redact,
    route,
)
from .local import provider as _local_provider  # registers local/
from .retry import Caller, Outcome

_ = (_echo, _litellm_provider, _native, _local_provider)

__all__ = [
    "Call",
    "CallError",
    "Caller",
    "Completion",
    "Outcome",
    "Provider",
    "get_provider",
    "missing_credentials",
    "provider",
    "redact",
    "route",
]
