"""``promptops review`` in headless Chromium, end to end: production records are captured as
candidates, three are labelled with the keyboard, the page is reloaded and the labels are still
there, one candidate's expected value is edited and it is accepted into the gold set, and the
next eval runs it. And a 10,000-case run renders its first screen in under a second.

The DevTools client and the ``browser`` fixture are the HTML report's (tests/report/test_html.py);
without chromium this module is skipped, except in CI (CI=true), where it fails."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from promptops.datasets import iter_cases
from promptops.eval.store import RunDir
from promptops.project import Project
from promptops.quality.capture import capture
from promptops.quality.labels import labels_path, read_labels
from promptops.quality.review import open_review
from promptops.quality.review_server import ReviewServer

if shutil.which("chromium") is None and shutil.which("chromium-browser") is None:
    if os.environ.get("CI") == "true":
        raise RuntimeError("chromium is missing in CI: .ci/run installs it")
    pytest.skip("chromium is not installed (apt-get install -y chromium)", allow_module_level=True)

_spec = importlib.util.spec_from_file_location(
    "_report_browser", Path(__file__).resolve().parents[1] / "report" / "test_html.py"
)
assert _spec is not None and _spec.loader is not None
_html = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_html)
browser = _html.browser  # the module-scoped chromium fixture
Page = _html.Page

KEYS = {"Escape": 27, "ArrowDown": 40, "]": 221, "[": 219}


class ReviewPage:
    """The report's Page, at an http:// URL, pressing keys as a person would."""

    def __init__(self, page: Any) -> None:
        self.page = page

    def open(self, url: str) -> None:
        self.page.dt.events.clear()
        self.page.call("Page.navigate", {"url": url})
        self.page.dt.wait_event("Page.loadEventFired")
        self.page.wait_for("document.body.dataset.ready === '1'")

    def key(self, key: str) -> None:
        code = KEYS.get(key, ord(key.upper()) if len(key) == 1 else 0)
        down: dict[str, Any] = {"type": "keyDown", "key": key, "windowsVirtualKeyCode": code}
        if len(key) == 1:
            down["text"] = key
        self.page.call("Input.dispatchKeyEvent", down)
        self.page.call(
            "Input.dispatchKeyEvent", {"type": "keyUp", "key": key, "windowsVirtualKeyCode": code}
        )

    def text(self, text: str) -> None:
        self.page.call("Input.insertText", {"text": text})

    def labels(self) -> list[Any]:
        return self.page.js(
            "[...document.querySelectorAll('#list .it .lab')].map(e => e.textContent)"
        )

    def problems(self) -> list[str]:
        """Console errors and exceptions; requests only to the review server itself."""
        return [
            p
            for p in self.page.problems()
            if not p.startswith("network request: http://127.0.0.1:")
        ]


def record(doc: str, trace: str) -> dict[str, Any]:
    return {
        "promptops.prompt.name": "summarize",
        "promptops.prompt.version": "1.0.0",
        "promptops.trace_id": trace,
        "promptops.vars": {"document": doc},
        "promptops.output": doc,
    }


