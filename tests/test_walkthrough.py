"""The first hour of a newcomer, as one script: init -> a new prompt -> eval -> a new version ->
diff -> promote -> canary -> rollback -> check on a branch.

Runs through the CLI (typer's CliRunner) in a fresh directory, with the ``echo/last`` model (it
answers with the last message, so a dataset can hold the answers) instead of the local model.
Each step asserts the lines a user reads.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

Cli = Callable[..., Result]

INVOICE_1_0_0 = """\
# yaml-language-server: $schema=../../schemas/prompt.schema.json
name: extract-invoice
version: 1.0.0
description: Extract name, date and amount from invoice text, as JSON.
changelog: First version.
model:
  id: echo/last
  params: {temperature: 0, max_tokens: 64, seed: 7}
inputs:
  text: {type: string, description: The invoice text.}
messages:
  - role: system
    content: Reply with JSON {name, date, amount}.
  - role: user
    content: "{{ text }}"
output: {format: json}
dataset: evals/extract-invoice.jsonl
assert:
  - {type: is-json}
  - {type: json-field, path: name, assert: {type: equals, value: "{{ expected.name }}"}}
  - {type: json-field, path: $.amount, assert: {type: equals, value: "{{ expected.amount }}"}}
fail_under: 0.8
"""


def _case(i: int, name: str, amount: float, expected_amount: float | None = None) -> str:
    answer = json.dumps({"name": name, "date": f"2026-01-0{i}", "amount": amount})
    expected = {"name": name, "amount": amount if expected_amount is None else expected_amount}
    return json.dumps({"id": f"inv-{i}", "vars": {"text": answer}, "expected": expected}) + "\n"


DATASET = "".join(
    [
        _case(1, "ACME GmbH", 42.5),
        _case(2, "Globex", 1200),
        _case(3, "Initech", 99.99),
        _case(4, "Umbrella", 10),
        _case(5, "Hooli", 7.5, expected_amount=8),  # the one the prompt gets wrong
    ]
)


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture
def newcomer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty directory outside any repository, a git identity, no user git config."""
    for var, value in {
        "GIT_AUTHOR_NAME": "New Comer",
        "GIT_AUTHOR_EMAIL": "new@example.invalid",
        "GIT_COMMITTER_NAME": "New Comer",
        "GIT_COMMITTER_EMAIL": "new@example.invalid",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }.items():
        monkeypatch.setenv(var, value)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def ok(result: Result) -> list[str]:
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def test_the_first_hour(newcomer: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    # 1. init: files, schemas, and a git repository
    lines = ok(cli("init", "shop"))
    root = newcomer / "shop"
    assert f"created {root / 'schemas/prompt.schema.json'}" in lines
    assert "initialized a git repository in shop (branch main)" in lines
    monkeypatch.chdir(root)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "promptops init")
    assert ok(cli("lint")) == ["ok: 1 prompt file, no problems"]

    # 2. a prompt of one's own, from the stub
    lines = ok(cli("new", "extract-invoice", "--from-scratch", "--model", "echo/last"))
    assert lines[:2] == [
        "created prompts/extract-invoice/1.0.0.yaml",
        "created evals/extract-invoice.jsonl",
    ]
    stub = (root / "prompts/extract-invoice/1.0.0.yaml").read_text()
    assert stub.startswith("# yaml-language-server: $schema=../../schemas/prompt.schema.json\n")
    (root / "prompts/extract-invoice/1.0.0.yaml").write_text(INVOICE_1_0_0)
    (root / "evals/extract-invoice.jsonl").write_text(DATASET)
    assert ok(cli("lint")) == ["ok: 2 prompt files, no problems"]

    # 3. eval: 4 of 5 cases pass, which meets the 0.8 bar
    result = cli("eval", "extract-invoice@1.0", "-q")
    lines = ok(result)
    assert re.match(r"^extract-invoice@1\.0\.0\s+4/5 80%.*met$", lines[2]), lines
    assert "    ✗ json-field: $.amount: expected 8, got 7.5" in lines
    git(root, "add", "-A")
    git(root, "commit", "-qm", "extract-invoice 1.0.0")
    lines = ok(cli("promote", "extract-invoice", "1.0", "--env", "prod", "--commit"))
    assert lines[0] == "promoted extract-invoice 1.0.0 to prod"
    assert lines[1].startswith("  evidence: run ") and "pass rate 80.0% (bar 80%)" in lines[1]
    assert lines[-1].startswith("  committed ")

    # 4. the next version
    lines = ok(cli("new", "extract-invoice"))
    assert lines == [
        "created prompts/extract-invoice/1.1.0.yaml",
        "next: edit it and its changelog, then promptops diff extract-invoice@1.0.0 "
        "extract-invoice@1.1.0",
    ]
    v11 = root / "prompts/extract-invoice/1.1.0.yaml"
    text = v11.read_text()
    assert 'changelog: "TODO: what changed since 1.0.0, and why."' in text
    v11.write_text(
        text.replace('"TODO: what changed since 1.0.0, and why."', "Name the keys.").replace(
            "Reply with JSON {name, date, amount}.",
            'Reply with JSON with the keys "name", "date" and "amount".',
        )
    )

    # 5. diff against what prod serves
    result = cli("diff", "extract-invoice@prod", "extract-invoice@1.1")
    lines = ok(result)
    assert lines[0] == "extract-invoice@1.0.0 → extract-invoice@1.1.0"
    assert "  changelog: Name the keys." in lines
    # 5 cases cannot vouch for "no worse": the honest verdict is inconclusive (exit 0)
    assert lines[-1] == "verdict: INCONCLUSIVE"
    git(root, "add", "-A")
    git(root, "commit", "-qm", "extract-invoice 1.1.0")

    # 6. canary, then the full promotion, then a rollback
    lines = ok(
        cli("promote", "extract-invoice", "1.1", "--env", "prod", "--canary", "10", "--commit")
    )
    assert lines[0] == "canary extract-invoice 1.1.0 at 10% in prod, beside 1.0.0"
    assert "; vs 1.0.0: inconclusive (run " in lines[1]  # 5 cases: not refused, not vouched for
    lines = ok(cli("promote", "extract-invoice", "1.1", "--env", "prod", "--commit"))
    assert lines[0] == "promoted extract-invoice 1.1.0 to prod, was 1.0.0"
    lines = ok(cli("rollback", "extract-invoice", "--env", "prod", "--commit"))
    assert lines[0] == "rolled back extract-invoice in prod to 1.0.0, was 1.1.0"
    subjects = git(root, "log", "--format=%s", "-3", "--", "registry.yaml").splitlines()
    assert subjects == [
        "promptops: roll back extract-invoice in prod to 1.0.0",
        "promptops: promote extract-invoice 1.1.0 to prod",
        "promptops: promote extract-invoice 1.1.0 to prod (canary 10%)",
    ]
    assert git(root, "status", "--porcelain") == ""

    # 7. check on a branch: a new version passes; an in-place edit of a released one does not
    base = git(root, "branch", "--show-current").strip()  # git's default: main or master
    git(root, "checkout", "-qb", "better-names")
    assert ok(cli("new", "extract-invoice", "--patch"))[0] == (
        "created prompts/extract-invoice/1.1.1.yaml"
    )
    v111 = root / "prompts/extract-invoice/1.1.1.yaml"
    v111.write_text(v111.read_text().replace('"TODO: what changed since 1.1.0, and why."', "Typo."))
    git(root, "add", "-A")
    git(root, "commit", "-qm", "extract-invoice 1.1.1")
    result = cli("check", "--base", base)
    assert result.exit_code == 0, result.output
    assert "extract-invoice@1.1.1 added vs extract-invoice@1.0.0 (active in prod at " in (
        result.stdout
    )
    # nothing moved on 5 cases: not a regression, but too few cases to vouch for it
    assert "  inconclusive: " in result.stdout
    assert "(below 236 cases no data can show ok at margin 0.02)" in result.stdout
    # passed, but shown as a warning: the data could not vouch for it
    assert result.stdout.rstrip().endswith(
        "check passed with warnings: extract-invoice@1.1.1 inconclusive"
    )
    released = root / "prompts/extract-invoice/1.1.0.yaml"
    released.write_text(released.read_text().replace("Name the keys.", "Reworded."))
    result = cli("check", "--base", base)
    assert result.exit_code == 1
    assert (
        "extract-invoice@1.1.0 was released (active in prod before; rollback can restore it) "
        "and was edited in place" in result.stdout
    )
