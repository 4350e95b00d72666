"""``check`` on pull requests: the trust model (trust.py, pyfunc.CodeGate) and the gate failing
closed, through the CLI on a throwaway git repo with a base commit and a PR branch."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from conftest import assert_no_traceback, git, poison
from promptops.testing.server import FakeOpenAI, Fault, Reply, echo

Cli = Callable[..., Result]
N = 10

QA = """\
name: qa
version: {version}
description: Answer with the item's keyword.
changelog: A change.
model:
  id: openai/fake-model-2024-01-01
  params: {{temperature: 0}}
inputs:
  document: {{type: string, description: The text.}}
template: "{template}"
dataset: evals/qa.jsonl
assert:
  - {{type: icontains, value: "{{{{ expected.keyword }}}}", metric: keyword}}
{extra}"""
GOOD = "Summarize: {{ document }}"


def qa(version: str, template: str = GOOD, extra: str = "") -> str:
    return QA.format(version=version, template=template, extra=extra)


def cases(extra_assert: dict[str, Any] | None = None) -> str:
    lines = []
    for i in range(N):
        case: dict[str, Any] = {
            "id": f"c{i}",
            "vars": {"document": f"Item {i}: about kw{i}x."},
            "expected": {"keyword": f"kw{i}x"},
        }
        if extra_assert is not None and i == 0:
            case["assert"] = [extra_assert]
        lines.append(json.dumps(case) + "\n")
    return "".join(lines)


class Capture:
    """An HTTP server on 127.0.0.1 that records every request it gets and answers 200 {}."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                outer.requests.append(f"{self.command} {self.path} {dict(self.headers)}")
                body = b"{}"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Capture:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    """The trusted endpoint, named by the CI's environment (OPENAI_BASE_URL)."""
    with FakeOpenAI(echo) as s:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-ci-secret-key-0123456789")
        monkeypatch.setenv("OPENAI_BASE_URL", s.url)
        yield s


