"""No secret at rest: a canary secret in the environment, in ``--api-base`` userinfo and query
and echoed back by the provider must appear in no file under .promptops/, no report, no
captured output and no log record. And the cache key follows the endpoint, never the key."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from conftest import assert_no_traceback, git
from promptops.cache import cache_key
from promptops.errors import PromptOpsError
from promptops.redact import redact_obj, redact_text, strip_url
from promptops.testing.server import FakeOpenAI, Fault, Reply

Cli = Callable[..., Result]
CANARY = "canary-Zq8xW3vT7pLm2Ns"  # no sk- shape: only the env, URL and registered rules catch it
CANARY_PW = "pw-Kx4Rt9Lq2Vb7"

PROMPT = """\
name: leak
version: {version}
description: Repeats things.
model:
  id: openai/fake-model-2024-01-01
  params: {{temperature: 0}}
inputs:
  document: {{type: string, description: The text.}}
template: "{template}"
dataset: evals/leak.jsonl
assert:
  - {{type: contains, value: "{{{{ document }}}}"}}
"""


def test_strip_url() -> None:
    assert strip_url(f"http://user:{CANARY_PW}@h:8/v1") == "http://h:8/v1"
    assert strip_url(f"https://{CANARY}@h/v1") == "https://h/v1"
    url = strip_url(f"https://h/v1?api-version=2024&api_key={CANARY}&code={CANARY}&sig=x")
    assert CANARY not in url and "api-version=2024" in url and "sig=[redacted]" in url


def test_redact_text_and_obj(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_API_KEY", CANARY)
    monkeypatch.setenv("SHORT_TOKEN", "abc")  # too short to redact safely
    monkeypatch.setenv("EDITOR", "vim-canary-but-not-a-secret")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Ada Lovelace")  # AUTHOR is not AUTH
    text = f"failed: {CANARY} at http://u:{CANARY_PW}@h/v1 abc vim-canary-but-not-a-secret"
    out = redact_text(text + " by Ada Lovelace, basic understanding, the bearer instrument")
    assert CANARY not in out and CANARY_PW not in out
    assert "basic understanding, the bearer instrument" in out
    assert redact_text("Authorization: Bearer abc.def-123456") == "Authorization: Bearer [redacted]"
    assert "abc" in out and "vim-canary-but-not-a-secret" in out and "Ada Lovelace" in out
    assert redact_obj({"a": [CANARY, {"k": 1}], CANARY: None}) == {
        "a": ["[redacted]", {"k": 1}],
        "[redacted]": None,
    }


@pytest.fixture
def leaky(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    """A provider that echoes the Authorization header and the URL it was called on into its
    answers, with the canary as the CI's key and in another credential variable."""

    def responder(req: Any) -> Any:
        auth = req.headers.get("authorization", "")
        return Reply(f"{req.text} [auth: {auth}] [path: {req.path}]")

    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    monkeypatch.setenv("ACME_SECRET_TOKEN", CANARY + "-2")
    (project / "prompts/leak").mkdir()
    (project / "prompts/leak/1.0.0.yaml").write_text(
        PROMPT.format(version="1.0.0", template="Say: {{ document }}")
    )
    (project / "evals/leak.jsonl").write_text(
        "".join(
            json.dumps({"id": f"c{i}", "vars": {"document": f"doc {i}"}}) + "\n" for i in range(4)
        )
    )
    (project / "promptops.yaml").write_text('allowed_api_hosts: ["127.0.0.1:*"]\n')
    git(project, "add", "-A")
    git(project, "commit", "-qm", "leak")
    git(project, "checkout", "-qb", "pr")
    with FakeOpenAI(responder) as s:
        yield s


def _all_text(root: Path) -> dict[str, str]:
    out = {}
    for p in root.rglob("*"):
        if p.is_file() and ".git" not in p.parts:
            out[str(p)] = p.read_bytes().decode("utf-8", "replace")
    return out


