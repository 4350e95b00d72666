"""``promptops diff`` and ``promptops check`` through typer's CliRunner."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from promptops.gate import power as gatepower
from promptops.testing.server import FakeOpenAI, Reply, echo

Cli = Callable[..., Result]

QA = """\
name: qa
version: {version}
model:
  id: openai/fake-model-2024-01-01
  params: {{temperature: 0}}
inputs:
  question: {{type: string}}
template: "{template}"
dataset: evals/qa.jsonl
assert:
  - {{type: icontains, value: "{{{{ expected }}}}"}}
"""


def git(root: Path, *args: str) -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    ident = ("-c", "user.name=t", "-c", "user.email=t@t.invalid", "-c", "commit.gpgsign=false")
    subprocess.run(["git", *ident, *args], cwd=root, env=env, capture_output=True, check=True)


def no_traceback(result: Result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")

    def responder(req: Any) -> Any:  # the terse prompt loses every case but each fourth
        if req.text.startswith("Terse:") and int(req.text.split()[-1]) % 4:
            return Reply("?")
        return echo(req)

    with FakeOpenAI(responder) as s:
        yield s


@pytest.fixture
def qa_repo(project: Path) -> Path:
    """qa 1.0.0 committed on main (never promoted); branch `feature` adds a worse 1.1.0."""
    (project / "prompts/qa").mkdir()
    (project / "prompts/qa/1.0.0.yaml").write_text(
        QA.format(version="1.0.0", template="Answer: {{ question }}")
    )
    (project / "evals/qa.jsonl").write_text(
        "".join(
            json.dumps(
                {"id": f"q{i:02d}", "vars": {"question": f"number {i}"}, "expected": f"number {i}"}
            )
            + "\n"
            for i in range(24)
        )
    )
    # check sends credentials only to allowlisted hosts (read from the merge base)
    (project / "promptops.yaml").write_text('allowed_api_hosts: ["127.0.0.1:*"]\n')
    git(project, "add", "-A")
    git(project, "commit", "-qm", "qa")
    git(project, "checkout", "-qb", "feature")
    (project / "prompts/qa/1.1.0.yaml").write_text(
        QA.format(version="1.1.0", template="Terse: {{ question }}")
    )
    return project


# ------------------------------------------------------------------------------------------
# diff
# ------------------------------------------------------------------------------------------


def test_diff_two_refs_table(project: Path, cli: Cli) -> None:
    result = cli("diff", "summarize@prod", "summarize@2.0")
    no_traceback(result)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "summarize@1.0.0 → summarize@2.0.0" in out
    assert "params.temperature: 0 → 0.2" in out
    assert "+You write summaries with a title line." in out
    assert "echo/echo" in out and "3 paired cases" in out
    # 3 unchanged cases cannot show that B is no worse: inconclusive (exit 0), with the reason
    assert "verdict: INCONCLUSIVE" in out
    assert "below 236 cases no data can show ok at margin 0.02" in out


def test_diff_json_and_markdown(project: Path, cli: Cli, tmp_path: Path) -> None:
    result = cli("diff", "summarize@1.0.0", "summarize@1.1.0", "--format", "json", "--seed", "9")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["verdict"] == "inconclusive" and data["a"] == "summarize@1.0.0"
    assert data["comparisons"][0]["seed"] == 9 and data["comparisons"][0]["method"] == "tango"
    md = tmp_path / "out" / "diff.md"
    result = cli("diff", "summarize@1.0.0", "summarize@1.1.0", "-f", "markdown", "-o", str(md))
    assert result.exit_code == 0
    assert result.stdout.startswith(
        "### ⚠️ promptops diff `summarize@1.0.0` → `summarize@1.1.0`: inconclusive"
    )
    assert "```diff" in result.stdout and md.read_text() == result.stdout


def test_diff_repeat_averages_samples_per_case(project: Path, cli: Cli) -> None:
    result = cli("diff", "summarize@1.0.0", "summarize@2.0.0", "--repeat", "2", "-f", "json")
    assert result.exit_code == 0, result.output
    (c,) = json.loads(result.stdout)["comparisons"]
    assert c["repeats"] == 2 and c["n_paired"] == 3


def test_diff_run_ids(project: Path, cli: Cli) -> None:
    ids = []
    for ref in ("summarize@1.0.0", "summarize@1.1.0"):
        res = cli("eval", ref, "--format", "json")
        assert res.exit_code == 0, res.output
        ids.append(json.loads(res.stdout)["run_id"])
    result = cli("diff", *ids, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["runs"] == ids
    mixed = cli("diff", ids[0], "summarize@1.1.0")
    no_traceback(mixed)
    assert mixed.exit_code == 2 and "not one of each" in mixed.stderr


def test_diff_usage_errors(project: Path, cli: Cli) -> None:
    res = cli("diff", "summarize@1.0.0", "summarize@1.1.0", "--format", "html")
    assert res.exit_code == 2 and "--format" in res.stderr
    res = cli("diff", "summarize@1.0.0", "summarize@9.0")
    no_traceback(res)
    assert res.exit_code == 1 and "9.0.0 not found" in res.stderr


def test_diff_exits_1_on_a_regression(qa_repo: Path, cli: Cli, server: FakeOpenAI) -> None:
    result = cli("diff", "qa@1.0.0", "qa@1.1.0", "--api-base", server.url)
    no_traceback(result)
    assert result.exit_code == 1, result.output
    assert "verdict: REGRESSION" in result.stdout
    assert "regressed (worse in B): 18" in result.stdout
    assert "B fails 18 cases that A passed and passes 0 that A failed (of 24)" in result.stdout
    assert "q01" in result.stdout and "number 1" in result.stdout


# ------------------------------------------------------------------------------------------
# check
# ------------------------------------------------------------------------------------------


def test_check_writes_markdown_junit_and_step_summary(
    qa_repo: Path, cli: Cli, server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    md, junit = tmp_path / "check.md", tmp_path / "reports/junit.xml"
    result = cli(
        "check",
        "--base",
        "main",
        "--api-base",
        server.url,
        "--markdown",
        str(md),
        "--junit",
        str(junit),
    )
    no_traceback(result)
    assert result.exit_code == 1, result.output
    assert "check failed" in result.stdout and "qa@1.1.0 added vs qa@1.0.0" in result.stdout
    text = md.read_text()
    assert text.startswith("### promptops check ❌ failed")
    assert (
        "| `qa@1.1.0` | added | `qa@1.0.0` (previous version (never in prod)) | ❌ regression |"
        in text
    )
    assert "q01" in text
    # each verdict in one plain sentence
    assert (
        "B fails 18 cases that A passed and passes 0 that A failed (of 24); that is a drop "
        "of 75 points"
        in text
        and "more than the 2 points you tolerate, and too large to be luck (exact sign test" in text
    )
    assert summary.read_text() == "earlier step\n" + text
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    case = suite.find("testcase")
    assert case is not None and case.get("name") == "qa@1.1.0"
    failure = case.find("failure")
    assert failure is not None and "q01" in (failure.text or "")


def test_check_json_and_passing(qa_repo: Path, cli: Cli, server: FakeOpenAI) -> None:
    (qa_repo / "prompts/qa/1.1.0.yaml").write_text(
        QA.format(version="1.1.0", template="Answer:  {{ question }}")
    )
    result = cli("check", "--base", "main", "--api-base", server.url, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    # 24 unchanged cases: not enough to show ok, and inconclusive passes without --strict
    assert data["passed"] is True and data["entries"][0]["verdict"] == "inconclusive"
    assert "no drop" in data["entries"][0]["message"] or "cannot" in data["entries"][0]["message"]


def test_check_shows_inconclusive_as_a_warning_and_strict_fails_it(
    qa_repo: Path, cli: Cli, server: FakeOpenAI, tmp_path: Path
) -> None:
    text = QA.format(version="1.1.0", template="Answer:  {{ question }}")
    (qa_repo / "prompts/qa/1.1.0.yaml").write_text(text + "gate: {margin: 0.5}\n")
    md = tmp_path / "check.md"
    args = ("check", "--base", "main", "--api-base", server.url, "--markdown", str(md))
    result = cli(*args)
    no_traceback(result)
    assert result.exit_code == 0, result.output
    assert "check passed with warnings: qa@1.1.0 inconclusive" in result.stdout
    assert "rules: qa@1.0.0 at the merge base" in result.stdout
    assert "rule changed on this branch (applies after merge): gate.margin: 0.02 -> 0.5" in (
        result.stdout
    )
    summary = md.read_text()
    assert summary.startswith(
        "### promptops check ⚠️ passed with warnings (`qa@1.1.0` inconclusive)"
    )
    assert "✅" not in summary.splitlines()[0]
    assert "| ⚠️ inconclusive |" in summary
    strict = cli(*args, "--strict")
    assert strict.exit_code == 1 and "check failed" in strict.stdout
    assert md.read_text().startswith("### promptops check ❌ failed")


def test_check_refuses_an_in_place_edit(project: Path, cli: Cli) -> None:
    path = project / "prompts/summarize/1.0.0.yaml"
    path.write_text(path.read_text().replace("First version.", "First version, edited."))
    result = cli("check", "--base", "main")
    no_traceback(result)
    assert result.exit_code == 1
    assert "summarize@1.0.0 is released (active in prod) and was edited in place" in result.stdout


def test_check_unknown_base(project: Path, cli: Cli) -> None:
    result = cli("check", "--base", "origin/main")
    no_traceback(result)
    assert result.exit_code == 1 and "unknown git revision 'origin/main'" in result.stderr


def test_the_ci_workflow_runs_check_with_options_that_exist(cli: Cli) -> None:
    import re

    import yaml

    workflow = Path(__file__).resolve().parents[1] / ".github/workflows/promptops.yml"
    data = yaml.safe_load(workflow.read_text(encoding="utf-8"))
    steps = [s for job in data["jobs"].values() for s in job["steps"]]
    (command,) = [s["run"] for s in steps if "promptops check" in s.get("run", "")]
    assert "--base" in command
    help_text = cli("check", "--help").stdout
    for option in re.findall(r"(--[a-z-]+)", command):
        assert option in help_text, option
    assert any(s.get("uses", "").startswith("actions/cache@") for s in steps)
    assert any(s.get("with", {}).get("fetch-depth") == 0 for s in steps)


# ------------------------------------------------------------------------------------------
# the audit's cases, end to end: `promptops diff` on real eval runs whose outcomes the dataset
# sets. The echo provider answers with the rendered prompt: version 1.0.0 renders the case's
# `a` variable, 1.1.0 its `b`; "1 ok" is a pass with score 1, "0.94 ok" a graded score, and
# so on (checks.py reads the number as the score of the `grade` assertion).
# ------------------------------------------------------------------------------------------

FLIP = """\
name: flip
version: {version}
model: {{id: {model}}}
inputs:
  a: {{type: string}}
  b: {{type: string}}
