"""promptops.loader: strict YAML with line numbers, UTF-8 handling, streamed JSONL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import BaseModel, field_validator

from promptops.errors import Problem, SpecError
from promptops.loader import (
    LineMap,
    field_name,
    iter_jsonl,
    load_yaml,
    parse_yaml,
    read_text,
    validate,
)
from promptops.spec import PromptSpec

Write = Callable[..., Path]


# ------------------------------------------------------------------ read_text


def test_read_text_strips_utf8_bom(write: Write) -> None:
    path = write("a.yaml", "\ufeffname: x\n".encode())
    assert read_text(path) == "name: x\n"


def test_read_text_non_utf8_names_the_line_and_byte(
    write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write("a.yaml", b"name: x\nversion: 1.0.0\ndescription: caf\xe9\n")
    monkeypatch.chdir(path.parent)
    with pytest.raises(SpecError) as exc:
        read_text(path)
    assert exc.value.problems == [
        Problem("a.yaml", 3, None, "not valid UTF-8 (byte 0xe9); save the file as UTF-8")
    ]


def test_read_text_utf16_is_refused(write: Write) -> None:
    path = write("a.yaml", "name: x\n".encode("utf-16"))
    with pytest.raises(SpecError, match="not valid UTF-8"):
        read_text(path)


def test_read_text_missing_file_and_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError) as exc:
        read_text(tmp_path / "nope.yaml")
    assert str(exc.value) == "nope.yaml: file not found"
    (tmp_path / "d.yaml").mkdir()
    with pytest.raises(SpecError) as exc:
        read_text(tmp_path / "d.yaml")
    assert str(exc.value) == "d.yaml: is a directory, expected a file"


# ------------------------------------------------------------------ parse_yaml


def test_parse_yaml_maps_fields_to_lines() -> None:
    text = "name: x\nmodel:\n  id: echo/echo\nmessages:\n  - role: user\n    content: hi\n"
    data, lines = parse_yaml(text, Path("p.yaml"))
    assert data["messages"][0]["content"] == "hi"
    assert lines.line(("name",)) == 1
    assert lines.line(("model", "id")) == 3
    assert lines.line(("messages", 0, "role")) == 5
    assert lines.line(("messages", 0, "content")) == 6
    # a field that is not in the file falls back to its nearest existing parent
    assert lines.line(("model", "params", "temperature")) == 2
    assert lines.line(("nowhere",)) == 1


def test_parse_yaml_empty_and_comment_only_are_none() -> None:
    assert parse_yaml("", Path("p.yaml"))[0] is None
    assert parse_yaml("# just a comment\n", Path("p.yaml"))[0] is None


def test_parse_yaml_duplicate_key_names_its_line() -> None:
    text = "name: x\nversion: 1.0.0\nname: y\n"
    with pytest.raises(SpecError) as exc:
        parse_yaml(text, Path("p.yaml"))
    assert [(p.line, p.message) for p in exc.value.problems] == [
        (3, "invalid YAML: duplicate key 'name'")
    ]


def test_parse_yaml_nested_duplicate_key() -> None:
    text = "messages:\n  - role: user\n    content: a\n    content: b\n"
    with pytest.raises(SpecError) as exc:
        parse_yaml(text, Path("p.yaml"))
    assert exc.value.problems[0].line == 4
    assert "duplicate key 'content'" in exc.value.problems[0].message


def test_parse_yaml_syntax_error_line() -> None:
    text = "name: x\nversion: 1.0.0\nmodel: [echo/echo\ntemplate: hi\n"
    with pytest.raises(SpecError) as exc:
        parse_yaml(text, Path("p.yaml"))
    (problem,) = exc.value.problems
    assert problem.line == 4
    assert problem.message.startswith("invalid YAML: while parsing a flow sequence")


def test_parse_yaml_refuses_python_tags() -> None:
    text = "name: !!python/object/apply:os.system ['echo pwned']\n"
    with pytest.raises(SpecError) as exc:
        parse_yaml(text, Path("p.yaml"))
    assert exc.value.problems[0].line == 1
    assert "python/object/apply" in exc.value.problems[0].message


def test_parse_yaml_multiple_documents_refused() -> None:
    with pytest.raises(SpecError, match="invalid YAML"):
        parse_yaml("a: 1\n---\nb: 2\n", Path("p.yaml"))


def test_load_yaml_with_bom_keeps_line_numbers(write: Write) -> None:
    path = write("p.yaml", "\ufeffname: x\nversion: 1.0.0\n".encode())
    data, lines = load_yaml(path)
    assert data == {"name": "x", "version": "1.0.0"}
    assert lines.line(("version",)) == 2


def test_linemap_empty() -> None:
    assert LineMap().line(("a", "b")) is None


# ------------------------------------------------------------------ validate


def test_field_name_formats_indexes() -> None:
    assert field_name(("messages", 0, "content")) == "messages[0].content"
    assert field_name(("fallbacks", 1)) == "fallbacks[1]"
    assert field_name(()) == ""


def test_validate_reports_every_problem_with_line_and_field(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    text = (
        "name: x\n"  # 1
        "version: 1.0.0\n"  # 2
        "model:\n"  # 3
        "  id: echo/echo\n"  # 4
        "  params: {temprature: 0}\n"  # 5
        "inputs:\n"  # 6
        "  doc: {type: text}\n"  # 7
        "messages:\n"  # 8
        "  - role: robot\n"  # 9
        "    content: hi\n"  # 10
    )
    path = tmp_path / "x" / "1.0.0.yaml"
    data, lines = parse_yaml(text, path)
    with pytest.raises(SpecError) as exc:
        validate(PromptSpec, data, path, lines)
    got = {(p.line, p.field): p.message for p in exc.value.problems}
    assert (
        got[(5, "model.params.temprature")]
        == "unknown field (check the spelling; see `promptops schema`)"
    )
    assert (7, "inputs.doc.type") in got
    assert "'string'" in got[(7, "inputs.doc.type")]
    assert (9, "messages[0].role") in got
    assert len(exc.value.problems) == 3
    assert all(p.path == "x/1.0.0.yaml" for p in exc.value.problems)
    assert str(exc.value).splitlines()[0].startswith("x/1.0.0.yaml:")


def test_validate_missing_field(tmp_path: Path) -> None:
    data, lines = parse_yaml("name: x\nversion: 1.0.0\ntemplate: hi\n", tmp_path / "p.yaml")
    with pytest.raises(SpecError) as exc:
        validate(PromptSpec, data, tmp_path / "p.yaml", lines)
    (problem,) = exc.value.problems
    assert (problem.field, problem.message) == ("model", "required field is missing")
    assert problem.line == 1  # not in the file: the document's first line


def test_validate_keeps_capitalised_keys_that_are_in_the_file(tmp_path: Path) -> None:
    # Capitalised loc parts are usually pydantic's union tags; a real key must not be dropped.
    text = "name: x\nversion: 1.0.0\nmodel: echo/echo\ninputs:\n  Doc: 5\ntemplate: hi\n"
    data, lines = parse_yaml(text, tmp_path / "p.yaml")
    with pytest.raises(SpecError) as exc:
        validate(PromptSpec, data, tmp_path / "p.yaml", lines)
    assert [(p.line, p.field) for p in exc.value.problems] == [(5, "inputs.Doc")]


def test_validate_strips_value_error_prefix(tmp_path: Path) -> None:
    class M(BaseModel):
        a: int = 0
        n: int

        @field_validator("n")
        @classmethod
        def _even(cls, v: int) -> int:
            if v % 2:
                raise ValueError("must be even")
            return v

    data, lines = parse_yaml("a: 1\nn: 3\n", tmp_path / "m.yaml")
    with pytest.raises(SpecError) as exc:
        validate(M, data, tmp_path / "m.yaml", lines)
    assert [(p.line, p.field, p.message) for p in exc.value.problems] == [(2, "n", "must be even")]


# ------------------------------------------------------------------ iter_jsonl


def test_iter_jsonl_line_numbers_skip_blank_lines_and_bom(write: Write) -> None:
    path = write("d.jsonl", b'\xef\xbb\xbf{"id": "a"}\n\n   \n{"id": "b"}\n')
    assert list(iter_jsonl(path)) == [(1, {"id": "a"}), (4, {"id": "b"})]


def test_iter_jsonl_bad_json_raises_with_line(
    write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write("d.jsonl", b'{"id": "a"}\n{"id": }\n{"id": "c"}\n')
    monkeypatch.chdir(path.parent)
    with pytest.raises(SpecError) as exc:
        list(iter_jsonl(path))
    assert str(exc.value) == "d.jsonl:2: invalid JSON at column 8: Expecting value"


def test_iter_jsonl_column_of_an_error_at_the_end_of_a_line(
    write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a truncated line: the decoder fails after the last character, which is on this line
    # (with the line break it reported "column 1" of a second line)
    path = write("d.jsonl", b'{"id": "a"}\n{"id": "b", "vars": {"x": 1}\r\n')
    monkeypatch.chdir(path.parent)
    with pytest.raises(SpecError) as exc:
        list(iter_jsonl(path))
    assert str(exc.value) == "d.jsonl:2: invalid JSON at column 29: Expecting ',' delimiter"


def test_iter_jsonl_collects_every_bad_line(write: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write("d.jsonl", b'{"id": "a"}\nnot json\n{"id": "b\xff"}\n{"id": "c"}\n')
    monkeypatch.chdir(path.parent)
    errors: list[Problem] = []
    good = list(iter_jsonl(path, errors))
    assert good == [(1, {"id": "a"}), (4, {"id": "c"})]
    assert [str(p) for p in errors] == [
        "d.jsonl:2: invalid JSON at column 1: Expecting value",
        "d.jsonl:3: not valid UTF-8",
    ]


def test_iter_jsonl_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="dataset file not found"):
        list(iter_jsonl(tmp_path / "nope.jsonl"))


def test_iter_jsonl_streams(write: Write) -> None:
    path = write("d.jsonl", "".join(f'{{"id": "{i}"}}\n' for i in range(1000)))
    it = iter_jsonl(path)
    assert next(it) == (1, {"id": "0"})
    assert next(it) == (2, {"id": "1"})


def test_parse_yaml_merge_keys() -> None:
    text = "base: &b {a: 1, c: 0}\nx:\n  <<: *b\n  c: 2\ny:\n  <<: [*b]\n"
    data, _ = parse_yaml(text, Path("m.yaml"))
    assert data["x"] == {"a": 1, "c": 2}  # the mapping's own keys win
    assert data["y"] == {"a": 1, "c": 0}
    with pytest.raises(SpecError, match="duplicate key 'c'"):
        parse_yaml("base: &b {a: 1}\nx:\n  <<: *b\n  c: 1\n  c: 2\n", Path("m.yaml"))
