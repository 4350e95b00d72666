"""The typed run record (promptops.eval.records) and the run store (promptops.eval.store): what promptops
writes fits the models exactly, files of the previous release still load, JSON is written
atomically."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ValidationError
from typer.testing import Result

from conftest import assert_no_traceback
from promptops.errors import RunError
from promptops.eval.records import SCHEMA_VERSION, CaseRecord, RunSpec, Summary, migrate
from promptops.eval.store import RunDir, checked_records, iter_records

Cli = Callable[..., Result]
Write = Callable[..., Path]

REPO = Path(__file__).resolve().parents[2]
OLD = REPO / "tests/fixtures/runs/0.1.0"  # written by promptops 0.1.0 (see its README.md)
OLD_RUN = "20261130-005400-summarize-1.0.0-summarize-1.1.0-6611"
OLD_SHARDS = ("20261130-005402-summarize-1.0.0-b704", "20261130-005404-summarize-1.0.0-c131")


def strict(model: type[BaseModel], data: dict[str, Any]) -> None:
    """``data`` is exactly what ``model`` describes: validating and dumping it gives it back."""
    obj = model.model_validate(data)
    assert obj.model_dump(mode="json", by_alias=True, exclude_unset=True) == data


def assert_written_run_fits(run_dir: Path) -> int:
    """Every file of a run written by this promptops fits its model and its published schema."""
    schemas = {
        k: Draft202012Validator(json.loads((REPO / f"schemas/{k}.schema.json").read_text()))
        for k in ("run", "record", "summary")
    }
    meta = json.loads((run_dir / "run.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert meta["schema_version"] == summary["schema_version"] == SCHEMA_VERSION
    strict(RunSpec, meta)
    strict(Summary, summary)
    assert list(schemas["run"].iter_errors(meta)) == []
    assert list(schemas["summary"].iter_errors(summary)) == []
    n = 0
    for rec in iter_records(run_dir / "results.jsonl"):
        assert rec["schema_version"] == SCHEMA_VERSION
        strict(CaseRecord, rec)
        assert [e.message for e in schemas["record"].iter_errors(rec)] == []
        n += 1
    return n


def test_an_echo_run_fits_the_models(project: Path, cli: Cli) -> None:
    result = cli("eval", "summarize@1.0.0", "summarize@2.0.0", "-f", "json")
    assert result.exit_code == 0, result.output
    run_id = json.loads(result.stdout)["run_id"]
    assert assert_written_run_fits(project / ".promptops/runs" / run_id) == 6


CHAT = """\
name: chat
version: 1.0.0
model: openai/fake-model-2024-01-01
inputs:
  question: {type: string}
template: "{{ question }}"
tools:
  - type: function
    function:
      name: get_weather
      parameters: {type: object, properties: {city: {type: string}}, required: [city]}
tests:
  - id: conv
    vars: {question: Weather in Paris?}
    turns:
      - assert:
          - {type: tool-call, value: {name: get_weather, arguments: {city: Paris}}}
      - tool_results:
          - {name: get_weather, content: {temp: 21}}
        assert:
          - {type: contains, value: "21 degrees"}
  - id: single
    vars: {question: Weather in Oslo?}
    assert:
      - {type: tool-call, value: {name: get_weather}}
  - id: refused
    vars: {question: boom}
