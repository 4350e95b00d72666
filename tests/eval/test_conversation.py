"""Multi-turn cases, messages-typed inputs (chat history) and image content parts, end to end
through the CLI on the loopback server."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from conftest import assert_no_traceback, error_lines
from promptops.testing.server import FakeOpenAI, Reply, Request
from promptops.testing.tools import image_parts, tool_reply, tool_results

Cli = Callable[..., Result]
Write = Callable[..., Path]

CHAT = """\
name: chat
version: 1.0.0
model: openai/fake-model-2024-01-01
inputs:
  history: {type: messages, default: []}
  question: {type: string}
messages:
  - role: system
    content: You answer weather questions.
  - placeholder: history
  - role: user
    content: "{{ question }}"
tools:
  - type: function
    function:
      name: get_weather
      parameters: {type: object, properties: {city: {type: string}}, required: [city]}
tests:
  - id: conv
    vars:
      question: Weather in Paris?
      history:
        - {role: user, content: Hi}
        - {role: assistant, content: Hello! Ask me about the weather.}
    turns:
      - assert:
          - {type: tool-call, value: {name: get_weather, arguments: {city: Paris}}}
      - tool_results:
          - {name: get_weather, content: {temp: 21}}
        assert:
          - {type: contains, value: "21 degrees"}
          - not-tool-call
      - user: "And in Oslo?"
        assert:
          - {type: tool-call, value: {name: get_weather, arguments: {city: Oslo}}}
"""


def _weather_model(request: Request) -> Any:
    last = request.messages[-1]
    if last.get("role") == "tool":
        temp = json.loads(str(last["content"]))["temp"]
        return Reply(f"It is {temp} degrees.")
    m = re.search(r"in (\w+)\?", request.text)
    if m:
        return tool_reply(("get_weather", {"city": m.group(1)}))
    return Reply("I only know the weather.")


def _image_model(request: Request) -> Any:
    urls = image_parts(request)
    kinds = sorted({u.split(";")[0] for u in urls})
    return Reply(f"saw {len(urls)} image(s): {' '.join(kinds)}")


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")

    def responder(request: Request) -> Any:
        if image_parts(request) or "image" in request.text:
            return _image_model(request)
        return _weather_model(request)

    with FakeOpenAI(responder) as s:
        yield s


def _run(cli: Cli, server: FakeOpenAI, ref: str) -> tuple[Result, dict[str, Any]]:
    result = cli("eval", ref, "--tests", "--api-base", server.url, "-f", "json")
    assert_no_traceback(result)
    run_id = json.loads(result.stdout)["run_id"]
    path = Path(".promptops/runs") / run_id / "results.jsonl"
    (rec,) = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return result, rec


def test_multi_turn_case_end_to_end(
    project: Path, write: Write, cli: Cli, server: FakeOpenAI
) -> None:
    write("prompts/chat/1.0.0.yaml", CHAT)
    lint = cli("lint", "prompts/chat")
    assert lint.exit_code == 0, lint.output
    result, rec = _run(cli, server, "chat@1.0.0")
    assert result.exit_code == 0, (result.output, rec)
    assert rec["pass"] is True and len(rec["turns"]) == 3
    assert [t["pass"] for t in rec["turns"]] == [True, True, True]
    assert rec["turns"][1]["output"] == "It is 21 degrees."
    assert rec["tool_calls"][0]["arguments"] == {"city": "Oslo"}
    first, second, third = server.requests
    # the history input was placed between the system and the user message
    assert [m["role"] for m in first.messages] == ["system", "user", "assistant", "user"]
    # turn 2 sent the model's tool call back with the given result, answering its id
    assistant = second.messages[-2]
    assert (
        assistant["role"] == "assistant"
        and assistant["tool_calls"][0]["function"]["name"] == "get_weather"
    )
    assert tool_results(second) == [(assistant["tool_calls"][0]["id"], '{"temp": 21}')]
    # turn 3 appended the reply of turn 2 and the new user message
    assert [m["role"] for m in third.messages][-2:] == ["assistant", "user"]


def test_a_failing_turn_fails_the_case(
    project: Path, write: Write, cli: Cli, server: FakeOpenAI
) -> None:
    write("prompts/chat/1.0.0.yaml", CHAT.replace("21 degrees", "22 degrees"))
    result, rec = _run(cli, server, "chat@1.0.0")
    assert result.exit_code == 1
    assert [t["pass"] for t in rec["turns"]] == [True, False, True] and rec["pass"] is False
    failed = [a for a in rec["assertions"] if not a["pass"]]
    assert failed[0]["turn"] == 2 and failed[0]["type"] == "contains"


def test_tool_results_must_answer_the_calls(
    project: Path, write: Write, cli: Cli, server: FakeOpenAI
) -> None:
    write(
        "prompts/chat/1.0.0.yaml",
        CHAT.replace("{name: get_weather, content: {temp: 21}}", "{name: search, content: x}"),
    )
    result, rec = _run(cli, server, "chat@1.0.0")
    assert result.exit_code == 1
    assert rec["error_kind"] == "render"
    assert "turns[1].tool_results[0]: no open call to answer for 'search'" in rec["error"]


def test_history_input_must_be_messages(project: Path, write: Write, cli: Cli) -> None:
    write("prompts/chat/1.0.0.yaml", CHAT.replace("- {role: user, content: Hi}", "- hi"))
    result = cli("lint", "prompts/chat")
    assert result.exit_code == 1
    assert any("input 'history' must be messages: item 0" in x for x in error_lines(result))
    write("prompts/chat/1.0.0.yaml", CHAT.replace("{type: messages, default: []}", "{type: array}"))
    result = cli("lint", "prompts/chat")
    assert any("'history' must name an input of type messages" in x for x in error_lines(result))


IMAGES = """\
name: look
version: 1.0.0
model: openai/fake-model-2024-01-01
inputs:
  photo: {type: string}
