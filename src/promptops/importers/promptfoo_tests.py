"""promptfoo tests and scenarios as promptops cases, for :mod:`promptops.importers.promptfoo`.

A test converts its ``vars`` (list-valued ones expanded by :mod:`.promptfoo_vars`),
``assert``, ``description``, ``metadata`` (over ``defaultTest``'s), ``threshold`` and, of its
``options``, the judge (``provider``) and ``disableVarExpansion``; every other key or option
is reported where it is.

A scenario runs each of its ``tests`` once per entry of its ``config``, as promptfoo's
evaluator merges them: the entry's vars, assertions and metadata under the test's, the test's
other keys over the entry's (an entry's ``options`` promptfoo ignores). Its cases come after
the tests', in order: scenario, config entry, test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import PromptOpsError
from . import promptfoo_vars
from .promptfoo_js import transform_code
from .promptfoo_parts import (
    Ctx,
    convert_assertion,
    judge_of,
    load_located,
    not_converted,
    read_tests,
    slug,
)
from .promptfoo_vars import cases_of_test, label

Loc = tuple[str | int, ...]

# what promptops offers instead, where it does
_OPTION_HINTS = {
    "transformVars": "a JavaScript transform of the vars",
    "prefix": "add it to the prompt",
    "suffix": "add it to the prompt",
    "storeOutputAs": "a case does not feed the next; a conversation is a case's turns:",
    "runSerially": "promptops eval --concurrency 1",
    "rubricPrompt": "set judge_prompt: on the llm-rubric assertions",
    "disableDefaultAsserts": "the prompt's assertions apply to every case",
}
_TEST_HINTS = {
    "provider": "one model per prompt: evaluate with --model",
    "providers": "every case runs on the prompt's model",
    "prompts": "every case runs on every prompt version",
    "providerOutput": "promptops calls the model",
    "assertScoringFunction": "a scoring function is code",
}
_CONVERTED = ("vars", "assert", "description", "metadata", "threshold", "options")
# what changes how promptfoo judges a case: when it does not convert, the case gets a failing
# ``unconverted`` check in its place (fail closed), not just a line in the report
_JUDGING_KEYS = ("assertScoringFunction", "provider", "providerOutput", "storeOutputAs")
_JUDGING_OPTIONS = ("transformVars", "prefix", "suffix", "storeOutputAs")


def scoring_code(ctx: Ctx, value: Any, loc: Loc) -> str | None:
    """promptfoo's ``assertScoringFunction`` (``file://x.js[:fn]`` or ``file://x.py[:fn]``) as
    promptops's ``scoring:`` (the JavaScript, or ``path.py:function``); None when it does not
    convert (reported by the caller)."""
    from .promptfoo_js import file_code

    if not (isinstance(value, str) and value.startswith("file://")):
        return None
    rel, _, fn = value.removeprefix("file://").partition(":")
    if rel.endswith(".py"):
        # promptfoo resolves it from the config's directory, promptops from the project
        path = ctx.inside(rel, loc).relative_to(ctx.root).as_posix()
        return f"{path}:{fn or 'get_assert'}"
    if not rel.endswith((".js", ".cjs", ".mjs")):
        return None
    return file_code(ctx, value, loc)


def read_options(ctx: Ctx, raw: Any, loc: Loc) -> dict[str, Any]:
    """A test's ``options``: the judge ``provider``, ``disableVarExpansion`` and the output
    ``transform`` (``postprocess``, its old name) convert, every other option is reported."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        ctx.skip(loc, "options that are not a mapping are not converted")
        return {}
    for key in raw:
        if key not in (
            "provider",
            "disableVarExpansion",
            "transform",
            "postprocess",
            *_JUDGING_OPTIONS,
        ):
            ctx.skip((*loc, key), not_converted(f"option {key!r}", _OPTION_HINTS.get(key)))
    return raw


def judging_options(ctx: Ctx, raw: dict[str, Any], loc: Loc) -> list[dict[str, Any]]:
    """Failing checks for the options that change how promptfoo judges and do not convert."""
    out = []
    for key in _JUDGING_OPTIONS:
        if key in raw:
            what = not_converted(f"option {key!r}", _OPTION_HINTS.get(key))
            if (x := ctx.unconverted((*loc, key), what)) is not None:
                out.append(x)
    return out


