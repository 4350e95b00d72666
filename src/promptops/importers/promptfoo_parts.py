"""Reading the pieces of a promptfoo config (prompts, providers, assertions, tests) for
:mod:`promptops.importers.promptfoo`; every piece that does not convert is recorded with its
file, line and field on the :class:`Ctx`."""

from __future__ import annotations

import copy
import csv
import glob
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import PromptOpsError, SpecError, display_path
from ..loader import LineMap, iter_jsonl, load_yaml, read_text
from ..paths import OutsideProject, confine

SAME = {
    "equals",
    "contains",
    "icontains",
    "contains-any",
    "contains-all",
    "icontains-any",
    "icontains-all",
    "starts-with",
    "regex",
    "is-json",
    "contains-json",
    "llm-rubric",
    "factuality",
    "latency",
    "cost",
    "finish-reason",
    "is-refusal",
    "similar",
    "tool-call",
}
RENAMED = {
    "model-graded-closedqa": "closedqa",
    "model-graded-factuality": "factuality",
    "is-valid-openai-tools-call": "is-valid-tool-call",
    "is-valid-openai-function-call": "is-valid-tool-call",
    "python": "python",
}
MODEL_GRADED = {"llm-rubric", "factuality", "closedqa"}
# the grader promptfoo 0.121.20 uses when a config names none and OPENAI_API_KEY is set
# (DEFAULT_OPENAI_GRADING_MODEL in its graders module)
DEFAULT_JUDGE = "openai/gpt-5.5-2026-04-23"
APPROXIMATE = {
    "similar": "promptfoo's similar compares embeddings; promptops's is lexical (ROUGE-L)",
}
PARAMS = {
    "temperature": "temperature",
    "max_tokens": "max_tokens",
    "top_p": "top_p",
    "seed": "seed",
    "stop": "stop",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
}
# provider config promptops passes to litellm in params.extra (spec.EXTRA_PARAMS), by
# promptfoo's name; ``max_output_tokens`` (the Responses API's name) is max_tokens
EXTRA = {
    "top_k": "top_k",
    "reasoning_effort": "reasoning_effort",
    "verbosity": "verbosity",
    "thinking": "thinking",
    "max_completion_tokens": "max_completion_tokens",
    "parallel_tool_calls": "parallel_tool_calls",
}


def sampling(params: dict[str, Any], key: str, value: Any) -> bool:
    """Put promptfoo's provider config ``key`` into promptops's ``params`` (``extra`` for the
    provider-specific ones); False when it is not a sampling parameter promptops passes."""
    if key in PARAMS:
        params[PARAMS[key]] = value
    elif key == "max_output_tokens":
        params["max_tokens"] = value
    elif key in EXTRA:
        params.setdefault("extra", {})[EXTRA[key]] = value
    elif key == "reasoning" and isinstance(value, dict) and set(value) == {"effort"}:
        params.setdefault("extra", {})["reasoning_effort"] = value["effort"]
    else:
        return False
    return True


PREFIXES = {
    "openai": "openai",
    "anthropic": "anthropic",
    "azureopenai": "azure",
    "azure": "azure",
    "vertex": "vertex_ai",
    "google": "gemini",
    "bedrock": "bedrock",
    "mistral": "mistral",
    "groq": "groq",
    "ollama": "ollama_chat",
    "togetherai": "together_ai",
    "deepseek": "deepseek",
    "openrouter": "openrouter",
    "fireworks": "fireworks_ai",
    "cohere": "cohere",
    # promptfoo and litellm name these providers' models alike (promptfoo's examples/cerebras,
    # xai, gemma-vs-llama)
    "cerebras": "cerebras",
    "xai": "xai",
    "replicate": "replicate",
}
_KINDS = ("chat", "completion", "messages", "embedding", "responses")
_PROMPT_TEXT = (".txt", ".md", ".j2", ".jinja", ".prompt", ".nunjucks")


@dataclass
class Source:
    """A file the config references (a tests file, defaultTest): where its parts are."""

    shown: str
    lines: LineMap
    names: dict[tuple[str | int, ...], str] = field(default_factory=dict)


@dataclass
class Skipped:
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


class Ctx:
    def __init__(self, path: Path, root: Path, keep_api_base: bool = False) -> None:
        self.path = path
        self.root = root.resolve()
        self.keep_api_base = keep_api_base
        self.base = path.resolve().parent
        self.shown = display_path(path)
        self.lines = LineMap()
        self.skipped: list[Skipped] = []
        self.drop = False  # --drop-unconverted: leave unconverted checks out, not failing
        self.tool_text = False  # the model has tools: tool-call replies are text to assertions
        self.derived_names: set[str] = set()  # metric names derivedMetrics read
        # a scoring function reads the metrics: no metric: may be added that promptfoo lacks
        self.scoring = False
        self.notes: list[Skipped] = []
        # parts of the config that come from another file: their locations are in that file
        self.sources: dict[tuple[str | int, ...], Source] = {}
        # chat prompt files whose Nunjucks tags make the history: rendered per case at import
        self.rendered_chats: list[RenderedChat] = []

    def where(self, *loc: str | int) -> str:
        shown, lines, rest, name = self.shown, self.lines, loc, None
        for n in range(len(loc), 0, -1):
            src = self.sources.get(loc[:n])
            if src is not None:
                shown, lines, rest = src.shown, src.lines, loc[n:]
                name = src.names.get(rest)
                break
        line = lines.line(rest)
        at = f"{shown}:{line}" if line else shown
        dotted = name or "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in rest)
        return f"{at}: {dotted.lstrip('.')}" if dotted else at

    def skip(self, loc: tuple[str | int, ...], what: str) -> None:
        # a part met again (a scenario's config entry, once per test) is reported once
        if (item := Skipped(self.where(*loc), what)) not in self.skipped:
            self.skipped.append(item)

    def unconverted(self, loc: tuple[str | int, ...], what: str) -> dict[str, Any] | None:
        """Report a check that does not convert and return what stands in for it: an
        ``unconverted`` check that fails saying so (None with ``--drop-unconverted``)."""
        self.skip(loc, what)
        if self.drop:
            return None
        return {"type": "unconverted", "value": f"{self.where(*loc)}: {what}"}

    def note(self, loc: tuple[str | int, ...], what: str) -> None:
        if (item := Skipped(self.where(*loc), what)) not in self.notes:
            self.notes.append(item)

    def inside(self, ref: str, loc: tuple[str | int, ...] = ()) -> Path:
        """``ref`` (relative to the config's directory) resolved, symlinks followed; an error
        naming the field when it leaves the project (nothing of it is read)."""
        rel = ref.removeprefix("file://")
        try:
            return confine(self.root, self.base / rel)
        except OutsideProject:
            where = self.where(*loc) if loc else self.shown
            raise PromptOpsError(
                f"{where}: file://{rel}: outside the project; files a promptfoo config names "
                "must resolve (symlinks followed) inside the project, and are not read otherwise"
            ) from None

    def file(self, ref: str, loc: tuple[str | int, ...] = ()) -> Path:
        """A file the config names: inside the project (:meth:`inside`) and present."""
        path = self.inside(ref, loc)
        if not path.is_file():
            where = self.where(*loc) if loc else self.shown
            raise PromptOpsError(f"{where}: {ref}: no such file")
        return path


