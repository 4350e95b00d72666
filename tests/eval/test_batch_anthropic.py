"""``eval --batch`` for ``anthropic/`` models end to end: Anthropic's Message Batches on the
loopback server (``/v1/messages/batches``) over real HTTP, through the same BatchPhase as the
OpenAI Batch API (resume by id, expired requests, cache keys of the litellm path)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promptops.eval.batch import STATE_FILE, BatchInfo
from promptops.eval.runner import EvalOptions, EvalResult, run_eval
from promptops.eval.store import iter_records
from promptops.project import Project
from promptops.providers.prices import batch_cost
from promptops.refs import resolve
from promptops.testing.server import FakeOpenAI, Fault, Reply, Request

MODEL = "anthropic/claude-haiku-4-5-20251001"  # dated, with batch prices in litellm's map
KEY = "sk-ant-test-secret-0123456789"
POLL = ("--batch-poll", "0.05")

PROMPT = """\
name: qa
version: 1.0.0
model:
  id: {model}
  api_base: {url}
  params: {{temperature: 0, max_tokens: 20, seed: 7}}
inputs:
  question: string
messages:
  - role: system
    content: Answer with the question.
  - role: user
    content: "Q: {{{{ question }}}}"
dataset: evals/qa.jsonl
assert:
  - {{type: icontains, value: "{{{{ expected }}}}"}}
"""


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as s:
        s.message_batches.delay = 0.01
        yield s


def make_project(root: Path, url: str, n: int = 6) -> Project:
    (root / "prompts/qa").mkdir(parents=True, exist_ok=True)
    (root / "evals").mkdir(exist_ok=True)
    (root / "prompts/qa/1.0.0.yaml").write_text(PROMPT.format(model=MODEL, url=url))
    with (root / "evals/qa.jsonl").open("w") as fh:
        for i in range(n):
            case = {"id": f"c{i:03d}", "vars": {"question": f"case {i}"}, "expected": f"case {i}"}
            fh.write(json.dumps(case) + "\n")
    return Project(root)


def run(project: Project, resume: str | None = None, **opts: Any) -> EvalResult:
    opts.setdefault("batch_poll", 0.01)
    return run_eval(project, [resolve("qa@1.0", project)], EvalOptions(**opts), resume=resume)


def records(result: EvalResult) -> list[dict[str, Any]]:
    return list(iter_records(result.run.results_path))


def test_an_anthropic_batch_run_records_every_case_at_the_batch_price(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    project = make_project(tmp_path, server.url)
    seen: list[BatchInfo] = []
    pv = resolve("qa@1.0", project)
    result = run_eval(project, [pv], EvalOptions(batch=True, batch_poll=0.01), on_batch=seen.append)
    recs = records(result)
    assert result.status == "complete" and len(recs) == 6
    assert all(r["pass"] and r["cached"] is False for r in recs)
    for r in recs:
        assert r["cost"] == pytest.approx(batch_cost(MODEL, r["tokens_in"], r["tokens_out"]))
        assert r["cost"] == pytest.approx(r["tokens_in"] * 5e-07 + r["tokens_out"] * 2.5e-06)
    mb = server.message_batches
    assert mb.ops["create"] == 1 and len(mb.lines) == 6 and server.calls == 0
    assert seen[-1].status == "completed" and (seen[-1].total, seen[-1].completed) == (6, 6)
    (batch,) = mb.batches
    params = mb.submitted(batch["id"])[0]["params"]
    assert params["system"] == [{"type": "text", "text": "Answer with the question."}]
    assert [m["role"] for m in params["messages"]] == ["user"]
    assert params["max_tokens"] == 20 and params["temperature"] == 0 and "seed" not in params
    assert params["model"] == "claude-haiku-4-5-20251001"
    state = (result.run.path / STATE_FILE).read_text()
    (entry,) = json.loads(state)["batches"]
    assert entry["id"] == batch["id"] and "input_file_id" not in entry
    assert entry["status"] == "completed" and len(entry["units"]) == 6
    assert KEY not in state and all(len(cid) <= 64 for cid in entry["units"])


def test_an_anthropic_batch_answer_is_a_cache_hit_for_a_later_ordinary_run(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    """The later run goes through litellm: a different cache key would call the loopback
    server's (absent) /v1/messages and record errors."""
    project = make_project(tmp_path, server.url)
    run(project, batch=True)
    again = run(project)
    assert again.status == "complete" and all(r["cached"] and r["pass"] for r in records(again))
    assert server.calls == 0 and server.counts.get("not_found", 0) == 0
    third = run(project, batch=True)
    assert all(r["cached"] for r in records(third))
    assert server.message_batches.ops["create"] == 1


