"""The one reader of production call records (the runtime API's log records written as JSONL,
or OpenTelemetry spans exported as JSON), for ``capture``.

Records are read defensively: the runtime's record grows (guards, feedback, content capture),
so a line may be any of

* the flat attribute dict (``{"promptops.prompt.name": ..., "gen_ai.request.model": ...}``),
* a log line carrying it under ``promptops`` (``logging``'s ``extra``), possibly nested
  (``{"promptops": {"prompt": {"name": ...}}}``),
* an exported span: attributes under ``attributes``, the trace id under ``context.trace_id``
  (the OpenTelemetry SDK's ``span.to_json()``),
* an OTLP/JSON export line (``{"resourceSpans": [...]}``, the Collector's file exporter):
  each span of it is a record, its attributes a list of ``{key, value: {stringValue...}}``.

Nested dicts are flattened to dotted names, so every shape reads the same. Unknown attributes
are kept (``attrs``) and ignored; a line that is not a JSON object, or has no prompt name, is
counted as skipped, never fatal. Inputs are ``promptops.vars`` (a dict, or its JSON text as
OpenTelemetry attributes are flat) or ``promptops.vars.NAME`` per input; the output is
``promptops.output`` or ``gen_ai.completion`` (text, or JSON chat messages).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..loader import iter_jsonl

# the runtime's span names its captured content promptops.content.vars and gen_ai.output.messages
_VARS = (
    "promptops.vars",
    "promptops.content.vars",
    "promptops.inputs",
    "promptops.prompt.vars",
    "gen_ai.prompt.vars",
)
_OUTPUT = (
    "promptops.output",
    "promptops.output.text",
    "gen_ai.output.messages",
    "gen_ai.completion",
    "gen_ai.output",
)
_FEEDBACK = ("promptops.feedback.score", "promptops.feedback", "feedback.score")


@dataclass(frozen=True)
class CallRecord:
    """One production call, as far as its record tells."""

    source: str
    line: int
    prompt: str
    version: str | None
    trace_id: str | None
    vars: dict[str, Any] | None  # None: the record did not capture content
    output: str | None
    error: str | None
    feedback: float | None
    feedback_comment: str | None
    guards: list[Any] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)

    def names(self) -> dict[str, Any]:
        """What a ``--where`` expression sees. Absent numbers are NaN, so a comparison with
        one is false (``feedback < 0`` skips calls without feedback) instead of an error."""
        nan = float("nan")
        latency = _number(self.attrs.get("promptops.latency_ms"))
        return {
            "prompt": self.prompt,
            "version": self.version,
            "trace_id": self.trace_id,
            "vars": self.vars or {},
            "output": self.output or "",
            "error": self.error,
            "feedback": nan if self.feedback is None else self.feedback,
            "comment": self.feedback_comment,
            "guards": self.guards,
            "env": self.attrs.get("promptops.env"),
            "arm": self.attrs.get("promptops.arm"),
            "model": self.attrs.get("gen_ai.response.model")
            or self.attrs.get("gen_ai.request.model"),
            "latency_ms": nan if latency is None else latency,
            "attrs": self.attrs,
        }


def flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted names; a dict-valued ``vars`` attribute is kept whole too."""
    out: dict[str, Any] = {}
    for key, v in value.items():
        name = f"{prefix}{key}"
        if isinstance(v, Mapping):
            out[name] = dict(v)
            out.update(flatten(v, name + "."))
        else:
            out[name] = v
    return out


