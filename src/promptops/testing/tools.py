"""Responder helpers for :class:`~promptops.testing.server.FakeOpenAI`: tool calls, JSON-mode
replies, and what a request carried (declared tools, response_format, image parts)::

    from promptops.testing.server import FakeOpenAI
    from promptops.testing.tools import tool_reply

    def responder(req):
        if "weather" in req.text:
            return tool_reply(("get_weather", {"city": "Paris"}))
        return "no tool needed"

    with FakeOpenAI(responder) as server: ...
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .server import Outcome, Reply, Request, echo

ToolCall = tuple[str, Any]  # (function name, arguments: a dict, or a raw JSON string)


def tool_reply(*calls: ToolCall, text: str = "") -> Reply:
    """A reply calling the tools in order (``finish_reason: tool_calls``). Arguments given
    as a string are sent as written, so a test can send invalid JSON."""
    encoded = tuple(
        (name, args if isinstance(args, str) else json.dumps(args, ensure_ascii=False))
        for name, args in calls
    )
    return Reply(text=text, tool_calls=encoded, finish_reason="tool_calls")


def json_reply(data: Any, *, fenced: bool = False, prose: str = "") -> Reply:
    """A reply whose content is ``data`` as JSON, optionally in a ```json fence after prose."""
    body = json.dumps(data, ensure_ascii=False)
    if fenced:
        body = f"```json\n{body}\n```"
    return Reply(f"{prose}\n{body}" if prose else body)


def declared_tools(request: Request) -> list[str]:
    """Names of the function tools the request declared."""
    tools = request.body.get("tools")
    if not isinstance(tools, list):
        return []
    return [
        t["function"]["name"]
        for t in tools
        if isinstance(t, dict) and isinstance(t.get("function"), dict) and "name" in t["function"]
    ]


def response_format(request: Request) -> dict[str, Any] | None:
    """The request's ``response_format``, if any."""
    value = request.body.get("response_format")
    return value if isinstance(value, dict) else None


def image_parts(request: Request) -> list[str]:
    """URLs (often ``data:`` URLs) of every ``image_url`` content part in the request."""
    urls: list[str] = []
    for message in request.messages:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for part in content:
            if isinstance(part, dict) and part.get("type") == "image_url":
                image = part.get("image_url")
                url = image.get("url") if isinstance(image, dict) else image
                if isinstance(url, str):
                    urls.append(url)
    return urls


def tool_results(request: Request) -> list[tuple[str | None, str]]:
    """``(tool_call_id, content)`` of every ``tool`` message in the request."""
    return [
        (m.get("tool_call_id"), str(m.get("content")))
        for m in request.messages
        if m.get("role") == "tool"
    ]


def with_tools(
    decide: Callable[[Request], list[ToolCall] | None], then: Callable[[Request], Outcome] = echo
) -> Callable[[Request], Outcome]:
    """A responder calling the tools ``decide`` picks for a request that declares tools;
    ``then`` answers when it picks none or the request declares no tools."""

    def responder(request: Request) -> Outcome:
        if declared_tools(request):
            calls = decide(request)
            if calls:
                return tool_reply(*calls)
        return then(request)

    return responder
