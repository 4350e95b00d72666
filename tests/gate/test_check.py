"""``check``: a throwaway git repo where branches change the ``qa`` prompt, evaluated against the
loopback server (the real litellm path)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promptops.errors import GitError
from promptops.eval.runner import EvalOptions
from promptops.gate.check import check
from promptops.gitops import changed_files, list_dir_at, merge_base, read_file_at, repo_root
from promptops.project import Project, load_prompt
from promptops.testing.server import FakeOpenAI, Reply, echo, noisy

N_CASES = 40

QA = """\
name: qa
version: {version}
description: Answer with the item's keyword.
changelog: {changelog}
model:
  id: openai/fake-model-2024-01-01
  params: {{temperature: 0}}
inputs:
  document: {{type: string, description: The text.}}
template: "{template}"
dataset: evals/qa.jsonl
assert:
  - {{type: icontains, value: "{{{{ expected.keyword }}}}", metric: keyword}}
"""
GOOD = "Summarize: {{ document }}"
WORSE = "TL;DR {{ document }}"  # the server loses the answer for most cases on this prompt


ALLOW_LOOPBACK = 'allowed_api_hosts: ["127.0.0.1:*"]\n'


def qa(version: str, template: str = GOOD, changelog: str = "A change.") -> str:
    return QA.format(version=version, template=template, changelog=changelog)


def git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    ident = ("-c", "user.name=t", "-c", "user.email=t@t.invalid", "-c", "commit.gpgsign=false")
    return subprocess.run(
        ["git", *ident, *args], cwd=root, env=env, capture_output=True, text=True, check=True
    ).stdout


def responder(req: Any) -> Any:
    """Echo (which contains the keyword) except for the worse prompt, which answers only every
    fifth case."""
    text = req.text
    if text.startswith("TL;DR") and int(text.split()[2].rstrip(":")) % 5:
        return Reply("Sorry, no summary.")
    return echo(req)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FakeOpenAI(responder) as s:
        yield s


@pytest.fixture
def repo(project: Path) -> Path:
    """The shared test project plus ``qa`` 1.0.0 (prod) and 1.1.0 on main, 40 gold cases; the
    working tree is on a fresh branch ``feature``."""
    (project / "prompts/qa").mkdir(parents=True)
    (project / "prompts/qa/1.0.0.yaml").write_text(qa("1.0.0", changelog="First."))
    (project / "prompts/qa/1.1.0.yaml").write_text(
        qa("1.1.0", changelog="Same prompt, unpromoted.")
    )
    words = [f"kw{i}x" for i in range(N_CASES)]
    (project / "evals/qa.jsonl").write_text(
        "".join(
            json.dumps(
                {
                    "id": f"case-{i:02d}",
                    "vars": {"document": f"Item {i}: the council discussed {w}."},
                    "expected": {"keyword": w},
                }
            )
            + "\n"
            for i, w in enumerate(words)
        )
    )
    digest = load_prompt(project / "prompts/qa/1.0.0.yaml").digest
    with (project / "registry.yaml").open("a") as fh:
        fh.write(f"  qa:\n    prod: {{version: 1.0.0, digest: '{digest}'}}\n")
    # check sends credentials only to allowlisted hosts (read from the merge base)
    (project / "promptops.yaml").write_text(ALLOW_LOOPBACK)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "qa prompt")
    git(project, "checkout", "-qb", "feature")
    return project


def run_check(root: Path, server: FakeOpenAI, **kw: Any) -> Any:
    opts = EvalOptions(api_base=server.url, use_cache=kw.pop("use_cache", True))
    return check(Project(root), "main", opts=opts, **kw)


# ------------------------------------------------------------------------------------------
# the scenarios of the issue
# ------------------------------------------------------------------------------------------


def test_a_worse_version_fails_the_check_and_names_the_regressed_cases(
    repo: Path, server: FakeOpenAI
) -> None:
    (repo / "prompts/qa/2.1.0.yaml").write_text(qa("2.1.0", WORSE, "Terser."))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "qa 2.1.0")
    report = run_check(repo, server)
    assert report.problems == [] and report.exit_code == 1
    (entry,) = report.entries
    assert (entry.ref, entry.change, entry.baseline) == ("qa@2.1.0", "added", "qa@1.0.0")
    assert entry.baseline_reason == "active in prod at main"
    assert entry.verdict == "regression"
    assert entry.diff is not None
    (c,) = entry.diff.comparisons
    assert c.regressed == [f"case-{i:02d}" for i in range(N_CASES) if i % 5]
    assert c.improved == [] and c.mean_a == 1.0 and c.mean_b == pytest.approx(0.2)
    assert server.calls == 2 * N_CASES


def test_a_harmless_change_passes(repo: Path, server: FakeOpenAI) -> None:
    # uncommitted and untracked: check sees the working tree
    (repo / "prompts/qa/2.1.0.yaml").write_text(
        qa("2.1.0", "Summarize:  {{ document }} ", "Whitespace and changelog only.")
    )
    report = run_check(repo, server)
    (entry,) = report.entries
    # nothing changed on N_CASES cases: too few to show ok, and inconclusive does not fail
    assert entry.verdict == "inconclusive" and report.exit_code == 0
    assert entry.diff is not None and entry.diff.comparisons[0].n_paired == N_CASES
    assert "B fails 0 cases that A passed and passes 0 that A failed" in entry.message


def test_editing_a_promoted_version_in_place_is_refused(repo: Path, server: FakeOpenAI) -> None:
    path = repo / "prompts/qa/1.0.0.yaml"
    path.write_text(path.read_text().replace("changelog: First.", "changelog: First, reworded."))
    report = run_check(repo, server)
    assert report.exit_code == 1 and report.entries == []
    (problem,) = [p for p in report.problems if "immutable" in p.message and "qa@" in p.message]
    assert problem.path.endswith("prompts/qa/1.0.0.yaml")
    assert "active in prod" in problem.message
    assert server.calls == 0  # nothing runs before the problems are fixed


def test_a_retired_version_stays_immutable(repo: Path, server: FakeOpenAI) -> None:
    # on main, prod moved from summarize 1.0.0 to 1.1.0: 1.0.0 is retired, not active anywhere
    git(repo, "checkout", "-q", "main")
    reg = repo / "registry.yaml"
    d10 = load_prompt(repo / "prompts/summarize/1.0.0.yaml").digest
    d11 = load_prompt(repo / "prompts/summarize/1.1.0.yaml").digest
    text = reg.read_text()
    assert "version: 1.0.0\n      digest: " + d10 in text
    reg.write_text(
        text.replace("version: 1.0.0\n      digest: " + d10, "version: 1.1.0\n      digest: " + d11)
    )
    git(repo, "commit", "-qam", "prod: summarize 1.1.0")
    git(repo, "checkout", "-qb", "edit-retired")
    path = repo / "prompts/summarize/1.0.0.yaml"
    path.write_text(path.read_text().replace("changelog: First version.", "changelog: Reworded."))
    report = run_check(repo, server)
    assert report.exit_code == 1 and report.entries == []
    assert [p.message for p in report.problems] == [
        "summarize@1.0.0 was released (active in prod before; rollback can restore it) and was "
        "edited in place; released versions are immutable: restore the file and add a new version"
    ]
    # a version that never served anything may still be edited in place
    path.write_text(path.read_text().replace("changelog: Reworded.", "changelog: First version."))
    never = repo / "prompts/qa/1.1.0.yaml"
    never.write_text(never.read_text().replace("Same prompt, unpromoted.", "Reworded."))
    report = run_check(repo, server)
    assert report.problems == [] and [e.ref for e in report.entries] == ["qa@1.1.0"]


def test_formatting_a_promoted_version_is_not_an_edit(repo: Path, server: FakeOpenAI) -> None:
    path = repo / "prompts/qa/1.0.0.yaml"
    path.write_text("# reformatted\n" + path.read_text())
    report = run_check(repo, server)
    assert report.exit_code == 0 and report.problems == [] and report.entries == []


def test_an_edit_is_refused_even_when_the_registry_digest_is_updated_too(
    repo: Path, server: FakeOpenAI
) -> None:
    path = repo / "prompts/qa/1.0.0.yaml"
    path.write_text(path.read_text().replace(GOOD, WORSE))
    new = load_prompt(path).digest
    reg = repo / "registry.yaml"
    old = load_prompt(repo / "prompts/summarize/1.0.0.yaml").digest  # untouched
    text = reg.read_text()
    qa_old = text.split("qa:")[1].split("digest: '")[1].split("'")[0]
    reg.write_text(text.replace(qa_old, new))
    assert old in reg.read_text()
    report = run_check(repo, server)
    assert report.exit_code == 1
    assert any("qa@1.0.0 is released" in p.message for p in report.problems)


def test_noise_is_not_called_a_regression_end_to_end(repo: Path, server: FakeOpenAI) -> None:
    """A model that answers right 70% of the time whatever the prompt, and a whitespace-only
    change (so the cache can't make both sides identical). Ten independent server seeds through
    the whole check: at most one false alarm is tolerated (~5% expected; P(>1) is about 9%
    at 5%, but the seeds are fixed, so the outcome is deterministic). The many-seed rate is
    measured in test_compare.py."""
    (repo / "prompts/qa/1.2.0.yaml").write_text(qa("1.2.0", "Summarize: {{ document }} ", "Space."))
    verdicts = []
    for seed in range(10):
        server.responder = noisy(0.7, seed=seed)
        report = run_check(repo, server, use_cache=False, run_lint=seed == 0)
        verdicts.append(report.entries[0].verdict)
    assert verdicts.count("regression") <= 1, verdicts
    assert server.calls == 10 * 2 * N_CASES


def test_strict_fails_on_inconclusive(repo: Path, server: FakeOpenAI) -> None:
    # 3 of 40 cases lost: not significant, but not proven within the margin either
    def three_lost(req: Any) -> Any:
        if req.text.startswith("Briefly") and int(req.text.split()[2].rstrip(":")) < 3:
            return Reply("no")
        return echo(req)

    server.responder = three_lost
    (repo / "prompts/qa/2.0.0.yaml").write_text(qa("2.0.0", "Briefly: {{ document }}"))
    report = run_check(repo, server)
    assert report.entries[0].verdict == "inconclusive" and report.exit_code == 0
    assert report.entries[0].diff.comparisons[0].cases_needed > N_CASES  # type: ignore[union-attr]
    assert run_check(repo, server, strict=True).exit_code == 1


# ------------------------------------------------------------------------------------------
# the rules come from the merge base
# ------------------------------------------------------------------------------------------


def on_main(repo: Path, files: dict[str, str]) -> None:
    """Commit ``files`` on main and start ``feature`` afresh from there."""
    git(repo, "checkout", "-q", "main")
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "on main")
    git(repo, "checkout", "-qB", "feature")


def case_lines(n: int, *, missing: int = -1, keyword: str | None = None) -> str:
    """``n`` cases; case ``missing`` asks for a keyword its document lacks (echo fails it)."""
    return "".join(
        json.dumps(
            {
                "id": f"case-{i:02d}",
                "vars": {"document": f"Item {i}: the council discussed kw{i}x."},
                "expected": {"keyword": keyword or (f"kw{i}x" if i != missing else "absent")},
            }
        )
        + "\n"
        for i in range(n)
    )


def flips(worse: set[int], better: set[int], new: str = "Alt") -> Any:
    """A responder: the new prompt (starting with ``new``) loses the ``worse`` items, the old
    one (``Summarize``) loses the ``better`` items; otherwise echo."""

    def respond(req: Any) -> Any:
        text = req.text
        item = int(text.split()[2].rstrip(":")) if len(text.split()) > 2 else -1
        if text.startswith(new) and item in worse:
            return Reply("no")
        if text.startswith("Summarize") and item in better:
            return Reply("no")
        return echo(req)

    return respond


def commit_version(repo: Path, rel: str, text: str) -> None:
    (repo / rel).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", rel)


def test_below_the_base_bar_fails_whatever_the_comparison_says(
    repo: Path, server: FakeOpenAI
) -> None:
    """5 gold cases, fail_under 0.8; the base passes 4 of 5, the branch 0 of 5. Four lost cases
    of five are not enough for the comparison to call a regression: the bar fails it."""
    five = (
        qa("1.0.0").replace("name: qa", "name: five").replace("evals/qa.jsonl", "evals/five.jsonl")
    )
    on_main(
        repo,
        {
            "prompts/five/1.0.0.yaml": five + "fail_under: 0.8\n",
            "evals/five.jsonl": case_lines(5, missing=4),
        },
    )
    server.responder = flips(worse=set(range(5)), better=set())
    branch = five.replace("1.0.0", "1.1.0").replace(GOOD, "Alt {{ document }}")
    commit_version(repo, "prompts/five/1.1.0.yaml", branch)  # no bar of its own
    report = run_check(repo, server)
    (entry,) = report.entries
    assert entry.verdict == "below-bar" and report.exit_code == 1
    assert entry.message.startswith(
        "five@1.1.0 passes 0 of 5 cases (0%) on openai/fake-model-2024-01-01, below the bar "
        "of 80% (fail_under, from five@1.0.0 at the merge base), so it fails whatever the "
        "comparison says"
    )
    assert "fail_under: 0.8 -> unset" in entry.rule_changes
    c = entry.diff.comparisons[0]  # type: ignore[union-attr]
    assert (c.mcnemar.b, c.mcnemar.c, c.mean_a) == (4, 0, 0.8)


def test_the_branch_cannot_loosen_its_own_margin(repo: Path, server: FakeOpenAI) -> None:
    loose = qa("2.1.0", WORSE) + "gate: {margin: 1.0}\n"
    commit_version(repo, "prompts/qa/2.1.0.yaml", loose)
    report = run_check(repo, server)
    (entry,) = report.entries
    assert entry.verdict == "regression" and report.exit_code == 1
    assert entry.rules_from == "qa@1.0.0 at the merge base"
    assert entry.rule_changes == ["gate.margin: 0.02 -> 1.0"]
    assert entry.diff is not None and entry.diff.comparisons[0].margin == 0.02
    from promptops.report.diff import write_check_junit

    write_check_junit(repo / "junit.xml", report)
    assert "rule changed on this branch (applies after merge): gate.margin: 0.02 -&gt; 1.0" in (
        (repo / "junit.xml").read_text()
    )


def test_deleting_the_assertions_does_not_make_every_case_pass(
    repo: Path, server: FakeOpenAI
) -> None:
    bare = qa("2.1.0", WORSE).split("assert:")[0]
    commit_version(repo, "prompts/qa/2.1.0.yaml", bare)
    report = run_check(repo, server)
    (entry,) = report.entries
    assert entry.verdict == "regression" and report.exit_code == 1
    assert entry.rule_changes == ["assert: 1 assertion(s) -> 0 (removed keyword)"]
    c = entry.diff.comparisons[0]  # type: ignore[union-attr]
    assert c.mean_b == pytest.approx(0.2)  # judged by the base's keyword assertion


def test_a_scoring_function_on_the_branch_does_not_pass_every_case(
    repo: Path, server: FakeOpenAI
) -> None:
    """``scoring:`` decides each case (promptfoo's assertScoringFunction), so it is a rule: the
    merge base's is used, and the branch's shows as a rule change."""
    cheat = qa("2.1.0", WORSE) + "scoring: \"({pass: true, score: 1, reason: 'ok'})\"\n"
    commit_version(repo, "prompts/qa/2.1.0.yaml", cheat)
    report = run_check(repo, server)
    (entry,) = report.entries
    assert entry.verdict == "regression" and report.exit_code == 1
    assert entry.rule_changes == ["scoring: none -> edited"]
    c = entry.diff.comparisons[0]  # type: ignore[union-attr]
    assert c.mean_b == pytest.approx(0.2)  # judged by the base's keyword assertion alone


def test_rewritten_gold_answers_are_judged_on_the_base_answers(
    repo: Path, server: FakeOpenAI
) -> None:
    # the branch makes the gold set expect what the worse prompt says
    (repo / "evals/qa.jsonl").write_text(case_lines(N_CASES, keyword="sorry"))
    commit_version(repo, "prompts/qa/2.1.0.yaml", qa("2.1.0", WORSE))
    report = run_check(repo, server)
    (entry,) = report.entries
    assert entry.verdict == "regression" and report.exit_code == 1
    assert entry.gold is not None
    assert entry.gold.edited == {f"case-{i:02d}": ["expected"] for i in range(N_CASES)}
    assert entry.gold.added == [] and entry.gold.removed == []
    assert entry.gold.lines()[0].startswith(
        "gold set evals/qa.jsonl: 40 case(s) edited on this branch: case-00 (expected)"
    )
    assert entry.diff is not None and entry.diff.dataset == "evals/qa.jsonl as at the merge base"
    assert not [n for n in report.notes if "gold dataset" in n]  # the entry shows it


def test_a_gold_set_changed_alone_is_reported(repo: Path, server: FakeOpenAI) -> None:
    (repo / "evals/qa.jsonl").write_text(case_lines(N_CASES, keyword="sorry"))
    report = run_check(repo, server)
    assert report.entries == [] and report.exit_code == 0 and server.calls == 0
    assert report.notes == [
        "gold dataset evals/qa.jsonl changed on this branch (named by qa@1.0.0, qa@1.1.0); "
        "check judges changed versions on the merge base's copy, so the change applies after "
        "the merge",
        "no prompt version was added or changed since main",
    ]


def test_a_new_dataset_of_one_case_is_not_what_the_version_is_judged_on(
    repo: Path, server: FakeOpenAI
) -> None:
    (repo / "evals/one.jsonl").write_text(
        json.dumps(
            {"id": "easy", "vars": {"document": "Item 0: kw0x"}, "expected": {"keyword": "kw0x"}}
        )
        + "\n"
    )
    text = qa("2.1.0", WORSE).replace("evals/qa.jsonl", "evals/one.jsonl")
    commit_version(repo, "prompts/qa/2.1.0.yaml", text)
    report = run_check(repo, server)
    (entry,) = report.entries
    assert entry.verdict == "regression" and report.exit_code == 1
    assert entry.diff is not None and entry.diff.comparisons[0].n_paired == N_CASES
    assert entry.rule_changes == ["dataset: evals/qa.jsonl -> evals/one.jsonl"]
    assert entry.gold is not None and entry.gold.added == ["easy"]
    assert len(entry.gold.removed) == N_CASES
    # the added case ran on its own, with the base's assertions: item 0 is answered
    assert (entry.gold.added_passed, entry.gold.added_total) == (1, 1)
    assert (
        "(easy), not part of the verdict; the branch's version passes 1 of 1"
        in (entry.gold.lines()[-1])
    )


def test_a_dataset_outside_the_project_is_never_read(repo: Path, server: FakeOpenAI) -> None:
    outside = repo.parent / f"{repo.name}-outside.jsonl"
    outside.write_text(json.dumps({"id": "sk-secret-looking-id", "vars": {"document": "x"}}) + "\n")
    rel = f"../{outside.name}"
    commit_version(repo, "prompts/qa/2.1.0.yaml", qa("2.1.0", WORSE).replace("evals/qa.jsonl", rel))
    report = run_check(repo, server)
    # refused before anything reads it (one confinement rule), naming the file and field
    (problem,) = report.problems
    assert (problem.path, problem.field) == ("prompts/qa/2.1.0.yaml", "dataset")
    assert report.entries == [] and report.exit_code == 1
    assert "sk-secret-looking-id" not in json.dumps(report.to_json())


def test_inline_tests_are_the_gold_set_when_the_base_has_no_dataset(
    repo: Path, server: FakeOpenAI
) -> None:
    def tests(keywords: list[str]) -> str:
        return "tests:\n" + "".join(
            f"  - {{id: t{i}, vars: {{document: 'Item {i}: about kw{i}x.'}}, "
            f"expected: {{keyword: {k}}}}}\n"
            for i, k in enumerate(keywords)
        )

    inline = qa("1.0.0").replace("name: qa", "name: inl").replace("dataset: evals/qa.jsonl\n", "")
    on_main(repo, {"prompts/inl/1.0.0.yaml": inline + tests(["kw0x", "kw1x", "kw2x"])})
    server.responder = flips(worse={0, 1, 2, 3}, better=set())
    branch = inline.replace("1.0.0", "1.1.0").replace(GOOD, "Alt {{ document }}")
    # the branch expects the new answer in t0 and adds t3
    commit_version(repo, "prompts/inl/1.1.0.yaml", branch + tests(["'no'", "kw1x", "kw2x", "kw3x"]))
    report = run_check(repo, server)
    (entry,) = report.entries
    assert entry.gold is not None
    assert (entry.gold.edited, entry.gold.added, entry.gold.removed) == (
        {"t0": ["expected"]},
        ["t3"],
        [],
    )
    assert entry.gold.base == "inline tests of inl@1.0.0"
    assert (entry.gold.added_passed, entry.gold.added_total) == (0, 1)
    assert entry.rule_changes == ["tests: 3 inline case(s) -> 4, edited"]
    c = entry.diff.comparisons[0]  # type: ignore[union-attr]
    assert (c.n_paired, c.mcnemar.b, c.mcnemar.c) == (3, 3, 0)  # t0 judged on the base's answer


def test_a_neutral_change_passes(repo: Path, server: FakeOpenAI) -> None:
    """As many cases better as worse (5 and 5 of 40): not a regression; inconclusive passes."""
    server.responder = flips(worse={0, 1, 2, 3, 4}, better={5, 6, 7, 8, 9})
    commit_version(repo, "prompts/qa/2.1.0.yaml", qa("2.1.0", "Alt {{ document }}"))
    report = run_check(repo, server)
    (entry,) = report.entries
    c = entry.diff.comparisons[0]  # type: ignore[union-attr]
    assert (c.mcnemar.b, c.mcnemar.c) == (5, 5)
    assert entry.verdict in ("inconclusive", "ok") and report.exit_code == 0


def test_eight_worse_one_better_of_forty_fails(repo: Path, server: FakeOpenAI) -> None:
    """The exact one-sided test gives p = 0.0195 for 8 worse and 1 better of 40."""
    server.responder = flips(worse=set(range(8)), better={8})
    commit_version(repo, "prompts/qa/2.1.0.yaml", qa("2.1.0", "Alt {{ document }}"))
    report = run_check(repo, server)
    (entry,) = report.entries
    c = entry.diff.comparisons[0]  # type: ignore[union-attr]
    assert (c.mcnemar.b, c.mcnemar.c) == (8, 1)
    assert entry.verdict == "regression" and report.exit_code == 1


def test_a_gate_metric_no_case_has_is_an_error(repo: Path, server: FakeOpenAI) -> None:
    tone = qa("1.0.0").replace("name: qa", "name: tone") + "gate: {metric: tone}\n"
    on_main(repo, {"prompts/tone/1.0.0.yaml": tone})
    commit_version(
        repo, "prompts/tone/1.1.0.yaml", tone.replace("1.0.0", "1.1.0").replace(GOOD, WORSE)
    )
    report = run_check(repo, server)
    (entry,) = report.entries
    assert entry.verdict == "error" and report.exit_code == 1
    assert "no case has the gate metric 'tone' on both sides" in entry.message


def test_a_baseline_without_gold_cases_at_the_base_is_an_error(
    repo: Path, server: FakeOpenAI
) -> None:
    """The branch brings both the gold set and the version: nothing trusted to judge it on."""
    bare = qa("1.0.0").replace("name: qa", "name: bare").replace("dataset: evals/qa.jsonl\n", "")
    on_main(repo, {"prompts/bare/1.0.0.yaml": bare})
    (repo / "evals/bare.jsonl").write_text(case_lines(3))
    branch = qa("1.1.0").replace("name: qa", "name: bare").replace("qa.jsonl", "bare.jsonl")
    commit_version(repo, "prompts/bare/1.1.0.yaml", branch)
    report = run_check(repo, server)
    assert [p.message for p in report.problems] == []
    (entry,) = report.entries
    assert entry.verdict == "error" and report.exit_code == 1 and server.calls == 0
    assert entry.message == (
        "bare@1.0.0 has no gold set at the merge base (no dataset, no inline tests); check "
        "judges a changed version on the base's cases: merge a gold set first"
    )


def test_a_baseline_that_does_not_parse_at_the_base_gives_no_rules(
    repo: Path, server: FakeOpenAI
) -> None:
    """The branch repairs an unreleased version in place and adds the next one: the repaired
    file is the branch's, not a trusted source of rules."""
    good = qa("1.0.0").replace("name: qa", "name: fixme")
    on_main(repo, {"prompts/fixme/1.0.0.yaml": good + "gate: {margn: 1.0}\n"})
    (repo / "prompts/fixme/1.0.0.yaml").write_text(good)
    new = good.replace("1.0.0", "1.1.0").replace(GOOD, WORSE)
    commit_version(repo, "prompts/fixme/1.1.0.yaml", new)
    report = run_check(repo, server)
    by_ref = {e.ref: e for e in report.entries}
    entry = by_ref["fixme@1.1.0"]
    assert entry.verdict == "error" and report.exit_code == 1
    assert entry.message.startswith("fixme@1.0.0: its file at the merge base does not parse")


def test_inconclusive_fails_when_the_base_says_so(repo: Path, server: FakeOpenAI) -> None:
    on_main(repo, {"promptops.yaml": ALLOW_LOOPBACK + "gate: {inconclusive: fail, alpha: 0.1}\n"})
    # the branch turns it off again: that takes effect after the merge, not now
    (repo / "promptops.yaml").write_text(ALLOW_LOOPBACK + "gate: {inconclusive: pass}\n")
    commit_version(repo, "prompts/qa/2.1.0.yaml", qa("2.1.0", "Summarize:  {{ document }} "))
    report = run_check(repo, server)
    (entry,) = report.entries
    assert entry.verdict == "inconclusive" and report.strict and report.exit_code == 1
    assert entry.diff is not None and entry.diff.comparisons[0].alpha == 0.1
    assert (
        "promptops.yaml: gate.inconclusive: fail -> pass on this branch; takes effect after merge"
        in report.notes
    )
    assert "promptops.yaml: gate.alpha: 0.1 -> 0.05 on this branch; takes effect after merge" in (
        report.notes
    )
    # the other way round: the branch's own `inconclusive: fail` does not apply yet
    on_main(repo, {"promptops.yaml": ALLOW_LOOPBACK})
    (repo / "promptops.yaml").write_text(ALLOW_LOOPBACK + "gate: {inconclusive: fail}\n")
    commit_version(repo, "prompts/qa/2.1.0.yaml", qa("2.1.0", "Summarize:  {{ document }} "))
    report = run_check(repo, server)
    assert report.entries[0].verdict == "inconclusive" and report.exit_code == 0


# ------------------------------------------------------------------------------------------
# baselines
# ------------------------------------------------------------------------------------------


def test_a_never_promoted_prompt_is_compared_with_its_previous_version(
    repo: Path, server: FakeOpenAI
) -> None:
    # summarize: prod is 1.0.0 (echo/echo); qa is in prod, so use a fresh prompt `tr`
    (repo / "prompts/tr").mkdir()
    for v in ("1.0.0", "1.5.0"):
        (repo / f"prompts/tr/{v}.yaml").write_text(qa(v).replace("name: qa", "name: tr"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "tr")
    git(repo, "branch", "-f", "main", "HEAD")  # tr 1.0.0 and 1.5.0 are on main now
    # the branch deletes 1.5.0 from the working tree and adds 1.6.0 and 2.0.0
    (repo / "prompts/tr/1.5.0.yaml").unlink()
    (repo / "prompts/tr/1.6.0.yaml").write_text(qa("1.6.0").replace("name: qa", "name: tr"))
    (repo / "prompts/tr/2.0.0.yaml").write_text(qa("2.0.0").replace("name: qa", "name: tr"))
    report = run_check(repo, server)
    by_ref = {e.ref: e for e in report.entries}
    # 1.5.0 is gone from the working tree: loaded from the base commit's tree
    assert by_ref["tr@1.6.0"].baseline == "tr@1.5.0"
    assert by_ref["tr@2.0.0"].baseline == "tr@1.5.0"  # the highest lower version at the base
    assert by_ref["tr@1.6.0"].baseline_reason == "previous version (never in prod)"
    assert all(e.verdict == "inconclusive" for e in report.entries) and not report.failed
    assert "prompts/tr/1.5.0.yaml: deleted" in report.notes


def test_a_new_prompt_runs_alone_against_its_own_bar(repo: Path, server: FakeOpenAI) -> None:
    (repo / "prompts/brandnew").mkdir()
    (repo / "prompts/brandnew/1.0.0.yaml").write_text(
        qa("1.0.0").replace("name: qa", "name: brandnew")
    )
    report = run_check(repo, server)
    (entry,) = report.entries
    assert (entry.verdict, entry.baseline) == ("new", None) and report.exit_code == 0
    server.responder = lambda req: Reply("nothing useful")
    report = run_check(repo, server, use_cache=False)
    assert report.entries[0].verdict == "below-bar" and report.exit_code == 1


def test_lint_runs_first(repo: Path, server: FakeOpenAI) -> None:
    (repo / "prompts/qa/2.1.0.yaml").write_text(qa("2.1.0", "Summarize: {{ documnt }}"))
    report = run_check(repo, server)
    assert report.exit_code == 1 and report.entries == [] and server.calls == 0
    assert any("documnt" in p.message for p in report.problems)


def test_nothing_changed(repo: Path, server: FakeOpenAI) -> None:
    report = run_check(repo, server)
    assert report.exit_code == 0 and report.entries == []
    assert report.notes == ["no prompt version was added or changed since main"]


def test_unknown_base_is_a_clear_error(repo: Path) -> None:
    with pytest.raises(GitError, match="fetch-depth: 0"):
        check(Project(repo), "origin/nope")


# ------------------------------------------------------------------------------------------
# gitops
# ------------------------------------------------------------------------------------------


def test_gitops(repo: Path) -> None:
    mb = merge_base(repo, "main")
    assert mb == git(repo, "rev-parse", "main").strip()
    assert repo_root(repo / "prompts") == repo.resolve()
    (repo / "prompts/qa/9.0.0.yaml").write_text("untracked")
    (repo / "prompts/qa/1.1.0.yaml").write_text("modified, uncommitted")
    (repo / "prompts/summarize/2.0.0.yaml").unlink()
    (repo / "evals/other.jsonl").write_text("{}\n")
    assert changed_files(repo, mb, "prompts") == [
        ("M", "prompts/qa/1.1.0.yaml"),
        ("A", "prompts/qa/9.0.0.yaml"),
        ("D", "prompts/summarize/2.0.0.yaml"),
    ]
    assert ("A", "evals/other.jsonl") in changed_files(repo, mb)
    assert read_file_at(repo, mb, "prompts/qa/1.1.0.yaml") == qa(
        "1.1.0", changelog="Same prompt, unpromoted."
    )
    assert read_file_at(repo, mb, "prompts/qa/9.0.0.yaml") is None
    assert list_dir_at(repo, mb, "prompts/qa") == ["1.0.0.yaml", "1.1.0.yaml"]
    assert list_dir_at(repo, mb, "prompts/none") == []


def test_outside_git(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="not inside a git repository"):
        merge_base(tmp_path, "main")


def test_outside_git_gitpython_is_not_imported_and_inside_it_is_found(tmp_path: Path) -> None:
    from conftest import run_python

    outside = tmp_path / "outside"
    outside.mkdir()
    assert not any((p / ".git").exists() for p in [outside, *outside.parents])
    code = "import sys; from promptops.gitops import revision; print(revision(sys.argv[1]) is None, 'git' in sys.modules)"
    done = run_python(code.replace("sys.argv[1]", repr(str(outside))), outside)
    assert done.stdout.split() == ["True", "False"], done.stdout + done.stderr
    inside = tmp_path / "repo/sub/dir"
    inside.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(tmp_path / "repo")], check=True)
    done = run_python(code.replace("sys.argv[1]", repr(str(inside))), inside)
    assert done.stdout.split() == ["False", "True"], done.stdout + done.stderr


def test_a_project_in_a_subdirectory_of_the_repository(tmp_path: Path) -> None:
    mono = tmp_path / "mono"
    app = mono / "services/app"
    (app / "prompts/echoer").mkdir(parents=True)
    (app / "evals").mkdir()
    text = (
        qa("1.0.0")
        .replace("name: qa", "name: echoer")
        .replace("openai/fake-model-2024-01-01", "echo/echo")
    )
    (app / "prompts/echoer/1.0.0.yaml").write_text(text)
    (app / "evals/qa.jsonl").write_text(
        json.dumps({"id": "a", "vars": {"document": "x kw"}, "expected": {"keyword": "kw"}}) + "\n"
    )
    git(mono, "init", "-q", "-b", "main")
    git(mono, "add", "-A")
    git(mono, "commit", "-qm", "init")
    (app / "prompts/echoer/1.1.0.yaml").write_text(text.replace("1.0.0", "1.1.0"))
    report = check(Project(app), "main")
    assert [(e.ref, e.baseline, e.verdict) for e in report.entries] == [
        ("echoer@1.1.0", "echoer@1.0.0", "inconclusive")
    ]
    assert report.entries[0].file == "services/app/prompts/echoer/1.1.0.yaml"
