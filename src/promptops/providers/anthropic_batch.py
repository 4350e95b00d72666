"""Anthropic's Message Batches API for ``anthropic/`` models under ``eval --batch``.

Requests go inline (``POST /v1/messages/batches`` with ``{requests: [{custom_id, params}]}``;
no file upload); a batch is read with ``GET /v1/messages/batches/{id}``, its answers with
``GET`` on its ``results_url`` (JSONL of ``{custom_id, result}``), and cancelled with
``POST .../cancel``. Headers: ``x-api-key`` (``ANTHROPIC_API_KEY``, never stored or printed)
and ``anthropic-version: 2023-06-01``.

Each request's ``params`` is the Messages API body litellm would send for the same call: it
comes from litellm's own ``get_optional_params`` and ``AnthropicConfig.transform_request``
(system split out, ``max_tokens`` defaulted, tools in Anthropic's format, images), imported
only here, so only under ``--batch`` for an Anthropic model. The batch object is reported in
the OpenAI client's vocabulary (``status``, ``request_counts.total/completed/failed``) so
:class:`~promptops.eval.batch.BatchPhase` treats both providers alike.
"""

from __future__ import annotations

import json
import os
from typing import Any

from .base import CallError, Completion
from .native import classify_status
from .prices import batch_cost

MAX_REQUESTS = 100_000  # Anthropic's documented limits per batch
MAX_BYTES = 256 * 1024 * 1024
KEY_ENV = "ANTHROPIC_API_KEY"
VERSION = "2023-06-01"
DEFAULT_BASE = "https://api.anthropic.com"
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


def wire_model(model: str) -> str:
    return model.split("/", 1)[1] if model.startswith("anthropic/") else model


def request_params(model: str, messages: list[dict[str, Any]], params: dict[str, Any]) -> Any:
    """The Messages API body litellm's Anthropic path sends for this call (with ``model``)."""
    from .litellm_provider import anthropic_body

    return anthropic_body(wire_model(model), messages, params)


def request_line(
    custom_id: str, model: str, messages: list[dict[str, Any]], params: dict[str, Any]
) -> bytes:
    """One entry of ``requests`` as JSON (its size counts toward the 256 MB limit)."""
    entry = {"custom_id": custom_id, "params": request_params(model, messages, params)}
    return json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def completion(message: dict[str, Any], model: str) -> Completion:
    """A Messages API reply as a Completion (text, tool calls, usage, finish reason) at the
    batch price. Raises CallError(kind="malformed") for a reply that is not one."""
    from .litellm_provider import finish_reason

    content = message.get("content")
    usage = message.get("usage")
    if not isinstance(content, list) or not isinstance(usage, dict):
        raise CallError("malformed response: no content or usage", transient=True, kind="malformed")
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif block.get("type") == "tool_use":
            calls.append(
                {
                    "id": block.get("id"),
                    "name": str(block.get("name")),
                    "arguments": json.dumps(block.get("input") or {}),
                }
            )

    def count(key: str) -> int:
        value = usage.get(key)
        return value if isinstance(value, int) else 0

    tokens_in = (
        count("input_tokens")
        + count("cache_read_input_tokens")
        + count("cache_creation_input_tokens")
    )
    tokens_out = count("output_tokens")
    stop = message.get("stop_reason")
    return Completion(
        text="".join(texts),
        model=model,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost=batch_cost(model, tokens_in, tokens_out),
        finish_reason=finish_reason(stop) if isinstance(stop, str) else None,
        tool_calls=calls or None,
    )


def parse_result(
    line: dict[str, Any], model: str, api_base: str | None
) -> Completion | CallError | None:
    """A results line as the answer it carries: a Completion, the CallError of an errored
    request, or None for one the batch never ran (``canceled``, ``expired``: asked again)."""
    result = line.get("result")
    if not isinstance(result, dict):
        return None
    kind = result.get("type")
    if kind == "succeeded" and isinstance(result.get("message"), dict):
        try:
            return completion(result["message"], model)
        except CallError as e:
            return e
    if kind == "errored":
        body = result.get("error")
        inner = body.get("error") if isinstance(body, dict) else None
        etype = inner.get("type") if isinstance(inner, dict) else None
        status = _ERROR_STATUS.get(str(etype), 500)
        return _classify(status, json.dumps(body).encode(), model, api_base)
    return None


def _classify(status: int, raw: bytes, model: str, api_base: str | None) -> CallError:
    err = classify_status(status, {}, raw, model, api_base)
    if err.kind == "auth" and status == 401:
        err.hint = f"the server rejected the API key: check {KEY_ENV}"
    return err


