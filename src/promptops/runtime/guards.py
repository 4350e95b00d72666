"""Guards: model-free checks the runtime applies to a call's inputs and its output.

A prompt declares them (``guards: {input: [...], output: [...]}``, see ``spec.GuardSpec``);
each is an assertion type that needs no model (``no-pii``, ``regex``/``not-regex``,
``is-json``, ``json-schema``, ``injection``) and triggers when that assertion would fail on
the text. Its action: ``block`` (answer with the guard's ``reply``; an input guard stops the
call before the model sees it), ``mask`` (replace what was found: ``no-pii``, ``not-regex``)
or ``flag`` (record only). Every trigger is recorded on the call (``Reply.guards`` and the
log record / span attribute ``promptops.guard.triggers``).

Guards run in the calling thread, compiled once per prompt version: no helper processes, no
templates. Regular expressions run under the ``regex`` module's timeout (50 ms), and a guard
that cannot decide (a timeout, a schema that does not load) triggers: guards fail closed.
The verdicts agree with the ``assertions`` of the same type (a test holds them together).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import Problem, SpecError, display_path
from ..project import PromptVersion
from ..spec import GuardSpec

Stage = Literal["input", "output"]
GUARD_TYPES = ("no-pii", "regex", "not-regex", "is-json", "json-schema", "injection")
MASKABLE = ("no-pii", "not-regex")
DEFAULT_REPLY = "Sorry, I can't help with that request."
REGEX_TIMEOUT = 0.05
# (triggered, reason, spans to mask as (start, end, label))
Verdict = tuple[bool, str, list[tuple[int, int, str]]]


@dataclass(frozen=True)
class GuardHit:
    """One guard that triggered on one call."""

    stage: Stage
    name: str
    type: str
    action: str
    reason: str
    field: str | None = None  # the input variable (input guards)

    def tag(self) -> str:
        """``stage:name:action``, the span attribute form."""
        return f"{self.stage}:{self.name}:{self.action}"

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "name": self.name,
            "type": self.type,
            "action": self.action,
            "reason": self.reason,
            "field": self.field,
        }


@dataclass(frozen=True)
class Guard:
    spec: GuardSpec
    stage: Stage
    check: Callable[[str], Verdict]

    @property
    def name(self) -> str:
        return self.spec.name or self.spec.type


@dataclass
class Guarded:
    """A text after the guards of one stage: possibly masked, possibly blocked."""

    text: str
    hits: list[GuardHit]
    blocked: GuardHit | None = None
    reply: str | None = None


# --------------------------------------------------------------------------- checks


def _no_pii(value: Any) -> Callable[[str], Verdict]:
    from ..assertions.pii import KINDS, find_pii

    kinds = tuple(KINDS)
    if value is not None:
        items = [value] if isinstance(value, str) else list(value)
        kinds = tuple(str(k).strip().lower() for k in items)
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown PII kind(s) {', '.join(unknown)}; known: {', '.join(KINDS)}")

    def check(text: str) -> Verdict:
        found = find_pii(text, kinds)
        if not found:
            return False, "", []
        kinds_found = sorted({f.kind for f in found})
        spans = [(f.start, f.end, f"[{f.kind.upper()}]") for f in found]
        return True, "found " + ", ".join(kinds_found), spans

    return check


def _regex(value: Any, negated: bool) -> Callable[[str], Verdict]:
    import regex

    if not isinstance(value, str) or not value:
        raise ValueError("needs a pattern (a string)")
    try:
        pattern = regex.compile(value)
    except regex.error as e:
        raise ValueError(f"invalid pattern: {e}") from None

    def check(text: str) -> Verdict:
        try:
            matches = list(pattern.finditer(text, timeout=REGEX_TIMEOUT)) if negated else None
            found = bool(matches) if negated else pattern.search(text, timeout=REGEX_TIMEOUT)
        except TimeoutError:
            return True, f"pattern timed out after {REGEX_TIMEOUT * 1000:.0f} ms", []
        if negated:
            spans = [(m.start(), m.end(), "[REDACTED]") for m in matches or []]
            return bool(found), "pattern found" if found else "", spans
        return not found, "" if found else "pattern not found", []

    return check


def _is_json(text: str) -> Verdict:
    try:
        json.loads(text)
    except ValueError as e:
        return True, f"not JSON: {e}", []
    return False, "", []


def _json_schema(value: Any) -> Callable[[str], Verdict]:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    schema = json.loads(value) if isinstance(value, str) else value
    if not isinstance(schema, dict):
        raise ValueError("needs a JSON Schema (a mapping, or JSON text)")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as e:
        raise ValueError(f"invalid schema: {e.message}") from None
    validator = Draft202012Validator(schema)

    def check(text: str) -> Verdict:
        try:
            data = json.loads(text)
        except ValueError as e:
            return True, f"not JSON: {e}", []
        error = next(iter(validator.iter_errors(data)), None)
        if error is None:
            return False, "", []
        where = "/".join(map(str, error.absolute_path)) or "(root)"
        return True, f"{where}: {error.message[:80]}", []

    return check


def _injection(text: str) -> Verdict:
    from ..assertions.injection import find_injection

    found = find_injection(text)
    if not found:
        return False, "", []
    return True, "injection signal: " + ", ".join(name for name, _ in found), []


def _checker(spec: GuardSpec) -> Callable[[str], Verdict]:
    if spec.type == "no-pii":
        return _no_pii(spec.value)
    if spec.type in ("regex", "not-regex"):
        return _regex(spec.value, spec.type == "not-regex")
    if spec.type == "json-schema":
        return _json_schema(spec.value)
    if spec.value is not None:
        raise ValueError("takes no value")
    return _is_json if spec.type == "is-json" else _injection


# --------------------------------------------------------------------------- compile, apply

_compiled: dict[tuple[str, str], dict[Stage, list[Guard]]] = {}


def compile_guards(pv: PromptVersion) -> dict[Stage, list[Guard]]:
    """The prompt's guards, checked and compiled once per version; a SpecError naming the
    file, line and field for a guard that cannot work."""
    key = (str(pv.path), pv.digest)
    got = _compiled.get(key)
    if got is not None:
        return got
    out: dict[Stage, list[Guard]] = {"input": [], "output": []}
    problems: list[Problem] = []
    guards = pv.spec.guards
    stages: list[tuple[Stage, list[GuardSpec]]] = (
        [("input", guards.input), ("output", guards.output)] if guards else []
    )
    for stage, specs in stages:
        for i, spec in enumerate(specs):

            def bad(field: str, msg: str, i: int = i, stage: Stage = stage) -> None:
                loc = ("guards", stage, i, field)
                problems.append(
                    Problem(display_path(pv.path), pv.line(*loc), ".".join(map(str, loc)), msg)
                )

            if spec.type not in GUARD_TYPES:
                bad("type", f"{spec.type!r} cannot guard; use one of {', '.join(GUARD_TYPES)}")
                continue
            if spec.action == "mask" and spec.type not in MASKABLE:
                bad(
                    "action", f"{spec.type} cannot mask (only {', '.join(MASKABLE)}); block or flag"
                )
                continue
            if spec.reply is not None and spec.action != "block":
                bad("reply", "only a block guard replies")
                continue
            try:
                out[stage].append(Guard(spec, stage, _checker(spec)))
            except (ValueError, TypeError) as e:
                bad("value", f"{spec.type}: {e}")
    if problems:
        raise SpecError("\n".join(map(str, problems)), problems)
    if len(_compiled) > 256:
        _compiled.clear()
    _compiled[key] = out
    return out


def _mask(text: str, spans: list[tuple[int, int, str]]) -> str:
    out, at = [], 0
    for start, end, label in sorted(spans):
        if start < at:
            continue
        out += [text[at:start], label]
        at = end
    out.append(text[at:])
    return "".join(out)


def apply(guards: list[Guard], text: str, field: str | None = None) -> Guarded:
    """Run one stage's guards on ``text`` in order; stops at the first block."""
    result = Guarded(text, [])
    for guard in guards:
        triggered, reason, spans = guard.check(result.text)
        if not triggered:
            continue
        spec = guard.spec
        hit = GuardHit(guard.stage, guard.name, spec.type, spec.action, reason, field)
        result.hits.append(hit)
        if spec.action == "mask":
            result.text = _mask(result.text, spans)
        elif spec.action == "block":
            result.blocked, result.reply = hit, spec.reply or DEFAULT_REPLY
            return result
    return result


def guard_inputs(
    guards: list[Guard], values: dict[str, Any]
) -> tuple[dict[str, Any], list[GuardHit], Guarded | None]:
    """Input guards on every string value: (values with masks applied, hits, the block)."""
    if not guards:
        return values, [], None
    out = dict(values)
    hits: list[GuardHit] = []
    for name, value in values.items():
        if not isinstance(value, str):
            continue
        g = apply(guards, value, name)
        hits += g.hits
        if g.blocked is not None:
            return out, hits, g
        out[name] = g.text
    return out, hits, None
