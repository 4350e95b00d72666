"""``promptops import promptfoo promptfooconfig.yaml``: a promptfoo config as promptops files.

What converts:

- ``prompts`` (inline text, chat JSON, ``file://`` .txt/.md/.j2/.json/.yaml files, ``---``
  separated prompts in one file, ``{raw|id, label}`` entries) -> one prompt version each
  (1.0.0, 1.1.0, ...) of one prompt, so ``promptops diff`` compares them as promptfoo's matrix
  did; Nunjucks ``| dump`` becomes ``| tojson``;
- the first ``providers`` (or ``targets``) entry -> ``model`` (``openai:chat:x`` ->
  ``openai/x`` and the other common prefixes; ``echo`` -> ``echo/echo``), its ``config``
  sampling parameters, ``tools``, ``tool_choice``, ``response_format`` and ``apiBaseUrl``
  (only with ``--keep-api-base``: an endpoint receives the model key);
- ``description``, ``tags`` and ``metadata`` -> the prompt's description and metadata;
- ``defaultTest`` ``vars`` (input defaults), ``assert`` (prompt assertions), ``threshold``,
  ``metadata`` and ``options.provider`` (the judge);
- ``tests`` (inline, or ``file://`` YAML/JSON/JSONL/CSV with ``__expected`` columns) -> a JSONL
  dataset; ``file://`` var values are read as text; list-valued vars expand into one case per
  combination as promptfoo's evaluator does (:mod:`.promptfoo_vars`); with no ``tests``,
  ``defaultTest`` is one case;
- ``scenarios`` -> one case per config entry and test (:mod:`.promptfoo_tests`), after the
  tests' cases;
- the assertion types both tools share (and promptfoo's names for ours: ``model-graded-closedqa``,
  ``is-valid-openai-tools-call``...), ``not-`` negation, ``threshold``, ``weight``, ``metric``,
  ``provider`` (judge), ``rubricPrompt`` (judge_prompt), ``python`` ``file://x.py[:fn]``.

- ``javascript`` assertions and output ``transform``s run in QuickJS, and the assertions whose
  promptfoo meaning differs from promptops's types are written as what promptfoo does
  (:mod:`.promptfoo_js`); several ``providers`` with one config are reported as the model
  matrix to evaluate (``--model``); providers with configs of their own become one prompt each
  (``name``, ``name-<label or model>``), each pinning its provider's model and parameters
  (promptfoo's OpenAI defaults included), with the versions of the prompts its ``prompts``
  labels pick.

Everything else (a test's other options, ``evaluateOptions``, ``env``, extensions, image and
PDF vars...) is listed in :attr:`ImportResult.skipped` with its file, line and field, so the
report says exactly what did not convert; a check that does not convert, or a test key that
changes how promptfoo judges, becomes a failing ``unconverted`` check (fail closed) unless
``drop_unconverted``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import PromptOpsError, UsageError, display_path
from ..loader import load_yaml
from . import promptfoo_vars
from .promptfoo_parts import (
    CONFIG,
    Ctx,
    Provider,
    RenderedChat,
    Skipped,
    apply_config,
    assertion_from_string,
    convert_assertion,
    input_type,
    judge_of,
    load_located,
    model_id,
    not_converted,
    read_prompts,
    read_providers,
    read_tests,
    slug,
    var_value,
)
from .promptfoo_tests import (
    Defaults,
    Planned,
    build_cases,
    check_scenario,
    judging_options,
    read_options,
    read_scenarios,
    scoring_code,
    test_transform,
)
from .promptfoo_vars import disabled_by_env, expands

__all__ = ["ImportResult", "Skipped", "assertion_from_string", "import_promptfoo", "model_id"]


@dataclass
class ImportResult:
    name: str
    files: list[Path] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    cases: int = 0
    expanded: int = 0  # cases that came from list-valued vars
    expanded_tests: int = 0  # the tests they came from
    scenario_cases: int = 0  # cases that came from scenarios (config entries x tests)
    scenarios: int = 0
    models: list[str] = field(default_factory=list)  # promptfoo's providers: the model matrix
    # one prompt per provider when the providers' configs differ (the first is ``name``)
    prompts: list[str] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)  # every prompt version written, name@version
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[Skipped] = field(default_factory=list)


# ----------------------------------------------------------------------------- main

# top-level keys read below; every other one is reported, with what promptops has instead
_TOP = {
    "description",
    "prompts",
    "providers",
    "targets",
    "tests",
    "scenarios",
    "defaultTest",
    "env",
    "tags",
    "metadata",
    "assertionTemplates",  # read through the $refs that name them
    "derivedMetrics",
}
_TOP_HINTS = {
    "outputPath": "promptops eval --output FILE",
    "sharing": "promptops has no hosted sharing",
    "nunjucksFilters": "custom filters are JavaScript; templates that use them will not render",
    "extensions": "extension hooks are code",
    "writeLatestResults": "promptops eval stores every run",
}
_EVALUATE_HINTS = {
    "maxConcurrency": "promptops eval --concurrency N",
    "repeat": "promptops eval --repeat N",
    "cache": "promptops eval --no-cache",
    "timeoutMs": "promptops eval --timeout SECONDS",
}
_ENV_SWITCH = "PROMPTFOO_DISABLE_VAR_EXPANSION"


def _audit_top(ctx: Ctx, data: dict[str, Any]) -> None:
    """Report the top-level keys that do not convert."""
    for key, value in data.items():
        if key == "evaluateOptions" and isinstance(value, dict):
            for k in value:
                what = f"evaluate option {k!r}"
                ctx.skip(("evaluateOptions", k), not_converted(what, _EVALUATE_HINTS.get(k)))
        elif key == "env" and isinstance(value, dict):
            for k in value:
                if k != _ENV_SWITCH:  # read by the expansion
                    what = f"environment variable {k!r}"
                    ctx.skip(("env", k), not_converted(what, "set it where promptops runs"))
        elif key == "env" and value is not None:
            ctx.skip(("env",), "env that is not a mapping is not converted")
        elif key not in _TOP:
            ctx.skip((key,), not_converted(f"top-level key {key!r}", _TOP_HINTS.get(key)))


def _pointer(data: Any, ref: str) -> tuple[bool, Any]:
    """(found, value) of a JSON pointer ``#/a/b`` in ``data``."""
    node = data
    for raw in ref[2:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def deref(data: dict[str, Any]) -> dict[str, Any]:
    """The config with promptfoo's local ``$ref: '#/...'`` (``assertionTemplates``) replaced by
    what they point to in it, sibling keys over it, as promptfoo dereferences a config before
    reading it. A pointer that names nothing in the config (a JSON schema's own
    ``#/definitions/...``) is left as it is."""

    def walk(node: Any, depth: int) -> Any:
        if depth > 50:
            raise PromptOpsError("$ref: references nest more than 50 deep (a cycle?)")
        if isinstance(node, list):
            return [walk(v, depth + 1) for v in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            found, target = _pointer(data, ref)
            if found:
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return walk({**target, **rest} if isinstance(target, dict) else target, depth + 1)
        return {k: walk(v, depth + 1) for k, v in node.items()}

    out: dict[str, Any] = walk(data, 0)
    return out


def _derived(ctx: Ctx, raw: Any) -> list[dict[str, str]]:
    """``derivedMetrics`` as the prompt's ``derived_metrics``; the metric names they read go in
    ``ctx.derived_names``. An entry that does not convert is reported."""
    import ast

    from ..derived import parse

    if raw is None:
        return []
    if not isinstance(raw, list):
        ctx.skip(("derivedMetrics",), "derivedMetrics that is not a list is not converted")
        return []
    out = []
    for i, item in enumerate(raw):
        loc: tuple[str | int, ...] = ("derivedMetrics", i)
        if not (isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"]):
            ctx.skip(loc, "a derived metric without a name is not converted")
            continue
        value = item.get("value")
        if not isinstance(value, str):
            ctx.skip(
                (*loc, "value"),
                "a derived metric that is not an expression (a JavaScript "
                "function) is not converted",
            )
            continue
        try:
            tree = parse(value)
        except ValueError as e:
            ctx.skip((*loc, "value"), f"derived metric {item['name']!r} is not converted: {e}")
            continue
        ctx.derived_names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        out.append({"name": item["name"], "value": value})
        for key in item:
            if key not in ("name", "value"):
                ctx.skip((*loc, key), f"derived metric key {key!r} is not converted")
    return out


def _metadata(ctx: Ctx, data: dict[str, Any]) -> dict[str, Any]:
    """The prompt's metadata: the config's ``metadata`` and its ``tags``."""
    meta = data.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        ctx.skip(("metadata",), "metadata that is not a mapping is not converted")
    out = dict(meta) if isinstance(meta, dict) else {}
    tags = data.get("tags")
    if tags is not None:
        if "tags" in out:
            ctx.skip(("tags",), "tags is not converted: metadata has a tags key already")
        else:
            out["tags"] = tags
    return out


def _own_transform(test: dict[str, Any]) -> bool:
    opts = test.get("options")
    return isinstance(opts, dict) and ("transform" in opts or "postprocess" in opts)


def _prompts_of_providers(
    ctx: Ctx, providers: list[Provider], labels: list[str], data: dict[str, Any]
) -> list[Provider]:
    """Each provider's ``prompts`` option (the prompts promptfoo runs on it, by label: exact,
    ``label:`` prefix or ``prefix*``) as the indices of the prompts it runs. A reference that
    matches no label the config gives is reported (promptfoo also matches prompt ids and
    default labels, which are not read here); a provider that runs no prompt is left out, as
    promptfoo leaves it out (reported)."""
    raw = data.get("prompts")
    given: set[str] = set()
    if isinstance(raw, list):
        given = {str(p["label"]) for p in raw if isinstance(p, dict) and p.get("label")}
    elif isinstance(raw, dict) and not {"raw", "id"} & set(raw):
        given = {str(v) for v in raw.values() if v}

    def match(ref: str, label: str) -> bool:
        if label not in given:
            return False
        wild = ref.endswith("*") and label.startswith(ref[:-1])
        return label == ref or wild or label.startswith(f"{ref}:")

    kept = []
    for p in providers:
        loc = (*p.loc, "prompts")
        if p.only is None:
            kept.append(p)
            continue
        if not isinstance(p.only, list) or not all(isinstance(r, str) for r in p.only):
            ctx.skip(loc, "provider option 'prompts' that is not a list of labels is not converted")
        elif not p.only:
            ctx.skip(loc, f"{p.pid}: 'prompts' is empty: promptfoo runs no prompt on it; left out")
            continue
        else:
            for i, ref in enumerate(p.only):
                if not any(match(ref, label) for label in labels):
                    ctx.skip(
                        (*loc, i),
                        f"{p.pid}: {ref!r} matches no prompt label; not converted (promptfoo "
                        "also matches prompt ids and default labels)",
                    )
            p.runs = tuple(
                n for n, label in enumerate(labels) if any(match(r, label) for r in p.only)
            )
            if not p.runs:
                ctx.skip(loc, f"{p.pid}: runs no prompt (as in promptfoo); left out")
                continue
        kept.append(p)
    return kept


def _prompt_names(name: str, providers: list[Provider]) -> list[tuple[str, Provider]]:
    """The prompts to write: one (``name``) when every provider has the same config (the rest
    run as ``--model``s of the matrix on its parameters), else one per provider, each pinning
    its own model and parameters: ``name`` for the first, ``name-<label or model>`` after it."""
    if len({p.config for p in providers}) <= 1:
        return [(name, providers[0])]
    from ..spec import NAME_RE

    out: list[tuple[str, Provider]] = [(name, providers[0])]
    taken = {name}
    for i, p in enumerate(providers[1:], start=2):
        tail = slug(p.label or p.model["id"].rsplit("/", 1)[-1], str(i))
        pname = f"{name}-{tail}"[:100]
        if pname in taken or not NAME_RE.match(pname) or ".." in pname:
            pname = f"{name[:90]}-{i}"
        while pname in taken:  # a label that looks like a position: count on
            pname += f"-{i}"
        taken.add(pname)
        out.append((pname, p))
    return out


def _render_chat_cases(
    ctx: Ctx, chat: RenderedChat, defaults: dict[str, Any], cases: list[dict[str, Any]]
) -> None:
    """Each case's value of ``chat.var``: the messages promptfoo's rendering of the prompt
    file puts where its tags stand. The file is rendered (promptops's Jinja) and read as
    JSON as promptfoo does; the messages around the tags must come out as the prompt's own
    render of them, or the case gets a failing ``unconverted`` check (fail closed): so too
    when the file does not render to a JSON chat list, which promptfoo refuses for the case."""
    from ..errors import RenderError
    from ..render import render_template

    dropped: set[int] = set()
    for c, case in enumerate(cases):
        values = {**defaults, **case["vars"]}
        where = f"{chat.item}, case {case.get('id') or c + 1}"
        why: str | None = None
        if chat.var in values:
            why = f"{where}: sets {chat.var!r}, the input the file's rendered messages go in"
            _refuse_case(ctx, chat, case, why, dropped)
            continue
        try:
            text = render_template(chat.template, values, chat.item)
            sent = json.loads(text)
        except RenderError as e:
            why = f"{where}: does not render: {e}"
        except json.JSONDecodeError as e:
            why = (
                f"{where}: does not render to JSON ({e.msg}, line {e.lineno}); promptfoo refuses it"
            )
        else:
            why = _check_rendered(chat, sent, values)
            if why is None:
                stop = len(sent) - chat.after
                case["vars"][chat.var] = sent[chat.before : stop]
                continue
            why = f"{where}: {why}"
        _refuse_case(ctx, chat, case, why, dropped)
    cases[:] = [case for case in cases if id(case) not in dropped]


def _refuse_case(
    ctx: Ctx, chat: RenderedChat, case: dict[str, Any], why: str, dropped: set[int]
) -> None:
    """A failing ``unconverted`` check on the case; with ``--drop-unconverted`` the case is
    left out (it would not send the messages promptfoo sends, or refuses)."""
    if (x := ctx.unconverted(chat.loc, why)) is not None:
        case.setdefault("assert", []).append(x)
    else:
        dropped.add(id(case))


def _check_rendered(chat: RenderedChat, sent: Any, values: dict[str, Any]) -> str | None:
    """Why the rendered messages cannot be the prompt's (None when they can)."""
    from ..errors import RenderError
    from ..render import render_template

    if not isinstance(sent, list) or len(sent) < chat.before + chat.after:
        return "does not render to a list holding the file's messages"
    for m in sent:
        if not (
            isinstance(m, dict)
            and set(m) == {"role", "content"}
            and m["role"] in ("system", "user", "assistant")
            and isinstance(m["content"], str)
        ):
            return f"renders a message that is not a text chat message: {json.dumps(m)[:80]}"
    around = sent[: chat.before] + sent[len(sent) - chat.after :]
    fixed = [m for m in chat.body["messages"] if "placeholder" not in m]
    for m, want in zip(fixed, around, strict=True):
        try:
            got = render_template(m["content"], values, chat.item)
        except RenderError as e:
            return f"does not render: {e}"
        if {"role": m["role"], "content": got} != want:
            return "a message around its tags renders otherwise than promptfoo's JSON reads it"
    return None


def import_promptfoo(
    config: Path,
    root: Path,
    name: str | None = None,
    force: bool = False,
    keep_api_base: bool = False,
    drop_unconverted: bool = False,
) -> ImportResult:
    """Convert a promptfoo config into prompt versions and a dataset under ``root``. Every
    file it names must resolve inside ``root``; a provider's ``apiBaseUrl`` is written only
    with ``keep_api_base`` (reported either way). A check that does not convert becomes a
    failing ``unconverted`` check, or with ``drop_unconverted`` is left out; either way it is
    listed in the result's ``skipped``."""
    from ..render import template_variables
    from ..spec import check_name

    if not config.is_file():
        raise UsageError(f"{config}: no such file")
    data, lines = load_yaml(config, confined=False)  # named on the command line
    if not isinstance(data, dict):
        raise PromptOpsError(f"{display_path(config)}:1: expected a promptfoo config mapping")
    data = deref(data)
    ctx = Ctx(config, root, keep_api_base)
    ctx.lines = lines
    ctx.drop = drop_unconverted
    name = name or slug(str(data.get("description") or config.parent.name), "imported")
    try:
        check_name(name)
    except ValueError as e:
        raise UsageError(f"--name: {e}") from None
    result = ImportResult(name=name)

    _audit_top(ctx, data)
    ctx.scoring = "assertScoringFunction" in json.dumps(data, default=str)
    derived = _derived(ctx, data.get("derivedMetrics"))
    prompts = read_prompts(ctx, data.get("prompts"))
    if not prompts:
        why = "".join(f"\n  {s}" for s in ctx.skipped if ": prompts" in str(s))
        raise PromptOpsError(f"{ctx.shown}: no prompt could be converted{why}")
    key = "targets" if "targets" in data and "providers" not in data else "providers"
    if key == "providers" and "targets" in data:
        ctx.skip(("targets",), "targets is not converted: promptfoo takes providers or targets")
    providers = read_providers(ctx, data.get(key), key)
    ctx.tool_text = any(p.extra.get("tools") for p in providers) or any(
        b.get(CONFIG, {}).get("tools") for _, b in prompts
    )
    if not providers:
        ctx.note((key,), "no provider converted; the prompts use echo/echo")
        providers = [Provider((key,), "echo", "", {"id": "echo/echo"}, {}, "{}")]
    providers = _prompts_of_providers(ctx, providers, [label for label, _ in prompts], data)
    if not providers:
        raise PromptOpsError(f"{ctx.shown}: no provider runs any prompt (every 'prompts' is empty)")
    targets = _prompt_names(name, providers)

    default = load_located(ctx, data.get("defaultTest"), ("defaultTest",)) or {}
    if not isinstance(default, dict):
        ctx.skip(("defaultTest",), "a defaultTest that is not a mapping is not converted")
        default = {}
    dopts = read_options(ctx, default.get("options"), ("defaultTest", "options"))
    judge = judge_of(ctx, dopts.get("provider"), ("defaultTest", "options", "provider"))
    dloc: tuple[str | int, ...] = ("defaultTest", "options")
    prompt_asserts = judging_options(ctx, dopts, dloc)
    given, dtransform = test_transform(ctx, dopts, dloc)
    if given and dtransform is None:
        what = "defaultTest's transform does not convert"
        if (x := ctx.unconverted(dloc, what)) is not None:
            prompt_asserts.append(x)
    dasserts = default.get("assert")
    if dasserts is not None and not isinstance(dasserts, list):
        ctx.skip(("defaultTest", "assert"), "assert that is not a list is not converted")
    dlist = dasserts if isinstance(dasserts, list) else []
    tests = read_tests(ctx, data.get("tests"))
    scenarios = read_scenarios(ctx, data.get("scenarios"))
    planned_tests = [p.layers[-1] for _, plans in scenarios for p in plans] + tests
    # a test's own transform applies to defaultTest's assertions too: then they go in each case
    per_case = any(_own_transform(t) for _, t in planned_tests)
    if not per_case:
        prompt_asserts += [
            x
            for j, a in enumerate(dlist)
            if (x := convert_assertion(ctx, a, ("defaultTest", "assert", j), judge, dtransform))
            is not None
        ]
    dvars = default.get("vars") or {}
    if not isinstance(dvars, dict):
        ctx.skip(("defaultTest", "vars"), "vars that are not a mapping are not converted")
        dvars = {}
    dmeta = default.get("metadata")
    if dmeta is not None and not isinstance(dmeta, dict):
        ctx.skip(("defaultTest", "metadata"), "metadata that is not a mapping is not converted")
    # list-valued defaults expand every test, so they are written in the cases
    listed = {k: v for k, v in dvars.items() if expands(v)}
    defaults = {
        k: var_value(ctx, v, ("defaultTest", "vars", k))
        for k, v in dvars.items()
        if k not in listed
    }
    scoring: str | None = None
    for dkey in default:
        what = f"defaultTest.{dkey} is not converted"
        if dkey == "assertScoringFunction":  # how every case is judged: fail closed
            code = scoring_code(ctx, default[dkey], ("defaultTest", dkey))
            if code is not None:
                scoring = code
            elif (x := ctx.unconverted(("defaultTest", dkey), what)) is not None:
                prompt_asserts.append(x)
        elif dkey not in ("vars", "assert", "options", "threshold", "metadata"):
            ctx.skip(("defaultTest", dkey), what)
    common = Defaults(
        listed=listed,
        options=dopts,
        judge=judge,
        metadata=dmeta if isinstance(dmeta, dict) else {},
        env_off=disabled_by_env(data),
        transform=dtransform,
        asserts=dlist if per_case else None,
    )

    if not tests and not data.get("tests") and not data.get("scenarios"):
        tests = [(("defaultTest",), {})]  # promptfoo runs defaultTest once
    cases: list[dict[str, Any]] = []
    seen: set[str] = set()
    made = 0  # cases from list-valued vars and scenarios, against the limit
    for t, (loc, test) in enumerate(tests):
        _, n = build_cases(ctx, Planned([(loc, test)], f"case-{t + 1}"), common, made, cases, seen)
        made += n
        result.expanded += n
        result.expanded_tests += n > 0
    for sloc, planned in scenarios:
        check_scenario(ctx, sloc, len(planned), made)
        result.scenarios += 1
        for test_plan in planned:
            k, _ = build_cases(ctx, test_plan, common, made, cases, seen)
            made += k
            result.scenario_cases += k
            if made > (limit := promptfoo_vars.MAX_EXPANDED):
                raise PromptOpsError(
                    f"{ctx.where(*test_plan.layers[0][0])}: scenarios and list-valued vars "
                    f"make {made} case(s) with this config entry; the limit is {limit} in one "
                    "import: split the scenario or shorten its lists"
                )

    for chat in ctx.rendered_chats:
        _render_chat_cases(ctx, chat, defaults, cases)

    names: dict[str, list[Any]] = {}
    for k, v in defaults.items():
        names.setdefault(k, []).append(v)
    for case in cases:
        for k, v in case["vars"].items():
            names.setdefault(k, []).append(v)

    def used(texts: list[Any]) -> set[str]:
        found: set[str] = set()
        for text in texts:
            if isinstance(text, list | dict):
                found |= used(list(text.values() if isinstance(text, dict) else text))
            elif isinstance(text, str):
                # a Nunjucks-only construct does not parse: lint will name it
                with contextlib.suppress(Exception):
                    found |= template_variables(text)
        return found

    in_asserts = used(
        [a.get("value") for a in prompt_asserts]
        + [a.get("value") for c in cases for a in c.get("assert", [])]
    )
    in_cases = {k for c in cases for k in c["vars"]}
    per_version: list[set[str]] = []
    for _, body in prompts:
        sources = [body.get("template")] + [m.get("content") for m in body.get("messages", [])]
        held = {m["placeholder"] for m in body.get("messages", []) if "placeholder" in m}
        per_version.append(used(sources) | in_asserts | held)
        for var in per_version[-1]:
            names.setdefault(var, [])
    # vars only the rendered chats read: their messages are in the cases' history inputs
    consumed = used([c.template for c in ctx.rendered_chats]) - set().union(*per_version)
    for var in consumed:
        names.pop(var, None)
        for case in cases:
            case["vars"].pop(var, None)
    inputs: dict[str, Any] = {}
    for var, values in names.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var):
            ctx.skip(("tests",), f"variable {var!r} is not a valid input name")
            continue
        spec: dict[str, Any] = {"type": input_type(values) if values else "string"}
        if any(chat.var == var for chat in ctx.rendered_chats):
            spec["type"] = "messages"
            names.setdefault(var, [])
        if var in defaults and defaults[var] is not None:
            spec["default"] = defaults[var]
        elif any(var not in c["vars"] for c in cases):
            spec["required"] = False
        inputs[var] = spec

    metadata = _metadata(ctx, data)
    dataset = f"evals/{name}.jsonl"
    texts: dict[Path, str] = {}
    refs: list[str] = []
    for (pname, provider), (n, (label, raw_body)) in itertools.product(targets, enumerate(prompts)):
        if provider.runs is not None and n not in provider.runs:
            continue  # promptfoo runs this prompt on the provider's prompts only
        version = f"1.{n}.0"
        body, vmodel, vextra = apply_config(raw_body, provider.model, provider.extra)
        mine = {k: v for k, v in inputs.items() if k in per_version[n] or k in in_cases}
        for var in sorted(set(mine) - per_version[n]):
            ctx.note(("prompts", n), f"prompt {label!r} does not use {var!r}, which tests set")
        whose = f", provider {provider.label or provider.pid!r}" if len(targets) > 1 else ""
        doc: dict[str, Any] = {
            "name": pname,
            "version": version,
            "description": str(data.get("description") or f"Imported from {config.name}"),
            "changelog": f"Imported from promptfoo ({config.name}, prompt {label!r}{whose}).",
            "model": vmodel,
            "inputs": mine,
            **body,
            **vextra,
            "dataset": dataset,
        }
        if prompt_asserts:
            doc["assert"] = prompt_asserts
        if metadata:
            doc["metadata"] = metadata
        if derived:
            doc["derived_metrics"] = derived
        if scoring is not None:
            doc["scoring"] = scoring
        if default.get("threshold") is not None:
            doc["threshold"] = default["threshold"]
        texts[root / "prompts" / pname / f"{version}.yaml"] = yaml.safe_dump(
            doc, sort_keys=False, allow_unicode=True, width=100
        )
        refs.append(f"{pname}@{version}")
        if version not in result.versions:
            result.versions.append(version)
    texts[root / dataset] = "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases)
    existing = [p for p in texts if p.exists()]
    if existing and not force:
        shown = ", ".join(display_path(p) for p in existing)
        raise UsageError(f"would overwrite {shown}; pass --force or choose --name")
    for path, text in texts.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        result.files.append(path)
    result.cases = len(cases)
    result.models = [p.model["id"] for p in providers]
    result.prompts = [t for t, _ in targets]
    result.refs = refs
    if len(targets) > 1:
        ctx.note(
            (key,),
            "promptfoo's providers have their own config: one prompt per provider ("
            + ", ".join(f"{t}: {p.label or p.pid}" for t, p in targets)
            + f"), each with its provider's model and parameters: promptops eval {' '.join(refs)}",
        )
    elif len(providers) > 1:
        matrix = " ".join(f"--model {m}" for m in result.models)
        ctx.note(
            (key,),
            f"promptfoo's providers are a model matrix: promptops eval {' '.join(refs)} {matrix}",
        )
    result.skipped = ctx.skipped
    result.notes = ctx.notes
    return result