messages:
  - role: user
    content:
      - {type: text, text: "Describe these image(s)."}
      - {type: image, path: images/logo.png}
      - {type: image, path: "{{ photo }}", detail: low}
      - {type: image, url: "https://example.invalid/cat.jpg"}
tests:
  - id: pics
    vars: {photo: images/photo.jpg}
    assert:
      - {type: contains, value: "saw 3 image(s)"}
      - {type: contains, value: "data:image/jpeg data:image/png https://example.invalid/cat.jpg"}
"""

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def test_image_parts_end_to_end(project: Path, write: Write, cli: Cli, server: FakeOpenAI) -> None:
    write("prompts/look/1.0.0.yaml", IMAGES)
    write("images/logo.png", PNG)
    write("images/photo.jpg", b"\xff\xd8\xff\xe0fake-jpeg")
    lint = cli("lint", "prompts/look")
    assert lint.exit_code == 0, lint.output
    result, rec = _run(cli, server, "look@1.0.0")
    assert result.exit_code == 0, (result.output, rec)
    urls = image_parts(server.requests[0])
    assert urls[0] == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert base64.b64decode(urls[1].split(",", 1)[1]) == b"\xff\xd8\xff\xe0fake-jpeg"
    content = server.requests[0].messages[0]["content"]
    assert content[2]["image_url"]["detail"] == "low"


def test_prompt_digest_covers_image_bytes(project: Path, write: Write) -> None:
    from promptops.project import load_prompt

    write("prompts/look/1.0.0.yaml", IMAGES)
    write("images/logo.png", PNG)
    before = load_prompt(project / "prompts/look/1.0.0.yaml").digest
    write("images/logo.png", PNG + b"\x00")
    after = load_prompt(project / "prompts/look/1.0.0.yaml").digest
    assert before != after


@pytest.mark.parametrize("how", ["dotdot", "symlinked-file", "symlinked-folder"])
def test_image_path_outside_the_project_is_refused(
    project: Path, write: Write, cli: Cli, tmp_path_factory: pytest.TempPathFactory, how: str
) -> None:
    write("prompts/look/1.0.0.yaml", IMAGES)
    write("images/logo.png", PNG)
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.png").write_bytes(PNG)  # image data: only where it is stops it
    photo = {
        "dotdot": "../../etc/passwd.png",
        "symlinked-file": "images/link.png",
        "symlinked-folder": "shared/secret.png",
    }[how]
    if how == "symlinked-file":
        (project / photo).symlink_to(outside / "secret.png")
    elif how == "symlinked-folder":
        (project / "shared").symlink_to(outside, target_is_directory=True)
    result = cli("render", "look@1.0.0", "--var", f"photo={photo}")
    assert_no_traceback(result)
    assert result.exit_code == 1
    assert f"image path {photo!r} is outside the project" in result.stderr
    assert base64.b64encode(PNG).decode() not in result.output


def test_a_file_named_like_an_image_must_hold_image_data(
    project: Path, write: Write, cli: Cli
) -> None:
    """A pull request cannot send any project file to the model by calling it `x.png`."""
    write("prompts/look/1.0.0.yaml", IMAGES)
    write("images/logo.png", b"OPENAI_API_KEY=sk-not-an-image\n")
    result = cli("render", "look@1.0.0", "--var", "photo=images/logo.png")
    assert_no_traceback(result)
    assert result.exit_code == 1
    assert "does not hold image data" in result.stderr
    assert "sk-not-an-image" not in result.output


def test_turn_assertions_are_linted_and_exported(
    project: Path, write: Write, cli: Cli, server: FakeOpenAI
) -> None:
    write("prompts/chat/1.0.0.yaml", CHAT.replace("not-tool-call", "not-tool-cal"))
    result = cli("lint", "prompts/chat")
    assert result.exit_code == 1
    assert any(
        "tests[0].turns[1].assert[1]: unknown assertion type 'not-tool-cal'" in x
        for x in error_lines(result)
    )
    write("prompts/chat/1.0.0.yaml", CHAT)
    _, rec = _run(cli, server, "chat@1.0.0")
    assert rec["assertions"][1]["reason"].startswith("turn 2: ")
    runs = sorted(Path(".promptops/runs").iterdir())
    out = cli("export", runs[-1].name, "--format", "jsonl")
    assert out.exit_code == 0, out.output
    (row,) = [json.loads(x) for x in out.stdout.splitlines()]
    assert len(json.loads(row["turns"])) == 3


def test_lint_checks_literal_image_paths(project: Path, write: Write, cli: Cli) -> None:
    write("prompts/look/1.0.0.yaml", IMAGES)
    result = cli("lint", "prompts/look")
    assert result.exit_code == 1
    assert (
        "prompts/look/1.0.0.yaml:8: messages[0].content: image file 'images/logo.png' not found"
        in (error_lines(result))
    )
