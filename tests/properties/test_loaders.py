"""Properties of the loaders: whatever the bytes of a prompt file, a JSONL or a CSV dataset,
reading it gives values or a PromptOpsError naming the file (and the line, when there is
one), never another exception; lint mode never raises."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from promptops.datasets import iter_cases
from promptops.errors import PromptOpsError, SpecError
from promptops.project import parse_prompt

from .strategies import JSON, TEXT, scaled

PROMPT = {
    "name": "t",
    "version": "1.0.0",
    "model": {"id": "echo/echo"},
    "inputs": {"document": "string"},
    "template": "{{ document }}",
    "assert": [{"type": "contains", "value": "x"}],
}
FIELDS = st.sampled_from(
    ["name", "version", "model", "inputs", "template", "assert", "messages", "tests", "x"]
)


def _parse(text: str) -> None:
    try:
        parse_prompt(text, Path("prompts/t/1.0.0.yaml"), check_location=False)
    except PromptOpsError as e:
        assert e.message.startswith("prompts/t/1.0.0.yaml"), e.message


@settings(max_examples=scaled(25))
@given(st.one_of(TEXT, st.binary(max_size=60).map(lambda b: b.decode("latin-1"))))
def test_any_prompt_text_parses_or_is_a_spec_error(text: str) -> None:
    _parse(text)


@settings(max_examples=scaled(25))
@given(st.dictionaries(FIELDS, JSON, max_size=3))
def test_any_value_in_any_prompt_field_is_a_spec_error_or_valid(changes: dict) -> None:
    try:
        text = yaml.safe_dump({**PROMPT, **changes}, allow_unicode=True)
    except yaml.YAMLError:  # not representable (NaN keys...): nothing to test
        return
    _parse(text)


def _read(path: Path) -> None:
    try:
        cases = list(iter_cases(path))
    except SpecError as e:
        assert e.problems and all(p.path.endswith(path.name) for p in e.problems), e.message
        return
    assert all(c.line >= 1 for c in cases)
    problems: list = []
    assert len(list(iter_cases(path, collect=problems))) == len(cases)
    assert problems == []


@settings(max_examples=scaled(25))
@given(st.lists(st.one_of(JSON, TEXT.map(lambda t: {"raw": t})), max_size=6), st.booleans())
def test_any_jsonl_dataset_reads_or_names_its_line(
    tmp_path_factory: object, rows: list, raw: bool
) -> None:
    path = Path(str(tmp_path_factory.mktemp("jsonl"))) / "d.jsonl"  # type: ignore[attr-defined]
    lines = []
    for r in rows:
        if raw and isinstance(r, dict) and set(r) == {"raw"}:
            lines.append(r["raw"])
        else:
            lines.append(json.dumps(r, ensure_ascii=False, allow_nan=True))
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass"))
    _read(path)
    problems: list = []
    list(iter_cases(path, collect=problems))  # lint mode: never raises
    assert all(p.line is None or p.line >= 1 for p in problems)


@settings(max_examples=scaled(25))
@given(st.lists(st.lists(TEXT, max_size=4), max_size=5), st.sampled_from([",", ";", '"']))
def test_any_csv_dataset_reads_or_names_its_line(
    tmp_path_factory: object, rows: list, sep: str
) -> None:
    path = Path(str(tmp_path_factory.mktemp("csv"))) / "d.csv"  # type: ignore[attr-defined]
    text = "\n".join(sep.join(r) for r in [["id", "document"], *rows])
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    _read(path)