template: "{{{{ {side} }}}}"
dataset: evals/flip.jsonl
assert:
  - {{type: python, value: "checks.py:grade", metric: grade}}
  - {{type: icontains, value: "ok", metric: other}}
"""

CHECKS = """\
def grade(output, context):
    return float(output.split()[0])
"""


def flip_repo(root: Path, cases: list[tuple[str, str]], model: str = "echo/echo") -> None:
    (root / "prompts/flip").mkdir(exist_ok=True)
    for version, side in (("1.0.0", "a"), ("1.1.0", "b")):
        (root / f"prompts/flip/{version}.yaml").write_text(
            FLIP.format(version=version, side=side, model=model)
        )
    (root / "checks.py").write_text(CHECKS)
    (root / "evals/flip.jsonl").write_text(
        "".join(
            json.dumps({"id": f"f{i:04d}", "vars": {"a": a, "b": b}}) + "\n"
            for i, (a, b) in enumerate(cases)
        )
    )


def diff_json(cli: Cli, *args: str, code: int = 0) -> dict[str, Any]:
    result = cli("diff", "flip@1.0.0", "flip@1.1.0", "-f", "json", *args)
    no_traceback(result)
    assert result.exit_code == code, result.output
    assert result.stdout, result.stderr
    data: dict[str, Any] = json.loads(result.stdout, parse_constant=_no_constant)
    return data


def _no_constant(name: str) -> None:
    raise AssertionError(f"not strict JSON: {name}")


def test_no_case_flipping_on_20_cases_is_not_ok(project: Path, cli: Cli) -> None:
    flip_repo(project, [("1 ok", "1 ok")] * 20)
    data = diff_json(cli)
    (c,) = data["comparisons"]
    assert data["verdict"] == "inconclusive" and c["ci_low"] < -0.1
    assert c["ok_floor"] == 236 and c["cases_needed"] >= 236
    assert "below 236 cases no data can show ok at margin 0.02" in c["explanation"]
    # the same on 300 cases is evidence enough
    flip_repo(project, [("1 ok", "1 ok")] * 300)
    assert diff_json(cli)["verdict"] == "ok"


def test_one_lost_case_of_one_is_not_a_regression(project: Path, cli: Cli) -> None:
    flip_repo(project, [("1 ok", "0 ok")])
    data = diff_json(cli, "--margin", "0")
    assert data["verdict"] == "inconclusive"
    assert data["comparisons"][0]["regressed"] == ["f0000"]


def test_four_lost_cases_in_a_thousand_are_not_a_regression(project: Path, cli: Cli) -> None:
    flip_repo(project, [("1 ok", "0 ok")] * 4 + [("1 ok", "1 ok")] * 996)
    data = diff_json(cli, "--margin", "0", "--metric", "pass")
    (c,) = data["comparisons"]
    assert data["verdict"] == "inconclusive" and c["mcnemar"]["p"] == pytest.approx(0.0625)


def test_a_significant_drop_inside_the_margin_is_ok(project: Path, cli: Cli) -> None:
    flip_repo(project, [("1 ok", "0 ok")] * 8 + [("1 ok", "1 ok")] * 992)
    data = diff_json(cli, "--margin", "0.02")
    (c,) = data["comparisons"]
    assert c["ci_high"] < 0 and data["verdict"] == "ok"  # a real drop of 0.008, tolerated
    assert "within the 2 points you tolerate" in c["explanation"]


def test_a_consistent_small_score_dip_on_three_cases_is_not_a_regression(
    project: Path, cli: Cli
) -> None:
    flip_repo(project, [("0.95 ok", "0.94 ok")] * 3)
    data = diff_json(cli, "--margin", "0", "--metric", "grade")
    (c,) = data["comparisons"]
    assert data["verdict"] == "inconclusive" and c["method"] == "floored-t"
    assert c["diff"] == pytest.approx(-0.01)


def test_the_verdict_follows_the_gated_metric(project: Path, cli: Cli) -> None:
    # `grade` is the same on both sides; the `other` assertion fails on B for 12 of 40 cases
    flip_repo(project, [("1 ok", "1 no")] * 12 + [("1 ok", "1 ok")] * 28)
    gated = diff_json(cli, "--metric", "grade", "--margin", "0.05")
    assert gated["verdict"] != "regression" and gated["comparisons"][0]["regressed"] == []
    by_pass = diff_json(cli, "--metric", "pass", "--margin", "0.05", code=1)
    assert by_pass["verdict"] == "regression" and len(by_pass["comparisons"][0]["regressed"]) == 12


def test_an_assertion_error_counts_as_a_failure(project: Path, cli: Cli) -> None:
    # "nan" is no score: the python assertion errors, the case fails on B
    flip_repo(project, [("1 ok", "nan ok")] * 30 + [("1 ok", "1 ok")] * 10)
    data = diff_json(cli, code=1)
    assert data["verdict"] == "regression"
    assert len(data["comparisons"][0]["regressed"]) == 30


def test_a_stored_nan_score_is_a_failure_and_the_json_stays_strict(project: Path, cli: Cli) -> None:
    flip_repo(project, [("1 ok", "1 ok")] * 40)
    ids = []
    for ref in ("flip@1.0.0", "flip@1.1.0"):
        res = cli("eval", ref, "--format", "json")
        ids.append(json.loads(res.stdout)["run_id"])
    results = project / ".promptops/runs" / ids[1] / "results.jsonl"
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    for rec in lines[:25]:
        rec["score"] = float("nan")
        rec["metrics"]["grade"] = float("inf")
    results.write_text("".join(json.dumps(r) + "\n" for r in lines))  # NaN, Infinity literals
    result = cli("diff", *ids, "-f", "json", "--metric", "grade")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout, parse_constant=_no_constant)
    (c,) = data["comparisons"]
    assert data["verdict"] == "regression" and len(c["invalid"]) == 25
    assert "non-finite" in c["explanation"]


# --- failed calls, through the loopback server --------------------------------------------


@pytest.fixture
def long_prompt_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    """B's prompt is longer: the server rejects it (context length) for cases marked `long`."""
    from promptops.testing.server import Fault

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")

    def responder(req: Any) -> Any:
        if "long" in req.text and "B" in req.text:
            return Fault.http_error(
                400, "context_length_exceeded", error_type="invalid_request_error"
            )
        if "down" in req.text:  # transient, still failing after the retries
            return Fault.unavailable()
        if "huge" in req.text:  # this input is refused for good, whichever version sends it
            return Fault.http_error(
                400, "context_length_exceeded", error_type="invalid_request_error"
            )
        return Reply("1 ok")

    with FakeOpenAI(responder) as s:
        yield s