def test_transform(ctx: Ctx, options: dict[str, Any], loc: Loc) -> tuple[bool, str | None]:
    """(given, code) of the output ``transform`` in these options; code None when given and
    not converted (reported)."""
    key = "transform" if "transform" in options else "postprocess"
    if options.get(key) is None:
        return False, None
    return True, transform_code(ctx, options[key], (*loc, key))


@dataclass
class Defaults:
    """What ``defaultTest`` gives every test."""

    listed: dict[str, Any] = field(default_factory=dict)  # its vars that expand
    options: dict[str, Any] = field(default_factory=dict)
    judge: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    env_off: bool = False  # PROMPTFOO_DISABLE_VAR_EXPANSION
    transform: str | None = None  # its output transform, as code
    # its assertions, when they go in each case (a test's own transform applies to them)
    asserts: list[Any] | None = None


@dataclass
class Planned:
    """One test to convert: its layers (a scenario's config entry, then the test), the id its
    cases take without a description, and the config entry's part of the id."""

    layers: list[tuple[Loc, dict[str, Any]]]
    default_id: str
    config: str | None = None


def _entries(ctx: Ctx, raw: Any, loc: Loc, what: str, depth: int = 0) -> list[tuple[Loc, Any]]:
    """The mappings ``raw`` holds, inline or in ``file://`` YAML/JSON files (lists flattened,
    as promptfoo does), each at its location."""
    if depth > 4:
        ctx.skip(loc, f"a {what} nested this deep is not converted")
        return []
    if isinstance(raw, str) and raw.startswith("file://"):
        if any(c in raw for c in "*?["):
            ctx.skip(loc, f"{raw}: glob patterns are not converted; list the files")
            return []
        loaded = load_located(ctx, raw, loc)
        if isinstance(loaded, str):
            ctx.skip(loc, f"{raw}: not a YAML or JSON file; not converted")
            return []
        return _entries(ctx, loaded, loc, what, depth + 1)
    if isinstance(raw, list):
        return [
            e for i, item in enumerate(raw) for e in _entries(ctx, item, (*loc, i), what, depth + 1)
        ]
    if isinstance(raw, dict):
        return [(loc, raw)]
    ctx.skip(loc, f"a {what} that is not a mapping is not converted")
    return []


def read_scenarios(ctx: Ctx, raw: Any) -> list[tuple[Loc, list[Planned]]]:
    """Each scenario's location and its tests, one per (config entry, test)."""
    out: list[tuple[Loc, list[Planned]]] = []
    if raw is None:
        return out
    for s, (sloc, scenario) in enumerate(_entries(ctx, raw, ("scenarios",), "scenario")):
        for key in scenario:
            if key not in ("config", "tests", "description"):
                ctx.skip((*sloc, key), f"scenario option {key!r} is not converted")
        if scenario.get("config") is None:
            ctx.skip(sloc, "a scenario without config is not converted")
            continue
        configs = _entries(ctx, scenario["config"], (*sloc, "config"), "scenario config entry")
        raw_tests = scenario.get("tests")
        tests = [(sloc, {})] if raw_tests is None else read_tests(ctx, raw_tests, (*sloc, "tests"))
        name = slug(str(scenario.get("description") or ""), f"scenario-{s + 1}")
        planned: list[Planned] = []
        for d, (dloc, data) in enumerate(configs):
            if "options" in data:
                ctx.skip(
                    (*dloc, "options"),
                    "promptfoo ignores options in a scenario's config entry; not converted",
                )
            part = slug(str(data.get("description") or ""), "") or _first_value(data, d)
            for t, (tloc, test) in enumerate(tests):
                planned.append(Planned([(dloc, data), (tloc, test)], f"{name}-{t + 1}", part))
        out.append((sloc, planned))
    return out


def _first_value(data: dict[str, Any], index: int) -> str:
    """A config entry's part of its cases' ids: its first text var, else its number."""
    vars_ = data.get("vars")
    for value in vars_.values() if isinstance(vars_, dict) else []:
        if isinstance(value, str):
            return label(value, index)
    return str(index + 1)