@pytest.fixture
def markers(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where python assertion files of these tests write a file when they run."""
    d = tmp_path_factory.mktemp("markers")
    monkeypatch.setenv("PROMPTOPS_TEST_MARKERS", str(d))
    return d


def checker(tag: str) -> str:
    """A python assertion module that leaves ``tag`` in the markers directory when imported
    and when called."""
    return (
        "import os, pathlib\n"
        f"pathlib.Path(os.environ['PROMPTOPS_TEST_MARKERS'], {tag!r} + '-import').touch()\n"
        "def check(output, context):\n"
        f"    pathlib.Path(os.environ['PROMPTOPS_TEST_MARKERS'], {tag!r}).touch()\n"
        "    return True\n"
    )


@pytest.fixture
def base(project: Path) -> Path:
    """main: qa 1.0.0 (prod) with a python assertion checks/grade.py (so it exists at the
    merge base), 10 cases; promptops.yaml allows no extra host. The working tree is on a fresh
    branch ``pr``."""
    from promptops.project import load_prompt

    (project / "checks").mkdir()
    (project / "checks/grade.py").write_text(checker("base"))
    (project / "prompts/qa").mkdir(parents=True)
    py = '  - {type: python, value: "checks/grade.py:check"}\n'
    (project / "prompts/qa/1.0.0.yaml").write_text(qa("1.0.0", extra=py))
    (project / "evals/qa.jsonl").write_text(cases())
    (project / "promptops.yaml").write_text("allowed_api_hosts: []\n")
    digest = load_prompt(project / "prompts/qa/1.0.0.yaml").digest
    with (project / "registry.yaml").open("a") as fh:
        fh.write(f"  qa:\n    prod: {{version: 1.0.0, digest: '{digest}'}}\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "qa")
    git(project, "checkout", "-qb", "pr")
    return project


def commit(root: Path, message: str = "pr") -> None:
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)


# ------------------------------------------------------------------------------------------
# the hostile pull request
# ------------------------------------------------------------------------------------------


def test_a_hostile_pull_request_fails_and_neither_calls_out_nor_runs_its_code(
    base: Path, cli: Cli, server: FakeOpenAI, markers: Path
) -> None:
    with Capture() as capture, Capture() as schemas:
        # its own python assertion, in the prompt and in one dataset line
        (base / "checks/evil.py").write_text(checker("evil"))
        (base / "evals/qa.jsonl").write_text(
            cases({"type": "python", "value": "checks/evil.py:check"})
        )
        schema = {"type": "object", "properties": {"a": {"$ref": f"{schemas.url}/s.json"}}}
        extra = (
            '  - {type: python, value: "checks/evil.py:check"}\n'
            f"  - {{type: json-schema, value: {json.dumps(schema)}}}\n"
        )
        hostile = qa("1.1.0", extra=extra).replace(
            "  params: {temperature: 0}",
            f"  api_base: {capture.url}/v1\n  params: {{temperature: 0}}",
        )
        (base / "prompts/qa/1.1.0.yaml").write_text(hostile)
        mocked = qa("1.2.0").replace(
            "params: {temperature: 0}", "params: {temperature: 0, extra: {mock_response: kw}}"
        )
        (base / "prompts/qa/1.2.0.yaml").write_text(mocked)
        # and it allows its own host in the branch's promptops.yaml
        (base / "promptops.yaml").write_text('allowed_api_hosts: ["127.0.0.1:*"]\n')
        commit(base)

        result = cli("check", "--base", "main", "--junit", str(base / "junit.xml"))

    assert_no_traceback(result)
    assert result.exit_code == 1
    out = result.stdout
    assert "check failed" in out
    # each refusal, with file, line and field
    assert "prompts/qa/1.1.0.yaml:7: model.api_base: api_base" in out
    assert "is not in allowed_api_hosts of promptops.yaml at the merge base" in out
    assert (
        "prompts/qa/1.2.0.yaml" in out and "'mock_response' is not allowed in params.extra" in out
    )
    assert "prompts/qa/1.1.0.yaml:15: assert[1]: python assertion checks/evil.py: added on" in out
    assert "evals/qa.jsonl:1: assert[0]: python assertion checks/evil.py" in out
    assert "1.1.0.yaml:16: assert[2]: $ref 'http://127.0.0.1:" in out
    assert out.count("points outside the schema; promptops never fetches schemas") == 1
    assert "promptops.yaml changes allowed_api_hosts on this branch" in out
    assert "nothing was evaluated" in out
    # nothing went anywhere, nothing of the branch ran
    assert capture.requests == [] and schemas.requests == []
    assert server.calls == 0
    assert sorted(p.name for p in markers.iterdir()) == []
    assert "sk-ci-secret-key-0123456789" not in result.output


def test_a_templated_python_assertion_on_the_branch_never_runs(
    base: Path, cli: Cli, server: FakeOpenAI, markers: Path
) -> None:
    """A python assertion added by a template value (not visible before rendering): the branch's
    version is judged by the merge base's assertions, so it never loads; the report lists the
    branch's assertion change and the edited gold cases."""
    (base / "checks/evil.py").write_text(checker("evil"))
    templated = '  - {type: python, value: "checks/{{ metadata.f }}.py:check"}\n'
    (base / "prompts/qa/1.1.0.yaml").write_text(qa("1.1.0", extra=templated))
    (base / "evals/qa.jsonl").write_text(
        "".join(
            json.dumps({**json.loads(line), "metadata": {"f": "evil"}}) + "\n"
            for line in cases().splitlines()
        )
    )
    commit(base)
    result = cli("check", "--base", "main", "--format", "json")
    assert_no_traceback(result)
    (entry,) = json.loads(result.stdout)["entries"]
    assert entry["rules_from"] == "qa@1.0.0 at the merge base"
    assert "assert: 2 assertion(s) -> 2 (removed python; added python)" in entry["rule_changes"]
    assert len(entry["gold"]["edited"]) == N  # the metadata the template reads
    assert not [p for p in markers.iterdir() if p.name.startswith("evil")]
    assert "base" in {p.name for p in markers.iterdir()}  # the base's file judged both sides


def test_a_remote_ref_is_never_fetched_by_eval_either(
    project: Path, cli: Cli, server: FakeOpenAI
) -> None:
    server.responder = lambda req: Reply('{"a": 1}')
    with Capture() as schemas:
        (project / "prompts/js").mkdir()
        schema = {"$ref": f"{schemas.url}/s.json"}
        text = qa("1.0.0", extra=f"  - {{type: json-schema, value: {json.dumps(schema)}}}\n")
        (project / "prompts/js/1.0.0.yaml").write_text(text.replace("name: qa", "name: js"))
        (project / "evals/qa.jsonl").write_text(cases())
        lint = cli("lint")
        result = cli("eval", "js@1.0.0", "--format", "json")
        # below the preflight (which refuses the eval before any call): the assertion itself
        import asyncio

        from promptops.assertions import AssertionContext, AssertionSpec, evaluate_assertion

        direct = asyncio.run(
            evaluate_assertion(
                AssertionSpec.model_validate({"type": "json-schema", "value": schema}),
                AssertionContext(output='{"a": 1}', vars={}),
            )
        )
    assert lint.exit_code == 1 and "points outside the schema" in lint.stdout + lint.stderr
    assert_no_traceback(result)
    assert result.exit_code == 1 and "points outside the schema" in result.stderr
    assert not (project / ".promptops/runs").exists() or not any(
        (project / ".promptops/runs").iterdir()
    )
    assert not direct.passed and "promptops never fetches schemas" in (direct.error or "")
    assert schemas.requests == []


# ------------------------------------------------------------------------------------------
# python assertions: merge base only, unless --trust-pr-code
# ------------------------------------------------------------------------------------------


def test_unchanged_python_assertions_run_and_changed_ones_only_with_trust(
    base: Path, cli: Cli, server: FakeOpenAI, markers: Path
) -> None:
    # an unchanged assertion file runs
    py = '  - {type: python, value: "checks/grade.py:check"}\n'
    (base / "prompts/qa/1.1.0.yaml").write_text(qa("1.1.0", "Sum: {{ document }}", extra=py))
    commit(base, "qa 1.1.0")
    ok = cli("check", "--base", "main")
    assert ok.exit_code == 0, ok.output
    assert (markers / "base").exists()
    for p in markers.iterdir():
        p.unlink()
    # the branch edits it: refused before any call, nothing runs
    (base / "checks/grade.py").write_text(checker("pr"))
    commit(base, "edit grade.py")
    refused = cli("check", "--base", "main")
    assert refused.exit_code == 1
    assert "python assertion checks/grade.py: changed on this branch" in refused.stdout
    assert "--trust-pr-code" in refused.stdout
    assert list(markers.iterdir()) == [] and server.calls == 2 * N
    # trusted: the branch's file may run, but the rules are the merge base's: so is their code
    trusted = cli("check", "--base", "main", "--trust-pr-code")
    assert trusted.exit_code == 0, trusted.output
    assert (markers / "base").exists() and not (markers / "pr").exists()


def test_a_baseline_from_the_base_tree_runs_the_base_trees_assertion_code(
    base: Path, cli: Cli, server: FakeOpenAI, markers: Path
) -> None:
    """tr 1.0.0 (never promoted) is gone from the branch, so the baseline of tr 1.1.0 is read
    from the merge base; its python assertion must be the base tree's checks/grade.py, not the
    branch's."""
    py = '  - {type: python, value: "checks/grade.py:check"}\n'
    git(base, "checkout", "-q", "main")
    (base / "prompts/tr").mkdir()
    (base / "prompts/tr/1.0.0.yaml").write_text(
        qa("1.0.0", extra=py).replace("name: qa", "name: tr")
    )
    commit(base, "tr")
    git(base, "checkout", "-q", "-B", "pr")
    (base / "prompts/tr/1.0.0.yaml").unlink()
    (base / "checks/grade.py").write_text(checker("pr"))
    text = qa("1.1.0", "Sum: {{ document }}", extra=py).replace("name: qa", "name: tr")
    (base / "prompts/tr/1.1.0.yaml").write_text(text)
    commit(base)
    result = cli("check", "--base", "main", "--trust-pr-code", "--format", "json")
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.stdout)["entries"]
    assert (entry["baseline"], entry["verdict"]) == ("tr@1.0.0", "inconclusive")  # 10 cases
    # both sides ran the base tree's code: the rules (and their code) are the merge base's
    assert (markers / "base").exists() and not (markers / "pr").exists()


