"""promptfoo's JavaScript, and the assertions whose promptfoo meaning differs from promptops's
types, as explicit promptops fields, for :mod:`promptops.importers.promptfoo`.

- ``javascript`` assertions and ``transform``s (inline, or ``file://x.js[:fn]`` with the file's
  code inlined, so the imported YAML holds what runs) become promptops's ``javascript`` type
  and ``transform:`` field (QuickJS, the ``js`` extra);
- a test's ``options.transform`` (or ``defaultTest``'s) and an assertion's own ``transform``
  chain into the assertion's one ``transform:``; a ``javascript`` assertion after a transform
  gets the transform folded into its code, since promptfoo hands it the transformed value
  itself, not its JSON text;
- ``regex``, string ``equals``, ``starts-with`` and ``levenshtein`` with a literal value become
  ``javascript`` doing what promptfoo does (JavaScript's ``RegExp``; no trimming; distance at
  most ``threshold``, 5 by default), under ``metric:`` the promptfoo type;
- ``contains-any``/``-all`` with a string value are split as promptfoo splits it (its CSV rule:
  commas, double-quoted fields);
- with ``tools`` in the provider's config, a reply made only of tool calls is, for the text
  assertions, the calls as OpenAI sends them (JSON text; the array itself for ``javascript``),
  and a reply of text and calls is the message object (role, content, tool_calls), as
  promptfoo's OpenAI provider makes them: :data:`TOOL_CALLS_AS_OUTPUT` heads their transform;
- ``weight: 0``: promptfoo passes such an assertion whatever it finds and it adds nothing to the
  score, so it is left out (noted).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from ..errors import PromptOpsError
from ..loader import read_text

if TYPE_CHECKING:  # promptfoo_parts imports this module
    from .promptfoo_parts import Ctx

Loc = tuple[str | int, ...]

_JS_FILES = (".js", ".cjs", ".mjs")
_TEMPLATE = re.compile(r"\{\{|\{%|\{#")


# ----------------------------------------------------------------------------- code


def function_body(code: str) -> str:
    """A transform's code as a function body (promptfoo: several lines are a body, one line
    an expression)."""
    return code if "\n" in code else f"return {code}"


def _last_semicolon(code: str) -> int:
    """promptfoo's findLastStatementSemicolon: the last ``;`` outside string literals."""
    sq = dq = tq = False
    last = -1
    for i, ch in enumerate(code):
        slashes = len(code[:i]) - len(code[:i].rstrip("\\"))
        if slashes % 2 == 0:
            if ch == "'" and not dq and not tq:
                sq = not sq
            elif ch == '"' and not sq and not tq:
                dq = not dq
            elif ch == "`" and not sq and not dq:
                tq = not tq
        if ch == ";" and not (sq or dq or tq):
            last = i
    return last


def assertion_body(code: str) -> str:
    """A ``javascript`` assertion's code as a function body, by promptfoo's rules (the same
    the engine applies to a one-line value)."""
    code = code.rstrip()
    if "\n" in code:
        return code
    trimmed = re.sub(r";+\s*$", "", code.strip())
    if re.match(r"^(const|let|var)\s", trimmed):
        last = _last_semicolon(trimmed)
        if last != -1:
            expression = trimmed[last + 1 :].strip()
            if expression:
                return f"{trimmed[: last + 1]} return {expression}"
        return trimmed
    return f"return {trimmed}"


def _raw(code: str) -> str:
    """Code that promptops must not render as a Jinja template (a file's, a transform folded
    into an assertion): wrapped in ``{% raw %}`` when it holds template syntax."""
    return "{% raw %}" + code + "{% endraw %}" if _TEMPLATE.search(code) else code


def file_code(ctx: Ctx, ref: str, loc: Loc) -> str | None:
    """A ``file://x.js[:fn]`` function as a function body calling it with (output, context),
    the file's code inlined with a CommonJS ``module``; None (reported) for other files."""
    rel, _, fn = ref.removeprefix("file://").partition(":")
    if not rel.endswith(_JS_FILES):
        ctx.skip(loc, f"{ref}: only JavaScript files (.js, .cjs, .mjs) convert")
        return None
    try:
        text = read_text(ctx.file(rel, loc))
    except PromptOpsError as e:
        ctx.skip(loc, e.message)
        return None
    exported: list[str] = []

    def named(m: re.Match[str]) -> str:
        exported.append(m.group(3))
        return f"{m.group(1)}{m.group(2) or ''}{m.group(3)}"

    text = re.sub(r"(?m)^export\s+default\s+", "module.exports.default = ", text)
    text = re.sub(
        r"(?m)^export\s+((?:async\s+)?function\s*\*?\s*|(?:const|let|var|class)\s+)()([A-Za-z_$][\w$]*)",
        named,
        text,
    )
    if re.search(r"(?m)^\s*import\s|\brequire\s*\(", text):
        ctx.note(
            loc, f"{ref} imports modules, which the JavaScript sandbox does not have: it fails"
        )
    tail = "".join(f"module.exports.{n} = {n};\n" for n in exported)
    pick = (
        f"module.exports[{json.dumps(fn)}]"
        if fn
        else "(typeof module.exports === 'function' ? module.exports : module.exports.default)"
    )
    return (
        "const module = { exports: {} };\nconst exports = module.exports;\n"
        f"{text.rstrip()}\n{tail}"
        f"const __fn = {pick};\n"
        f"if (typeof __fn !== 'function') throw new Error({json.dumps(f'{ref} exports no function')});\n"
        "return __fn(output, context);\n"
    )


