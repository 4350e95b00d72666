"""``promptops import promptfoo``: fixtures in promptfoo's documented format convert, the report
names exactly what did not, and the converted project lints and evals (echo provider and the
loopback server)."""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result

from conftest import assert_no_traceback
from promptops.importers import promptfoo_vars
from promptops.importers.promptfoo import assertion_from_string, model_id
from promptops.testing.server import FakeOpenAI, Reply, Request
from promptops.testing.tools import tool_reply

Cli = Callable[..., Result]
FIXTURES = Path(__file__).parent / "fixtures" / "promptfoo"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    """The judge and the tool-calling model: every openai/ call goes to the loopback server."""

    def responder(request: Request) -> Any:
        if request.body.get("tools"):
            city = request.text.split(" in ")[-1].rstrip("?")
            if city == "Oslo":
                return tool_reply(("get_weather", {"town": city}))  # invalid against the schema
            return tool_reply(("get_weather", {"city": city}))
        return Reply('{"score": 1, "reason": "fine"}')

    with FakeOpenAI(responder) as s:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_API_BASE", s.url)
        yield s


@pytest.fixture(autouse=True)
def _no_expansion_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    """promptfoo's environment switch would change what these tests convert."""
    monkeypatch.delenv("PROMPTFOO_DISABLE_VAR_EXPANSION", raising=False)


def _copy(project: Path, name: str) -> Path:
    dest = project / "pf" / name
    shutil.copytree(FIXTURES / name, dest)
    return dest / "promptfooconfig.yaml"


def test_translate_fixture_converts_and_reports(project: Path, cli: Cli) -> None:
    config = _copy(project, "translate")
    result = cli("import", "promptfoo", str(config), "-f", "json")
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["name"] == "translate" and data["versions"] == ["1.0.0", "1.1.0"]
    # the second provider has its own config (temperature 0): one prompt per provider, and
    # the import says how to evaluate them all
    assert data["models"] == ["echo/echo", "openai/gpt-4o-mini-2024-07-18"]
    other = "translate-gpt-4o-mini-2024-07-18"
    assert data["prompts"] == ["translate", other]
    assert data["notes"][-1].endswith(
        f"promptops eval translate@1.0.0 translate@1.1.0 {other}@1.0.0 {other}@1.1.0"
    )
    assert data["cases"] == 5
    assert data["files"] == [
        "prompts/translate/1.0.0.yaml",
        "prompts/translate/1.1.0.yaml",
        f"prompts/{other}/1.0.0.yaml",
        f"prompts/{other}/1.1.0.yaml",
        "evals/translate.jsonl",
    ]
    pinned = yaml.safe_load((project / f"prompts/{other}/1.1.0.yaml").read_text())
    assert pinned["model"] == {  # max_tokens: what promptfoo's OpenAI provider sends unset
        "id": "openai/gpt-4o-mini-2024-07-18",
        "params": {"temperature": 0, "max_tokens": 1024},
    }
    assert pinned["dataset"] == "evals/translate.jsonl"
    cfg = "pf/translate/promptfooconfig.yaml"
    assert data["not_converted"] == [
        f"{cfg}:7: prompts[2]: file://prompts/generate.py: a prompt function (code that builds "
        "the prompt per case) is not converted; write its output as a template",
    ]
    cases = [json.loads(x) for x in (project / "evals/translate.jsonl").read_text().splitlines()]
    by_id = {c["id"]: c for c in cases}
    # file:// vars are read; latency's threshold became its value; CSV __expected columns parsed
    assert by_id["german-long-text"]["vars"]["input"].startswith("It will rain all week")
    assert {"type": "latency", "value": 5000} in by_id["french-greeting"]["assert"]
    assert by_id["italian-morning"]["assert"][1] == {
        "type": "icontains-any",
        "value": ["italian", "ITALIAN"],
    }
    rubric = by_id["case-3"]["assert"][1]
    assert rubric["judge"] == "openai/gpt-4o-2024-08-06"
    assert rubric["judge_prompt"] == "Grade {{ output }} against: {{ rubric }}"
    v0 = (project / "prompts/translate/1.0.0.yaml").read_text()
    assert "value: pf/translate/checks/short.py:get_assert" in v0  # from the project root
    v1 = (project / "prompts/translate/1.1.0.yaml").read_text()
    assert "role: system" in v1 and "tone" not in v1  # the chat prompt does not use tone


def test_translate_round_trip_lints_and_evals(project: Path, cli: Cli, server: FakeOpenAI) -> None:
    config = _copy(project, "translate")
    assert cli("import", "promptfoo", str(config)).exit_code == 0
    lint = cli("lint")
    assert lint.exit_code == 0, lint.output
    result = cli("eval", "translate@1.0.0", "translate@1.1.0", "-f", "json", "--fail-under", "0")
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    groups = json.loads(result.stdout)["groups"]
    # the German case fails its levenshtein check (echo's output is far from "Das Wetter"),
    # as in promptfoo
    assert [(g["passed"], g["n"]) for g in groups] == [(4, 5), (4, 5)]
    assert server.calls == 2  # the llm-rubric judge, once per version
    diff = cli("diff", "translate@1.0.0", "translate@1.1.0")
    assert diff.exit_code == 0, diff.output


def test_tools_fixture_round_trip(project: Path, cli: Cli, server: FakeOpenAI) -> None:
    config = _copy(project, "tools")
    result = cli("import", "promptfoo", str(config))
    assert result.exit_code == 0, result.output
    assert "everything converted" in result.stdout
    assert cli("lint").exit_code == 0
    result = cli("eval", "weather-tools@1.0.0", "-f", "json", "--fail-under", "0")
    assert result.exit_code == 0, result.output
    run_id = json.loads(result.stdout)["run_id"]
    recs = [
        json.loads(x)
        for x in (project / ".promptops/runs" / run_id / "results.jsonl").read_text().splitlines()
    ]
    verdicts = {r["vars"]["city"]: r["pass"] for r in recs}
    assert verdicts == {"Paris": True, "Oslo": False}
    assert server.requests[0].body["tool_choice"] == "auto"


def test_refuses_to_overwrite(project: Path, cli: Cli) -> None:
    config = _copy(project, "tools")
    assert cli("import", "promptfoo", str(config)).exit_code == 0
    again = cli("import", "promptfoo", str(config))
    assert_no_traceback(again)
    assert (
        again.exit_code == 2 and "would overwrite prompts/weather-tools/1.0.0.yaml" in again.stderr
    )
    assert cli("import", "promptfoo", str(config), "--force").exit_code == 0
    missing = cli("import", "promptfoo", "nope.yaml")
    assert missing.exit_code == 2 and "nope.yaml: no such file" in missing.stderr


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai:gpt-4o-mini-2024-07-18", "openai/gpt-4o-mini-2024-07-18"),
        ("openai:chat:gpt-4o", "openai/gpt-4o"),
        ("openai:responses:gpt-4.1-2025-04-14", "openai/gpt-4.1-2025-04-14"),
        ("anthropic:messages:claude-3-5-sonnet-20241022", "anthropic/claude-3-5-sonnet-20241022"),
        ("vertex:gemini-2.0-flash-exp", "vertex_ai/gemini-2.0-flash-exp"),
        ("ollama:chat:llama3", "ollama_chat/llama3"),
        ("echo", "echo/echo"),
        ("cerebras:llama-3.3-70b", "cerebras/llama-3.3-70b"),
        ("xai:grok-3-fast", "xai/grok-3-fast"),
        ("replicate:meta/llama-2-7b-chat", "replicate/meta/llama-2-7b-chat"),
        ("huggingface:text-generation:gpt2", None),
        ("exec:./run.sh", None),
        ("file://provider.py", None),
    ],
)
def test_provider_ids(provider: str, model: str | None) -> None:
    assert model_id(provider) == model


def test_csv_assertion_shorthand() -> None:
    assert assertion_from_string("contains: Hello") == {"type": "contains", "value": "Hello"}
    assert assertion_from_string("similar(0.8): a b") == {
        "type": "similar",
        "value": "a b",
        "threshold": 0.8,
    }
    assert assertion_from_string("not-icontains: x") == {"type": "not-icontains", "value": "x"}
    assert assertion_from_string("grade: is polite") == {"type": "llm-rubric", "value": "is polite"}
    assert assertion_from_string("is-json") == {"type": "is-json"}
    assert assertion_from_string("plain answer") == {"type": "equals", "value": "plain answer"}


