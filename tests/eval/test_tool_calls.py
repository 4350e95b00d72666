"""A tool-using prompt end to end through the CLI on the loopback server: two tools, 20 cases
expecting different calls and arguments, per-case verdicts, reports, export and ``diff``."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from conftest import assert_no_traceback, git
from promptops.testing.server import FakeOpenAI, Reply, Request
from promptops.testing.tools import declared_tools, tool_reply

Cli = Callable[..., Result]

PROMPT = """\
name: assistant
version: {version}
model:
  id: openai/fake-model-2024-01-01
  params: {{temperature: 0}}
inputs:
  request: {{type: string}}
messages:
  - role: system
    content: "{system}"
  - role: user
    content: "{{{{ request }}}}"
tools:
  - type: function
    function:
      name: get_weather
      description: Current weather in a city.
      parameters:
        type: object
        properties:
          city: {{type: string}}
          unit: {{type: string, enum: [c, f]}}
        required: [city]
  - type: function
    function:
      name: convert_currency
      description: Convert an amount between currencies.
      parameters:
        type: object
        properties:
          amount: {{type: number}}
          from: {{type: string, pattern: "^[A-Z]{{3}}$"}}
          to: {{type: string, pattern: "^[A-Z]{{3}}$"}}
        required: [amount, from, to]
