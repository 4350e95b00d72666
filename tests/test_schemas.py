"""The published JSON Schemas: committed files equal `promptops schema`, and real files validate.

Regenerate the committed files after changing promptops.spec with::

    for k in prompt case registry run record summary call snapshot analysis shadow-analysis; do promptops schema $k > schemas/$k.schema.json; done
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from typer.testing import Result

from promptops.schemas import KINDS, json_schema

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = REPO / "schemas"
Cli = Callable[..., Result]


def committed(kind: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{kind}.schema.json").read_text(encoding="utf-8"))


def validator(kind: str) -> Draft202012Validator:
    schema = committed(kind)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def messages(kind: str, data: Any) -> list[str]:
    return sorted(f"{e.json_path}: {e.message}" for e in validator(kind).iter_errors(data))


@pytest.mark.parametrize("kind", KINDS)
def test_committed_schema_equals_command_output(cli: Cli, kind: str) -> None:
    result = cli("schema", kind)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == committed(kind), (
        f"schemas/{kind}.schema.json is stale: run `promptops schema {kind} > schemas/{kind}.schema.json`"
    )
    assert json_schema(kind) == committed(kind)


def test_every_kind_is_committed() -> None:
    assert sorted(p.name for p in SCHEMAS.glob("*.schema.json")) == sorted(
        f"{k}.schema.json" for k in KINDS
    )


def test_fixture_files_validate(project: Path) -> None:
    for path in sorted((project / "prompts").rglob("*.yaml")):
        assert messages("prompt", yaml.safe_load(path.read_text())) == [], path
    for line in (project / "evals/summarize.jsonl").read_text().splitlines():
        assert messages("case", json.loads(line)) == []
    assert messages("registry", yaml.safe_load((project / "registry.yaml").read_text())) == []


def test_short_forms_validate() -> None:
    doc = {
        "name": "x",
        "version": "1.0.0",
        "model": "openai/gpt-4o-2024-08-06",
        "inputs": {"a": "string", "b": {"type": "integer", "default": 3}},
        "template": "{{ a }}{{ b }}",
        "assert": ["is-json", {"type": "contains", "value": "{{ a }}"}],
        "tests": [{"id": 1, "vars": {"a": "x"}}],
    }
    assert messages("prompt", doc) == []
    assert messages("prompt", {**doc, "model": {"id": "x", "params": {"stop": "\n"}}}) == []


def test_schema_rejects_what_the_loader_rejects() -> None:
    base = {"name": "x", "version": "1.0.0", "model": "echo/echo", "template": "hi"}
    assert messages("prompt", {**base, "temprature": 1}) == [
        "$: Additional properties are not allowed ('temprature' was unexpected)"
    ]
    assert (
        messages("prompt", {**base, "model": {"id": "echo/echo", "params": {"temperature": 3}}})
        != []
    )
    assert messages("prompt", {**base, "inputs": {"a": {"type": "text"}}}) != []
    assert messages("prompt", {k: v for k, v in base.items() if k != "model"}) == [
        "$: 'model' is a required property"
    ]
    assert messages("case", {"vars": {}}) == ["$: 'id' is a required property"]
    assert messages("case", {"id": ""}) != []
    assert messages("registry", {"prompts": {"s": {"prod": {"version": "1.0.0"}}}}) == [
        "$.prompts.s.prod: 'digest' is a required property"
    ]


def test_fields_carry_descriptions() -> None:
    schema = committed("prompt")
    assert schema["properties"]["model"]["description"] == "Pinned model and parameters."
    undocumented = [k for k, v in schema["properties"].items() if not v.get("description")]
    assert undocumented == []


# ------------------------------------------------------------------ the repository's own example project


def example_files(pattern: str) -> list[Path]:
    return sorted(REPO.glob(pattern))


def rel(path: Path | None) -> str:
    return "none" if path is None else path.relative_to(REPO).as_posix()


@pytest.mark.parametrize("path", example_files("prompts/*/*.y*ml") or [None], ids=rel)
def test_example_prompts_validate(path: Path | None) -> None:
    if path is None:
        pytest.skip("no example prompts under prompts/ yet")
    data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    assert messages("prompt", data) == []


@pytest.mark.parametrize("path", example_files("evals/*.jsonl") or [None], ids=rel)
def test_example_datasets_validate(path: Path | None) -> None:
    if path is None:
        pytest.skip("no example datasets under evals/ yet")
    bad = {}
    for n, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if line.strip():
            errors = messages("case", json.loads(line))
            if errors:
                bad[n] = errors
    assert bad == {}


def test_example_registry_validates() -> None:
    path = REPO / "registry.yaml"
    if not path.is_file():
        pytest.skip("no example registry.yaml yet")
    assert messages("registry", yaml.safe_load(path.read_text(encoding="utf-8-sig")) or {}) == []
