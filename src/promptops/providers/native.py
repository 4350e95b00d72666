"""The native path for OpenAI-compatible endpoints: ``openai/...`` models and any model with an
``api_base`` that speaks the OpenAI protocol, called over HTTP directly (aiohttp).

litellm costs ~5 s to import and several milliseconds of CPU per call; for endpoints that speak
the OpenAI chat-completions protocol none of that is needed. This provider behaves as the
litellm path does for promptops (the same error kinds, retry hints, usage, tool calls, response
formats and images pass through unchanged, cost from litellm's price file read without importing
it, the same cache identity), so an answer cached on one path is a hit on the other. A model
block's ``provider: litellm`` sends a model through litellm instead (see
:func:`promptops.providers.base.route`).

One ``aiohttp.ClientSession`` (one connection pool) per endpoint and event loop. aiohttp rather
than httpx: on 1,000 calls at 16 in flight to the loopback server, httpx's connection pool
cost ~2 s of CPU and aiohttp's 0.2 s (its HTTP parser is C); both are litellm dependencies.
"""

from __future__ import annotations

import json
import os
import time
import weakref
from typing import TYPE_CHECKING, Any

from .base import Call, CallError, Completion, provider
from .litellm_provider import endpoint_env

if TYPE_CHECKING:
    import asyncio

    import aiohttp
    from multidict import CIMultiDictProxy

OPENAI_URL = "https://api.openai.com/v1"
KEY_ENV = "OPENAI_API_KEY"


def wire_model(model: str) -> str:
    """The model name sent to the server: the id without a provider prefix litellm knows
    (``openai/gpt-4o`` -> ``gpt-4o``), as litellm sends it; an unknown prefix is kept."""
    from .._litellm_providers import PROVIDERS

    prefix, sep, rest = model.partition("/")
    return rest if sep and prefix in PROVIDERS else model


_REASONING = ("o1", "o3", "o4", "gpt-5")


def openai_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """The body parameters for ``name``, adapted as litellm adapts them for OpenAI: reasoning
    models (o1, o3, o4, gpt-5) take ``max_completion_tokens`` instead of ``max_tokens`` and only
    the default temperature (another value is dropped, as litellm's ``drop_params`` does)."""
    out = {k: v for k, v in params.items() if v is not None}
    if name.startswith(_REASONING):
        if "max_tokens" in out:
            out.setdefault("max_completion_tokens", out.pop("max_tokens"))
        if out.get("temperature", 1) != 1:
            del out["temperature"]
    return out


def _needs_key(model: str) -> bool:
    return model.partition("/")[0] == "openai"


def _retry_after(headers: Any) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        ms = headers.get("retry-after-ms")
        try:
            return max(0.0, float(ms) / 1000) if ms is not None else None
        except ValueError:
            return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _server_message(raw: bytes) -> str:
    try:
        body = json.loads(raw)
    except ValueError:
        return raw[:300].decode("utf-8", "replace")
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict) and err.get("message"):
        return str(err["message"])
    if isinstance(err, str):
        return err
    return raw[:300].decode("utf-8", "replace")


def classify_status(
    status: int,
    headers: CIMultiDictProxy[str] | dict[str, str],
    raw: bytes,
    model: str,
    api_base: str | None,
) -> CallError:
    """An HTTP error answer as promptops's error kinds (the litellm path's classification)."""
    text = _server_message(raw)
    where = f" at {api_base}" if api_base else ""
    if status == 429:
        return CallError(
            f"RateLimitError: {status}: {text}",
            transient=True,
            retry_after=_retry_after(headers),
            status=429,
            kind="rate_limit",
        )
    if status == 401:
        return CallError(
            f"AuthenticationError: {status}: {text}",
            transient=False,
            status=401,
            kind="auth",
            hint=(
                f"the server{where} rejected the API key: check {KEY_ENV} "
                "(and that it belongs to this provider and project)"
            ),
        )
    if status == 403:
        return CallError(
            f"PermissionDeniedError: {status}: {text}",
            transient=False,
            status=403,
            kind="auth",
            hint=f"the API key has no access to {model}: check its project and permissions",
        )
    if status == 404:
        close = [m for m in _close_models(model) if m != model]
        return CallError(
            f"NotFoundError: {status}: {text}",
            transient=False,
            status=404,
            kind="not_found",
            hint=(
                f"the server{where} does not know {model!r}: check the model id"
                + (f"; close known ids: {', '.join(close)}" if close else "")
                + (" and --api-base" if api_base else "")
            ),
        )
    if status == 408:
        return CallError(f"Timeout: {status}: {text}", transient=True, status=408, kind="timeout")
    if 400 <= status < 500 and status != 409:
        return CallError(
            f"BadRequestError: {status}: {text}", transient=False, status=status, kind="rejected"
        )
    return CallError(
        f"InternalServerError: {status}: {text}",
        transient=True,
        retry_after=_retry_after(headers),
        status=status,
        kind="server_error",
    )


