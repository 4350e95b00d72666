"""The eval loop against the loopback server (real litellm path), the echo provider and a
test-only plugin provider."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from promptops.errors import PromptOpsError, SpecError, UsageError
from promptops.eval.runner import EvalOptions, run_eval
from promptops.eval.store import iter_records
from promptops.project import Project
from promptops.refs import resolve
from promptops.testing.server import FakeOpenAI, Fault, Reply, Request, fail_first

MODEL = "openai/gpt-4o-mini-2024-07-18"  # priced in litellm's local price map

PROMPT = """\
name: qa
version: {version}
model:
  id: {model}
  api_base: {url}
  params: {{temperature: 0, max_tokens: 20}}
fallbacks: {fallbacks}
inputs:
  question: string
template: "Q: {{{{ question }}}}"
dataset: evals/qa.jsonl
assert:
  - {{type: icontains, value: "{{{{ expected }}}}"}}
fail_under: 0.5
"""


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-0123456789")


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as s:
        yield s


def make_project(
    root: Path,
    url: str,
    n: int = 10,
    version: str = "1.0.0",
    fallbacks: str = "[]",
    model: str = MODEL,
) -> Project:
    (root / "prompts/qa").mkdir(parents=True, exist_ok=True)
    (root / "evals").mkdir(exist_ok=True)
    (root / f"prompts/qa/{version}.yaml").write_text(
        PROMPT.format(version=version, model=model, url=url, fallbacks=fallbacks)
    )
    with (root / "evals/qa.jsonl").open("w") as fh:
        for i in range(n):
            fh.write(
                json.dumps(
                    {"id": f"c{i:03d}", "vars": {"question": f"case {i}"}, "expected": f"case {i}"}
                )
                + "\n"
            )
    return Project(root)


def run(project: Project, **opts: object) -> tuple[dict, list[dict]]:
    pv = resolve("qa@1.0", project)
    result = run_eval(project, [pv], EvalOptions(**opts))  # type: ignore[arg-type]
    return result.summary, list(iter_records(result.run.results_path))


def test_happy_path_records_and_summary(tmp_path: Path, server: FakeOpenAI) -> None:
    project = make_project(tmp_path, server.url)
    summary, records = run(project)
    assert len(records) == 10 and server.calls == 10
    g = summary["groups"][0]
    assert (g["n"], g["passed"], g["errors"]) == (10, 10, 0)
    assert g["pass_rate"] == 1.0 and g["pass_rate_ci95"][0] > 0.6
    assert g["tokens_in"] > 0 and g["tokens_out"] > 0
    assert g["latency_ms"]["p50"] is not None and g["latency_ms"]["p99"] >= g["latency_ms"]["p50"]
    rec = records[0]
    for field in (
        "case_id",
        "version",
        "digest",
        "model",
        "repeat",
        "messages_hash",
        "output",
        "latency_ms",
        "tokens_in",
        "tokens_out",
        "cost",
        "assertions",
        "score",
        "pass",
        "trace_id",
    ):
        assert field in rec, field
    assert rec["cost"] is not None and rec["cost"] > 0
    assert summary["status"] == "complete" and summary["bar"]["met"]
    prov = summary["provenance"]
    assert prov["prompts"]["qa@1.0.0"]["digest"].startswith("sha256:")
    assert prov["datasets"]["evals/qa.jsonl"].startswith("sha256:")
    assert prov["promptops_version"]


def test_unpriced_model_cost_is_unknown_not_zero(tmp_path: Path, server: FakeOpenAI) -> None:
    project = make_project(
        tmp_path, server.url, n=2, model="openai/no-such-priced-model-2024-01-01"
    )
    summary, records = run(project)
    assert all(r["cost"] is None for r in records)
    assert summary["groups"][0]["cost_unknown"] == 2


@pytest.mark.parametrize(
    "fault",
    [
        Fault.rate_limit(retry_after=0.3),
        Fault.server_error(500),
        Fault.malformed(),
        Fault.hang(5.0),
        Fault.drop(),
    ],
    ids=["429", "500", "malformed", "hang", "drop"],
)
def test_transient_faults_are_retried_once_each(
    tmp_path: Path, server: FakeOpenAI, fault: Fault
) -> None:
    server.responder = fail_first(1, fault)
    project = make_project(tmp_path, server.url, n=4)
    t0 = time.perf_counter()
    summary, records = run(project, timeout=1.0, retries=2, concurrency=4)
    elapsed = time.perf_counter() - t0
    assert len(records) == 4, "nothing lost or double-counted"
    assert sorted(r["case_id"] for r in records) == [f"c{i:03d}" for i in range(4)]
    assert all(r["pass"] and r["attempts"] == 2 for r in records), records
    assert summary["groups"][0]["errors"] == 0
    if fault.status == 429:
        assert elapsed >= 0.3, "Retry-After was honoured"


def test_permanent_failure_is_an_error_with_reason(tmp_path: Path, server: FakeOpenAI) -> None:
    server.responder = lambda req: Fault.server_error(503)
    project = make_project(tmp_path, server.url, n=3)
    summary, records = run(project, retries=1)
    assert server.calls == 6  # 1 try + 1 retry each
    assert all(r["error"] and r["error_kind"] == "server_error" and not r["pass"] for r in records)
    g = summary["groups"][0]
    assert (g["n"], g["errors"], g["passed"], g["failed"]) == (3, 3, 0, 0)
    assert not summary["bar"]["met"]


def test_auth_error_is_not_retried_and_key_never_recorded(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    def leaky(req: Request) -> Fault:
        auth = req.headers.get("authorization", "")
        return Fault.http_error(401, message=f"Incorrect API key provided: {auth}")

    server.responder = leaky
    project = make_project(tmp_path, server.url, n=2)
    _summary, records = run(project, retries=3)
    assert server.calls == 2
    assert all(r["error_kind"] == "auth" for r in records)
    for f in (project.runs_dir).rglob("*"):
        if f.is_file():
            assert "sk-test-secret-0123456789" not in f.read_text(), f


def test_fallback_model_answers_when_primary_fails(tmp_path: Path, server: FakeOpenAI) -> None:
    def by_model(req: Request) -> Fault | Reply:
        return Fault.server_error(500) if req.model == "primary-2024-01-01" else Reply("case ok")

    server.responder = by_model
    project = make_project(
        tmp_path,
        server.url,
        n=2,
        model="openai/primary-2024-01-01",
        fallbacks="[openai/backup-2024-01-01]",
    )
    # fallbacks get no api_base of their own: point litellm at the server through the env
    os.environ["OPENAI_BASE_URL"] = server.url
    try:
        _summary, records = run(project, retries=0)
    finally:
        del os.environ["OPENAI_BASE_URL"]
    assert all(r["answered_by"] == "openai/backup-2024-01-01" for r in records), records


def test_cache_rerun_makes_no_calls_and_repeat_samples_are_independent(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    project = make_project(tmp_path, server.url, n=5)
    run(project, repeat=2)
    assert server.calls == 10  # 5 cases x 2 repeats: distinct cache keys
    summary, records = run(project, repeat=2)
    assert server.calls == 10 and summary["network_calls"] == 0
    assert all(r["cached"] for r in records)
    run(project, use_cache=False)
    assert server.calls == 15


def test_cached_rerun_does_not_import_litellm(tmp_path: Path, server: FakeOpenAI) -> None:
    project = make_project(tmp_path, server.url, n=3)
    run(project)
    code = (
        "import sys; from typer.testing import CliRunner; from promptops.cli import app; "
        "r = CliRunner().invoke(app, ['eval', 'qa@1.0', '-q']); print(r.exit_code, 'litellm' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=project.root, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["0", "False"], out.stdout + out.stderr


def test_budget_stops_scheduling_and_keeps_finished(tmp_path: Path, server: FakeOpenAI) -> None:
    project = make_project(tmp_path, server.url, n=40)
    summary, records = run(project, max_cost=0.0000001, concurrency=2)
    assert summary["status"] == "budget"
    assert 1 <= len(records) < 40
    assert summary["groups"][0]["n"] == len(records)
    assert not summary["bar"]["met"]


def test_bad_dataset_line_stops_before_starting(tmp_path: Path, server: FakeOpenAI) -> None:
    project = make_project(tmp_path, server.url, n=3)
    with (tmp_path / "evals/qa.jsonl").open("a") as fh:
        fh.write('{"id": "broken", "vars": {"question": 1}\n')
    with pytest.raises(SpecError) as e:
        run(project)
    assert str(e.value).startswith("evals/qa.jsonl:4:") or ":4:" in str(e.value)
    assert server.calls == 0
    assert not project.runs_dir.exists()


def test_duplicate_ids_and_wrong_vars_are_errors(tmp_path: Path, server: FakeOpenAI) -> None:
    project = make_project(tmp_path, server.url, n=2)
    with (tmp_path / "evals/qa.jsonl").open("a") as fh:
        fh.write('{"id": "c000", "vars": {"question": "again"}}\n')
    with pytest.raises(SpecError, match=r":3: id: duplicate case id 'c000' \(first on line 1\)"):
        run(project)
    (tmp_path / "evals/qa.jsonl").write_text('{"id": "x", "vars": {"questoin": "typo"}}\n')
    with pytest.raises(SpecError, match=r":1: vars: unknown variable 'questoin'"):
        run(project)


def test_usage_errors(tmp_path: Path, server: FakeOpenAI) -> None:
    project = make_project(tmp_path, server.url, n=1)
    for bad in ({"concurrency": 0}, {"repeat": 0}, {"shard": (3, 2)}, {"fail_under": 2.0}):
        with pytest.raises(UsageError):
            run(project, **bad)


def test_model_matrix_gives_one_group_per_model(tmp_path: Path, server: FakeOpenAI) -> None:
    project = make_project(tmp_path, server.url, n=3)
    summary, records = run(project, models=[MODEL, "echo/echo"], api_base=server.url)
    assert [g["model"] for g in summary["groups"]] == [MODEL, "echo/echo"]
    assert len(records) == 6


def test_filter_limit_and_shards_partition_the_dataset(tmp_path: Path) -> None:
    project = make_project(tmp_path, "http://127.0.0.1:9/v1", n=30, model="echo/echo")
    _, recs = run(project, filter="c00*")
    assert sorted(r["case_id"] for r in recs) == [f"c00{i}" for i in range(10)]
    _, recs = run(project, limit=4)
    assert len(recs) == 4
    seen: list[str] = []
    for k in range(1, 4):
        _, recs = run(project, shard=(k, 3))
        seen += [r["case_id"] for r in recs]
    assert sorted(seen) == [f"c{i:03d}" for i in range(30)]


def test_missing_dataset_is_a_clear_error(tmp_path: Path) -> None:
    project = make_project(tmp_path, "http://127.0.0.1:9/v1", n=1, model="echo/echo")
    (tmp_path / "evals/qa.jsonl").unlink()
    with pytest.raises(PromptOpsError, match=r"evals/qa\.jsonl: dataset not found"):
        run(project)


# --------------------------------------------------------------------------- Ctrl-C and resume


def _cli(args: list[str], cwd: Path, **kw: object) -> subprocess.Popen[str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.Popen(
        [sys.executable, "-m", "promptops", *args],
        cwd=cwd,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kw,
    )  # type: ignore[call-overload]


def _wait_for_lines(
    path_glob: Callable[[], list[Path]],
    n: int,
    timeout: float = 60,
    proc: subprocess.Popen[str] | None = None,
) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the run ended early: {proc.communicate()[1]}")
        files = path_glob()
        if files and sum(1 for _ in files[0].open()) >= n:
            return
        time.sleep(0.05)
    raise AssertionError("run did not make progress")


# A test-only provider, loaded by the CLI from the project's ``plugins:``: like the fake server
# it sleeps per call and echoes ("nope" for questions ending in 7), and it logs every call it
# is asked. It is cacheable like a real model, and imports no litellm, so each CLI process
# starts in a fraction of a second (the litellm path of an interrupted run is
# test_runner_faults.py::test_sigterm_writes_a_summary_and_exits_143).
SLOW_PROVIDER = """\
import asyncio
import json