STEAL = (
    "import os, pathlib\n"
    "pathlib.Path(os.environ['PROMPTOPS_TEST_MARKERS'], 'payload').write_text("
    "os.environ.get('OPENAI_API_KEY', ''))\n"
    "def check(output, context):\n"
    "    return True\n"
)


def test_a_poisoned_pyc_beside_an_unchanged_python_check_never_runs(
    base: Path, cli: Cli, server: FakeOpenAI, markers: Path
) -> None:
    """The branch commits checks/__pycache__/grade.cpython-3XX.pyc built from a payload beside
    the unchanged checks/grade.py: check runs the merge base's source, says the pyc is ignored,
    and so does eval."""
    cfile = poison(base / "checks/grade.py", STEAL)
    py = '  - {type: python, value: "checks/grade.py:check"}\n'
    (base / "prompts/qa/1.1.0.yaml").write_text(qa("1.1.0", "Sum: {{ document }}", extra=py))
    git(base, "add", "-f", str(cfile))
    commit(base)
    assert "__pycache__" in git(base, "ls-files", "checks")

    result = cli("check", "--base", "main")
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    assert (markers / "base").exists()  # the source ran ...
    assert not (markers / "payload").exists()  # ... and the payload never did
    shown = cfile.relative_to(base).as_posix()
    assert f"{shown}: ignored; check compiles python files from their source" in result.stdout
    assert "sk-ci-secret-key" not in result.output

    ran = cli("eval", "qa@1.1.0", "-q", "--fail-under", "0")
    assert ran.exit_code == 0, ran.output
    assert not (markers / "payload").exists()
    assert list((base / "checks/__pycache__").iterdir()) == [cfile]  # nothing compiled to disk