"""


def test_tool_calls_turns_and_errors_fit_the_models(
    project: Path, write: Write, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import re

    from promptops.testing.server import FakeOpenAI, Fault, Reply, Request
    from promptops.testing.tools import tool_reply

    def responder(request: Request) -> Any:
        last = request.messages[-1]
        if last.get("role") == "tool":
            return Reply(f"It is {json.loads(str(last['content']))['temp']} degrees.")
        if "boom" in request.text:
            return Fault(status=400, message="bad request")
        m = re.search(r"in (\w+)\?", request.text)
        return tool_reply(("get_weather", {"city": m.group(1) if m else "?"}))

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    write("prompts/chat/1.0.0.yaml", CHAT)
    with FakeOpenAI(responder) as server:
        result = cli(
            "eval", "chat@1.0.0", "--tests", "--api-base", server.url, "--retries", "0",
            "--fail-under", "0", "-f", "json",
        )  # fmt: skip
    assert_no_traceback(result)
    run_id = json.loads(result.stdout)["run_id"]
    run_dir = project / ".promptops/runs" / run_id
    assert assert_written_run_fits(run_dir) == 3
    recs = {r["case_id"]: r for r in iter_records(run_dir / "results.jsonl")}
    assert len(recs["conv"]["turns"]) == 2 and recs["single"]["tool_calls"]
    assert recs["refused"]["error"] and recs["refused"]["error_kind"]


def test_a_misspelt_field_is_an_error() -> None:
    good = json.loads((OLD / OLD_RUN / "results.jsonl").read_text().splitlines()[0])
    CaseRecord.model_validate(migrate(good))
    with pytest.raises(ValidationError, match="latency"):
        CaseRecord.model_validate(migrate({**good, "latencyms": 3.0}))
    summary = migrate(json.loads((OLD / OLD_RUN / "summary.json").read_text()))
    with pytest.raises(ValidationError, match="status"):
        Summary.model_validate({**summary, "status": "done"})


def test_a_newer_schema_version_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "r"
    shutil.copytree(OLD / OLD_RUN, run)
    data = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**data, "schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(RunError, match=r"summary.json: schema_version 2 is newer"):
        RunDir(run).summary()


def test_a_record_that_does_not_fit_names_its_line(tmp_path: Path) -> None:
    run = tmp_path / "r"
    shutil.copytree(OLD / OLD_RUN, run)
    lines = (run / "results.jsonl").read_text().splitlines()
    bad = json.loads(lines[1]) | {"tokens_in": "many"}
    lines[1] = json.dumps(bad)
    (run / "results.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(RunError, match=r"results.jsonl:2: tokens_in: "):
        list(checked_records(run / "results.jsonl"))


def test_json_files_are_written_atomically(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "r")
    spec = RunSpec(run_id="r", command="x")
    run.write_spec(spec)
    written = json.loads(run.meta_path.read_text())
    assert written == {"schema_version": SCHEMA_VERSION, "run_id": "r", "command": "x"}
    assert sorted(p.name for p in run.path.iterdir()) == ["run.json"]  # no temp file left


# ------------------------------------------------------------------ runs of the previous release


@pytest.fixture
def old_runs(project: Path) -> Path:
    runs = project / ".promptops/runs"
    runs.mkdir(parents=True)
    for d in OLD.iterdir():
        if d.is_dir():
            shutil.copytree(d, runs / d.name)
    return runs


def test_runs_of_the_previous_release_load_migrated(old_runs: Path) -> None:
    raw = json.loads((old_runs / OLD_RUN / "summary.json").read_text())
    assert "schema_version" not in raw and "seed" in raw["options"]
    run = RunDir(old_runs / OLD_RUN)
    meta, summary = run.meta(), run.summary()
    assert meta["schema_version"] == summary["schema_version"] == SCHEMA_VERSION
    assert "seed" not in meta["options"] and "seed" not in summary["options"]
    assert summary["status"] == "complete" and summary["groups"][1]["version"] == "1.1.0"
    strict(Summary, summary)
    strict(RunSpec, meta)
    records = list(checked_records(run.results_path))
    assert len(records) == 6 and all(r["schema_version"] == SCHEMA_VERSION for r in records)
    for rec in records:
        strict(CaseRecord, rec)


def test_show_run_reads_a_run_of_the_previous_release(old_runs: Path, cli: Cli) -> None:
    result = cli("show-run", OLD_RUN, "-f", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    shown = data.get("summary", data)
    assert shown["run_id"] == OLD_RUN and shown["status"] == "complete"
    text = cli("show-run", OLD_RUN)
    assert text.exit_code == 0, text.output
    assert "summarize@1.1.0" in text.output


def test_promote_takes_a_run_directory_of_the_previous_release(
    old_runs: Path, tmp_path: Path, cli: Cli
) -> None:
    elsewhere = tmp_path.parent / f"{tmp_path.name}-artifact"
    shutil.copytree(OLD / OLD_RUN, elsewhere / OLD_RUN)
    shutil.rmtree(old_runs)  # the evidence comes from the directory only
    result = cli("promote", "summarize", "1.1.0", "--env", "dev", "--evidence", str(elsewhere))
    assert result.exit_code == 0, result.output
    assert OLD_RUN in Path("registry.yaml").read_text() or OLD_RUN in result.output


def test_runs_merge_takes_shards_of_the_previous_release(old_runs: Path, cli: Cli) -> None:
    result = cli("runs", "merge", *OLD_SHARDS, "--id", "merged", "-f", "json")
    assert result.exit_code == 0, result.output
    merged = old_runs / "merged"
    assert assert_written_run_fits(merged) == 3
    summary = json.loads((merged / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["shards"]["missing"] == []
    assert summary["groups"][0]["n"] == 3


def test_runs_lists_past_an_unreadable_run(old_runs: Path, cli: Cli) -> None:
    path = old_runs / OLD_RUN / "summary.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "schema_version": 99}))
    result = cli("runs", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["run_id"]: r["status"] for r in json.loads(result.stdout)}
    assert rows[OLD_RUN] == "unreadable" and rows[OLD_SHARDS[0]] == "complete"
    assert "schema_version 99 is newer" in result.output


def test_the_suite_wide_check_catches_a_field_the_models_do_not_know(
    project: Path, cli: Cli
) -> None:
    """conftest's ``project`` fixture validates every run a test wrote; it can fail."""
    from conftest import check_written_runs

    result = cli("eval", "summarize@1.0.0", "-f", "json")
    assert result.exit_code == 0, result.output
    runs = project / ".promptops/runs"
    assert check_written_runs(runs) == 3
    path = runs / json.loads(result.stdout)["run_id"] / "results.jsonl"
    text = path.read_text()
    path.write_text(text.replace('"latency_ms"', '"latencyms"', 1))
    with pytest.raises(ValidationError, match="latencyms"):
        check_written_runs(runs)
    path.write_text(text)


