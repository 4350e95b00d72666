"""OpenAI's Files and Batch APIs on the loopback fake server: ``/v1/files`` and ``/v1/batches``.

What is implemented, in OpenAI's documented shapes (API reference, "Batch" and "Files"):

- ``POST /v1/files`` (multipart/form-data with ``purpose`` and ``file``), ``GET /v1/files/{id}``
  (the file object) and ``GET /v1/files/{id}/content`` (the bytes);
- ``POST /v1/batches`` (``input_file_id``, ``endpoint`` = ``/v1/chat/completions``,
  ``completion_window`` = ``24h``), ``GET /v1/batches/{id}``, ``POST /v1/batches/{id}/cancel``
  and ``GET /v1/batches``.

A batch moves ``validating`` -> ``in_progress`` -> ``finalizing`` -> ``completed`` on the
server's loop, ``delay`` seconds per step (:attr:`BatchService.delay`); an input file that is
not valid JSONL of ``{custom_id, method, url, body}`` lines (or repeats a ``custom_id``) makes
it ``failed`` with ``errors.data`` naming the line. Each line goes through the server's
responder as a chat call would (without the server's ``latency``; :attr:`BatchService.line_delay`
paces the lines; they are in :attr:`BatchService.lines`, not in ``server.requests``): a :class:`Reply` becomes an output-file line
``{"id", "custom_id", "response": {"status_code": 200, "request_id", "body"}, "error": null}``;
a :class:`Fault` or a responder that raises becomes an error-file line with the fault's status
and error body. :attr:`BatchService.expire_after` = N expires a batch after N lines (the rest
go to the error file with ``error.code`` ``batch_expired``, as OpenAI does); a cancel stops it
between lines (``cancelling`` -> ``cancelled``; the lines done so far are in the output file).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Any

from .outcomes import Fault, Reply, Request, as_reply

if TYPE_CHECKING:
    from .fake_openai import FakeOpenAI

ENDPOINT = "/v1/chat/completions"
_TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _error(message: str, status: int = 400, code: str | None = None) -> tuple[int, bytes, str]:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None}}
    body["error"]["code"] = code
    return status, _dumps(body), "application/json"


def parse_multipart(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    """Fields of a multipart/form-data body: name -> (filename, bytes)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=HTTP).parsebytes(head + raw)
    if not message.is_multipart():
        raise ValueError("the body is not multipart/form-data")
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        fields[name] = (part.get_filename(), payload if isinstance(payload, bytes) else b"")
    return fields


