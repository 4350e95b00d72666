"""Sandboxed Jinja rendering with typed inputs.

Templates run in jinja2's ``SandboxedEnvironment`` with ``StrictUndefined``: a template cannot
reach Python internals, and a variable that is not given is an error, not an empty string.
Values are passed as data, never re-parsed as templates, so a dataset value containing
``{{ ... }}`` is rendered as plain text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import jinja2
from jinja2 import meta, nodes

from .content import data_url, image_file
from .errors import RenderError, SpecError, display_path
from .loader import field_name
from .paths import find_root
from .sandbox import (
    INTERNAL_NAMES,
    LimitedSandbox,
    LimitError,
    budget,
    render_limited,
    static_problems,
)
from .spec import InputSpec

if TYPE_CHECKING:
    from .project import PromptVersion
    from .spec import ContentPart

_EXPR_ONLY = re.compile(r"^\s*\{\{(.*)\}\}\s*$", re.S)


def _tojson(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


@lru_cache(maxsize=1)
def environment() -> LimitedSandbox:
    env = LimitedSandbox(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.add_filter("tojson", _tojson)
    env.add_filter("from_json", json.loads)  # promptfoo's ``| load``, as imported
    return env


@lru_cache(maxsize=1024)
def compile_template(source: str) -> jinja2.Template:
    """Compile once per distinct source (raises jinja2.TemplateSyntaxError)."""
    return environment().from_string(source)


@lru_cache(maxsize=1024)
def _compile_expr(expr: str) -> Any:
    return environment().compile_expression(expr, undefined_to_none=False)


def template_variables(source: str) -> set[str]:
    """Top-level variables a template reads (raises jinja2.TemplateSyntaxError)."""
    env = environment()
    ast: nodes.Template = env.parse(source)
    return set(meta.find_undeclared_variables(ast)) - INTERNAL_NAMES


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
}


_ROLES = ("system", "user", "assistant", "tool")


def messages_problem(value: Any) -> str | None:
    """Why ``value`` is not a list of chat messages ``{role, content}``, or None."""
    if not isinstance(value, list):
        return f"expected a list of messages, got {type(value).__name__}"
    for i, m in enumerate(value):
        if not isinstance(m, dict) or m.get("role") not in _ROLES:
            return f"item {i} is not a message with role {', '.join(_ROLES)}"
        content = m.get("content")
        if content is None and not m.get("tool_calls"):
            return f"item {i} has no content"
        if content is not None and not isinstance(content, str | list):
            return f"item {i}: content must be text or a list of parts"
    return None


def type_error(name: str, spec: InputSpec, value: Any) -> str | None:
    """Why ``value`` does not fit the input's declared type, or None."""
    if spec.type == "messages":
        problem = messages_problem(value)
        return f"input {name!r} must be messages: {problem}" if problem else None
    if spec.type != "any":
        ok = isinstance(value, _TYPES[spec.type])
        if spec.type in ("integer", "number") and isinstance(value, bool):
            ok = False
        if not ok:
            return f"input {name!r} must be {spec.type}, got {type(value).__name__}"
    if spec.enum is not None and value not in spec.enum:
        return f"input {name!r} must be one of {spec.enum}, got {value!r}"
    return None


def coerce_cli(name: str, spec: InputSpec | None, raw: str) -> Any:
    """Turn a command-line string into the input's declared type."""
    kind = spec.type if spec else "string"
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw) if any(c in raw for c in ".eE") else int(raw)
        if kind == "boolean":
            low = raw.strip().lower()
            if low in ("true", "1", "yes"):
                return True
            if low in ("false", "0", "no"):
                return False
            raise ValueError(raw)
        if kind in ("array", "object", "messages", "any"):
            try:
                return json.loads(raw)
            except json.JSONDecodeError:
                if kind == "any":
                    return raw
                raise
    except (ValueError, json.JSONDecodeError, RecursionError):
        raise RenderError(f"input {name!r} must be {kind}, got {raw[:80]!r}") from None
    return raw


def bind_inputs(pv: PromptVersion, values: dict[str, Any], where: str = "") -> dict[str, Any]:
    """Check values against the declared inputs and fill defaults. Raises RenderError."""
    inputs = pv.spec.inputs
    prefix = f"{where}: " if where else ""
    unknown = sorted(set(values) - set(inputs))
    if unknown:
        declared = ", ".join(inputs) or "none"
        raise RenderError(
            f"{prefix}unknown variable(s) {', '.join(unknown)} for {pv.ref}; declared inputs: {declared}"
        )
    missing = sorted(k for k, s in inputs.items() if k not in values and s.is_required)
    if missing:
        raise RenderError(f"{prefix}missing required input(s) {', '.join(missing)} for {pv.ref}")
    bound: dict[str, Any] = {}
    for key, spec in inputs.items():
        if key in values:
            problem = type_error(key, spec, values[key])
            if problem:
                raise RenderError(prefix + problem)
            bound[key] = values[key]
        else:
            bound[key] = spec.default
    return bound