def test_other_documented_shapes(project: Path, cli: Cli, write: Callable[..., Path]) -> None:
    write(
        "pf/shapes/promptfooconfig.yaml",
        """\
        description: Shapes
        prompts:
          - "Answer: {{question}}"
          - '[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "{{question}}"}]'
          - raw: "Q: {{ question | dump }}"
            label: raw one
          - file://prompts.txt
        providers:
          echo:
            config: {temperature: 0.3, top_k: 5}
        defaultTest: file://default.yaml
        tests: file://tests.yaml
        """,
    )
    write("pf/shapes/prompts.txt", "First {{question}}\n---\nSecond {{question}}\n")
    write("pf/shapes/default.yaml", "assert:\n  - type: icontains\n    value: '{{question}}'\n")
    write(
        "pf/shapes/tests.yaml",
        """\
        - vars: {question: "Why?"}
        - vars: {question: "How?"}
          options: {transform: output.trim()}
        """,
    )
    result = cli("import", "promptfoo", "pf/shapes/promptfooconfig.yaml", "-f", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["versions"] == ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"]
    assert data["not_converted"] == []
    # the test's transform applies to defaultTest's assertion too: it is in each case
    assert _cases(project, "shapes")[1]["assert"] == [
        {"type": "icontains", "value": "{{question}}", "transform": "output.trim()"}
    ]
    v1 = (project / "prompts/shapes/1.1.0.yaml").read_text()
    assert "role: system" in v1 and "Be brief." in v1
    assert "{{ question | tojson }}" in (project / "prompts/shapes/1.2.0.yaml").read_text()
    assert "Second {{question}}" in (project / "prompts/shapes/1.4.0.yaml").read_text()
    assert "temperature: 0.3" in v1 and "top_k: 5" in v1  # params.extra
    assert cli("lint").exit_code == 0
    result = cli("eval", "shapes@1.0.0", "shapes@1.4.0", "-f", "json")
    assert result.exit_code == 0, result.output


def test_a_broken_referenced_file_is_a_located_error(
    project: Path, cli: Cli, write: Callable[..., Path]
) -> None:
    write("pf/b/promptfooconfig.yaml", "prompts: ['{{q}}']\ntests: file://tests.yaml\n")
    write("pf/b/tests.yaml", "- vars: {q: [}\n")
    result = cli("import", "promptfoo", "pf/b/promptfooconfig.yaml")
    assert_no_traceback(result)
    assert result.exit_code == 1 and result.stderr.startswith("pf/b/tests.yaml:1:")


def test_parts_of_referenced_files_are_located_in_those_files(
    project: Path, cli: Cli, write: Callable[..., Path]
) -> None:
    write(
        "pf/loc/promptfooconfig.yaml",
        """\
        prompts: ['{{q}}']
        providers: [echo]
        defaultTest: file://default.yaml
        tests:
          - file://tests.yaml
          - file://more.jsonl
        """,
    )
    write(
        "pf/loc/default.yaml", "assert:\n  - type: contains\n    value: a\n  - type: javascript\n"
    )
    write(
        "pf/loc/tests.yaml",
        """\
        - vars: {q: one}
        - vars: {q: two}
          assert:
            - type: equals
              value: two
            - type: not-javascript
              value: output.length > 9
        """,
    )
    write("pf/loc/more.jsonl", '{"vars": {"q": "x"}}\n\n{"vars": {"q": "y"}, "bogus": 1}\n')
    result = cli("import", "promptfoo", "pf/loc/promptfooconfig.yaml", "-f", "json")
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["not_converted"] == [
        "pf/loc/default.yaml:4: assert[1]: javascript without code (a function value is not text)",
        "pf/loc/more.jsonl:3: [1].bogus: test key 'bogus' is not converted",
    ]


def _cases(project: Path, name: str) -> list[dict[str, Any]]:
    text = (project / "evals" / f"{name}.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def test_list_vars_expand_into_one_case_per_combination(project: Path, cli: Cli) -> None:
    config = _copy(project, "matrix")
    result = cli("import", "promptfoo", str(config), "-f", "json")
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    cases = _cases(project, "matrix")
    by_id = {c["id"]: c for c in cases}
    assert len(by_id) == len(cases) == data["cases"]  # ids are unique
    # one list (3 values); two lists (2 x 2, the first varying slowest); defaultTest's tone
    # list (2) merged into a test that does not set tone; a file:// glob (one case per file)
    assert [c["id"] for c in cases] == [
        "one-list-french",
        "one-list-german",
        "one-list-spanish",
        "two-lists-french-hi",
        "two-lists-french-bye",
        "two-lists-german-hi",
        "two-lists-german-bye",
        "default-tone-formal",
        "default-tone-casual",
        "case-4-a",
        "case-4-b",
        "kept-whole",
        "not-strings",
    ]
    expanded = [c for c in cases if c["id"] not in ("kept-whole", "not-strings")]
    assert data["expanded_cases"] == len(expanded)
    assert [(c["vars"]["language"], c["vars"]["greeting"]) for c in cases[3:7]] == [
        ("French", "hi"),
        ("French", "bye"),
        ("German", "hi"),
        ("German", "bye"),
    ]
    assert [c["vars"]["tone"] for c in cases[:9]] == ["plain"] * 7 + ["formal", "casual"]
    assert by_id["case-4-a"]["vars"]["input"] == "the first input"
    assert by_id["case-4-b"]["vars"]["input"] == "the second input"
    # disableVarExpansion keeps the lists (defaultTest's too) as arrays; so does promptfoo
    # with a list that does not start with a string
    assert by_id["kept-whole"]["vars"]["language"] == ["French", "German"]
    assert by_id["kept-whole"]["vars"]["tone"] == ["formal", "casual"]
    assert by_id["not-strings"]["vars"]["input"] == [1, 2]
    # the test's assertions go with each of its cases
    js = {"type": "javascript", "value": "output.length > 0", "metric": "javascript"}
    assert all(
        c["assert"] == [{"type": "contains", "value": "{{language}}"}, js] for c in cases[3:7]
    )
    assert data["not_converted"] == []
    assert data["notes"] == []
    v0 = (project / "prompts/matrix/1.0.0.yaml").read_text()
    assert "default: '-'" in v0 and "formal" not in v0  # a list default is not an input default
    text = cli("import", "promptfoo", str(config), "--force")
    assert f"{len(cases)} case(s) ({len(expanded)} from 4 test(s) with list-valued vars)" in (
        text.stdout
    )
    assert cli("lint").exit_code == 0
    result = cli("eval", "matrix@1.0.0", "-f", "json")
    assert result.exit_code == 0, result.output
    assert [(g["passed"], g["n"]) for g in json.loads(result.stdout)["groups"]] == [
        (len(cases), len(cases))
    ]


def test_expanded_ids_stay_unique(project: Path, cli: Cli, write: Callable[..., Path]) -> None:
    write(
        "pf/ids/promptfooconfig.yaml",
        """\
        prompts: ['{{q}} {{n}}']
        providers: [echo]
        tests:
          - {description: Same, vars: {q: [a, b], n: "1"}}
          - {description: Same, vars: {q: [a, b], n: "2"}}
          - {description: Dup, vars: {q: [x, x, "日本"], n: "3"}}
          - {description: Same, vars: {q: c, n: "4"}}
        """,
    )
    result = cli("import", "promptfoo", "pf/ids/promptfooconfig.yaml")
    assert result.exit_code == 0, result.output
    ids = [c["id"] for c in _cases(project, "ids")]
    assert ids == ["same-a", "same-b", "same-a-3", "same-b-4", "dup-x", "dup-x-6", "dup-3", "same"]
    assert len(set(ids)) == len(ids)


def test_expansion_has_a_limit_and_drops_nothing(
    project: Path, cli: Cli, write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(
        "pf/cap/promptfooconfig.yaml",
        """\
        prompts: ['{{a}} {{b}} {{c}}']
        providers: [echo]
        tests:
          - vars: {a: [a1, a2], b: [b1, b2, b3], c: c}
          - vars: {a: a, b: b, c: [c1]}
        """,
    )
    with monkeypatch.context() as m:
        m.setattr(promptfoo_vars, "MAX_EXPANDED", 2 * 3)  # the first test's product
        shown = "pf/cap/promptfooconfig.yaml"
        result = cli("import", "promptfoo", shown)
        assert_no_traceback(result)
        assert result.exit_code == 1
        assert result.stderr.strip() == (
            f"{shown}:5: tests[1].vars: list-valued vars expand to 1 case(s) (c: 1); 6 came from "
            "earlier tests; the limit is 6 in one import: split the test, shorten the lists or set "
            "options.disableVarExpansion: true to keep them as arrays"
        )
        assert not (project / "evals/cap.jsonl").exists()  # nothing is written, nothing dropped
        config.write_text(config.read_text().replace("c: [c1]", "c: c1"))
        result = cli("import", "promptfoo", shown, "-f", "json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["expanded_cases"] == promptfoo_vars.MAX_EXPANDED

    # the real limit: a product far beyond it fails before any case is built
    values = [f"v{i}" for i in range(10)]
    n_vars = len(str(promptfoo_vars.MAX_EXPANDED)) + 10
    big = {f"x{k}": values for k in range(n_vars)}
    write(
        "pf/big/promptfooconfig.yaml",
        yaml.safe_dump({"prompts": ["{{x0}}"], "tests": [{"vars": big}]}),
    )
    result = cli("import", "promptfoo", "pf/big/promptfooconfig.yaml")
    assert_no_traceback(result)
    assert result.exit_code == 1
    assert f"expand to {10**n_vars} case(s) (x0: 10 x x1: 10 x " in result.stderr
    assert f"the limit is {promptfoo_vars.MAX_EXPANDED} in one import" in result.stderr


def test_expansion_switches_and_defaults(
    project: Path, cli: Cli, write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        "pf/sw/promptfooconfig.yaml",
        """\
        prompts: ['{{q}} {{t}}']
        providers: [echo]
        defaultTest:
          vars: {t: [x, y]}
          options: {disableVarExpansion: true}
        tests:
          - vars: {q: [a, b]}
          - vars: {q: [a, b]}
            options: {disableVarExpansion: false}
        """,
    )
    cfg = "pf/sw/promptfooconfig.yaml"
    assert cli("import", "promptfoo", cfg).exit_code == 0
    assert [c["vars"] for c in _cases(project, "sw")] == [
        {"t": ["x", "y"], "q": ["a", "b"]},  # defaultTest's options apply to the test
        {"t": "x", "q": "a"},  # which may turn expansion back on
        {"t": "x", "q": "b"},
        {"t": "y", "q": "a"},
        {"t": "y", "q": "b"},
    ]
    monkeypatch.setenv("PROMPTFOO_DISABLE_VAR_EXPANSION", "true")  # off for every test
    assert cli("import", "promptfoo", cfg, "--force").exit_code == 0
    assert len(_cases(project, "sw")) == 2
    monkeypatch.delenv("PROMPTFOO_DISABLE_VAR_EXPANSION")

    # no tests: promptfoo runs defaultTest once, so its lists expand; the config's env switch
    write(
        "pf/none/promptfooconfig.yaml",
        "prompts: ['{{t}}']\ndefaultTest: {vars: {t: [x, y, z]}}\n",
    )
    assert cli("import", "promptfoo", "pf/none/promptfooconfig.yaml").exit_code == 0
    assert [c["vars"]["t"] for c in _cases(project, "none")] == ["x", "y", "z"]
    write(
        "pf/none/promptfooconfig.yaml",
        "prompts: ['{{t}}']\nenv: {PROMPTFOO_DISABLE_VAR_EXPANSION: 1}\n"
        "defaultTest: {vars: {t: [x, y, z]}}\n",
    )
    assert cli("import", "promptfoo", "pf/none/promptfooconfig.yaml", "--force").exit_code == 0
    assert [c["vars"]["t"] for c in _cases(project, "none")] == [["x", "y", "z"]]


def test_a_glob_var_that_matches_nothing_is_a_located_error(
    project: Path, cli: Cli, write: Callable[..., Path]
) -> None:
    write(
        "pf/g/promptfooconfig.yaml",
        "prompts: ['{{doc}}']\ntests:\n  - vars:\n      doc: file://docs/*.md\n",
    )
    result = cli("import", "promptfoo", "pf/g/promptfooconfig.yaml")
    assert_no_traceback(result)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "pf/g/promptfooconfig.yaml:4: tests[0].vars.doc: file://docs/*.md: no file matches"
    )


def test_file_vars_holding_lists_are_one_value(
    project: Path, cli: Cli, write: Callable[..., Path]
) -> None:
    """promptfoo expands a var before reading its file: a YAML list or a CSV in a file:// var
    is one value (YAML as JSON text, other files as their trimmed text), one case."""
    write(
        "pf/fv/promptfooconfig.yaml",
        """\
        prompts: ['{{items}} / {{table}}']
        tests:
          - vars: {items: file://items.yaml, table: file://table.csv}
        """,
    )
    write("pf/fv/items.yaml", "- apples\n- pears: 2\n")
    write("pf/fv/table.csv", "name,qty\napples,1\npears,2\n\n")
    result = cli("import", "promptfoo", "pf/fv/promptfooconfig.yaml", "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["expanded_cases"] == 0
    [case] = _cases(project, "fv")
    assert case["vars"] == {
        "items": '["apples",{"pears":2}]',
        "table": "name,qty\napples,1\npears,2",
    }


def test_options_and_keys_that_do_not_convert_are_reported_where_they_are(
    project: Path, cli: Cli, write: Callable[..., Path]
) -> None:
    """Every test option, test key, defaultTest option and top-level key that does not convert
    is listed with its file and line; the import still succeeds and writes what converts."""
    write(
        "pf/opts/promptfooconfig.yaml",
        """\
        description: Opts
        tags: {team: search}
        metadata: {owner: ana}
        prompts: ['{{q}}']
        targets:
          - {id: echo, transformResponse: json.x, config: {transformResponse: json.y}}
        outputPath: results.html
        sharing: true
        nunjucksFilters: {shout: filters/shout.js}
        derivedMetrics: [{name: f1, value: 2 * precision * recall / (precision + recall)},
          {name: odd, value: "x ? 1 : 0"}]
        extensions: ['file://hooks.py:extension_hook']
        evaluateOptions: {maxConcurrency: 2, delay: 100}
        env: {OPENAI_API_KEY: x, PROMPTFOO_DISABLE_VAR_EXPANSION: "false"}
        redteam: {purpose: none}
        defaultTest:
          metadata: {suite: smoke}
          assertScoringFunction: file://score.ts:score
          options:
            provider: {id: openai:gpt-4o-2024-08-06, config: {temperature: 0}}
            prefix: "Answer: "
        tests:
          - description: All of them
            vars: {q: hello}
            provider: openai:gpt-4o-mini-2024-07-18
            prompts: [first]
            providerOutput: hello
            assertScoringFunction: file://score.ts:score
            threshold: 0.5
            metadata: {kind: greeting}
            options:
              transform: output.trim()
              postprocess: output.trim()
              suffix: "!"
              runSerially: true
              storeOutputAs: answer
              rubricPrompt: Grade it
              disableVarExpansion: true
            assert:
              - type: assert-set
                assert: [{type: contains, value: h}]
              - type: llm-rubric
                value: polite
                provider: {id: exec:./judge.sh}
              - type: similar
                value: hello
                provider: openai:embedding:text-embedding-3-small
                transform: output.toLowerCase()
        """,
    )
    result = cli("import", "promptfoo", "pf/opts/promptfooconfig.yaml", "-f", "json")
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    cfg = "pf/opts/promptfooconfig.yaml"
    assert data["not_converted"] == [
        f"{cfg}:7: outputPath: top-level key 'outputPath' is not converted "
        "(promptops eval --output FILE)",
        f"{cfg}:8: sharing: top-level key 'sharing' is not converted "
        "(promptops has no hosted sharing)",
        f"{cfg}:9: nunjucksFilters: top-level key 'nunjucksFilters' is not converted "
        "(custom filters are JavaScript; templates that use them will not render)",
        f"{cfg}:12: extensions: top-level key 'extensions' is not converted "
        "(extension hooks are code)",
        f"{cfg}:13: evaluateOptions.maxConcurrency: evaluate option 'maxConcurrency' is not "
        "converted (promptops eval --concurrency N)",
        f"{cfg}:13: evaluateOptions.delay: evaluate option 'delay' is not converted",
        # the expansion switch is read; the rest of env is not
        f"{cfg}:14: env.OPENAI_API_KEY: environment variable 'OPENAI_API_KEY' is not "
        "converted (set it where promptops runs)",
        f"{cfg}:15: redteam: top-level key 'redteam' is not converted",
        f"{cfg}:11: derivedMetrics[1].value: derived metric 'odd' is not converted: not an "
        "arithmetic expression: invalid syntax",
        f"{cfg}:6: targets[0].config.transformResponse: provider config 'transformResponse' "
        "is not converted",
        f"{cfg}:6: targets[0].transformResponse: provider option 'transformResponse' is not "
        "converted",
        f"{cfg}:20: defaultTest.options.provider.config: judge provider option 'config' is "
        "not converted",
        f"{cfg}:21: defaultTest.options.prefix: option 'prefix' is not converted "
        "(add it to the prompt)",
        f"{cfg}:18: defaultTest.assertScoringFunction: defaultTest.assertScoringFunction is "
        "not converted",
        f"{cfg}:35: tests[0].options.runSerially: option 'runSerially' is not converted "
        "(promptops eval --concurrency 1)",
        f"{cfg}:37: tests[0].options.rubricPrompt: option 'rubricPrompt' is not converted "
        "(set judge_prompt: on the llm-rubric assertions)",
        f"{cfg}:34: tests[0].options.suffix: option 'suffix' is not converted "
        "(add it to the prompt)",
        f"{cfg}:36: tests[0].options.storeOutputAs: option 'storeOutputAs' is not converted "
        "(a case does not feed the next; a conversation is a case's turns:)",
        f"{cfg}:40: tests[0].assert[0]: assert-set (a scored group of assertions) is not converted",
        f"{cfg}:44: tests[0].assert[1].provider: judge provider 'exec:./judge.sh' has no "
        "litellm equivalent; set judge: to a model id",
        f"{cfg}:47: tests[0].assert[2].provider: provider is not converted: promptops's "
        "similar uses none",
        f"{cfg}:25: tests[0].provider: test key 'provider' is not converted "
        "(one model per prompt: evaluate with --model)",
        f"{cfg}:26: tests[0].prompts: test key 'prompts' is not converted "
        "(every case runs on every prompt version)",
        f"{cfg}:27: tests[0].providerOutput: test key 'providerOutput' is not converted "
        "(promptops calls the model)",
        f"{cfg}:28: tests[0].assertScoringFunction: test key 'assertScoringFunction' is not "
        "converted (a scoring function is code)",
    ]
    # what converts: targets (providers' alias), tags and metadata (the prompt's), the
    # metadata of defaultTest and the test, threshold, disableVarExpansion, the judge
    doc = yaml.safe_load((project / "prompts/opts/1.0.0.yaml").read_text())
    assert doc["model"] == {"id": "echo/echo"}
    assert doc["metadata"] == {"owner": "ana", "tags": {"team": "search"}}
    [case] = _cases(project, "opts")
    assert case["metadata"] == {"suite": "smoke", "kind": "greeting"}
    assert case["threshold"] == 0.5
    # what changes how promptfoo judges and does not convert fails, saying so (fail closed)
    failing = [a["value"] for a in case["assert"] if a["type"] == "unconverted"]
    assert [f.split(": ", 2)[1] for f in failing] == [
        "tests[0].options.suffix",
        "tests[0].options.storeOutputAs",
        "tests[0].assert[0]",
        "tests[0].provider",
        "tests[0].providerOutput",
        "tests[0].assertScoringFunction",
    ]
    # the judge that did not convert is reported; defaultTest's judges in its place; the
    # test's transform (postprocess is its old name) runs before each assertion's own
    assert case["assert"][3] == {
        "type": "llm-rubric",
        "value": "polite",
        "transform": "output.trim()",
        "judge": "openai/gpt-4o-2024-08-06",
    }
    assert "output.toLowerCase()" in case["assert"][4]["transform"]
    prompt = yaml.safe_load((project / "prompts/opts/1.0.0.yaml").read_text())
    assert [a["value"].split(": ", 2)[1] for a in prompt["assert"]] == [
        "defaultTest.options.prefix",
        "defaultTest.assertScoringFunction",
    ]
    text = cli("import", "promptfoo", "pf/opts/promptfooconfig.yaml", "--force")
    assert text.exit_code == 0
    assert f"not converted ({len(data['not_converted'])}):" in text.stdout
    assert f"  {data['not_converted'][0]}" in text.stdout


def test_scenarios_run_each_test_once_per_config_entry(
    project: Path, cli: Cli, write: Callable[..., Path]
) -> None:
    """promptfoo's scenarios: each test of a scenario once per entry of its config (the entry's
    vars and assertions under the test's), after the config's tests; inline or from files."""
    write(
        "pf/sc/promptfooconfig.yaml",
        """\
        prompts: ['Translate into {{language}} ({{expected}}): {{input}}']
        providers: [echo]
        defaultTest:
          vars: {tone: plain}
          assert: [{type: icontains, value: "{{language}}"}]
        tests:
          - description: Plain
            vars: {language: Latin, input: Salve, expected: Salve}
        scenarios:
          - description: Greetings
            config:
              - vars: {language: Spanish, expected: Hola}
              - vars: {language: French, expected: Bonjour}
                options: {transform: output.trim()}
                assert: [{type: contains, value: French}]
            tests:
              - description: Hello
                vars: {input: Hello}
                assert: [{type: contains, value: "{{input}}"}]
              - vars: {input: [Bye, Ciao]}
                assert: [{type: javascript, value: output.length > 1}]
          - file://more.yaml
        """,
    )
    write(
        "pf/sc/more.yaml",
        """\
        - config: [{vars: {language: German, expected: Hallo}}]
          tests: file://scenario-tests.yaml
          bogus: 1
        - description: No config
          tests: [{vars: {input: x}}]
        """,
    )
    write(
        "pf/sc/scenario-tests.yaml",
        "- vars: {input: Guten Tag}\n  options: {prefix: 'Now: '}\n",
    )
    result = cli("import", "promptfoo", "pf/sc/promptfooconfig.yaml", "-f", "json")
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    cases = _cases(project, "sc")
    # promptfoo's order: the tests, then each scenario, config entry by config entry
    assert [c["id"] for c in cases] == [
        "plain",
        "hello-spanish",
        "greetings-2-spanish-bye",
        "greetings-2-spanish-ciao",
        "hello-french",
        "greetings-2-french-bye",
        "greetings-2-french-ciao",
        "scenario-2-1-german",
    ]
    assert data["cases"] == len(cases)
    assert data["scenario_cases"] == len(cases) - 1
    assert data["expanded_cases"] == 0  # the lists expanded in scenarios count there
    by_id = {c["id"]: c for c in cases}
    assert by_id["hello-spanish"]["vars"] == {
        "language": "Spanish",
        "expected": "Hola",
        "input": "Hello",
    }
    assert by_id["hello-spanish"]["description"] == "Hello"
    # the entry's assertions come first, then the test's
    assert by_id["hello-french"]["assert"] == [
        {"type": "contains", "value": "French"},
        {"type": "contains", "value": "{{input}}"},
    ]
    assert by_id["greetings-2-french-ciao"]["vars"]["input"] == "Ciao"
    cfg, more = "pf/sc/promptfooconfig.yaml", "pf/sc/more.yaml"
    # each part that does not convert is reported once, where it is, however many cases
    # it went into
    assert data["not_converted"] == [
        f"{cfg}:14: scenarios[0].config[1].options: promptfoo ignores options in a "
        "scenario's config entry; not converted",
        f"{more}:3: [0].bogus: scenario option 'bogus' is not converted",
        f"{more}:4: [1]: a scenario without config is not converted",
        "pf/sc/scenario-tests.yaml:2: [0].options.prefix: option 'prefix' is not converted "
        "(add it to the prompt)",
    ]
    text = cli("import", "promptfoo", "pf/sc/promptfooconfig.yaml", "--force")
    assert f"{len(cases)} case(s) ({len(cases) - 1} from 2 scenario(s))" in text.stdout
    lint = cli("lint")
    assert lint.exit_code == 0, lint.output
    result = cli("eval", "sc@1.0.0", "-f", "json", "--fail-under", "0")
    assert result.exit_code == 0, result.output
    # all pass but the German case, whose prefix option did not convert: it fails, saying so
    assert [(g["passed"], g["n"]) for g in json.loads(result.stdout)["groups"]] == [
        (len(cases) - 1, len(cases))
    ]
    assert by_id["scenario-2-1-german"]["assert"][0]["type"] == "unconverted"


def test_scenarios_share_the_case_limit(
    project: Path, cli: Cli, write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        "pf/scap/promptfooconfig.yaml",
        """\
        prompts: ['{{a}} {{b}}']
        tests:
          - vars: {a: [a1, a2], b: b}
        scenarios:
          - config:
              - vars: {a: [x1, x2, x3]}
              - vars: {a: y}
              - vars: {a: z}
            tests: [{vars: {b: b1}}]
        """,
    )
    cfg = "pf/scap/promptfooconfig.yaml"
    monkeypatch.setattr(promptfoo_vars, "MAX_EXPANDED", 4)
    result = cli("import", "promptfoo", cfg)
    assert_no_traceback(result)
    assert result.exit_code == 1
    # 2 from the test's list, then the scenario's 3 entries x 1 test
    assert result.stderr.strip() == (
        f"{cfg}:5: scenarios[0]: the scenario makes 3 case(s) (config entries x tests); 2 came "
        "from earlier tests; the limit is 4 in one import: split the scenario"
    )
    monkeypatch.setattr(promptfoo_vars, "MAX_EXPANDED", 5)
    result = cli("import", "promptfoo", cfg)
    assert_no_traceback(result)
    assert result.exit_code == 1
    # 2, then the first entry's list makes 3 more: 5; the next entry goes over
    assert result.stderr.strip() == (
        f"{cfg}:7: scenarios[0].config[1]: scenarios and list-valued vars make 6 case(s) with "
        "this config entry; the limit is 5 in one import: split the scenario or shorten its "
        "lists"
    )
    assert not (project / "evals/scap.jsonl").exists()
    monkeypatch.setattr(promptfoo_vars, "MAX_EXPANDED", 7)
    result = cli("import", "promptfoo", cfg, "-f", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["cases"], data["expanded_cases"], data["scenario_cases"]) == (7, 2, 5)


def test_media_vars_and_content_parts(project: Path, cli: Cli, write: Callable[..., Path]) -> None:
    """promptfoo sends an image, video or audio var as base64 and a PDF as its text: such vars
    are reported, never read as text. Chat content parts stay parts."""
    write(
        "pf/media/promptfooconfig.yaml",
        """\
        prompts:
          - file://chat.json
          - raw: 'Q: {{q}}'
            label: plain
            config: {temperature: 0}
        tests:
          - vars:
              q: What is this?
              image: file://cat.png
              doc: file://paper.pdf
              clip: file://clip.mp4
          - file://rows.csv
        """,
    )
    write(
        "pf/media/chat.json",
        json.dumps(
            [
                {"role": "system", "content": "Be brief.", "name": "sys"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "{{ q | dump }}"},
                        {
                            "type": "image_url",
                            "image_url": {"url": "data:image/png;base64,{{image}}"},
                        },
                        {"type": "input_audio", "input_audio": {"data": "{{clip}}"}},
                    ],
                },
            ]
        ),
    )
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    write("pf/media/cat.png", png)
    write("pf/media/paper.pdf", b"%PDF-1.4\n\xff\xfe binary")
    write("pf/media/clip.mp4", b"\x00\x00\x00\x18ftypmp42\xff")
    write(
        "pf/media/rows.csv",
        "q,__threshold,__metadata:topic,__prefix\nWhy?,0.75,sky,Say: \nHow?,high,sea,\n",
    )
    result = cli("import", "promptfoo", "pf/media/promptfooconfig.yaml", "-f", "json")
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    cfg = "pf/media/promptfooconfig.yaml"
    assert data["not_converted"] == [
        f"{cfg}:2: prompts[0]: message 1: 'name' is not converted",
        f"{cfg}:2: prompts[0]: message 2, content part 3: 'input_audio' parts are not "
        "converted (text and image_url are)",
        "pf/media/rows.csv:3: __threshold: 'high' is not a number; not converted",
        f"{cfg}:9: tests[0].vars.image: file://cat.png: promptfoo sends an image as base64 "
        "text; not converted (use an image part in the prompt: {type: image, path: ...})",
        f"{cfg}:10: tests[0].vars.doc: file://paper.pdf: promptfoo sends the text it extracts "
        "from a PDF; not converted",
        f"{cfg}:11: tests[0].vars.clip: file://clip.mp4: promptfoo sends this file as base64 "
        "text; not converted",
        # a CSV's __prefix is the test's prefix option: its case fails, saying so
        "pf/media/rows.csv:2: __prefix: option 'prefix' is not converted (add it to the prompt)",
    ]
    assert data["notes"] == [
        "pf/media/promptfooconfig.yaml:1: providers: no provider converted; the prompts use echo/echo"
    ]
    first, *rows = _cases(project, "media")
    assert first["vars"] == {"q": "What is this?"}  # nothing binary read as text
    assert rows[0]["assert"][0]["type"] == "unconverted" and "assert" not in rows[1]
    assert [(c["vars"], c.get("threshold"), c["metadata"]) for c in rows] == [
        ({"q": "Why?"}, 0.75, {"topic": "sky"}),
        ({"q": "How?"}, None, {"topic": "sea"}),
    ]
    chat = yaml.safe_load((project / "prompts/media/1.0.0.yaml").read_text())
    assert chat["messages"][1]["content"] == [
        {"type": "text", "text": "{{ q | tojson }}"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,{{image}}"}},
    ]


def test_a_prompt_map_converts_and_generated_tests_are_reported(
    project: Path, cli: Cli, write: Callable[..., Path]
) -> None:
    write(
        "pf/map/promptfooconfig.yaml",
        """\
        prompts:
          file://short.txt: Short
          file://long.txt: Long
        tests:
          - vars: {q: Why?}
          - path: file://generate.py:tests
            config: {n: 5}
        """,
    )
    write("pf/map/short.txt", "Briefly: {{q}}\n")
    write("pf/map/long.txt", "At length: {{q}}\n")
    result = cli("import", "promptfoo", "pf/map/promptfooconfig.yaml", "-f", "json")
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["versions"] == ["1.0.0", "1.1.0"]
    assert "prompt 'Long'" in (project / "prompts/map/1.1.0.yaml").read_text()
    assert data["cases"] == 1  # no empty case for the generator
    assert data["not_converted"] == [
        "pf/map/promptfooconfig.yaml:6: tests[1]: file://generate.py:tests: tests generated "
        "by code are not converted"
    ]


# ------------------------------------------------------------------------------------------
# files outside the project, and endpoints
# ------------------------------------------------------------------------------------------

MARKER = "SECRET-MARKER-91c2"
# (field, config text with REF for the file reference, where the error points)
REFERENCES = {
    "prompt": ("prompts: [file://REF]\n", "1: prompts[0]"),
    "var": (
        "prompts: ['{{doc}}']\ntests:\n  - vars:\n      doc: file://REF\n",
        "4: tests[0].vars.doc",
    ),
    "tests": ("prompts: ['{{doc}}']\ntests: [file://REF]\n", "2: tests[0]"),
    "defaultTest": ("prompts: ['{{doc}}']\ndefaultTest: file://REF\n", "2: defaultTest"),
    "python": (
        "prompts: ['{{doc}}']\ndefaultTest:\n  assert:\n    - {type: python, value: file://REF}\n",
        "4: defaultTest.assert[0].value",
    ),
}
SUFFIX = {"prompt": ".txt", "var": ".txt", "tests": ".yaml", "defaultTest": ".yaml"}


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlinked-file", "symlinked-folder"])
@pytest.mark.parametrize("field", sorted(REFERENCES))
def test_a_file_outside_the_project_is_refused_unread(
    project: Path,
    cli: Cli,
    write: Callable[..., Path],
    tmp_path_factory: pytest.TempPathFactory,
    field: str,
    how: str,
) -> None:
    """The audit's finding 3: file:// prompts, vars, tests and scripts outside the project were
    imported (a key file became a template). Now: an error naming the field, nothing written,
    and the file's content appears nowhere."""
    outside = tmp_path_factory.mktemp("outside")
    name = "secret" + SUFFIX.get(field, ".py")
    content = f"- vars: {{doc: {MARKER}}}\n" if name.endswith(".yaml") else f"{MARKER}\n"
    (outside / name).write_text(content)
    ref = {
        "absolute": str(outside / name),
        "dotdot": f"../../../{outside.name}/{name}",  # from pf/x/ to a sibling of the project
        "symlinked-file": f"link-{name}",
        "symlinked-folder": f"linked/{name}",
    }[how]
    if how == "symlinked-file":
        (project / "pf/x").mkdir(parents=True)
        (project / "pf/x" / ref).symlink_to(outside / name)
    elif how == "symlinked-folder":
        (project / "pf/x").mkdir(parents=True)
        (project / "pf/x/linked").symlink_to(outside, target_is_directory=True)
    elif how == "dotdot":
        assert outside.parent == project.parent
    text, where = REFERENCES[field]
    write("pf/x/promptfooconfig.yaml", "description: Leak\n" + text.replace("REF", ref))
    result = cli("import", "promptfoo", "pf/x/promptfooconfig.yaml")
    assert_no_traceback(result)
    assert result.exit_code == 1
    line, dotted = where.split(": ")
    expected = f"pf/x/promptfooconfig.yaml:{int(line) + 1}: {dotted}: file://"
    assert result.stderr.startswith(expected), result.stderr
    assert "outside the project" in result.stderr
    assert MARKER not in result.output
    assert not (project / "prompts/leak").exists() and not (project / "evals/leak.jsonl").exists()


def test_a_glob_var_reaching_outside_the_project_is_refused(
    project: Path, cli: Cli, write: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (outside / "key.md").write_text(MARKER)
    write("pf/g/docs/a.md", "inside")
    (project / "pf/g/docs/b.md").symlink_to(outside / "key.md")
    write(
        "pf/g/promptfooconfig.yaml",
        "prompts: ['{{doc}}']\ntests:\n  - vars:\n      doc: file://docs/*.md\n",
    )
    result = cli("import", "promptfoo", "pf/g/promptfooconfig.yaml")
    assert_no_traceback(result)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "pf/g/promptfooconfig.yaml:4: tests[0].vars.doc: file://docs/b.md: outside the project"
    )
    assert MARKER not in result.output
    assert not (project / "evals/g.jsonl").exists()


def test_an_api_base_is_written_only_when_confirmed(
    project: Path, cli: Cli, write: Callable[..., Path]
) -> None:
    write(
        "pf/api/promptfooconfig.yaml",
        """\
        description: Api
        prompts: ['{{q}}']
        providers:
          - id: openai:chat:gpt-4o-mini-2024-07-18
            config: {apiBaseUrl: "https://llm.example.com/v1"}
        tests: [{vars: {q: hi}}]
        """,
    )
    shown = "'https://llm.example.com/v1'"
    refused = cli("import", "promptfoo", "pf/api/promptfooconfig.yaml", "-f", "json")
    assert refused.exit_code == 0, refused.output
    data = json.loads(refused.stdout)
    assert (
        "pf/api/promptfooconfig.yaml:5: providers[0].config.apiBaseUrl: apiBaseUrl "
        f"{shown} not written: model.api_base would send every request and your model key to "
        "that endpoint; check the host, then import again with --keep-api-base to keep it"
    ) in data["not_converted"]
    assert "api_base" not in (project / "prompts/api/1.0.0.yaml").read_text()

    kept = cli("import", "promptfoo", "pf/api/promptfooconfig.yaml", "--force", "--keep-api-base")
    assert kept.exit_code == 0, kept.output
    assert f"apiBaseUrl {shown} kept as model.api_base (--keep-api-base)" in kept.stdout
    written = yaml.safe_load((project / "prompts/api/1.0.0.yaml").read_text())
    assert written["model"]["api_base"] == "https://llm.example.com/v1"
    assert cli("lint").exit_code == 0

    # credentials in it: never written, not even confirmed, and never shown
    config = project / "pf/api/promptfooconfig.yaml"
    config.write_text(config.read_text().replace("https://", "https://user:pw@"))
    cred = cli("import", "promptfoo", str(config), "--force", "--keep-api-base")
    assert cred.exit_code == 0, cred.output
    assert f"apiBaseUrl {shown} holds credentials; not written" in cred.stdout
    assert "pw@" not in cred.output
    assert "api_base" not in (project / "prompts/api/1.0.0.yaml").read_text()


# ----------------------------------------------------------------------------- semantics


def _run(project: Path, cli: Cli, ref: str) -> tuple[dict[str, bool], dict[str, Any]]:
    """Per case id, pass or fail; and the run summary."""
    result = cli("eval", ref, "-f", "json", "--fail-under", "0", "--no-cache")
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    text = (project / ".promptops/runs" / summary["run_id"] / "results.jsonl").read_text()
    return {r["case_id"]: r["pass"] for r in map(json.loads, text.splitlines())}, summary


def _verdicts(project: Path, cli: Cli, ref: str) -> dict[str, bool]:
    return _run(project, cli, ref)[0]


def _responder(probe: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"responder_{probe.name}", probe / "responder.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.respond


@pytest.mark.parametrize(
    "probe", ["semantics", "toolprobe", "defaults", "derived", "mixedprobe", "scoring"]
)
def test_imported_suite_judges_as_promptfoo_does(
    project: Path, cli: Cli, probe: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Per case, the imported suite's pass/fail is promptfoo's, as recorded by promptfoo
    itself on the same config and model (promptfoo-results.json, written by
    scripts/promptfoo_differential.py: the echo provider, or the loopback server answering
    with the probe's responder.py on both sides)."""
    pytest.importorskip("quickjs")
    config = _copy(project, probe)
    result = cli("import", "promptfoo", str(config), "-f", "json", "--name", probe)
    assert result.exit_code == 0, result.output
    assert cli("lint").exit_code == 0
    recorded = json.loads((FIXTURES / probe / "promptfoo-results.json").read_text())
    assert recorded["promptfoo"]  # the version that recorded them
    theirs = {r["description"]: r["pass"] for r in recorded["results"]}
    if (FIXTURES / probe / "responder.py").exists():
        with FakeOpenAI(_responder(FIXTURES / probe)) as s:
            monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
            monkeypatch.setenv("OPENAI_API_BASE", s.url)
            ours, summary = _run(project, cli, f"{probe}@1.0.0")
    else:
        ours, summary = _run(project, cli, f"{probe}@1.0.0")
    assert ours == theirs
    # derivedMetrics: the summary's derived metrics are promptfoo's (null: NaN or Infinity)
    if probe == "derived":
        assert recorded["metrics"] and summary["groups"][0]["derived_metrics"]
    for prompt, group in zip(recorded.get("metrics", []), summary["groups"], strict=False):
        derived = group["derived_metrics"]
        assert derived.keys() <= prompt["namedScores"].keys()
        for name, value in derived.items():
            want = prompt["namedScores"][name]
            assert value == pytest.approx(want, abs=1e-9) if want is not None else value is None


def test_semantics_probe_converts_explicitly(project: Path, cli: Cli) -> None:
    config = _copy(project, "semantics")
    result = cli("import", "promptfoo", str(config), "-f", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [n.split(": ", 2)[1] for n in data["not_converted"]] == ["tests[20].assert[1]"]
    # the YAML says what runs: JavaScript where promptfoo's meaning differs from promptops's
    cases = {c["id"]: c for c in _cases(project, "semantics")}
    assert cases["contains-any-csv-string"]["assert"] == [
        {"type": "contains-any", "value": ["water", "fire"]}
    ]
    assert cases["contains-all-quoted-csv"]["assert"][0]["value"] == ["a, b", "c"]
    assert cases["regex-named-group"]["assert"] == [
        {
            "type": "javascript",
            "value": 'new RegExp("#(?<id>\\\\d+)$").test(output)',
            "metric": "regex",
        }
    ]
    assert cases["weight-zero-is-ignored"]["assert"] == [{"type": "contains", "value": "Reply"}]
    assert "module.exports" in cases["js-file-default-export"]["assert"][0]["value"]


def test_drop_unconverted_leaves_the_check_out(project: Path, cli: Cli) -> None:
    config = _copy(project, "semantics")
    result = cli("import", "promptfoo", str(config), "--drop-unconverted", "-f", "json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["not_converted"]) == 1  # still reported
    cases = {c["id"]: c for c in _cases(project, "semantics")}
    assert cases["unconverted-fails"]["assert"] == [{"type": "contains", "value": "Reply"}]


def test_a_case_whose_only_check_did_not_convert_fails(
    project: Path, cli: Cli, write: Callable[..., Path]
) -> None:
    write(
        "pf/u/promptfooconfig.yaml",
        """\
        prompts: ['{{q}}']
        providers: [echo]
        tests:
          - vars: {q: hi}
            assert: [{type: python, value: "output == 'hi'"}]
          - vars: {q: yo}
            options: {transform: file://t.py}
            assert: [{type: equals, value: yo}]
        """,
    )
    result = cli("import", "promptfoo", "pf/u/promptfooconfig.yaml", "-f", "json")
    assert result.exit_code == 0, result.output
    verdicts = _verdicts(project, cli, "u@1.0.0")
    assert verdicts == {"case-1": False, "case-2": False}
    reasons = [
        a["value"] for c in _cases(project, "u") for a in c["assert"] if a["type"] == "unconverted"
    ]
    assert reasons[0].endswith("inline python assertion code; promptops runs file.py:function")
    assert "the test's transform does not convert" in reasons[1]


def test_promptfoo_csv_splitting() -> None:
    from promptops.importers.promptfoo_js import split_csv

    assert split_csv("water,fire") == ["water", "fire"]
    assert split_csv(' a , "b, c",, "say ""hi""" ') == ["a", "b, c", 'say "hi"']
    assert split_csv('"x\\"y"') == ['x"y']
    with pytest.raises(ValueError, match="unterminated"):
        split_csv('"open')
    with pytest.raises(ValueError, match="comma"):
        split_csv('"a" b')


def test_assertion_body_follows_promptfoo() -> None:
    from promptops.importers.promptfoo_js import assertion_body

    assert assertion_body("output === 'a'") == "return output === 'a'"
    assert (
        assertion_body("const s = output; s === 'a;b';") == "const s = output; return s === 'a;b'"
    )
    assert assertion_body("let x = 1;") == "let x = 1"
    assert assertion_body("const a = 1;\nreturn a") == "const a = 1;\nreturn a"


def test_load_filter_converts(project: Path, cli: Cli, write: Callable[..., Path]) -> None:
    write(
        "pf/load/promptfooconfig.yaml",
        """\
        prompts: ['Name: {{ (data | load).name }}']
        providers: [echo]
        tests:
          - vars: {data: '{"name": "Ada"}'}
            assert: [{type: equals, value: 'Name: Ada'}]
        """,
    )
    result = cli("import", "promptfoo", "pf/load/promptfooconfig.yaml", "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["not_converted"] == []
    doc = yaml.safe_load((project / "prompts/load/1.0.0.yaml").read_text())
    assert doc["template"] == "Name: {{ (data | from_json).name }}"
    assert cli("lint").exit_code == 0
    if importlib.util.find_spec("quickjs"):
        assert _verdicts(project, cli, "load@1.0.0") == {"case-1": True}


def test_values_promptfoo_reads_differently_convert_or_fail_closed(
    project: Path, cli: Cli, write: Callable[..., Path]
) -> None:
    write(
        "pf/v/promptfooconfig.yaml",
        """\
        prompts: ['{{q}}']
        providers: [echo]
        tests:
          - vars: {q: '{"a": 1}'}
            assert:
              - {type: contains-json, value: "{type: object, required: [a]}"}
              - {type: is-json, value: not a schema}
              - {type: llm-rubric, value: {tone: polite}, provider: openai:gpt-4o-2024-08-06}
              - {type: contains, value: a, threshold: high}
        """,
    )
    result = cli("import", "promptfoo", "pf/v/promptfooconfig.yaml", "-f", "json")
    assert result.exit_code == 0, result.output
    skipped = json.loads(result.stdout)["not_converted"]
    assert [s.split(": ", 2)[2] for s in skipped] == [
        "is-json: promptfoo fails a schema that is no mapping",
        "contains: threshold 'high' is not a number",
    ]
    [case] = _cases(project, "v")
    assert case["assert"][0] == {
        "type": "contains-json",
        "value": {"type": "object", "required": ["a"]},
    }
    assert case["assert"][2]["value"] == '{"tone": "polite"}'
    lint = cli("lint")
    assert lint.exit_code == 0, lint.output


def test_real_world_shapes(project: Path, cli: Cli, write: Callable[..., Path]) -> None:
    """YAML merge keys, glob prompts and Anthropic-format tools convert."""
    write(
        "pf/rw/promptfooconfig.yaml",
        """\
        prompts: [file://prompts/*.txt]
        providers:
          - id: anthropic:messages:claude-3-5-haiku-20241022
            config:
              tools:
                - name: get_weather
                  description: Weather
                  input_schema: {type: object, properties: {city: {type: string}}}
        x-common: &common
          vars: {q: hi}
        tests:
          - <<: *common
            assert: [{type: contains, value: hi}]
        """,
    )
    write("pf/rw/prompts/b.txt", "B {{q}}")
    write("pf/rw/prompts/a.txt", "A {{q}}")
    result = cli("import", "promptfoo", "pf/rw/promptfooconfig.yaml", "--name", "rw", "-f", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [n.split(": ", 2)[1] for n in data["not_converted"]] == ["x-common"]
    v0 = yaml.safe_load((project / "prompts/rw/1.0.0.yaml").read_text())
    v1 = yaml.safe_load((project / "prompts/rw/1.1.0.yaml").read_text())
    assert (v0["template"], v1["template"]) == ("A {{q}}", "B {{q}}")
    assert v0["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                "description": "Weather",
            },
        }
    ]
    assert _cases(project, "rw")[0]["vars"] == {"q": "hi"}
    assert cli("lint").exit_code == 0


def test_no_prompt_converted_says_why(project: Path, cli: Cli, write: Callable[..., Path]) -> None:
    write("pf/pf/promptfooconfig.yaml", "prompts: [file://make.py]\ntests: [{vars: {q: x}}]\n")
    write("pf/pf/make.py", "def make(context): return 'x'\n")
    result = cli("import", "promptfoo", "pf/pf/promptfooconfig.yaml")
    assert_no_traceback(result)
    assert result.exit_code == 1
    assert "no prompt could be converted" in result.stderr
    assert "file://make.py: a prompt function" in result.stderr


def test_assertion_without_needed_value_is_announced(
    project: Path, cli: Cli, write: Callable[..., Path]
) -> None:
    # promptfoo takes an llm-rubric with no value when a rubricPrompt holds the rubric; that
    # option is not converted, and lint refuses the valueless llm-rubric: the import says so
    write(
        "pf/pf/promptfooconfig.yaml",
        "prompts: ['Say {{q}}']\nproviders: [echo]\n"
        "defaultTest:\n  options:\n    rubricPrompt: [{role: system, content: 'Mention {{q}}'}]\n"
        "tests:\n  - vars: {q: x}\n    assert:\n      - type: llm-rubric\n",
    )
    result = cli("import", "promptfoo", "pf/pf/promptfooconfig.yaml", "-f", "json")
    assert result.exit_code == 0, result.stderr
    notes = json.loads(result.stdout)["notes"]
    assert any(
        "tests[0].assert[0]: llm-rubric: lint will refuse it until it is fixed: "
        "llm-rubric needs a value" in n
        for n in notes
    ), notes
    lint = cli("lint")
    assert lint.exit_code == 1 and "llm-rubric needs a value" in lint.stdout + lint.stderr


def test_csv_prompt_files_convert(project: Path, cli: Cli, write: Callable[..., Path]) -> None:
    # promptfoo 0.121.20 reads a CSV prompt file: a header with prompt (and label) columns,
    # each row a prompt (text, or a JSON chat list); without a comma, one prompt a line
    write(
        "pf/pf/promptfooconfig.yaml",
        "prompts: [file://p.csv, file://lines.csv]\nproviders: [echo]\ntests: [{vars: {t: x}}]\n",
    )
    write(
        "pf/pf/p.csv",
        'prompt,label\n"Tell me about {{t}}",Basic\n'
        '"[{""role"":""system"",""content"":""Be brief""},'
        '{""role"":""user"",""content"":""Explain {{t}}""}]",Chat\n'
        ",Empty\n",
    )
    write("pf/pf/lines.csv", "prompt\nSay {{t}}\n\nShout {{t}}\n")
    result = cli("import", "promptfoo", "pf/pf/promptfooconfig.yaml", "--name", "c", "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["not_converted"] == []
    docs = [yaml.safe_load(p.read_text()) for p in sorted((project / "prompts/c").glob("*.yaml"))]
    assert [d.get("template") or d.get("messages") for d in docs] == [
        "Tell me about {{t}}",
        [
            {"role": "system", "content": "Be brief"},
            {"role": "user", "content": "Explain {{t}}"},
        ],
        "Say {{t}}",
        "Shout {{t}}",
    ]
    assert cli("lint").exit_code == 0
    write("pf/pf/p.csv", "text,label\nhello,x\n")
    refused = cli("import", "promptfoo", "pf/pf/promptfooconfig.yaml", "--name", "d")
    assert_no_traceback(refused)
    assert "file://p.csv: a CSV prompt file with no prompt" in refused.stdout + refused.stderr


def test_content_part_without_type_is_named_by_its_keys(
    project: Path, cli: Cli, write: Callable[..., Path]
) -> None:
    # a gateway's own part format ({modality, value}, promptfoo's adaline examples) has no
    # type: the report names its keys rather than a type of None
    write("pf/pf/promptfooconfig.yaml", "prompts: [file://p.json]\ntests: [{vars: {q: x}}]\n")
    write(
        "pf/pf/p.json",
        '[{"role": "user", "content": [{"type": "text", "text": "{{q}}"}, '
        '{"modality": "image", "value": "u"}]}]',
    )
    result = cli("import", "promptfoo", "pf/pf/promptfooconfig.yaml", "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert any(
        "content part 2: a part without a type (keys: modality, value) is not converted" in n
        for n in json.loads(result.stdout)["not_converted"]
    )


def test_messages_mapping_prompt_file_refused_with_reason(
    project: Path, cli: Cli, write: Callable[..., Path]
) -> None:
    # promptfoo 0.121.20 loads such a file but does not send it as chat messages (OpenAI: the
    # mapping as the request's messages; Anthropic: its text as one user message), so the
    # import refuses it and says what to write instead
    write("pf/pf/promptfooconfig.yaml", "prompts: [file://p.yaml]\ntests: [{vars: {q: x}}]\n")
    write("pf/pf/p.yaml", "messages:\n  - role: user\n    content: 'Say {{q}}'\n")
    result = cli("import", "promptfoo", "pf/pf/promptfooconfig.yaml")
    assert_no_traceback(result)
    assert result.exit_code == 1
    assert "file://p.yaml: a mapping with a 'messages' list" in result.stderr
    assert "make the file the list itself" in result.stderr
    write("pf/pf/p.yaml", "- role: user\n  content: 'Say {{q}}'\n")
    assert cli("import", "promptfoo", "pf/pf/promptfooconfig.yaml").exit_code == 0


@pytest.mark.parametrize(
    ("csv_text", "line", "message"),
    [
        (
            "q,__expected\na,contains: a\nb,contains: b,extra\n",
            3,
            "3 field(s) where the header has 2",
        ),
        ("q,__expected\na\n", 2, "1 field(s) where the header has 2"),
        ('q,__expected\n"open,contains: a\n', 2, "malformed CSV: unexpected end of data"),
    ],
)
def test_malformed_csv_stops_at_its_line(
    project: Path, cli: Cli, write: Callable[..., Path], csv_text: str, line: int, message: str
) -> None:
    write("pf/csv/promptfooconfig.yaml", "prompts: ['{{q}}']\ntests: file://t.csv\n")
    (project / "pf/csv/t.csv").write_text(csv_text, encoding="utf-8")
    result = cli("import", "promptfoo", "pf/csv/promptfooconfig.yaml")
    assert_no_traceback(result)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"pf/csv/t.csv:{line}:"), result.stderr
    assert message in result.stderr


def test_nunjucks_chat_file_with_conversation_loop(
    project: Path, cli: Cli, write: Callable[..., Path]
) -> None:
    write("pf/nj/promptfooconfig.yaml", "prompts: [file://chat.json]\ntests: [{vars: {q: hi}}]\n")
    write(
        "pf/nj/chat.json",
        """\
        [
          {"role": "system", "content": "Be brief."},
          {% for completion in _conversation %}
            {"role": "user", "content": "{{ completion.input }}"},
            {"role": "assistant", "content": "{{ completion.output }}"},
          {% endfor %}
          {"role": "user", "content": "{{ q }}"}
        ]
        """,
    )
    result = cli("import", "promptfoo", "pf/nj/promptfooconfig.yaml", "--name", "nj", "-f", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["not_converted"] == []
    assert "_conversation loop" in data["notes"][0]
    doc = yaml.safe_load((project / "prompts/nj/1.0.0.yaml").read_text())
    assert doc["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "{{ q }}"},
    ]
    assert cli("lint").exit_code == 0


def test_prompt_level_config(project: Path, cli: Cli, write: Callable[..., Path]) -> None:
    write(
        "pf/pc/promptfooconfig.yaml",
        """\
        prompts:
          - raw: 'Cold: {{q}}'
            label: cold
            config: {temperature: 0, response_format: {type: json_object}, seed_x: 1}
          - 'Default: {{q}}'
        providers:
          - id: openai:chat:gpt-4o-mini-2024-07-18
            config: {temperature: 0.7, max_tokens: 50}
        tests: [{vars: {q: hi}}]
        """,
    )
    result = cli("import", "promptfoo", "pf/pc/promptfooconfig.yaml", "--name", "pc", "-f", "json")
    assert result.exit_code == 0, result.output
    assert [n.split(": ", 2)[1] for n in json.loads(result.stdout)["not_converted"]] == [
        "prompts[0].config.seed_x"
    ]
    cold = yaml.safe_load((project / "prompts/pc/1.0.0.yaml").read_text())
    plain = yaml.safe_load((project / "prompts/pc/1.1.0.yaml").read_text())
    assert cold["model"]["params"] == {"temperature": 0, "max_tokens": 50}
    assert cold["response_format"] == {"type": "json_object"}
    assert cold["changelog"].endswith("prompt 'cold').")
    assert plain["model"]["params"] == {"temperature": 0.7, "max_tokens": 50}
    assert "response_format" not in plain and "__config" not in cold


def test_an_undated_model_is_named_in_the_import_report(project: Path, cli: Cli) -> None:
    """promptfoo takes aliases such as gpt-4o-mini; promptops's lint refuses them. The report
    says so at import, instead of lint failing right after an import that looked clean."""
    cfg = project / "pf" / "alias.yaml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(
        "prompts: ['Say {{word}}']\nproviders: [openai:gpt-4o-mini]\n"
        "tests:\n  - vars: {word: hi}\n    assert: [{type: contains, value: hi}]\n"
    )
    result = cli("import", "promptfoo", str(cfg), "--name", "alias")
    assert result.exit_code == 0, result.output
    assert "model 'openai/gpt-4o-mini': lint will refuse it until it is fixed: " in result.stdout
    assert "pin a dated version" in result.stdout
    lint = cli("lint")
    assert lint.exit_code == 1 and "'openai/gpt-4o-mini' is an alias" in lint.output


# ----------------------------------------------------------------------------- examples
# minimal configs reproducing what promptfoo's own example configs showed
# (bench/promptfoo_examples.py runs the examples themselves)


def test_assertion_templates_are_read_through_their_refs(
    project: Path, cli: Cli, write: Callable[..., Path]
) -> None:
    """simple-test: ``$ref: '#/assertionTemplates/x'`` is the template (sibling keys over it);
    a JSON schema's own ``#/definitions`` pointer is left alone."""
    write(
        "pf/t/promptfooconfig.yaml",
        """\
        prompts: ['{{q}}']
        providers: [echo]
        assertionTemplates:
          pirate: {type: icontains, value: arrr}
        tests:
          - vars: {q: Arrr matey}
            assert:
              - $ref: '#/assertionTemplates/pirate'
              - {$ref: '#/assertionTemplates/pirate', value: matey}
              - type: is-json
                value: {$ref: '#/definitions/x'}
        """,
    )
    result = cli("import", "promptfoo", "pf/t/promptfooconfig.yaml", "-f", "json", "--name", "t")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["not_converted"] == []
    asserts = _cases(project, "t")[0]["assert"]
    assert asserts[:2] == [
        {"type": "icontains", "value": "arrr"},
        {"type": "icontains", "value": "matey"},
    ]
    assert asserts[2]["value"] == {"$ref": "#/definitions/x"}


def test_a_rubric_without_a_grader_is_judged_by_promptfoos_default(
    project: Path, cli: Cli, write: Callable[..., Path]
) -> None:
    """getting-started, claude-vs-gpt...: no grading provider means promptfoo's default
    grader; the import writes it (lint needs a pinned judge) and says so."""
    write(
        "pf/j/promptfooconfig.yaml",
        """\
        prompts: ['{{q}}']
        providers: [echo]
        tests:
          - vars: {q: hi}
            assert:
              - {type: llm-rubric, value: Is polite}
              - {type: llm-rubric, value: Is short, provider: openai:gpt-4o-mini-2024-07-18}
        """,
    )
    result = cli("import", "promptfoo", "pf/j/promptfooconfig.yaml", "-f", "json", "--name", "j")
    assert result.exit_code == 0, result.output
    notes = json.loads(result.stdout)["notes"]
    asserts = _cases(project, "j")[0]["assert"]
    assert [a["judge"] for a in asserts] == [
        "openai/gpt-5.5-2026-04-23",
        "openai/gpt-4o-mini-2024-07-18",
    ]
    assert any("promptfoo's default grader" in n and "assert[0]" in n for n in notes)
    assert cli("lint").exit_code == 0


def test_anthropic_server_tools_and_tool_choice(
    project: Path, cli: Cli, write: Callable[..., Path]
) -> None:
    """anthropic/promptfooconfig.tool-choice.yaml, anthropic/structured-outputs: a server tool
    is reported and left out (with a tool_choice left without tools); Anthropic's tool_choice
    forms are written in OpenAI's."""
    write(
        "pf/a/promptfooconfig.yaml",
        """\
        prompts: ['{{q}}']
        providers:
          - id: anthropic:messages:claude-3-5-haiku-20241022
            config:
              tools:
                - {type: web_search_20250305, name: web_search, max_uses: 5}
                - name: get_weather
                  input_schema: {type: object, properties: {city: {type: string}}}
              tool_choice: {type: tool, name: get_weather}
        tests: [{vars: {q: hi}}]
        """,
    )
    write(
        "pf/b/promptfooconfig.yaml",
        """\
        prompts: ['{{q}}']
        providers:
          - id: anthropic:messages:claude-3-5-haiku-20241022
            config:
              tools: [{type: web_search_20250305, name: web_search}]
              tool_choice: {type: any}
        tests: [{vars: {q: hi}}]
        """,
    )
    result = cli("import", "promptfoo", "pf/a/promptfooconfig.yaml", "-f", "json", "--name", "a")
    assert result.exit_code == 0, result.output
    skipped = json.loads(result.stdout)["not_converted"]
    assert len(skipped) == 1 and "server tool 'web_search'" in skipped[0]
    doc = yaml.safe_load((project / "prompts/a/1.0.0.yaml").read_text())
    assert [t["function"]["name"] for t in doc["tools"]] == ["get_weather"]
    assert doc["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    result = cli("import", "promptfoo", "pf/b/promptfooconfig.yaml", "-f", "json", "--name", "b")
    skipped = json.loads(result.stdout)["not_converted"]
    assert [s.split(": ", 2)[1] for s in skipped] == [
        "providers[0].config.tools[0]",
        "providers[0].config.tool_choice",
    ]
    doc = yaml.safe_load((project / "prompts/b/1.0.0.yaml").read_text())
    assert "tools" not in doc and "tool_choice" not in doc
    assert cli("lint").exit_code == 0


def test_an_assertion_reason_is_a_note(project: Path, cli: Cli, write: Callable[..., Path]) -> None:
    """anthropic/sonnet-5: ``reason`` is promptfoo's failure message; no verdict changes."""
    write(
        "pf/r/promptfooconfig.yaml",
        """\
        prompts: ['{{q}}']
        providers: [echo]
        tests:
          - vars: {q: def f()}
            assert: [{type: contains, value: def, reason: Should define a function}]
        """,
    )
    result = cli("import", "promptfoo", "pf/r/promptfooconfig.yaml", "-f", "json", "--name", "r")
    data = json.loads(result.stdout)
    assert data["not_converted"] == []
    assert any("reason (a failure message)" in n for n in data["notes"])
    assert _cases(project, "r")[0]["assert"] == [{"type": "contains", "value": "def"}]


def test_provider_config_of_the_responses_api_and_reasoning_models(
    project: Path, cli: Cli, write: Callable[..., Path]
) -> None:
    """openai-responses/*: flat function tools, max_output_tokens, reasoning.effort and
    verbosity convert; with a later provider's own config each provider is a prompt of its own,
    and one with the first's config (a YAML anchor) gets the same parameters and tools."""
    write(
        "pf/o/promptfooconfig.yaml",
        """\
        prompts: ['{{q}}']
        providers:
          - id: openai:responses:gpt-4.1-2025-04-14
            config: &same
              max_output_tokens: 900
              reasoning: {effort: low}
              verbosity: low
              tools:
                - type: function
                  name: add
                  description: Add
                  parameters: {type: object, properties: {a: {type: number}}}
          - id: openai:chat:gpt-4o-2024-08-06
            config: *same
          - id: openai:chat:gpt-4o-mini-2024-07-18
            config: {temperature: 1}
        tests: [{vars: {q: hi}}]
        """,
    )
    result = cli("import", "promptfoo", "pf/o/promptfooconfig.yaml", "-f", "json", "--name", "o")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["not_converted"] == []
    assert data["prompts"] == ["o", "o-gpt-4o-2024-08-06", "o-gpt-4o-mini-2024-07-18"]
    doc = yaml.safe_load((project / "prompts/o/1.0.0.yaml").read_text())
    assert doc["model"]["params"] == {
        "max_tokens": 900,
        "extra": {"reasoning_effort": "low", "verbosity": "low"},
    }
    anchored = yaml.safe_load((project / "prompts/o-gpt-4o-2024-08-06/1.0.0.yaml").read_text())
    # promptfoo's chat provider sends temperature 0 where its config sets none
    assert anchored["model"] == {
        "id": "openai/gpt-4o-2024-08-06",
        "params": {**doc["model"]["params"], "temperature": 0},
    }
    assert anchored["tools"] == doc["tools"]
    own = yaml.safe_load((project / "prompts/o-gpt-4o-mini-2024-07-18/1.0.0.yaml").read_text())
    assert own["model"] == {
        "id": "openai/gpt-4o-mini-2024-07-18",
        "params": {"temperature": 1, "max_tokens": 1024},
    }
    assert "tools" not in own
    assert doc["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "add",
                "description": "Add",
                "parameters": {"type": "object", "properties": {"a": {"type": "number"}}},
            },
        }
    ]
    lint = cli("lint")
    assert lint.exit_code == 0, lint.output


def test_rendered_prompts_match_promptfoos_whitespace(project: Path, cli: Cli) -> None:
    """Nunjucks keeps the newline after a block tag, the indent before it and a template's last
    newline; promptfoo trims a prompt file's text. Per prompt, the imported versions render
    (the echo provider answers with the prompt) byte for byte what promptfoo 0.121.20 rendered
    (promptfoo-results.json: each row's output)."""
    config = _copy(project, "whitespace")
    result = cli("import", "promptfoo", str(config), "-f", "json", "--name", "ws")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["not_converted"] == []
    recorded = json.loads((FIXTURES / "whitespace" / "promptfoo-results.json").read_text())
    theirs: dict[int, list[str]] = {}
    for row in recorded["results"]:
        theirs.setdefault(row["prompt"], []).append(row["output"])
    assert len(theirs) == len(data["versions"]) == 8
    for i, version in enumerate(data["versions"]):
        summary = _run(project, cli, f"ws@{version}")[1]
        text = (project / ".promptops/runs" / summary["run_id"] / "results.jsonl").read_text()
        ours = [json.loads(line)["output"] for line in text.splitlines()]
        assert sorted(ours) == sorted(theirs[i]), version


def test_a_grading_provider_per_kind_uses_its_text_grader(
    project: Path, cli: Cli, write: Callable[..., Path]
) -> None:
    """assertion-scoring-override: ``options.provider: {text, embedding}``: the text grader
    judges the rubrics."""
    write(
        "pf/g/promptfooconfig.yaml",
        """\
        prompts: ['{{q}}']
        providers: [echo]
        defaultTest:
          options:
            provider:
              text: openai:gpt-4o-mini-2024-07-18
              embedding: openai:embedding:text-embedding-3-small
          assert: [{type: llm-rubric, value: polite}]
        tests: [{vars: {q: hi}}]
        """,
    )
    result = cli("import", "promptfoo", "pf/g/promptfooconfig.yaml", "-f", "json", "--name", "g")
    data = json.loads(result.stdout)
    assert data["not_converted"] == []
    doc = yaml.safe_load((project / "prompts/g/1.0.0.yaml").read_text())
    assert doc["assert"][0]["judge"] == "openai/gpt-4o-mini-2024-07-18"


def test_the_examples_driver_counts_imports_and_lints(
    tmp_path: Path, write: Callable[..., Path]
) -> None:
    """bench/promptfoo_examples.py: a directory of example configs, each imported and linted
    in a throwaway project (offline), counted as promptfoo's own examples were."""
    import subprocess
    import sys

    ex = tmp_path / "examples"
    write(
        ex / "ok/promptfooconfig.yaml",
        "prompts: ['{{q}}']\nproviders: [echo]\ntests: [{vars: {q: hi}}]\n",
    )
    write(
        ex / "alias/promptfooconfig.yaml",
        "prompts: ['{{q}}']\nproviders: [openai:gpt-4o]\nsharing: true\ntests: [{vars: {q: hi}}]\n",
    )
    write(ex / "bad/promptfooconfig.yaml", "prompts: [file://make.py]\n")
    write(  # an llm-rubric without a value: the import says lint will refuse it
        ex / "said/promptfooconfig.yaml",
        "prompts: ['{{q}}']\nproviders: [echo]\n"
        "tests: [{vars: {q: hi}, assert: [{type: llm-rubric}]}]\n",
    )
    out = tmp_path / "out.json"
    script = Path(__file__).parents[1] / "bench" / "promptfoo_examples.py"
    done = subprocess.run(
        [sys.executable, str(script), str(ex), "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = {r["example"]: r for r in json.loads(out.read_text())}
    assert {k: (r["status"], r["lint_status"]) for k, r in rows.items()} == {
        "ok": ("clean", "passes"),
        "alias": ("unconverted", "pin-model"),
        "bad": ("refused", "-"),
        "said": ("clean", "announced"),
    }
    assert "4 config(s), import: clean 2, refused 1, unconverted 1" in done.stdout


def test_thinking_converts_only_where_promptfoo_hides_it(
    project: Path, cli: Cli, write: Callable[..., Path]
) -> None:
    """anthropic/promptfooconfig.thinking.yaml: with showThinking (true by default) promptfoo's
    assertions read the thinking before the answer, which promptops's output lacks: reported;
    with showThinking: false, thinking is a parameter."""
    write(
        "pf/t/promptfooconfig.yaml",
        """\
        prompts: ['{{q}}']
        providers:
          - id: anthropic:messages:claude-3-5-haiku-20241022
            config: {thinking: {type: enabled, budget_tokens: 1024}, store: true}
        tests: [{vars: {q: hi}}]
        """,
    )
    write(
        "pf/h/promptfooconfig.yaml",
        """\
        prompts: ['{{q}}']
        providers:
          - id: anthropic:messages:claude-3-5-haiku-20241022
            config: {thinking: {type: enabled, budget_tokens: 1024}, showThinking: false}
        tests: [{vars: {q: hi}}]
        """,
    )
    shown = json.loads(cli("import", "promptfoo", "pf/t/promptfooconfig.yaml", "-f", "json").stdout)
    assert [s.split(": ", 2)[1] for s in shown["not_converted"]] == ["providers[0].config.thinking"]
    assert any("store" in n for n in shown["notes"])
    hidden = json.loads(
        cli("import", "promptfoo", "pf/h/promptfooconfig.yaml", "-f", "json").stdout
    )
    assert hidden["not_converted"] == []
    doc = yaml.safe_load((project / "prompts/h/1.0.0.yaml").read_text())
    assert doc["model"]["params"]["extra"] == {
        "thinking": {"type": "enabled", "budget_tokens": 1024}
    }


def test_providers_with_their_own_config_each_run_with_it(
    project: Path, cli: Cli, write: Callable[..., Path]
) -> None:
    """promptfoo runs every provider on every case with that provider's own config: the import
    writes one prompt per provider, and the eval command it prints sends each model its own
    parameters (seen in the loopback server's request log) and none of another's."""
    write(
        "pf/p/promptfooconfig.yaml",
        """\
        prompts: ['Answer {{q}}']
        providers:
          - id: openai:chat:gpt-4o-mini-2024-07-18
            config: {temperature: 0, max_tokens: 50}
          - id: openai:chat:gpt-4o-2024-08-06
            label: Warm JSON
            config: {temperature: 0.9, max_tokens: 300, response_format: {type: json_object}}
          - openai:chat:gpt-4.1-2025-04-14
        tests:
          - vars: {q: one}
            assert: [{type: contains, value: ok}]
          - vars: {q: two}
            assert: [{type: contains, value: nope}]
        """,
    )
    result = cli("import", "promptfoo", "pf/p/promptfooconfig.yaml", "-f", "json", "--name", "p")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["not_converted"] == []
    # the first keeps the name; the others are named by their label, else their model
    assert data["prompts"] == ["p", "p-warm-json", "p-gpt-4.1-2025-04-14"]
    lint = cli("lint")
    assert lint.exit_code == 0, lint.output
    command = data["notes"][-1].split(": promptops eval ", 1)[1].split()
    assert len(command) == 3 and all(ref.endswith("@1.0.0") for ref in command)

    with FakeOpenAI(lambda request: Reply("ok")) as s:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("OPENAI_API_KEY", "sk-test")
            mp.setenv("OPENAI_API_BASE", s.url)
            run = cli("eval", *command, "-f", "json", "--fail-under", "0", "--no-cache")
        assert_no_traceback(run)
        assert run.exit_code == 0, run.output
        sent: dict[str, list[tuple[Any, ...]]] = {}
        for r in s.requests:
            b = r.body
            key = (b.get("temperature"), b.get("max_tokens"), b.get("response_format"))
            sent.setdefault(b["model"], []).append(key)
    assert sent == {
        "gpt-4o-mini-2024-07-18": [(0, 50, None)] * 2,
        "gpt-4o-2024-08-06": [(0.9, 300, {"type": "json_object"})] * 2,
        # no config: promptfoo's OpenAI defaults, none of the others' params
        "gpt-4.1-2025-04-14": [(0, 1024, None)] * 2,
    }
    # every provider on every case, judged alike: "ok" contains ok, not nope
    groups = json.loads(run.stdout)["groups"]
    assert sorted((g["passed"], g["n"]) for g in groups) == [(1, 2)] * 3


def test_providers_with_one_config_stay_a_model_matrix(
    project: Path, cli: Cli, write: Callable[..., Path]
) -> None:
    """Providers that share one config (or none) run on the prompt's parameters: one prompt,
    evaluated with a --model per provider; a later provider's option that does not convert is
    reported at its own line."""
    write(
        "pf/m/promptfooconfig.yaml",
        """\
        prompts: ['Answer {{q}}']
        providers:
          - id: openai:chat:gpt-4o-mini-2024-07-18
            config: {temperature: 0.2}
          - id: openai:chat:gpt-4o-2024-08-06
            config: {temperature: 0.2}
            transformResponse: json.output
        tests: [{vars: {q: one}}]
        """,
    )
    result = cli("import", "promptfoo", "pf/m/promptfooconfig.yaml", "-f", "json", "--name", "m")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["prompts"] == ["m"]
    assert data["notes"][-1].endswith(
        "promptops eval m@1.0.0 --model openai/gpt-4o-mini-2024-07-18 "
        "--model openai/gpt-4o-2024-08-06"
    )
    assert data["not_converted"] == [
        "pf/m/promptfooconfig.yaml:7: providers[1].transformResponse: provider option "
        "'transformResponse' is not converted"
    ]
    assert data["files"] == ["prompts/m/1.0.0.yaml", "evals/m.jsonl"]


@pytest.mark.parametrize(
    ("labels", "names"),
    [
        (["A", "B", "B"], ["x", "x-b", "x-3"]),  # a repeated label: its position
        (["A", "x", "!!!"], ["x", "x-x", "x-3"]),  # a label with no usable character: position
    ],
)
def test_prompt_names_of_providers_are_distinct_and_valid(
    project: Path, cli: Cli, write: Callable[..., Path], labels: list[str], names: list[str]
) -> None:
    providers = "".join(
        f"  - {{id: openai:chat:gpt-4o-mini-2024-07-18, label: {label!r}, "
        f"config: {{temperature: {i / 10}}}}}\n"
        for i, label in enumerate(labels)
    )
    write("pf/n/promptfooconfig.yaml", f"prompts: ['{{{{q}}}}']\nproviders:\n{providers}")
    result = cli("import", "promptfoo", "pf/n/promptfooconfig.yaml", "-f", "json", "--name", "x")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["prompts"] == names
    assert cli("lint").exit_code == 0


def test_providers_probe_sends_and_judges_as_promptfoo_does(
    project: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The providers probe (three providers, each with its own config or none) against what
    promptfoo 0.121.20 recorded on the same loopback model (scripts/promptfoo_differential.py):
    each model receives the sampling parameters promptfoo sent it, and every (case, provider)
    gets promptfoo's verdict (the responder answers with the parameters it received)."""
    pytest.importorskip("quickjs")
    config = _copy(project, "providers")
    result = cli("import", "promptfoo", str(config), "-f", "json", "--name", "providers")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["not_converted"] == []
    assert data["prompts"] == ["providers", "providers-warm", "providers-plain"]
    assert cli("lint").exit_code == 0
    recorded = json.loads((FIXTURES / "providers" / "promptfoo-results.json").read_text())
    label = {"providers": "cold", "providers-warm": "warm", "providers-plain": "plain"}
    refs = data["notes"][-1].split(": promptops eval ", 1)[1].split()
    with FakeOpenAI(_responder(FIXTURES / "providers")) as s:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_API_BASE", s.url)
        run = cli("eval", *refs, "-f", "json", "--fail-under", "0", "--no-cache")
        assert run.exit_code == 0, run.output
        keys = ("temperature", "max_tokens", "seed")
        ours_sent = [
            {"model": r.body["model"], **{k: r.body[k] for k in keys if k in r.body}}
            for r in s.requests
        ]

    def order(x: dict[str, Any]) -> str:
        return json.dumps(x, sort_keys=True).replace(".0,", ",").replace(".0}", "}")

    # 0 and 0.0 are one value: compared as dicts, in one order
    assert sorted(ours_sent, key=order) == sorted(recorded["requests"], key=order)
    run_id = json.loads(run.stdout)["run_id"]
    recs = (project / ".promptops/runs" / run_id / "results.jsonl").read_text().splitlines()
    ids = {c["id"]: c.get("description") for c in _cases(project, "providers")}
    ours = {
        (ids[r["case_id"]] or r["case_id"], label[r["prompt"]]): r["pass"]
        for r in map(json.loads, recs)
    }
    theirs = {(r["description"], r["provider"]): r["pass"] for r in recorded["results"]}
    assert ours == theirs and len(theirs) == 12


def test_a_tool_lint_refuses_is_named_by_the_import(
    project: Path, cli: Cli, write: Callable[..., Path]
) -> None:
    """promptfoo's tool-use example gives an OpenAI function Anthropic's input_schema (promptfoo
    sends it unchanged): the import's report says lint will refuse it, before lint does."""
    write(
        "pf/t/promptfooconfig.yaml",
        """\
        prompts: ['Weather in {{city}}?']
        providers:
          - id: openai:chat:gpt-4o-mini-2024-07-18
            config:
              tools:
                - type: function
                  function:
                    name: get_weather
                    input_schema: {type: object, properties: {city: {type: string}}}
        tests: [{vars: {city: Paris}}]
        """,
    )
    result = cli("import", "promptfoo", "pf/t/promptfooconfig.yaml", "-f", "json", "--name", "t")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["notes"][0] == (
        "pf/t/promptfooconfig.yaml:6: providers[0].config.tools[0]: tool: lint will refuse it "
        "until it is fixed: function.input_schema: Extra inputs are not permitted"
    )
    lint = cli("lint", "-f", "json")
    assert lint.exit_code == 1
    assert "tools[0].function.input_schema" in lint.stdout


def test_a_providers_prompts_option_picks_the_prompts_it_runs(
    project: Path, cli: Cli, write: Callable[..., Path]
) -> None:
    """promptfoo's prompts-per-model example: a provider's ``prompts`` (labels; ``label:``
    prefix or ``prefix*``) are the prompts promptfoo runs on it: so the provider's prompt has
    only those versions, and the eval command runs exactly promptfoo's pairs (as promptfoo
    0.121.20 ran them with echo); a label that matches no prompt is reported, and a provider
    that runs no prompt is left out, as promptfoo leaves it out."""
    write(
        "pf/pp/promptfooconfig.yaml",
        """\
        prompts:
          - {raw: 'First {{topic}}', label: 'first: short'}
          - {raw: 'Second {{topic}}', label: second}
          - {raw: 'Third {{topic}}', label: third}
        providers:
          - id: openai:chat:gpt-4o-mini-2024-07-18
            prompts: [first, 'sec*']
          - id: openai:chat:gpt-4o-2024-08-06
            prompts: [third]
          - id: openai:chat:gpt-4.1-2025-04-14
            prompts: [fourth]
          - id: openai:chat:gpt-4.1-mini-2025-04-14
            prompts: [fifth, third]
        tests: [{vars: {topic: bananas}}]
        """,
    )
    result = cli("import", "promptfoo", "pf/pp/promptfooconfig.yaml", "-f", "json", "--name", "pp")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["refs"] == [
        "pp@1.0.0",
        "pp@1.1.0",
        "pp-gpt-4o-2024-08-06@1.2.0",
        "pp-gpt-4.1-mini-2025-04-14@1.2.0",
    ]
    assert data["notes"][-1].endswith("promptops eval " + " ".join(data["refs"]))
    cfg = "pf/pp/promptfooconfig.yaml"
    assert data["not_converted"] == [
        f"{cfg}:11: providers[2].prompts[0]: openai:chat:gpt-4.1-2025-04-14: 'fourth' matches no "
        "prompt label; not converted (promptfoo also matches prompt ids and default labels)",
        f"{cfg}:11: providers[2].prompts: openai:chat:gpt-4.1-2025-04-14: runs no prompt (as in "
        "promptfoo); left out",
        f"{cfg}:13: providers[3].prompts[0]: openai:chat:gpt-4.1-mini-2025-04-14: 'fifth' matches "
        "no prompt label; not converted (promptfoo also matches prompt ids and default labels)",
    ]
    assert cli("lint").exit_code == 0
    third = yaml.safe_load((project / "prompts/pp-gpt-4o-2024-08-06/1.2.0.yaml").read_text())
    assert third["template"] == "Third {{topic}}"
    assert third["model"]["id"] == "openai/gpt-4o-2024-08-06"
    text = cli("import", "promptfoo", "pf/pp/promptfooconfig.yaml", "--name", "pp", "--force")
    assert text.exit_code == 0, text.output
    assert "pp, pp-gpt-4o-2024-08-06, pp-gpt-4.1-mini-2025-04-14: 4 version(s), 1 case(s)" in (
        text.stdout
    )


def test_a_provider_given_no_prompt_is_left_out(
    project: Path, cli: Cli, write: Callable[..., Path]
) -> None:
    write(
        "pf/np/promptfooconfig.yaml",
        """\
        prompts: ['Hi {{x}}']
        providers:
          - echo
          - {id: openai:chat:gpt-4o-mini-2024-07-18, prompts: []}
        """,
    )
    result = cli("import", "promptfoo", "pf/np/promptfooconfig.yaml", "-f", "json", "--name", "np")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["prompts"] == ["np"] and data["models"] == ["echo/echo"]
    assert [s.split(": ", 2)[1] for s in data["not_converted"]] == ["providers[1].prompts"]


def test_provider_prompts_probe_runs_promptfoos_pairs(project: Path, cli: Cli) -> None:
    """Each provider's prompts option against what promptfoo 0.121.20 ran (the providerprompts
    probe, echo provider): the same (provider, prompt) pairs, so the same outputs and
    verdicts; the provider whose label matches nothing runs nothing on both sides."""
    config = _copy(project, "providerprompts")
    result = cli("import", "promptfoo", str(config), "-f", "json", "--name", "pp")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["prompts"] == ["pp", "pp-b"]
    assert cli("lint").exit_code == 0
    run = cli("eval", *data["refs"], "-f", "json", "--no-cache")
    assert run.exit_code == 0, run.output
    recs = project / ".promptops/runs" / json.loads(run.stdout)["run_id"] / "results.jsonl"
    label = {"pp": "a", "pp-b": "b"}
    ours = sorted(
        (label[r["prompt"]], r["output"], r["pass"])
        for r in map(json.loads, recs.read_text().splitlines())
    )
    recorded = json.loads((FIXTURES / "providerprompts" / "promptfoo-results.json").read_text())
    theirs = sorted((r["provider"], r["output"], r["pass"]) for r in recorded["results"])
    assert ours == theirs and len(theirs) == 3


def test_openai_defaults_are_each_providers_own(
    project: Path, cli: Cli, write: Callable[..., Path]
) -> None:
    """promptfoo's OpenAI chat defaults go to OpenAI chat providers only: not to another
    provider sharing the config (a YAML anchor), not to a reasoning model, not with
    omitDefaults (inline or in a file:// config)."""
    write("pf/d/quiet.yaml", "omitDefaults: true\nmax_tokens: 64\n")
    write(
        "pf/d/promptfooconfig.yaml",
        """\
        prompts: ['{{q}}']
        providers:
          - id: openai:chat:gpt-4o-mini-2024-07-18
            config: &shared {top_p: 0.5}
          - id: anthropic:messages:claude-3-5-haiku-20241022
            config: *shared
          - id: openai:o3-mini-2025-01-31
            config: *shared
          - id: openai:chat:gpt-4o-2024-08-06
            config: file://quiet.yaml
        tests: [{vars: {q: hi}}]
        """,
    )
    result = cli("import", "promptfoo", "pf/d/promptfooconfig.yaml", "-f", "json", "--name", "d")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["not_converted"] == []
    models = {
        name: yaml.safe_load((project / f"prompts/{name}/1.0.0.yaml").read_text())["model"]
        for name in data["prompts"]
    }
    assert [m["params"] for m in models.values()] == [
        {"top_p": 0.5, "temperature": 0, "max_tokens": 1024},
        {"top_p": 0.5},
        {"top_p": 0.5},
        {"max_tokens": 64},
    ]
    assert cli("lint").exit_code == 0


def test_nunjucks_chat_file_looping_over_a_history_var(
    project: Path, cli: Cli, write: Callable[..., Path], server: FakeOpenAI
) -> None:
    """A JSON prompt file whose Nunjucks loop makes messages from a case's var (promptfoo's
    openai-chat-history shape): each case sends the messages promptfoo 0.121.20 sent for it
    to the loopback server (recorded with /tmp/pf4probe, the same config); a case whose file
    does not render to JSON (a quote in a "{{ content }}"), which promptfoo refuses, fails."""
    write(
        "pf/hist/promptfooconfig.yaml",
        """\
        prompts: [file://prompt.json]
        providers: [openai:chat:gpt-4o-mini-2024-07-18]
        defaultTest:
          vars:
            system_message: Be brief.
            previous_messages:
              - user: Who founded Facebook?
              - assistant: Mark Zuckerberg
        tests:
          - vars:
              question: Did he create any other companies?
          - vars:
              question: "Quote \\"this\\"\\nand a newline"
              previous_messages:
                - user: 'He said "hi"'
                - assistant: "line one\\nline two"
          - vars:
              question: plain
              previous_messages:
                - user: "a & b <c>"
        """,
    )
    write(
        "pf/hist/prompt.json",
        """\
        [
          {"role": "system", "content": {{ system_message | dump }}},
          {% for message in previous_messages %}
            {% for role, content in message %}
              {"role": "{{ role }}", "content": "{{ content }}"},
            {% endfor %}
          {% endfor %}
          {"role": "user", "content": {{ question | dump }}}
        ]
        """,
    )
    result = cli(
        "import", "promptfoo", "pf/hist/promptfooconfig.yaml", "--name", "hist", "-f", "json"
    )
    assert result.exit_code == 0, result.output
    refused = json.loads(result.stdout)["not_converted"]
    assert len(refused) == 1 and "case case-2: does not render to JSON" in refused[0]
    doc = yaml.safe_load((project / "prompts/hist/1.0.0.yaml").read_text())
    assert doc["messages"][1] == {"placeholder": "_history"}
    assert doc["inputs"]["_history"]["type"] == "messages"
    assert cli("lint").exit_code == 0
    result = cli("eval", "hist@1.0.0", "-f", "json", "--fail-under", "0")
    assert result.exit_code == 0, result.output
    sent = {r.body["messages"][-1]["content"]: r.body["messages"] for r in server.requests}
    # what promptfoo 0.121.20 sent (request bodies on the loopback server), byte for byte
    promptfoo_sent = [
        '[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Who founded '
        'Facebook?"}, {"role": "assistant", "content": "Mark Zuckerberg"}, {"role": "user", '
        '"content": "Did he create any other companies?"}]',
        '[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "a & b <c>"}, '
        '{"role": "user", "content": "plain"}]',
    ]
    for text in promptfoo_sent:
        question = json.loads(text)[-1]["content"]
        assert json.dumps(sent[question]) == text
    run_id = json.loads(result.stdout)["run_id"]
    recs = (project / ".promptops/runs" / run_id / "results.jsonl").read_text().splitlines()
    verdicts = {json.loads(x)["case_id"]: json.loads(x)["pass"] for x in recs}
    assert verdicts == {"case-1": True, "case-2": False, "case-3": True}
    # --drop-unconverted leaves the refused case out rather than send other messages
    result = cli(
        "import",
        "promptfoo",
        "pf/hist/promptfooconfig.yaml",
        "--name",
        "hist2",
        "--drop-unconverted",
        "-f",
        "json",
    )
    assert result.exit_code == 0, result.output
    cases = (project / "evals/hist2.jsonl").read_text().splitlines()
    assert [json.loads(c)["id"] for c in cases] == ["case-1", "case-3"]


@pytest.mark.parametrize(
    ("prompt", "why"),
    [
        (
            '[{"role": "user", "content": {% if q %}"a"{% else %}"b"{% endif %}}]',
            "here they stand inside a message",
        ),
        (
            '[{"role": "user", "content": "{{ q }}"} {% for m in h %}, {{ m }}{% endfor %}',
            "does not parse as JSON without them",
        ),
        ('[{"role": "user", "content": "{% q"}]', "unclosed {% tag"),
    ],
)
def test_nunjucks_chat_file_tags_not_between_messages_are_refused(
    project: Path, cli: Cli, write: Callable[..., Path], prompt: str, why: str
) -> None:
    write("pf/njr/promptfooconfig.yaml", "prompts: [file://chat.json]\ntests: [{vars: {q: hi}}]\n")
    (project / "pf/njr/chat.json").write_text(prompt, encoding="utf-8")
    result = cli("import", "promptfoo", "pf/njr/promptfooconfig.yaml", "-f", "json")
    assert_no_traceback(result)
    assert result.exit_code == 1
    assert "no prompt could be converted" in result.stderr
    assert why in result.stderr


def test_nunjucks_history_loop_with_dump_sends_promptfoos_messages(
    project: Path, cli: Cli, write: Callable[..., Path], server: FakeOpenAI
) -> None:
    """openai-chat-history's own shape (``{{ content | dump }}``, a system message from a
    file), with quotes, newlines, a tab, a backslash, non-ASCII text, a two-key message and an
    empty history: the messages promptfoo 0.121.20 sent to the loopback server, byte for byte."""
    write(
        "pf/hd/promptfooconfig.yaml",
        """\
        prompts: [file://prompt.json]
        providers: [openai:chat:gpt-4o-mini-2024-07-18]
        defaultTest:
          vars:
            system_message: file://system_message.txt
            previous_messages:
              - user: Who founded Facebook?
              - assistant: Mark Zuckerberg
        tests:
          - vars:
              question: Did he create any other companies?
          - vars:
              question: "Quote \\"this\\"\\nand a newline \\\\ backslash"
              previous_messages:
                - user: 'He said "hi"'
                  assistant: "line one\\nline two\\ttab"
                - assistant: "unicode é ✓ </script>"
          - vars:
              question: empty
              previous_messages: []
        """,
    )
    (project / "pf/hd/system_message.txt").write_text('You are "helpful".\nBe brief.\n')
    write(
        "pf/hd/prompt.json",
        """\
        [
          {"role": "system", "content": {{ system_message | dump }}},
          {% for message in previous_messages %}
            {% for role, content in message %}
              {"role": "{{ role }}", "content": {{ content | dump }}},
            {% endfor %}
          {% endfor %}
          {"role": "user", "content": {{ question | dump }}}
        ]
        """,
    )
    result = cli("import", "promptfoo", "pf/hd/promptfooconfig.yaml", "--name", "hd")
    assert result.exit_code == 0, result.output
    assert "everything converted" in result.stdout
    result = cli("eval", "hd@1.0.0", "--fail-under", "0")
    assert result.exit_code == 0, result.output
    system = '{"role": "system", "content": "You are \\"helpful\\".\\nBe brief."}, '
    promptfoo_sent = [
        "["
        + system
        + '{"role": "user", "content": "He said \\"hi\\""}, {"role": "assistant", "content": '
        '"line one\\nline two\\ttab"}, {"role": "assistant", "content": "unicode é ✓ </script>"}'
        ', {"role": "user", "content": "Quote \\"this\\"\\nand a newline \\\\ backslash"}]',
        "["
        + system
        + '{"role": "user", "content": "Who founded Facebook?"}, {"role": "assistant", '
        '"content": "Mark Zuckerberg"}, {"role": "user", "content": "Did he create any other '
        'companies?"}]',
        "[" + system + '{"role": "user", "content": "empty"}]',
    ]
    sent = sorted(json.dumps(r.body["messages"], ensure_ascii=False) for r in server.requests)
    assert sent == sorted(promptfoo_sent)