def test_failed_calls_on_one_side_count_as_failures(
    project: Path, cli: Cli, long_prompt_server: FakeOpenAI
) -> None:
    flip_repo(
        project,
        [("A long", "B long")] * 12 + [("A short", "B short")] * 28,
        model="openai/fake-model-2024-01-01",
    )
    data = diff_json(cli, "--api-base", long_prompt_server.url, code=1)
    (c,) = data["comparisons"]
    assert data["verdict"] == "regression" and c["n_paired"] == 40
    assert c["failed_b"] == [f"f{i:04d}" for i in range(12)] and c["failed_a"] == []
    assert "calls failed on B for 12 case(s), counted as B failing" in c["explanation"]
    table = cli("diff", "flip@1.0.0", "flip@1.1.0", "--api-base", long_prompt_server.url)
    assert "call failed on B (counted as B failing): f0000" in table.stdout


def test_calls_failed_on_both_sides_give_the_error_verdict(
    project: Path, cli: Cli, long_prompt_server: FakeOpenAI
) -> None:
    flip_repo(
        project,
        [("A down", "B down")] * 2 + [("A short", "B short")] * 38,
        model="openai/fake-model-2024-01-01",
    )
    data = diff_json(cli, "--api-base", long_prompt_server.url, code=1)
    (c,) = data["comparisons"]
    assert data["verdict"] == "error" and c["errored"] == ["f0000", "f0001"]
    assert "f0000, f0001" in c["explanation"]


