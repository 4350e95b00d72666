"""Every real model call goes through ``litellm.acompletion``; this is the only module that
imports litellm, and only when the first call is made (it takes seconds to import)."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import re
import time
from collections.abc import AsyncIterator
from typing import Any

from .. import process
from .base import Call, CallError, Completion, provider

_litellm: Any = None


def _lib() -> Any:
    global _litellm
    if _litellm is None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        if process.owned():
            _import_frozen()
        import litellm

        litellm.suppress_debug_info = True
        litellm.telemetry = False
        litellm.drop_params = True  # a param a provider doesn't take is dropped, not an error
        _litellm = litellm
    return _litellm


def _import_frozen() -> None:
    """Import litellm with the cyclic collector off, then move everything alive out of its
    sight (``gc.freeze``). litellm's import makes ~350,000 objects that live as long as the
    process; each full collection during a run walked them all: the collector was about a
    fifth of a cold eval's CPU on this path (0.9 s of it for 500 calls; 0.1 s after). Frozen
    objects are never collected, so only in promptops's own process (:mod:`promptops.process`):
    an application's objects alive now could become garbage later."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        import litellm  # noqa: F401
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


_ENDPOINT_SUFFIXES = ("_API_BASE", "_BASE_URL", "_ENDPOINT", "_API_URL")
_OPENAI_FAMILY = {"", "openai", "text-completion-openai", "chatgpt"}


def endpoint_env(model: str) -> dict[str, str]:
    """Endpoint environment variables of the model's provider (``OPENAI_BASE_URL``,
    ``OPENAI_API_BASE``, ``AZURE_API_BASE``, ``ANTHROPIC_BASE_URL``, ...), credentials
    stripped. Cheap: no litellm import."""
    from ..redact import strip_url

    prefix = model.split("/", 1)[0] if "/" in model else ""
    name = "OPENAI" if prefix in _OPENAI_FAMILY else prefix.upper().replace("-", "_")
    out = {}
    for key, value in os.environ.items():
        if key.startswith(name + "_") and key.endswith(_ENDPOINT_SUFFIXES) and value.strip():
            out[key] = strip_url(value.strip())
    return dict(sorted(out.items()))


def _retry_after(exc: Exception) -> float | None:
    headers: Any = None
    for attr in ("litellm_response_headers", "headers"):
        headers = getattr(exc, attr, None)
        if headers:
            break
    if not headers:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
    if not headers:
        return None
    try:
        value = headers.get("retry-after") or headers.get("Retry-After")
    except AttributeError:
        return None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return None


_MISSING_KEY = re.compile(
    r"missing credentials|missing [\w ]{0,30}api key|no (?:api )?key is set"
    r"|api_key client option must be set|api key (?:is )?(?:not set|not found|required)",
    re.I,
)
_NO_PROVIDER = "LLM Provider NOT provided"


def _key_hint(model: str, api_base: str | None) -> str:
    """Which variable to set: litellm knows the one each provider reads."""
    lib = _lib()
    try:
        missing = list(lib.validate_environment(model=model).get("missing_keys") or [])
    except Exception:  # an unknown provider: no variable to name
        missing = []
    if missing:
        return f"set {' or '.join(missing)} in the environment (in CI: a repository secret)"
    prefix = model.split("/", 1)[0] if "/" in model else "openai"
    where = f" at {api_base}" if api_base else ""
    return (
        f"the server{where} rejected the API key: check {prefix.upper()}_API_KEY "
        "(and that it belongs to this provider and project)"
    )


def close_models(model: str, n: int = 3) -> list[str]:
    """Known model ids that look like ``model`` (litellm's price map), closest first."""
    import difflib

    lib = _lib()
    prefix, _, name = model.rpartition("/")
    known = [k for k, v in lib.model_cost.items() if v.get("mode") in ("chat", "completion")]
    if prefix:
        same = [k.rpartition("/")[2] for k in known]
        hits = difflib.get_close_matches(name, sorted(set(same)), n=n, cutoff=0.75)
        return [f"{prefix}/{h}" for h in hits]
    return difflib.get_close_matches(model, known, n=n, cutoff=0.75)


def _close_providers(model: str) -> list[str]:
    import difflib

    lib = _lib()
    prefix, _, rest = model.partition("/")
    names = sorted(str(getattr(p, "value", p)) for p in lib.provider_list)
    if not rest:
        return []
    return [f"{p}/{rest}" for p in difflib.get_close_matches(prefix, names, n=3, cutoff=0.6)]