def normalize(batch: dict[str, Any]) -> dict[str, Any]:
    """The batch object with ``status`` and ``request_counts`` in the OpenAI client's terms:
    an ended batch is ``cancelled`` if any request was canceled, else ``expired`` if any
    expired, else ``completed``."""
    counts = batch.get("request_counts")
    c = (
        {k: int(v) for k, v in counts.items() if isinstance(v, int)}
        if isinstance(counts, dict)
        else {}
    )
    raw = batch.get("processing_status")
    if raw == "ended":
        status = (
            "cancelled" if c.get("canceled") else "expired" if c.get("expired") else "completed"
        )
    elif raw == "canceling":
        status = "cancelling"
    else:
        status = "in_progress"
    out = dict(batch)
    out["status"] = status
    out["request_counts"] = {
        "total": sum(
            c.get(k, 0) for k in ("processing", "succeeded", "errored", "canceled", "expired")
        ),
        "completed": c.get("succeeded", 0),
        "failed": c.get("errored", 0) + c.get("canceled", 0) + c.get("expired", 0),
    }
    return out


def endpoint(api_base: str | None) -> str:
    """The API root (``api_base``, else ``ANTHROPIC_API_BASE``/``ANTHROPIC_BASE_URL``, else
    Anthropic's), without a trailing ``/v1`` or ``/v1/messages``."""
    from .native import base_url

    base = base_url(api_base, ("ANTHROPIC_API_BASE", "ANTHROPIC_BASE_URL"), DEFAULT_BASE, KEY_ENV)
    for suffix in ("/v1/messages", "/v1"):
        base = base.removesuffix(suffix)
    return base


class AnthropicBatchClient:
    """The Message Batches API of one endpoint, with the key from ``ANTHROPIC_API_KEY``."""

    def __init__(self, model: str, api_base: str | None, timeout: float = 120.0) -> None:
        self.model = model
        self.api_base = api_base
        self.base = endpoint(api_base)
        self.timeout = timeout

    @property
    def max_requests(self) -> int:
        return MAX_REQUESTS

    @property
    def max_bytes(self) -> int:
        # the lines plus the envelope and a comma between each two stay within the limit
        return MAX_BYTES - MAX_REQUESTS - 64

    def line(self, custom_id: str, messages: list[dict[str, Any]], params: dict[str, Any]) -> bytes:
        return request_line(custom_id, self.model, messages, params)

    def parse(self, line: dict[str, Any]) -> Completion | CallError | None:
        return parse_result(line, self.model, self.api_base)

    def _headers(self) -> dict[str, str]:
        key = (os.environ.get(KEY_ENV) or "").strip()
        if not key:
            raise CallError(
                f"AuthenticationError: missing credentials: {KEY_ENV} is not set",
                transient=False,
                status=401,
                kind="auth",
                hint=f"set {KEY_ENV} in the environment (in CI: a repository secret)",
            )
        return {"x-api-key": key, "anthropic-version": VERSION, "content-type": "application/json"}

    async def _request(self, method: str, url: str, body: bytes | None = None) -> bytes:
        from .base import NATIVE, _instance
        from .native import NativeProvider, send

        prov = _instance(NATIVE)
        assert isinstance(prov, NativeProvider)
        status, _, raw = await send(
            prov.client(self.base), method, url, self.timeout, data=body, headers=self._headers()
        )
        if status >= 400:
            raise _classify(status, raw, self.model, self.api_base)
        return raw

    async def _json(self, method: str, path: str, body: bytes | None = None) -> dict[str, Any]:
        from .native import json_object

        return json_object(await self._request(method, self.base + path, body), method, path)

    async def submit(self, lines: list[bytes], run_id: str) -> tuple[dict[str, Any], str | None]:
        """Create a batch of these requests (from :meth:`line`); (the batch, no input file).
        Anthropic batches carry no metadata, so ``run_id`` is not sent."""
        body = b'{"requests":[' + b",".join(lines) + b"]}"
        return normalize(await self._json("POST", "/v1/messages/batches", body)), None

    async def retrieve(self, batch_id: str) -> dict[str, Any]:
        return normalize(await self._json("GET", f"/v1/messages/batches/{batch_id}"))

    async def cancel(self, batch_id: str) -> dict[str, Any]:
        return normalize(await self._json("POST", f"/v1/messages/batches/{batch_id}/cancel"))

    async def results(self, info: dict[str, Any], errors: bool) -> list[dict[str, Any]]:
        """The lines of an ended batch's results (all of them: Anthropic has one file)."""
        url = info.get("results_url")
        if not isinstance(url, str):
            return []
        if not url.startswith(self.base + "/"):  # the key goes only where the batch lives
            url = self.base + "/v1/messages/batches/" + str(info["id"]) + "/results"
        raw = await self._request("GET", url)
        out: list[dict[str, Any]] = []
        for text in raw.splitlines():
            try:
                line = json.loads(text)
            except ValueError:
                continue
            if isinstance(line, dict):
                out.append(line)
        return out