def test_inputs_refused_on_both_sides_are_failures_of_both_not_missing_evidence(
    project: Path, cli: Cli, long_prompt_server: FakeOpenAI
) -> None:
    """A rerun cannot help a case whose input the provider refuses (context length) for A and
    B alike: both versions fail it, and the verdict is decided on the evidence."""
    flip_repo(
        project,
        [("A huge", "B huge")] * 2 + [("A short", "B short")] * 38,
        model="openai/fake-model-2024-01-01",
    )
    data = diff_json(cli, "--api-base", long_prompt_server.url)
    (c,) = data["comparisons"]
    assert data["verdict"] != "error" and c["errored"] == []
    assert c["failed_a"] == c["failed_b"] == ["f0000", "f0001"]


# --- exit codes, --strict, sizing ---------------------------------------------------------


def test_strict_makes_inconclusive_exit_1(project: Path, cli: Cli) -> None:
    flip_repo(project, [("1 ok", "1 ok")] * 10)
    assert diff_json(cli)["verdict"] == "inconclusive"
    assert diff_json(cli, "--strict", code=1)["verdict"] == "inconclusive"


def test_power_says_how_many_cases_before_spending(cli: Cli) -> None:
    from promptops.gate.power import plan

    result = cli("power", "--drop", "0.05", "--pass-rate", "0.8", "--margin", "0.02")
    assert result.exit_code == 0, result.output
    p = plan(0.8, 0.05, 0.02)
    assert p.detect is not None and p.detect_power is not None
    assert f"to call a drop of 5 points a regression: {p.detect} paired cases" in result.stdout
    assert "(independent outcomes)" in result.stdout
    assert "fewer than 236 cases can never give ok at margin 0.02" in result.stdout
    data = json.loads(cli("power", "--drop", "0.1", "--discordance", "0.1", "-f", "json").stdout)
    assert data["detect"] == plan(0.8, 0.1, 0.02, discordance=0.1).detect < p.detect
    assert data["discordance_source"] == "given" and 0.78 <= data["detect_power"] <= 0.82
    sized = cli("power", "--drop", "0.2", "--pass-rate", "0.7", "--margin", "0.05", "--cases", "40")
    assert "with 40 cases: a drop of 20 points is called a regression" in sized.stdout
    # below 92 cases only a gain can show ok; the figure is the verdict's exact chance
    ok40 = plan(0.7, 0.2, 0.05, cases=40).power_ok
    assert ok40 is not None and 0 < ok40 < 0.1
    assert f"an unchanged prompt is called ok {100 * ok40:.0f}% of the time" in sized.stdout
    big = plan(0.8, 0.1, 0.02, cases=3000)
    assert big.power_detect is not None and big.power_detect > 0.8  # more than `detect` cases
    assert big.detect is not None and big.detect < 3000
    bad = cli("power", "--drop", "1.5")
    assert bad.exit_code == 2 and "--drop" in bad.stderr