def _attributes(data: dict[str, Any]) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    ctx = data.get("context")
    if isinstance(data.get("attributes"), Mapping):  # an exported span
        attrs.update(flatten(data["attributes"]))
        if isinstance(ctx, Mapping) and isinstance(ctx.get("trace_id"), str):
            attrs.setdefault("promptops.trace_id", ctx["trace_id"].removeprefix("0x"))
    if isinstance(data.get("promptops"), Mapping):  # a log line with the runtime's extra
        attrs.update(flatten(data["promptops"], "promptops."))
        inner = data["promptops"]
        if any(isinstance(k, str) and "." in k for k in inner):  # the flat dict itself
            attrs.update(flatten(inner))
    attrs.update(
        flatten({k: v for k, v in data.items() if k not in ("attributes", "promptops", "context")})
    )
    if data.get("kind") in ("call", "feedback") and "schema_version" in data:
        # the runtime's own JSONL log (Registry.load(record_to=...), promptops schema call)
        for key, name in _RUNTIME_FIELDS.items():
            if data.get(key) is not None:
                attrs.setdefault(name, data[key])
    return attrs


# the runtime's call and feedback records (runtime/records.py) -> the attribute names above
_RUNTIME_FIELDS = {
    "prompt": "promptops.prompt.name",
    "version": "promptops.prompt.version",
    "trace_id": "promptops.trace_id",
    "vars": "promptops.vars",
    "output": "promptops.output",
    "error_type": "promptops.error",
    "guards": "promptops.guards",
    "score": "promptops.feedback.score",
    "comment": "promptops.feedback.comment",
}


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _vars(attrs: dict[str, Any]) -> dict[str, Any] | None:
    for key in _VARS:
        value = attrs.get(key)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                continue
        if isinstance(value, Mapping):
            return {str(k): v for k, v in value.items()}
    per_input = {
        k[len("promptops.vars.") :]: v
        for k, v in attrs.items()
        if k.startswith("promptops.vars.") and "." not in k[len("promptops.vars.") :]
    }
    return per_input or None


def _output(attrs: dict[str, Any]) -> str | None:
    for key in _OUTPUT:
        value = attrs.get(key)
        if isinstance(value, str):
            stripped = value.strip()
            if stripped.startswith("["):  # JSON chat messages: the last one's content
                try:
                    messages = json.loads(stripped)
                except json.JSONDecodeError:
                    return value
                return _last_content(messages) if isinstance(messages, list) else value
            return value
        if isinstance(value, list):
            return _last_content(value)
    return None


def _last_content(messages: list[Any]) -> str | None:
    for m in reversed(messages):
        if isinstance(m, Mapping):
            content = m.get("content")
            if isinstance(content, str):
                return content
    return None


def _error(attrs: dict[str, Any]) -> str | None:
    for key in ("promptops.error", "error.type", "error.message"):
        value = attrs.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _guards(attrs: dict[str, Any]) -> list[Any]:
    value = attrs.get("promptops.guards")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return [value]
    if isinstance(value, list):
        return value
    if isinstance(value, Mapping):
        return [dict(value)]
    return []


def _otlp_value(value: Any) -> Any:
    """An OTLP/JSON AnyValue (``{"stringValue": "x"}``, ``{"intValue": "3"}``, ...) as Python."""
    if not isinstance(value, Mapping):
        return None
    if "stringValue" in value:
        return value["stringValue"]
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:
        try:
            return int(value["intValue"])
        except (TypeError, ValueError):
            return None
    if "doubleValue" in value:
        return _number(value["doubleValue"])
    for kind in ("arrayValue", "kvlistValue"):
        inner = value.get(kind)
        if isinstance(inner, Mapping):
            items = [v for v in inner.get("values") or [] if isinstance(v, Mapping)]
            if kind == "arrayValue":
                return [_otlp_value(v) for v in items]
            return {str(x.get("key")): _otlp_value(x.get("value")) for x in items}
    return None


