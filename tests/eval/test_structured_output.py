"""response_format on the wire (explicit, or derived from output.schema where litellm reports
support) and JSON assertions on JSON-mode replies, through the CLI and the loopback server."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from conftest import assert_no_traceback
from promptops.testing.server import FakeOpenAI, Request
from promptops.testing.tools import json_reply, response_format

Cli = Callable[..., Result]
Write = Callable[..., Path]

PROMPT = """\
name: extract
version: 1.0.0
model: {model}
inputs:
  text: {{type: string}}
template: "Extract the city from: {{{{ text }}}}"
output:
  format: json
  schema: {{type: object, properties: {{city: {{type: string}}}}, required: [city]}}
{extra}
tests:
  - id: a
    vars: {{text: I live in Paris}}
    assert:
      - contains-json
      - {{type: json-schema, method: extract}}
      - {{type: finish-reason, value: stop}}
"""


def _model(request: Request) -> Any:
    return json_reply({"city": "Paris"}, fenced=True, prose="Here you go:")


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FakeOpenAI(_model) as s:
        yield s


def _eval(cli: Cli, server: FakeOpenAI) -> dict[str, Any]:
    result = cli("eval", "extract@1.0.0", "--tests", "--api-base", server.url, "-f", "json")
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_schema_is_sent_when_litellm_reports_support(
    project: Path, write: Write, cli: Cli, server: FakeOpenAI
) -> None:
    write(
        "prompts/extract/1.0.0.yaml",
        PROMPT.format(model="openai/gpt-4o-2024-08-06", extra=""),
    )
    _eval(cli, server)
    fmt = response_format(server.requests[0])
    assert fmt is not None and fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "extract"
    assert fmt["json_schema"]["schema"]["required"] == ["city"]


def test_no_schema_for_a_model_without_support(
    project: Path, write: Write, cli: Cli, server: FakeOpenAI
) -> None:
    write(
        "prompts/extract/1.0.0.yaml",
        PROMPT.format(model="openai/fake-model-2024-01-01", extra=""),
    )
    _eval(cli, server)
    assert response_format(server.requests[0]) is None


def test_explicit_response_format_wins(
    project: Path, write: Write, cli: Cli, server: FakeOpenAI
) -> None:
    write(
        "prompts/extract/1.0.0.yaml",
        PROMPT.format(
            model="openai/gpt-4o-2024-08-06", extra="response_format: {type: json_object}"
        ),
    )
    _eval(cli, server)
    assert response_format(server.requests[0]) == {"type": "json_object"}
