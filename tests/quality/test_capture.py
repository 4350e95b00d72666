"""``promptops capture``: production call records -> masked, de-duplicated candidate cases."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from conftest import assert_no_traceback, error_lines
from promptops.datasets import iter_cases
from promptops.quality.capture import candidates_path, capture, input_hash


@pytest.fixture(autouse=True)
def _in_project(project: Path) -> None:
    pass


def record(doc: str, trace: str, **extra: Any) -> dict[str, Any]:
    return {
        "promptops.prompt.name": "summarize",
        "promptops.prompt.version": "1.0.0",
        "promptops.trace_id": trace,
        "promptops.vars": {"document": doc},
        "promptops.output": doc.upper(),
        **extra,
    }


def write_records(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_candidates(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_candidates_path() -> None:
    assert candidates_path(Path("evals/x-gold.jsonl")) == Path("evals/x-gold.candidates.jsonl")


def test_capture_masks_pii_dedupes_and_records_provenance(project: Path) -> None:
    rows = [
        record(
            "Mail ada@example.com about card 4111 1111 1111 1111.",
            "t1",
            **{"error.type": "timeout"},
        ),
        record("Mail bob@example.org about card 4111 1111 1111 1111.", "t2"),  # same once masked
        record("The weather is fine.", "t3", **{"promptops.feedback.score": -1}),
        {"promptops.prompt.name": "other", "promptops.vars": {"document": "x"}},
        {"promptops.prompt.name": "summarize", "promptops.trace_id": "t4"},  # no content
        {"level": "info", "message": "unrelated"},
    ]
    records = write_records(project / "calls.jsonl", rows)
    gold = project / "evals" / "summarize.jsonl"
    result = capture("summarize", [records], gold)
    assert len(result.added) == 2 and result.duplicates == 1
    assert (result.other_prompt, result.no_content, len(result.skipped)) == (1, 1, 1)
    assert result.masked == {"email": 1, "card": 1}
    out = candidates_path(gold)
    cases = read_candidates(out)
    first = cases[0]
    assert first["vars"] == {"document": "Mail [email] about card [card]."}
    assert "ada@example.com" not in out.read_text() and "4111" not in out.read_text()
    meta = first["metadata"]
    assert meta["source"] == "production" and meta["trace_id"] == "t1"
    assert meta["error"] == "timeout" and meta["version"] == "1.0.0"
    assert meta["input_hash"] == input_hash(first["vars"]) and first["id"].startswith("prod-")
    assert meta["output"] == "MAIL [email] ABOUT CARD [card]."
    assert cases[1]["metadata"]["feedback"] == -1
    # the gold set is untouched and the candidates file is a valid dataset
    assert [c.id for c in iter_cases(gold)] == ["short", "long", "budget"]
    assert [c.id for c in iter_cases(out)] == [c["id"] for c in cases]
    # a second capture of the same records adds nothing
    again = capture("summarize", [records], gold)
    assert again.added == [] and again.duplicates == 3


def test_keep_pii_and_gold_cases_count_as_known(project: Path) -> None:
    rows = [record("Call +44 20 7946 0958 now", "t1"), record("The cat sat on the mat.", "t2")]
    records = write_records(project / "calls.jsonl", rows)
    gold = project / "evals" / "summarize.jsonl"
    result = capture("summarize", [records], gold, keep_pii=True)
    assert result.duplicates == 1  # the gold set's "short" case has the same inputs
    [case] = read_candidates(candidates_path(gold))
    assert case["vars"]["document"] == "Call +44 20 7946 0958 now"


def test_secrets_are_redacted_even_with_keep_pii(project: Path) -> None:
    rows = [record("my key is sk-abcdefghijklmnop1234", "t1")]
    records = write_records(project / "calls.jsonl", rows)
    capture("summarize", [records], project / "evals" / "summarize.jsonl", keep_pii=True)
    text = candidates_path(project / "evals" / "summarize.jsonl").read_text()
    assert "sk-abcdefghijklmnop1234" not in text and "[redacted]" in text


def test_where_selects_errors_feedback_and_samples(project: Path) -> None:
    rows = [record(f"doc {i}", f"t{i}") for i in range(200)]
    rows[5]["error.type"] = "timeout"
    rows[7]["promptops.feedback.score"] = 0
    records = write_records(project / "calls.jsonl", rows)
    gold = project / "evals" / "g.jsonl"
    picked = capture("summarize", [records], gold, where="error or feedback == 0")
    assert [c["metadata"]["trace_id"] for c in read_candidates(candidates_path(gold))] == [
        "t5",
        "t7",
    ]
    assert picked.not_selected == 198
    sample = capture("summarize", [records], project / "evals" / "h.jsonl", where="rand < 0.25")
    assert 25 <= len(sample.added) <= 75  # a stable ~25% sample of 200 (by trace id)
    again = capture("summarize", [records], project / "evals" / "i.jsonl", where="rand < 0.25")
    assert again.added == sample.added


def test_real_runtime_log_records_are_captured(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The runtime API's own log record (plus captured inputs) is a call record."""
    from promptops import Registry

    caplog.set_level(logging.INFO, logger="promptops.runtime")
    p = Registry.load(".").get("summarize", "prod")
    reply = p.complete(document="Budgets were cut again.")
    [rec] = [r for r in caplog.records if r.name == "promptops.runtime"]
    line = {"message": rec.getMessage(), "promptops": rec.promptops}  # type: ignore[attr-defined]
    line["promptops"]["promptops.vars"] = {"document": "Budgets were cut again."}
    records = write_records(project / "calls.jsonl", [line])
    result = capture("summarize", [records], project / "evals" / "summarize.jsonl")
    [case] = read_candidates(candidates_path(project / "evals" / "summarize.jsonl"))
    assert result.added == [case["id"]] and case["metadata"]["trace_id"] == reply.trace_id
    assert case["metadata"]["version"] == "1.0.0"