def not_converted(what: str, hint: str | None = None) -> str:
    """``what is not converted``, with what promptops has instead when there is something."""
    return f"{what} is not converted ({hint})" if hint else f"{what} is not converted"


def slug(text: str, default: str) -> str:
    s = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")[:60]
    return s or default


def model_id(provider: str) -> str | None:
    """promptfoo provider id -> litellm model id (None: no equivalent)."""
    if provider == "echo":
        return "echo/echo"
    if ":" not in provider:
        return None
    prefix, rest = provider.split(":", 1)
    target = PREFIXES.get(prefix)
    if target is None:
        return None
    head, _, tail = rest.partition(":")
    if head in _KINDS and tail:
        rest = tail
    return f"{target}/{rest}"


def _parse(path: Path) -> Any:
    """A JSON or YAML file's data; a parse error names the file and line."""
    if path.suffix in (".yaml", ".yml"):
        return load_yaml(path)[0]
    text = read_text(path)
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise SpecError.of(path, e.lineno, None, f"invalid JSON: {e.msg}") from None
    return text


def load_ref(ctx: Ctx, value: Any, loc: tuple[str | int, ...] = ()) -> Any:
    """A ``file://`` YAML/JSON value loaded (text files as text); anything else unchanged."""
    if isinstance(value, str) and value.startswith("file://"):
        return _parse(ctx.file(value, loc))
    return value


# ----------------------------------------------------------------------------- prompts


def _prompt_from_text(
    ctx: Ctx, text: str, loc: tuple[str | int, ...], from_file: bool = False
) -> dict[str, Any]:
    """A prompt's text as a template (or chat messages, for a JSON chat list). promptfoo trims
    a prompt file's text (each ``---`` part), not an inline prompt's."""
    if from_file:
        text = text.strip()
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError:
            data = None
        if _is_chat(data):
            return {"messages": _messages(ctx, data, loc)}
    return {"template": _nunjucks(text)}


def _is_chat(data: Any) -> bool:
    return (
        isinstance(data, list)
        and bool(data)
        and all(isinstance(m, dict) and "role" in m and "content" in m for m in data)
    )


def _not_chat(item: str, data: Any) -> str:
    """Why a JSON or YAML prompt file is refused: it is not a list of chat messages. A mapping
    holding one under ``messages`` is one promptfoo itself does not send as messages
    (0.121.20: its OpenAI provider puts the whole mapping in the request's ``messages``, which
    must be a list; its Anthropic provider sends the file's text as one user message)."""
    if isinstance(data, dict) and _is_chat(data.get("messages")):
        return (
            f"{item}: a mapping with a 'messages' list, not a list of chat messages; promptfoo "
            "does not send it as messages either (the mapping as the request's messages for "
            "OpenAI, its text as one user message for Anthropic): make the file the list itself"
        )
    return f"{item}: not a list of chat messages"


_PART_TYPES = ("text", "image_url")


def _messages(
    ctx: Ctx, data: list[dict[str, Any]], loc: tuple[str | int, ...]
) -> list[dict[str, Any]]:
    """Chat messages; content parts (text, OpenAI's image_url) stay parts."""
    out: list[dict[str, Any]] = []
    for i, m in enumerate(data):
        content = m["content"]
        if isinstance(content, list):
            parts = []
            for j, part in enumerate(content):
                if isinstance(part, dict) and part.get("type") in _PART_TYPES:
                    parts.append(_templated(part))
                else:
                    if isinstance(part, dict) and part.get("type") is None:
                        what = f"a part without a type (keys: {', '.join(map(str, part))}) is"
                    else:
                        kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                        what = f"{kind!r} parts are"
                    ctx.skip(
                        loc,
                        f"message {i + 1}, content part {j + 1}: {what} "
                        "not converted (text and image_url are)",
                    )
            out.append({"role": m["role"], "content": parts})
        else:
            out.append({"role": m["role"], "content": _nunjucks(str(content))})
        for key in m:
            if key not in ("role", "content"):
                ctx.skip(loc, f"message {i + 1}: {key!r} is not converted")
    return out