def check_scenario(ctx: Ctx, loc: Loc, size: int, before: int) -> None:
    """A scenario that would take the cases made past the limit
    (:data:`.promptfoo_vars.MAX_EXPANDED`) is an error."""
    limit = promptfoo_vars.MAX_EXPANDED
    if before + size > limit:
        prior = f"; {before} came from earlier tests" if before else ""
        raise PromptOpsError(
            f"{ctx.where(*loc)}: the scenario makes {size} case(s) (config entries x tests)"
            f"{prior}; the limit is {limit} in one import: split the scenario"
        )


def build_cases(
    ctx: Ctx,
    planned: Planned,
    defaults: Defaults,
    before: int,
    cases: list[dict[str, Any]],
    seen: set[str],
) -> tuple[int, int]:
    """Append one test's cases to ``cases``; (cases made, of which from list-valued vars)."""
    tloc, test = planned.layers[-1]
    topts = read_options(ctx, test.get("options"), (*tloc, "options"))
    options = {**defaults.options, **topts}
    judge = judge_of(ctx, topts.get("provider"), (*tloc, "options", "provider")) or defaults.judge
    own: dict[str, Any] = {}
    var_locs: dict[str, Loc] = {}
    asserts: list[dict[str, Any]] = judging_options(ctx, topts, (*tloc, "options"))
    given, transform = test_transform(ctx, topts, (*tloc, "options"))
    if given and transform is None:
        if x := ctx.unconverted((*tloc, "options"), "the test's transform does not convert"):
            asserts.append(x)
    elif not given:
        transform = defaults.transform
    for j, a in enumerate(defaults.asserts or []):
        aloc: Loc = ("defaultTest", "assert", j)
        if (x := convert_assertion(ctx, a, aloc, judge, transform)) is not None:
            asserts.append(x)
    metadata = dict(defaults.metadata)
    threshold = None
    scoring: str | None = None
    desc = ""
    for loc, layer in planned.layers:
        vars_ = layer.get("vars")
        if vars_ is not None and not isinstance(vars_, dict):
            ctx.skip((*loc, "vars"), "vars that are not a mapping are not converted")
        for k, v in vars_.items() if isinstance(vars_, dict) else []:
            own[k] = v
            var_locs[k] = (*loc, "vars", k)
        listed = layer.get("assert")
        if listed is not None and not isinstance(listed, list):
            ctx.skip((*loc, "assert"), "assert that is not a list is not converted")
        for j, a in enumerate(listed if isinstance(listed, list) else []):
            if (x := convert_assertion(ctx, a, (*loc, "assert", j), judge, transform)) is not None:
                asserts.append(x)
        meta = layer.get("metadata")
        if meta is not None and not isinstance(meta, dict):
            ctx.skip((*loc, "metadata"), "metadata that is not a mapping is not converted")
        metadata.update(meta if isinstance(meta, dict) else {})
        if layer.get("threshold") is not None:
            threshold = layer["threshold"]
        if layer.get("description"):
            desc = str(layer["description"])
        for key in layer:
            what = not_converted(f"test key {key!r}", _TEST_HINTS.get(key))
            if key == "assertScoringFunction":
                code = scoring_code(ctx, layer[key], (*loc, key))
                if code is not None:
                    scoring = code
                elif (x := ctx.unconverted((*loc, key), what)) is not None:
                    asserts.append(x)
            elif key in _JUDGING_KEYS:
                if (x := ctx.unconverted((*loc, key), what)) is not None:
                    asserts.append(x)
            elif key not in _CONVERTED:
                ctx.skip((*loc, key), what)
    off = defaults.env_off or bool(options.get("disableVarExpansion"))
    combos, n = cases_of_test(ctx, defaults.listed, own, tloc, off, before, var_locs)
    # the test's description names its cases; a config entry's own is its part of the id
    base = slug(str(test.get("description") or ""), planned.default_id)
    if planned.config:
        base = f"{base}-{planned.config}"
    for suffix, vars_ in combos:
        cid = f"{base}-{suffix}" if suffix else base
        while cid in seen:
            cid = f"{cid}-{len(cases) + 1}"
        seen.add(cid)
        case: dict[str, Any] = {"id": cid, "vars": vars_}
        if asserts:
            case["assert"] = asserts
        if desc:
            case["description"] = desc
        if metadata:
            case["metadata"] = metadata
        if threshold is not None:
            case["threshold"] = threshold
        if scoring is not None:
            case["scoring"] = scoring
        cases.append(case)
    return len(combos), n
