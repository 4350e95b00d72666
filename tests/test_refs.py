"""promptops.refs (and promptops.versions): parsing and resolving prompt references."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from promptops.errors import RefError, SpecError
from promptops.project import Project
from promptops.refs import Ref, parse_ref, resolve, resolve_version
from promptops.versions import is_major_only, is_version, normalize, parse_version

Write = Callable[..., Path]


def add_version(write: Write, version: str, name: str = "summarize") -> Path:
    return write(
        f"prompts/{name}/{version}.yaml",
        f"name: {name}\nversion: {version}\nmodel: echo/echo\ninputs: {{document: string}}\n"
        "template: '{{ document }}'\n",
    )


# ------------------------------------------------------------------ versions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2", "2.0.0"),
        ("2.0", "2.0.0"),
        ("2.0.0", "2.0.0"),
        ("v2.1", "2.1.0"),
        (" 1.2.3 ", "1.2.3"),
        ("1.0.0-rc.1+b5", "1.0.0-rc.1+b5"),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected
    assert is_version(text)


@pytest.mark.parametrize("text", ["prod", "latest", "1.0.0.0", "01.2", "1.x", "", "v", "2.0-"])
def test_not_versions(text: str) -> None:
    assert not is_version(text)
    with pytest.raises(ValueError):
        parse_version(text)


def test_versions_sort_numerically() -> None:
    assert parse_version("1.10.0") > parse_version("1.9.0")
    assert parse_version("2.0.0-rc.1") < parse_version("2.0.0")


def test_is_major_only() -> None:
    assert is_major_only("2") and is_major_only("v10")
    assert not is_major_only("2.0") and not is_major_only("02")


# ------------------------------------------------------------------ parse_ref


@pytest.mark.parametrize(
    ("text", "name", "kind", "selector", "base"),
    [
        ("summarize@2.0", "summarize", "exact", "2.0.0", None),
        ("summarize@2.0.0", "summarize", "exact", "2.0.0", None),
        ("summarize@v2.0.1", "summarize", "exact", "2.0.1", None),
        ("summarize@2", "summarize", "major", "2", None),
        ("summarize@latest", "summarize", "latest", "latest", None),
        ("summarize", "summarize", "latest", "latest", None),
        ("summarize@prod", "summarize", "env", "prod", None),
        ("prompts/summarize@2.0", "summarize", "exact", "2.0.0", Path("prompts")),
        ("prompts/summarize", "summarize", "latest", "latest", Path("prompts")),
        ("prompts/summarize/2.0.0.yaml", "summarize", "file", "prompts/summarize/2.0.0.yaml", None),
    ],
)
def test_parse_ref(text: str, name: str, kind: str, selector: str, base: Path | None) -> None:
    ref = parse_ref(text)
    assert (ref.name, ref.kind, ref.selector, ref.base) == (name, kind, selector, base)
    assert str(ref) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty prompt reference; expected NAME@VERSION, NAME@ENV or a file path"),
        ("   ", "empty prompt reference; expected NAME@VERSION, NAME@ENV or a file path"),
        (
            "summarize@",
            "'summarize@': nothing after '@'; expected a version, 'latest' or an environment",
        ),
        (
            "summarize@1.0.0.0",
            "'summarize@1.0.0.0': '1.0.0.0' is not a valid version (expected e.g. 2.0.0)",
        ),
        ("summarize@2.x", "'summarize@2.x': '2.x' is not a valid version (expected e.g. 2.0.0)"),
        ("Summarize@1", "'Summarize@1': 'Summarize' is not a valid prompt name"),
        ("..@1", "'..@1': '..' is not a valid prompt name"),
        ("sum..mary@1", "'sum..mary@1': 'sum..mary' is not a valid prompt name"),
        ("prompts/..@1", "'prompts/..@1': '..' is not a valid prompt name"),
        ("@1.0", "'@1.0': '' is not a valid prompt name"),
    ],
)
def test_parse_ref_errors(text: str, message: str) -> None:
    with pytest.raises(RefError) as exc:
        parse_ref(text)
    assert str(exc.value) == message


# ------------------------------------------------------------------ resolve


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("summarize@1.0", "1.0.0"),
        ("summarize@1.1.0", "1.1.0"),
        ("summarize@1", "1.1.0"),
        ("summarize@2", "2.0.0"),
        ("summarize@latest", "2.0.0"),
        ("summarize", "2.0.0"),
        ("summarize@prod", "1.0.0"),
        ("prompts/summarize@2.0", "2.0.0"),
        ("prompts/summarize@1", "1.1.0"),
        ("prompts/summarize/1.1.0.yaml", "1.1.0"),
        ("./prompts/summarize/1.0.0.yaml", "1.0.0"),
    ],
)
def test_resolve_in_fixture_project(project: Path, text: str, version: str) -> None:
    pv = resolve(text, Project.find())
    assert pv.version == version
    assert pv.path == project / "prompts" / "summarize" / f"{version}.yaml"


def test_resolve_absolute_path(project: Path) -> None:
    path = project / "prompts/summarize/2.0.0.yaml"
    assert resolve(str(path), Project.find()).version == "2.0.0"


def test_major_and_latest_use_semver_order_not_text_order(project: Path, write: Write) -> None:
    for v in ("2.9.0", "2.10.0", "2.10.1-rc.1", "10.0.0"):
        add_version(write, v)
    p = Project.find()
    assert resolve("summarize@2", p).version == "2.10.1-rc.1"
    assert resolve("summarize@latest", p).version == "10.0.0"
    assert resolve("summarize@10", p).version == "10.0.0"


def test_resolve_from_a_subdirectory(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project / "evals")
    p = Project.find()
    assert p.root == project
    assert resolve("summarize@prod", p).version == "1.0.0"


def test_short_file_name_resolves(project: Path, write: Write) -> None:
    write("prompts/short/3.1.yaml", "name: short\nversion: '3.1'\nmodel: echo/echo\ntemplate: hi\n")
    p = Project.find()
    assert resolve("short@3.1.0", p).version == "3.1.0"
    assert resolve("short@3", p).path.name == "3.1.yaml"


def test_yml_extension(project: Path, write: Write) -> None:
    write(
        "prompts/other/1.0.0.yml", "name: other\nversion: 1.0.0\nmodel: echo/echo\ntemplate: hi\n"
    )
    assert resolve("other@1.0", Project.find()).path.name == "1.0.0.yml"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "summarize@9",
            "summarize@9: no 9.x.y version; versions of summarize: 1.0.0, 1.1.0, 2.0.0",
        ),
        (
            "summarize@1.2",
            "summarize@1.2: version 1.2.0 not found; versions of summarize: 1.0.0, 1.1.0, 2.0.0",
        ),
        ("nope@1.0", "nope@1.0: version 1.0.0 not found; prompts: summarize"),
        ("nope", "nope: no versions found; prompts: summarize"),
        (
            "summarize@staging",
            "summarize@staging: summarize has no version active in staging; active in: prod",
        ),
        (
            "summarize@qa",
            "summarize@qa: 'qa' is neither a version nor an environment; environments: dev, staging, prod",
        ),
        ("prompts/summarize/9.0.0.yaml", "prompts/summarize/9.0.0.yaml: no such file"),
        ("nope@prod", "nope@prod: nope has no version active in prod"),
    ],
)
def test_unresolvable_refs_list_what_exists(project: Path, text: str, message: str) -> None:
    with pytest.raises(RefError) as exc:
        resolve(text, Project.find())
    assert str(exc.value) == message
    assert exc.value.exit_code == 1


def test_no_prompts_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RefError) as exc:
        resolve("summarize@1", Project.find())
    assert (
        str(exc.value)
        == f"summarize@1: no 1.x.y version; prompts: none under {tmp_path.resolve() / 'prompts'}"
    )


def test_registry_pointing_at_missing_version(project: Path, write: Write) -> None:
    write(
        "registry.yaml",
        """\
        environments: [dev, staging, prod]
        prompts:
          summarize:
            dev: {version: 3.0.0, digest: "sha256:0000000000000000000000000000000000000000000000000000000000000000"}
        """,
    )
    with pytest.raises(RefError) as exc:
        resolve("summarize@dev", Project.find())
    assert str(exc.value) == (
        "summarize@dev: registry.yaml points at summarize 3.0.0, which does not exist; "
        "versions of summarize: 1.0.0, 1.1.0, 2.0.0"
    )


def test_custom_environments(project: Path, write: Write) -> None:
    write(
        "registry.yaml",
        """\
        environments: [canary-eu, Prod_2]
        prompts:
          summarize:
            canary-eu: {version: "1.1", digest: "sha256:0000000000000000000000000000000000000000000000000000000000000000"}
            Prod_2: {version: 2.0.0, digest: "sha256:0000000000000000000000000000000000000000000000000000000000000000"}
        """,
    )
    p = Project.find()
    assert resolve("summarize@canary-eu", p).version == "1.1.0"
    assert resolve("summarize@Prod_2", p).version == "2.0.0"


def test_environment_named_like_a_version_is_refused(project: Path, write: Write) -> None:
    write("registry.yaml", "environments: [dev, '2.0', prod]\nprompts: {}\n")
    with pytest.raises(SpecError) as exc:
        resolve("summarize@prod", Project.find())
    assert (
        str(exc.value)
        == "registry.yaml:1: environments: environment name '2.0' would read as a version in refs"
    )


def test_missing_registry_is_an_empty_one(project: Path) -> None:
    (project / "registry.yaml").unlink()
    with pytest.raises(RefError, match="summarize has no version active in prod"):
        resolve("summarize@prod", Project.find())


def test_resolve_version_does_not_parse_the_file(project: Path, write: Write) -> None:
    write("prompts/summarize/3.0.0.yaml", "not: [valid\n")
    ref = parse_ref("summarize@3")
    assert resolve_version(ref, Project.find()) == (
        "3.0.0",
        project / "prompts/summarize/3.0.0.yaml",
    )
    with pytest.raises(SpecError, match=r"prompts/summarize/3\.0\.0\.yaml:2: invalid YAML"):
        resolve("summarize@3", Project.find())


def test_ref_is_hashable_value() -> None:
    assert parse_ref("summarize@2.0") == Ref("summarize@2.0", "summarize", "exact", "2.0.0")