def test_the_readme_power_examples_run(project: Path, cli: Cli) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    lines = [ln for ln in readme.splitlines() if ln.startswith("promptops power ")]
    assert len(lines) >= 3
    for line in lines:
        result = cli(*shlex.split(line)[1:])
        assert result.exit_code == 0, (line, result.output)
        assert "paired cases" in result.stdout
    small = [gatepower.smallest_detectable_drop(n, 0.01, 0.02, 0.025) for n in (5, 10, 20, 40)]
    assert small[0] is None  # the README's figures for few cases
    assert [round(100 * x) for x in small[1:] if x is not None] == [67, 37, 19]


def test_power_takes_the_discordance_of_the_last_diff(project: Path, cli: Cli) -> None:
    flip_repo(project, [("1 ok", "0 ok")] * 3 + [("0 ok", "1 ok")] + [("1 ok", "1 ok")] * 6)
    none = json.loads(cli("power", "--drop", "0.2", "--prompt", "flip", "-f", "json").stdout)
    assert none["discordance_source"] == "independent outcomes (no diff of flip found)"
    data = diff_json(cli, "--metric", "pass")
    comp = data["comparisons"][0]
    assert (comp["mcnemar"]["b"], comp["mcnemar"]["c"], comp["n_paired"]) == (3, 1, 10)
    got = json.loads(cli("power", "--drop", "0.2", "--prompt", "flip", "-f", "json").stdout)
    assert got["discordance"] == pytest.approx(0.4)  # 4 of 10 cases moved
    assert got["discordance_source"].startswith("observed in the last diff of flip (run ")
    assert data["runs"][0] in got["discordance_source"]