from promptops.providers import Completion, provider


class Slow:
    cacheable = True
    default_timeout = 60.0

    async def complete(self, call):
        text = call.messages[-1]["content"]
        with open("calls.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"text": text, "api_base": call.api_base}) + "\\n")
        await asyncio.sleep(0.15)
        answer = "nope" if text.endswith("7") else text
        return Completion(text=answer, model=call.model, tokens_in=2, tokens_out=2, cost=0.0)

    def identity(self, model):
        return {}


@provider("slow")
def _slow():
    return Slow()
"""
SLOW_BASE = "http://127.0.0.1:9/v1"  # never connected to: the provider only records it


def _slow_project(root: Path, n: int) -> Project:
    project = make_project(root, SLOW_BASE, n=n, model="slow/qa-2024-07-18")
    (root / "slow_provider.py").write_text(SLOW_PROVIDER, encoding="utf-8")
    (root / "promptops.yaml").write_text("plugins: [slow_provider.py]\n", encoding="utf-8")
    return project


def _calls(project: Project) -> list[dict[str, str]]:
    path = project.root / "calls.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_interrupt_then_resume_equals_uninterrupted(tmp_path: Path) -> None:
    # 60 cases at 0.15 s over 2 slots: a window of seconds for the Ctrl-C, even on a loaded machine
    N = 60
    a = _slow_project(tmp_path / "a", N)
    b = _slow_project(tmp_path / "b", N)
    # the uninterrupted reference, a CLI run of its own beside the interrupted one
    reference = _cli(["eval", "qa@1.0", "-q", "--no-cache", "--fail-under", "0"], b.root)
    try:
        _interrupt_and_resume(a, N)
        _out, err = reference.communicate(timeout=120)
    finally:
        reference.kill()
    assert reference.returncode == 0, err
    whole = json.loads((next(b.runs_dir.iterdir()) / "summary.json").read_text())
    resumed = json.loads((next(a.runs_dir.iterdir()) / "summary.json").read_text())
    keys = ("n", "cases", "passed", "failed", "errors", "pass_rate", "mean_score", "assertions")
    assert resumed["status"] == whole["status"] == "complete"
    assert {k: resumed["groups"][0][k] for k in keys} == {k: whole["groups"][0][k] for k in keys}
    assert resumed["groups"][0]["passed"] == N - 6  # c007, c017, ... c057 answer "nope"


def _interrupt_and_resume(a: Project, N: int) -> None:
    """Ctrl-C a CLI run of ``a`` after 5 records, then finish it with ``--resume``."""
    proc = _cli(["eval", "qa@1.0", "-q", "--concurrency", "2"], a.root)
    try:
        _wait_for_lines(lambda: sorted(a.runs_dir.glob("*/results.jsonl")), 5, proc=proc)
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    run_dir = next(a.runs_dir.iterdir())
    partial = json.loads((run_dir / "summary.json").read_text())
    assert partial["status"] == "interrupted"
    done = partial["groups"][0]["n"]
    assert 5 <= done < N
    finished = {r["case_id"] for r in iter_records(run_dir / "results.jsonl")}
    assert len(finished) == done
    calls_before = len(_calls(a))
    proc = _cli(["eval", "--resume", run_dir.name, "-q"], a.root)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    # A call cancelled by Ctrl-C after its answer reached the cache is served from the
    # cache on resume, so count cases, not calls: no finished case is asked again, and
    # every unfinished one is recorded exactly once.
    calls = _calls(a)
    asked = {c["text"].removeprefix("Q: case ") for c in calls[calls_before:]}
    assert asked, "the resumed run made no calls"
    assert not asked & {c.removeprefix("c").lstrip("0") or "0" for c in finished}
    assert {c["api_base"] for c in calls} == {SLOW_BASE}  # resumed with the run's endpoint
    records = list(iter_records(run_dir / "results.jsonl"))
    assert len(records) == N
    assert sorted(r["case_id"] for r in records) == [f"c{i:03d}" for i in range(N)]


def test_memory_stays_bounded_as_the_dataset_grows(tmp_path: Path) -> None:
    """Peak RSS for 20,000 echo cases is within a few MB of 2,000 cases: streaming, not loading."""
    code = (
        "import resource, sys; from typer.testing import CliRunner; from promptops.cli import app; "
        "r = CliRunner().invoke(app, ['eval', 'qa@1.0', '-q', '--format', 'json', '--concurrency', '16']); "
        "assert r.exit_code == 0, r.output; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    rss = {}
    for n in (2000, 20000):
        project = make_project(tmp_path / str(n), "http://127.0.0.1:9/v1", n=n, model="echo/echo")
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=project.root, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        rss[n] = int(out.stdout.split()[-1]) / 1024
    assert rss[20000] - rss[2000] < 25, rss
