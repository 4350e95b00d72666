"""The runtime API: Registry.load / get / render / complete, canary arms, log records."""

from __future__ import annotations

import asyncio
import logging
import math
from pathlib import Path

import pytest

from conftest import run_python
from promptops import Registry
from promptops.errors import ProviderError, RegistryError, SpecError
from promptops.project import load_prompt
from promptops.registry.runtime import bucket, choose_arm
from promptops.testing.server import FakeOpenAI, Fault, Reply, Request

SECRET = "sk-test-supersecret-0123456789"


def digest(root: Path, name: str, version: str) -> str:
    return load_prompt(root / "prompts" / name / f"{version}.yaml").digest


def write_registry(root: Path, weight: int = 20, canary: str = "2.0.0") -> None:
    (root / "registry.yaml").write_text(
        f"""\
environments: [dev, staging, prod]
prompts:
  summarize:
    dev:
      version: 2.0.0
      digest: {digest(root, "summarize", "2.0.0")}
    prod:
      version: 1.1.0
      digest: {digest(root, "summarize", "1.1.0")}
      canary: {{version: {canary}, digest: "{digest(root, "summarize", canary)}", weight: {weight}}}
""",
        encoding="utf-8",
    )


@pytest.fixture(autouse=True)
def _in_project(project: Path) -> None:
    pass


def test_get_and_render_the_active_version(project: Path) -> None:
    reg = Registry.load(".")
    p = reg.get("summarize", env="prod")
    assert (p.name, p.version, p.env, p.arm) == ("summarize", "1.0.0", "prod", "stable")
    assert p.digest == digest(project, "summarize", "1.0.0")
    assert p.model == "echo/echo" and p.params == {"temperature": 0.0, "max_tokens": 200}
    messages = p.render(document="The cat sat.")
    assert messages[1] == {"role": "user", "content": "The cat sat."}
    assert p.render({"document": "x", "max_words": 3})[0]["content"].endswith("at most 3 words.")
    assert p.metadata["promptops.prompt.version"] == "1.0.0"


def test_load_takes_a_directory_or_the_file(project: Path) -> None:
    assert Registry.load(project / "registry.yaml").get("summarize", "prod").version == "1.0.0"
    assert Registry.load(str(project)).environments == ["dev", "staging", "prod"]


def test_same_key_same_arm_and_the_split_matches_the_weight(project: Path) -> None:
    write_registry(project, weight=20)
    reg = Registry.load(".")
    again = Registry.load(".")
    n, weight = 10_000, 20
    canary = 0
    for i in range(n):
        p = reg.get("summarize", "prod", key=f"user-{i}")
        assert again.get("summarize", "prod", key=f"user-{i}").arm == p.arm
        if p.arm == "canary":
            canary += 1
            assert p.version == "2.0.0"
        else:
            assert p.version == "1.1.0"
    expected, sd = n * weight / 100, math.sqrt(n * weight / 100 * (1 - weight / 100))
    assert abs(canary - expected) < 4 * sd, (canary, expected, sd)


@pytest.mark.parametrize("weight", [1, 5, 50, 99])
def test_split_over_many_keys_for_several_weights(weight: int) -> None:
    n = 10_000
    hits = sum(choose_arm("summarize", "prod", i, weight) == "canary" for i in range(n))
    p = weight / 100
    assert abs(hits - n * p) < 4 * math.sqrt(n * p * (1 - p)), hits


def test_bucket_is_stable_across_processes(project: Path) -> None:
    here = [bucket("summarize", "prod", k) for k in ("a", "b", 42)]
    done = run_python(
        "from promptops.registry.runtime import bucket; print([bucket('summarize', 'prod', k) for k in ('a', 'b', 42)])",
        project,
        extra=["-X", "utf8"],
    )
    assert done.stdout.strip() == str(here), done.stderr