# --- sequential ---------------------------------------------------------------------------


def test_sequential_stops_early_on_a_clear_regression_and_resumes_with_its_schedule(
    project: Path, cli: Cli
) -> None:
    # B loses 60% of 200 cases: O'Brien-Fleming-type spending keeps the first look (at 40
    # cases, one-sided level 5e-7) from deciding; the second (80 cases) does
    flip_repo(project, [("1 ok", "0 ok" if i % 5 < 3 else "1 ok") for i in range(200)])
    data = diff_json(cli, "--sequential", "5", "--seed", "3", code=1)
    seq = data["sequential"]
    assert data["verdict"] == "regression"
    assert seq["sizes"] == [40, 80, 120, 160, 200] and seq["stopped_at"] == 2
    assert seq["cases_used"] == 80 and data["comparisons"][0]["n_paired"] == 80
    assert len(seq["order"]) == 200 and seq["seed"] == 3
    assert data["comparisons"][0]["level"] == pytest.approx(seq["levels"][1])
    run = project / ".promptops/runs" / data["runs"][0]
    stored = json.loads((run / "sequential.json").read_text())
    assert stored["stopped_at"] == 2 and stored["looks"][0]["verdict"] == "inconclusive"
    assert stored["looks"][1]["verdict"] == "regression"
    records = (run / "results.jsonl").read_text().splitlines()
    assert len(records) == 160  # 80 cases x 2 versions: the other 120 were never called
    # resume replays the stored schedule on the same run: no new records
    again = diff_json(cli, "--resume", data["runs"][0], code=1)
    assert again["runs"] == data["runs"] and again["sequential"]["sizes"] == seq["sizes"]
    assert again["sequential"]["order"] == seq["order"]
    assert len((run / "results.jsonl").read_text().splitlines()) == 160
    other = cli("diff", "summarize@1.0.0", "summarize@2.0.0", "--resume", data["runs"][0])
    assert other.exit_code == 2 and "resume it with the same A and B" in other.stderr


def test_sequential_runs_every_look_when_nothing_decides(project: Path, cli: Cli) -> None:
    flip_repo(project, [("1 ok", "1 ok")] * 30)
    data = diff_json(cli, "--sequential", "3")
    seq = data["sequential"]
    assert seq["stopped_at"] is None and [lk["cases"] for lk in seq["looks"]] == [10, 20, 30]
    assert "ran all 3 looks without a decision" in " ".join(data["notes"])


