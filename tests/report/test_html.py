"""``promptops report``: the self-contained HTML report, checked as text and in headless Chromium.

The browser test drives Debian's ``chromium`` over the DevTools protocol with a stdlib
websocket client (below): it loads the report from a file:// URL, fails on any console error,
uncaught exception or network request, types into the search box, clicks the status filter,
counts the rows the script renders, and saves a screenshot of the page (top 3200 px) to ``artifacts/report.png``
(and ``artifacts/report-diff.png``) under the repository root. Without chromium it is skipped.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from click.testing import Result

from conftest import run_python
from promptops.eval.store import RunDir
from promptops.eval.summary import group_key, judge_bar, summarize
from promptops.report.html import diff_fragment, run_html, word_diff

Cli = Callable[..., Result]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts"
WORDS = re.findall(
    r"\w+",
    "the quick brown fox jumps over a lazy dog while rain falls all week and prices rose "
    "by three percent so bring an umbrella to the report summary meeting",
)


# ------------------------------------------------------------------------------ fixtures


def synthetic_run(
    runs_dir: Path,
    run_id: str,
    n: int = 120,
    *,
    version: str = "2.0.0",
    models: tuple[str, ...] = (
        "openai/gpt-4o-mini-2024-07-18",
        "anthropic/claude-3-5-haiku-20241022",
    ),
    drift: float = 0.0,
    seed: int = 7,
) -> RunDir:
    """A finished run with realistic spread: latencies, costs, graded scores, a few errors."""
    rng = random.Random(seed)
    run = RunDir(runs_dir / run_id)
    records = []
    for mi, model in enumerate(models):
        for i in range(n):
            doc = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 28)))
            expected = rng.choice(WORDS)
            rec: dict[str, Any] = {
                "case_id": f"case-{i:04d}",
                "prompt": "summarize",
                "version": version,
                "digest": f"sha256:{version}",
                "model": model,
                "repeat": 0,
                "trace_id": f"{rng.getrandbits(64):016x}",
                "vars": {"document": doc, "max_words": 12},
                "expected": expected,
            }
            if rng.random() < 0.03:
                rec |= {
                    "error": "RateLimitError: 429 Too Many Requests",
                    "error_kind": "rate_limit",
                    "pass": False,
                    "score": 0.0,
                    "output": None,
                    "attempts": 4,
                }
            else:
                words = doc.split()[: rng.randint(3, 16)]
                if rng.random() < 0.3 + drift:
                    words = [rng.choice(WORDS) for _ in words]
                out = " ".join(words).capitalize() + "."
                hit = expected in out.lower()
                sim = max(0.0, min(1.0, rng.gauss(0.72 - drift - 0.05 * mi, 0.18)))
                short = len(out.split()) <= 12
                assertions = [
                    {
                        "type": "icontains",
                        "metric": None,
                        "weight": 1.0,
                        "pass": hit,
                        "score": float(hit),
                        "error": None,
                        "reason": "found" if hit else f"{expected!r} not found in output",
                    },
                    {
                        "type": "similar",
                        "metric": "similarity",
                        "weight": 1.0,
                        "pass": sim >= 0.5,
                        "score": round(sim, 3),
                        "reason": f"rouge-l similarity {sim:.3f}",
                        "error": None,
                    },
                    {
                        "type": "max-words",
                        "metric": None,
                        "weight": 0.5,
                        "pass": short,
                        "score": float(short),
                        "reason": f"{len(out.split())} words (max 12)",
                        "error": None,
                    },
                ]
                score = (float(hit) + sim + 0.5 * float(short)) / 2.5
                latency = rng.lognormvariate(6.4 + 0.3 * mi, 0.45)
                rec |= {
                    "messages_hash": f"{rng.getrandbits(64):016x}",
                    "attempts": 1,
                    "answered_by": model,
                    "output": out,
                    "latency_ms": round(latency, 3),
                    "tokens_in": 40 + len(doc.split()),
                    "tokens_out": len(out.split()),
                    "cost": round(1.5e-7 * (40 + len(doc.split())) + 6e-7 * len(out.split()), 9),
                    "cached": rng.random() < 0.05,
                    "finish_reason": "stop",
                    "assertions": assertions,
                    "score": round(score, 6),
                    "pass": score >= 0.7,
                    "assert_error": None,
                    "metrics": {
                        "icontains": float(hit),
                        "similarity": sim,
                        "max-words": float(short),
                    },
                }
            records.append(rec)
            run.append(rec)
    run.close()
    meta = {
        "run_id": run_id,
        "command": f"promptops eval summarize@{version} -m {' -m '.join(models)}",
        "started": "2025-01-01T10:00:00+00:00",
        "refs": [
            {
                "ref": f"summarize@{version}",
                "file": f"prompts/summarize/{version}.yaml",
                "digest": f"sha256:{version}",
            }
        ],
        "options": {"shard": None},
        "provenance": {
            "git": {"commit": "0123456789abcdef0123", "branch": "main", "dirty": False},
            "datasets": {"evals/summarize.jsonl": "sha256:" + "ab" * 32},
            "promptops_version": "0.1.0",
        },
    }
    run.write_json(run.meta_path, meta)
    groups = summarize(records)
    summary = {
        **meta,
        "status": "complete",
        "ended": "2025-01-01T10:02:01+00:00",
        "wall_s": 121.3,
        "network_calls": len(records),
        "groups": groups,
    }
    summary["bar"] = judge_bar(groups, {group_key(g): 0.6 for g in groups}, "complete")
    run.write_json(run.summary_path, summary)
    return run


def data_block(page: str) -> dict[str, Any]:
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    assert m, "the data block is there"
    data: dict[str, Any] = json.loads(m.group(1))
    return data


def external_refs(page: str) -> list[str]:
    """Anything that could make the browser load something: src/href/url() to a non-anchor."""
    refs = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']*)', page) + re.findall(
        r"url\(([^)]*)\)", page
    )
    return [r for r in refs if not r.startswith("#")]


# ------------------------------------------------------------------------ text-level tests


def test_report_of_an_echo_run(project: Path, cli: Cli) -> None:
    ev = cli("eval", "summarize@2.0", "--quiet")
    assert ev.exit_code in (0, 1), ev.output
    result = cli("report", "latest", "--html", "out/report.html", "--markdown", "out/report.md")
    assert result.exit_code == 0, result.output
    page = (project / "out/report.html").read_text(encoding="utf-8")
    run_id = next((project / ".promptops/runs").iterdir()).name
    assert run_id in page and "summarize@2.0.0" in page
    assert page.startswith("<!doctype html>") and "Content-Security-Policy" in page
    assert external_refs(page) == []
    data = data_block(page)
    assert data["kind"] == "run" and len(data["rows"]) == 3
    assert {r["id"] for r in data["rows"]} == {"short", "long", "budget"}
    assert "Score distribution" in page and "Latency" in page and "Pass rate per assertion" in page
    md = (project / "out/report.md").read_text(encoding="utf-8")
    assert md.startswith(f"### promptops eval `{run_id}`")


def test_report_markdown_to_stdout_by_default(project: Path, cli: Cli) -> None:
    cli("eval", "summarize@2.0", "--quiet")
    result = cli("report")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("### promptops eval")


def test_user_text_is_escaped(project: Path) -> None:
    nasty = "</script><script>alert(1)</script><img src=x onerror=alert(2)> <!-- & \u2028"
    run = synthetic_run(project / ".promptops/runs", "20250101-000000-x", n=3, models=("m/x",))
    records = list(run.records())
    records[0] = {**records[0], "case_id": nasty, "output": nasty, "vars": {"document": nasty}}
    summary = run.summary()
    summary["run_id"] = nasty
    page = run_html(summary, records)
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert page.count("<script") == 2  # the data block and the script, nothing injected
    rows = data_block(page)["rows"]
    assert any(r["id"] == nasty and r["out"] == nasty for r in rows)


def test_word_diff_marks_changed_words() -> None:
    a, b = "The cat sat on the mat.", "The dog sat on a mat!"
    ops = word_diff(a, b)
    assert "".join(t for op, t in ops if op <= 0) == a
    assert "".join(t for op, t in ops if op >= 0) == b
    assert diff_fragment(ops, -1) == "The <del>cat</del> sat on <del>the</del> mat<del>.</del>"
    assert diff_fragment(ops, 1) == "The <ins>dog</ins> sat on <ins>a</ins> mat<ins>!</ins>"
    assert diff_fragment(word_diff("<b>", "<i>"), 1) == "&lt;<ins>i</ins>&gt;"


def test_two_runs_compared(project: Path, cli: Cli) -> None:
    runs = project / ".promptops/runs"
    synthetic_run(runs, "20250101-100000-a", version="1.0.0")
    synthetic_run(runs, "20250101-110000-b", version="2.0.0", drift=0.3, seed=8)
    result = cli("report", "20250101-100000-a", "20250101-110000-b", "--html", "diff.html")
    assert result.exit_code == 0, result.output
    page = (project / "diff.html").read_text(encoding="utf-8")
    assert "20250101-100000-a → 20250101-110000-b" in page
    assert "<del>" in page and "<ins>" in page and "verdict: " in page
    assert external_refs(page) == []
    data = data_block(page)
    assert data["kind"] == "diff" and len(data["groups"]) == 2
    assert any(r["st"] == "regressed" for r in data["rows"])
    md = cli("report", "20250101-100000-a", "20250101-110000-b")
    assert md.exit_code == 0 and md.stdout.startswith("### ")


def test_cost_chart_has_a_dollar_axis(tmp_path: Path) -> None:
    run = synthetic_run(tmp_path, "20250101-000000-cost", n=40)
    summary = run.summary()
    page = run_html(summary, list(run.records()))
    svg = page[page.index('aria-label="cost by group"') :]
    svg = svg[: svg.index("</svg>")]
    ticks = re.findall(r'text-anchor="middle">([^<]*)</text>', svg)
    top = max(g["cost"] for g in summary["groups"])
    assert len(ticks) == 5 and all(t.startswith("$") for t in ticks), ticks
    assert ticks[0] == "$0" and "%" not in "".join(ticks)
    assert ticks[-1] == (f"${top:.4f}" if top >= 0.01 else f"${top:.6f}")
    # the pass-rate chart keeps its percent axis
    rates = page[page.index('aria-label="pass rate by group"') :]
    rates = rates[: rates.index("</svg>")]
    assert re.findall(r'text-anchor="middle">([^<]*)</text>', rates)[-1] == "100%"


def test_ten_thousand_cases_stay_reasonable(tmp_path: Path) -> None:
    run = synthetic_run(tmp_path, "20250101-000000-big", n=5000)
    records = list(run.records())
    t0 = time.perf_counter()
    page = run_html(run.summary(), records)
    elapsed = time.perf_counter() - t0
    assert len(records) == 10_000
    assert elapsed < 5, f"run_html took {elapsed:.1f}s"
    assert len(page) < 12_000_000
    assert page.count("<tr") < 100  # rows are rendered client-side, a page at a time


def test_report_command_does_not_import_litellm(project: Path) -> None:
    runs = project / ".promptops/runs"
    synthetic_run(runs, "20250101-100000-a", n=5, version="1.0.0")
    synthetic_run(runs, "20250101-110000-b", n=5, version="2.0.0", seed=3)
    code = (
        "import sys, json\n"
        "from typer.testing import CliRunner\n"
        "from promptops.cli import app\n"
        "r = CliRunner()\n"
        "a = r.invoke(app, ['report', '20250101-100000-a', '--html', 'a.html'])\n"
        "b = r.invoke(app, ['report', '20250101-100000-a', '20250101-110000-b', '--html', 'b.html'])\n"
        "print(json.dumps([a.exit_code, b.exit_code, repr(a.exception), repr(b.exception),\n"
        "                  sorted(m for m in sys.modules if m.split('.')[0] == 'litellm')]))\n"
    )
    done = run_python(code, project)
    assert done.returncode == 0, done.stderr
    ea, eb, xa, xb, loaded = json.loads(done.stdout.splitlines()[-1])
    assert (ea, eb) == (0, 0), (xa, xb)
    assert loaded == []


# ------------------------------------------------------------------------ the browser test


class DevTools:
    """The Chrome DevTools protocol over a minimal RFC 6455 websocket client (stdlib only)."""

    def __init__(self, url: str, timeout: float = 20.0) -> None:
        u = urlparse(url)
        self.sock = socket.create_connection((u.hostname or "127.0.0.1", u.port or 80), timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {u.path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("devtools closed the handshake")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise ConnectionError("devtools closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 1 << 16:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def _recv_message(self) -> str:
        parts: list[bytes] = []
        while True:
            b0, b1 = self._read(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack(">H", self._read(2))
            elif n == 127:
                (n,) = struct.unpack(">Q", self._read(8))
            payload = self._read(n)
            if opcode == 0x8:
                raise ConnectionError("devtools closed the websocket")
            if opcode == 0x9:
                self._send_frame(0xA, payload)
                continue
            if opcode in (0x0, 0x1, 0x2):
                parts.append(payload)
                if b0 & 0x80:
                    return b"".join(parts).decode("utf-8")

    def call(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> Any:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self._send_frame(0x1, json.dumps(msg).encode())
        while True:
            reply = json.loads(self._recv_message())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_event(self, name: str, timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.events:
                if e["method"] == name:
                    self.events.remove(e)
                    return e
            self.events.append(json.loads(self._recv_message()))
        raise TimeoutError(name)

    def close(self) -> None:
        self.sock.close()


class Page:
    """One tab: navigate, evaluate JS, type, screenshot, and what went wrong in the console."""

    def __init__(self, dt: DevTools) -> None:
        self.dt = dt
        target = dt.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = dt.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Runtime", "Log", "Page", "Network"):
            self.call(f"{domain}.enable")
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1360, "height": 900, "deviceScaleFactor": 1, "mobile": False},
        )

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return self.dt.call(method, params, self.session)

    def goto(self, path: Path) -> None:
        self.dt.events.clear()
        self.call("Page.navigate", {"url": path.as_uri()})
        self.dt.wait_event("Page.loadEventFired")

    def js(self, expr: str) -> Any:
        res = self.call(
            "Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True}
        )
        if "exceptionDetails" in res:
            raise AssertionError(f"{expr}: {res['exceptionDetails']}")
        return res["result"].get("value")

    def wait_for(self, expr: str, timeout: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expr)
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {expr}")

    def type(self, selector: str, text: str) -> None:
        self.js(f"document.querySelector({json.dumps(selector)}).focus()")
        self.call("Input.insertText", {"text": text})

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions, and requests for anything but the file itself."""
        self.js("1")  # flush pending events into dt.events
        out = []
        for e in self.dt.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.exceptionThrown":
                out.append(
                    f"exception: {p['exceptionDetails'].get('text')} {p['exceptionDetails'].get('exception', {}).get('description', '')}"
                )
            elif e["method"] == "Runtime.consoleAPICalled" and p.get("type") in (
                "error",
                "assert",
                "warning",
            ):
                out.append(
                    f"console.{p['type']}: {[a.get('value', a.get('description')) for a in p.get('args', [])]}"
                )
            elif e["method"] == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
                out.append(f"log {p['entry']['level']}: {p['entry']['text']}")
            elif e["method"] == "Network.requestWillBeSent":
                url = p["request"]["url"]
                if not url.startswith(("file://", "data:")):
                    out.append(f"network request: {url}")
        return out

    def screenshot(self, dest: Path, max_height: int = 3200) -> None:
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        height = min(int(size["height"]) + 1, max_height)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1360, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        png = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False})
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(base64.b64decode(png["data"]))
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1360, "height": 900, "deviceScaleFactor": 1, "mobile": False},
        )


CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--mute-audio",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevTools]:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip(
            "chromium is not installed (Debian: apt-get install -y chromium); "
            "the browser test of the HTML report needs it"
        )
    profile = tmp_path_factory.mktemp("chromium-profile")
    proc = subprocess.Popen(
        [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.is_file() and len(port_file.read_text().splitlines()) >= 2):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"chromium did not start (exit {proc.poll()})")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        dt = DevTools(f"ws://127.0.0.1:{port}{path}")
        yield dt
        dt.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


VISIBLE_ROWS = "document.querySelectorAll('#rows tr.row').length"
MATCHING = "Number(document.getElementById('cases-table').dataset.matching)"


def test_report_in_headless_chromium(project: Path, cli: Cli, browser: DevTools) -> None:
    runs = project / ".promptops/runs"
    synthetic_run(runs, "20250101-100000-a", version="1.0.0")
    synthetic_run(runs, "20250101-110000-b", version="2.0.0", drift=0.3, seed=8)
    assert cli("report", "20250101-110000-b", "--html", "run.html").exit_code == 0
    assert (
        cli("report", "20250101-100000-a", "20250101-110000-b", "--html", "diff.html").exit_code
        == 0
    )
    page = Page(browser)

    # one run: renders, 50 rows a page, search and status filter work
    page.goto(project / "run.html")
    assert page.wait_for(VISIBLE_ROWS) == 50
    assert page.js(MATCHING) == 240
    assert page.js("document.querySelectorAll('svg.chart').length") >= 8
    page.type("#q", "case-0007")
    page.wait_for(f"{MATCHING} === 2")
    ids = page.js("[...document.querySelectorAll('#rows tr.row')].map(r => r.dataset.case)")
    assert ids == ["case-0007", "case-0007"]
    page.js(
        "document.getElementById('q').value = ''; document.getElementById('q').dispatchEvent(new Event('input'))"
    )
    page.wait_for(f"{MATCHING} === 240")
    page.js("document.querySelector('#status-filter [data-status=error]').click()")
    n_err = page.wait_for(MATCHING)
    statuses = page.js(
        "[...document.querySelectorAll('#rows tr.row .badge')].map(b => b.textContent)"
    )
    assert 0 < n_err < 240 and set(statuses) == {"error"}
    page.js("document.querySelector('#status-filter [data-status=fail]').click()")
    page.js("document.querySelector('#rows tr.row').click()")
    assert page.wait_for("document.querySelectorAll('#rows tr.detail pre').length") >= 3
    page.js(
        "document.getElementById('group-filter').value = '1'; "
        "document.getElementById('group-filter').dispatchEvent(new Event('change'))"
    )
    groups = page.js(
        "[...document.querySelectorAll('#rows tr.row td.grp')].map(t => t.textContent)"
    )
    assert groups and set(groups) == {"anthropic/claude-3-5-haiku-20241022"}
    page.js("window.scrollTo(0, 0)")
    problems = page.problems()
    assert problems == []
    shot = ARTIFACTS / "report.png"
    page.screenshot(shot)
    assert shot.stat().st_size > 10_000

    # two runs: the diff view, regressed filter
    page.goto(project / "diff.html")
    page.wait_for(VISIBLE_ROWS)
    data = data_block((project / "diff.html").read_text(encoding="utf-8"))
    regressed = sum(1 for r in data["rows"] if r["st"] == "regressed")
    page.js("document.querySelector('#status-filter [data-status=regressed]').click()")
    assert page.wait_for(f"{MATCHING} === {regressed} && {regressed}")
    assert page.js("document.querySelectorAll('.example del, .example ins').length") > 0
    page.js("document.querySelector('#rows tr.row').click()")
    assert page.wait_for(
        "document.querySelectorAll('#rows tr.detail ins, #rows tr.detail del').length"
    )
    page.js("window.scrollTo(0, 0)")
    assert page.problems() == []
    page.screenshot(ARTIFACTS / "report-diff.png")


def test_ten_thousand_cases_in_the_browser(tmp_path: Path, browser: DevTools) -> None:
    run = synthetic_run(tmp_path, "20250101-000000-big", n=5000)
    path = tmp_path / "big.html"
    path.write_text(run_html(run.summary(), run.records()), encoding="utf-8")
    page = Page(browser)
    t0 = time.perf_counter()
    page.goto(path)
    assert page.wait_for(VISIBLE_ROWS) == 50
    page.type("#q", "umbrella")
    page.wait_for(f"{MATCHING} < 10000")
    elapsed = time.perf_counter() - t0
    assert elapsed < 10, f"{elapsed:.1f}s to load and filter 10,000 cases"
    assert page.problems() == []