def test_capture_review_accept_eval(
    project: Path, cli: Callable[..., Result], browser: Any
) -> None:
    docs = [
        "Write to ada@example.com about the late parcel.",
        "The council approved the new budget for parks.",
        "Heavy rain closed two schools on Monday.",
        "Fares rise by 5% in March.",
    ]
    records = project / "calls.jsonl"
    records.write_text("".join(json.dumps(record(d, f"t{i}")) + "\n" for i, d in enumerate(docs)))
    gold = project / "evals" / "summarize.jsonl"
    captured = capture("summarize", [records], gold)
    assert len(captured.added) == 4
    session = open_review(Project.find(), "evals/summarize.candidates.jsonl")
    server = ReviewServer(session)
    server.start()
    try:
        page = ReviewPage(Page(browser))
        page.open(server.url)
        assert page.page.js("document.querySelectorAll('#list .it').length") == 4
        assert "[email]" in page.page.js("document.getElementById('detail').textContent")
        # three labels with the keyboard: pass, fail with a note, a score of 4
        page.key("p")
        page.page.wait_for("document.querySelectorAll('#list .it .lab')[0].textContent === 'pass'")
        page.key("n")
        page.text("not a summary")
        page.key("Escape")
        page.key("f")
        page.page.wait_for("document.querySelectorAll('#list .it .lab')[1].textContent === 'fail'")
        page.key("4")
        page.page.wait_for("document.querySelectorAll('#list .it .lab')[2].textContent === '4'")
        assert page.labels() == ["pass", "fail", "4", ""]
        # reload: the labels come back from labels/summarize.jsonl
        page.open(server.url)
        assert page.labels() == ["pass", "fail", "4", ""]
        assert page.page.js("document.getElementById('progress').textContent") == (
            "3 of 4 labelled"
        )
        # the second case: its note is back; edit expected and accept it
        page.key("j")
        assert page.page.js("document.getElementById('note').value") == "not a summary"
        page.key("e")
        page.page.js("document.getElementById('expected').select()")
        page.text('"budget"')
        page.key("Escape")
        page.key("a")
        page.page.wait_for("document.getElementById('accepted') !== null")
        assert page.page.js("document.querySelector('#list .cur .badge').textContent") == (
            "accepted"
        )
        assert page.problems() == []
        _html.ARTIFACTS.mkdir(exist_ok=True)
        page.page.screenshot(_html.ARTIFACTS / "review.png", max_height=1400)
    finally:
        server.shutdown()
        server.server_close()
    rows = [label for _, label in read_labels(labels_path(project, "summarize"))]
    assert [r.label for r in rows] == ["pass", "fail", 4]
    assert rows[1].note == "not a summary" and rows[1].run == "evals/summarize.candidates.jsonl"
    accepted = [c for c in iter_cases(gold) if c.id.startswith("prod-")]
    assert len(accepted) == 1 and accepted[0].spec.expected == "budget"
    assert accepted[0].spec.vars == {"document": docs[1]}
    assert len(list(iter_cases(project / "evals/summarize.candidates.jsonl"))) == 3
    # the next eval runs the accepted case
    assert cli("eval", "summarize@1.0.0").exit_code == 0
    [run] = sorted((project / ".promptops" / "runs").iterdir())
    assert accepted[0].id in {r["case_id"] for r in RunDir(run).records()}


def test_a_ten_thousand_case_run_renders_its_first_screen_in_under_a_second(
    project: Path, browser: Any
) -> None:
    runs = project / ".promptops" / "runs"
    _html.synthetic_run(runs, "20250101-000000-big", n=5000)  # 2 models x 5000 cases
    t0 = time.perf_counter()
    session = open_review(Project.find(), "20250101-000000-big")
    loaded = time.perf_counter() - t0
    assert len(session.items) == 10_000
    server = ReviewServer(session)
    server.start()
    try:
        page = ReviewPage(Page(browser))
        t0 = time.perf_counter()
        page.open(server.url)
        first_screen = time.perf_counter() - t0
        assert page.page.js("document.querySelectorAll('#list .it').length") == 50
        groups = page.page.js(
            "[...document.querySelectorAll('#groups button')].map(b => b.dataset.group || '')"
        )
        assert "passed" in groups and "" in groups
        # a failing group: only its cases, each showing why it failed
        failing = next(g for g in groups if g not in ("", "passed") and not g.startswith("error"))
        page.page.js(
            f"document.querySelector('#groups button[data-group={json.dumps(failing)}]').click()"
        )
        page.page.wait_for(
            f"document.querySelector('#groups .sel').dataset.group === {json.dumps(failing)}"
        )
        badges = page.page.js(
            "[...document.querySelectorAll('#list .it .badge')].map(b => b.textContent)"
        )
        assert badges and set(badges) == {"fail"}
        reasons = page.page.js("document.querySelector('#detail ul').textContent")
        assert f"✗ {failing}" in reasons
        page.page.js("document.querySelector('#groups button').click()")  # all again
        page.page.wait_for("!document.querySelector('#groups .sel').dataset.group")
        # two pages on by keys, the second before the first has answered: the later one wins
        t1 = time.perf_counter()
        page.key("]")
        page.key("]")
        page.page.wait_for("document.querySelector('#pager span').textContent.includes('101–150')")
        next_page = time.perf_counter() - t1
        time.sleep(0.3)  # and it stays there
        assert "101–150" in page.page.js("document.querySelector('#pager span').textContent")
        assert page.problems() == []
    finally:
        server.shutdown()
        server.server_close()
    print(
        f"\n10,000-case run: loaded in {loaded:.2f}s, first screen {first_screen * 1000:.0f} ms, "
        f"two pages on {next_page * 1000:.0f} ms"
    )
    assert first_screen < 1.0, f"first screen took {first_screen:.2f}s"