def otlp_spans(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The spans of an OTLP/JSON export line (``{"resourceSpans": [...]}``, as the OpenTelemetry
    Collector's file exporter writes), each as ``{"attributes": {...}, "context": {...}}``."""
    out: list[dict[str, Any]] = []
    for resource in data.get("resourceSpans") or []:
        if not isinstance(resource, Mapping):
            continue
        for scope in resource.get("scopeSpans") or []:
            if not isinstance(scope, Mapping):
                continue
            for span in scope.get("spans") or []:
                if not isinstance(span, Mapping):
                    continue
                attrs = {
                    str(a.get("key")): _otlp_value(a.get("value"))
                    for a in span.get("attributes") or []
                    if isinstance(a, Mapping)
                }
                trace = span.get("traceId")
                context = {"trace_id": trace if isinstance(trace, str) else ""}
                start = span.get("startTimeUnixNano")
                if isinstance(start, str | int) and str(start).isdigit():
                    context["start_ns"] = str(start)
                out.append({"attributes": attrs, "context": context})
    return out


def parse_record(data: Any, source: str, line: int) -> CallRecord | None:
    """One line's call record, or None when it is not one (no prompt name)."""
    if not isinstance(data, dict):
        return None
    attrs = _attributes(data)
    prompt = _text(attrs.get("promptops.prompt.name"))
    if not prompt:
        return None
    feedback = None
    for key in _FEEDBACK:
        feedback = _number(attrs.get(key))
        if feedback is not None:
            break
    trace = attrs.get("promptops.trace_id") or attrs.get("trace_id")
    return CallRecord(
        source=source,
        line=line,
        prompt=prompt,
        version=_text(attrs.get("promptops.prompt.version")),
        trace_id=str(trace) if isinstance(trace, str | int) and trace != "" else None,
        vars=_vars(attrs),
        output=_output(attrs),
        error=_error(attrs),
        feedback=feedback,
        feedback_comment=_text(attrs.get("promptops.feedback.comment")),
        guards=_guards(attrs),
        attrs=attrs,
    )


def _items(data: Any) -> list[Any]:
    if isinstance(data, dict) and "resourceSpans" in data:
        return otlp_spans(data)
    return [data]


def _feedback_of(data: Any) -> tuple[str, float, str | None] | None:
    """A feedback record given apart from its call (``feedback(trace_id, score, comment)``):
    its trace id, score and comment; None when the line is not one."""
    if not isinstance(data, dict):
        return None
    attrs = _attributes(data)
    trace = attrs.get("promptops.trace_id") or attrs.get("trace_id")
    if not isinstance(trace, str) or not trace:
        return None
    for key in _FEEDBACK:
        score = _number(attrs.get(key))
        if score is not None:
            return trace, score, _text(attrs.get("promptops.feedback.comment"))
    return None


def read_records(paths: list[Path], skipped: list[str] | None = None) -> Iterator[CallRecord]:
    """The call records of ``paths``, in order. Feedback given apart from its call (a record
    with a trace id and a feedback score but no prompt name) is joined to the call by trace id,
    from any of the files. Lines that are neither are skipped (named in ``skipped`` when given);
    a file that cannot be read or holds invalid JSON raises SpecError naming file and line."""
    import dataclasses

    from ..errors import display_path

    feedback: dict[str, tuple[float, str | None]] = {}
    loose: set[tuple[str, int]] = set()
    for path in paths:
        shown = display_path(path)
        for lineno, data in iter_jsonl(path):
            for item in _items(data):
                got = _feedback_of(item)
                if got is not None and parse_record(item, shown, lineno) is None:
                    feedback[got[0]] = (got[1], got[2])  # the last word on a trace wins
                    loose.add((shown, lineno))
    for path in paths:
        shown = display_path(path)
        for lineno, data in iter_jsonl(path):
            found = False
            for item in _items(data):
                record = parse_record(item, shown, lineno)
                if record is None:
                    continue
                found = True
                given = feedback.get(record.trace_id or "")
                if given is not None and record.feedback is None:
                    record = dataclasses.replace(
                        record, feedback=given[0], feedback_comment=given[1]
                    )
                yield record
            if not found and (shown, lineno) not in loose and skipped is not None:
                skipped.append(f"{shown}:{lineno}: not a call record (no promptops.prompt.name)")
