"""``promptops import promptfoo promptfooconfig.yaml``: a promptfoo config as promptops files.

What converts:

- ``prompts`` (inline text, chat JSON, ``file://`` .txt/.md/.j2/.json/.yaml files, ``---``
  separated prompts in one file, ``{raw|id, label}`` entries) -> one prompt version each
  (1.0.0, 1.1.0, ...) of one prompt, so ``promptops diff`` compares them as promptfoo's matrix
  did; Nunjucks ``| dump`` becomes ``| tojson``;
- the first ``providers`` entry -> ``model`` (``openai:chat:x`` -> ``openai/x`` and the other
  common prefixes; ``echo`` -> ``echo/echo``), its ``config`` sampling parameters, ``tools``,
  ``tool_choice``, ``response_format`` and ``apiBaseUrl``;
- ``defaultTest`` ``vars`` (input defaults), ``assert`` (prompt assertions), ``threshold`` and
  ``options.provider`` (the judge);
- ``tests`` (inline, or ``file://`` YAML/JSON/JSONL/CSV with ``__expected`` columns) -> a JSONL
  dataset; ``file://`` var values are read as text; list-valued vars expand into one case per
  combination as promptfoo's evaluator does (:mod:`.promptfoo_vars`); with no ``tests``,
  ``defaultTest`` is one case;
- the assertion types both tools share (and promptfoo's names for ours: ``model-graded-closedqa``,
  ``is-valid-openai-tools-call``...), ``not-`` negation, ``threshold``, ``weight``, ``metric``,
  ``provider`` (judge), ``rubricPrompt`` (judge_prompt), ``python`` ``file://x.py[:fn]``.

Everything else is left out and listed in :attr:`ImportResult.skipped` with where it was, so
the report says exactly what did not convert.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import PromptOpsError, UsageError, display_path
from ..loader import load_yaml
from .promptfoo_parts import (
    Ctx,
    Skipped,
    assertion_from_string,
    convert_assertion,
    input_type,
    judge_of,
    load_located,
    model_id,
    read_prompts,
    read_provider,
    read_tests,
    slug,
    var_value,
)
from .promptfoo_vars import cases_of_test, disabled_by_env, expands

__all__ = ["ImportResult", "Skipped", "assertion_from_string", "import_promptfoo", "model_id"]


@dataclass
class ImportResult:
    name: str
    files: list[Path] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    cases: int = 0
    expanded: int = 0  # cases that came from list-valued vars
    expanded_tests: int = 0  # the tests they came from
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[Skipped] = field(default_factory=list)


# ----------------------------------------------------------------------------- main


def import_promptfoo(
    config: Path, root: Path, name: str | None = None, force: bool = False
) -> ImportResult:
    """Convert a promptfoo config into prompt versions and a dataset under ``root``."""
    from ..render import template_variables
    from ..spec import check_name

    if not config.is_file():
        raise UsageError(f"{config}: no such file")
    data, lines = load_yaml(config)
    if not isinstance(data, dict):
        raise PromptOpsError(f"{display_path(config)}:1: expected a promptfoo config mapping")
    ctx = Ctx(config, root)
    ctx.lines = lines
    name = name or slug(str(data.get("description") or config.parent.name), "imported")
    try:
        check_name(name)
    except ValueError as e:
        raise UsageError(f"--name: {e}") from None
    result = ImportResult(name=name)

    prompts = read_prompts(ctx, data.get("prompts"))
    if not prompts:
        raise PromptOpsError(f"{ctx.shown}: no prompt could be converted")
    model, extra = read_provider(ctx, data.get("providers"))
    if model is None:
        ctx.note(("providers",), "no provider converted; the prompts use echo/echo")
        model = {"id": "echo/echo"}

    default = load_located(ctx, data.get("defaultTest"), ("defaultTest",)) or {}
    judge = judge_of(ctx, default.get("options"))
    prompt_asserts = [
        x
        for j, a in enumerate(default.get("assert") or [])
        if (x := convert_assertion(ctx, a, ("defaultTest", "assert", j), judge)) is not None
    ]
    dvars = default.get("vars") or {}
    if not isinstance(dvars, dict):
        ctx.skip(("defaultTest", "vars"), "vars that are not a mapping are not converted")
        dvars = {}
    # list-valued defaults expand every test, so they are written in the cases
    listed = {k: v for k, v in dvars.items() if expands(v)}
    defaults = {
        k: var_value(ctx, v, ("defaultTest", "vars", k))
        for k, v in dvars.items()
        if k not in listed
    }
    for key in default:
        if key not in ("vars", "assert", "options", "threshold"):
            ctx.skip(("defaultTest", key), f"defaultTest.{key} is not converted")
    dopts: dict[str, Any] = o if isinstance(o := default.get("options"), dict) else {}
    env_off = disabled_by_env(data)

    tests = read_tests(ctx, data.get("tests"))
    if not tests and not data.get("tests") and not data.get("scenarios"):
        tests = [(("defaultTest",), {})]  # promptfoo runs defaultTest once
    cases: list[dict[str, Any]] = []
    seen: set[str] = set()
    for t, (loc, test) in enumerate(tests):
        tjudge = judge_of(ctx, test.get("options")) or judge
        topts: dict[str, Any] = o if isinstance(o := test.get("options"), dict) else {}
        off = env_off or bool({**dopts, **topts}.get("disableVarExpansion"))
        own = test.get("vars") or {}
        if not isinstance(own, dict):
            ctx.skip((*loc, "vars"), "vars that are not a mapping are not converted")
            own = {}
        combos, n = cases_of_test(ctx, listed, own, loc, off, result.expanded)
        result.expanded += n
        result.expanded_tests += n > 0
        desc = str(test.get("description") or "")
        base = slug(desc, f"case-{t + 1}")
        asserts = [
            x
            for j, a in enumerate(test.get("assert") or [])
            if (x := convert_assertion(ctx, a, (*loc, "assert", j), tjudge)) is not None
        ]
        for key in test:
            if key not in ("vars", "assert", "description", "metadata", "threshold", "options"):
                ctx.skip((*loc, key), f"test option {key!r} is not converted")
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
            if isinstance(test.get("metadata"), dict):
                case["metadata"] = test["metadata"]
            if test.get("threshold") is not None:
                case["threshold"] = test["threshold"]
            cases.append(case)

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
        sources = [body.get("template")] + [m["content"] for m in body.get("messages", [])]
        per_version.append(used(sources) | in_asserts)
        for var in per_version[-1]:
            names.setdefault(var, [])
    inputs: dict[str, Any] = {}
    for var, values in names.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var):
            ctx.skip(("tests",), f"variable {var!r} is not a valid input name")
            continue
        spec: dict[str, Any] = {"type": input_type(values) if values else "string"}
        if var in defaults and defaults[var] is not None:
            spec["default"] = defaults[var]
        elif any(var not in c["vars"] for c in cases):
            spec["required"] = False
        inputs[var] = spec

    dataset = f"evals/{name}.jsonl"
    texts: dict[Path, str] = {}
    for n, (label, body) in enumerate(prompts):
        version = f"1.{n}.0"
        mine = {k: v for k, v in inputs.items() if k in per_version[n] or k in in_cases}
        for var in sorted(set(mine) - per_version[n]):
            ctx.note(("prompts", n), f"prompt {label!r} does not use {var!r}, which tests set")
        doc: dict[str, Any] = {
            "name": name,
            "version": version,
            "description": str(data.get("description") or f"Imported from {config.name}"),
            "changelog": f"Imported from promptfoo ({config.name}, prompt {label!r}).",
            "model": model,
            "inputs": mine,
            **body,
            **extra,
            "dataset": dataset,
        }
        if prompt_asserts:
            doc["assert"] = prompt_asserts
        if default.get("threshold") is not None:
            doc["threshold"] = default["threshold"]
        texts[root / "prompts" / name / f"{version}.yaml"] = yaml.safe_dump(
            doc, sort_keys=False, allow_unicode=True, width=100
        )
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
    result.skipped = ctx.skipped
    result.notes = ctx.notes
    return result
