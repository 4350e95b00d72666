"""The provider hook: every model a Caller calls (the pinned model, each fallback, each judge)
hears the caller's concurrency once, before its first call. An eval passes ``--concurrency``;
the runtime API passes None (no bound of its own). The runner knows no provider by name."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from conftest import assert_no_traceback
from promptops import Registry
from promptops.project import load_prompt
from promptops.providers import base
from promptops.providers.base import Call, CallError, Completion

SRC = Path(__file__).resolve().parents[2] / "src" / "promptops"
MODEL, BACKUP, JUDGE = "hook/a-2024-01-01", "hook/b-2024-01-01", "hook/judge-2024-01-01"

PROMPT = f"""\
name: p
version: 1.0.0
model:
  id: {MODEL}
fallbacks: [{BACKUP}]
inputs:
  q: string
template: "Q: {{{{ q }}}}"
assert:
  - {{type: llm-rubric, value: answers it, judge: {JUDGE}}}
"""


class HookProvider:
    """Fails the pinned model, answers the fallback and the judge; logs hook and calls."""

    cacheable = False
    default_timeout = 5.0

    def __init__(self) -> None:
        self.events: list[tuple[str, str, int | None]] = []

    def prepare(self, model: str, concurrency: int | None) -> None:
        self.events.append(("prepare", model, concurrency))

    async def complete(self, call: Call) -> Completion:
        self.events.append(("call", call.model, None))
        if call.model == MODEL:
            raise CallError("down", transient=False, kind="rejected")
        text = '{"score": 1, "reason": "ok"}' if call.model == JUDGE else "fine"
        return Completion(text, call.model, cost=0.0)

    def identity(self, model: str) -> dict[str, str]:
        return {}

    def prepared(self) -> list[tuple[str, int | None]]:
        return [(m, c) for kind, m, c in self.events if kind == "prepare"]

    def each_prepared_before_its_first_call(self) -> bool:
        seen: set[str] = set()
        for kind, m, _ in self.events:
            if kind == "prepare":
                seen.add(m)
            elif m not in seen:
                return False
        return True


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch, project: Path) -> HookProvider:
    prov = HookProvider()
    monkeypatch.setitem(base._FACTORIES, "hook", lambda: prov)
    monkeypatch.setitem(base._INSTANCES, "hook", prov)
    (project / "prompts/p").mkdir(parents=True)
    (project / "prompts/p/1.0.0.yaml").write_text(PROMPT)
    (project / "evals").mkdir(exist_ok=True)
    cases = (json.dumps({"id": f"c{i}", "vars": {"q": f"q{i}"}}) for i in range(6))
    (project / "evals/p.jsonl").write_text("\n".join(cases) + "\n")
    return prov


def test_eval_tells_every_model_of_the_chain_and_each_judge_its_concurrency_once(
    hook: HookProvider, cli: Callable[..., Result]
) -> None:
    result = cli("eval", "p@1.0", "--dataset", "evals/p.jsonl", "-q", "--concurrency", "3")
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    assert sorted(hook.prepared()) == sorted([(MODEL, 3), (BACKUP, 3), (JUDGE, 3)])
    assert hook.each_prepared_before_its_first_call()
    calls = [m for kind, m, _ in hook.events if kind == "call"]
    assert calls.count(MODEL) == calls.count(BACKUP) == calls.count(JUDGE) == 6


def test_the_runtime_passes_no_bound_once_per_registry(hook: HookProvider, project: Path) -> None:
    digest = load_prompt(project / "prompts/p/1.0.0.yaml").digest
    (project / "registry.yaml").write_text(
        f"environments: [prod]\nprompts:\n  p:\n    prod:\n      version: 1.0.0\n"
        f"      digest: {digest}\n"
    )
    reg = Registry.load(".", retries=0)
    for q in ("a", "b"):
        assert reg.get("p", "prod").complete(q=q).model == BACKUP
    assert hook.prepared() == [(MODEL, None), (BACKUP, None)]
    assert hook.each_prepared_before_its_first_call()


def test_no_provider_is_special_cased_outside_providers() -> None:
    """Provider-specific setup goes through the hook: the eval and registry packages name no
    provider module, and only providers/__init__.py registers the built-ins."""
    for path in [*(SRC / "eval").glob("*.py"), *(SRC / "registry").glob("*.py")]:
        text = path.read_text(encoding="utf-8")
        for needle in ("providers.local", "providers import local", '"local/', "configure("):
            assert needle not in text, f"{path.name}: {needle}"
    registrars = sorted(
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if re.search(r"^@provider\(", p.read_text(encoding="utf-8"), re.M)
    )
    assert registrars == [
        "providers/echo.py",
        "providers/litellm_provider.py",
        "providers/local/provider.py",
        "providers/native.py",
    ]
    init = (SRC / "providers/__init__.py").read_text(encoding="utf-8")
    for module in ("echo", "litellm_provider", "native", "local import provider"):
        assert module in init