def test_weight_0_and_100_and_no_key(project: Path) -> None:
    write_registry(project, weight=100)
    reg = Registry.load(".")
    assert {reg.get("summarize", "prod", key=i).arm for i in range(200)} == {"canary"}
    write_registry(project, weight=0)
    reg = Registry.load(".")
    assert {reg.get("summarize", "prod").arm for _ in range(200)} == {"stable"}
    write_registry(project, weight=50)
    reg = Registry.load(".")
    arms = [reg.get("summarize", "prod").arm for _ in range(2000)]  # no key: random draws
    assert 800 < arms.count("canary") < 1200


def test_missing_prompt_env_or_deployment_is_a_clear_error(project: Path) -> None:
    reg = Registry.load(".")
    with pytest.raises(
        RegistryError, match=r"no prompt 'nope' in registry.yaml; prompts: summarize"
    ):
        reg.get("nope", "prod")
    with pytest.raises(
        RegistryError, match=r"unknown environment 'qa'; environments: dev, staging, prod"
    ):
        reg.get("summarize", "qa")
    with pytest.raises(
        RegistryError, match=r"summarize has no version active in dev; active in: prod"
    ):
        reg.get("summarize", "dev")


def test_no_registry_file(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"no registry.yaml in"):
        Registry.load(tmp_path / "empty")


def test_file_edited_after_promotion_raises(project: Path) -> None:
    path = project / "prompts/summarize/1.0.0.yaml"
    path.write_text(path.read_text().replace("First version.", "Edited."), encoding="utf-8")
    reg = Registry.load(".")
    with pytest.raises(RegistryError, match=r"1.0.0.yaml was edited after it was promoted to prod"):
        reg.get("summarize", "prod")


def test_missing_version_file(project: Path) -> None:
    (project / "prompts/summarize/1.0.0.yaml").unlink()
    with pytest.raises(
        RegistryError, match=r"summarize 1.0.0 is active in prod, but .*1.0.0.yaml does not exist"
    ):
        Registry.load(".").get("summarize", "prod")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("      version: 1.0.0\n", "prompts.summarize.prod.version: required field is missing"),
        ("environments: [dev, staging, prod]", "prompts.summarize.prod: unknown environment"),
        (
            "      digest:",
            "registry.yaml:6: prompts.summarize.prod.digest: expected sha256: and 64 hex digits",
        ),
        ("prompts:", "invalid YAML"),
    ],
)
def test_hand_edited_invalid_registry_names_file_line_field(
    project: Path, edit: str, message: str
) -> None:
    path = project / "registry.yaml"
    text = path.read_text()
    if edit.startswith("      version"):
        text = text.replace(edit, "")
    elif edit.startswith("environments"):
        text = text.replace(edit, "environments: [dev, staging]")
    elif edit.startswith("      digest"):
        text = text.replace(edit, "      digest: abc #")
    else:
        text = text.replace(edit, "prompts: [")
    path.write_text(text)
    with pytest.raises(SpecError) as err:
        Registry.load(".")
    assert "registry.yaml" in err.value.message and message in err.value.message, err.value.message


def test_load_does_not_import_litellm_or_git(project: Path) -> None:
    code = (
        "import sys\nfrom promptops import Registry\n"
        "p = Registry.load('.').get('summarize', 'prod', key='u')\np.render(document='x')\n"
        "print(sorted(m for m in ('litellm', 'git', 'pandas') if m in sys.modules))"
    )
    done = run_python(code, project)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# ---------------------------------------------------------------------------- complete()


def serving_prompt(root: Path, fallbacks: str = "[]", api_base: str | None = None) -> None:
    d = root / "prompts" / "greet"
    d.mkdir(parents=True, exist_ok=True)
    own_base = f"\n  api_base: {api_base}" if api_base else ""
    (d / "1.0.0.yaml").write_text(
        f"""\
name: greet
version: 1.0.0
model:
  id: openai/test-model
  params: {{temperature: 0, max_tokens: 20}}{own_base}
fallbacks: {fallbacks}
inputs:
  who: {{type: string}}
messages:
  - role: system
    content: Greet people.
  - role: user
    content: "Hello {{{{ who }}}}"
""",
        encoding="utf-8",
    )
    (root / "registry.yaml").write_text(
        f"environments: [dev, prod]\nprompts:\n  greet:\n    prod:\n      version: 1.0.0\n"
        f"      digest: {digest(root, 'greet', '1.0.0')}\n",
        encoding="utf-8",
    )


