"""``promptops review``: the session (items, labels, accepting candidates) and its web server
(token, loopback host, JSON API), without a browser; the browser test is test_review_browser.py."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from conftest import git
from promptops.datasets import iter_cases
from promptops.errors import UsageError
from promptops.project import Project
from promptops.quality.labels import labels_path, read_labels
from promptops.quality.review import open_review
from promptops.quality.review_server import ReviewServer

TRIAGE = """\
name: triage
version: 1.0.0
description: Route a ticket.
model:
  id: echo/echo
inputs:
  ticket: {type: string}
messages:
  - role: user
    content: "Route: {{ ticket }}"
dataset: evals/triage-gold.jsonl
assert:
  - {type: icontains, value: "{{ expected }}"}
  - {type: max-words, value: 8}
"""
CASES = [
    {"id": "a", "vars": {"ticket": "refund please"}, "expected": "refund"},
    {"id": "b", "vars": {"ticket": "login broken"}, "expected": "billing"},
    {"id": "c", "vars": {"ticket": "where is my parcel now"}, "expected": "parcel"},
    {"id": "d", "vars": {"ticket": "invoice wrong"}, "expected": "refund"},
    {"id": "e", "vars": {"ticket": "a b c d e f g h i"}, "expected": "a"},
]


def triage_project(root: Path, write: Callable[..., Path]) -> None:
    write("prompts/triage/1.0.0.yaml", TRIAGE)
    write("evals/triage-gold.jsonl", "".join(json.dumps(c) + "\n" for c in CASES))
    git(root, "add", "-A")
    git(root, "commit", "-qm", "triage")


@pytest.fixture
def run_id(project: Path, write: Callable[..., Path], cli: Callable[..., Result]) -> str:
    triage_project(project, write)
    result = cli("eval", "triage@1.0.0")
    assert result.exit_code in (0, 1), result.output
    [run] = sorted((project / ".promptops" / "runs").iterdir())
    return run.name


def test_a_run_is_grouped_by_the_failed_assertion(project: Path, run_id: str) -> None:
    session = open_review(Project.find(), run_id)
    page = session.page()
    assert page["kind"] == "run" and page["prompt"] == "triage" and page["total"] == 5
    groups = {g["name"]: g["n"] for g in page["groups"]}
    assert groups == {"icontains": 2, "max-words": 1, "passed": 2}
    assert [i["group"] for i in page["items"]] == [
        "icontains",
        "icontains",
        "max-words",
        "passed",
        "passed",
    ]
    assert [i["case_id"] for i in page["items"][:2]] == ["b", "d"]
    only = session.page(group="max-words")
    assert [i["case_id"] for i in only["items"]] == ["e"] and only["total"] == 1


def test_labels_are_appended_with_reviewer_and_output_hash(project: Path, run_id: str) -> None:
    session = open_review(Project.find(), run_id)
    first = session.page()["items"][0]
    session.label(first["key"], "fail", "routes to login, not billing")
    session.label(first["key"], 2)  # a later label of the same output wins
    session.label(session.page()["items"][3]["key"], "pass")
    rows = [label for _, label in read_labels(labels_path(project, "triage"))]
    assert [r.label for r in rows] == ["fail", 2, "pass"]
    assert rows[0].reviewer == "promptops tests <tests@promptops.invalid>"
    assert rows[0].run == run_id and rows[0].version == "1.0.0" and rows[0].model == "echo/echo"
    assert rows[0].output_hash and rows[0].output_hash.startswith("sha256:")
    page = session.page()
    assert page["labelled"] == 2 and page["items"][0]["label"] == 2
    with pytest.raises(UsageError):
        session.label(first["key"], "maybe")
    with pytest.raises(UsageError):
        session.label(999, "pass")


def test_accepting_a_candidate_moves_it_into_the_gold_set(
    project: Path, write: Callable[..., Path]
) -> None:
    triage_project(project, write)
    cand = {
        "id": "prod-1",
        "vars": {"ticket": "refund [email]"},
        "metadata": {"source": "production", "trace_id": "t1", "output": "Route: refund"},
    }
    write("evals/triage-gold.candidates.jsonl", json.dumps(cand) + "\n")
    session = open_review(Project.find(), "evals/triage-gold.candidates.jsonl")
    assert session.prompt == "triage" and session.kind == "candidates"
    [item] = session.page()["items"]
    assert item["output"] == "Route: refund" and item["metadata"]["trace_id"] == "t1"
    session.accept(item["key"], '"refund"')
    gold = {c.id: c.spec for c in iter_cases(project / "evals/triage-gold.jsonl")}
    assert gold["prod-1"].expected == "refund"
    assert gold["prod-1"].metadata["source"] == "production"
    assert (project / "evals/triage-gold.candidates.jsonl").read_text() == ""
    with pytest.raises(UsageError, match="already"):
        session.accept(item["key"], "x")


def test_a_candidate_that_does_not_fit_the_prompt_is_not_accepted(
    project: Path, write: Callable[..., Path]
) -> None:
    triage_project(project, write)
    cand = {"id": "prod-2", "vars": {"text": "old input name"}}
    write("evals/triage-gold.candidates.jsonl", json.dumps(cand) + "\n")
    session = open_review(Project.find(), "evals/triage-gold.candidates.jsonl")
    with pytest.raises(UsageError, match="unknown variable 'text'"):
        session.accept(0, "x")
    assert "prod-2" not in {c.id for c in iter_cases(project / "evals/triage-gold.jsonl")}


def test_candidates_of_an_unknown_gold_set_need_prompt(
    project: Path, write: Callable[..., Path]
) -> None:
    write("evals/misc.candidates.jsonl", json.dumps({"id": "x", "vars": {}}) + "\n")
    with pytest.raises(UsageError, match="--prompt"):
        open_review(Project.find(), "evals/misc.candidates.jsonl")
    assert (
        open_review(Project.find(), "evals/misc.candidates.jsonl", "summarize").prompt
        == "summarize"
    )


# ------------------------------------------------------------------------------ the server


@pytest.fixture
def server(project: Path, run_id: str) -> Iterator[ReviewServer]:
    srv = ReviewServer(open_review(Project.find(), run_id))
    srv.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def request(url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers=headers or {})
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return r.status, (
                json.loads(raw)
                if r.headers.get_content_type() == "application/json"
                else raw.decode()
            )
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_requests_without_the_token_are_refused(server: ReviewServer) -> None:
    base = f"http://127.0.0.1:{server.port}"
    assert server.server_address[0] == "127.0.0.1"  # loopback only
    assert server.url.startswith(base + "/?token=") and len(server.token) >= 32
    for path in ("/", "/api/items", "/?token=wrong", "/api/items?token=" + server.token[:-1]):
        code, body = request(base + path)
        assert code == 403, path
        assert "forbidden" in body["error"]
    code, _ = request(base + "/api/label", {"key": 0, "label": "pass"})
    assert code == 403
    # a page of another origin that resolves to 127.0.0.1 (DNS rebinding) has another Host
    code, _ = request(server.url, headers={"Host": f"evil.example:{server.port}"})
    assert code == 403
    assert not labels_path(server.session.root, "triage").exists()


def test_the_api_with_the_token(server: ReviewServer) -> None:
    code, page = request(server.url)
    assert code == 200 and "promptops review" in page
    base = f"http://127.0.0.1:{server.port}"
    auth = {"X-Review-Token": server.token}
    code, items = request(base + "/api/items?offset=0&limit=2", headers=auth)
    assert code == 200 and items["total"] == 5 and len(items["items"]) == 2
    code, got = request(base + "/api/label", {"key": 1, "label": 4, "note": "ok"}, auth)
    assert code == 200 and got == {"label": 4, "note": "ok", "labelled": 1}
    code, err = request(base + "/api/label", {"key": 1, "label": 9}, auth)
    assert code == 400 and "pass, fail or 1-5" in err["error"]
    code, err = request(base + "/api/accept", {"key": 1, "expected": "x"}, auth)
    assert code == 400 and "only candidates" in err["error"]


def test_cli_review_prints_the_url_and_serves_until_stopped(project: Path, run_id: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "promptops", "review", run_id, "--no-browser"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        assert lines[0].startswith(f"reviewing run {run_id}: 5 case(s)"), lines
        url = lines[2].split("open ", 1)[1].strip()
        assert url.startswith("http://127.0.0.1:")
        code, _ = request(url)
        assert code == 200
    finally:
        proc.terminate()
        proc.wait(10)


def test_cli_review_errors(project: Path, cli: Callable[..., Result]) -> None:
    result = cli("review", "nope", "--no-browser")
    assert result.exit_code == 1 and "run 'nope' not found" in result.output
    result = cli("review", "evals/missing.candidates.jsonl", "--no-browser")
    assert result.exit_code == 1 and "candidates file not found" in result.output