def transform_code(ctx: Ctx, raw: Any, loc: Loc) -> str | None:
    """A promptfoo ``transform`` as code for promptops's ``transform:``; None (reported) when
    it does not convert."""
    if not isinstance(raw, str) or not raw.strip():
        ctx.skip(loc, "a transform that is not code or a file:// reference is not converted")
        return None
    if raw.startswith("file://"):
        return file_code(ctx, raw, loc)
    return raw


def chain(first: str | None, second: str | None) -> str | None:
    """Two transforms as one (``first``'s result is ``second``'s output)."""
    if first is None or second is None:
        return first or second
    return (
        f"const __first = function (output, context) {{\n{function_body(first)}\n}};\n"
        f"const __second = function (output, context) {{\n{function_body(second)}\n}};\n"
        "return Promise.resolve(__first(output, context)).then((o) => __second(o, context));\n"
    )


def fold(transform: str, check: str) -> str:
    """A ``javascript`` assertion that first applies ``transform`` (its value as is)."""
    return (
        "{% raw %}"
        f"const __transform = function (output, context) {{\n{function_body(transform)}\n}};\n"
        "{% endraw %}"
        f"const __check = function (output, context) {{\n{assertion_body(check)}\n}};\n"
        "return Promise.resolve(__transform(output, context)).then((o) => __check(o, context));\n"
    )


# promptfoo's OpenAI provider answers a reply made only of tool calls with the calls
# themselves (``message.tool_calls``), which its text assertions read as JSON text
# promptfoo's OpenAI provider: a reply of only tool calls is the calls; text with tool calls is
# the message object (its role, content and calls; the provider's other message fields, such as
# refusal or annotations, are not kept, so only a check of the whole object's exact JSON text
# can tell them apart)
TOOL_CALLS_AS_OUTPUT = """const calls = (context && context.tool_calls) || [];
if (!calls.length) return output;
const mapped = calls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.raw } }));
if (!output) return mapped;
return { role: "assistant", content: output, tool_calls: mapped };
"""
# the assertions that read the output as text (the tool-call types read the calls)
TEXT_TYPES = {
    *("equals", "contains", "icontains", "contains-any", "contains-all", "icontains-any"),
    *("icontains-all", "starts-with", "regex", "is-json", "contains-json", "javascript"),
    "levenshtein",
}


# ----------------------------------------------------------------------------- meanings


def split_csv(value: str) -> list[str]:
    """promptfoo's parseCommaSeparatedValues: fields between commas, trimmed; a field may be
    double-quoted (``""`` or ``\\"`` for a quote, commas kept). Raises ValueError where
    promptfoo's assertion would fail."""
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        while i < n and (value[i].isspace() or value[i] == ","):
            i += 1
        if i >= n:
            break
        if value[i] == '"':
            i += 1
            field = ""
            while True:
                if i >= n:
                    raise ValueError("unterminated quoted field")
                if value[i] == "\\" and i + 1 < n and value[i + 1] in '"\\':
                    field, i = field + value[i + 1], i + 2
                elif value[i] == '"' and i + 1 < n and value[i + 1] == '"':
                    field, i = field + '"', i + 2
                elif value[i] == '"':
                    i += 1
                    break
                else:
                    field, i = field + value[i], i + 1
            while i < n and value[i].isspace():
                i += 1
            if i < n and value[i] != ",":
                raise ValueError("expected a comma after a quoted field")
            out.append(field)
        else:
            j = value.find(",", i)
            j = n if j == -1 else j
            out.append(value[i:j].strip())
            i = j
    return out


_LEVENSHTEIN = """const a = output, b = {value};
let prev = Array.from({{ length: b.length + 1 }}, (_, j) => j);
for (let i = 1; i <= a.length; i++) {{
  const cur = [i];
  for (let j = 1; j <= b.length; j++)
    cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  prev = cur;
}}
return prev[b.length] <= {threshold};
"""


def literal_check(base: str, value: Any, a: dict[str, Any]) -> str | None:
    """JavaScript doing what promptfoo's ``base`` does with this literal value; None when
    promptops's own type means the same or the value is a template (rendered per case)."""
    if not isinstance(value, str) or _TEMPLATE.search(value):
        return None
    lit = json.dumps(value, ensure_ascii=False)
    if base == "regex":
        return f"new RegExp({lit}).test(output)"
    if base == "equals":
        return f"output === {lit}"
    if base == "starts-with":
        return f"output.startsWith({lit})"
    if base == "levenshtein":
        threshold = a.get("threshold")
        limit = threshold if isinstance(threshold, int | float) else 5
        return _LEVENSHTEIN.format(value=lit, threshold=json.dumps(limit))
    return None