_RUNTIME_ERRORS = (TypeError, ValueError, ArithmeticError, LookupError, AttributeError)


def _as_render_error(e: Exception, what: str | Callable[[], str], syntax_line: bool) -> RenderError:
    """Jinja's errors (and runtime errors inside a template) as one user-facing RenderError."""
    label = what() if callable(what) else what
    if isinstance(e, jinja2.TemplateSyntaxError):
        at = f" on template line {e.lineno}" if syntax_line else ""
        return RenderError(f"{label}: template syntax error{at}: {e.message}")
    if isinstance(e, jinja2.exceptions.SecurityError):
        return RenderError(f"{label}: blocked by the sandbox: {e}")
    if isinstance(e, jinja2.UndefinedError):
        return RenderError(f"{label}: {e.message}")
    return RenderError(f"{label}: {type(e).__name__}: {e}")


def render_template(source: str, context: dict[str, Any], what: str | Callable[[], str]) -> str:
    """Render one template source, turning Jinja's errors into RenderError.

    ``what`` names the template in messages; pass a callable to build it only on error.
    """
    try:
        return render_limited(compile_template(source), context)
    except (jinja2.TemplateError, *_RUNTIME_ERRORS) as e:
        raise _as_render_error(e, what, syntax_line=True) from None


def render_messages(
    pv: PromptVersion, values: dict[str, Any], where: str = ""
) -> list[dict[str, Any]]:
    """Render the prompt's chat messages for one set of input values."""
    return render_bound(pv, bind_inputs(pv, values, where))


def render_bound(pv: PromptVersion, context: dict[str, Any]) -> list[dict[str, Any]]:
    """Render messages from already-checked inputs (see :func:`bind_inputs`)."""
    out: list[dict[str, Any]] = []
    spec_template = pv.spec.messages is None
    for i, msg in enumerate(pv.spec.chat()):
        if msg.placeholder is not None:
            out.extend(dict(m) for m in context.get(msg.placeholder) or [])
            continue
        loc = ("messages", i, "content") if pv.spec.messages is not None else ("template",)
        field = "template" if spec_template else f"messages[{i}].content"

        def what(loc: tuple[str | int, ...] = loc, field: str = field) -> str:
            # built only on error: display_path resolves the path, too slow for every render
            line = pv.lines.line(loc)
            return f"{display_path(pv.path)}:{line}: {field}" if line else f"{pv.ref}: {field}"

        if not isinstance(msg.content, str):
            out.append(
                {"role": msg.role, "content": render_parts(pv, msg.content or [], context, what)}
            )
            continue
        try:
            compile_template(msg.content)
        except jinja2.TemplateSyntaxError as e:  # report the file line of the error itself
            at = _content_line(pv, msg.content, pv.lines.line(loc), e.lineno)
            where = f"{display_path(pv.path)}:{at}: {field}" if at else f"{pv.ref}: {field}"
            raise RenderError(f"{where}: template syntax error: {e.message}") from None
        out.append({"role": msg.role, "content": render_template(msg.content, context, what)})
    return out


def render_value(value: Any, context: dict[str, Any], what: str) -> Any:
    """Render an assertion value. ``"{{ expr }}"`` alone keeps the expression's type (a list
    stays a list); other strings render as text; lists and dicts render element-wise."""
    if isinstance(value, str):
        if "{" not in value:
            return value
        m = _EXPR_ONLY.match(value)
        if m and "{{" not in m.group(1) and "}}" not in m.group(1):
            try:
                fn = _compile_expr(m.group(1).strip())
                with budget():
                    result = fn(**context)
                if isinstance(result, str) and len(result) > environment().max_output:
                    raise LimitError(
                        f"the value is over the sandbox limit of {environment().max_output:,} characters"
                    )
                if isinstance(result, jinja2.Undefined):
                    str(result)  # StrictUndefined raises UndefinedError naming the variable
                return result
            except (jinja2.TemplateError, *_RUNTIME_ERRORS) as e:
                raise _as_render_error(e, what, syntax_line=False) from None
        return render_template(value, context, what)
    if isinstance(value, list):
        return [render_value(v, context, what) for v in value]
    if isinstance(value, dict):
        return {k: render_value(v, context, what) for k, v in value.items()}
    return value