def records_of(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "promptops.runtime"]


def test_complete_calls_the_pinned_model_and_logs_one_record(
    project: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    serving_prompt(project)
    caplog.set_level(logging.INFO, logger="promptops.runtime")
    with FakeOpenAI() as server:
        p = Registry.load(".", api_base=server.url, retries=0).get("greet", "prod", key="u1")
        reply = p.complete(who="Ada")
        assert server.requests[0].body["model"] == "test-model"
        assert server.requests[0].body["temperature"] == 0
    assert reply.text == "Hello Ada"
    assert reply.usage == {"input_tokens": 4, "output_tokens": 2}
    assert reply.model == "openai/test-model" and len(reply.trace_id) == 32
    assert reply.metadata["promptops.prompt.digest"] == p.digest
    [rec] = records_of(caplog)
    attrs = rec.promptops  # type: ignore[attr-defined]
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.system"] == attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.request.model"] == attrs["gen_ai.response.model"] == "openai/test-model"
    assert attrs["gen_ai.usage.input_tokens"] == 4 and attrs["gen_ai.usage.output_tokens"] == 2
    assert attrs["gen_ai.request.temperature"] == 0 and attrs["gen_ai.request.max_tokens"] == 20
    assert (
        attrs["promptops.prompt.name"] == "greet" and attrs["promptops.prompt.version"] == "1.0.0"
    )
    assert attrs["promptops.prompt.digest"] == p.digest
    assert attrs["promptops.env"] == "prod" and attrs["promptops.arm"] == "stable"
    assert attrs["promptops.trace_id"] == reply.trace_id
    assert attrs["promptops.cache_hit"] is False and attrs["promptops.latency_ms"] >= 0
    assert "promptops.error" not in attrs
    assert SECRET not in repr(rec.__dict__) and SECRET not in rec.getMessage()


