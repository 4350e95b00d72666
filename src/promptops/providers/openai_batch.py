"""OpenAI's Batch API over the native path's connection pools: upload a JSONL input file
(``POST /files``, purpose ``batch``), create a batch over it (``POST /batches``), retrieve and
cancel it, download its output and error files (``GET /files/{id}/content``).

Any OpenAI-compatible server that implements ``/v1/files`` and ``/v1/batches`` works (the
loopback test server does: :mod:`promptops.testing.fake_batches`). Errors are
:class:`~promptops.providers.base.CallError` classified as the native path classifies a chat
call's (``classify_status``), so a rejected key says which variable to set.
"""

from __future__ import annotations

import builtins
import json
from typing import Any

from .base import CallError, Completion
from .native import NativeProvider, classify_status, openai_params, parse_reply, wire_model
from .prices import batch_cost

ENDPOINT = "/v1/chat/completions"
MAX_REQUESTS = 50_000  # OpenAI's documented limits per batch input file
MAX_BYTES = 200 * 1024 * 1024
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


def request_line(custom_id: str, model: str, messages: Any, params: dict[str, Any]) -> bytes:
    """One input-file line: the chat-completions body the native path would POST."""
    name = wire_model(model)
    body = {"model": name, "messages": messages, **openai_params(name, params)}
    line = {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body}
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def parse_result(
    line: dict[str, Any], model: str, api_base: str | None
) -> Completion | CallError | None:
    """An output- or error-file line as the answer it carries: a Completion priced at the
    batch rate, the CallError of a failed request, or None for a request the batch never ran
    (``batch_expired``, ``batch_cancelled``: it stays to be asked again)."""
    response = line.get("response")
    if not isinstance(response, dict):
        return None
    status = response.get("status_code")
    body = response.get("body")
    if status == 200 and isinstance(body, dict):
        try:
            comp = parse_reply(body, model, 0.0)
        except CallError as e:
            return e
        comp.cost = batch_cost(model, comp.tokens_in, comp.tokens_out)
        return comp
    raw = json.dumps(body).encode() if body is not None else b""
    return classify_status(
        int(status) if isinstance(status, int) else 500, {}, raw, model, api_base
    )


class BatchClient:
    """The Batch API of one endpoint (``api_base``, else ``OPENAI_BASE_URL``, else OpenAI's),
    with the key the native path would send for ``model``."""

    def __init__(self, model: str, api_base: str | None, timeout: float = 120.0) -> None:
        from .base import NATIVE, _instance

        prov = _instance(NATIVE)
        assert isinstance(prov, NativeProvider)
        self.prov = prov
        self.model = model
        self.api_base = api_base
        self.base = prov.endpoint(api_base)
        self.timeout = timeout

    async def _request(
        self, method: str, path: str, *, json_body: Any = None, data: Any = None
    ) -> bytes:
        from .native import send

        status, headers, raw = await send(
            self.prov.client(self.base),
            method,
            self.base + path,
            self.timeout,
            json=json_body,
            data=data,
            headers=self.prov.headers(self.model),
        )
        if status >= 400:
            raise classify_status(status, headers, raw, self.model, self.api_base)
        return raw

    async def _json(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        from .native import json_object

        return json_object(await self._request(method, path, **kw), method, path)

    async def upload(self, content: bytes, filename: str) -> str:
        """Upload a batch input file; its id."""
        import aiohttp

        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        form.add_field("file", content, filename=filename, content_type="application/jsonl")
        data = await self._json("POST", "/files", data=form)
        return str(data["id"])

    async def create(self, input_file_id: str, metadata: dict[str, str]) -> dict[str, Any]:
        return await self._json(
            "POST",
            "/batches",
            json_body={
                "input_file_id": input_file_id,
                "endpoint": ENDPOINT,
                "completion_window": "24h",
                "metadata": metadata,
            },
        )

    async def retrieve(self, batch_id: str) -> dict[str, Any]:
        return await self._json("GET", f"/batches/{batch_id}")

    async def list(self, limit: int = 100) -> list[dict[str, Any]]:
        """The most recent batches (one page)."""
        data = await self._json("GET", f"/batches?limit={limit}")
        items = data.get("data")
        return [b for b in items if isinstance(b, dict)] if isinstance(items, list) else []

    async def cancel(self, batch_id: str) -> dict[str, Any]:
        return await self._json("POST", f"/batches/{batch_id}/cancel")

    async def content(self, file_id: str) -> bytes:
        return await self._request("GET", f"/files/{file_id}/content")

    # -- the interface BatchPhase uses (shared with anthropic_batch) ------------- #

    @property
    def max_requests(self) -> int:
        return MAX_REQUESTS

    @property
    def max_bytes(self) -> int:
        return MAX_BYTES

    def line(self, custom_id: str, messages: Any, params: dict[str, Any]) -> bytes:
        return request_line(custom_id, self.model, messages, params)

    def parse(self, line: dict[str, Any]) -> Completion | CallError | None:
        return parse_result(line, self.model, self.api_base)

    async def submit(
        self, lines: builtins.list[bytes], run_id: str
    ) -> tuple[dict[str, Any], str | None]:
        """Upload the lines as an input file and create a batch over it tagged with the run
        id; (the batch, its input file id)."""
        file_id = await self.upload(b"".join(lines), f"promptops-{run_id}.jsonl")
        return await self.create(file_id, {"promptops_run": run_id}), file_id

    async def results(self, info: dict[str, Any], errors: bool) -> builtins.list[dict[str, Any]]:
        """The lines of the batch's output file (and, with ``errors``, its error file)."""
        files = [info.get("output_file_id")] + ([info.get("error_file_id")] if errors else [])
        out: builtins.list[dict[str, Any]] = []
        for file_id in files:
            if not isinstance(file_id, str):
                continue
            for text in (await self.content(file_id)).splitlines():
                try:
                    line = json.loads(text)
                except ValueError:
                    continue
                if isinstance(line, dict):
                    out.append(line)
        return out