def check_templates(pv: PromptVersion) -> list[tuple[tuple[str | int, ...], int | None, str]]:
    """Syntax errors in a prompt's templates, and what would break the sandbox's limits for
    any input (constant ``'a' * 10**10``): (field location, file line, message)."""
    problems = []
    for i, msg in enumerate(pv.spec.chat()):
        loc: tuple[str | int, ...] = (
            ("messages", i, "content") if pv.spec.messages is not None else ("template",)
        )
        for source in msg.templates():
            try:
                compile_template(source)
            except jinja2.TemplateSyntaxError as e:
                base = pv.lines.line(loc)
                line = _content_line(pv, source, base, e.lineno)
                problems.append((loc, line, f"template syntax error: {e.message}"))
                continue
            for tpl_line, why in static_problems(source, environment()):
                line = _content_line(pv, source, pv.lines.line(loc), tpl_line)
                problems.append((loc, line, f"template would go past the sandbox's limits: {why}"))
    return problems


# The value of ``key:`` is a block scalar: ``|`` or ``>``, optional indicators and a comment.
_BLOCK_HEADER = re.compile(r":\s+(?:!\S*\s+)?(?:&\S+\s+)?([|>])[-+1-9]{0,2}\s*(?:#.*)?$")


def _content_line(
    pv: PromptVersion, source: str, key_line: int | None, tpl_line: int | None
) -> int | None:
    """Map a template line to a file line.

    A literal block (``|``) keeps lines, so template line N is N lines below the key. In a
    folded, plain or quoted value lines can merge, so the template line's text is looked up
    among the value's lines; when it is not found, the key's line is the best answer.
    """
    if key_line is None:
        return None
    tpl_line = tpl_line or 1
    try:
        text = pv.path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError):
        return key_line
    if key_line > len(text):
        return key_line
    header = text[key_line - 1]
    block = _BLOCK_HEADER.search(header)
    if block and block.group(1) == "|":
        return key_line + tpl_line
    src_lines = source.splitlines()
    wanted = src_lines[tpl_line - 1].strip() if tpl_line <= len(src_lines) else ""
    indent = len(header) - len(header.lstrip(" -"))
    for n in range(key_line, len(text)):
        line = text[n]
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break  # past the value
        if wanted and line.strip() == wanted:
            return n + 1
    if wanted and wanted in header:
        return key_line
    return key_line + 1 if block else key_line


def raise_for_templates(pv: PromptVersion) -> None:
    problems = check_templates(pv)
    if problems:
        loc, line, msg = problems[0]
        raise SpecError.of(pv.path, line, field_name(loc), msg)


def parse_vars(pv: PromptVersion, var_args: list[str], vars_file: Any = None) -> dict[str, Any]:
    """Variables from ``--vars FILE`` (JSON or YAML) and ``--var k=v`` / ``--var k=@file``.

    ``--var`` strings are converted to the input's declared type; ``--var`` wins over ``--vars``.
    """
    from pathlib import Path

    from .errors import UsageError
    from .loader import load_yaml, read_text

    values: dict[str, Any] = {}
    if vars_file is not None:
        path = Path(vars_file)
        if path.suffix == ".json":
            try:
                data = json.loads(read_text(path, confined=False))
            except json.JSONDecodeError as e:
                raise SpecError.of(path, e.lineno, None, f"invalid JSON: {e.msg}") from None
            except RecursionError:
                raise SpecError.of(path, None, None, "invalid JSON: nested too deeply") from None
        else:
            data, _ = load_yaml(path, confined=False)
        if not isinstance(data, dict):
            raise SpecError.of(path, 1, None, "expected a mapping of variable names to values")
        values.update(data)
    for arg in var_args:
        key, sep, raw = arg.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--var {arg!r}: expected NAME=VALUE or NAME=@FILE")
        if raw.startswith("@"):
            fpath = Path(raw[1:])
            if not fpath.is_file():
                raise UsageError(f"--var {key}=@{fpath}: no such file")
            raw = read_text(fpath, confined=False)
            spec = pv.spec.inputs.get(key)
            values[key] = (
                raw if spec is None or spec.type == "string" else coerce_cli(key, spec, raw)
            )
        else:
            values[key] = coerce_cli(key, pv.spec.inputs.get(key), raw)
    return values


def render_parts(
    pv: PromptVersion,
    parts: list[ContentPart],
    context: dict[str, Any],
    what: Callable[[], str],
) -> list[dict[str, Any]]:
    """Content parts in OpenAI's shape, templates rendered and project images inlined."""
    out: list[dict[str, Any]] = []
    for part in parts:
        if part.type == "text":
            out.append({"type": "text", "text": render_template(part.text or "", context, what)})
            continue
        detail = part.detail
        if part.image_url is not None:
            url = render_template(part.image_url.url, context, what)
            detail = part.image_url.detail or detail
        elif part.url is not None:
            url = render_template(part.url, context, what)
        else:
            rel = render_template(part.path or "", context, what)
            try:
                url = data_url(image_file(find_root(pv.path.parent), rel))
            except (ValueError, OSError) as e:
                raise RenderError(f"{what()}: {e}") from None
        image: dict[str, Any] = {"url": url}
        if detail is not None:
            image["detail"] = detail
        out.append({"type": "image_url", "image_url": image})
    return out