def classify(exc: Exception, model: str = "", api_base: str | None = None) -> CallError:
    """Map litellm's exceptions to transient (retry), per-case or configuration failures."""
    lib = _lib()
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    message = f"{name}: {getattr(exc, 'message', None) or exc}"
    if isinstance(exc, ImportError):
        package = exc.name or "the provider's package"
        return CallError(
            message,
            transient=False,
            kind="missing_package",
            hint=f"install {package} (pip install {package}) to call {model}",
        )
    if _MISSING_KEY.search(message):  # refused client-side: no request was sent
        return CallError(
            message, transient=False, status=401, kind="auth", hint=_key_hint(model, None)
        )
    if _NO_PROVIDER in message:
        close = _close_providers(model)
        first = message.split(". Pass", 1)[0]
        return CallError(
            first,
            transient=False,
            status=status,
            kind="unknown_provider",
            hint=(
                "start the id with a provider litellm knows (provider/model)"
                + (f"; did you mean {', '.join(map(repr, close))}?" if close else "")
            ),
        )
    if isinstance(exc, lib.RateLimitError) or status == 429:
        return CallError(
            message, transient=True, retry_after=_retry_after(exc), status=429, kind="rate_limit"
        )
    if isinstance(exc, lib.Timeout) or "timeout" in name.lower():
        return CallError(message, transient=True, status=status, kind="timeout")
    if isinstance(exc, lib.AuthenticationError) or status == 401:
        return CallError(
            message, transient=False, status=401, kind="auth", hint=_key_hint(model, api_base)
        )
    if isinstance(exc, lib.PermissionDeniedError) or status == 403:
        return CallError(
            message,
            transient=False,
            status=403,
            kind="auth",
            hint=f"the API key has no access to {model}: check its project and permissions",
        )
    if isinstance(exc, lib.NotFoundError) or status == 404:
        close = [m for m in close_models(model) if m != model]
        where = f" at {api_base}" if api_base else ""
        return CallError(
            message,
            transient=False,
            status=404,
            kind="not_found",
            hint=(
                f"the server{where} does not know {model!r}: check the model id"
                + (f"; close known ids: {', '.join(close)}" if close else "")
                + (" and --api-base" if api_base else "")
            ),
        )
    permanent = (
        lib.BadRequestError,
        lib.ContextWindowExceededError,
        lib.ContentPolicyViolationError,
    )
    if isinstance(exc, permanent) or (
        isinstance(status, int) and 400 <= status < 500 and status not in (408, 409)
    ):
        return CallError(message, transient=False, status=status, kind="rejected")
    if isinstance(status, int) and status >= 500:
        return CallError(
            message,
            transient=True,
            retry_after=_retry_after(exc),
            status=status,
            kind="server_error",
        )
    if isinstance(
        exc,
        lib.APIConnectionError
        | lib.APIError
        | lib.InternalServerError
        | lib.ServiceUnavailableError,
    ):
        return CallError(message, transient=True, status=status, kind="connection")
    # JSON decoding or response-shape problems surface as assorted exceptions: retry them.
    return CallError(message, transient=True, status=status, kind="malformed")


def _tool_calls(message: Any) -> list[dict[str, Any]]:
    """The function calls in a reply message as ``{id, name, arguments}`` (arguments: the raw
    JSON string the model wrote). Raises TypeError on a call with no function name."""
    out: list[dict[str, Any]] = []
    for tc in getattr(message, "tool_calls", None) or []:
        fn = getattr(tc, "function", None)
        name = getattr(fn, "name", None)
        if not isinstance(name, str):
            raise TypeError("a tool call without a function name")
        args = getattr(fn, "arguments", None)
        out.append(
            {
                "id": getattr(tc, "id", None),
                "name": name,
                "arguments": args if isinstance(args, str) else json.dumps(args),
            }
        )
    return out


def _cost(lib: Any, response: Any) -> float | None:
    """The cost litellm computed during the call (``response_cost`` in the hidden params);
    computed again only when it is absent. None: no price known for the model."""
    hidden = getattr(response, "_hidden_params", None)
    if isinstance(hidden, dict) and "response_cost" in hidden:
        value = hidden["response_cost"]
        return float(value) if isinstance(value, int | float) else None
    try:
        return float(lib.completion_cost(completion_response=response))
    except Exception:  # no price for this model
        return None


