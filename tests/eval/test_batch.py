"""``eval --batch`` end to end against the loopback server's /v1/files and /v1/batches, over
real HTTP on the native path."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from conftest import assert_no_traceback
from promptops.errors import ProviderError
from promptops.eval.batch import STATE_FILE, BatchInfo
from promptops.eval.runner import EvalOptions, EvalResult, run_eval
from promptops.eval.store import iter_records
from promptops.project import Project
from promptops.providers import openai_batch
from promptops.providers.prices import batch_cost, cost
from promptops.refs import resolve
from promptops.testing.server import FakeOpenAI, Fault, Reply, Request

MODEL = "openai/gpt-4o-mini-2024-07-18"  # priced, with batch prices, in litellm's price map
Cli = Callable[..., Result]

PROMPT = """\
name: qa
version: 1.0.0
model:
  id: {model}
  api_base: {url}
  params: {{temperature: 0, max_tokens: 20}}
inputs:
  question: string
template: "Q: {{{{ question }}}}"
dataset: evals/qa.jsonl
assert:
  - {{type: icontains, value: "{{{{ expected }}}}"}}
"""


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-0123456789")


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as s:
        s.batches.delay = 0.01
        yield s


def make_project(root: Path, url: str, n: int = 10, model: str = MODEL, extra: str = "") -> Project:
    (root / "prompts/qa").mkdir(parents=True, exist_ok=True)
    (root / "evals").mkdir(exist_ok=True)
    (root / "prompts/qa/1.0.0.yaml").write_text(PROMPT.format(model=model, url=url) + extra)
    with (root / "evals/qa.jsonl").open("w") as fh:
        for i in range(n):
            case = {"id": f"c{i:03d}", "vars": {"question": f"case {i}"}, "expected": f"case {i}"}
            fh.write(json.dumps(case) + "\n")
    return Project(root)


def run(project: Project, resume: str | None = None, **opts: Any) -> EvalResult:
    opts.setdefault("batch_poll", 0.01)
    pv = resolve("qa@1.0", project)
    return run_eval(project, [pv], EvalOptions(**opts), resume=resume)


def records(result: EvalResult) -> list[dict[str, Any]]:
    return list(iter_records(result.run.results_path))


def test_a_batch_run_records_every_case_at_the_batch_price(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    project = make_project(tmp_path, server.url)
    seen: list[BatchInfo] = []
    pv = resolve("qa@1.0", project)
    result = run_eval(project, [pv], EvalOptions(batch=True, batch_poll=0.01), on_batch=seen.append)
    recs = records(result)
    assert result.status == "complete" and len(recs) == 10
    assert server.calls == 0  # no ordinary chat call: every answer came from the batch
    assert server.batches.ops["batch_create"] == 1 and len(server.batches.lines) == 10
    for r in recs:
        assert r["pass"] and r["output"] == f"Q: case {r['case_id'][1:].lstrip('0') or '0'}"
        assert r["cached"] is False and r["attempts"] == 1
        assert r["cost"] == pytest.approx(batch_cost(MODEL, r["tokens_in"], r["tokens_out"]))
        assert r["cost"] == pytest.approx(cost(MODEL, r["tokens_in"], r["tokens_out"]) / 2)
    assert seen[-1].status == "completed" and (seen[-1].total, seen[-1].completed) == (10, 10)
    state = json.loads((result.run.path / STATE_FILE).read_text())
    (entry,) = state["batches"]
    assert entry["id"] == server.batches.batches[0]["id"]
    assert entry["input_file_id"] == server.batches.batches[0]["input_file_id"]
    assert sorted(k[2] for k in entry["units"].values()) == [f"c{i:03d}" for i in range(10)]
    assert "sk-test" not in (result.run.path / STATE_FILE).read_text()
    assert result.summary["network_calls"] == 10


def test_a_batch_answer_is_a_cache_hit_for_a_later_ordinary_run(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    project = make_project(tmp_path, server.url)
    run(project, batch=True)
    again = records(run(project))
    assert server.calls == 0 and all(r["cached"] for r in again)
    assert server.batches.ops["batch_create"] == 1
    third = run(project, batch=True)  # everything cached: no batch at all
    assert all(r["cached"] for r in records(third)) and third.status == "complete"
    assert server.batches.ops.get("file_upload") == 1 and server.batches.ops["batch_create"] == 1


def test_each_repeat_is_its_own_request(tmp_path: Path, server: FakeOpenAI) -> None:
    project = make_project(tmp_path, server.url, n=3)
    recs = records(run(project, batch=True, repeat=2))
    assert len(recs) == 6 and len(server.batches.lines) == 6
    assert sorted((r["case_id"], r["repeat"]) for r in recs) == [
        (f"c00{i}", k) for i in range(3) for k in range(2)
    ]


def test_an_ordinary_answer_in_the_cache_is_never_sent_in_a_batch(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    project = make_project(tmp_path, server.url)
    run(project, filter="c00[0-3]")
    assert server.calls == 4
    recs = records(run(project, batch=True))
    assert len(server.batches.lines) == 6  # the 4 cached cases stay out of the batch
    assert sum(bool(r["cached"]) for r in recs) == 4 and len(recs) == 10
    assert server.calls == 4


def test_no_cache_sends_every_case_and_stores_nothing(tmp_path: Path, server: FakeOpenAI) -> None:
    project = make_project(tmp_path, server.url, n=3)
    run(project, batch=True, use_cache=False)
    run(project)  # the cache was not written: ordinary calls
    assert len(server.batches.lines) == 3 and server.calls == 3


def test_a_line_the_provider_fails_is_an_error_record_and_resume_asks_only_it(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    def responder(request: Request) -> Any:
        if request.text in ("Q: case 2", "Q: case 5"):
            return Fault.server_error(503, "overloaded")
        return Reply(request.text)

    server.responder = responder
    project = make_project(tmp_path, server.url)
    first = run(project, batch=True)
    bad = {r["case_id"]: r for r in records(first) if r["error"]}
    assert set(bad) == {"c002", "c005"}
    assert bad["c002"]["error_kind"] == "server_error" and "overloaded" in bad["c002"]["error"]
    server.responder = lambda r: Reply(r.text)
    again = run(project, resume=first.run.id, batch=True)
    assert again.status == "complete" and again.summary["groups"][0]["passed"] == 10
    assert server.batches.ops["batch_create"] == 2
    assert [r.text for r in server.batches.lines[10:]] == ["Q: case 2", "Q: case 5"]
    assert server.calls == 0


def test_an_expired_batch_leaves_its_unanswered_cases_to_resume(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    server.batches.expire_after = 3
    project = make_project(tmp_path, server.url)
    first = run(project, batch=True)
    assert first.status == "incomplete"
    assert len(records(first)) == 3
    assert "7 requests were not answered" in first.summary["error"]
    assert "expired" in first.summary["error"]
    assert f"promptops eval --resume {first.run.id}" in first.summary["error"]
    server.batches.expire_after = None
    again = run(project, resume=first.run.id, batch=True)
    assert again.status == "complete" and len(records(again)) == 10
    assert server.batches.ops["batch_create"] == 2
    assert len(server.batches.lines) == 10  # 3 answered, then only the 7 others
    assert server.calls == 0


def test_a_cancelled_batch_is_incomplete_too(tmp_path: Path, server: FakeOpenAI) -> None:
    import threading

    server.batches.line_delay = 0.02
    project = make_project(tmp_path, server.url, n=20)

    def cancel() -> None:
        while not server.batches.lines:
            time.sleep(0.005)
        import urllib.request

        bid = server.batches.batches[0]["id"]
        req = urllib.request.Request(f"{server.url}/batches/{bid}/cancel", method="POST")
        urllib.request.urlopen(req).read()

    threading.Thread(target=cancel, daemon=True).start()
    result = run(project, batch=True)
    assert result.status == "incomplete" and "cancelled" in result.summary["error"]
    assert 1 <= len(records(result)) < 20


def test_requests_are_split_at_the_providers_limits(
    tmp_path: Path, server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openai_batch, "MAX_REQUESTS", 4)
    project = make_project(tmp_path, server.url)
    result = run(project, batch=True)
    assert result.status == "complete" and len(records(result)) == 10
    sizes = [
        len(json.loads(result.run.path.joinpath(STATE_FILE).read_text())["batches"][i]["units"])
        for i in range(3)
    ]
    assert sizes == [4, 4, 2] and server.batches.ops["batch_create"] == 3
    monkeypatch.setattr(openai_batch, "MAX_REQUESTS", 50_000)
    sent = server.batches.file_content(server.batches.batches[0]["input_file_id"])
    line = len(sent.splitlines(keepends=True)[1])  # "Q: case 1": as long as cases 0 to 6
    monkeypatch.setattr(openai_batch, "MAX_BYTES", line * 3)
    other = make_project(tmp_path / "b", server.url, n=7)
    run(other, batch=True)
    assert server.batches.ops["batch_create"] == 3 + 3  # 3 + 3 + 1 lines


def test_conversation_cases_run_normally_beside_the_batch(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    project = make_project(tmp_path, server.url, n=3)
    with (tmp_path / "evals/qa.jsonl").open("a") as fh:
        case = {"id": "talk", "vars": {"question": "hi"}, "turns": [{}, {"user": "again"}]}
        fh.write(json.dumps(case) + "\n")
    result = run(project, batch=True)
    recs = {r["case_id"]: r for r in records(result)}
    assert len(recs) == 4 and len(server.batches.lines) == 3
    assert server.calls == 2 and len(recs["talk"]["turns"]) == 2


@pytest.mark.parametrize(
    ("model", "extra", "says"),
    [
        ("mistral/mistral-large-2512", "", "mistral/mistral-large-2512"),
        (MODEL, "", "provider: litellm"),
        ("echo/echo", "", "echo/echo"),
    ],
)
def test_batch_refuses_a_model_without_a_batch_endpoint(
    tmp_path: Path, server: FakeOpenAI, model: str, extra: str, says: str
) -> None:
    project = make_project(tmp_path, server.url, n=2, model=model)
    if says == "provider: litellm":
        path = tmp_path / "prompts/qa/1.0.0.yaml"
        path.write_text(path.read_text().replace("  api_base:", "  provider: litellm\n  api_base:"))
    with pytest.raises(ProviderError, match="no batch endpoint") as e:
        run(project, batch=True)
    assert says in e.value.message
    assert not list((tmp_path / ".promptops/runs").glob("*"))  # refused before a run exists


def test_batch_refuses_max_cost(tmp_path: Path, server: FakeOpenAI) -> None:
    project = make_project(tmp_path, server.url, n=2)
    with pytest.raises(ProviderError, match="--estimate --batch"):
        run(project, batch=True, max_cost=1.0)


def test_batch_cost_prefers_the_price_files_batch_prices(monkeypatch: pytest.MonkeyPatch) -> None:
    from promptops.providers import prices

    fake = {
        "a-model": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6},
        "b-model": {
            "input_cost_per_token": 1e-6,
            "output_cost_per_token": 2e-6,
            "input_cost_per_token_batches": 0.4e-6,
            "output_cost_per_token_batches": 0.8e-6,
        },
    }
    monkeypatch.setattr(prices, "price_map", lambda: fake)
    assert batch_cost("x/a-model", 10, 5) == pytest.approx((10e-6 + 10e-6) / 2)
    assert batch_cost("x/b-model", 10, 5) == pytest.approx(4e-6 + 4e-6)
    assert batch_cost("x/unknown", 10, 5) is None


# --------------------------------------------------------------------------- the CLI


def _cli_project(root: Path, url: str, n: int) -> None:
    make_project(root, url, n=n)


def _spawn(root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "promptops", "eval", "qa@1.0", "-q", *args],
        cwd=root,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "OPENAI_API_KEY": "sk-test-0123456789"},
    )


def _wait_for_state(root: Path, proc: subprocess.Popen[str]) -> Path:
    deadline = time.time() + 60
    while time.time() < deadline:
        found = list((root / ".promptops/runs").glob(f"*/{STATE_FILE}"))
        if found:
            return found[0].parent
        if proc.poll() is not None:
            raise AssertionError(proc.communicate())
        time.sleep(0.02)
    raise AssertionError("no batch state written")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_process_resumes_its_batch_by_id_without_resubmitting(
    tmp_path: Path, server: FakeOpenAI, sig: signal.Signals
) -> None:
    server.batches.line_delay = 0.05  # the batch is still running when the process dies
    _cli_project(tmp_path, server.url, n=12)
    proc = _spawn(tmp_path, "--batch", "--batch-poll", "0.05")
    run_dir = _wait_for_state(tmp_path, proc)
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == (-9 if sig == signal.SIGKILL else 143), err
    assert "Traceback" not in err
    if sig == signal.SIGTERM:
        assert f"promptops eval --resume {run_dir.name}" in err
    assert server.batches.ops["batch_create"] == 1
    done = subprocess.run(
        [sys.executable, "-m", "promptops", "eval", "--resume", run_dir.name, "-q"],
        cwd=tmp_path,
        text=True,
        capture_output=True,
        env={**os.environ, "OPENAI_API_KEY": "sk-test-0123456789"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert server.batches.ops["batch_create"] == 1 and server.calls == 0
    recs = list(iter_records(run_dir / "results.jsonl"))
    assert sorted(r["case_id"] for r in recs) == [f"c{i:03d}" for i in range(12)]
    assert all(r["pass"] for r in recs)


def test_ctrl_c_while_polling_prints_the_resume_command(tmp_path: Path, server: FakeOpenAI) -> None:
    server.batches.line_delay = 0.2
    _cli_project(tmp_path, server.url, n=50)
    proc = _spawn(tmp_path, "--batch", "--batch-poll", "0.05")
    run_dir = _wait_for_state(tmp_path, proc)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert f"promptops eval --resume {run_dir.name}" in err
    assert server.batches.batches[0]["status"] == "in_progress"  # left running


def test_cli_refuses_batch_for_a_litellm_model_with_exit_1(
    tmp_path: Path, server: FakeOpenAI, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    make_project(tmp_path, server.url, n=2, model="mistral/mistral-large-2512")
    result = cli("eval", "qa@1.0", "--batch")
    assert result.exit_code == 1
    assert_no_traceback(result)
    assert "no batch endpoint" in result.stderr


def test_estimate_batch_shows_the_discounted_dollars(
    tmp_path: Path, server: FakeOpenAI, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    make_project(tmp_path, server.url, n=4)
    full = json.loads(cli("eval", "qa@1.0", "--estimate", "-f", "json").stdout)
    half = json.loads(cli("eval", "qa@1.0", "--estimate", "--batch", "-f", "json").stdout)
    assert half["total"]["cost_in"] == pytest.approx(full["total"]["cost_in"] / 2)
    assert half["total"]["cost_max"] == pytest.approx(full["total"]["cost_max"] / 2)
    assert half["rows"][0]["batch"] is True
    table = cli("eval", "qa@1.0", "--estimate", "--batch")
    assert table.exit_code == 0 and "batch" in table.stdout
    assert server.calls == 0 and server.batches.ops == {}


def test_a_batch_the_provider_fails_says_why_and_stays_resumable(
    tmp_path: Path, server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = openai_batch.request_line
    monkeypatch.setattr(openai_batch, "request_line", lambda *a: b"{not json\n")
    project = make_project(tmp_path, server.url, n=3)
    first = run(project, batch=True)
    assert first.status == "incomplete" and records(first) == []
    assert "failed (line 1: invalid_json_line" in first.summary["error"]
    monkeypatch.setattr(openai_batch, "request_line", real)
    again = run(project, resume=first.run.id, batch=True)
    assert again.status == "complete" and len(records(again)) == 3


def test_an_unreadable_batch_state_names_the_file_and_field(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    from promptops.errors import RunError

    project = make_project(tmp_path, server.url, n=2)
    first = run(project, batch=True)
    (first.run.path / STATE_FILE).write_text('{"batches": [{"id": "b", "model": 3, "units": {}}]}')
    (first.run.path / "results.jsonl").write_text("")
    with pytest.raises(RunError, match=r"batches.json: batches\[0\].model: missing or not a str"):
        run(project, resume=first.run.id, batch=True)


def test_polling_backs_off_from_batch_poll_to_60_seconds() -> None:
    import asyncio

    from promptops.eval.batch import BatchPhase

    waits: list[float] = []

    async def sleep(s: float) -> None:
        waits.append(s)

    class Client:
        n = 0

        async def retrieve(self, batch_id: str) -> dict[str, Any]:
            self.n += 1
            status = "completed" if self.n > 12 else "in_progress"
            return {"id": batch_id, "status": status, "request_counts": {"total": 1}}

    opts = EvalOptions(batch=True, batch_poll=2.0)
    phase = BatchPhase(None, None, [], opts, None, set(), lambda t: iter(()), sleep=sleep)  # type: ignore[arg-type]
    info = asyncio.run(phase._poll(Client(), "batch-1"))  # type: ignore[arg-type]
    assert info["status"] == "completed"
    assert waits[:4] == [2.0, 3.0, 4.5, 6.75] and waits[-1] == 60.0 and len(waits) == 12


def test_judges_are_called_as_usual_after_the_batch_answers(
    tmp_path: Path, server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)  # where the judge (no api_base) goes
    server.responder = lambda r: Reply(
        r.text if r.text.startswith("Q: ") else '{"score": 1, "reason": "fine"}'
    )
    rubric = f"  - {{type: llm-rubric, value: Answers the question, judge: {MODEL}}}\n"
    project = make_project(tmp_path, server.url, n=4, extra=rubric)
    result = run(project, batch=True)
    recs = records(result)
    assert result.status == "complete" and all(r["pass"] for r in recs)
    assert len(server.batches.lines) == 4  # the cases, in the batch
    assert server.calls == 4  # the judges, one ordinary call per case
    assert all(not r.text.startswith("Q: ") for r in server.requests)


def test_a_batch_created_but_not_saved_is_found_by_the_run_id_on_resume(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    """The process ended between creating the batch and writing batches.json."""
    project = make_project(tmp_path, server.url, n=5)
    other = make_project(tmp_path / "other", server.url, n=5)
    run(other, batch=True)  # another run's batch, same cases: not adopted
    first = run(project, batch=True, use_cache=False)  # (else the cache answers the resume)
    (first.run.path / STATE_FILE).unlink()
    (first.run.path / "results.jsonl").write_text("")
    again = run(project, resume=first.run.id, batch=True, use_cache=False)
    assert again.status == "complete" and len(records(again)) == 5
    assert server.batches.ops["batch_create"] == 2 and server.batches.ops["batch_list"] == 1
    (entry,) = json.loads((first.run.path / STATE_FILE).read_text())["batches"]
    assert entry["adopted"] and entry["id"] == server.batches.batches[1]["id"]
    assert len(entry["units"]) == 5


def test_cli_an_expired_batch_exits_1_and_says_how_to_finish(
    tmp_path: Path, server: FakeOpenAI, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    server.batches.expire_after = 1
    make_project(tmp_path, server.url, n=3)
    result = cli("eval", "qa@1.0", "--batch", "--batch-poll", "0.01", "-q")
    assert result.exit_code == 1
    assert_no_traceback(result)
    (run_dir,) = (tmp_path / ".promptops/runs").iterdir()
    assert "2 requests were not answered" in result.stderr
    assert f"promptops eval --resume {run_dir.name}" in result.stderr
    server.batches.expire_after = None
    again = cli("eval", "--resume", run_dir.name, "-q")
    assert again.exit_code == 0, again.stderr
    assert server.batches.ops["batch_create"] == 2 and len(server.batches.lines) == 3


def test_a_saved_batch_the_provider_no_longer_has_is_submitted_again(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    project = make_project(tmp_path, server.url, n=3)
    first = run(project, batch=True, use_cache=False)
    path = first.run.path / STATE_FILE
    state = json.loads(path.read_text())
    state["batches"][0]["id"] = "batch-deleted"
    path.write_text(json.dumps(state))
    server.batches._batches.clear()  # the provider forgot it (not listed either)
    (first.run.path / "results.jsonl").write_text("")
    again = run(project, resume=first.run.id, batch=True, use_cache=False)
    assert again.status == "complete" and len(records(again)) == 3
    assert server.batches.ops["batch_create"] == 2
    saved = json.loads(path.read_text())["batches"]
    assert [b.get("status") for b in saved] == ["gone", "completed"]


def test_cli_a_submission_the_provider_rejects_exits_1_with_the_fix(
    tmp_path: Path, server: FakeOpenAI, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from promptops.providers.base import CallError

    async def rejected(self: Any, content: bytes, filename: str) -> str:
        raise CallError(
            "AuthenticationError: 401: bad key",
            transient=False,
            kind="auth",
            hint="check OPENAI_API_KEY",
        )

    monkeypatch.setattr(openai_batch.BatchClient, "upload", rejected)
    monkeypatch.chdir(tmp_path)
    make_project(tmp_path, server.url, n=2)
    result = cli("eval", "qa@1.0", "--batch", "-q")
    assert result.exit_code == 1
    assert_no_traceback(result)
    err = " ".join(result.stderr.split())
    assert "--batch: submitting 2 requests" in err and "check OPENAI_API_KEY" in err
    assert "internal error" not in err and "0 of 2 records kept in run" in err
    assert "finish it with: promptops eval --resume" in err
    assert "sk-test-secret" not in result.output