def test_resume_takes_a_run_of_the_previous_release(old_runs: Path, cli: Cli) -> None:
    # its run.json records the dead option `seed`, which EvalOptions no longer has
    shard = OLD_SHARDS[0]
    (old_runs / shard / "summary.json").unlink()  # as if it had been killed before the end
    result = cli("eval", "--resume", shard, "-f", "json")
    assert result.exit_code == 0, result.output
    summary = json.loads((old_runs / shard / "summary.json").read_text())
    assert summary["schema_version"] == SCHEMA_VERSION and summary["status"] == "complete"
    assert summary["records"] == {"planned": 3, "written": 3} and summary["network_calls"] == 0
    assert "seed" not in summary["options"]


# ------------------------------------------------------------ a read-only or full disk (issue 21)


def _refuse_under(monkeypatch: pytest.MonkeyPatch, root: Path, err: int) -> None:
    """Writes and new directories under ``root`` fail with ``err`` (EROFS, ENOSPC): tests run
    as root too, where a read-only mode bit would not stop a write."""
    import errno
    import os

    real_mkdir, real_write = Path.mkdir, Path.write_text

    def refused(path: Path) -> OSError:
        return OSError(err, os.strerror(err), str(path))

    def mkdir(self: Path, *a: Any, **k: Any) -> None:
        if self.resolve().is_relative_to(root.resolve()) and not self.is_dir():
            raise refused(self)
        real_mkdir(self, *a, **k)

    def write_text(self: Path, *a: Any, **k: Any) -> int:
        if self.resolve().is_relative_to(root.resolve()):
            raise refused(self)
        return real_write(self, *a, **k)

    assert err in (errno.EROFS, errno.ENOSPC)
    monkeypatch.setattr(Path, "mkdir", mkdir)
    monkeypatch.setattr(Path, "write_text", write_text)