def verifies_tls(base: str) -> bool:
    """Whether the pool for ``base`` builds a verifying TLS context: not for a plain-http
    endpoint (a local or in-cluster server), which has no TLS, and where building the CA
    context would cost ~0.3 s before the first request."""
    return not base.lower().startswith("http://")


def _close_models(model: str, n: int = 3) -> list[str]:
    """Known model ids that look like ``model`` (litellm's price file), closest first."""
    import difflib

    from .prices import known_chat_models

    prefix, _, name = model.rpartition("/")
    known = known_chat_models()
    if prefix:
        same = sorted({k.rpartition("/")[2] for k in known})
        return [f"{prefix}/{h}" for h in difflib.get_close_matches(name, same, n=n, cutoff=0.75)]
    return difflib.get_close_matches(model, known, n=n, cutoff=0.75)


def _tool_calls(message: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for tc in message.get("tool_calls") or []:
        fn = tc.get("function") if isinstance(tc, dict) else None
        name = fn.get("name") if isinstance(fn, dict) else None
        if not isinstance(name, str):
            raise TypeError("a tool call without a function name")
        assert isinstance(fn, dict)
        args = fn.get("arguments")
        out.append(
            {
                "id": tc.get("id"),
                "name": name,
                "arguments": args if isinstance(args, str) else json.dumps(args),
            }
        )
    return out


def base_url(api_base: str | None, env: tuple[str, ...], default: str, key_env: str) -> str:
    """``api_base``, else the first of the ``env`` variables set, else ``default``, without a
    trailing ``/``. One with credentials in it (``user:pw@host``) is refused: the key goes in
    ``key_env``, never in a URL a run records."""
    from urllib.parse import urlsplit

    from_env = next((v for v in (os.environ.get(name) for name in env) if v), None)
    base = (api_base or from_env or default).strip().rstrip("/")
    parts = urlsplit(base)
    if parts.username is not None or parts.password is not None:
        raise CallError(
            "the endpoint URL carries credentials (user:password@host)",
            transient=False,
            kind="auth",
            hint=f"remove them from the URL and set {key_env} instead",
        )
    return base


def json_object(raw: bytes, method: str, path: str) -> dict[str, Any]:
    """An API's answer (the batch clients') as the JSON object it must be; anything else is a
    transient ``malformed`` CallError naming the request."""
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise CallError(f"malformed response to {method} {path}", transient=True, kind="malformed")
    return data


async def send(
    session: Any, method: str, url: str, timeout: float, **kwargs: Any
) -> tuple[int, Any, bytes]:
    """One request on an aiohttp ``session`` (a pool of :meth:`NativeProvider.client`): the
    status, headers and body; a timeout or a failed connection (refused, dropped, a protocol
    error) as the transient CallError the retry loop expects. HTTP error statuses are the
    caller's to classify."""
    import asyncio

    import aiohttp

    try:
        async with session.request(
            method, url, timeout=aiohttp.ClientTimeout(total=timeout), **kwargs
        ) as response:
            return response.status, response.headers, await response.read()
    except (asyncio.TimeoutError, TimeoutError) as exc:
        raise CallError(
            f"Timeout: no answer within {timeout:g}s ({type(exc).__name__})",
            transient=True,
            kind="timeout",
        ) from None
    except aiohttp.ClientError as exc:
        raise CallError(
            f"APIConnectionError: {type(exc).__name__}: {exc}",
            transient=True,
            kind="connection",
        ) from None


def parse_reply(data: Any, model: str, latency_ms: float) -> Completion:
    """A chat-completions (or completions) answer as a Completion; CallError (malformed,
    transient) when it has not the OpenAI shape."""
    try:
        choice = data["choices"][0]
        message = choice.get("message") or {}
        text = message.get("content")
        if text is None:
            text = choice.get("text")
        tool_calls = _tool_calls(message)
        if text is None and tool_calls:
            text = ""  # a tool-call reply is an answer, not malformed
        if not isinstance(text, str):
            raise TypeError("no text in the response")
        usage = data.get("usage") or {}
    except (AttributeError, IndexError, KeyError, TypeError) as exc:
        raise CallError(f"malformed response: {exc}", transient=True, kind="malformed") from None
    tokens_in = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    tokens_out = usage.get("completion_tokens") if isinstance(usage, dict) else None
    from .prices import cost

    return Completion(
        text=text,
        model=model,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost=cost(model, tokens_in, tokens_out),
        latency_ms=latency_ms,
        finish_reason=choice.get("finish_reason"),
        tool_calls=tool_calls or None,
    )


class NativeProvider:
    """OpenAI-compatible chat completions over aiohttp (see the module docstring)."""

    cacheable = True
    default_timeout = 60.0

    def __init__(self) -> None:
        self._clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, aiohttp.ClientSession]
        ] = weakref.WeakKeyDictionary()
        self.max_connections = 100

    def prepare(self, model: str, concurrency: int | None) -> None:
        """Size the connection pools for the caller's concurrency (the provider hook)."""
        if concurrency is not None:
            self.max_connections = max(self.max_connections, concurrency)

    def client(self, base: str) -> aiohttp.ClientSession:
        """The connection pool for ``base`` on the running event loop."""
        import asyncio

        import aiohttp

        pools = self._clients.setdefault(asyncio.get_running_loop(), {})
        if base not in pools:
            connector = aiohttp.TCPConnector(limit=self.max_connections, ssl=verifies_tls(base))
            # trust_env: proxies from the environment, as the openai SDK does
            pools[base] = aiohttp.ClientSession(connector=connector, trust_env=True)
        return pools[base]

    def endpoint(self, api_base: str | None) -> str:
        """The base URL calls go to. One with credentials in it (``user:pw@host``) is refused,
        as the OpenAI client refuses it: the key goes in ``OPENAI_API_KEY``, never in a URL a
        run records."""
        return base_url(api_base, ("OPENAI_BASE_URL", "OPENAI_API_BASE"), OPENAI_URL, KEY_ENV)

    def headers(self, model: str) -> dict[str, str]:
        key = (os.environ.get(KEY_ENV) or "").strip()
        if not key:
            if _needs_key(model):
                raise CallError(
                    f"AuthenticationError: missing credentials: the api_key client option must "
                    f"be set ({KEY_ENV} is not set)",
                    transient=False,
                    status=401,
                    kind="auth",
                    hint=f"set {KEY_ENV} in the environment (in CI: a repository secret)",
                )
            return {}
        return {"Authorization": f"Bearer {key}"}

    async def post(
        self, call: Call, path: str, body: dict[str, Any], key: str | None = None
    ) -> tuple[dict[str, Any], float]:
        """POST ``body`` to the call's endpoint; the decoded answer and the latency (ms).
        ``key``: the API key to send instead of ``OPENAI_API_KEY`` (a local server's)."""
        base = self.endpoint(call.api_base)
        headers = self.headers(call.model) if key is None else {"Authorization": f"Bearer {key}"}
        start = time.perf_counter()
        status, reply_headers, raw = await send(
            self.client(base), "POST", base + path, call.timeout, json=body, headers=headers
        )
        latency = (time.perf_counter() - start) * 1000
        if status >= 400:
            raise classify_status(status, reply_headers, raw, call.model, call.api_base)
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise CallError(
                f"malformed response: not JSON ({exc})", transient=True, kind="malformed"
            ) from None
        if not isinstance(data, dict):
            raise CallError("malformed response: not an object", transient=True, kind="malformed")
        return data, latency

    async def complete(self, call: Call) -> Completion:
        name = wire_model(call.model)
        body: dict[str, Any] = {
            "model": name,
            "messages": call.messages,
            **openai_params(name, call.params),
        }
        data, latency = await self.post(call, "/chat/completions", body)
        return parse_reply(data, call.model, latency)

    async def complete_text(self, call: Call, key: str) -> Completion:
        """A completions-endpoint call (a base model): ``call.messages[0]["content"]`` is the
        prompt; ``call.model`` is sent as it is."""
        body: dict[str, Any] = {
            "model": call.model,
            "prompt": call.messages[0]["content"],
            **{k: v for k, v in call.params.items() if v is not None},
        }
        data, latency = await self.post(call, "/completions", body, key)
        return parse_reply(data, call.model, latency)

    def identity(self, model: str) -> dict[str, Any]:
        """The endpoint the environment points this model at (``OPENAI_BASE_URL``...): the same
        identity as the litellm path's, so cache keys agree across paths."""
        endpoint = endpoint_env(model)
        return {"endpoint": endpoint} if endpoint else {}

    def missing_env(self, model: str) -> list[str]:
        """``OPENAI_API_KEY`` when an ``openai/`` model has none."""
        return [KEY_ENV] if _needs_key(model) and not os.environ.get(KEY_ENV, "").strip() else []

    def supports_response_schema(self, model: str) -> bool:
        """Whether litellm's price file marks ``model`` as taking JSON-schema output."""
        from .prices import model_info

        info = model_info(model)
        return bool(info and info.get("supports_response_schema"))

    async def aclose(self) -> None:
        """Close the connection pools made on the running loop."""
        import asyncio

        pools = self._clients.pop(asyncio.get_running_loop(), {})
        for client in pools.values():
            await client.close()


@provider("openai")
def _native() -> NativeProvider:
    return NativeProvider()
