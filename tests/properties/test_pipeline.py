"""Properties of ``promptops eval`` over any dataset: it ends, without a traceback, with exit
0 or 1; either it refused the dataset before starting (naming file and line) or it wrote a
summary whose record counts match results.jsonl (all planned records when ``complete``)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from typer.testing import Result

from conftest import assert_no_traceback

from .strategies import JSON, TEXT, scaled

Cli = Callable[..., Result]

ASSERTION = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            ["contains", "icontains", "equals", "max-words", "json-field", "not-contains"]
        ),
        "value": st.one_of(TEXT, st.sampled_from(["{{ document }}", "{{ expected }}"]), JSON),
    }
)
CASE = st.fixed_dictionaries(
    # mostly text (a document of another type is refused before the run, by design)
    {"vars": st.fixed_dictionaries({"document": st.one_of(TEXT, TEXT, TEXT, JSON)})},
    optional={
        "expected": JSON,
        "metadata": st.dictionaries(TEXT, JSON, max_size=2),
        "assert": st.lists(ASSERTION, max_size=1),
        "threshold": st.floats(0, 1),
    },
)


@settings(max_examples=scaled(15))
@example([{"vars": {"document": "x \ud83d y"}}, {"vars": {"document": "ok"}}], "4", True)
@given(
    st.lists(CASE, min_size=1, max_size=6),
    st.sampled_from(["1", "4"]),
    st.sampled_from([True, True, False]),  # raw: a lone surrogate is bytes that are not UTF-8
)
def test_any_dataset_ends_in_a_summary_or_a_clear_error(
    project: Path, cli: Cli, cases: list[dict], concurrency: str, escaped: bool
) -> None:
    shutil.rmtree(project / ".promptops", ignore_errors=True)
    lines = [json.dumps({"id": f"c{i}", **c}, ensure_ascii=escaped) for i, c in enumerate(cases)]
    dataset = project / "evals/summarize.jsonl"
    dataset.write_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogatepass"))
    result = cli("eval", "summarize@1.0", "-q", "-f", "json", "-c", concurrency, "--no-cache")
    assert_no_traceback(result)
    assert result.exit_code in (0, 1), result.output
    runs = list((project / ".promptops/runs").glob("*/run.json"))
    if not runs:  # refused before the first call: the dataset's file and line are named
        event("refused before the run")
        assert result.exit_code == 1
        assert "evals/summarize.jsonl:" in result.stderr, result.stderr
        return
    run = runs[0].parent
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    results = run / "results.jsonl"  # absent when the first case already failed
    records = results.read_text(encoding="utf-8").splitlines() if results.exists() else []
    assert summary["records"] == {"planned": len(cases), "written": len(records)}
    assert sum(g["n"] for g in summary["groups"]) == len(records)
    event(f"run {summary['status']}")
    if summary["status"] == "complete":
        assert len(records) == len(cases)
        assert result.exit_code == (0 if summary["bar"]["met"] else 1)
    else:
        assert summary["status"] == "error" and summary["error"]
        assert result.exit_code == 1 and "eval stopped" in result.stderr