class LiteLLMProvider:
    cacheable = True
    default_timeout = 60.0

    def __init__(self) -> None:
        self._schema_support: dict[str, bool] = {}

    async def complete(self, call: Call) -> Completion:
        lib = _lib()
        kwargs: dict[str, Any] = dict(call.params)
        if call.api_base:
            kwargs["api_base"] = call.api_base
        start = time.perf_counter()
        try:
            response = await lib.acompletion(
                model=call.model,
                messages=call.messages,
                timeout=call.timeout,
                num_retries=0,
                max_retries=0,
                **kwargs,
            )
        except Exception as exc:  # litellm raises many types; classify them all
            raise classify(exc, call.model, call.api_base) from None
        latency = (time.perf_counter() - start) * 1000
        try:
            choice = response.choices[0]
            text = choice.message.content
            if text is None:
                text = getattr(choice, "text", None)
            # A tool-call reply (content null, tool_calls set) is an answer, not malformed.
            tool_calls = _tool_calls(choice.message)
            if text is None and tool_calls:
                text = ""
            if not isinstance(text, str):
                raise TypeError("no text in the response")
        except (AttributeError, IndexError, TypeError) as exc:
            raise CallError(
                f"malformed response: {exc}", transient=True, kind="malformed"
            ) from None
        usage = getattr(response, "usage", None)
        tokens_in = getattr(usage, "prompt_tokens", None)
        tokens_out = getattr(usage, "completion_tokens", None)
        return Completion(
            text=text,
            model=call.model,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost=_cost(lib, response),
            latency_ms=latency,
            finish_reason=getattr(choice, "finish_reason", None),
            tool_calls=tool_calls or None,
        )

    async def stream(self, call: Call) -> AsyncIterator[str | Completion]:
        """The optional streaming hook (see :mod:`promptops.runtime.streaming`): text deltas
        as litellm yields them, then the Completion with ``extra["ttft_ms"]``."""
        lib = _lib()
        kwargs: dict[str, Any] = dict(call.params)
        if call.api_base:
            kwargs["api_base"] = call.api_base
        start = time.perf_counter()
        first: float | None = None
        parts: list[str] = []
        finish: str | None = None
        usage: Any = None
        try:
            response = await lib.acompletion(
                model=call.model,
                messages=call.messages,
                timeout=call.timeout,
                num_retries=0,
                max_retries=0,
                stream=True,
                stream_options={"include_usage": True},
                **kwargs,
            )
            async for chunk in response:
                usage = getattr(chunk, "usage", None) or usage
                for choice in getattr(chunk, "choices", None) or []:
                    finish = getattr(choice, "finish_reason", None) or finish
                    delta = getattr(getattr(choice, "delta", None), "content", None)
                    if isinstance(delta, str) and delta:
                        first = first or time.perf_counter()
                        parts.append(delta)
                        yield delta
        except CallError:
            raise
        except Exception as exc:  # litellm raises many types; classify them all
            raise classify(exc, call.model, call.api_base) from None
        end = time.perf_counter()
        from .prices import cost

        tokens_in = getattr(usage, "prompt_tokens", None)
        tokens_out = getattr(usage, "completion_tokens", None)
        yield Completion(
            text="".join(parts),
            model=call.model,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost=cost(call.model, tokens_in, tokens_out),
            latency_ms=(end - start) * 1000,
            finish_reason=finish,
            extra={"ttft_ms": round(((first or end) - start) * 1000, 3)},
        )

    def identity(self, model: str) -> dict[str, Any]:
        """The endpoint the environment points this model's provider at, if any (e.g.
        ``OPENAI_BASE_URL``): another server is another model, for the cache too. Credentials
        in those URLs are left out."""
        endpoint = endpoint_env(model)
        return {"endpoint": endpoint} if endpoint else {}

    def missing_env(self, model: str) -> list[str]:
        """Credential environment variables the model's provider needs that are unset or
        empty (litellm's ``validate_environment``; endpoint variables with defaults are not
        counted)."""
        from ..redact import is_credential_env

        lib = _lib()
        empty = {k: v for k, v in os.environ.items() if not v.strip() and is_credential_env(k)}
        for k in empty:  # litellm counts an empty variable as set
            del os.environ[k]
        try:
            found = lib.validate_environment(model=model)
        except Exception:  # an unknown provider: nothing to say up front
            return []
        finally:
            os.environ.update(empty)
        return [k for k in found.get("missing_keys") or [] if is_credential_env(k)]

    def supports_response_schema(self, model: str) -> bool:
        """Whether litellm reports JSON-schema structured output for ``model`` (asked once)."""
        if model not in self._schema_support:
            try:
                self._schema_support[model] = bool(_lib().supports_response_schema(model=model))
            except Exception:  # unknown model: litellm raises; treat as unsupported
                self._schema_support[model] = False
        return self._schema_support[model]

    async def aclose(self) -> None:
        """Close litellm's cached async HTTP clients for the running event loop."""
        if _litellm is not None:
            with contextlib.suppress(Exception):  # best effort at shutdown
                await _litellm.close_litellm_async_clients()


@provider("litellm")
def _litellm_provider() -> LiteLLMProvider:
    return LiteLLMProvider()


def anthropic_body(model: str, messages: list[dict[str, Any]], params: dict[str, Any]) -> Any:
    """The Anthropic Messages API body litellm sends for this call (``model`` without its
    ``anthropic/`` prefix): its own parameter mapping and request transformation, so a
    batch request (:mod:`.anthropic_batch`) is the request an ordinary call would make."""
    lib = _lib()
    from litellm.utils import get_optional_params

    optional = get_optional_params(
        model=model, custom_llm_provider="anthropic", drop_params=True, **params
    )
    return lib.AnthropicConfig().transform_request(
        model=model,
        messages=[dict(m) for m in messages],
        optional_params=dict(optional),
        litellm_params={"drop_params": True},
        headers={},
    )


def finish_reason(reason: str) -> str:
    """A provider's stop reason in OpenAI's terms, as litellm maps it (``end_turn`` -> ``stop``)."""
    _lib()
    from litellm.litellm_core_utils.core_helpers import map_finish_reason

    return str(map_finish_reason(reason))