def test_an_errored_request_is_an_error_record_and_resume_asks_only_it(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    def responder(request: Request) -> Any:
        if request.text == "Q: case 2":
            return Fault.server_error(529, "overloaded")
        return Reply(request.text)

    server.responder = responder
    project = make_project(tmp_path, server.url)
    first = run(project, batch=True)
    bad = [r for r in records(first) if r["error"]]
    assert [r["case_id"] for r in bad] == ["c002"]
    assert bad[0]["error_kind"] == "server_error" and "overloaded" in bad[0]["error"]
    server.responder = lambda r: Reply(r.text)
    again = run(project, resume=first.run.id, batch=True)
    assert again.status == "complete" and again.summary["groups"][0]["passed"] == 6
    assert server.message_batches.ops["create"] == 2
    assert [r.text for r in server.message_batches.lines[6:]] == ["Q: case 2"]


def test_expired_requests_leave_the_run_incomplete_and_resume_sends_only_them(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    server.message_batches.expire_after = 2
    project = make_project(tmp_path, server.url)
    first = run(project, batch=True)
    assert first.status == "incomplete" and len(records(first)) == 2
    assert "4 requests were not answered" in first.summary["error"]
    assert "expired" in first.summary["error"]
    server.message_batches.expire_after = None
    again = run(project, resume=first.run.id, batch=True)
    assert again.status == "complete" and len(records(again)) == 6
    assert server.message_batches.ops["create"] == 2
    assert len(server.message_batches.lines) == 6  # 2 answered, then only the 4 others


def test_a_killed_process_resumes_its_anthropic_batch_by_id_without_resubmitting(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    server.message_batches.line_delay = 0.05  # still running when the process dies
    make_project(tmp_path, server.url, n=12)
    env = {**os.environ, "ANTHROPIC_API_KEY": KEY}
    proc = subprocess.Popen(
        [sys.executable, "-m", "promptops", "eval", "qa@1.0", "-q", "--batch", *POLL],
        cwd=tmp_path,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    deadline = time.time() + 60
    found: list[Path] = []
    while not found and time.time() < deadline:
        found = list((tmp_path / ".promptops/runs").glob(f"*/{STATE_FILE}"))
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    run_dir = found[0].parent
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert server.message_batches.ops["create"] == 1
    done = subprocess.run(
        [sys.executable, "-m", "promptops", "eval", "--resume", run_dir.name, "-q"],
        cwd=tmp_path,
        text=True,
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert server.message_batches.ops["create"] == 1 and server.calls == 0
    recs = list(iter_records(run_dir / "results.jsonl"))
    assert sorted(r["case_id"] for r in recs) == [f"c{i:03d}" for i in range(12)]
    assert all(r["pass"] for r in recs)
    assert KEY not in done.stdout + done.stderr + found[0].read_text()


def test_anthropic_requests_are_split_at_the_request_limit(
    tmp_path: Path, server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    from promptops.providers import anthropic_batch

    monkeypatch.setattr(anthropic_batch, "MAX_REQUESTS", 4)
    project = make_project(tmp_path, server.url)
    result = run(project, batch=True)
    assert result.status == "complete" and len(records(result)) == 6
    sizes = [
        len(b["units"]) for b in json.loads((result.run.path / STATE_FILE).read_text())["batches"]
    ]
    assert sizes == [4, 2] and server.message_batches.ops["create"] == 2


def test_a_canceled_anthropic_batch_leaves_the_run_incomplete(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    import threading
    import urllib.request

    server.message_batches.line_delay = 0.03
    project = make_project(tmp_path, server.url, n=20)

    def cancel() -> None:
        while not server.message_batches.lines:
            time.sleep(0.005)
        bid = server.message_batches.batches[0]["id"]
        req = urllib.request.Request(
            f"{server.base_url}/v1/messages/batches/{bid}/cancel",
            method="POST",
            headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
        )
        urllib.request.urlopen(req).read()

    threading.Thread(target=cancel, daemon=True).start()
    result = run(project, batch=True)
    assert result.status == "incomplete" and "cancelled" in result.summary["error"]
    assert 1 <= len(records(result)) < 20


def test_cli_estimate_batch_prices_an_anthropic_model_at_the_batch_rate(
    tmp_path: Path, server: FakeOpenAI, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    make_project(tmp_path, server.url, n=4)
    full = json.loads(cli("eval", "qa@1.0", "--estimate", "-f", "json").stdout)
    half = json.loads(cli("eval", "qa@1.0", "--estimate", "--batch", "-f", "json").stdout)
    assert half["total"]["cost_in"] == pytest.approx(full["total"]["cost_in"] / 2)
    assert half["rows"][0]["batch"] is True
    assert server.message_batches.ops == {} and server.calls == 0