tool_choice: auto
dataset: evals/assistant.jsonl
"""

CITIES = ["Paris", "Oslo", "Lima", "Cairo", "Tokyo", "Quito", "Perth"]
PAIRS = [(10, "USD", "EUR"), (25.5, "GBP", "JPY"), (3, "EUR", "CHF"), (100, "CAD", "USD")]


def _cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for city in CITIES:  # 7 weather cases
        cases.append(
            {
                "id": f"weather-{city.lower()}",
                "vars": {"request": f"What is the weather in {city}?"},
                "assert": [
                    {
                        "type": "tool-call",
                        "value": {"name": "get_weather", "arguments": {"city": city}},
                    },
                    "is-valid-tool-call",
                ],
            }
        )
    for amount, src, dst in PAIRS:  # 4 conversions
        cases.append(
            {
                "id": f"fx-{src}-{dst}".lower(),
                "vars": {"request": f"Convert {amount} {src} to {dst}"},
                "assert": [
                    {
                        "type": "tool-call",
                        "value": {
                            "name": "convert_currency",
                            "arguments": {"amount": amount, "from": src, "to": dst},
                        },
                    },
                    "is-valid-tool-call",
                ],
            }
        )
    for i, text in enumerate(["Hello there", "Tell me a joke", "Thanks!", "Who are you?"]):
        cases.append(  # 4 that need no tool
            {"id": f"chat-{i}", "vars": {"request": text}, "assert": ["not-tool-call"]}
        )
    cases += [  # 5 with several calls or schema checks
        {
            "id": "trip-both",
            "vars": {"request": "Weather in Rome and convert 50 EUR to USD"},
            "assert": [
                {
                    "type": "tool-call",
                    "method": "set",
                    "value": [
                        {"name": "convert_currency", "arguments": {"to": "USD"}},
                        {"name": "get_weather", "arguments": {"city": "Rome"}},
                    ],
                }
            ],
        },
        {
            "id": "trip-sequence",
            "vars": {"request": "Weather in Nice and convert 5 EUR to GBP"},
            "assert": [
                {
                    "type": "tool-call",
                    "method": "sequence",
                    "value": ["get_weather", "convert_currency"],
                }
            ],
        },
        {
            "id": "weather-schema",
            "vars": {"request": "What is the weather in Bern?"},
            "assert": [
                {
                    "type": "tool-call",
                    "value": {
                        "name": "get_weather",
                        "schema": {
                            "type": "object",
                            "properties": {"city": {"const": "Bern"}},
                            "required": ["city"],
                        },
                    },
                }
            ],
        },
        {
            "id": "weather-not-fx",
            "vars": {"request": "What is the weather in Rome?"},
            "assert": [{"type": "not-tool-call", "value": "convert_currency"}],
        },
        {
            "id": "fx-bad-json",
            "vars": {"request": "Convert 7 XXX to EUR"},
            "assert": ["is-valid-tool-call"],
        },
    ]
    assert len(cases) == 20
    return cases


# Which cases the fake model gets wrong in version 1.0.0 (and why), so verdicts differ per case.
FAILING_V1 = {
    "weather-lima",  # the model writes the city in lower case
    "fx-gbp-jpy",  # the model swaps from/to
    "chat-2",  # the model calls a tool for small talk
    "trip-sequence",  # the model calls the tools in the other order
    "fx-bad-json",  # the model writes invalid JSON arguments
}


def _model(request: Request) -> Any:
    """The fake model: reads the request and calls tools, with a few deliberate mistakes."""
    if sorted(declared_tools(request)) != ["convert_currency", "get_weather"]:
        return Reply("no tools declared")
    text = request.text
    careful = "Be careful." in str(request.messages[0].get("content"))
    calls: list[tuple[str, Any]] = []
    w = re.search(r"weather in (\w+)", text, re.I)
    fx = re.search(r"convert ([\d.]+) (\w{3}) to (\w{3})", text, re.I)
    if w:
        city = w.group(1)
        calls.append(
            ("get_weather", {"city": city.lower() if city == "Lima" and not careful else city})
        )
    if fx:
        amount = float(fx.group(1))
        amount_v: Any = int(amount) if amount.is_integer() else amount
        src, dst = fx.group(2), fx.group(3)
        if src == "XXX":
            calls.append(("convert_currency", '{"amount": 7, "from": "XXX", '))
        elif src == "GBP" and not careful:
            calls.append(("convert_currency", {"amount": amount_v, "from": dst, "to": src}))
        else:
            calls.append(("convert_currency", {"amount": amount_v, "from": src, "to": dst}))
    if "Nice" in text and not careful:
        calls.reverse()
    if text == "Thanks!":
        calls.append(("get_weather", {"city": "Here"}))
    if calls:
        return tool_reply(*calls)
    return Reply(f"Happy to chat: {text}")


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FakeOpenAI(_model) as s:
        yield s


@pytest.fixture
def tools_project(project: Path) -> Path:
    (project / "prompts/assistant").mkdir()
    (project / "prompts/assistant/1.0.0.yaml").write_text(
        PROMPT.format(version="1.0.0", system="You help with weather and money.")
    )
    (project / "prompts/assistant/1.1.0.yaml").write_text(
        PROMPT.format(version="1.1.0", system="You help with weather and money. Be careful.")
    )
    (project / "evals/assistant.jsonl").write_text("".join(json.dumps(c) + "\n" for c in _cases()))
    git(project, "add", "-A")
    git(project, "commit", "-qm", "assistant")
    return project


def _records(project: Path, run_id: str) -> dict[str, dict[str, Any]]:
    path = project / ".promptops/runs" / run_id / "results.jsonl"
    recs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {r["case_id"]: r for r in recs}


def test_tools_lint_clean(tools_project: Path, cli: Cli) -> None:
    result = cli("lint", "prompts/assistant")
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output


def test_twenty_cases_get_correct_per_case_verdicts(
    tools_project: Path, cli: Cli, server: FakeOpenAI
) -> None:
    result = cli("eval", "assistant@1.0.0", "--api-base", server.url, "--format", "json")
    assert_no_traceback(result)
    assert result.exit_code == 1, result.output  # 15/20 is under the default bar of 100%
    summary = json.loads(result.stdout)
    recs = _records(tools_project, summary["run_id"])
    assert len(recs) == 20
    failing = {cid for cid, r in recs.items() if not r["pass"]}
    assert failing == FAILING_V1
    assert all(r["error"] is None for r in recs.values())  # tool-call replies are answers
    # tool calls recorded per case: name, parsed arguments, raw
    (call,) = recs["weather-paris"]["tool_calls"]
    assert call["name"] == "get_weather" and call["arguments"] == {"city": "Paris"}
    assert json.loads(call["raw"]) == {"city": "Paris"}
    assert recs["weather-paris"]["finish_reason"] == "tool_calls"
    assert recs["weather-paris"]["output"] == ""
    bad = recs["fx-bad-json"]["tool_calls"][0]
    assert bad["arguments"] is None and "not valid JSON" in bad["error"]
    assert "tool_calls" not in recs["chat-0"]
    # the tools and tool_choice reached the model
    req = server.requests[0]
    assert req.body["tool_choice"] == "auto"
    assert sorted(declared_tools(req)) == ["convert_currency", "get_weather"]
    reasons = {a["reason"] for a in recs["weather-lima"]["assertions"] if not a["pass"]}
    assert any('city="lima", expected "Lima"' in r for r in reasons), reasons


def test_terminal_report_shows_tool_calls(
    tools_project: Path, cli: Cli, server: FakeOpenAI
) -> None:
    result = cli("eval", "assistant@1.0.0", "--api-base", server.url)
    assert_no_traceback(result)
    assert result.exit_code == 1
    out = " ".join(result.stdout.split())
    assert 'get_weather({"city": "lima"})' in out


def test_export_and_html_carry_tool_calls(
    tools_project: Path, cli: Cli, server: FakeOpenAI, tmp_path: Path
) -> None:
    result = cli("eval", "assistant@1.0.0", "--api-base", server.url, "--format", "json")
    run_id = json.loads(result.stdout)["run_id"]
    out = tmp_path / "x.jsonl"
    res = cli("export", run_id, "--format", "jsonl", "--output", str(out))
    assert res.exit_code == 0, res.output
    rows = {r["case_id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert json.loads(rows["weather-oslo"]["tool_calls"])[0]["arguments"] == {"city": "Oslo"}
    md = cli("report", run_id)
    assert md.exit_code == 0, md.output
    assert 'calls: get_weather({"city": "lima"})' in md.stdout
    html = tmp_path / "r.html"
    res = cli("report", run_id, "--html", str(html))
    assert res.exit_code == 0, res.output
    assert "get_weather" in html.read_text()


def test_diff_of_two_versions(tools_project: Path, cli: Cli, server: FakeOpenAI) -> None:
    result = cli(
        "diff", "assistant@1.0.0", "assistant@1.1.0", "--api-base", server.url, "-f", "json"
    )
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    (c,) = data["comparisons"]
    assert c["n_paired"] == 20
    # 1.1.0 fixes three mistakes; small talk still calls a tool, the JSON is still broken
    assert sorted(c["improved"]) == ["fx-gbp-jpy", "trip-sequence", "weather-lima"]
    assert c["regressed"] == []
    md = cli(
        "diff", "assistant@1.0.0", "assistant@1.1.0", "--api-base", server.url, "-f", "markdown"
    )
    assert md.exit_code == 0, md.output
    assert 'get_weather({"city": "lima"})' in md.stdout


def test_cached_rerun_keeps_the_tool_calls(
    tools_project: Path, cli: Cli, server: FakeOpenAI
) -> None:
    args = ("eval", "assistant@1.0.0", "--api-base", server.url, "--format", "json")
    cli(*args, "--limit", "3")
    calls = server.calls
    result = cli(*args, "--limit", "3")
    assert server.calls == calls  # all three answered from the cache
    recs = _records(tools_project, json.loads(result.stdout)["run_id"])
    assert all(r["cached"] for r in recs.values())
    assert recs["weather-paris"]["tool_calls"][0]["arguments"] == {"city": "Paris"}


def test_runtime_sends_tools_and_returns_the_calls(tools_project: Path, server: FakeOpenAI) -> None:
    from promptops import Registry
    from promptops.project import load_prompt

    pv = load_prompt(tools_project / "prompts/assistant/1.0.0.yaml")
    (tools_project / "registry.yaml").write_text(
        "environments: [dev, staging, prod]\nprompts:\n  assistant:\n    prod:\n"
        f"      version: 1.0.0\n      digest: {pv.digest}\n"
    )
    active = Registry.load(".", api_base=server.url, retries=0).get("assistant", "prod")
    reply = active.complete(request="What is the weather in Quito?")
    assert reply.text == ""
    assert [(c["name"], c["arguments"]) for c in reply.tool_calls] == [
        ("get_weather", {"city": "Quito"})
    ]
    assert server.requests[-1].body["tool_choice"] == "auto"