def test_sequential_records_its_settings_and_refuses_a_resume_with_others(
    project: Path, cli: Cli
) -> None:
    flip_repo(project, [("1 ok", "1 ok")] * 30)
    data = diff_json(cli, "--sequential", "3", "--margin", "0.05", "--metric", "pass")
    run = project / ".promptops/runs" / data["runs"][0]
    stored = json.loads((run / "sequential.json").read_text())
    assert (stored["margin"], stored["metric"], stored["alpha"]) == (0.05, "pass", 0.05)
    assert stored["sizes"] == [10, 20, 30] and len(stored["levels"]) == 3
    looks = stored["looks"]
    # a resume with another margin (here the default 0.02) is refused, naming the setting
    bad = cli("diff", "flip@1.0.0", "flip@1.1.0", "--resume", data["runs"][0], "--metric", "pass")
    no_traceback(bad)
    assert bad.exit_code == 1
    assert "was started with --margin 0.05 (now 0.02)" in bad.stderr
    bad = cli("diff", "flip@1.0.0", "flip@1.1.0", "--resume", data["runs"][0], "--margin", "0.05")
    assert bad.exit_code == 1 and "--metric pass (now score)" in bad.stderr
    # the same settings: every look was taken, nothing is appended or rewritten
    again = diff_json(cli, "--resume", data["runs"][0], "--margin", "0.05", "--metric", "pass")
    assert again["sequential"]["looks"] == looks
    assert json.loads((run / "sequential.json").read_text())["looks"] == looks
    # a file written without its settings is refused rather than trusted
    legacy = {k: v for k, v in stored.items() if k not in ("margin", "metric", "alpha")}
    (run / "sequential.json").write_text(json.dumps(legacy))
    old = cli("diff", "flip@1.0.0", "flip@1.1.0", "--resume", data["runs"][0])
    assert old.exit_code == 1 and "margin, metric, alpha: not recorded" in old.stderr


def test_a_resumed_sequential_run_appends_to_its_history(project: Path, cli: Cli) -> None:
    """An interrupted run (here: its last look removed, as if the process died before
    writing it) continues after the last recorded look; earlier looks stay as written."""
    flip_repo(project, [("1 ok", "1 ok")] * 30)
    data = diff_json(cli, "--sequential", "3")
    run = project / ".promptops/runs" / data["runs"][0]
    stored = json.loads((run / "sequential.json").read_text())
    first_two = stored["looks"][:2]
    first_two[0]["verdict"] = "marker"  # a resume that replayed look 1 would rewrite this
    (run / "sequential.json").write_text(json.dumps({**stored, "looks": first_two}))
    again = diff_json(cli, "--resume", data["runs"][0])
    looks = again["sequential"]["looks"]
    assert [lk["look"] for lk in looks] == [1, 2, 3] and looks[0]["verdict"] == "marker"
    assert looks[2]["cases"] == 30 and looks[2]["complete"] is True


def test_check_sequential(qa_repo: Path, cli: Cli, server: FakeOpenAI) -> None:
    result = cli(
        "check", "--base", "main", "--api-base", server.url, "--sequential", "2", "-f", "json"
    )
    assert result.exit_code == 1, result.output
    (entry,) = json.loads(result.stdout)["entries"]
    assert entry["verdict"] == "regression"
    assert entry["diff"]["sequential"]["stopped_at"] is not None
    assert (
        "B fails" in entry["message"] and "more than the 2 points you tolerate" in entry["message"]
    )


def test_diff_does_not_import_scipy(project: Path) -> None:
    """scipy.stats costs about a second to import; the gate's statistics do without it."""
    from conftest import run_python

    code = (
        "import sys, json\n"
        "from typer.testing import CliRunner\n"
        "from promptops.cli import app\n"
        "r = CliRunner().invoke(app, ['diff', 'summarize@1.0.0', 'summarize@2.0.0', '-f', 'json'])\n"
        "print(json.dumps([r.exit_code, sorted(m for m in sys.modules if m.startswith('scipy'))]))\n"
    )
    done = run_python(code, project)
    assert done.returncode == 0, done.stderr
    code_, scipy = json.loads(done.stdout.strip().splitlines()[-1])
    assert code_ == 0 and scipy == []
