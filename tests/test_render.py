"""promptops.render: sandboxed Jinja, StrictUndefined, typed inputs, --var parsing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import promptops
from promptops.errors import RenderError, SpecError, UsageError
from promptops.project import Project, PromptVersion, load_prompt
from promptops.refs import resolve
from promptops.render import (
    bind_inputs,
    check_templates,
    coerce_cli,
    parse_vars,
    raise_for_templates,
    render_messages,
    render_template,
    render_value,
    template_variables,
)
from promptops.spec import InputSpec

Write = Callable[..., Path]


def make(write: Write, body: str, name: str = "t", version: str = "1.0.0") -> PromptVersion:
    """A prompt file prompts/<name>/<version>.yaml with ``body`` after name/version/model."""
    path = write(
        f"prompts/{name}/{version}.yaml",
        f"name: {name}\nversion: {version}\nmodel: echo/echo\n" + body,
    )
    return load_prompt(path)


@pytest.fixture
def pv2(project: Path) -> PromptVersion:
    return resolve("summarize@2.0", Project.find())


# ------------------------------------------------------------------ rendering


def test_render_fixture_prompt_with_default(pv2: PromptVersion) -> None:
    messages = render_messages(pv2, {"document": "It rained."})
    assert messages == [
        {"role": "system", "content": "You write summaries with a title line."},
        {"role": "user", "content": "Summarize in at most 30 words.\n\nDocument:\nIt rained."},
    ]


def test_render_given_value_overrides_default(pv2: PromptVersion) -> None:
    messages = render_messages(pv2, {"document": "x", "max_words": 5})
    assert messages[1]["content"].startswith("Summarize in at most 5 words.")


def test_public_render_api(project: Path) -> None:
    messages = promptops.render_prompt("summarize@1.0", root=str(project), document="Hello there.")
    assert messages[0]["content"] == "Summarize the user's document in at most 30 words."
    assert messages[1] == {"role": "user", "content": "Hello there."}


def test_missing_inputs_are_named(pv2: PromptVersion) -> None:
    with pytest.raises(RenderError) as exc:
        render_messages(pv2, {})
    assert str(exc.value) == "missing required input(s) document for summarize@2.0.0"


def test_unknown_inputs_are_named(pv2: PromptVersion) -> None:
    with pytest.raises(RenderError) as exc:
        render_messages(pv2, {"document": "x", "tone": "dry", "audience": "kids"})
    assert str(exc.value) == (
        "unknown variable(s) audience, tone for summarize@2.0.0; declared inputs: document, max_words"
    )


def test_where_prefixes_messages(pv2: PromptVersion) -> None:
    with pytest.raises(RenderError) as exc:
        render_messages(pv2, {}, where="evals/summarize.jsonl:3")
    assert str(exc.value).startswith("evals/summarize.jsonl:3: missing required input(s) document")


@pytest.mark.parametrize(
    ("kind", "value", "ok"),
    [
        ("string", "x", True),
        ("string", 5, False),
        ("integer", 5, True),
        ("integer", 5.5, False),
        ("integer", True, False),
        ("number", 5, True),
        ("number", 2.5, True),
        ("number", False, False),
        ("boolean", True, True),
        ("boolean", "true", False),
        ("array", [1, 2], True),
        ("array", "a,b", False),
        ("object", {"a": 1}, True),
        ("object", [], False),
        ("any", object(), True),
    ],
)
def test_declared_types_are_checked(
    write: Write, tmp_path: Path, kind: str, value: Any, ok: bool
) -> None:
    pv = make(write, f"inputs:\n  v: {kind}\ntemplate: '{{{{ v }}}}'\n")
    if ok:
        assert bind_inputs(pv, {"v": value}) == {"v": value}
    else:
        with pytest.raises(RenderError) as exc:
            bind_inputs(pv, {"v": value})
        assert str(exc.value) == f"input 'v' must be {kind}, got {type(value).__name__}"


def test_enum_checked(write: Write, tmp_path: Path) -> None:
    pv = make(write, "inputs:\n  tone: {type: string, enum: [dry, warm]}\ntemplate: '{{ tone }}'\n")
    assert render_messages(pv, {"tone": "warm"})[0]["content"] == "warm"
    with pytest.raises(
        RenderError, match=r"input 'tone' must be one of \['dry', 'warm'\], got 'loud'"
    ):
        render_messages(pv, {"tone": "loud"})


def test_strict_undefined(write: Write, tmp_path: Path) -> None:
    pv = make(write, "inputs:\n  a: {type: object}\ntemplate: '{{ a.missing }}'\n")
    with pytest.raises(RenderError) as exc:
        render_messages(pv, {"a": {}})
    assert str(exc.value).endswith("template: 'dict object' has no attribute 'missing'")
    pv = make(write, "template: 'hello {{ who }}'\n", name="u")
    with pytest.raises(RenderError, match="'who' is undefined"):
        render_messages(pv, {})


def test_optional_input_without_default_renders_as_none(write: Write, tmp_path: Path) -> None:
    pv = make(
        write, "inputs:\n  a: {required: false}\ntemplate: '{% if a %}yes{% else %}no{% endif %}'\n"
    )
    assert render_messages(pv, {})[0]["content"] == "no"


# ------------------------------------------------------------------ the sandbox


@pytest.mark.parametrize(
    "expr",
    [
        "''.__class__.__mro__",
        "''.__class__.__mro__[1].__subclasses__()",
        "x.__class__.__init__.__globals__",
        "cycler.__init__.__globals__",
        "x.__init__",
        "(1).__class__.__base__",
    ],
)
def test_sandbox_blocks_python_internals(
    write: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, expr: str
) -> None:
    monkeypatch.chdir(tmp_path)
    pv = make(write, f'inputs:\n  x: string\ntemplate: "{{{{ {expr} }}}} {{{{ x }}}}"\n')
    with pytest.raises(RenderError) as exc:
        render_messages(pv, {"x": "hi"})
    message = str(exc.value)
    assert message.startswith("prompts/t/1.0.0.yaml:6: template: ")
    assert "blocked by the sandbox" in message or "is undefined" in message
    assert "<class" not in message


def test_sandbox_blocks_internals_in_assertion_values() -> None:
    with pytest.raises(RenderError, match="blocked by the sandbox"):
        render_value("{{ output.__class__.__mro__ }}", {"output": "x"}, "assert[0].value")
    with pytest.raises(RenderError, match="blocked by the sandbox"):
        render_value("found: {{ output.__class__ }}", {"output": "x"}, "assert[0].value")


@pytest.mark.parametrize(
    "value",
    [
        "{{ 7 * 7 }}",
        "{% for i in range(3) %}{{ i }}{% endfor %}",
        "{{ ''.__class__.__mro__ }}",
        "{% if %}",  # a syntax error if it were ever parsed
        "{#",
        "{{ document }}",
    ],
)
def test_values_containing_jinja_are_plain_text(pv2: PromptVersion, value: str) -> None:
    messages = render_messages(pv2, {"document": value})
    assert messages[1]["content"] == f"Summarize in at most 30 words.\n\nDocument:\n{value}"


def test_ten_megabyte_input(pv2: PromptVersion) -> None:
    big = ("lorem ipsum dolor " * 600_000)[: 10 * 1024 * 1024]
    start = time.perf_counter()
    messages = render_messages(pv2, {"document": big})
    elapsed = time.perf_counter() - start
    assert messages[1]["content"].endswith(big)
    assert len(messages[1]["content"]) == len(big) + len(
        "Summarize in at most 30 words.\n\nDocument:\n"
    )
    assert elapsed < 5


# ------------------------------------------------------------------ syntax errors and their lines


def test_syntax_error_in_literal_block_reports_its_file_line(
    write: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    pv = make(
        write,
        (
            "inputs: {x: string}\n"  # 4
            "messages:\n"  # 5
            "  - role: system\n"  # 6
            "    content: fine\n"  # 7
            "  - role: user\n"  # 8
            "    content: |\n"  # 9
            "      line one {{ x }}\n"  # 10
            "      line two {% if %}\n"  # 11
        ),
    )
    assert check_templates(pv) == [
        (
            ("messages", 1, "content"),
            11,
            "template syntax error: Expected an expression, got 'end of statement block'",
        )
    ]
    with pytest.raises(RenderError) as exc:
        render_messages(pv, {"x": "1"})
    assert str(exc.value) == (
        "prompts/t/1.0.0.yaml:11: messages[1].content: template syntax error: "
        "Expected an expression, got 'end of statement block'"
    )
    with pytest.raises(SpecError) as exc2:
        raise_for_templates(pv)
    assert str(exc2.value) == (
        "prompts/t/1.0.0.yaml:11: messages[1].content: template syntax error: "
        "Expected an expression, got 'end of statement block'"
    )


@pytest.mark.parametrize(
    ("content", "line"),
    [
        ('"{{ x }"', 5),  # single line: the key's line
        ('"line one\\nline two {{ x "', 5),  # escaped newline: still the key's line
        ("|-\n  one\n  two {{ x\n", 7),  # literal with chomping indicator
        ("|2\n    one\n    two {{ x\n", 7),  # literal with indentation indicator
        ("|  # note\n  one\n  two {{ x\n", 7),  # literal with a comment
        (">\n  one\n\n  two {{ x\n", 8),  # folded: blank line makes a newline
    ],
)
def test_syntax_error_line_for_scalar_styles(
    write: Write, tmp_path: Path, content: str, line: int
) -> None:
    body = "inputs: {x: string}\ntemplate: " + content.replace("\n", "\n  ").rstrip() + "\n"
    pv = make(write, body)
    [(loc, got, _)] = check_templates(pv)
    assert (loc, got) == (("template",), line)


def test_template_variables() -> None:
    assert template_variables("{{ a }} {% for x in items %}{{ x }}{{ b.c }}{% endfor %}") == {
        "a",
        "items",
        "b",
    }
    assert template_variables("{% set y = 1 %}{{ y }}") == set()


def test_render_template_errors_are_render_errors() -> None:
    with pytest.raises(RenderError, match="where: ZeroDivisionError"):
        render_template("{{ 1 / 0 }}", {}, "where")
    with pytest.raises(RenderError, match="where: template syntax error on template line 1"):
        render_template("{{ }", {}, "where")


# ------------------------------------------------------------------ assertion values


def test_render_value_keeps_types_of_single_expressions() -> None:
    ctx = {"expected": {"keywords": ["a", "b"]}, "n": 3}
    assert render_value("{{ expected.keywords }}", ctx, "v") == ["a", "b"]
    assert render_value("{{ n + 1 }}", ctx, "v") == 4
    assert render_value("has {{ n }}", ctx, "v") == "has 3"
    assert render_value(["{{ n }}", "x", {"k": "{{ n }}"}], ctx, "v") == [3, "x", {"k": 3}]
    assert render_value(5, ctx, "v") == 5
    assert render_value("{{ a }} and {{ b }}", {"a": 1, "b": 2}, "v") == "1 and 2"
    with pytest.raises(RenderError, match="'missing' is undefined"):
        render_value("{{ missing }}", ctx, "v")


# ------------------------------------------------------------------ --var / --vars


@pytest.mark.parametrize(
    ("kind", "raw", "value"),
    [
        ("string", "007", "007"),
        ("integer", "42", 42),
        ("number", "42", 42),
        ("number", "2.5", 2.5),
        ("number", "1e3", 1000.0),
        ("boolean", "yes", True),
        ("boolean", "False", False),
        ("array", '["a", 1]', ["a", 1]),
        ("object", '{"a": 1}', {"a": 1}),
        ("any", "[1]", [1]),
        ("any", "plain words", "plain words"),
    ],
)
def test_coerce_cli(kind: str, raw: str, value: Any) -> None:
    assert coerce_cli("v", InputSpec(type=kind), raw) == value  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        ("integer", "4.5"),
        ("number", "x"),
        ("boolean", "maybe"),
        ("array", "[1,"),
        ("object", "nope"),
    ],
)
def test_coerce_cli_errors(kind: str, raw: str) -> None:
    with pytest.raises(RenderError) as exc:
        coerce_cli("v", InputSpec(type=kind), raw)  # type: ignore[arg-type]
    assert str(exc.value) == f"input 'v' must be {kind}, got {raw!r}"


def test_unknown_cli_var_stays_a_string(pv2: PromptVersion) -> None:
    assert parse_vars(pv2, ["tone=5"]) == {"tone": "5"}


def test_parse_vars_sources_and_precedence(
    pv2: PromptVersion, write: Write, tmp_path: Path
) -> None:
    doc = write("doc.txt", "From a file.\nTwo lines.\n")
    vars_json = write("v.json", json.dumps({"document": "json doc", "max_words": 9}))
    vars_yaml = write("v.yaml", "document: yaml doc\nmax_words: 11\n")
    assert parse_vars(pv2, [f"document=@{doc}"]) == {"document": "From a file.\nTwo lines.\n"}
    assert parse_vars(pv2, [], vars_json) == {"document": "json doc", "max_words": 9}
    assert parse_vars(pv2, ["max_words=3"], vars_yaml) == {"document": "yaml doc", "max_words": 3}
    assert parse_vars(pv2, ["document=a=b"]) == {"document": "a=b"}


@pytest.mark.parametrize("arg", ["document", "=x", " =x"])
def test_parse_vars_malformed_is_usage_error(pv2: PromptVersion, arg: str) -> None:
    with pytest.raises(UsageError, match="expected NAME=VALUE or NAME=@FILE") as exc:
        parse_vars(pv2, [arg])
    assert exc.value.exit_code == 2


def test_parse_vars_missing_file(pv2: PromptVersion, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"--var document=@.*nope\.txt: no such file"):
        parse_vars(pv2, [f"document=@{tmp_path / 'nope.txt'}"])


def test_parse_vars_file_errors(
    pv2: PromptVersion, write: Write, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError) as exc:
        parse_vars(pv2, [], write("bad.json", '{\n  "document": "x",\n}\n'))
    assert (
        str(exc.value)
        == "bad.json:3: invalid JSON: Expecting property name enclosed in double quotes"
    )
    with pytest.raises(SpecError) as exc:
        parse_vars(pv2, [], write("list.yaml", "- a\n- b\n"))
    assert str(exc.value) == "list.yaml:1: expected a mapping of variable names to values"
    with pytest.raises(SpecError) as exc:
        parse_vars(pv2, [], write("dup.yaml", "document: a\ndocument: b\n"))
    assert str(exc.value) == "dup.yaml:2: invalid YAML: duplicate key 'document'"
    latin1 = write("latin1.txt", b"caf\xe9")
    with pytest.raises(SpecError) as exc:
        parse_vars(pv2, [f"document=@{latin1}"])
    assert str(exc.value) == "latin1.txt:1: not valid UTF-8 (byte 0xe9); save the file as UTF-8"


def test_var_file_for_typed_input_is_coerced(pv2: PromptVersion, write: Write) -> None:
    n = write("n.txt", "12")
    assert parse_vars(pv2, [f"max_words=@{n}"]) == {"max_words": 12}
