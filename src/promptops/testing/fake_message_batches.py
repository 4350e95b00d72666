"""Anthropic's Message Batches API on the loopback fake server: ``/v1/messages/batches``.

In Anthropic's documented shapes (API reference, "Message Batches"):

- ``POST /v1/messages/batches`` with ``{"requests": [{"custom_id", "params"}]}``: the batch
  object (``type`` ``message_batch``, ``processing_status`` ``in_progress``,
  ``request_counts`` with ``processing``/``succeeded``/``errored``/``canceled``/``expired``,
  ``results_url`` null until it ends). A ``custom_id`` not matching ``^[a-zA-Z0-9_-]{1,64}$``,
  a repeated one, or a request without ``params`` rejects the whole batch (400
  ``invalid_request_error``), as Anthropic does;
- ``GET /v1/messages/batches/{id}``, ``GET /v1/messages/batches`` (``data``, newest first),
  ``POST /v1/messages/batches/{id}/cancel`` (``canceling``, then ``ended`` with the rest
  ``canceled``) and ``GET /v1/messages/batches/{id}/results`` (JSONL of
  ``{"custom_id", "result": {"type": succeeded|errored|canceled|expired, ...}}``, only once
  ended).

Every request needs ``x-api-key`` (else 401 ``authentication_error``) and
``anthropic-version`` (else 400). Each request's ``params`` goes through the server's
responder as a chat call would (its ``messages`` with ``system`` prepended as a system
message; :attr:`MessageBatchService.lines`): a :class:`Reply` is a ``succeeded`` result with a
Messages API ``message`` (text and ``tool_use`` blocks, ``usage``, ``stop_reason``); a
:class:`Fault` is ``errored`` with Anthropic's error type for its status; ``params`` without
``max_tokens`` is ``errored`` (``invalid_request_error``). :attr:`expire_after` = N expires the
batch after N requests (the rest ``expired``); :attr:`line_delay` paces the requests.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .outcomes import Fault, Reply, Request, as_reply, count_tokens

if TYPE_CHECKING:
    from .fake_openai import FakeOpenAI

CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _error_body(status: int, message: str) -> dict[str, Any]:
    etype = _ERROR_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": etype, "message": message}}


def _error(status: int, message: str) -> tuple[int, bytes, str]:
    return status, _dumps(_error_body(status, message)), "application/json"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class MessageBatchService:
    """The message batches of one :class:`FakeOpenAI` (thread-safe accessors)."""

    def __init__(self, server: FakeOpenAI) -> None:
        self.server = server
        self.delay = 0.05  # seconds before a batch starts answering, and before it ends
        self.line_delay = 0.0
        self.expire_after: int | None = None
        self._lock = threading.Lock()
        self._ops: Counter[str] = Counter()
        self._batches: dict[str, dict[str, Any]] = {}
        self._requests: dict[str, list[dict[str, Any]]] = {}
        self._results: dict[str, list[bytes]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._lines: list[Request] = []
        self._keys: list[str] = []
        self._n = 0

    @property
    def ops(self) -> dict[str, int]:
        """Requests served per operation: ``create``, ``get``, ``list``, ``cancel``,
        ``results`` (snapshot)."""
        with self._lock:
            return dict(self._ops)

    @property
    def batches(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(json.dumps(b)) for b in self._batches.values()]

    @property
    def lines(self) -> list[Request]:
        """The requests answered so far, as the responder saw them."""
        with self._lock:
            return list(self._lines)

    @property
    def api_keys(self) -> list[str]:
        """The ``x-api-key`` of each request served (a test server: test keys only)."""
        with self._lock:
            return list(self._keys)

    def submitted(self, batch_id: str) -> list[dict[str, Any]]:
        """The ``requests`` a batch was created with."""
        with self._lock:
            return json.loads(json.dumps(self._requests[batch_id]))  # type: ignore[no-any-return]

    # -- routing ------------------------------------------------------------ #

    async def handle(
        self, method: str, route: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, bytes, str]:
        """Answer one request under ``/messages/batches``: (status, body, content type)."""
        parts = [p for p in route.split("/") if p][2:]  # after "messages", "batches"
        key = headers.get("x-api-key", "")
        with self._lock:
            self._keys.append(key)
        if not key:
            return _error(401, "x-api-key header is required")
        if not headers.get("anthropic-version"):
            return _error(400, "anthropic-version: header is required")
        if method == "POST" and not parts:
            return self._create(raw)
        if method == "GET" and not parts:
            self._count("list")
            data = self.batches[::-1]
            first = data[0]["id"] if data else None
            last = data[-1]["id"] if data else None
            body = {"data": data, "has_more": False, "first_id": first, "last_id": last}
            return 200, _dumps(body), ""
        if method == "GET" and len(parts) == 1:
            self._count("get")
            with self._lock:
                batch = self._batches.get(parts[0])
                snapshot = _dumps(batch) if batch is not None else None
            if snapshot is None:
                return _error(404, f"message batch {parts[0]} not found")
            return 200, snapshot, ""
        if method == "POST" and len(parts) == 2 and parts[1] == "cancel":
            return self._cancel(parts[0])
        if method == "GET" and len(parts) == 2 and parts[1] == "results":
            return self._download(parts[0])
        return _error(404, f"no route {method} /v1{route}")

    def _count(self, op: str) -> None:
        with self._lock:
            self._ops[op] += 1

    def _create(self, raw: bytes) -> tuple[int, bytes, str]:
        self._count("create")
        try:
            body = json.loads(raw)
        except ValueError:
            return _error(400, "body is not JSON")
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            return _error(400, "requests: a non-empty list is required")
        seen: set[str] = set()
        for i, r in enumerate(requests):
            cid = r.get("custom_id") if isinstance(r, dict) else None
            if not isinstance(cid, str) or not CUSTOM_ID.match(cid):
                return _error(400, f"requests.{i}.custom_id: must match ^[a-zA-Z0-9_-]{{1,64}}$")
            if cid in seen:
                return _error(400, f"requests.{i}.custom_id: {cid!r} is repeated")
            seen.add(cid)
            if not isinstance(r.get("params"), dict):
                return _error(400, f"requests.{i}.params: Field required")
        with self._lock:
            self._n += 1
            batch_id = f"msgbatch_fake{self._n:04d}"
            batch: dict[str, Any] = {
                "id": batch_id,
                "type": "message_batch",
                "processing_status": "in_progress",
                "request_counts": {
                    "processing": len(requests),
                    "succeeded": 0,
                    "errored": 0,
                    "canceled": 0,
                    "expired": 0,
                },
                "ended_at": None,
                "created_at": _now(),
                "expires_at": _now(),
                "archived_at": None,
                "cancel_initiated_at": None,
                "results_url": None,
            }
            self._batches[batch_id] = batch
            self._requests[batch_id] = requests
            snapshot = _dumps(batch)
        task = asyncio.get_running_loop().create_task(self._process(batch_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return 200, snapshot, ""

    def _cancel(self, batch_id: str) -> tuple[int, bytes, str]:
        self._count("cancel")
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is None:
                return _error(404, f"message batch {batch_id} not found")
            if batch["processing_status"] == "ended":
                return _error(400, "the batch has ended and cannot be canceled")
            batch["processing_status"] = "canceling"
            batch["cancel_initiated_at"] = _now()
            snapshot = _dumps(batch)
        return 200, snapshot, ""

    def _download(self, batch_id: str) -> tuple[int, bytes, str]:
        self._count("results")
        with self._lock:
            batch = self._batches.get(batch_id)
            results = self._results.get(batch_id)
        if batch is None:
            return _error(404, f"message batch {batch_id} not found")
        if results is None:
            return _error(400, "results are available once the batch has ended")
        return 200, b"".join(results), "application/binary"

    def _tally(self, batch_id: str, kind: str) -> None:
        with self._lock:
            counts = self._batches[batch_id]["request_counts"]
            counts["processing"] -= 1
            counts[kind] += 1

    async def _process(self, batch_id: str) -> None:
        await asyncio.sleep(self.delay)
        with self._lock:
            requests = self._requests[batch_id]
        out: list[bytes] = []
        for n, r in enumerate(requests):
            with self._lock:
                canceling = self._batches[batch_id]["processing_status"] == "canceling"
            kind = "canceled" if canceling else None
            if kind is None and self.expire_after is not None and n >= self.expire_after:
                kind = "expired"
            if kind is not None:
                result: dict[str, Any] = {"type": kind}
            else:
                result = self._answer(r["params"])
                if self.line_delay:
                    await asyncio.sleep(self.line_delay)
            self._tally(batch_id, str(result["type"]))
            out.append(_dumps({"custom_id": r["custom_id"], "result": result}) + b"\n")
        await asyncio.sleep(self.delay)
        with self._lock:
            self._results[batch_id] = out
            self._batches[batch_id].update(
                processing_status="ended",
                ended_at=_now(),
                results_url=f"{self.server.base_url}/v1/messages/batches/{batch_id}/results",
            )

    def _answer(self, params: dict[str, Any]) -> dict[str, Any]:
        """One request's ``params`` through the responder: its ``result`` object."""
        server = self.server
        messages = [m for m in params.get("messages") or [] if isinstance(m, dict)]
        system = params.get("system")
        if system:
            messages = [{"role": "system", "content": system}, *messages]
        request = Request(
            index=server.next_index(),
            kind="chat",
            method="POST",
            path="/v1/messages",
            headers={},
            body=params,
            model=str(params.get("model") or ""),
            messages=messages,
            received_at=time.monotonic(),
        )
        with self._lock:
            self._lines.append(request)
        if not isinstance(params.get("max_tokens"), int):
            return {"type": "errored", "error": _error_body(400, "max_tokens: Field required")}
        try:
            outcome = as_reply(server.responder(request))
        except Exception as exc:  # a responder bug: that request fails, as a 500 would
            outcome = Fault.http_error(500, f"fake server responder raised {exc!r}")
        if not isinstance(outcome, Reply):
            status = outcome.status if outcome.kind == "http_error" else 500
            message = outcome.message or f"fake fault: {outcome.kind}"
            return {"type": "errored", "error": _error_body(status, message)}
        content: list[dict[str, Any]] = []
        if outcome.text:
            content.append({"type": "text", "text": outcome.text})
        for i, (name, arguments) in enumerate(outcome.tool_calls):
            content.append(
                {
                    "type": "tool_use",
                    "id": f"toolu_fake_{request.index}_{i}",
                    "name": name,
                    "input": json.loads(arguments),
                }
            )
        stop = "tool_use" if outcome.tool_calls else _STOP.get(outcome.finish_reason, "end_turn")
        usage = {
            "input_tokens": outcome.prompt_tokens
            if outcome.prompt_tokens is not None
            else request.prompt_tokens,
            "output_tokens": outcome.completion_tokens
            if outcome.completion_tokens is not None
            else count_tokens(outcome.text),
        }
        reply = {
            "id": f"msg_fake_{request.index}",
            "type": "message",
            "role": "assistant",
            "model": outcome.model or request.model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": usage,
        }
        return {"type": "succeeded", "message": reply}