class BatchService:
    """The files and batches of one :class:`FakeOpenAI` (thread-safe accessors: :attr:`ops`,
    :attr:`files`, :attr:`batches`)."""

    def __init__(self, server: FakeOpenAI) -> None:
        self.server = server
        self.delay = 0.05  # seconds in each status before the next
        self.line_delay = 0.0  # seconds per line while in_progress
        self.expire_after: int | None = None  # expire a batch after this many lines
        self._lock = threading.Lock()
        self._ops: Counter[str] = Counter()
        self._files: dict[str, dict[str, Any]] = {}
        self._content: dict[str, bytes] = {}
        self._batches: dict[str, dict[str, Any]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._n = 0
        self._lines: list[Request] = []

    # -- introspection ------------------------------------------------------ #

    @property
    def ops(self) -> dict[str, int]:
        """Requests served per operation: ``file_upload``, ``file_get``, ``file_content``,
        ``batch_create``, ``batch_get``, ``batch_cancel``, ``batch_list`` (snapshot)."""
        with self._lock:
            return dict(self._ops)

    @property
    def batches(self) -> list[dict[str, Any]]:
        """The batch objects, in creation order (copies)."""
        with self._lock:
            return [json.loads(json.dumps(b)) for b in self._batches.values()]

    @property
    def lines(self) -> list[Request]:
        """The batch lines answered so far, as the responder saw them (snapshot)."""
        with self._lock:
            return list(self._lines)

    def file_content(self, file_id: str) -> bytes:
        with self._lock:
            return self._content[file_id]

    def _id(self, prefix: str) -> str:
        with self._lock:
            self._n += 1
            return f"{prefix}-fake{self._n:04d}"

    # -- routing ------------------------------------------------------------ #

    async def handle(
        self, method: str, route: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, bytes, str]:
        """Answer one request under ``/files`` or ``/batches``: (status, body, content type)."""
        parts = [p for p in route.split("/") if p]
        if parts[0] == "files":
            if method == "POST" and len(parts) == 1:
                return self._upload(headers, raw)
            if method == "GET" and len(parts) == 2:
                return self._file(parts[1])
            if method == "GET" and len(parts) == 3 and parts[2] == "content":
                return self._download(parts[1])
        elif parts[0] == "batches":
            if method == "POST" and len(parts) == 1:
                return self._create(raw)
            if method == "GET" and len(parts) == 1:
                self._count("batch_list")
                data = self.batches[::-1]
                return 200, _dumps({"object": "list", "data": data, "has_more": False}), ""
            if method == "GET" and len(parts) == 2:
                return self._retrieve(parts[1])
            if method == "POST" and len(parts) == 3 and parts[2] == "cancel":
                return self._cancel(parts[1])
        return _error(f"no route {method} /v1{route}", 404)

    def _count(self, op: str) -> None:
        with self._lock:
            self._ops[op] += 1

    # -- files -------------------------------------------------------------- #

    def _store_file(self, name: str, purpose: str, data: bytes) -> dict[str, Any]:
        file_id = self._id("file")
        obj = {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": name,
            "purpose": purpose,
            "status": "processed",
        }
        with self._lock:
            self._files[file_id] = obj
            self._content[file_id] = data
        return obj

    def _upload(self, headers: dict[str, str], raw: bytes) -> tuple[int, bytes, str]:
        self._count("file_upload")
        ctype = headers.get("content-type", "")
        if not ctype.lower().startswith("multipart/form-data"):
            return _error("uploads are multipart/form-data")
        try:
            fields = parse_multipart(ctype, raw)
        except ValueError as e:
            return _error(str(e))
        purpose = fields.get("purpose", (None, b""))[1].decode("utf-8", "replace")
        if purpose != "batch":
            return _error(f"purpose {purpose!r}: this server takes 'batch' files only")
        if "file" not in fields:
            return _error("missing the 'file' field")
        filename, data = fields["file"]
        return 200, _dumps(self._store_file(filename or "upload.jsonl", purpose, data)), ""

    def _file(self, file_id: str) -> tuple[int, bytes, str]:
        self._count("file_get")
        with self._lock:
            obj = self._files.get(file_id)
        if obj is None:
            return _error(f"No such File object: {file_id}", 404)
        return 200, _dumps(obj), ""

    def _download(self, file_id: str) -> tuple[int, bytes, str]:
        self._count("file_content")
        with self._lock:
            data = self._content.get(file_id)
        if data is None:
            return _error(f"No such File object: {file_id}", 404)
        return 200, data, "application/octet-stream"

    # -- batches ------------------------------------------------------------ #

    def _create(self, raw: bytes) -> tuple[int, bytes, str]:
        self._count("batch_create")
        try:
            body = json.loads(raw)
        except ValueError:
            return _error("body is not JSON")
        if not isinstance(body, dict):
            return _error("body is not a JSON object")
        file_id = body.get("input_file_id")
        with self._lock:
            known = isinstance(file_id, str) and file_id in self._files
        if not known:
            return _error(f"No such File object: {file_id}", 404)
        if body.get("endpoint") != ENDPOINT:
            return _error(f"endpoint {body.get('endpoint')!r}: only {ENDPOINT} here")
        if body.get("completion_window") != "24h":
            return _error("completion_window: only '24h' is supported")
        now = int(time.time())
        batch: dict[str, Any] = {
            "id": self._id("batch"),
            "object": "batch",
            "endpoint": ENDPOINT,
            "errors": None,
            "input_file_id": file_id,
            "completion_window": "24h",
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": now,
            "in_progress_at": None,
            "expires_at": now + 86400,
            "finalizing_at": None,
            "completed_at": None,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": None,
            "cancelled_at": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "metadata": body.get("metadata") if isinstance(body.get("metadata"), dict) else None,
        }
        with self._lock:
            self._batches[batch["id"]] = batch
            snapshot = json.loads(json.dumps(batch))
        task = asyncio.get_running_loop().create_task(self._process(batch["id"]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return 200, _dumps(snapshot), ""

    def _retrieve(self, batch_id: str) -> tuple[int, bytes, str]:
        self._count("batch_get")
        with self._lock:
            batch = self._batches.get(batch_id)
            snapshot = _dumps(batch) if batch is not None else None
        if snapshot is None:
            return _error(f"No such Batch object: {batch_id}", 404)
        return 200, snapshot, ""

    def _cancel(self, batch_id: str) -> tuple[int, bytes, str]:
        self._count("batch_cancel")
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is None:
                return _error(f"No such Batch object: {batch_id}", 404)
            if batch["status"] in _TERMINAL:
                return _error(f"Cannot cancel a batch with status {batch['status']!r}", 409)
            if batch["status"] != "cancelling":
                batch["status"] = "cancelling"
                batch["cancelling_at"] = int(time.time())
            snapshot = _dumps(batch)
        return 200, snapshot, ""

    def _set(self, batch_id: str, **fields: Any) -> dict[str, Any]:
        with self._lock:
            batch = self._batches[batch_id]
            batch.update(fields)
            return batch

    def _status(self, batch_id: str) -> str:
        with self._lock:
            return str(self._batches[batch_id]["status"])

    async def _process(self, batch_id: str) -> None:
        await asyncio.sleep(self.delay)
        with self._lock:
            file_id = self._batches[batch_id]["input_file_id"]
            data = self._content[file_id]
        lines, errors = _parse_input(data)
        if errors:
            self._set(
                batch_id,
                status="failed",
                failed_at=int(time.time()),
                errors={"object": "list", "data": errors},
            )
            return
        if self._status(batch_id) == "cancelling":
            self._set(batch_id, status="cancelled", cancelled_at=int(time.time()))
            return
        self._set(
            batch_id,
            status="in_progress",
            in_progress_at=int(time.time()),
            request_counts={"total": len(lines), "completed": 0, "failed": 0},
        )
        await asyncio.sleep(self.delay)
        out: list[bytes] = []
        err: list[bytes] = []
        end = "completed"
        for n, line in enumerate(lines):
            if self._status(batch_id) == "cancelling":
                end = "cancelled"
                break
            if self.expire_after is not None and n >= self.expire_after:
                end = "expired"
                for rest in lines[n:]:
                    err.append(_expired_line(self._id("batch_req"), rest["custom_id"]))
                break
            ok, text = self._answer(line)
            (out if ok else err).append(text)
            with self._lock:
                counts = self._batches[batch_id]["request_counts"]
                counts["completed" if ok else "failed"] += 1
            if self.line_delay:
                await asyncio.sleep(self.line_delay)
            elif n % 64 == 63:
                await asyncio.sleep(0)
        if end == "completed":
            self._set(batch_id, status="finalizing", finalizing_at=int(time.time()))
            await asyncio.sleep(self.delay)
        files: dict[str, Any] = {}
        if out:
            files["output_file_id"] = self._store_file(
                f"{batch_id}_output.jsonl", "batch_output", b"".join(out)
            )["id"]
        if err:
            files["error_file_id"] = self._store_file(
                f"{batch_id}_error.jsonl", "batch_output", b"".join(err)
            )["id"]
        self._set(batch_id, status=end, **{f"{end}_at": int(time.time())}, **files)

    def _answer(self, line: dict[str, Any]) -> tuple[bool, bytes]:
        """One input line through the server's responder: (succeeded, its output line)."""
        server = self.server
        body = line["body"]
        messages = body.get("messages")
        request = Request(
            index=server.next_index(),
            kind="chat",
            method="POST",
            path=ENDPOINT,
            headers={},
            body=body,
            model=body.get("model") if isinstance(body.get("model"), str) else "",
            messages=[m for m in messages if isinstance(m, dict)]
            if isinstance(messages, list)
            else [],
            received_at=time.monotonic(),
        )
        request_id = f"req_fake_batch_{request.index}"
        with self._lock:
            self._lines.append(request)
        try:
            outcome = as_reply(server.responder(request))
        except Exception as exc:  # a responder bug: that line fails, as a 500 would
            outcome = Fault.http_error(500, f"fake server responder raised {exc!r}")
        head = {"id": self._id("batch_req"), "custom_id": line["custom_id"]}
        if isinstance(outcome, Reply):
            payload = server.completion_payload(request, outcome)
            response = {"status_code": 200, "request_id": request_id, "body": payload}
            return True, _dumps({**head, "response": response, "error": None}) + b"\n"
        status = outcome.status if outcome.kind == "http_error" else 500
        message = outcome.message or f"fake fault: {outcome.kind}"
        error_body = {"error": {"message": message, "type": outcome.error_type, "code": status}}
        response = {"status_code": status, "request_id": request_id, "body": error_body}
        return False, _dumps({**head, "response": response, "error": None}) + b"\n"


def _expired_line(line_id: str, custom_id: str) -> bytes:
    error = {
        "code": "batch_expired",
        "message": "This request could not be executed before the completion window expired.",
    }
    return _dumps({"id": line_id, "custom_id": custom_id, "response": None, "error": error}) + b"\n"


def _parse_input(data: bytes) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The input file's lines, or the validation errors that fail the batch."""
    lines: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()

    def fail(n: int, code: str, message: str, param: str | None = None) -> None:
        errors.append({"code": code, "message": message, "param": param, "line": n})

    for n, raw in enumerate(data.splitlines(), 1):
        if not raw.strip():
            fail(n, "invalid_json_line", "blank line")
            continue
        try:
            obj = json.loads(raw)
        except ValueError:
            fail(n, "invalid_json_line", "This line is not parseable as valid JSON.")
            continue
        if not isinstance(obj, dict):
            fail(n, "invalid_json_line", "This line is not a JSON object.")
            continue
        custom_id = obj.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            fail(n, "missing_required_parameter", "custom_id is required", "custom_id")
        elif custom_id in seen:
            fail(n, "duplicate_custom_id", f"custom_id {custom_id!r} is repeated", "custom_id")
        else:
            seen.add(custom_id)
        if obj.get("url") != ENDPOINT:
            fail(n, "invalid_url", f"url must be {ENDPOINT}", "url")
        if obj.get("method") != "POST":
            fail(n, "invalid_method", "method must be POST", "method")
        if not isinstance(obj.get("body"), dict):
            fail(n, "missing_required_parameter", "body is required", "body")
        if not errors:
            lines.append(obj)
    if not lines and not errors:
        errors.append({"code": "empty_file", "message": "The input file is empty.", "line": None})
    return lines, errors