def test_params_extra_is_an_allowlist(project: Path, cli: Cli) -> None:
    (project / "prompts/x").mkdir()
    for key, ok in (("top_k", True), ("api_key", False), ("base_url", False), ("headers", False)):
        text = qa("1.0.0").replace("name: qa", "name: x")
        text = text.replace("params: {temperature: 0}", f"params: {{extra: {{{key}: 5}}}}")
        (project / "prompts/x/1.0.0.yaml").write_text(text)
        result = cli("lint", "prompts/x/1.0.0.yaml")
        assert_no_traceback(result)
        assert (f"{key!r} is not allowed in params.extra" in result.output) is not ok, key


def test_model_api_base_in_a_file_holds_no_credentials(project: Path, cli: Cli) -> None:
    (project / "prompts/x").mkdir()
    text = qa("1.0.0").replace("name: qa", "name: x")
    text = text.replace("  params:", "  api_base: http://u:hunter22@127.0.0.1:9/v1\n  params:")
    (project / "prompts/x/1.0.0.yaml").write_text(text)
    result = cli("lint", "prompts/x/1.0.0.yaml")
    assert result.exit_code == 1
    assert "model.api_base" in result.output and "must not hold credentials" in result.output
    assert "hunter22" not in result.output


def test_an_allowlisted_api_base_is_used(
    base: Path, cli: Cli, server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL")
    git(base, "checkout", "-q", "main")
    (base / "promptops.yaml").write_text(f'allowed_api_hosts: ["127.0.0.1:{server.port}"]\n')
    commit(base, "allow the loopback server")
    git(base, "checkout", "-q", "-B", "pr")
    (base / "prompts/qa/1.1.0.yaml").write_text(
        qa("1.1.0", "Sum: {{ document }}").replace(
            "  params:", f"  api_base: {server.url}\n  params:"
        )
    )
    ok = cli("check", "--base", "main", "--api-base", server.url)
    assert ok.exit_code == 0, ok.output
    other = cli("check", "--base", "main", "--api-base", f"http://127.0.0.1:{server.port + 1}/v1")
    assert other.exit_code == 1
    assert "--api-base: api_base" in other.stdout and "allowed_api_hosts" in other.stdout


# ------------------------------------------------------------------------------------------
# failing closed
# ------------------------------------------------------------------------------------------


def new_version(root: Path) -> None:
    (root / "prompts/qa/1.1.0.yaml").write_text(qa("1.1.0", "Sum: {{ document }}"))
    commit(root, "qa 1.1.0")


def test_every_call_failing_fails_the_check(base: Path, cli: Cli, server: FakeOpenAI) -> None:
    """An expired key: every call is a 401. Before, the verdict was inconclusive and exit 0."""
    server.responder = lambda req: Fault.http_error(401, "Incorrect API key provided: sk-ci-s***")
    new_version(base)
    result = cli("check", "--base", "main", "--no-cache")
    assert_no_traceback(result)
    assert result.exit_code == 1
    # the run stops after the first few identical configuration errors (issue 10's breaker)
    assert "stopped after 3 call(s) with the same configuration error (auth)" in (result.stdout)
    assert "fix: the server rejected the API key: check OPENAI_API_KEY" in result.stdout
    assert server.calls < 10
    assert "check failed" in result.stdout


def test_an_empty_key_is_no_credentials_and_calls_nothing(
    base: Path, cli: Cli, server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "")  # what a fork's pull request gets
    new_version(base)
    result = cli("check", "--base", "main", "--format", "json")
    assert result.exit_code == 1
    (entry,) = json.loads(result.stdout)["entries"]
    assert entry["verdict"] == "error"
    assert entry["message"].startswith("cannot evaluate: no credentials: OPENAI_API_KEY")
    assert server.calls == 0
    skipped = cli("check", "--base", "main", "--if-no-credentials", "skip")
    assert skipped.exit_code == 0
    assert "skipped" in skipped.stdout and "NOT EVALUATED" in skipped.stdout
    assert server.calls == 0
    bad = cli("check", "--base", "main", "--if-no-credentials", "maybe")
    assert bad.exit_code == 2 and "'maybe' is not one of 'fail', 'skip'" in bad.stderr


def test_error_rates_that_differ_fail_the_check(base: Path, cli: Cli, server: FakeOpenAI) -> None:
    """The new version's calls are rejected on 4 of 10 cases (400, not retried): they count as
    its failures, so the comparison would measure the provider's errors, not the prompts."""

    def responder(req: Any) -> Any:
        if req.text.startswith("Sum:") and int(req.text.split()[2].rstrip(":")) < 4:
            return Fault.http_error(400, "bad request")
        return echo(req)

    server.responder = responder
    new_version(base)
    result = cli("check", "--base", "main", "--no-cache")
    assert result.exit_code == 1, result.output
    out = " ".join(result.stdout.split())
    assert "error rates differ: 0 of 10 calls failed for qa@1.0.0, 4 of 10 for qa@1.1.0" in out
    assert "failed calls count as failures of their side" in out and "left out" not in out


def test_a_few_errors_on_both_sides_are_no_failure(
    base: Path, cli: Cli, server: FakeOpenAI
) -> None:
    def responder(req: Any) -> Any:
        if int(req.text.split()[2].rstrip(":")) == 0:
            return Fault.http_error(400, "bad request")
        return Reply(req.text)

    server.responder = responder
    new_version(base)
    result = cli("check", "--base", "main", "--no-cache")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("where", ["absolute", "dotdot"])
def test_python_assertions_outside_the_repository_never_run(
    base: Path, cli: Cli, server: FakeOpenAI, markers: Path, where: str
) -> None:
    outside = markers / "outside.py"  # a sibling of the repository, not in it
    outside.write_text(checker("outside"))
    assert outside.parent.parent == base.parent
    ref = str(outside) if where == "absolute" else f"../{markers.name}/outside.py"
    py = f'  - {{type: python, value: "{ref}:check"}}\n'
    (base / "prompts/qa/1.1.0.yaml").write_text(qa("1.1.0", "Sum: {{ document }}", extra=py))
    result = cli("check", "--base", "main")
    assert_no_traceback(result)
    assert result.exit_code == 1
    assert f"assert[1]: python assertion file {ref!r} is outside the project" in result.stdout
    assert [p.name for p in markers.iterdir()] == ["outside.py"]
    assert server.calls == 0


def test_a_new_prompt_whose_calls_fail_is_an_error_even_with_a_zero_bar(
    base: Path, cli: Cli, server: FakeOpenAI
) -> None:
    """fail_under: 0 "meets" any pass rate; a prompt never answered was still not evaluated."""
    server.responder = lambda req: Fault.http_error(401, "Incorrect API key provided")
    (base / "prompts/fresh").mkdir()
    text = qa("1.0.0").replace("name: qa", "name: fresh") + "fail_under: 0\n"
    (base / "prompts/fresh/1.0.0.yaml").write_text(text)
    result = cli("check", "--base", "main", "--format", "json")
    assert result.exit_code == 1, result.output
    (entry,) = json.loads(result.stdout)["entries"]
    assert entry["verdict"] == "error"
    assert "stopped after 3 call(s) with the same configuration error (auth)" in (entry["message"])


def test_lint_flags_a_remote_ref_in_the_output_schema(project: Path, cli: Cli) -> None:
    (project / "prompts/js").mkdir()
    text = qa("1.0.0").replace("name: qa", "name: js")
    text += 'output:\n  format: json\n  schema: {$ref: "https://example.invalid/s.json"}\n'
    (project / "prompts/js/1.0.0.yaml").write_text(text)
    (project / "evals/qa.jsonl").write_text(cases())
    result = cli("lint", "prompts/js/1.0.0.yaml")
    assert result.exit_code == 1
    assert "output.schema: $ref 'https://example.invalid/s.json' points outside" in result.output


# ------------------------------------------------------------------------------------------
# files a project names stay inside it
# ------------------------------------------------------------------------------------------

SECRET = "root:x:0:0:SECRET-MARKER-7f3a:/root:/bin/bash"


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlinked-file", "symlinked-folder", "csv"])
def test_a_dataset_outside_the_project_is_refused_and_never_read(
    base: Path, cli: Cli, server: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory, how: str
) -> None:
    """The audit's finding: a dataset path leaving the project was read, sent, recorded and
    quoted as 'invalid line' errors into the PR comment and the JUnit XML."""
    outside = tmp_path_factory.mktemp("outside")
    (outside / "qa.jsonl").write_text(f"{SECRET}\n" * 22)
    (outside / "qa.csv").write_text(f"document,{SECRET}\n" + f"{SECRET},x\n" * 22)
    ref = {
        "csv": f"../{outside.name}/qa.csv",
        "absolute": str(outside / "qa.jsonl"),
        "dotdot": f"../{outside.name}/qa.jsonl",
        "symlinked-file": "evals/linked.jsonl",
        "symlinked-folder": "shared/qa.jsonl",
    }[how]
    if how == "symlinked-file":
        (base / "evals/linked.jsonl").symlink_to(outside / "qa.jsonl")
    elif how == "symlinked-folder":
        (base / "shared").symlink_to(outside, target_is_directory=True)
    elif how == "dotdot":
        assert (base / ref).resolve() == (outside / "qa.jsonl").resolve()
    text = qa("1.1.0", "Sum: {{ document }}").replace("dataset: evals/qa.jsonl", f"dataset: {ref}")
    (base / "prompts/qa/1.1.0.yaml").write_text(text)
    commit(base)
    md, junit = base / "pr-comment.md", base / "junit.xml"

    result = cli("check", "--base", "main", "--markdown", str(md), "--junit", str(junit))
    assert_no_traceback(result)
    assert result.exit_code == 1
    assert f"prompts/qa/1.1.0.yaml:11: dataset: {ref!r} is outside the project" in result.stdout
    assert server.calls == 0
    evaluated = cli("eval", "qa@1.1.0")
    assert evaluated.exit_code == 1
    assert f"dataset: {ref!r} is outside the project" in evaluated.stderr
    linted = cli("lint")
    assert linted.exit_code == 1 and "is outside the project" in linted.output
    shown = cli("show", "qa@1.1.0")
    assert shown.exit_code == 0, shown.output
    # the content went nowhere: not printed, not in the reports, records or cache
    written = [md, junit] + [p for p in (base / ".promptops").rglob("*") if p.is_file()]
    assert md.is_file() and junit.is_file()
    for r in (result, evaluated, linted, shown):
        assert "SECRET-MARKER" not in r.output
    for p in written:
        assert b"SECRET-MARKER" not in p.read_bytes(), p
    assert server.calls == 0


@pytest.mark.parametrize("how", ["symlinked-file", "symlinked-folder"])
def test_a_python_check_linked_outside_the_project_never_runs(
    base: Path,
    cli: Cli,
    server: FakeOpenAI,
    markers: Path,
    tmp_path_factory: pytest.TempPathFactory,
    how: str,
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (outside / "evil.py").write_text(checker("evil"))
    if how == "symlinked-file":
        (base / "checks/link.py").symlink_to(outside / "evil.py")
        ref = "checks/link.py"
    else:
        (base / "vendor").symlink_to(outside, target_is_directory=True)
        ref = "vendor/evil.py"
    py = f'  - {{type: python, value: "{ref}:check"}}\n'
    (base / "prompts/qa/1.1.0.yaml").write_text(qa("1.1.0", "Sum: {{ document }}", extra=py))
    commit(base)
    for args in (("check", "--base", "main"), ("eval", "qa@1.1.0"), ("lint",)):
        result = cli(*args)
        assert_no_traceback(result)
        assert result.exit_code == 1, result.output
        assert f"assert[1]: python assertion file {ref!r} is outside the project" in result.output
    assert not [p for p in markers.iterdir() if p.name.startswith("evil")]
    assert server.calls == 0


def test_a_prompt_file_linked_outside_the_project_is_refused_unread(
    base: Path, cli: Cli, server: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A committed symlink in prompts/ (a version file pointing at a secret): check and lint
    name it and never parse it (a parse error would quote it)."""
    outside = tmp_path_factory.mktemp("outside")
    (outside / "id_rsa").write_text(f"{SECRET}\n")
    (base / "prompts/qa/1.1.0.yaml").symlink_to(outside / "id_rsa")
    commit(base)
    md = base / "pr-comment.md"
    for args in (("check", "--base", "main", "--markdown", str(md)), ("lint",)):
        result = cli(*args)
        assert_no_traceback(result)
        assert result.exit_code == 1, result.output
        assert "prompts/qa/1.1.0.yaml: " in result.output
        assert "is outside the project" in result.output
        assert "SECRET-MARKER" not in result.output
    assert "SECRET-MARKER" not in md.read_text()
    assert server.calls == 0