def test_cli_capture(project: Path, cli: Callable[..., Result]) -> None:
    records = write_records(project / "calls.jsonl", [record("a@b.io wrote", "t1")])
    result = cli("capture", "summarize", "--records", str(records))
    assert result.exit_code == 0, result.output
    assert "1 candidate(s) appended to evals/summarize.candidates.jsonl" in result.output
    assert "PII masked: 1 email" in result.output
    result = cli("capture", "summarize", "--records", str(records), "--json")
    assert json.loads(result.output)["duplicates"] == 1


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--records", "missing.jsonl"], 1, "missing.jsonl: records file not found"),
        (["--records", "calls.jsonl", "--where", "__import__('os')"], 2, "--where: name"),
        (
            ["--records", "calls.jsonl", "--where", "vars['nope'] > 1"],
            1,
            "calls.jsonl:1: --where raised KeyError",
        ),
        (["--records", "bad.jsonl"], 1, "bad.jsonl:2: invalid JSON"),
    ],
)
def test_cli_capture_errors(
    project: Path, cli: Callable[..., Result], args: list[str], code: int, message: str
) -> None:
    write_records(project / "calls.jsonl", [record("x", "t1")])
    (project / "bad.jsonl").write_text(json.dumps(record("x", "t1")) + "\nnot json\n")
    result = cli("capture", "summarize", *args)
    assert result.exit_code == code, result.output
    assert_no_traceback(result)
    assert any(message in line for line in error_lines(result)), result.output


def test_capture_and_calibrate_import_neither_litellm_nor_pandas(project: Path) -> None:
    from conftest import run_python

    write_records(project / "calls.jsonl", [record("x", "t1")])
    done = run_python(
        "import sys, json\n"
        "from typer.testing import CliRunner\n"
        "from promptops.cli import app\n"
        "r = CliRunner()\n"
        "a = r.invoke(app, ['capture', 'summarize', '--records', 'calls.jsonl'])\n"
        "b = r.invoke(app, ['calibrate', 'summarize'])\n"
        "print(json.dumps([a.exit_code, b.exit_code, sorted({m.split('.')[0] for m in sys.modules} & {'litellm', 'pandas'})]))\n",
        project,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == [0, 0, []]


def test_the_runtimes_own_jsonl_log_is_captured(project: Path) -> None:
    """Registry.load(record_to=..., capture_content=True) writes the records capture reads:
    a failed-looking answer with negative feedback becomes a candidate, with its inputs."""
    from promptops import Registry

    log = project / "calls.jsonl"
    reg = Registry.load(".", record_to=log, capture_content=True)
    p = reg.get("summarize", "prod")
    good = p.complete(document="Budgets were cut again.")
    bad = p.complete(document="The mayor resigned on Friday.")
    reg.feedback(good.trace_id, 1.0)
    reg.feedback(bad.trace_id, 0.0, "missed the point")
    result = capture(
        "summarize", [log], project / "evals" / "summarize.jsonl", where="feedback < 0.5"
    )
    [case] = read_candidates(candidates_path(project / "evals" / "summarize.jsonl"))
    assert result.added == [case["id"]]
    assert case["vars"] == {"document": "The mayor resigned on Friday."}
    assert case["metadata"]["trace_id"] == bad.trace_id
