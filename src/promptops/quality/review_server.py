"""``promptops review``'s web server: the standard library's ``http.server`` on 127.0.0.1.

Every request must carry the session's random token (``?token=`` in the URL it prints, or the
``X-Review-Token`` header the page sends); without it the answer is 403 and nothing else.
The Host header must name the loopback address (a DNS-rebinding page cannot borrow the
browser). Pages are served with a nonce Content-Security-Policy, ``no-referrer`` (the token
stays out of Referer headers) and ``no-store``.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..errors import PromptOpsError
from .review import ReviewSession
from .review_page import PAGE

MAX_BODY = 1 << 20


class ReviewServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, session: ReviewSession, port: int = 0, token: str | None = None) -> None:
        self.session = session
        self.token = token or secrets.token_urlsafe(24)
        super().__init__(("127.0.0.1", port), _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/?token={self.token}"

    def start(self) -> threading.Thread:
        """Serve in a daemon thread (tests, scripts); ``shutdown()`` stops it."""
        thread = threading.Thread(target=self.serve_forever, name="promptops-review", daemon=True)
        thread.start()
        return thread


class _Handler(BaseHTTPRequestHandler):
    server: ReviewServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # request lines hold the token: never logged

    def _send(
        self, code: int, body: bytes, ctype: str, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, code: int, data: Any) -> None:
        self._send(code, json.dumps(data).encode("utf-8"), "application/json")

    def _allowed(self) -> bool:
        host = (self.headers.get("Host") or "").lower()
        port = self.server.port
        if host not in (f"127.0.0.1:{port}", f"localhost:{port}"):
            return False
        given = self.headers.get("X-Review-Token")
        if given is None:
            given = (parse_qs(urlsplit(self.path).query).get("token") or [""])[0]
        return hmac.compare_digest(given.encode("utf-8"), self.server.token.encode("utf-8"))

    def _refuse(self) -> None:
        self._json(403, {"error": "forbidden: open the URL promptops review printed"})

    def do_GET(self) -> None:
        if not self._allowed():
            return self._refuse()
        url = urlsplit(self.path)
        if url.path == "/":
            nonce = secrets.token_urlsafe(16)
            csp = (
                f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
                "connect-src 'self'; img-src data:; base-uri 'none'; "
                "form-action 'none'; frame-ancestors 'none'"
            )
            body = PAGE.replace("__NONCE__", nonce).encode("utf-8")
            return self._send(
                200, body, "text/html; charset=utf-8", {"Content-Security-Policy": csp}
            )
        if url.path == "/api/items":
            q = parse_qs(url.query)
            try:
                offset = int((q.get("offset") or ["0"])[0])
                limit = int((q.get("limit") or ["50"])[0])
            except ValueError:
                return self._json(400, {"error": "offset and limit are numbers"})
            group = (q.get("group") or [""])[0] or None
            return self._call(lambda: self.server.session.page(offset, limit, group))
        return self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        if not self._allowed():
            return self._refuse()
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            return self._json(415, {"error": "send application/json"})
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            return self._json(400, {"error": f"a body of 1 to {MAX_BODY} bytes"})
        try:
            body = json.loads(self.rfile.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return self._json(400, {"error": "invalid JSON"})
        if not isinstance(body, dict):
            return self._json(400, {"error": "expected a JSON object"})
        session = self.server.session
        path = urlsplit(self.path).path
        if path == "/api/label":

            def label() -> dict[str, Any]:
                got = session.label(body.get("key"), body.get("label"), body.get("note", ""))
                return {
                    "label": got.label,
                    "note": got.note,
                    "labelled": session.page(0, 1)["labelled"],
                }

            return self._call(label)
        if path == "/api/accept":
            return self._call(lambda: session.accept(body.get("key"), body.get("expected")))
        return self._json(404, {"error": "not found"})

    def _call(self, fn: Any) -> None:
        try:
            data = fn()
        except PromptOpsError as e:
            from ..redact import redact_text

            return self._json(400, {"error": redact_text(e.message)})
        self._json(200, data)
