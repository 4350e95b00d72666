"""promptops.spec and promptops.project.parse_prompt: strict models of the files people write."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from promptops.errors import SpecError
from promptops.project import canonical_digest, load_prompt, parse_prompt
from promptops.spec import (
    AssertionSpec,
    CaseSpec,
    InputSpec,
    ModelParams,
    ProjectConfig,
    PromptSpec,
    RegistrySpec,
    check_name,
)

Write = Callable[..., Path]

MINIMAL: dict[str, Any] = {
    "name": "summarize",
    "version": "1.0.0",
    "model": "echo/echo",
    "inputs": {"document": "string"},
    "template": "{{ document }}",
}


def prompt(**changes: Any) -> PromptSpec:
    return PromptSpec.model_validate({**MINIMAL, **changes})


def errors(exc: pytest.ExceptionInfo[ValidationError]) -> list[tuple[tuple[Any, ...], str]]:
    return [(e["loc"], e["msg"]) for e in exc.value.errors()]


# ------------------------------------------------------------------ PromptSpec


def test_minimal_prompt_and_short_forms() -> None:
    spec = prompt(**{"assert": ["is-json", {"type": "contains", "value": "x"}]})
    assert spec.model.id == "echo/echo"
    assert spec.model.params.as_kwargs() == {}
    assert spec.inputs["document"].type == "string"
    assert spec.inputs["document"].is_required
    assert [a.type for a in spec.assert_] == ["is-json", "contains"]
    assert [(m.role, m.content) for m in spec.chat()] == [("user", "{{ document }}")]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("1.0.0", "1.0.0"),
        ("2.0", "2.0.0"),
        ("2", "2.0.0"),
        (2, "2.0.0"),
        ("v1.2.3", "1.2.3"),
        ("1.0.0-rc.1", "1.0.0-rc.1"),
    ],
)
def test_version_normalised(given: Any, expected: str) -> None:
    assert prompt(version=given).version == expected


@pytest.mark.parametrize("bad", ["1.0.x", "01.0.0", "1.0.0.0", "latest", "", "1..0"])
def test_invalid_semver_refused(bad: str) -> None:
    with pytest.raises(ValidationError) as exc:
        prompt(version=bad)
    [(loc, msg)] = errors(exc)
    assert loc == ("version",)
    assert "is not a semantic version such as 1.2.0" in msg


def test_unquoted_float_version_explains_quoting() -> None:
    with pytest.raises(ValidationError) as exc:
        prompt(version=1.5)
    assert errors(exc) == [
        (("version",), 'Value error, 1.5 is read as a number; quote it: version: "1.5.0"')
    ]


@pytest.mark.parametrize(
    "bad", ["../evil", "a/b", "Summarize", "-x", ".hidden", "a..b", "x" * 101, ""]
)
def test_bad_prompt_names_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="is not a valid prompt name"):
        check_name(bad)
    with pytest.raises(ValidationError) as exc:
        prompt(name=bad)
    assert errors(exc)[0][0] == ("name",)


@pytest.mark.parametrize("good", ["summarize", "classify-ticket", "a.b_c", "2fa", "x" * 100])
def test_good_prompt_names(good: str) -> None:
    assert check_name(good) == good


def test_unknown_keys_refused_everywhere() -> None:
    with pytest.raises(ValidationError) as exc:
        prompt(temperature=0.2, model={"id": "echo/echo", "params": {"temp": 0}, "vendor": "x"})
    locs = sorted(loc for loc, _ in errors(exc))
    assert locs == [("model", "params", "temp"), ("model", "vendor"), ("temperature",)]
    assert all(e["type"] == "extra_forbidden" for e in exc.value.errors())


def test_model_provider_is_auto_or_litellm() -> None:
    assert prompt(model={"id": "openai/gpt-4o-mini-2024-07-18"}).model.provider == "auto"
    chosen = prompt(model={"id": "openai/gpt-4o-mini-2024-07-18", "provider": "litellm"})
    assert chosen.model.provider == "litellm"
    with pytest.raises(ValidationError) as exc:
        prompt(model={"id": "openai/gpt-4o-mini-2024-07-18", "provider": "native"})
    assert errors(exc)[0][0] == ("model", "provider")


def test_wrong_types() -> None:
    with pytest.raises(ValidationError) as exc:
        prompt(inputs=5, fallbacks="openai/x", description=["a"])
    assert sorted(loc for loc, _ in errors(exc)) == [("description",), ("fallbacks",), ("inputs",)]


def test_messages_xor_template() -> None:
    with pytest.raises(ValidationError, match="give exactly one of 'messages' or 'template'"):
        prompt(messages=[{"role": "user", "content": "x"}])
    with pytest.raises(ValidationError, match="give exactly one of 'messages' or 'template'"):
        PromptSpec.model_validate({k: v for k, v in MINIMAL.items() if k != "template"})
    with pytest.raises(ValidationError, match="'messages' is empty"):
        prompt(template=None, messages=[])


def test_bad_role_and_input_names() -> None:
    with pytest.raises(ValidationError) as exc:
        prompt(template=None, messages=[{"role": "robot", "content": "x"}])
    assert errors(exc)[0][0] == ("messages", 0, "role")
    with pytest.raises(ValidationError, match="input name 'my-doc' is not a valid identifier"):
        prompt(inputs={"my-doc": "string"})


def test_model_params_ranges_and_stop_short_form() -> None:
    assert ModelParams.model_validate({"stop": "\n"}).stop == ["\n"]
    assert ModelParams.model_validate({"temperature": 0, "extra": {"top_k": 5}}).as_kwargs() == {
        "temperature": 0.0,
        "top_k": 5,
    }
    for bad in ({"temperature": 3}, {"max_tokens": 0}, {"top_p": 0}):
        with pytest.raises(ValidationError):
            ModelParams.model_validate(bad)


def test_input_spec_required_rules() -> None:
    assert InputSpec.model_validate("string").is_required
    assert not InputSpec.model_validate({"type": "integer", "default": 3}).is_required
    assert not InputSpec.model_validate({"required": False}).is_required
    assert InputSpec.model_validate({"default": "x", "required": True}).is_required
    with pytest.raises(ValidationError):
        InputSpec.model_validate({"type": "text"})


def test_assertion_negation() -> None:
    a = AssertionSpec.model_validate({"type": "not-contains", "value": "x"})
    assert (a.negated, a.base_type, a.label) == (True, "contains", "not-contains")
    assert AssertionSpec.model_validate({"type": "regex", "metric": "fmt"}).label == "fmt"


# ------------------------------------------------------------------ CaseSpec


def test_case_spec() -> None:
    case = CaseSpec.model_validate({"id": 7, "vars": {"document": "x"}, "assert": ["is-json"]})
    assert case.id == "7"
    assert case.assert_[0].type == "is-json"
    for bad in ({"id": ""}, {"vars": {}}, {"id": True}, {"id": "a", "var": {}}):
        with pytest.raises(ValidationError):
            CaseSpec.model_validate(bad)


# ------------------------------------------------------------------ RegistrySpec


def test_registry_defaults_and_versions_normalised() -> None:
    reg = RegistrySpec.model_validate(
        {"prompts": {"summarize": {"prod": {"version": "1.0", "digest": "sha256:x"}}}}
    )
    assert reg.environments == ["dev", "staging", "prod"]
    assert reg.prompts["summarize"]["prod"].version == "1.0.0"


@pytest.mark.parametrize("env", ["1.0", "2", "v3", "1.0.0", "latest"])
def test_registry_refuses_environment_names_that_read_as_versions(env: str) -> None:
    with pytest.raises(ValidationError) as exc:
        RegistrySpec.model_validate({"environments": ["dev", env]})
    assert errors(exc) == [
        (
            ("environments",),
            f"Value error, environment name {env!r} would read as a version in refs",
        )
    ]


@pytest.mark.parametrize("envs", [[], ["dev", "dev"], ["dev", "my env"]])
def test_registry_environment_list_checked(envs: list[str]) -> None:
    with pytest.raises(ValidationError):
        RegistrySpec.model_validate({"environments": envs})


def test_registry_unknown_environment_and_bad_name_located() -> None:
    with pytest.raises(ValidationError) as exc:
        RegistrySpec.model_validate(
            {
                "environments": ["dev", "prod"],
                "prompts": {
                    "summarize": {"qa": {"version": "1.0.0", "digest": "x"}},
                    "../x": {"dev": {"version": "1.0.0", "digest": "x"}},
                },
            }
        )
    got = errors(exc)
    assert got[0] == (("prompts", "summarize", "qa"), "unknown environment; declared: dev, prod")
    assert got[1][0] == ("prompts", "../x")
    assert "is not a valid prompt name" in got[1][1]


def test_project_config() -> None:
    cfg = ProjectConfig.model_validate({"allow_unpinned": ["ollama/*"]})
    assert (cfg.prompts_dir, cfg.allow_unpinned) == ("prompts", ["ollama/*"])
    with pytest.raises(ValidationError):
        ProjectConfig.model_validate({"allow_unpined": ["x"]})


# ------------------------------------------------------------------ parse_prompt / load_prompt


def test_load_fixture_prompt(project: Path) -> None:
    pv = load_prompt(project / "prompts/summarize/2.0.0.yaml")
    assert (pv.name, pv.version, pv.ref) == ("summarize", "2.0.0", "summarize@2.0.0")
    assert pv.spec.model.params.temperature == 0.2
    assert pv.line("messages", 1, "content") == 15
    assert pv.digest.startswith("sha256:") and len(pv.digest) == 71


def test_digest_ignores_formatting_and_comments(write: Write) -> None:
    a = write(
        "a/summarize/1.0.0.yaml",
        "name: summarize\nversion: 1.0.0\nmodel: echo/echo\ntemplate: hi\n",
    )
    b = write(
        "b/summarize/1.0.0.yaml",
        "# a comment\ntemplate: 'hi'\nmodel:   echo/echo\nversion: \"1.0.0\"\nname: summarize\n",
    )
    c = write(
        "c/summarize/1.0.0.yaml",
        "name: summarize\nversion: 1.0.0\nmodel: echo/echo\ntemplate: hi!\n",
    )
    assert load_prompt(a).digest == load_prompt(b).digest
    assert load_prompt(a).digest != load_prompt(c).digest
    assert load_prompt(a).digest == canonical_digest(
        {"name": "summarize", "version": "1.0.0", "model": "echo/echo", "template": "hi"}
    )


def test_short_version_file_agrees_with_full(write: Write) -> None:
    path = write(
        "p/summarize/2.0.yaml", "name: summarize\nversion: '2.0'\nmodel: echo/echo\ntemplate: hi\n"
    )
    assert load_prompt(path).version == "2.0.0"
    path = write(
        "p/summarize/2.1.0.yaml",
        "name: summarize\nversion: '2.1'\nmodel: echo/echo\ntemplate: hi\n",
    )
    assert load_prompt(path).version == "2.1.0"


def test_version_and_name_must_match_location(
    write: Write, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(
        "prompts/summarize/1.0.0.yaml",
        "name: other\nversion: 1.1.0\nmodel: echo/echo\ntemplate: hi\n",
    )
    with pytest.raises(SpecError) as exc:
        load_prompt(path)
    assert [str(p) for p in exc.value.problems] == [
        "prompts/summarize/1.0.0.yaml:2: version: 1.1.0 does not match the file name 1.0.0.yaml",
        "prompts/summarize/1.0.0.yaml:1: name: 'other' does not match the directory 'summarize'",
    ]
    # from a git tree the location is not checked
    assert parse_prompt(path.read_text(), path, check_location=False).version == "1.1.0"


def test_file_name_that_is_not_a_version(
    write: Write, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(
        "prompts/summarize/new.yaml",
        "name: summarize\nversion: 1.0.0\nmodel: echo/echo\ntemplate: hi\n",
    )
    with pytest.raises(SpecError) as exc:
        load_prompt(path)
    assert (
        str(exc.value)
        == "prompts/summarize/new.yaml: file name 'new.yaml' is not a version such as 1.0.0.yaml"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty file; expected a prompt mapping (name, version, ...)"),
        ("# nothing yet\n", "empty file; expected a prompt mapping (name, version, ...)"),
        ("- name: x\n- version: 1.0.0\n", "expected a mapping of fields, got a list"),
        ("just a string\n", "expected a mapping of fields, got a str"),
    ],
)
def test_prompt_file_that_is_not_a_mapping(
    write: Write, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write("prompts/x/1.0.0.yaml", content)
    with pytest.raises(SpecError) as exc:
        load_prompt(path)
    assert str(exc.value) == f"prompts/x/1.0.0.yaml:1: {message}"