def _templated(value: Any) -> Any:
    """``| dump`` -> ``| tojson`` in every string of a content part."""
    if isinstance(value, str):
        return _nunjucks(value)
    if isinstance(value, dict):
        return {k: _templated(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_templated(v) for v in value]
    return value


_BLOCK_TAG = re.compile(r"\{([%#])([-+]?)(.*?)([-+]?)\1\}", re.S)


def _nunjucks(text: str) -> str:
    """A Nunjucks template as a promptops (Jinja) one that renders the same text.

    Filters: ``dump`` -> ``tojson``, ``load`` (JSON text to data) -> ``from_json``.
    Whitespace: promptops's Jinja trims the newline after a block tag and the indent before it
    (``trim_blocks``, ``lstrip_blocks``) and drops a template's last newline; Nunjucks does none
    of these. So each ``{% %}`` and ``{# #}`` tag without a ``-`` gets Jinja's ``+`` (keep the
    whitespace) on that side, and a template ending in a newline gets one more."""
    text = re.sub(r"\|\s*dump\b", "| tojson", text)
    text = re.sub(r"\|\s*load\b", "| from_json", text)

    def keep(m: re.Match[str]) -> str:
        kind, left, body, right = m.groups()
        return f"{{{kind}{left or '+'}{body}{right or '+'}{kind}}}"

    text = _BLOCK_TAG.sub(keep, text)
    return text + "\n" if text.endswith("\n") else text


_CONVERSATION_LOOP = re.compile(
    r"\{%-?\s*for\s+\w+\s+in\s+_conversation\s*-?%\}.*?\{%-?\s*endfor\s*-?%\}", re.S
)


@dataclass
class RenderedChat:
    """A chat prompt file whose Nunjucks tags (a loop over a case's var, say) produce some of
    its messages. promptfoo renders the whole file per case and reads the JSON; the import
    does the same per case (promptops's Jinja, the tags converted) and writes the messages
    the tags produced as the case's value of ``var``, a messages input the prompt places
    where the tags stood. ``body`` is the prompt; ``before``: messages ahead of the tags."""

    template: str
    var: str
    body: dict[str, Any]
    before: int
    after: int
    loc: tuple[str | int, ...]
    item: str


# a JSON string, or a bare ``{{ }}`` expression (a JSON value once rendered)
_JSON_STRING_OR_EXPR = re.compile(r'"(?:[^"\\]|\\.)*"|\{\{.*?\}\}', re.S)
_DUMPED = re.compile(r"\{\{-?\s*(.+?)\s*\|\s*dump\s*-?\}\}", re.S)
# Nunjucks ``for k, v in x`` iterates a mapping's items; Jinja's needs ``.items()``
_PAIR_LOOP = re.compile(r"(\{%[-+]?\s*for\s+\w+\s*,\s*\w+\s+in\s+)(.+?)(\s*[-+]?%\})", re.S)
_SLOT = '{"\\u0000": 0}'


def _pairs(m: re.Match[str]) -> str:
    head, seq, tail = m.groups()
    return f"{head}(({seq}).items() if ({seq}) is mapping else ({seq})){tail}"


def _skeleton(prefix: str, suffix: str) -> tuple[list[Any], list[str]] | None:
    """The JSON around the tags, with a slot where they stood and each bare ``{{ }}`` as a
    marker string (its text in the returned list), or None when it does not parse."""
    exprs: list[str] = []

    def mark(m: re.Match[str]) -> str:
        if m.group(0).startswith('"'):
            return m.group(0)
        exprs.append(m.group(0))
        return json.dumps(f"\u0001{len(exprs) - 1}")

    for joint in ("", ","):
        exprs.clear()
        text = _JSON_STRING_OR_EXPR.sub(mark, prefix + _SLOT + joint + suffix)
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            continue
        if isinstance(data, list):
            return data, list(exprs)
    return None


def _nunjucks_chat(
    ctx: Ctx, item: str, text: str, label: str, loc: tuple[str | int, ...]
) -> list[tuple[str, dict[str, Any]]]:
    """A chat prompt file written as JSON with Nunjucks tags. promptfoo renders it, then reads
    the JSON; its ``{% for ... in _conversation %}`` loop replays the earlier turns of a
    conversation, which a single case does not have (promptops: a case's ``turns:``), so it
    renders nothing and is dropped here. Other tags (one run of them, between whole messages)
    become a messages input rendered per case (:class:`RenderedChat`)."""
    stripped, n = _CONVERSATION_LOOP.subn("", text)
    if "{%" in stripped:
        return _rendered_chat(ctx, item, stripped, label, loc)
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError as e:
        ctx.skip(loc, f"{item}: not JSON once its _conversation loop is removed: {e.msg}")
        return []
    if not _is_chat(data):
        ctx.skip(loc, _not_chat(item, data))
        return []
    if n:
        ctx.note(
            loc,
            f"{item}: the _conversation loop (earlier turns, none in a single case) is dropped; "
            "a multi-turn case is promptops's turns:",
        )
    return [(label, {"messages": _messages(ctx, data, loc)})]


def _rendered_chat(
    ctx: Ctx, item: str, text: str, label: str, loc: tuple[str | int, ...]
) -> list[tuple[str, dict[str, Any]]]:
    tags = list(_BLOCK_TAG.finditer(text))
    refuse = f"{item}: Nunjucks tags are converted when they stand between whole messages"
    if not tags:
        ctx.skip(loc, f"{refuse}; this file has an unclosed {{% tag")
        return []
    start, end = tags[0].start(), tags[-1].end()
    found = _skeleton(text[:start], text[end:])
    if found is None:
        ctx.skip(loc, f"{refuse}; this file does not parse as JSON without them")
        return []
    data, exprs = found
    slots = [i for i, m in enumerate(data) if m == {"\u0000": 0}]
    if len(slots) != 1:
        ctx.skip(loc, f"{refuse}; here they stand inside a message")
        return []
    var = "_history" + (f"_{len(ctx.rendered_chats) + 1}" if ctx.rendered_chats else "")
    messages: list[dict[str, Any]] = []
    for i, m in enumerate(data):
        if i == slots[0]:
            messages.append({"placeholder": var})
            continue
        if not (isinstance(m, dict) and set(m) == {"role", "content"}):
            ctx.skip(loc, f"{item}: message {i + 1}: not a role and content")
            return []
        content = m["content"]
        if isinstance(content, str) and content.startswith("\u0001"):
            dumped = _DUMPED.fullmatch(exprs[int(content[1:])])
            if dumped is None:
                ctx.skip(loc, f"{item}: message {i + 1}: a bare {{{{ }}}} without | dump")
                return []
            content = "{{ " + dumped.group(1) + " }}"
        if not isinstance(content, str) or not isinstance(m["role"], str):
            ctx.skip(loc, f"{item}: message {i + 1}: role and content must be text")
            return []
        if m["role"] not in ("system", "user", "assistant"):
            ctx.skip(loc, f"{item}: message {i + 1}: role {m['role']!r} is not converted")
            return []
        messages.append({"role": m["role"], "content": _nunjucks(content)})
    body: dict[str, Any] = {"messages": messages}
    template = _PAIR_LOOP.sub(_pairs, _nunjucks(text))
    after = len(data) - slots[0] - 1
    ctx.rendered_chats.append(RenderedChat(template, var, body, slots[0], after, loc, item))
    ctx.note(
        loc,
        f"{item}: the messages its Nunjucks tags make are rendered per case into the input "
        f"{var!r} (type messages)",
    )
    return [(label, body)]


def _prompt_file(
    ctx: Ctx, item: str, ref: str, label: str, loc: tuple[str | int, ...]
) -> list[tuple[str, dict[str, Any]]]:
    """The prompts in one ``file://`` prompt file (several for ``---``-separated text)."""
    path_part = ref.split(":", 1)[0]
    suffix = Path(path_part).suffix
    if suffix in (".py", ".js", ".ts", ".mjs", ".cjs"):
        ctx.skip(
            loc,
            f"{item}: a prompt function (code that builds the prompt per case) is not converted; "
            "write its output as a template",
        )
        return []
    path = ctx.file(path_part, loc)
    text = read_text(path)
    if suffix == ".json" and "{%" in text:
        return _nunjucks_chat(ctx, item, text, label or path.stem, loc)
    if suffix == ".json" or suffix in (".yaml", ".yml"):
        data = _parse(path)
        if not _is_chat(data):
            ctx.skip(loc, _not_chat(item, data))
            return []
        return [(label or path.stem, {"messages": _messages(ctx, data, loc)})]
    if suffix == ".csv":
        return _csv_prompts(ctx, item, text, label, path.stem, loc)
    if suffix in _PROMPT_TEXT or suffix == "":
        parts = re.split(r"\n-{3,}\n", text)
        return [
            (
                label or (path.stem if len(parts) == 1 else f"{path.stem}-{j + 1}"),
                _prompt_from_text(ctx, part, loc, from_file=True),
            )
            for j, part in enumerate(parts)
        ]
    ctx.skip(loc, f"{item}: unsupported prompt file type {suffix!r}")
    return []


def _csv_prompts(
    ctx: Ctx, item: str, text: str, label: str, stem: str, loc: tuple[str | int, ...]
) -> list[tuple[str, dict[str, Any]]]:
    """The prompts in a CSV prompt file, as promptfoo 0.121.20 reads one: without a comma,
    each non-blank line is a prompt (a first line ``prompt`` is the header); otherwise a header
    row, and each row with a ``prompt`` cell (trimmed) is a prompt, its ``label`` cell naming
    it. A prompt's text is a template or, as JSON, a chat list."""
    lines = [line for line in text.splitlines() if line.strip()]
    if "," not in text:
        start = 1 if lines and lines[0].strip().lower() == "prompt" else 0
        rows = [{"prompt": line} for line in lines[start:]]
    else:
        reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
        rows = [
            {str(k).strip(): (v or "").strip() for k, v in row.items() if isinstance(v, str)}
            for row in reader
        ]
        rows = [r for r in rows if r.get("prompt")]
    if not rows:
        ctx.skip(loc, f"{item}: a CSV prompt file with no prompt (no 'prompt' column or rows)")
        return []
    out = []
    for i, row in enumerate(rows):
        name = row.get("label") or (label if label and len(rows) == 1 else f"{stem}-{i + 1}")
        out.append((name, _prompt_from_text(ctx, row["prompt"], loc)))
    return out


CONFIG = "__config"  # a prompt's own provider config, in its body until the versions are written


def prompt_config(ctx: Ctx, raw: dict[str, Any], loc: tuple[str | int, ...]) -> dict[str, Any]:
    """A prompt's ``config`` (promptfoo merges it over the provider's for this prompt): the
    sampling parameters, ``tools``, ``tool_choice`` and ``response_format`` convert."""
    out: dict[str, Any] = {"params": {}}
    for key, value in raw.items():
        if sampling(out["params"], key, value):
            pass
        elif key == "tools":
            out[key] = tools_of(ctx, load_ref(ctx, value), (*loc, key))
        elif key == "tool_choice":
            if (choice := tool_choice_of(ctx, load_ref(ctx, value), (*loc, key))) is not None:
                out[key] = choice
        elif key == "response_format":
            out[key] = load_ref(ctx, value)
        else:
            ctx.skip((*loc, key), f"prompt config {key!r} is not converted")
    if not out["params"]:
        del out["params"]
    _no_tools_left(ctx, out, loc)
    return out


def apply_config(
    body: dict[str, Any], model: dict[str, Any], extra: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(body, model, extra) of one version with its prompt's own config merged over the
    provider's, as promptfoo merges them."""
    config = body.get(CONFIG)
    if not config:
        return body, model, extra
    body = {k: v for k, v in body.items() if k != CONFIG}
    model = dict(model)
    if config.get("params"):
        mine, theirs = model.get("params", {}), config["params"]
        model["params"] = {**mine, **theirs}
        if mine.get("extra") or theirs.get("extra"):
            model["params"]["extra"] = {**mine.get("extra", {}), **theirs.get("extra", {})}
    extra = {**extra, **{k: v for k, v in config.items() if k != "params"}}
    return body, model, extra


def read_prompts(ctx: Ctx, raw: Any) -> list[tuple[str, dict[str, Any]]]:
    """(label, {template|messages}) for each prompt."""
    if isinstance(raw, str) and raw.endswith((".yaml", ".yml")):
        raw = load_ref(ctx, raw, ("prompts",))
    entries: list[tuple[tuple[str | int, ...], Any]]
    if isinstance(raw, dict) and not {"raw", "id"} & set(raw):  # Record<file, label>
        entries = [(("prompts", k), {"id": k, "label": v}) for k, v in raw.items()]
    elif isinstance(raw, list):
        entries = [(("prompts", i), item) for i, item in enumerate(raw)]
    else:
        entries = [(("prompts",), raw)]
    out: list[tuple[str, dict[str, Any]]] = []
    for i, (loc, item) in enumerate(entries):
        label = ""
        config: dict[str, Any] = {}
        if isinstance(item, dict):
            label = str(item.get("label") or "")
            for key in item:
                if key == "config" and isinstance(item[key], dict):
                    config = prompt_config(ctx, item[key], (*loc, key))
                elif key not in ("raw", "id", "label"):
                    ctx.skip((*loc, key), f"prompt option {key!r} is not converted")
            item = item.get("raw") or item.get("id")
        if not isinstance(item, str):
            ctx.skip(loc, "prompt is not text, a chat list or a file:// reference")
            continue
        if config:  # this prompt's versions carry it (:func:`apply_config`)
            start = len(out)
            out += read_prompts(ctx, [item])
            for _, body in out[start:]:
                body[CONFIG] = config
            if label and len(out) == start + 1:
                out[start] = (label, out[start][1])
            continue
        if item.startswith("file://"):
            ref = item.removeprefix("file://")
            if any(c in ref for c in "*?["):  # a glob: each file it matches, sorted
                found = sorted(
                    p
                    for p in glob.glob(ref, root_dir=ctx.base, recursive=True)
                    if (ctx.base / p).is_file()
                )
                if not found:
                    ctx.skip(loc, f"{item}: no file matches")
                for p in found:
                    out += _prompt_file(ctx, f"file://{p}", p, "", loc)
                continue
            out += _prompt_file(ctx, item, ref, label, loc)
            continue
        out.append((label or f"prompt {i + 1}", _prompt_from_text(ctx, item, loc)))
    return out


# ----------------------------------------------------------------------------- providers


@dataclass
class Provider:
    """One converted promptfoo provider: its model spec (id, params, api_base) and the prompt
    fields its config sets (tools, tool_choice, response_format)."""

    loc: tuple[str | int, ...]
    pid: str  # promptfoo's id, as written
    label: str
    model: dict[str, Any]
    extra: dict[str, Any]
    raw: str  # the provider's config as written, canonical (``{}`` without one)
    only: Any = None  # its ``prompts`` option as written (None: every prompt)
    runs: tuple[int, ...] | None = None  # the prompts it runs, once read (None: every one)
    base: dict[str, Any] = field(default_factory=dict)  # model from its config alone
    omit: bool = False  # its config's omitDefaults: no provider defaults are written

    @property
    def config(self) -> str:
        """What the provider sends and to which prompts, canonical: equal = the same run."""
        sent = [{**self.model, "id": None}, self.extra, self.runs]
        return json.dumps(sent, sort_keys=True, default=str)


def read_providers(ctx: Ctx, raw: Any, key: str = "providers") -> list[Provider]:
    """Every provider that has a litellm equivalent, each with its own config converted (a
    config equal to an earlier provider's, a YAML anchor say, is converted and reported once).
    ``key``: ``providers`` or its alias ``targets``."""
    raw = load_ref(ctx, raw, (key,))
    if raw is None:  # none given: the caller says what the prompts use
        return []
    entries: list[tuple[tuple[str | int, ...], Any]]
    if isinstance(raw, dict) and not ("id" in raw or "provider" in raw):  # Record<id, options>
        entries = [((key, k), {"id": k, **(v or {})}) for k, v in raw.items()]
    elif isinstance(raw, list):
        entries = [((key, i), item) for i, item in enumerate(raw)]
    else:
        entries = [((key,), raw)]
    out: list[Provider] = []
    for loc, item in entries:
        options: dict[str, Any] = {}
        if isinstance(item, dict):
            options = item
            item = item.get("provider") if isinstance(item.get("provider"), str) else item.get("id")
        if not isinstance(item, str):
            ctx.skip(loc, "provider without an id")
            continue
        mid = model_id(item)
        if mid is None:
            ctx.skip(loc, f"provider {item!r} has no litellm equivalent")
            continue
        canon = json.dumps(options.get("config") or {}, sort_keys=True, default=str)
        same = next((p for p in out if p.raw == canon), None)
        if same is not None:  # converted: the defaults are the model's own (_openai_defaults)
            model = {**copy.deepcopy(same.base), "id": mid}
            extra = copy.deepcopy(same.extra)
            omit = same.omit
        else:
            model, extra, omit = _convert_config(ctx, loc, options.get("config"), mid)
        base = copy.deepcopy(model)
        if not omit:
            _openai_defaults(ctx, loc, item, model)
        from ..modelids import id_problem

        if why := id_problem(mid):  # promptfoo takes aliases; promptops's lint does not
            ctx.note(loc, f"model {mid!r}: lint will refuse it until it is fixed: {why}")
        for okey in options:
            if okey not in ("id", "provider", "config", "label", "prompts"):
                ctx.skip((*loc, okey), f"provider option {okey!r} is not converted")
        label = str(options.get("label") or "")
        only = options.get("prompts")
        out.append(Provider(loc, item, label, model, extra, canon, only, base=base, omit=omit))
    return out


def _openai_defaults(ctx: Ctx, loc: tuple[str | int, ...], pid: str, model: dict[str, Any]) -> None:
    """What promptfoo's OpenAI chat provider sends when its config does not: temperature 0 and
    max_tokens 1024 (none for reasoning models: o1, o3, o4, gpt-5), unless ``omitDefaults``.
    Written into the params, so the model gets what it got under promptfoo."""
    prefix, _, rest = pid.partition(":")
    kind, _, name = rest.partition(":")
    if prefix != "openai" or (kind != "chat" and (kind in _KINDS or name)):
        return
    name = (name if kind == "chat" else rest).replace("ft:", "")
    if not name:
        return
    if name.startswith(("o1", "o3", "o4", "gpt-5")) or re.search(r"/(o1|o3|o4|gpt-5)", name):
        return
    params = model.setdefault("params", {})
    written = []
    for key, value in (("temperature", 0), ("max_tokens", 1024)):
        if key not in params:
            params[key] = value
            written.append(f"{key} {value}")
    if written:
        ctx.note(
            loc,
            f"{pid}: promptfoo's OpenAI defaults written as params: {', '.join(written)} (what "
            "promptfoo sends unless its config, or OPENAI_TEMPERATURE/OPENAI_MAX_TOKENS, says "
            "otherwise)",
        )


def _convert_config(
    ctx: Ctx, loc: tuple[str | int, ...], raw: Any, mid: str
) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """(model spec, extra prompt fields, omitDefaults) of one provider's ``config`` (inline or
    a ``file://`` one); what does not convert is reported at its key."""
    model: dict[str, Any] = {"id": mid}
    extra: dict[str, Any] = {}
    config = load_ref(ctx, raw or {}, (*loc, "config"))
    if not isinstance(config, dict):
        ctx.skip((*loc, "config"), "provider config that is not a mapping is not converted")
    params: dict[str, Any] = {}
    for key, value in config.items() if isinstance(config, dict) else []:
        ckey: tuple[str | int, ...] = (*loc, "config", key)
        if key in ("showThinking", "omitDefaults"):
            pass  # read with thinking; read by _openai_defaults
        elif key == "store":
            ctx.note(ckey, "store (OpenAI keeps the completion) changes no answer; left out")
        elif key == "thinking" and _shows_thinking(config):
            ctx.skip(
                ckey,
                "thinking is not converted: promptfoo puts the model's thinking before the "
                "answer in the output its assertions read (showThinking, true by default); "
                "promptops's output is the answer (set showThinking: false to convert it)",
            )
        elif sampling(params, key, value):
            pass
        elif key == "tools":
            extra[key] = tools_of(ctx, load_ref(ctx, value, ckey), ckey)
            _lintable_tools(ctx, extra[key], ckey)
        elif key == "tool_choice":
            if (choice := tool_choice_of(ctx, load_ref(ctx, value, ckey), ckey)) is not None:
                extra[key] = choice
        elif key == "response_format":
            extra[key] = load_ref(ctx, value, ckey)
        elif key in ("apiBaseUrl", "apiHost", "api_base"):
            _api_base(ctx, model, ckey, key, value)
        else:
            ctx.skip(ckey, f"provider config {key!r} is not converted")
    _no_tools_left(ctx, extra, (*loc, "config"))
    if params:
        model["params"] = params
    return model, extra, isinstance(config, dict) and bool(config.get("omitDefaults"))


def _lintable_tools(ctx: Ctx, tools: Any, loc: tuple[str | int, ...]) -> None:
    """A tool written as promptfoo took it but not as promptops's ``tools`` (an OpenAI function
    with Anthropic's ``input_schema``, say, which promptfoo sends unchanged) is noted: lint
    names it, and the import says so first."""
    from pydantic import ValidationError

    from ..spec import ToolSpec

    for i, tool in enumerate(tools if isinstance(tools, list) else []):
        try:
            ToolSpec.model_validate(tool)
        except ValidationError as e:
            err = e.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            ctx.note(
                (*loc, i),
                f"tool: lint will refuse it until it is fixed: {where}: {err['msg']}",
            )


def _api_base(
    ctx: Ctx, model: dict[str, Any], loc: tuple[str | int, ...], key: str, value: Any
) -> None:
    """A provider's endpoint: every eval of the prompt would send its requests, and the model
    key, there; so it is written only when the user confirms it (``--keep-api-base``), and the
    report says which way it went."""
    from ..redact import strip_url

    given = str(value) if "://" in str(value) else f"https://{value}"
    url = strip_url(given)
    if url != given:
        ctx.skip(
            loc,
            f"{key} {url!r} holds credentials; not written (model.api_base takes none: "
            "keys come from the environment)",
        )
    elif ctx.keep_api_base:
        model["api_base"] = url
        ctx.note(
            loc,
            f"{key} {url!r} kept as model.api_base (--keep-api-base): every eval of "
            "this prompt sends its requests and your model key there",
        )
    else:
        ctx.skip(
            loc,
            f"{key} {url!r} not written: model.api_base would send every request and "
            "your model key to that endpoint; check the host, then import again with "
            "--keep-api-base to keep it",
        )


def _openai_tools(tools: Any) -> Any:
    """Anthropic-format tools (``{name, description, input_schema}``) in OpenAI's format,
    which promptops sends through litellm to any provider; others unchanged."""
    if not isinstance(tools, list):
        return tools
    out: list[Any] = []
    for t in tools:
        if (
            isinstance(t, dict)
            and t.get("type") == "function"
            and "name" in t
            and "function" not in t
        ):
            # the Responses API's flat form: {type: function, name, description, parameters}
            fn = {k: v for k, v in t.items() if k != "type"}
            out.append({"type": "function", "function": fn})
        elif isinstance(t, dict) and "input_schema" in t and "name" in t and "type" not in t:
            fn = {"name": t["name"], "parameters": t["input_schema"]}
            if t.get("description"):
                fn["description"] = t["description"]
            out.append({"type": "function", "function": fn})
        else:
            out.append(t)
    return out


def tools_of(ctx: Ctx, tools: Any, loc: tuple[str | int, ...]) -> Any:
    """The tools in OpenAI's format (:func:`_openai_tools`); an Anthropic server tool
    (``{type: web_search_20250305, name: web_search}``: Anthropic runs it, there is no function
    to call) is left out and reported."""
    if not isinstance(tools, list):
        return _openai_tools(tools)
    kept = []
    for i, t in enumerate(tools):
        kind = t.get("type") if isinstance(t, dict) else None
        if isinstance(kind, str) and kind != "function" and "function" not in t:
            name = t.get("name", kind)
            ctx.skip(
                (*loc, i),
                f"server tool {name!r} (type {kind}) runs on the provider's side; "
                "promptops sends function tools only, so it is left out",
            )
            continue
        kept.append(t)
    return _openai_tools(kept)


def _shows_thinking(config: dict[str, Any]) -> bool:
    """Whether promptfoo's Anthropic provider prefixes its output with the thinking."""
    thinking = config.get("thinking")
    on = isinstance(thinking, dict) and thinking.get("type") not in (None, "disabled")
    return on and config.get("showThinking", True) is not False


def _no_tools_left(ctx: Ctx, fields: dict[str, Any], loc: tuple[str | int, ...]) -> None:
    """No tools left (all were server tools): no ``tools``, and no ``tool_choice`` either."""
    if fields.get("tools") == []:
        del fields["tools"]
        if "tool_choice" in fields:
            del fields["tool_choice"]
            ctx.skip((*loc, "tool_choice"), "tool_choice is left out with the tools it chose from")


_ANTHROPIC_CHOICE = {"auto": "auto", "any": "required", "none": "none"}


def tool_choice_of(ctx: Ctx, choice: Any, loc: tuple[str | int, ...]) -> Any:
    """``tool_choice`` in OpenAI's format: Anthropic's ``{type: auto|any|none}`` and ``{type:
    tool, name}`` are rewritten; anything else is kept for lint to check."""
    if isinstance(choice, dict) and choice.get("type") in _ANTHROPIC_CHOICE and len(choice) == 1:
        return _ANTHROPIC_CHOICE[choice["type"]]
    if (
        isinstance(choice, dict)
        and choice.get("type") == "tool"
        and isinstance(choice.get("name"), str)
    ):
        return {"type": "function", "function": {"name": choice["name"]}}
    return choice


def judge_of(ctx: Ctx, provider: Any, loc: tuple[str | int, ...]) -> str | None:
    """The judge model a grading ``provider`` (an id, or ``{id, ...}``) names; one that does
    not convert is reported at ``loc``."""
    if provider is None:
        return None
    pid = provider
    if isinstance(provider, dict) and "id" not in provider and "text" in provider:
        # promptfoo's per-kind graders: {text, embedding, classification}; text grades rubrics
        for key in provider:
            if key != "text":
                ctx.note(
                    (*loc, key),
                    f"grading provider {key!r} is not used: promptops's similar is lexical",
                )
        return judge_of(ctx, provider["text"], (*loc, "text"))
    if isinstance(provider, dict):
        pid = provider.get("id")
        for key in provider:
            if key not in ("id", "label"):
                ctx.skip((*loc, key), f"judge provider option {key!r} is not converted")
    if not isinstance(pid, str):
        ctx.skip(loc, "a judge provider without an id is not converted")
        return None
    mid = model_id(pid)
    if mid is None:
        ctx.skip(loc, f"judge provider {pid!r} has no litellm equivalent; set judge: to a model id")
    else:
        from ..modelids import id_problem

        if why := id_problem(mid):  # promptfoo takes aliases; promptops's lint does not
            ctx.note(loc, f"judge {mid!r}: lint will refuse it until it is fixed: {why}")
    return mid


# ----------------------------------------------------------------------------- assertions


def convert_assertion(
    ctx: Ctx,
    a: Any,
    loc: tuple[str | int, ...],
    judge: str | None,
    transform: str | None = None,
) -> dict[str, Any] | None:
    """One promptfoo assertion as a promptops one, with promptfoo's meaning
    (:mod:`.promptfoo_js`); one that does not convert becomes a failing ``unconverted`` check
    (None with ``--drop-unconverted``, or for ``weight: 0``, which promptfoo ignores).
    ``transform``: the test's output transform, as code."""
    from . import promptfoo_js as pjs

    if not isinstance(a, dict) or not isinstance(a.get("type"), str):
        return ctx.unconverted(loc, "assertion without a type")
    ptype: str = a["type"]
    for key in ("threshold", "weight"):
        if a.get(key) is not None and (
            isinstance(a[key], bool) or not isinstance(a[key], int | float)
        ):
            return ctx.unconverted((*loc, key), f"{ptype}: {key} {a[key]!r} is not a number")
    if a.get("weight") == 0 and a.get("metric") in ctx.derived_names:
        ctx.note(
            loc,
            f"{ptype} has weight: 0: promptfoo passes it and adds 0 to its metric "
            f"{a['metric']!r}, which derivedMetrics read; written as a check that passes, "
            "weight 0, under that metric",
        )
        return {"type": "javascript", "value": "true", "metric": a["metric"], "weight": 0}
    if a.get("weight") == 0:
        ctx.note(
            loc,
            f"{ptype} has weight: 0: promptfoo passes it whatever it finds and it adds "
            "nothing to the score; left out",
        )
        return None
    neg = ptype.startswith("not-")
    base = ptype[4:] if neg else ptype
    if a.get("transform") is not None:
        own = pjs.transform_code(ctx, a["transform"], (*loc, "transform"))
        if own is None:
            return ctx.unconverted(loc, f"{ptype}: its transform does not convert")
        transform = pjs.chain(transform, own)
    if ctx.tool_text and base in pjs.TEXT_TYPES:
        transform = pjs.chain(pjs.TOOL_CALLS_AS_OUTPUT, transform)
    method = None
    value = a.get("value")
    js = None
    if base == "javascript":
        if isinstance(value, str) and value.startswith("file://"):
            js = pjs.file_code(ctx, value, loc)
            if js is None:
                return ctx.unconverted(loc, f"{ptype}: {value} does not convert")
            js = pjs._raw(js)
        elif isinstance(value, str) and value.strip():
            js = value
        else:
            return ctx.unconverted(loc, f"{ptype} without code (a function value is not text)")
        if transform is not None:
            js, transform = pjs.fold(transform, js), None
    elif base in ("regex", "equals", "starts-with", "levenshtein"):
        js = pjs.literal_check(base, value, a)
    elif base in ("regex", "equals", "starts-with") and isinstance(value, str):
        ctx.note(loc, f"{ptype} with a templated value is checked by promptops's {base}")
    if js is not None:
        out: dict[str, Any] = {"type": ("not-" if neg else "") + "javascript", "value": js}
        if base == "javascript" and a.get("threshold") is not None:
            out["threshold"] = a["threshold"]
        if transform is not None:
            out["transform"] = transform
        if a.get("metric") or not ctx.scoring:
            out["metric"] = a.get("metric") or ptype
        if a.get("weight") is not None:
            out["weight"] = a["weight"]
        _leftover(ctx, a, loc, ("type", "value", "threshold", "weight", "metric", "transform"))
        return out
    if base in SAME:
        ours = base
    elif base == "tool-call-f1":
        ours, method = "tool-call", "f1"
    elif base in RENAMED:
        ours = RENAMED[base]
    elif base == "assert-set":
        return ctx.unconverted(loc, "assert-set (a scored group of assertions) is not converted")
    elif base == "levenshtein":
        return ctx.unconverted(loc, f"{ptype} with a templated value is not converted")
    else:
        return ctx.unconverted(loc, f"assertion type {ptype!r} has no promptops equivalent")
    out = {"type": ("not-" if neg else "") + ours}
    if method is not None:
        out["method"] = method
    if ours == "python":
        if not (isinstance(value, str) and value.startswith("file://")):
            return ctx.unconverted(
                loc, "inline python assertion code; promptops runs file.py:function"
            )
        ref = value.removeprefix("file://")
        path, _, fn = ref.partition(":")
        # promptfoo resolves it from the config's directory, promptops from the project
        rel = ctx.inside(path, (*loc, "value")).relative_to(ctx.root).as_posix()
        out["value"] = f"{rel}:{fn or 'get_assert'}"
    elif ours in ("latency", "cost"):
        if a.get("threshold") is None:
            return ctx.unconverted(loc, f"{ptype} without threshold")
        out["value"] = a["threshold"]
    elif value is not None:
        if isinstance(value, str) and value.startswith("file://"):
            value = load_ref(ctx, value, (*loc, "value"))
        if ours in ("is-json", "contains-json") and isinstance(value, str) and "{{" not in value:
            try:  # promptfoo reads a string schema as YAML (JSON included)
                value = yaml.safe_load(value)
            except yaml.YAMLError as e:
                return ctx.unconverted(loc, f"{ptype}: its schema is not YAML or JSON: {e}")
            if not isinstance(value, dict):
                return ctx.unconverted(loc, f"{ptype}: promptfoo fails a schema that is no mapping")
        if ours == "llm-rubric" and isinstance(value, dict | list):
            value = json.dumps(value, ensure_ascii=False)  # promptfoo's rubric: the JSON text
        if ours.endswith(("-any", "-all")) and isinstance(value, str) and "{" not in value:
            try:  # promptfoo's CSV rule, applied here so the YAML lists what it checks
                value = pjs.split_csv(value)
            except ValueError as e:
                return ctx.unconverted(loc, f"{ptype}: promptfoo fails this value: {e}")
        out["value"] = value
    if a.get("threshold") is not None and ours not in ("latency", "cost"):
        out["threshold"] = a["threshold"]
    for key in ("weight", "metric"):
        if a.get(key) is not None:
            out[key] = a[key]
    if transform is not None:
        out["transform"] = transform
    if isinstance(a.get("rubricPrompt"), str) and ours == "llm-rubric":
        out["judge_prompt"] = _nunjucks(a["rubricPrompt"])
    elif a.get("rubricPrompt") is not None:
        ctx.skip((*loc, "rubricPrompt"), "rubricPrompt is converted for llm-rubric text only")
    if ours in MODEL_GRADED:
        mine = judge_of(ctx, a.get("provider"), (*loc, "provider")) or judge
        if mine is None:
            mine = DEFAULT_JUDGE
            ctx.note(
                loc,
                f"{ptype} names no grading provider: judged by promptfoo's default grader "
                f"with an OpenAI key (0.121.20), written as judge: {DEFAULT_JUDGE}",
            )
        out["judge"] = mine
    elif a.get("provider") is not None:
        ctx.skip((*loc, "provider"), f"provider is not converted: promptops's {ours} uses none")
    if base in APPROXIMATE:
        ctx.note(loc, APPROXIMATE[base])
    _needs_value(ctx, ours, out, loc)
    _leftover(
        ctx,
        a,
        loc,
        ("type", "value", "threshold", "weight", "metric", "provider", "rubricPrompt", "transform"),
    )
    return out


def _needs_value(ctx: Ctx, ours: str, out: dict[str, Any], loc: tuple[str | int, ...]) -> None:
    """An assertion promptfoo takes without a value (an ``llm-rubric`` whose rubric is all in a
    ``rubricPrompt``, say) but promptops's type needs one: lint names it, the import says so
    first."""
    from ..assertions import REGISTRY

    atype = REGISTRY.get(ours.removeprefix("not-"))
    if atype is not None and atype.needs_value and out.get("value") is None:
        ctx.note(loc, f"{ours}: lint will refuse it until it is fixed: {ours} needs a value")


def _leftover(
    ctx: Ctx, a: dict[str, Any], loc: tuple[str | int, ...], known: tuple[str, ...]
) -> None:
    for key in a:
        if key == "reason":  # promptfoo's own failure message: it changes no verdict
            ctx.note(
                (*loc, key), "reason (a failure message) is left out; promptops writes its own"
            )
        elif key not in known:
            ctx.skip((*loc, key), f"assertion option {key!r} is not converted")


_CSV_ASSERT = re.compile(r"^(not-)?([a-z][a-z0-9-]*)(?:\(([\d.]+)\))?(?::\s*(.*))?$", re.S)


def assertion_from_string(text: str) -> dict[str, Any]:
    """promptfoo's CSV shorthand (``contains: x``, ``similar(0.8): x``, ``grade: x``)."""
    for legacy, ptype in (("grade:", "llm-rubric"), ("fn:", "javascript"), ("eval:", "javascript")):
        if text.startswith(legacy):
            return {"type": ptype, "value": text[len(legacy) :].strip()}
    m = _CSV_ASSERT.match(text.strip())
    known = (
        SAME
        | set(RENAMED)
        | {"tool-call-f1", "javascript", "levenshtein", "rouge-n", "bleu", "webhook"}
    )
    if m and m.group(2) in known:
        out: dict[str, Any] = {"type": (m.group(1) or "") + m.group(2)}
        value = m.group(4)
        if value is not None:
            base = m.group(2)
            out["value"] = (
                [v.strip() for v in value.split(",")]
                if base.endswith(("-any", "-all"))
                else value.strip()
            )
        if m.group(3):
            out["threshold"] = float(m.group(3))
        return out
    return {"type": "equals", "value": text}


# ----------------------------------------------------------------------------- tests


def load_located(ctx: Ctx, value: Any, loc: tuple[str | int, ...]) -> Any:
    """:func:`load_ref`, and a YAML or JSON file's parts are located in that file."""
    if not (isinstance(value, str) and value.startswith("file://")):
        return value
    path = ctx.file(value, loc)
    if path.suffix in (".yaml", ".yml"):
        data, lines = load_yaml(path)
        ctx.sources[loc] = Source(display_path(path), lines)
        return data
    data = _parse(path)
    if path.suffix == ".json":
        ctx.sources[loc] = Source(display_path(path), LineMap())
    return data


def _csv_tests(ctx: Ctx, path: Path, loc: tuple[str | int, ...]) -> list[dict[str, Any]]:
    """The rows as tests; each row's parts are located at its line, named by their column."""
    src = Source(display_path(path), LineMap({(): 1}))
    reader = csv.DictReader(io.StringIO(read_text(path)), strict=True)
    tests: list[dict[str, Any]] = []
    skipped: set[str] = set()
    ctx.sources[loc] = src
    end = 1  # the header's last line
    rows = enumerate(reader)
    while True:
        # promptfoo stops at a malformed CSV: so does the import, at its line
        try:
            j, row = next(rows)
        except StopIteration:
            break
        except csv.Error as e:
            # the row that does not parse starts after the last one that did
            raise SpecError.of(path, end + 1, None, f"malformed CSV: {e}") from None
        line, end = end + 1, reader.line_num
        if None in row or None in row.values():
            n = len(reader.fieldnames or [])
            got = n + len(row.get(None) or []) - sum(v is None for v in row.values())
            raise SpecError.of(
                path, line, None, f"malformed CSV: {got} field(s) where the header has {n}"
            )
        src.lines.lines[(j,)] = line
        src.names[(j,)] = f"row {j + 1}"
        test: dict[str, Any] = {"vars": {}, "assert": []}
        for col, cell in row.items():
            if col is None or cell is None or cell == "":
                continue
            if col.startswith("__expected"):
                src.names[(j, "assert", len(test["assert"]))] = col
                test["assert"].append(assertion_from_string(cell))
            elif col == "__description":
                test["description"] = cell
            elif col == "__threshold":
                src.names[(j, "threshold")] = col
                try:
                    test["threshold"] = float(cell)
                except ValueError:
                    ctx.skip((*loc, j, "threshold"), f"{cell!r} is not a number; not converted")
            elif col.startswith("__metadata:"):
                test.setdefault("metadata", {})[col.removeprefix("__metadata:")] = cell
            elif col in ("__prefix", "__suffix"):  # the test's options: they fail closed there
                src.names[(j, "options", col[2:])] = col
                test.setdefault("options", {})[col[2:]] = cell
            elif col.startswith("__"):
                if col not in skipped:
                    skipped.add(col)
                    ctx.skip(loc, f"CSV column {col!r} is not converted")
            else:
                src.names[(j, "vars", col)] = col
                test["vars"][col] = cell
        tests.append(test)
    return tests


def read_tests(
    ctx: Ctx, raw: Any, base: tuple[str | int, ...] = ("tests",)
) -> list[tuple[tuple[str | int, ...], dict[str, Any]]]:
    """(location, test) for each test, inline or from the files ``tests`` (at ``base``)
    lists."""
    items = raw if isinstance(raw, list) else [raw] if raw is not None else []
    out: list[tuple[tuple[str | int, ...], dict[str, Any]]] = []
    for i, item in enumerate(items):
        loc: tuple[str | int, ...] = (*base, i) if isinstance(raw, list) else base
        if isinstance(item, dict) and isinstance(item.get("path"), str) and "vars" not in item:
            ctx.skip(loc, f"{item['path']}: tests generated by code are not converted")
            continue
        if isinstance(item, dict):
            out.append((loc, item))
            continue
        if not (isinstance(item, str) and item.startswith("file://")):
            ctx.skip(loc, f"tests source {str(item)[:40]!r} is not converted")
            continue
        ref = item.removeprefix("file://")
        if any(c in ref for c in "*?["):
            ctx.skip(loc, f"{item}: glob patterns are not converted; list the files")
            continue
        suffix = Path(ref).suffix
        if suffix not in (".csv", ".yaml", ".yml", ".json", ".jsonl"):
            ctx.skip(loc, f"{item}: tests from {suffix or 'this source'} are not converted")
            continue
        path = ctx.file(ref, loc)
        if suffix == ".csv":
            loaded: Any = _csv_tests(ctx, path, loc)
        elif suffix == ".jsonl":
            lines = LineMap()
            loaded = []
            for j, (lineno, value) in enumerate(iter_jsonl(path)):
                lines.lines[(j,)] = lineno
                loaded.append(value)
            ctx.sources[loc] = Source(display_path(path), lines)
        else:
            loaded = load_located(ctx, item, loc)
        if not isinstance(loaded, list):  # one test in the file: its parts are at the top
            loaded = [loaded]
            if loc in ctx.sources:
                ctx.sources[(*loc, 0)] = ctx.sources.pop(loc)
        for j, test in enumerate(loaded):
            if isinstance(test, dict):
                out.append(((*loc, j), test))
            else:
                ctx.skip((*loc, j), "a test that is not a mapping is not converted")
    return out


# files promptfoo does not read as text: it sends images, video and audio as base64 and a PDF
# as the text it extracts
_IMAGES = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".svg", ".avif", ".heic"}
_MEDIA = {
    *(".mp4", ".webm", ".ogg", ".mov", ".avi", ".wmv", ".mkv", ".m4v"),
    *(".wav", ".mp3", ".flac", ".m4a", ".aac", ".opus"),
}


def var_value(ctx: Ctx, value: Any, loc: tuple[str | int, ...]) -> Any:
    """A var's value; a ``file://`` one read as promptfoo reads it: a YAML file as its data in
    JSON (a list in it is one value, never expanded), any other file as its trimmed text.
    None (reported): a var that does not convert (code, media, PDF)."""
    if isinstance(value, str) and value.startswith("file://"):
        ref = value.removeprefix("file://")
        suffix = Path(ref.split(":", 1)[0]).suffix.lower()
        if suffix in (".py", ".js", ".ts", ".mjs", ".cjs"):
            ctx.skip(loc, f"{value}: vars computed by code are not converted")
            return None
        path = ctx.file(ref, loc)
        if suffix in _IMAGES:
            ctx.skip(
                loc,
                f"{value}: promptfoo sends an image as base64 text; not converted (use an "
                "image part in the prompt: {type: image, path: ...})",
            )
            return None
        if suffix in _MEDIA:
            ctx.skip(loc, f"{value}: promptfoo sends this file as base64 text; not converted")
            return None
        if suffix == ".pdf":
            ctx.skip(
                loc, f"{value}: promptfoo sends the text it extracts from a PDF; not converted"
            )
            return None
        if path.suffix in (".yaml", ".yml"):
            data = load_yaml(path)[0]
            return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
        return read_text(path).strip()
    return value


def input_type(values: list[Any]) -> str:
    kinds = set()
    for v in values:
        if isinstance(v, bool):
            kinds.add("boolean")
        elif isinstance(v, int):
            kinds.add("integer")
        elif isinstance(v, float):
            kinds.add("number")
        elif isinstance(v, str):
            kinds.add("string")
        elif isinstance(v, list):
            kinds.add("array")
        elif isinstance(v, dict):
            kinds.add("object")
    if kinds == {"integer", "number"}:
        return "number"
    return kinds.pop() if len(kinds) == 1 else "any"