@pytest.mark.parametrize("err", ["EROFS", "ENOSPC"])
def test_an_unwritable_promptops_dir_at_the_start_is_one_line(
    project: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch, err: str
) -> None:
    import errno
    import os

    (project / ".promptops").mkdir()
    _refuse_under(monkeypatch, project / ".promptops", getattr(errno, err))
    result = cli("eval", "summarize@1.0", "-q")
    assert result.exit_code == 1
    assert_no_traceback(result)
    (line,) = [x for x in result.stderr.splitlines() if x.strip()]
    assert line.startswith("cannot write .promptops/runs")
    assert line.endswith(f"run.json: {os.strerror(getattr(errno, err))}")
    assert not (project / ".promptops/runs").exists()  # nothing torn, nothing half made


def test_a_run_dir_whose_run_json_fails_is_not_left_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    runs = tmp_path / "runs"
    runs.mkdir()
    run = RunDir(runs / "r1")
    real_replace = os.replace

    def full(src: Any, dst: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    monkeypatch.setattr(os, "replace", full)
    spec = RunSpec.model_validate(
        {"schema_version": SCHEMA_VERSION, "run_id": "r1", "refs": [], "options": {}}
    )
    with pytest.raises(RunError, match=r"cannot write .*run.json: No space left on device"):
        run.write_spec(spec)
    monkeypatch.setattr(os, "replace", real_replace)
    assert list(runs.iterdir()) == []  # neither the directory nor a temp file


class _FullDisk:
    """A results file on a disk that fills: it takes ``room`` more bytes, then ENOSPC."""

    def __init__(self, real: Any, room: int) -> None:
        self.real, self.room = real, room

    def write(self, data: Any) -> int:
        import errno

        if self.room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = self.real.write(bytes(data[: self.room]))
        self.room -= n
        return int(n)

    def fileno(self) -> int:
        return int(self.real.fileno())

    def close(self) -> None:
        self.real.close()


def test_a_disk_that_fills_mid_record_leaves_whole_lines(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "r1")
    run.append({"case_id": "a", "digest": "d", "model": "m"})
    assert run._fh is not None
    run._fh = _FullDisk(run._fh, 10)  # type: ignore[assignment]
    with pytest.raises(RunError, match=r"results.jsonl: No space left on device"):
        run.append({"case_id": "b", "digest": "d", "model": "m", "output": "x" * 100})
    run.close()
    lines = run.results_path.read_text(encoding="utf-8").splitlines(keepends=True)
    assert [json.loads(x)["case_id"] for x in lines] == ["a"] and lines[0].endswith("\n")


def test_a_disk_that_fills_mid_run_says_what_is_kept(
    project: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run stops 'error'; summary.json cannot be written either, and the message says so
    (it used to say the run 'is marked error' when nothing could be marked)."""
    import errno

    real_append = RunDir.append
    calls = {"n": 0}

    def append(self: RunDir, record: dict[str, Any]) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # the disk is full from here on
            self._fh = _FullDisk(self._fh, 0)  # type: ignore[assignment]
            _refuse_under(monkeypatch, self.path, errno.ENOSPC)
        real_append(self, record)

    monkeypatch.setattr(RunDir, "append", append)
    result = cli("eval", "summarize@1.0", "-q", "-c", "1")
    assert result.exit_code == 1
    assert_no_traceback(result)
    (run,) = list((project / ".promptops/runs").iterdir())
    message = " ".join(result.stderr.split())
    assert "results.jsonl: No space left on device" in message
    assert "its summary could not be written" in message
    assert f"2 of 3 records kept in run {run.name}, without a summary" in message
    assert f"promptops eval --resume {run.name}" in message
    assert "marked" not in message
    assert not (run / "summary.json").exists()
    assert not list(run.glob("*.tmp*"))
    lines = (run / "results.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and all(json.loads(x) for x in lines)
