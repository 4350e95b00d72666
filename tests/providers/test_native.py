"""The native OpenAI-compatible path (providers/native.py) against the loopback server: routing,
the same classification and cache keys as the litellm path, usage, cost, tool calls, images and
response formats passed through, and no litellm import."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promptops.cache import ResponseCache
from promptops.providers import Call, Caller, CallError, route
from promptops.providers.litellm_provider import LiteLLMProvider
from promptops.providers.native import NativeProvider, wire_model
from promptops.testing.server import FakeOpenAI, Fault, Reply, Request, constant

PRICED = "openai/gpt-4o-mini-2024-07-18"  # in litellm's price file
MESSAGES = [{"role": "user", "content": "hello there"}]


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-0123456789")
    for name in ("OPENAI_BASE_URL", "OPENAI_API_BASE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as s:
        yield s


async def _closing(coro: Any, providers: tuple[Any, ...]) -> Any:
    from promptops.providers.base import aclose_all

    try:
        return await coro
    finally:
        await aclose_all()
        for prov in providers:
            await prov.aclose()


def run(coro: Any, *providers: Any) -> Any:
    """Run ``coro``, then close the registered providers' pools and ``providers``'."""
    return asyncio.run(_closing(coro, providers))


def _name(model: str, api_base: str | None = None, via: str | None = None) -> str:
    return type(route(model, api_base, via)).__name__


def test_routing() -> None:
    base = "http://127.0.0.1:1/v1"
    assert _name("openai/gpt-4o-mini-2024-07-18") == "NativeProvider"
    assert _name("openai/gpt-4o-mini-2024-07-18", via="litellm") == "LiteLLMProvider"
    assert _name("anthropic/claude-3-5-haiku-20241022") == "LiteLLMProvider"
    assert _name("anthropic/claude-3-5-haiku-20241022", base) == "LiteLLMProvider"
    assert _name("hosted_vllm/qwen", base) == "NativeProvider"
    assert _name("Qwen/Qwen2.5-7B-Instruct", base) == "NativeProvider"  # not a litellm prefix
    assert _name("Qwen/Qwen2.5-7B-Instruct", base, "litellm") == "LiteLLMProvider"
    assert _name("gpt-4o-mini", base) == "LiteLLMProvider"  # a bare id: litellm knows whose
    assert _name("echo/echo", base, "litellm") == "EchoProvider"
    assert wire_model("openai/gpt-4o") == "gpt-4o"
    assert wire_model("hosted_vllm/org/model") == "org/model"
    assert wire_model("Qwen/Qwen2.5-7B") == "Qwen/Qwen2.5-7B"


def _complete(prov: Any, server: FakeOpenAI, model: str = PRICED, **params: Any) -> Any:
    call = Call(model, MESSAGES, params, server.url, timeout=0.5)
    return run(prov.complete(call), prov)


def test_usage_cost_and_text_match_the_litellm_path(server: FakeOpenAI) -> None:
    native = _complete(NativeProvider(), server, temperature=0, max_tokens=20, seed=7)
    lite = _complete(LiteLLMProvider(), server, temperature=0, max_tokens=20, seed=7)
    assert native.text == lite.text == "hello there"
    assert (native.tokens_in, native.tokens_out) == (lite.tokens_in, lite.tokens_out)
    assert native.tokens_in and native.tokens_out
    assert native.cost is not None and native.cost == pytest.approx(lite.cost, rel=1e-9)
    assert native.finish_reason == lite.finish_reason == "stop"
    sent = server.requests[0]
    assert sent.model == "gpt-4o-mini-2024-07-18"
    assert sent.body["temperature"] == 0 and sent.body["seed"] == 7
    assert sent.headers["authorization"] == "Bearer sk-test-secret-0123456789"


def test_unpriced_model_has_no_cost(server: FakeOpenAI) -> None:
    assert _complete(NativeProvider(), server, model="openai/fake-model").cost is None


@pytest.mark.parametrize(
    "fault",
    [
        Fault.rate_limit(retry_after=0.2),
        Fault.server_error(),
        Fault.unavailable(),
        Fault.http_error(400),
        Fault.http_error(401),
        Fault.http_error(403),
        Fault.http_error(404),
        Fault.malformed(),
        Fault.malformed('{"unexpected": "shape"}'),
        Fault.drop(),
        Fault.hang(10),
    ],
    ids=["429", "500", "503", "400", "401", "403", "404", "malformed", "shape", "drop", "hang"],
)
def test_errors_classify_as_on_the_litellm_path(fault: Fault) -> None:
    def failure(prov: Any) -> CallError:
        with FakeOpenAI(constant(fault)) as s:
            with pytest.raises(CallError) as info:
                _complete(prov, s, model="openai/fake-model")
            assert s.calls == 1  # no retry inside the provider: the Caller retries
        return info.value

    native, lite = failure(NativeProvider()), failure(LiteLLMProvider())
    assert native.transient == lite.transient
    assert native.config == lite.config
    assert native.retry_after == lite.retry_after
    # litellm reports a malformed or dropped answer as a 500; the native path names it
    same_kind = fault.kind not in ("malformed", "drop")
    assert native.kind == lite.kind if same_kind else native.kind in ("malformed", "connection")
    if fault.status == 429:
        assert native.retry_after == pytest.approx(0.2)
    if native.config:
        assert native.hint


def test_missing_key_is_a_configuration_error(
    server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(CallError) as info:
        _complete(NativeProvider(), server)
    assert info.value.kind == "auth" and "OPENAI_API_KEY" in (info.value.hint or "")
    assert server.calls == 0
    assert NativeProvider().missing_env(PRICED) == ["OPENAI_API_KEY"]


def test_tool_calls_images_and_response_format_pass_through(server: FakeOpenAI) -> None:
    def reply(req: Request) -> Reply:
        return Reply(tool_calls=(("get_weather", json.dumps({"city": "Oslo"})),))

    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    image = [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    with FakeOpenAI(reply) as s:
        call = Call(
            PRICED,
            [{"role": "user", "content": image}],
            {"tools": tools, "tool_choice": "auto", "response_format": fmt},
            s.url,
        )
        prov = NativeProvider()
        comp = run(prov.complete(call), prov)
        sent = s.requests[0].body
    assert comp.text == ""
    assert comp.tool_calls is not None and len(comp.tool_calls) == 1
    assert comp.tool_calls[0]["name"] == "get_weather" and comp.tool_calls[0]["id"]
    assert json.loads(comp.tool_calls[0]["arguments"]) == {"city": "Oslo"}
    assert sent["tools"] == tools and sent["response_format"] == fmt
    assert sent["messages"][0]["content"] == image


def test_a_cached_answer_is_a_hit_on_the_other_path(server: FakeOpenAI, tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path)
    caller = Caller(cache=cache, retries=0)

    def ask(provider: str | None, text: str) -> Any:
        messages = [{"role": "user", "content": text}]
        return run(caller.complete(PRICED, messages, {}, server.url, provider=provider))

    first = ask("litellm", "one")
    assert server.calls == 1 and not first.completion.cached
    again = ask(None, "one")  # native now: the litellm answer is a hit
    assert again.completion.cached and again.completion.text == first.completion.text
    native = ask(None, "two")
    assert server.calls == 2 and not native.completion.cached
    assert ask("litellm", "two").completion.cached
    assert server.calls == 2


def test_retry_after_is_honoured_by_the_caller() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    from promptops.testing.server import fail_first

    with FakeOpenAI(fail_first(1, Fault.rate_limit(retry_after=3))) as s:
        caller = Caller(retries=2, sleep=sleep)
        out = run(caller.complete(PRICED, MESSAGES, {}, s.url))
    assert out.ok and out.attempts == 2 and s.calls == 2
    assert waits and waits[0] >= 3


def test_credentials_in_the_url_are_refused(server: FakeOpenAI) -> None:
    url = server.url.replace("http://", "http://user:pw-secret@")
    with pytest.raises(CallError) as info:
        prov = NativeProvider()
        run(prov.complete(Call(PRICED, MESSAGES, {}, url)), prov)
    assert info.value.kind == "auth" and "pw-secret" not in str(info.value)
    assert server.calls == 0


def test_one_connection_pool_per_endpoint(server: FakeOpenAI) -> None:
    prov = NativeProvider()

    async def go() -> set[int]:
        calls = [prov.complete(Call(PRICED, MESSAGES, {}, server.url)) for _ in range(8)]
        await asyncio.gather(*calls)
        return {id(prov.client(server.url)), id(prov.client(server.url + "/"))}

    pools = run(go(), prov)
    assert len(pools) == 2  # two spellings of a URL are two endpoints; each is one pool
    assert server.calls == 8


def test_the_native_path_never_imports_litellm(tmp_path: Path, server: FakeOpenAI) -> None:
    """A whole uncached `promptops eval` of an openai/ model, in a fresh process."""
    (tmp_path / "prompts/qa").mkdir(parents=True)
    (tmp_path / "evals").mkdir()
    prompt = PROMPT.format(url=server.url, provider="").replace(
        "fake-model-2024-01-01", "gpt-4o-mini-2024-07-18"
    )
    (tmp_path / "prompts/qa/1.0.0.yaml").write_text(prompt)
    (tmp_path / "evals/qa.jsonl").write_text('{"id": "a", "vars": {"question": "x"}}\n')
    code = """