def test_complete_fails_cleanly_and_logs_the_error_without_the_key(
    project: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    serving_prompt(project)
    caplog.set_level(logging.INFO, logger="promptops.runtime")

    def reject(request: Request) -> Fault:
        return Fault.http_error(401, f"Incorrect API key provided: {SECRET}")

    with FakeOpenAI(reject) as server:
        p = Registry.load(".", api_base=server.url, retries=0).get("greet", "prod")
        with pytest.raises(ProviderError) as err:
            p.complete(who="Ada")
    assert SECRET not in str(err.value)
    [rec] = records_of(caplog)
    assert rec.levelno == logging.WARNING
    attrs = rec.promptops  # type: ignore[attr-defined]
    assert attrs["error.type"] == "auth" and "[redacted]" in attrs["promptops.error"]
    assert SECRET not in repr(rec.__dict__) and SECRET not in rec.getMessage()


def test_fallbacks_are_tried_in_order(
    project: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    serving_prompt(project, fallbacks="[openai/backup-model]")
    caplog.set_level(logging.INFO, logger="promptops.runtime")

    def by_model(request: Request) -> Fault | Reply:
        if request.model == "test-model":
            return Fault.http_error(400, "no such model")
        return Reply("from backup")

    with FakeOpenAI(by_model) as server:
        reply = (
            Registry.load(".", api_base=server.url, retries=0)
            .get("greet", "prod")
            .complete(who="x")
        )
        models = [r.model for r in server.requests]
    assert reply.text == "from backup" and reply.model == "openai/backup-model"
    assert models == ["test-model", "backup-model"]
    attrs = records_of(caplog)[0].promptops  # type: ignore[attr-defined]
    assert attrs["promptops.models_tried"] == ["openai/test-model", "openai/backup-model"]
    assert attrs["gen_ai.response.model"] == "openai/backup-model"


def test_fallbacks_go_through_the_callers_chain_cache_included(
    project: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    serving_prompt(project, fallbacks="[openai/backup-model]")
    caplog.set_level(logging.INFO, logger="promptops.runtime")

    def by_model(request: Request) -> Fault | Reply:
        if request.model == "test-model":
            return Fault.http_error(500, "overloaded")
        return Reply("from backup")

    with FakeOpenAI(by_model) as server:
        reg = Registry.load(".", api_base=server.url, retries=1, cache=True)
        first = reg.get("greet", "prod").complete(who="x")
        calls = server.calls
        again = reg.get("greet", "prod").complete(who="x")
        assert server.calls == calls, "the fallback's cached answer: nothing is called"
    assert calls == 3  # the pinned model retried once, then the fallback
    assert first.metadata["promptops.attempts"] == 3
    assert first.metadata["promptops.cache_hit"] is False
    assert again.text == "from backup" and again.model == "openai/backup-model"
    assert again.metadata["promptops.cache_hit"] is True
    assert again.metadata["promptops.attempts"] == 0
    tried = [r.promptops["promptops.models_tried"] for r in records_of(caplog)]  # type: ignore[attr-defined]
    assert tried == [["openai/test-model", "openai/backup-model"], ["openai/backup-model"]]


def test_a_prompts_api_base_is_its_models_and_the_registrys_is_every_models(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with FakeOpenAI(lambda r: Fault.http_error(400, "no such model")) as own, FakeOpenAI() as env:
        monkeypatch.setenv("OPENAI_API_BASE", env.url)
        serving_prompt(project, fallbacks="[openai/backup-model]", api_base=own.url)
        reply = Registry.load(".", retries=0).get("greet", "prod").complete(who="x")
        assert [r.model for r in own.requests] == ["test-model"]
        assert [r.model for r in env.requests] == ["backup-model"]  # the provider's own endpoint
        assert reply.model == "openai/backup-model"
        with FakeOpenAI() as override:
            Registry.load(".", api_base=override.url).get("greet", "prod").complete(who="y")
            assert [r.model for r in override.requests] == ["test-model"]


def test_acomplete_and_complete_from_inside_a_running_loop(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    serving_prompt(project)
    with FakeOpenAI() as server:
        p = Registry.load(".", api_base=server.url, retries=0).get("greet", "prod")

        async def main() -> list[str]:
            replies = await asyncio.gather(*(p.acomplete(who=str(i)) for i in range(3)))
            return [r.text for r in replies] + [p.complete(who="sync").text]

        assert asyncio.run(main()) == ["Hello 0", "Hello 1", "Hello 2", "Hello sync"]


MIXED = """\
import asyncio, os
os.environ["OPENAI_API_KEY"] = "sk-test"
from promptops import Registry
from promptops.testing.server import FakeOpenAI
server = FakeOpenAI().start()
p = Registry.load(".", api_base=server.url, retries=0).get("greet", "prod")
print(p.complete(who="sync").text)
async def main():
    replies = await asyncio.gather(*(p.acomplete(who=str(i)) for i in range(3)))
    return [r.text for r in replies] + [p.complete(who="in-loop").text]
print(asyncio.run(main()))
print(asyncio.run(p.acomplete(who="async")).text)
print(p.complete(who="sync2").text)
"""


def test_mixing_complete_and_acomplete_exits_cleanly(project: Path) -> None:
    # litellm's logging worker binds to a loop; with calls on several loops, a worker task
    # orphaned on one of them printed "Task was destroyed but it is pending!" at exit
    serving_prompt(project)
    done = run_python(MIXED, project)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "Hello sync",
        "['Hello 0', 'Hello 1', 'Hello 2', 'Hello in-loop']",
        "Hello async",
        "Hello sync2",
    ]
    assert done.stderr == ""


def test_echo_model_needs_no_network(project: Path) -> None:
    reply = Registry.load(".").get("summarize", "prod").complete(document="A short text.")
    assert "A short text." in reply.text and reply.cost == 0.0


def test_render_errors_are_the_renderers(project: Path) -> None:
    from promptops.errors import RenderError

    p = Registry.load(".").get("summarize", "prod")
    with pytest.raises(RenderError, match=r"missing required input"):
        p.render()
