"""promptops.lint and ``promptops lint``: every problem in one run, as file:line: field: message.

The table BAD_FILES covers the bad inputs the CLI must survive; each is checked through both
``lint`` and ``render`` (exit 1, the exact located message, no traceback).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from conftest import assert_no_traceback, error_lines
from promptops.errors import Problem
from promptops.lint import lint
from promptops.project import Project

Write = Callable[..., Path]
Cli = Callable[..., Result]

HEAD = "name: bad\nversion: 1.0.0\nmodel: echo/echo\n"
BAD = "prompts/bad/1.0.0.yaml"


def problems(paths: list[Path] | None = None) -> list[str]:
    return [str(p) for p in lint(Project.find(), paths)]


# ------------------------------------------------------------------ the bad-input table

BAD_FILES: list[tuple[str, str | bytes, list[str]]] = [
    (
        "malformed-yaml",
        "name: bad\nversion: 1.0.0\nmodel: [echo/echo\ntemplate: hi\n",
        [f"{BAD}:4: invalid YAML: while parsing a flow sequence did not find expected ',' or ']'"],
    ),
    (
        "a-list",
        "- name: bad\n- version: 1.0.0\n",
        [f"{BAD}:1: expected a mapping of fields, got a list"],
    ),
    ("empty", "", [f"{BAD}:1: empty file; expected a prompt mapping (name, version, ...)"]),
    (
        "whitespace-only",
        "\n\n   \n",
        [f"{BAD}:1: empty file; expected a prompt mapping (name, version, ...)"],
    ),
    (
        "wrong-types",
        "name: bad\nversion: 1.0.0\nmodel:\n  id: echo/echo\n  params: {temperature: hot}\n"
        "inputs: 5\nfallbacks: openai/gpt-4o-2024-08-06\ntemplate: hi\n",
        [
            f"{BAD}:5: model.params.temperature: Input should be a valid number, unable to parse string as a number",
            f"{BAD}:7: fallbacks: Input should be a valid list",
            f"{BAD}:6: inputs: Input should be a valid dictionary",
        ],
    ),
    (
        "unknown-keys",
        HEAD + "temprature: 0.2\ntemplate: hi\nmessage: []\n",
        [
            f"{BAD}:4: temprature: unknown field (check the spelling; see `promptops schema`)",
            f"{BAD}:6: message: unknown field (check the spelling; see `promptops schema`)",
        ],
    ),
    (
        "invalid-semver",
        "name: bad\nversion: 1.0.x\nmodel: echo/echo\ntemplate: hi\n",
        [f"{BAD}:2: version: '1.0.x' is not a semantic version such as 1.2.0"],
    ),
    (
        "version-as-float",
        "name: bad\nversion: 1.0\nmodel: echo/echo\ntemplate: hi\n",
        [f'{BAD}:2: version: 1.0 is read as a number; quote it: version: "1.0.0"'],
    ),
    (
        "jinja-syntax-error",
        HEAD
        + "inputs: {x: string}\nmessages:\n  - role: user\n    content: |\n      Hello {{ x }}.\n"
        "      {% if x %}unclosed\n",
        [
            f"{BAD}:9: messages[0].content: template syntax error: Unexpected end of template. "
            "Jinja was looking for the following tags: 'elif' or 'else' or 'endif'. "
            "The innermost block that needs to be closed is 'if'."
        ],
    ),
    (
        "name-with-dotdot",
        "name: ../bad\nversion: 1.0.0\nmodel: echo/echo\ntemplate: hi\n",
        [
            f"{BAD}:1: name: '../bad' is not a valid prompt name: use lowercase letters, digits, '.', '_' "
            "and '-', starting with a letter or digit"
        ],
    ),
    (
        "non-utf8",
        (HEAD + "description: caf\xe9\ntemplate: hi\n").encode("latin-1"),
        [f"{BAD}:4: not valid UTF-8 (byte 0xe9); save the file as UTF-8"],
    ),
    (
        "duplicate-keys",
        HEAD + "template: hi\ndescription: x\ntemplate: ho\n",
        [f"{BAD}:6: invalid YAML: duplicate key 'template'"],
    ),
    (
        "version-mismatch",
        "name: bad\nversion: 1.1.0\nmodel: echo/echo\ntemplate: hi\n",
        [f"{BAD}:2: version: 1.1.0 does not match the file name 1.0.0.yaml"],
    ),
    (
        "name-mismatch",
        "name: good\nversion: 1.0.0\nmodel: echo/echo\ntemplate: hi\n",
        [f"{BAD}:1: name: 'good' does not match the directory 'bad'"],
    ),
    (
        "python-tag",
        HEAD + "template: !!python/object/apply:os.system ['touch pwned']\n",
        [
            f"{BAD}:4: invalid YAML: could not determine a constructor for the tag "
            "'tag:yaml.org,2002:python/object/apply:os.system'"
        ],
    ),
]


@pytest.mark.parametrize(
    ("content", "expected"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES]
)
def test_bad_prompt_file_lint(
    project: Path, write: Write, cli: Cli, content: str | bytes, expected: list[str]
) -> None:
    write(BAD, content)
    result = cli("lint")
    assert_no_traceback(result)
    assert result.exit_code == 1
    n = len(expected)
    assert error_lines(result) == [*expected, f"{n} problem{'s' if n != 1 else ''}"]
    assert result.stdout == ""
    # the same problems from the library, and when the file is linted alone
    assert problems() == expected
    assert problems([project / BAD]) == expected


@pytest.mark.parametrize(
    ("content", "expected"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES]
)
def test_bad_prompt_file_render(
    project: Path, write: Write, cli: Cli, content: str | bytes, expected: list[str]
) -> None:
    write(BAD, content)
    result = cli("render", "bad@1.0.0", "--var", "x=1")
    assert_no_traceback(result)
    assert result.exit_code == 1
    assert error_lines(result)[0] == expected[0]
    assert result.stdout == ""


def test_python_tag_was_not_executed(project: Path, write: Write, cli: Cli) -> None:
    write(BAD, HEAD + "template: !!python/object/apply:os.system ['touch pwned']\n")
    cli("lint")
    cli("render", "bad@1")
    assert not (project / "pwned").exists()


def test_utf8_bom_is_fine(project: Path, write: Write, cli: Cli) -> None:
    write(BAD, b"\xef\xbb\xbf" + (HEAD + "inputs: {x: string}\ntemplate: 'x={{ x }}'\n").encode())
    result = cli("lint")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "ok: 4 prompt files, no problems\n"
    result = cli("render", "bad@1.0", "--var", "x=1", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["messages"] == [{"role": "user", "content": "x=1"}]


def test_sandbox_escape_is_a_render_error_not_a_lint_crash(
    project: Path, write: Write, cli: Cli
) -> None:
    write(BAD, HEAD + "template: \"{{ ''.__class__.__mro__ }}\"\n")
    assert problems() == []  # valid syntax; the sandbox stops it at render time
    result = cli("render", "bad@1")
    assert_no_traceback(result)
    assert result.exit_code == 1
    assert error_lines(result) == [
        f"{BAD}:4: template: blocked by the sandbox: access to attribute '__class__' of 'str' object is unsafe."
    ]
    assert "object" not in result.stdout


# ------------------------------------------------------------------ a clean project


def test_fixture_project_is_clean(project: Path, cli: Cli) -> None:
    assert problems() == []
    result = cli("lint")
    assert result.exit_code == 0
    assert result.stdout == "ok: 3 prompt files, no problems\n"
    assert result.stderr == ""


def test_every_problem_in_one_run(project: Path, write: Write, cli: Cli) -> None:
    write(
        "prompts/a/1.0.0.yaml", "name: a\nversion: 1.1.0\nmodel: gpt-4o\ntemplate: '{{ nope }}'\n"
    )
    write(
        "prompts/b/1.0.0.yaml",
        "name: b\nversion: 1.0.0\nmodel: echo/echo\ntemplate: hi\nbogus: 1\n",
    )
    write(
        "evals/summarize.jsonl",
        '{"id": "x", "vars": {"document": "d"}}\n{"id": "x", "vars": {"document": "e"}}\n',
    )
    write(
        "registry.yaml",
        "environments: [dev, prod]\nprompts:\n  summarize:\n    dev: {version: 4.0.0, digest: 'sha256:0000000000000000000000000000000000000000000000000000000000000000'}\n",
    )
    result = cli("lint")
    assert result.exit_code == 1
    assert error_lines(result) == [
        "prompts/a/1.0.0.yaml:2: version: 1.1.0 does not match the file name 1.0.0.yaml",
        "prompts/a/1.0.0.yaml:3: model.id: 'gpt-4o' is an alias; pin a dated version such as "
        "'gpt-4o-YYYY-MM-DD' (or list self-hosted names under allow_unpinned in promptops.yaml)",
        "prompts/a/1.0.0.yaml:4: template: template variable 'nope' is not declared under inputs",
        "prompts/b/1.0.0.yaml:5: bogus: unknown field (check the spelling; see `promptops schema`)",
        "evals/summarize.jsonl:2: id: duplicate case id 'x' (first on line 1)",
        "registry.yaml:4: prompts.summarize.dev: summarize 4.0.0 does not exist (versions: 1.0.0, 1.1.0, 2.0.0)",
        "6 problems",
    ]


def test_lint_json_format(project: Path, write: Write, cli: Cli) -> None:
    write("prompts/a/1.0.0.yaml", "name: a\nversion: 1.0.0\nmodel: gpt-4o\ntemplate: hi\n")
    result = cli("lint", "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert [(d["path"], d["line"], d["field"], d["severity"]) for d in data] == [
        ("prompts/a/1.0.0.yaml", 3, "model.id", "error")
    ]
    clean = cli("lint", "prompts/summarize", "--format", "json")
    assert (clean.exit_code, json.loads(clean.stdout)) == (0, [])


def test_lint_usage_errors(project: Path, cli: Cli) -> None:
    result = cli("lint", "--format", "xml")
    assert result.exit_code == 2
    assert "'xml' is not one of 'text', 'json'" in error_lines(result)[-1]
    assert cli("lint", "--bogus").exit_code == 2


# ------------------------------------------------------------------ pinning


def test_unpinned_models_everywhere(project: Path, write: Write) -> None:
    write(
        "prompts/p/1.0.0.yaml",
        """\
        name: p
        version: 1.0.0
        model: {id: claude-3-5-sonnet}
        fallbacks:
          - openai/gpt-4o-2024-08-06
          - anthropic/claude-3-5-sonnet-latest
        inputs: {x: string}
        template: '{{ x }}'
        assert:
          - {type: llm-rubric, value: is polite, judge: gpt-4o}
        """,
    )
    found = problems()
    # the installed litellm's list no longer has claude-3-5-sonnet (retired): unknown, with
    # the closest ids it does have, rather than advice to date it
    assert found[0].startswith(
        "prompts/p/1.0.0.yaml:3: model.id: unknown model 'claude-3-5-sonnet': not among models "
        "litellm can route without a provider in the installed litellm's list; did you mean '"
    )
    assert found[1:] == [
        "prompts/p/1.0.0.yaml:6: fallbacks[1]: 'anthropic/claude-3-5-sonnet-latest' is an alias that moves; "
        "pin a dated version",
        "prompts/p/1.0.0.yaml:10: assert[0].judge: 'gpt-4o' is an alias; pin a dated version such as "
        "'gpt-4o-YYYY-MM-DD' (or list self-hosted names under allow_unpinned in promptops.yaml)",
    ]


def test_allow_unpinned_globs_from_promptops_yaml(project: Path, write: Write) -> None:
    write(
        "prompts/p/1.0.0.yaml",
        "name: p\nversion: 1.0.0\nmodel: ollama/llama3\nfallbacks: [hosted_vllm/mine, gpt-4o]\ntemplate: hi\n",
    )
    assert [p.split(": ")[1] for p in problems()] == ["model.id", "fallbacks[0]", "fallbacks[1]"]
    write("promptops.yaml", "allow_unpinned: ['ollama/*', hosted_vllm/mine]\n")
    assert problems() == [
        "prompts/p/1.0.0.yaml:4: fallbacks[1]: 'gpt-4o' is an alias; pin a dated version such as "
        "'gpt-4o-YYYY-MM-DD' (or list self-hosted names under allow_unpinned in promptops.yaml)"
    ]


def test_bad_promptops_yaml_is_reported(project: Path, write: Write, cli: Cli) -> None:
    write("promptops.yaml", "allow_unpined: ['ollama/*']\n")
    result = cli("lint")
    assert_no_traceback(result)
    assert result.exit_code == 1
    assert error_lines(result)[0] == (
        "promptops.yaml:1: allow_unpined: unknown field (check the spelling; see `promptops schema`)"
    )


# ------------------------------------------------------------------ template variables vs inputs


def test_undeclared_and_unused_inputs(project: Path, write: Write) -> None:
    write(
        "prompts/p/1.0.0.yaml",
        """\
        name: p
        version: 1.0.0
        model: echo/echo
        inputs:
          used: string
          unused: string
          in_assertion: string
        messages:
          - role: system
            content: "{{ used }} {{ tone }}"
          - role: user
            content: "{% for item in items %}{{ item }}{% endfor %}"
        assert:
          - {type: icontains, value: "{{ in_assertion }}"}
        """,
    )
    assert problems() == [
        "prompts/p/1.0.0.yaml:10: messages[0].content: template variable 'tone' is not declared under inputs",
        "prompts/p/1.0.0.yaml:12: messages[1].content: template variable 'items' is not declared under inputs",
        "prompts/p/1.0.0.yaml:6: inputs.unused: declared but never used in a template or assertion",
    ]


def test_syntax_error_does_not_claim_inputs_unused(project: Path, write: Write) -> None:
    write(
        "prompts/p/1.0.0.yaml",
        "name: p\nversion: 1.0.0\nmodel: echo/echo\ninputs: {x: string}\ntemplate: '{{ x }'\n",
    )
    assert problems() == ["prompts/p/1.0.0.yaml:5: template: template syntax error: unexpected '}'"]


def test_misnamed_file_is_still_checked_for_everything_else(project: Path, write: Write) -> None:
    write("prompts/p/1.0.0.yaml", "name: q\nversion: 1.0.0\nmodel: gpt-4o\ntemplate: hi\n")
    got = problems()
    assert got[0] == "prompts/p/1.0.0.yaml:1: name: 'q' does not match the directory 'p'"
    assert got[1].startswith("prompts/p/1.0.0.yaml:3: model.id: 'gpt-4o' is an alias")
    assert len(got) == 2


def test_assertion_config_problems(project: Path, write: Write) -> None:
    write(
        "prompts/p/1.0.0.yaml",
        """\
        name: p
        version: 1.0.0
        model: echo/echo
        template: hi
        assert:
          - {type: max-words, value: many}
          - {type: regex, value: "("}
        """,
    )
    got = problems()
    assert got[0] == "prompts/p/1.0.0.yaml:6: assert[0]: value must be a whole number, got 'many'"
    assert got[1].startswith("prompts/p/1.0.0.yaml:7: assert[1]: invalid regex '('")
    assert len(got) == 2


def test_two_files_for_one_version(project: Path, write: Write) -> None:
    text = (project / "prompts/summarize/2.0.0.yaml").read_text()
    write("prompts/summarize/2.0.yaml", text)
    assert (
        "prompts/summarize/2.0.yaml: same version 2.0.0 as 2.0.0.yaml; keep one file" in problems()
    )


def test_python_assertion_reference_is_checked_without_running_it(
    project: Path, write: Write
) -> None:
    write(
        "prompts/p/1.0.0.yaml",
        """\
        name: p
        version: 1.0.0
        model: echo/echo
        template: hi
        assert:
          - {type: python, value: "checks/missing.py:f"}
          - {type: python, value: "checks.py:nope"}
          - {type: python, value: "checks.py:ok"}
        """,
    )
    write(
        "checks.py",
        "raise SystemExit('never imported by lint')\ndef ok(output, ctx):\n    return True\n",
    )
    assert problems() == [
        "prompts/p/1.0.0.yaml:6: assert[0]: checks/missing.py: no such file "
        "(paths are relative to the project root)",
        "prompts/p/1.0.0.yaml:7: assert[1]: checks.py defines no function 'nope' (functions: ok)",
    ]


def test_inline_test_vars_checked(project: Path, write: Write) -> None:
    write(
        "prompts/p/1.0.0.yaml",
        """\
        name: p
        version: 1.0.0
        model: echo/echo
        inputs: {n: integer}
        template: '{{ n }}'
        tests:
          - id: ok
            vars: {n: 1}
          - id: bad
            vars: {n: "one", m: 2}
        """,
    )
    assert problems() == [
        "prompts/p/1.0.0.yaml:10: tests[1].vars: unknown variable 'm' (inputs of p@1.0.0: n)",
        "prompts/p/1.0.0.yaml:10: tests[1].vars: input 'n' must be integer, got str",
    ]


# ------------------------------------------------------------------ datasets


def test_dataset_missing(project: Path, write: Write) -> None:
    write(
        "prompts/p/1.0.0.yaml",
        "name: p\nversion: 1.0.0\nmodel: echo/echo\ntemplate: hi\ndataset: evals/nope.jsonl\n",
    )
    assert problems() == ["prompts/p/1.0.0.yaml:5: dataset: evals/nope.jsonl does not exist"]


def test_dataset_every_bad_line_once(project: Path, write: Write) -> None:
    lines = [
        '{"id": "a", "vars": {"document": "x"}}',  # 1 ok
        '{"id": "a", "vars": {"document": "y"}}',  # 2 duplicate id
        "",  # 3 blank: skipped
        "not json",  # 4
        "[1, 2]",  # 5
        '{"id": "c", "vars": {"document": "z"}, "expect": 1}',  # 6 unknown key
        '{"vars": {"document": "z"}}',  # 7 no id
        '{"id": "d", "vars": {"document": 5}}',  # 8 wrong type
        '{"id": "e", "vars": {"max_words": 5}}',  # 9 missing document
        '{"id": "f", "vars": {"document": "x", "tone": "dry"}}',  # 10 unknown var
        '{"id": "g", "vars": {"document": "{{ 7 * 7 }} {% if %}"}}',  # 11 Jinja in a value is fine
    ]
    write("evals/summarize.jsonl", "\n".join(lines) + "\n")
    ds = "evals/summarize.jsonl"
    expected = [
        f"{ds}:2: id: duplicate case id 'a' (first on line 1)",
        f"{ds}:4: invalid JSON at column 1: Expecting value",
        f"{ds}:5: expected a JSON object, got list",
        f"{ds}:6: expect: unknown field (check the spelling; see `promptops schema`)",
        f"{ds}:7: id: required field is missing",
        f"{ds}:8: vars: input 'document' must be string, got int",
        f"{ds}:9: vars: missing required input 'document'",
        f"{ds}:10: vars: unknown variable 'tone' (inputs of summarize@1.0.0: document, max_words)",
    ]
    got = problems()
    # three versions share the dataset: each problem once, except those naming the version
    assert got[: len(expected)] == expected
    assert got[len(expected) :] == [
        f"{ds}:10: vars: unknown variable 'tone' (inputs of summarize@1.1.0: document, max_words)",
        f"{ds}:10: vars: unknown variable 'tone' (inputs of summarize@2.0.0: document, max_words)",
    ]


def test_dataset_linted_directly(project: Path, write: Write, cli: Cli) -> None:
    write("evals/other.jsonl", b'{"id": "a"}\n{"id": "b", "vars": {"x": "caf\xe9"}}\n{"id": "a"}\n')
    result = cli("lint", "evals/other.jsonl")
    assert result.exit_code == 1
    assert error_lines(result) == [
        "evals/other.jsonl:2: not valid UTF-8",
        "evals/other.jsonl:3: id: duplicate case id 'a' (first on line 1)",
        "2 problems",
    ]


def test_lint_paths_limit_the_run(project: Path, write: Write, cli: Cli) -> None:
    write("prompts/a/1.0.0.yaml", "name: a\nversion: 1.0.0\nmodel: gpt-4o\ntemplate: hi\n")
    write(
        "registry.yaml",
        "environments: [dev]\nprompts: {summarize: {dev: {version: 9.0.0, digest: 'sha256:0000000000000000000000000000000000000000000000000000000000000000'}}}\n",
    )
    only = cli("lint", "prompts/summarize/2.0.0.yaml")
    assert only.exit_code == 0
    result = cli("lint", "prompts/a")
    assert result.exit_code == 1
    assert len(error_lines(result)) == 2  # the alias, and the count; not the registry
    result = cli("lint", "registry.yaml")
    assert error_lines(result)[0].startswith(
        "registry.yaml:2: prompts.summarize.dev: summarize 9.0.0 does not exist"
    )
    missing = cli("lint", "prompts/nope/1.0.0.yaml")
    assert missing.exit_code == 1
    assert error_lines(missing)[0] == "prompts/nope/1.0.0.yaml: no such file"


def test_stray_yaml_under_prompts(project: Path, write: Write) -> None:
    write("prompts/notes.yaml", "a: 1\n")
    got = problems()
    assert got[0] == "prompts/notes.yaml:1: name: required field is missing"


# ------------------------------------------------------------------ registry


def test_registry_digest_mismatch(project: Path, write: Write) -> None:
    path = project / "prompts/summarize/1.0.0.yaml"
    path.write_text(path.read_text().replace("a few words", "few words"))
    got = problems()
    assert len(got) == 1
    assert got[0].startswith(
        "registry.yaml:6: prompts.summarize.prod.digest: summarize 1.0.0 was edited after promotion (file sha256:"
    )
    assert got[0].endswith("released versions are immutable: bump the version")


def test_registry_formatting_only_edit_is_not_a_change(project: Path) -> None:
    path = project / "prompts/summarize/1.0.0.yaml"
    path.write_text(
        "# a comment\n"
        + path.read_text().replace(
            "  params: {temperature: 0, max_tokens: 200}",
            "  params:\n    temperature: 0\n    max_tokens: 200",
        )
    )
    assert problems() == []


def test_registry_problems_located(project: Path, write: Write) -> None:
    write(
        "registry.yaml",
        """\
        environments: [dev, staging, prod]
        prompts:
          summarize:
            dev: {version: 3.0.0, digest: "sha256:0000000000000000000000000000000000000000000000000000000000000000"}
            staging:
              version: 1.0.0
              digest: "sha256:0000000000000000000000000000000000000000000000000000000000000000"
              canary: {version: 2.5.0, digest: "sha256:0000000000000000000000000000000000000000000000000000000000000000", weight: 10}
            qa: {version: 1.0.0, digest: "sha256:0000000000000000000000000000000000000000000000000000000000000000"}
        """,
    )
    got = problems()
    assert got == [
        "registry.yaml:9: prompts.summarize.qa: unknown environment; declared: dev, staging, prod"
    ]
    write(
        "registry.yaml",
        """\
        environments: [dev, staging, prod]
        prompts:
          summarize:
            dev: {version: 3.0.0, digest: "sha256:0000000000000000000000000000000000000000000000000000000000000000"}
            staging:
              version: 2.0.0
              digest: "sha256:0000000000000000000000000000000000000000000000000000000000000000"
              canary: {version: 2.5.0, digest: "sha256:0000000000000000000000000000000000000000000000000000000000000000", weight: 10}
        """,
    )
    got = problems()
    assert (
        got[0]
        == "registry.yaml:4: prompts.summarize.dev: summarize 3.0.0 does not exist (versions: 1.0.0, 1.1.0, 2.0.0)"
    )
    assert got[1].startswith(
        "registry.yaml:7: prompts.summarize.staging.digest: summarize 2.0.0 was edited"
    )
    assert got[2] == (
        "registry.yaml:8: prompts.summarize.staging.canary: summarize 2.5.0 does not exist (versions: 1.0.0, 1.1.0, 2.0.0)"
    )
    assert len(got) == 3


@pytest.mark.parametrize("env", ["'1.0'", "'2'", "latest", "v3"])
def test_registry_environment_named_like_a_version(
    project: Path, write: Write, cli: Cli, env: str
) -> None:
    write("registry.yaml", f"environments:\n  - dev\n  - {env}\nprompts: {{}}\n")
    result = cli("lint")
    assert result.exit_code == 1
    shown = env.strip("'")
    assert error_lines(result) == [
        f"registry.yaml:1: environments: environment name '{shown}' would read as a version in refs",
        "1 problem",
    ]


def test_registry_that_is_not_a_mapping(project: Path, write: Write, cli: Cli) -> None:
    write("registry.yaml", "- dev\n- prod\n")
    result = cli("lint")
    assert_no_traceback(result)
    assert (
        error_lines(result)[0]
        == "registry.yaml:1: expected a mapping with 'environments' and 'prompts'"
    )


def test_problem_str() -> None:
    assert str(Problem("a.yaml", 3, "model.id", "bad")) == "a.yaml:3: model.id: bad"
    assert str(Problem("a.yaml", None, None, "bad")) == "a.yaml: bad"


def test_provider_prefix_and_local_name_typos_get_the_closest_id(
    project: Path, write: Write, cli: Cli
) -> None:
    text = (project / "prompts/summarize/2.0.0.yaml").read_text()
    write("prompts/summarize/2.0.0.yaml", text.replace("echo/echo", "opneai/gpt-4o-2024-08-06"))
    write(
        "prompts/summarize/1.1.0.yaml",
        (project / "prompts/summarize/1.1.0.yaml").read_text().replace("echo/echo", "local/gema"),
    )
    result = cli("lint")
    assert result.exit_code == 1
    assert (
        "prompts/summarize/2.0.0.yaml:6: model.id: unknown provider 'opneai' in "
        "'opneai/gpt-4o-2024-08-06'; did you mean 'openai/gpt-4o-2024-08-06'?"
    ) in result.stderr
    assert "unknown local model 'local/gema': use 'local/gemma-3-270m'" in result.stderr


def test_dataset_assertions_that_would_fail_at_eval(project: Path, write: Write, cli: Cli) -> None:
    """A case's own assertions get the checks a prompt's get (promptfoo imports put most of
    them in the dataset)."""
    write(
        "prompts/ds/1.0.0.yaml",
        """\
        name: ds
        version: 1.0.0
        model: {id: echo/echo}
        inputs: {q: {type: string}}
        template: "{{ q }}"
        dataset: evals/ds.jsonl
        """,
    )
    rows = [
        {"type": "contains-json", "value": "not a schema"},
        {"type": "llm-rubric", "value": {"a": 1}, "judge": "openai/gpt-4o-2024-08-06"},
        {"type": "python", "value": "missing.py:f"},
        {"type": "regex", "value": "(?<id>\\\\d+)"},
        {"type": "contains", "value": "x", "threshold": "high"},
    ]
    write(
        "evals/ds.jsonl",
        "".join(
            json.dumps({"id": f"c{i}", "vars": {"q": "x"}, "assert": [a]}) + "\n"
            for i, a in enumerate(rows)
        ),
    )
    result = cli("lint", "prompts/ds/1.0.0.yaml")
    assert_no_traceback(result)
    assert result.exit_code == 1
    lines = error_lines(result)
    assert any(
        ln.startswith("evals/ds.jsonl:1: assert[0]: value must be a JSON Schema") for ln in lines
    )
    assert any(
        ln.startswith("evals/ds.jsonl:2: assert[0]: value must be the rubric as text")
        for ln in lines
    )
    assert any(
        ln.startswith("evals/ds.jsonl:3: assert[0]: missing.py: no such file") for ln in lines
    )
    assert any(ln.startswith("evals/ds.jsonl:4: assert[0]: invalid regex") for ln in lines)
    assert any(ln.startswith("evals/ds.jsonl:5: assert[0].threshold:") for ln in lines)