def test_a_canary_secret_is_nowhere_at_rest(
    project: Path, cli: Cli, leaky: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    base = f"http://user:{CANARY_PW}@127.0.0.1:{leaky.port}/v1"
    outputs: list[str] = []

    def run(*args: str) -> Result:
        result = cli(*args)
        assert_no_traceback(result)
        outputs.extend([result.stdout, result.stderr])
        return result

    ev = run("eval", "leak@1.0.0", "--api-base", leaky.url, "--format", "json")
    assert ev.exit_code == 0, ev.output
    assert leaky.calls == 4
    # the provider did see the key and echoed it (so the canary really went through the run)
    assert any(CANARY in r.headers.get("authorization", "") for r in leaky.requests)
    run("eval", "leak@1.0.0", "--api-base", leaky.url, "--format", "markdown", "--no-cache")
    # credentials in the URL (the OpenAI client refuses them next to its key: error records)
    run("eval", "leak@1.0.0", "--api-base", base, "--junit", str(project / "junit.xml"))
    run("eval", "leak@1.0.0", "--api-base", f"{leaky.url}?api_key={CANARY}", "--no-cache")
    (project / "prompts/leak/1.1.0.yaml").write_text(
        PROMPT.format(version="1.1.0", template="Repeat: {{ document }}")
    )
    ch = run(
        "check",
        "--base",
        "main",
        "--api-base",
        base,
        "--markdown",
        str(project / "check.md"),
        "--junit",
        str(project / "check.xml"),
    )
    assert ch.exit_code == 1, ch.output  # every call failed: fails closed
    run("report", "latest", "--html", str(project / "report.html"))
    run("export", "latest", "--format", "jsonl", "--output", str(project / "export.jsonl"))
    # an error message carrying the URL and the key
    leaky.responder = lambda req: Fault.http_error(
        401, f"bad key {CANARY} for {base} (user:{CANARY_PW})"
    )
    run("eval", "leak@1.0.0", "--api-base", base, "--no-cache", "--retries", "0")

    # the runtime API: a log record per call, and the error of a failing one
    with (
        caplog.at_level(logging.INFO, logger="promptops.runtime"),
        pytest.raises(PromptOpsError) as exc,
    ):
        _runtime_call(project, base)
    outputs.append(str(exc.value))
    logs = [r.getMessage() + json.dumps(getattr(r, "promptops", {})) for r in caplog.records]
    assert logs  # there were log records to look at

    files = _all_text(project)
    assert any("report.html" in f for f in files) and any("results.jsonl" in f for f in files)
    leaks = [name for name, text in files.items() if CANARY in text or CANARY_PW in text]
    assert leaks == []
    for text in outputs + logs:
        assert CANARY not in text and CANARY_PW not in text, text[:500]
    # what is stored still says where the calls went, without the credentials
    run_json = next(p for p in (project / ".promptops/runs").rglob("run.json"))
    assert f"http://127.0.0.1:{leaky.port}/v1" in run_json.read_text()


def _runtime_call(project: Path, base: str) -> None:
    """Serve leak 1.0.0 from a fresh registry.yaml entry and call it (the server fails it)."""
    from promptops import Registry
    from promptops.project import load_prompt

    digest = load_prompt(project / "prompts/leak/1.0.0.yaml").digest
    with (project / "registry.yaml").open("a") as fh:
        fh.write(f"  leak:\n    prod: {{version: 1.0.0, digest: '{digest}'}}\n")
    Registry.load(project, api_base=base, retries=0).get("leak", "prod").complete(document="x")


def test_a_run_with_credentials_in_its_url_stores_the_url_without_them(
    project: Path, cli: Cli, leaky: FakeOpenAI
) -> None:
    run = cli("eval", "leak@1.0.0", "--api-base", f"http://u:{CANARY_PW}@{leaky.url[7:]}")
    assert_no_traceback(run)
    text = next((project / ".promptops/runs").rglob("run.json")).read_text()
    assert f'"api_base": "{leaky.url}"' in text and CANARY_PW not in text


def test_params_extra_api_key_is_refused_without_echoing_it(project: Path, cli: Cli) -> None:
    (project / "prompts/leak").mkdir()
    text = PROMPT.format(version="1.0.0", template="Say: {{ document }}")
    text = text.replace("params: {temperature: 0}", f"params: {{extra: {{api_key: {CANARY}}}}}")
    (project / "prompts/leak/1.0.0.yaml").write_text(text)
    (project / "evals/leak.jsonl").write_text('{"id": "a", "vars": {"document": "d"}}\n')
    for args in (("lint",), ("eval", "leak@1.0.0")):
        result = cli(*args)
        assert result.exit_code == 1
        assert "'api_key' is not allowed in params.extra" in result.output
        assert CANARY not in result.output


# ------------------------------------------------------------------------------------------
# the cache key follows the endpoint (finding 7)
# ------------------------------------------------------------------------------------------


def test_the_cache_key_has_the_endpoint_and_not_the_key() -> None:
    args: tuple[Any, ...] = ("openai/m", [{"role": "user", "content": "x"}], {}, None, 0)
    a = cache_key(*args, {"endpoint": {"OPENAI_BASE_URL": "http://a/v1"}})
    b = cache_key(*args, {"endpoint": {"OPENAI_BASE_URL": "http://b/v1"}})
    assert a != b
    k1 = cache_key("openai/m", [], {}, f"http://u:{CANARY_PW}@h/v1?api_key=1", 0)
    k2 = cache_key("openai/m", [], {}, "http://other:pw-Other9999@h/v1?api_key=2", 0)
    assert k1 == k2  # rotating credentials keeps the cache


def test_openai_base_url_is_part_of_the_cache_key(
    project: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "prompts/leak").mkdir()
    (project / "prompts/leak/1.0.0.yaml").write_text(
        PROMPT.format(version="1.0.0", template="Say: {{ document }}")
    )
    (project / "evals/leak.jsonl").write_text('{"id": "a", "vars": {"document": "d"}}\n')
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0000")
    answers = []
    with (
        FakeOpenAI(lambda req: Reply("from A: d")) as a,
        FakeOpenAI(lambda req: Reply("from B: d")) as b,
    ):
        for server in (a, b, a):
            monkeypatch.setenv("OPENAI_BASE_URL", server.url)
            result = cli("eval", "leak@1.0.0", "--format", "json")
            assert result.exit_code == 0, result.output
            run = project / ".promptops/runs" / json.loads(result.stdout)["run_id"]
            (rec,) = [json.loads(line) for line in (run / "results.jsonl").open()]
            answers.append((rec["output"], rec["cached"]))
        assert (a.calls, b.calls) == (1, 1)
    assert answers == [("from A: d", False), ("from B: d", False), ("from A: d", True)]
