"""What lint knows stops ``eval`` (and ``diff``) before the first model call: exit 1, the lint
lines, no run recorded, no request sent."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import Result

from conftest import assert_no_traceback, error_lines
from promptops.testing.server import FakeOpenAI

GOOD = """\
name: qa
version: 1.0.0
model:
  id: {model}
  api_base: {url}
inputs:
  question: string
template: "{template}"
dataset: evals/qa.jsonl
assert:
  - {{type: {atype}, value: "case"}}
"""


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as s:
        yield s


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-0123456789")
    monkeypatch.chdir(tmp_path)


def make(
    root: Path,
    url: str,
    *,
    model: str = "openai/gpt-4o-mini-2024-07-18",
    template: str = "Q: {{ question }}",
    atype: str = "icontains",
    version: str = "1.0.0",
) -> None:
    (root / "prompts/qa").mkdir(parents=True, exist_ok=True)
    (root / "evals").mkdir(exist_ok=True)
    text = GOOD.format(model=model, url=url, template=template, atype=atype)
    (root / f"prompts/qa/{version}.yaml").write_text(text.replace("1.0.0", version))
    lines = (json.dumps({"id": f"c{i}", "vars": {"question": f"case {i}"}}) for i in range(50))
    (root / "evals/qa.jsonl").write_text("\n".join(lines) + "\n")


def refused(result: Result, root: Path, server: FakeOpenAI) -> list[str]:
    assert_no_traceback(result)
    assert result.exit_code == 1, result.output
    assert server.calls == 0
    assert not (root / ".promptops/runs").exists() or not any(
        (root / ".promptops/runs").iterdir()
    ), "no run recorded"
    return error_lines(result)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"atype": "icontians"}, "unknown assertion type 'icontians'; did you mean icontains"),
        ({"template": "Q: {{ question }"}, "template syntax error"),
        (
            {"model": "opneai/gpt-4o-mini-2024-07-18"},
            "did you mean 'openai/gpt-4o-mini-2024-07-18'?",
        ),
        ({"model": "openai/gpt-4o-mini-2024-07-81"}, "'2024-07-81' is not a valid date"),
        ({"model": "local/gemma-3-27m"}, "did you mean 'local/gemma-3-270m'?"),
    ],
    ids=["assertion-type", "jinja", "provider", "date", "local-name"],
)
def test_eval_stops_before_the_first_call(
    tmp_path: Path,
    server: FakeOpenAI,
    cli: Callable[..., Result],
    kwargs: dict[str, str],
    expected: str,
) -> None:
    make(tmp_path, server.url, **kwargs)
    lines = refused(cli("eval", "qa@1.0", "-q"), tmp_path, server)
    assert any(line.startswith("prompts/qa/1.0.0.yaml:") for line in lines), lines
    assert any(expected in line for line in lines), lines
    assert "append" not in " ".join(lines)


def test_model_flag_typo_is_refused(
    tmp_path: Path, server: FakeOpenAI, cli: Callable[..., Result]
) -> None:
    make(tmp_path, server.url)
    lines = refused(
        cli("eval", "qa@1.0", "-q", "-m", "anthropc/claude-3-5-sonnet-20241022"), tmp_path, server
    )
    assert lines == [
        "--model: unknown provider 'anthropc' in 'anthropc/claude-3-5-sonnet-20241022'; did you "
        "mean 'anthropic/claude-3-5-sonnet-20241022'? (known: litellm's providers, echo, local)"
    ]


def test_diff_checks_both_versions(
    tmp_path: Path, server: FakeOpenAI, cli: Callable[..., Result]
) -> None:
    make(tmp_path, server.url)
    make(tmp_path, server.url, version="1.1.0", atype="icontians")
    lines = refused(cli("diff", "qa@1.0.0", "qa@1.1.0"), tmp_path, server)
    assert any("prompts/qa/1.1.0.yaml" in line and "icontians" in line for line in lines), lines


def test_clean_prompt_runs(tmp_path: Path, server: FakeOpenAI, cli: Callable[..., Result]) -> None:
    make(tmp_path, server.url)
    result = cli("eval", "qa@1.0", "-q")
    assert result.exit_code == 0, result.output
    assert server.calls == 50


@pytest.mark.parametrize(
    ("model", "suggestion"),
    [
        ("openai/gpt-4o-mni", "did you mean 'openai/gpt-4o-mini-2024-07-18'"),
        ("gpt4o", "did you mean 'openai/gpt-4o-2024-"),
    ],
)
def test_model_flag_unknown_model_is_refused_with_a_pinned_suggestion(
    tmp_path: Path,
    server: FakeOpenAI,
    cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
    model: str,
    suggestion: str,
) -> None:
    # no connection of any kind is opened (the id would go to the provider's own servers)
    import socket

    connects: list[object] = []

    def no_connect(sock: socket.socket, address: object) -> None:
        connects.append(address)
        raise OSError("test: no network")

    make(tmp_path, server.url)
    monkeypatch.setattr(socket.socket, "connect", no_connect)
    lines = refused(cli("eval", "qa@1.0", "-q", "-m", model), tmp_path, server)
    assert connects == []
    assert len(lines) == 1, lines  # one line: not also the pinning rule's
    assert lines[0].startswith(f"--model: unknown model '{model}'") and suggestion in lines[0]
    assert "allow_unpinned" in lines[0]


def test_unknown_model_in_a_prompt_file_names_file_line_and_field(
    tmp_path: Path, server: FakeOpenAI, cli: Callable[..., Result]
) -> None:
    make(tmp_path, server.url, model="openai/gpt-4o-mni-2024-07-18")
    text = (tmp_path / "prompts/qa/1.0.0.yaml").read_text()
    (tmp_path / "prompts/qa/1.0.0.yaml").write_text(text.replace(f"  api_base: {server.url}\n", ""))
    result = cli("lint")
    assert result.exit_code == 1, result.output
    assert any(
        line.startswith("prompts/qa/1.0.0.yaml:4: model.id: unknown model")
        and "'openai/gpt-4o-mini-2024-07-18'" in line
        for line in error_lines(result)
    ), result.output


def test_known_model_check_is_skipped_with_an_endpoint_an_allowance_or_no_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from promptops import modelids

    typo = "openai/gpt-4o-mni"
    assert modelids.model_problem(typo) is not None
    assert modelids.model_problem(typo, api_base="http://127.0.0.1:8000/v1") is None
    assert modelids.model_problem(typo, allow=["openai/gpt-4o-mni*"]) is None
    assert modelids.model_problem("ollama/anything-at-all") is None
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # a server of one's own
    assert modelids.model_problem(typo) is None
    monkeypatch.delenv("OPENAI_BASE_URL")
    assert modelids.model_problem("openai/ft:gpt-4o-mini-2024-07-18:acme::abc") is None
    # litellm's list moved or is missing: nothing is refused (the call's own error remains)
    monkeypatch.setattr(modelids, "_KNOWN", None)
    monkeypatch.setattr(modelids, "PRICE_FILE", "no-such-file.json")
    assert modelids.price_file() is None
    assert modelids.model_problem(typo) is None