import json, sys
from typer.testing import CliRunner
from promptops.cli import app
result = CliRunner().invoke(app, ["eval", "qa@1.0", "-q", "--no-cache", "-f", "json"])
assert result.exit_code == 0, result.output
assert json.loads(result.stdout)["groups"][0]["cost"] > 0
print("litellm" in sys.modules)
"""
    env = {"OPENAI_API_KEY": "sk-test", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert done.stdout.strip().splitlines()[-1] == "False"
    assert server.calls == 1


PROMPT = """\
name: qa
version: 1.0.0
model:
  id: openai/fake-model-2024-01-01
  api_base: {url}
{provider}
template: "Q: {{{{ question }}}}"
inputs:
  question: string
dataset: evals/qa.jsonl
assert:
  - {{type: icontains, value: "Q:"}}
"""


@pytest.mark.parametrize(
    ("line", "agent"), [("", "Python/3"), ("  provider: litellm", "AsyncOpenAI")]
)
def test_the_model_block_chooses_the_path(
    tmp_path: Path, server: FakeOpenAI, line: str, agent: str
) -> None:
    from promptops.eval.runner import EvalOptions, run_eval
    from promptops.project import Project
    from promptops.refs import resolve

    (tmp_path / "prompts/qa").mkdir(parents=True)
    (tmp_path / "evals").mkdir()
    (tmp_path / "prompts/qa/1.0.0.yaml").write_text(PROMPT.format(url=server.url, provider=line))
    (tmp_path / "evals/qa.jsonl").write_text('{"id": "a", "vars": {"question": "x"}}\n')
    project = Project(tmp_path)
    result = run_eval(project, [resolve("qa@1.0", project)], EvalOptions(use_cache=False))
    assert result.summary["groups"][0]["passed"] == 1
    assert server.requests[0].headers["user-agent"].startswith(agent)


def test_reasoning_models_get_their_parameters() -> None:
    from promptops.providers.native import openai_params

    params = {"max_tokens": 50, "temperature": 0, "seed": 7, "stop": None}
    assert openai_params("gpt-4o-mini", params) == {"max_tokens": 50, "temperature": 0, "seed": 7}
    assert openai_params("o3-mini-2025-01-31", params) == {"max_completion_tokens": 50, "seed": 7}
    assert openai_params("gpt-5-2025-08-07", {"temperature": 1}) == {"temperature": 1}


def test_tls_is_verified_on_https_endpoints() -> None:
    from promptops.providers.native import verifies_tls

    assert verifies_tls("https://api.openai.com/v1")
    assert verifies_tls("HTTPS://proxy.example/v1")
    assert not verifies_tls("http://127.0.0.1:8000/v1")
