"""The provider interface and registry.

A provider turns one :class:`Call` into a :class:`Completion` or raises :class:`CallError`
(``transient`` errors are retried by the caller with backoff; others fail at once and the
next fallback model is tried). Providers register by model-id prefix with ``@provider``; the
built-ins (``echo/``, ``local/``, ``openai/`` and OpenAI-compatible endpoints on the native
path, and litellm for everything else: see :func:`route`) use the same path a plugin
would, and ``providers/__init__.py`` imports them: that is the one place they are registered.

Besides :class:`Provider`'s members a provider may implement, looked up with ``getattr``:
``prepare(model, concurrency)`` (see :func:`prepare`), ``missing_env(model)`` (see
:func:`missing_credentials`) and ``async aclose()`` (see :func:`aclose_all`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Call:
    """One model call, fully specified (this is what the cache key is made of)."""

    model: str
    messages: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    api_base: str | None = None
    timeout: float = 60.0


@dataclass
class Completion:
    """A model's answer with usage and cost."""

    text: str
    model: str
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float | None = None  # None: no price known for the model
    latency_ms: float = 0.0
    finish_reason: str | None = None
    cached: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    # calls the model asked for: [{"id", "name", "arguments" (the raw JSON string)}]
    tool_calls: list[dict[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "model": self.model,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost": self.cost,
            "latency_ms": self.latency_ms,
            "finish_reason": self.finish_reason,
            "extra": self.extra,
            **({"tool_calls": self.tool_calls} if self.tool_calls else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Completion:
        return cls(**data)


CONFIG_KINDS = frozenset({"auth", "not_found", "unknown_provider", "missing_package"})
"""Error kinds that say the setup is wrong, not the case: every call to the model will fail the
same way (missing or rejected key, unknown model or provider, optional package not installed).
They are never retried, and the runner stops calling a model whose first calls all fail so."""


class CallError(Exception):
    """A failed call. ``transient`` ones (429, 5xx, timeouts, dropped or malformed replies)
    are worth retrying; ``retry_after`` is the server's hint in seconds. ``hint`` says what to
    do about a configuration error (which variable to set, which extra to install...)."""

    def __init__(
        self,
        message: str,
        *,
        transient: bool,
        retry_after: float | None = None,
        status: int | None = None,
        kind: str = "error",
        hint: str | None = None,
    ) -> None:
        super().__init__(redact(message))
        self.transient = transient
        self.retry_after = retry_after
        self.status = status
        self.kind = kind
        self.hint = hint

    @property
    def config(self) -> bool:
        """A configuration error (see :data:`CONFIG_KINDS`)."""
        return self.kind in CONFIG_KINDS


class Provider(Protocol):
    """What a provider implements."""

    cacheable: bool
    default_timeout: float  # seconds per call when the caller sets none

    async def complete(self, call: Call) -> Completion: ...

    def identity(self, model: str) -> dict[str, Any]:
        """Extra facts that pin the model (e.g. a local file's sha256), for cache keys and runs."""
        ...


async def aclose_all() -> None:
    """Let every provider made in this process release what it holds for the running loop."""
    for prov in list(_INSTANCES.values()):
        close = getattr(prov, "aclose", None)
        if close is not None:
            await close()


_FACTORIES: dict[str, Callable[[], Provider]] = {}
_INSTANCES: dict[str, Provider] = {}
DEFAULT = "litellm"


def provider(prefix: str) -> Callable[[Callable[[], Provider]], Callable[[], Provider]]:
    """Register a provider factory for model ids starting with ``prefix/`` (or the default)."""

    def deco(factory: Callable[[], Provider]) -> Callable[[], Provider]:
        _FACTORIES[prefix] = factory
        return factory

    return deco


def get_provider(model: str) -> Provider:
    """The provider for a model id, created once per process."""
    prefix = model.split("/", 1)[0] if "/" in model else ""
    return _instance(prefix if prefix in _FACTORIES else DEFAULT)


NATIVE = "openai"
"""The native OpenAI-compatible provider's prefix (:mod:`promptops.providers.native`)."""
# prefixes whose endpoints speak the OpenAI protocol when given an api_base
OPENAI_COMPATIBLE = frozenset(
    {"openai", "custom_openai", "openai_like", "hosted_vllm", "lm_studio", "llamafile"}
)


def speaks_openai(model: str) -> bool:
    """Whether a model sent to an ``api_base`` takes the native path: an OpenAI-compatible
    prefix, or a prefix litellm does not know (an OpenAI-compatible server's own model name,
    such as ``Qwen/Qwen2.5-7B``). A bare id stays with litellm, which knows whose it is."""
    from .._litellm_providers import PROVIDERS

    prefix, sep, _ = model.partition("/")
    return bool(sep) and (prefix in OPENAI_COMPATIBLE or prefix not in PROVIDERS)


def _instance(key: str) -> Provider:
    if key not in _INSTANCES:
        _INSTANCES[key] = _FACTORIES[key]()
    return _INSTANCES[key]


def route(model: str, api_base: str | None = None, via: str | None = None) -> Provider:
    """The provider that calls ``model`` at ``api_base``: a registered prefix's (``echo/``,
    ``local/``, ``openai/``: the native path, plugins), else the native path for an
    OpenAI-compatible ``api_base`` (see :func:`speaks_openai`), else litellm. ``via="litellm"``
    (a model block's ``provider: litellm``) sends what would go native through litellm."""
    prefix = model.split("/", 1)[0] if "/" in model else ""
    native = prefix == NATIVE or (
        prefix not in _FACTORIES and api_base is not None and speaks_openai(model)
    )
    if native and NATIVE in _FACTORIES:
        return _instance(DEFAULT if via == "litellm" else NATIVE)
    return _instance(prefix if prefix in _FACTORIES else DEFAULT)


def prepare(model: str, concurrency: int | None) -> None:
    """Tell ``model``'s provider how many calls a caller may have in flight, before its first
    call to the model: once per :class:`~promptops.providers.retry.Caller` and model (the
    pinned model, each fallback, each judge). ``None``: the caller sets no bound (the runtime
    API, where the application decides). A provider that holds per-model resources implements
    an optional ``prepare(model, concurrency)`` (the local provider sizes its server's slots
    with it); others need nothing. May raise :class:`~promptops.errors.PromptOpsError` for a
    setup that cannot work."""
    hook = getattr(get_provider(model), "prepare", None)
    if hook is not None:
        hook(model, concurrency)


def missing_credentials(model: str) -> list[str]:
    """Credential environment variables the model's provider needs and doesn't have (a
    provider tells with an optional ``missing_env(model)``; litellm's import costs seconds)."""
    check = getattr(get_provider(model), "missing_env", None)
    return list(check(model)) if check is not None else []


def redact(text: str) -> str:
    """Remove API keys, auth tokens and URL credentials from a message before it is shown or
    stored (see :mod:`promptops.redact`)."""
    from ..redact import redact_text

    return redact_text(text)
