"""tools, tool_choice and response_format in prompt files: strict parsing with located errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from conftest import assert_no_traceback, error_lines

Cli = Callable[..., Result]
Write = Callable[..., Path]

HEAD = """\
name: t
version: 1.0.0
model: echo/echo
template: hi
"""
TOOL = """\
tools:
  - type: function
    function:
      name: lookup
      parameters:
        type: object
        properties: {q: {type: string}}
"""


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            TOOL.replace("type: string", "type: strin"),
            "prompts/t/1.0.0.yaml:9: tools[0].function.parameters: invalid JSON Schema",
        ),
        (
            TOOL.replace("name: lookup", "name: look up"),
            "prompts/t/1.0.0.yaml:8: tools[0].function.name: 'look up' is not a valid tool name",
        ),
        (
            TOOL + "tool_choice: {type: function, function: {name: search}}\n",
            "tool_choice names 'search', which is not a declared tool (lookup)",
        ),
        ("tool_choice: auto\n", "tool_choice is set but no tools are declared"),
        (TOOL + "tool_choice: always\n", "prompts/t/1.0.0.yaml:12: tool_choice"),
        (
            "response_format: {type: json_schema}\n",
            "prompts/t/1.0.0.yaml:5: response_format: type json_schema needs json_schema",
        ),
        (
            TOOL.replace("type: object\n", "type: array\n"),
            "the arguments schema must have type: object",
        ),
    ],
)
def test_bad_tools_are_located_lint_errors(
    project: Path, write: Write, cli: Cli, extra: str, message: str
) -> None:
    write("prompts/t/1.0.0.yaml", HEAD + extra)
    result = cli("lint", "prompts/t")
    assert_no_traceback(result)
    assert result.exit_code == 1
    assert any(message in line for line in error_lines(result)), result.stderr


def test_tools_and_response_format_render_and_reach_params(project: Path, write: Write) -> None:
    from promptops.project import load_prompt
    from promptops.toolcalls import call_params

    write(
        "prompts/t/1.0.0.yaml",
        HEAD
        + TOOL
        + "tool_choice: {type: function, function: {name: lookup}}\n"
        + "response_format: {type: json_object}\n",
    )
    pv = load_prompt(project / "prompts/t/1.0.0.yaml")
    params = call_params(pv, "echo/echo")
    assert params["tools"][0]["function"]["name"] == "lookup"
    assert params["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}
    assert params["response_format"] == {"type": "json_object"}


def test_output_schema_is_not_sent_to_echo(project: Path, write: Write) -> None:
    from promptops.project import load_prompt
    from promptops.toolcalls import call_params

    write(
        "prompts/t/1.0.0.yaml",
        HEAD + "output: {format: json, schema: {type: object}}\n",
    )
    pv = load_prompt(project / "prompts/t/1.0.0.yaml")
    assert "response_format" not in call_params(pv, "echo/echo")


def test_render_json_shows_tools(project: Path, write: Write, cli: Cli) -> None:
    import json

    write("prompts/t/1.0.0.yaml", HEAD + TOOL + "response_format: {type: json_object}\n")
    result = cli("render", "t@1.0.0", "-f", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["tools"][0]["function"]["name"] == "lookup"
    assert data["response_format"] == {"type": "json_object"}
    text = cli("render", "t@1.0.0")
    assert "tools lookup" in text.stdout
