"""Tool calls in results: the parameters a prompt's call carries (tools, tool_choice,
response_format) and the calls a model made, parsed for records, assertions and reports.

A recorded call is ``{"id", "name", "arguments", "raw"}``: ``arguments`` is the parsed JSON
(``None`` when the model wrote invalid JSON, with ``error`` saying why) and ``raw`` the string
the model wrote, kept so a report shows exactly what came back.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .project import PromptVersion


def parse_calls(raw: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Provider tool calls (``{id, name, arguments: str}``) as recorded calls."""
    out: list[dict[str, Any]] = []
    for call in raw or []:
        text = call.get("arguments")
        text = text if isinstance(text, str) else json.dumps(text)
        rec: dict[str, Any] = {"id": call.get("id"), "name": call.get("name"), "raw": text}
        try:
            rec["arguments"] = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as e:
            rec["arguments"] = None
            rec["error"] = f"arguments are not valid JSON: {e.msg}"
        out.append(rec)
    return out


def format_call(call: dict[str, Any]) -> str:
    """``name({"city": "Paris"})``; the raw text when the arguments did not parse."""
    args = call.get("arguments")
    shown = (
        json.dumps(args, ensure_ascii=False, separators=(", ", ": "))
        if args is not None
        else str(call.get("raw", ""))
    )
    return f"{call.get('name')}({shown})"


def format_calls(calls: list[dict[str, Any]] | None) -> str:
    """Every call, ``; ``-separated (empty string when there are none)."""
    return "; ".join(format_call(c) for c in calls or [])


def shown_output(record: dict[str, Any]) -> str | None:
    """What a report shows as a case's output: the text, then its tool calls as ``→ call``
    (None when there is neither)."""
    text = record.get("output")
    calls = record.get("tool_calls")
    if not calls:
        return None if text is None else str(text)
    joined = format_calls(calls)
    return f"{text}\n→ {joined}" if text else f"→ {joined}"


def _schema_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "output"


def call_params(pv: PromptVersion, model: str) -> dict[str, Any]:
    """Everything a call of ``pv`` on ``model`` sends besides the messages: sampling
    parameters, tools, tool_choice and response_format. Without an explicit
    ``response_format``, a JSON ``output.schema`` is sent as a JSON-schema structured-output
    request when the model's provider reports support for it (litellm does, per model)."""
    spec = pv.spec
    params = spec.model.params.as_kwargs()
    params.update(spec.tool_params())
    if spec.response_format is not None:
        params["response_format"] = spec.response_format.as_param()
    elif spec.output.format == "json" and spec.output.json_schema is not None:
        from .providers import route

        m = spec.model
        via = m.provider if model == m.id and m.provider != "auto" else None
        prov = route(model, m.api_base if model == m.id else None, via)
        supports = getattr(prov, "supports_response_schema", None)
        if supports is not None and supports(model):
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": _schema_name(spec.name), "schema": spec.output.json_schema},
            }
    return params
