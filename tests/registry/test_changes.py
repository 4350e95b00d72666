"""registry.yaml changes: evidence-gated promotion, canaries, rollback, history, status, locking."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import SUMMARIZE_1_0_0, SUMMARIZE_1_1_0, git
from promptops.errors import EvidenceError, GitError, RegistryError, SpecError, UsageError
from promptops.project import Project, load_prompt
from promptops.registry.changes import abort_canary, promote, rollback
from promptops.registry.file import HEADER, dump_registry, read_registry
from promptops.registry.history import history
from promptops.registry.status import status

# 3.0.0 drops the document from the prompt: every case fails icontains. fail_under 0 lets it
# meet its own bar, so only the comparison can stop it.
SUMMARIZE_3_0_0 = (
    SUMMARIZE_1_0_0.replace("version: 1.0.0", "version: 3.0.0")
    .replace('content: "{{ document }}"', "content: Summarize the text.")
    .replace("dataset: evals/summarize.jsonl", "dataset: evals/summarize.jsonl\nfail_under: 0.0")
)


@pytest.fixture(autouse=True)
def _git_identity(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var, value in {
        "GIT_AUTHOR_NAME": "Ada Lovelace",
        "GIT_AUTHOR_EMAIL": "ada@example.invalid",
        "GIT_COMMITTER_NAME": "Ada Lovelace",
        "GIT_COMMITTER_EMAIL": "ada@example.invalid",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }.items():
        monkeypatch.setenv(var, value)


@pytest.fixture
def proj(project: Path) -> Project:
    return Project(project)


def evaluate(project: Project, *refs: str, **opts: object) -> str:
    """Run an eval with the echo provider; returns the run id."""
    from promptops.eval.runner import EvalOptions, run_eval
    from promptops.refs import resolve

    result = run_eval(
        project, [resolve(r, project) for r in refs], EvalOptions(use_cache=False, **opts)
    )  # type: ignore[arg-type]
    return result.run.id


def active(
    project: Project, env: str, name: str = "summarize"
) -> tuple[str, str | None, int | None] | None:
    dep = read_registry(project).prompts.get(name, {}).get(env)
    if dep is None:
        return None
    return (
        dep.version,
        dep.canary.version if dep.canary else None,
        dep.canary.weight if dep.canary else None,
    )


def add_version(project: Project, version: str, text: str) -> None:
    (project.root / "prompts" / "summarize" / f"{version}.yaml").write_text(text, encoding="utf-8")


# ---------------------------------------------------------------------------- evidence


def test_promote_without_evidence_is_refused_and_says_what_to_run(proj: Project) -> None:
    before = proj.registry_path.read_bytes()
    digest = load_prompt(proj.root / "prompts/summarize/2.0.0.yaml").digest
    with pytest.raises(EvidenceError) as err:
        promote(proj, "summarize", "2.0", "dev")
    msg = err.value.message
    assert (
        f"no eval run of summarize 2.0.0 ({digest[7:19]}) on evals/summarize.jsonl met its bar"
        in msg
    )
    assert "run: promptops eval summarize@2.0.0" in msg
    assert '--env dev --force --reason "..."' in msg
    assert proj.registry_path.read_bytes() == before


def test_a_passing_run_is_enough_where_nothing_is_active(proj: Project) -> None:
    run = evaluate(proj, "summarize@2.0.0")
    change = promote(proj, "summarize", "2.0", "dev")
    assert change.changed and change.action == "promote" and change.from_version is None
    assert change.evidence is not None and change.evidence.run_id == run
    assert change.evidence.pass_rate == 1.0 and change.evidence.baseline is None
    assert active(proj, "dev") == ("2.0.0", None, None)
    dep = read_registry(proj).prompts["summarize"]["dev"]
    assert dep.digest == load_prompt(proj.root / "prompts/summarize/2.0.0.yaml").digest


def test_replacing_an_active_version_needs_a_comparison(proj: Project) -> None:
    evaluate(proj, "summarize@2.0.0")
    with pytest.raises(EvidenceError) as err:
        promote(proj, "summarize", "2.0.0", "prod")
    assert "no comparison of summarize 2.0.0 against the active 1.0.0" in err.value.message
    assert "run: promptops diff summarize@1.0.0 summarize@2.0.0" in err.value.message
    run = evaluate(proj, "summarize@1.0.0", "summarize@2.0.0")  # what `promptops diff` runs
    change = promote(proj, "summarize", "2.0.0", "prod")
    assert change.evidence is not None
    assert change.evidence.compare_run == run and change.evidence.baseline == "1.0.0"
    assert change.evidence.verdict in ("ok", "inconclusive")
    assert change.evidence.comparisons and change.evidence.comparisons[0]["model"] == "echo/echo"
    assert active(proj, "prod") == ("2.0.0", None, None)


def test_a_regression_is_refused(proj: Project) -> None:
    add_version(proj, "3.0.0", SUMMARIZE_3_0_0)
    # 3 lost cases of 3 are not evidence of a drop beyond the margin; 40 of 43 are
    with (proj.root / "evals/summarize.jsonl").open("a") as fh:
        for i in range(40):
            fh.write(json.dumps({"id": f"extra{i}", "vars": {"document": f"Text {i}."}}) + "\n")
    run = evaluate(proj, "summarize@1.0.0", "summarize@3.0.0")
    with pytest.raises(EvidenceError) as err:
        promote(proj, "summarize", "3.0.0", "prod")
    assert f"summarize 3.0.0 regressed against the active 1.0.0 in run {run}" in err.value.message
    assert active(proj, "prod") == ("1.0.0", None, None)


def test_the_newest_run_must_meet_the_bar(proj: Project) -> None:
    add_version(proj, "3.0.0", SUMMARIZE_3_0_0.replace("fail_under: 0.0", "fail_under: 0.5"))
    run = evaluate(proj, "summarize@3.0.0")
    with pytest.raises(EvidenceError) as err:
        promote(proj, "summarize", "3.0.0", "dev")
    assert (
        f"summarize 3.0.0 missed its bar in its newest eval run {run}: pass rate 0.0%, needs 50.0%"
        in err.value.message
    )


def test_partial_runs_and_changed_datasets_do_not_count(proj: Project) -> None:
    run = evaluate(proj, "summarize@2.0.0", limit=1)
    with pytest.raises(EvidenceError, match=r"ran part of the cases \(--limit\)"):
        promote(proj, "summarize", "2.0.0", "dev", evidence_run=run)
    run = evaluate(proj, "summarize@2.0.0")
    with (proj.root / "evals/summarize.jsonl").open("a") as fh:
        fh.write(json.dumps({"id": "new", "vars": {"document": "More."}}) + "\n")
    with pytest.raises(EvidenceError, match=r"evals/summarize.jsonl has changed since"):
        promote(proj, "summarize", "2.0.0", "dev", evidence_run=run)
    with pytest.raises(EvidenceError, match=r"no eval run of summarize 2.0.0"):
        promote(proj, "summarize", "2.0.0", "dev")


def test_evidence_from_a_run_directory_made_elsewhere(proj: Project, tmp_path: Path) -> None:
    import shutil

    run = evaluate(proj, "summarize@1.0.0", "summarize@2.0.0")  # e.g. in CI
    # a teammate's fresh clone has no runs: the error says how to bring one
    artifact = tmp_path.parent / f"{tmp_path.name}-artifact"
    shutil.move(str(proj.runs_dir), str(artifact / ".promptops" / "runs"))
    with pytest.raises(EvidenceError) as err:
        promote(proj, "summarize", "2.0.0", "prod")
    assert (
        "with a run made elsewhere (a CI artifact of `promptops check`): "
        "promptops promote summarize 2.0.0 --env prod --evidence RUN_DIR" in err.value.message
    )
    # the downloaded artifact (as the check workflow uploads it), or the run directory itself
    change = promote(proj, "summarize", "2.0.0", "prod", evidence_run=str(artifact))
    assert change.evidence is not None and change.evidence.run_id == run
    assert change.evidence.compare_run == run and change.evidence.baseline == "1.0.0"
    run_dir = artifact / ".promptops" / "runs" / run
    dev = promote(proj, "summarize", "2.0.0", "dev", evidence_run=str(run_dir))
    assert dev.evidence is not None and dev.evidence.run_id == run


def test_evidence_directories_are_verified(proj: Project, tmp_path: Path) -> None:
    run = evaluate(proj, "summarize@2.0.0")
    run_dir = proj.runs_dir / run
    # another version's file: the digest does not match
    with pytest.raises(EvidenceError, match=r"has no results of summarize@1\.1\.0"):
        promote(proj, "summarize", "1.1.0", "dev", evidence_run=str(run_dir))
    # a summary that does not add up to its results is refused
    summary = json.loads((run_dir / "summary.json").read_text())
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    (run_dir / "results.jsonl").write_text(
        "\n".join(json.dumps({**json.loads(ln), "pass": False}) for ln in lines) + "\n"
    )
    with pytest.raises(EvidenceError, match=r"does not add up to its summary.json"):
        promote(proj, "summarize", "2.0.0", "dev", evidence_run=str(run_dir))
    assert summary["groups"][0]["passed"] == 3
    with pytest.raises(EvidenceError, match=r"not a run directory"):
        promote(proj, "summarize", "2.0.0", "dev", evidence_run=str(proj.root / "evals"))
    with pytest.raises(EvidenceError, match=r"no such directory"):
        promote(proj, "summarize", "2.0.0", "dev", evidence_run="./nowhere")


def test_a_run_on_another_model_does_not_count(proj: Project) -> None:
    evaluate(proj, "summarize@2.0.0", models=["echo/last"])
    with pytest.raises(EvidenceError, match=r"no eval run"):
        promote(proj, "summarize", "2.0.0", "dev")


def test_force_needs_a_reason_and_records_it(proj: Project) -> None:
    with pytest.raises(UsageError, match=r"--force needs --reason"):
        promote(proj, "summarize", "2.0.0", "prod", force=True)
    change = promote(
        proj, "summarize", "2.0.0", "prod", force=True, reason="hotfix:\n  outage 42", commit=True
    )
    assert change.forced and change.reason == "hotfix: outage 42" and change.evidence is None
    assert change.commit is not None
    message = git(proj.root, "log", "-1", "--format=%B")
    assert message.splitlines()[0] == "promptops: promote summarize 2.0.0 to prod"
    for trailer in (
        "Prompt: summarize",
        "Env: prod",
        "Action: promote",
        "From: 1.0.0",
        "To: 2.0.0",
        "Reason: hotfix: outage 42",
        "Forced: yes",
    ):
        assert trailer in message.splitlines(), message
    assert git(proj.root, "show", "--name-only", "--format=", "HEAD").split() == ["registry.yaml"]
    journal = (proj.root / ".promptops/registry-log.jsonl").read_text().splitlines()
    last = json.loads(journal[-1])
    assert (
        last["forced"] is True
        and last["reason"] == "hotfix: outage 42"
        and last["commit"] == change.commit
    )


def test_commit_leaves_other_staged_changes_alone(proj: Project) -> None:
    (proj.root / "notes.txt").write_text("wip\n")
    git(proj.root, "add", "notes.txt")
    promote(proj, "summarize", "1.1.0", "prod", force=True, reason="x", commit=True)
    assert git(proj.root, "show", "--name-only", "--format=", "HEAD").split() == ["registry.yaml"]
    assert "A  notes.txt" in git(proj.root, "status", "--porcelain")


def test_commit_message_describes_earlier_uncommitted_registry_changes(proj: Project) -> None:
    # an uncommitted staging promotion, then a prod canary with --commit: registry.yaml is one
    # file, so the commit holds both and its message must say so
    promote(proj, "summarize", "1.1.0", "staging", force=True, reason="try it")
    change = promote(
        proj, "summarize", "2.0.0", "prod", canary=10, force=True, reason="x", commit=True
    )
    message = git(proj.root, "log", "-1", "--format=%B")
    assert message.splitlines()[0] == (
        "promptops: promote summarize 2.0.0 to prod (canary 10%), with 1 earlier uncommitted change"
    )
    assert (
        "Also in this commit, changed earlier and not committed:\n"
        "- promote summarize in staging: - -> 1.1.0\n\n" in message
    )
    assert change.notes == [
        "this commit also holds earlier uncommitted changes: "
        "promote summarize in staging: - -> 1.1.0"
    ]
    # the trailers stay the last paragraph, and history shows both changes of the commit
    assert message.rstrip().splitlines()[-1] == "Forced: yes"
    entries = history(proj, "summarize", limit=2)
    assert {(e.env, e.to_version, e.commit == change.commit) for e in entries} == {
        ("prod", "2.0.0", True),
        ("staging", "1.1.0", True),
    }
    # nothing else uncommitted: the message is the plain one
    promote(proj, "summarize", "2.0.0", "dev", force=True, reason="y", commit=True)
    plain = git(proj.root, "log", "-1", "--format=%B")
    assert plain.splitlines()[0] == "promptops: promote summarize 2.0.0 to dev"
    assert "Also in this commit" not in plain


def test_unknown_env_and_version(proj: Project) -> None:
    with pytest.raises(
        RegistryError, match=r"unknown environment 'qa'; registry.yaml declares: dev, staging, prod"
    ):
        promote(proj, "summarize", "2.0.0", "qa", force=True, reason="x")
    with pytest.raises(
        Exception, match=r"version 9.0.0 not found; versions of summarize: 1.0.0, 1.1.0, 2.0.0"
    ):
        promote(proj, "summarize", "9.0", "dev", force=True, reason="x")


def test_promoting_what_is_active_is_a_no_op(proj: Project) -> None:
    before = proj.registry_path.read_bytes()
    change = promote(proj, "summarize", "1.0.0", "prod")  # no evidence needed for nothing
    assert not change.changed and "already active in prod" in change.notes[0]
    assert proj.registry_path.read_bytes() == before


def test_version_from_another_environment(proj: Project) -> None:
    change = promote(proj, "summarize", "prod", "dev", force=True, reason="copy prod")
    assert change.to_version == "1.0.0" and active(proj, "dev") == ("1.0.0", None, None)


def test_environment_order_is_enforced_when_declared(proj: Project) -> None:
    text = proj.registry_path.read_text().replace(
        "environments: [dev, staging, prod]",
        "environments: [dev, staging, prod]\nenforce_order: true",
    )
    proj.registry_path.write_text(text)
    evaluate(proj, "summarize@1.0.0", "summarize@2.0.0")
    with pytest.raises(
        RegistryError, match=r"summarize 2.0.0 is not active in staging.*dev -> staging -> prod"
    ):
        promote(proj, "summarize", "2.0.0", "prod")
    with pytest.raises(RegistryError, match=r"not active in dev"):
        promote(proj, "summarize", "2.0.0", "staging")
    promote(proj, "summarize", "2.0.0", "dev")
    promote(proj, "summarize", "2.0.0", "staging")
    promote(proj, "summarize", "2.0.0", "prod")
    assert "enforce_order: true" in proj.registry_path.read_text()
    forced = promote(proj, "summarize", "1.1.0", "prod", force=True, reason="skip")
    assert "forced past the environment order" in forced.notes[0]


# ---------------------------------------------------------------------------- canary


def test_canary_ramp_complete_and_abort(proj: Project) -> None:
    evaluate(proj, "summarize@1.0.0", "summarize@2.0.0")
    c = promote(proj, "summarize", "2.0.0", "prod", canary=5)
    assert (c.action, c.from_version, c.to_version, c.canary) == ("canary", "1.0.0", "2.0.0", 5)
    assert c.subject() == "promptops: promote summarize 2.0.0 to prod (canary 5%)"
    assert active(proj, "prod") == ("1.0.0", "2.0.0", 5)
    for weight in (20, 50):
        promote(proj, "summarize", "2.0.0", "prod", canary=weight)
        assert active(proj, "prod") == ("1.0.0", "2.0.0", weight)
    done = promote(proj, "summarize", "2.0.0", "prod")
    assert done.notes == ["canary 2.0.0 completed"]
    assert active(proj, "prod") == ("2.0.0", None, None)

    promote(proj, "summarize", "1.1.0", "prod", canary=10, force=True, reason="try 1.1")
    assert active(proj, "prod") == ("2.0.0", "1.1.0", 10)
    aborted = abort_canary(proj, "summarize", "prod", reason="bad latency")
    assert (aborted.action, aborted.from_version, aborted.to_version) == (
        "abort-canary",
        "1.1.0",
        "2.0.0",
    )
    assert active(proj, "prod") == ("2.0.0", None, None)
    with pytest.raises(RegistryError, match=r"summarize has no canary in prod"):
        abort_canary(proj, "summarize", "prod")


def test_canary_needs_an_active_version_and_a_sane_weight(proj: Project) -> None:
    with pytest.raises(RegistryError, match=r"no version active in dev to run a canary beside"):
        promote(proj, "summarize", "2.0.0", "dev", canary=5, force=True, reason="x")
    with pytest.raises(RegistryError, match=r"already the active version in prod"):
        promote(proj, "summarize", "1.0.0", "prod", canary=5, force=True, reason="x")
    for bad in (0, 101):
        with pytest.raises(UsageError, match=r"1-100"):
            promote(proj, "summarize", "2.0.0", "prod", canary=bad, force=True, reason="x")


# ---------------------------------------------------------------------------- rollback


def test_rollback_restores_the_previous_version_after_several_promotions(proj: Project) -> None:
    for version in ("1.1.0", "2.0.0"):
        promote(
            proj, "summarize", version, "prod", force=True, reason=f"ship {version}", commit=True
        )
    promote(proj, "summarize", "2.0.0", "dev", force=True, reason="dev too", commit=True)
    back = rollback(proj, "summarize", "prod", reason="errors up", commit=True)
    assert (back.action, back.from_version, back.to_version) == ("rollback", "2.0.0", "1.1.0")
    assert back.evidence is None and back.commit is not None
    assert active(proj, "prod") == ("1.1.0", None, None)
    assert active(proj, "dev") == ("2.0.0", None, None)
    assert "promptops: roll back summarize in prod to 1.1.0" in git(
        proj.root, "log", "-1", "--format=%s"
    )
    again = rollback(proj, "summarize", "prod")  # rolling back a rollback returns to where it was
    assert again.to_version == "2.0.0"
    to = rollback(proj, "summarize", "prod", to="1.0")
    assert to.to_version == "1.0.0" and active(proj, "prod") == ("1.0.0", None, None)


def test_rollback_of_an_uncommitted_promotion_and_of_a_canary(proj: Project) -> None:
    promote(proj, "summarize", "1.1.0", "prod", force=True, reason="x")
    promote(proj, "summarize", "2.0.0", "prod", canary=5, force=True, reason="x")
    back = rollback(proj, "summarize", "prod")
    assert back.to_version == "1.0.0" and back.notes == ["canary 2.0.0 (5%) dropped"]
    assert active(proj, "prod") == ("1.0.0", None, None)


def test_rollback_without_history_says_so(
    proj: Project, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with pytest.raises(
        RegistryError, match=r"no other version of summarize was active in prod in the git history"
    ):
        rollback(proj, "summarize", "prod")
    with pytest.raises(RegistryError, match=r"summarize 1.1.0 was never active in prod"):
        rollback(proj, "summarize", "prod", to="1.1.0")
    with pytest.raises(RegistryError, match=r"nothing to roll back"):
        rollback(proj, "summarize", "dev")
    bare = tmp_path_factory.mktemp("no-git")
    (bare / "registry.yaml").write_text(proj.registry_path.read_text())
    with pytest.raises(GitError, match=r"is not in a git repository"):
        rollback(Project(bare), "summarize", "prod")


def test_commit_outside_git_is_refused_before_writing(
    proj: Project, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import shutil

    bare = tmp_path_factory.mktemp("no-git-commit")
    shutil.copytree(proj.root, bare, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".git"))
    before = (bare / "registry.yaml").read_bytes()
    with pytest.raises(
        GitError, match=r"not in a git repository; run git init, or leave out --commit"
    ):
        promote(Project(bare), "summarize", "1.1.0", "prod", force=True, reason="x", commit=True)
    assert (bare / "registry.yaml").read_bytes() == before


def test_rollback_refuses_a_file_changed_since(proj: Project) -> None:
    promote(proj, "summarize", "1.1.0", "prod", force=True, reason="x", commit=True)
    path = proj.root / "prompts/summarize/1.0.0.yaml"
    path.write_text(path.read_text().replace("First version.", "Edited."))
    with pytest.raises(RegistryError, match=r"1.0.0.yaml changed since it was active"):
        rollback(proj, "summarize", "prod")


# ---------------------------------------------------------------------------- history


def test_history_shows_commits_in_order(proj: Project) -> None:
    run = evaluate(proj, "summarize@1.0.0", "summarize@2.0.0")
    promote(proj, "summarize", "1.1.0", "staging", force=True, reason="first", commit=True)
    promote(proj, "summarize", "2.0.0", "prod", canary=5, commit=True)
    promote(proj, "summarize", "2.0.0", "prod", commit=True)
    # a change by hand, committed with an ordinary message
    text = proj.registry_path.read_text().replace(
        "  summarize:\n",
        "  summarize:\n    dev:\n      version: 1.0.0\n"
        f"      digest: {load_prompt(proj.root / 'prompts/summarize/1.0.0.yaml').digest}\n",
    )
    proj.registry_path.write_text(text)
    git(proj.root, "commit", "-qam", "put 1.0.0 on dev")
    promote(proj, "summarize", "1.1.0", "dev", force=True, reason="not committed yet")

    entries = history(proj)
    got = [
        (e.commit is None, e.env, e.action, e.from_version, e.to_version, e.canary) for e in entries
    ]
    assert got == [
        (True, "dev", "promote", "1.0.0", "1.1.0", None),
        (False, "dev", "promote", None, "1.0.0", None),
        (False, "prod", "promote", "1.0.0", "2.0.0", None),
        (False, "prod", "canary", "1.0.0", "2.0.0", 5),
        (False, "staging", "promote", None, "1.1.0", None),
        (False, "prod", "promote", None, "1.0.0", None),
    ]
    uncommitted, by_hand, completed, canary, first, initial = entries
    assert uncommitted.reason == "not committed yet" and uncommitted.forced and uncommitted.author
    assert (
        by_hand.subject == "put 1.0.0 on dev"
        and by_hand.author == "Ada Lovelace"
        and by_hand.reason is None
    )
    assert completed.evidence == run and not completed.forced
    assert canary.subject == "promptops: promote summarize 2.0.0 to prod (canary 5%)"
    assert first.reason == "first" and first.forced
    assert initial.author == "promptops tests"
    dates = [e.date for e in entries[1:]]
    assert dates == sorted(dates, reverse=True)
    assert [e.to_version for e in history(proj, "summarize", env="prod")] == [
        "2.0.0",
        "2.0.0",
        "1.0.0",
    ]
    assert history(proj, "other") == []
    assert len(history(proj, limit=2)) == 2


# ---------------------------------------------------------------------------- status


def test_status_reports_digests_and_drift(proj: Project) -> None:
    promote(proj, "summarize", "2.0.0", "prod", canary=5, force=True, reason="x")
    rows = {(r.prompt, r.env): r for r in status(proj)}
    assert set(rows) == {("summarize", "dev"), ("summarize", "staging"), ("summarize", "prod")}
    prod = rows[("summarize", "prod")]
    assert prod.active is not None and prod.active.state == "ok" and prod.ok
    assert prod.canary is not None and (prod.canary.version, prod.canary.weight) == ("2.0.0", 5)
    assert rows[("summarize", "dev")].active is None
    path = proj.root / "prompts/summarize/2.0.0.yaml"
    path.write_text(path.read_text().replace("title line", "headline"))
    (proj.root / "prompts/summarize/1.0.0.yaml").unlink()
    prod = {(r.prompt, r.env): r for r in status(proj)}[("summarize", "prod")]
    assert prod.active is not None and prod.active.state == "missing"
    assert prod.canary is not None and prod.canary.state == "changed" and not prod.ok


# ---------------------------------------------------------------------------- the file


def test_written_file_is_readable_valid_and_keeps_its_header(proj: Project) -> None:
    proj.registry_path.write_text(
        "# Owned by the platform team.\n# Ask in #prompts.\n" + proj.registry_path.read_text()
    )
    promote(proj, "summarize", "2.0.0", "prod", canary=5, force=True, reason="x")
    promote(proj, "summarize", "1.1.0", "dev", force=True, reason="x")
    text = proj.registry_path.read_text()
    d1, d2, d3 = (
        load_prompt(proj.root / f"prompts/summarize/{v}.yaml").digest
        for v in ("1.0.0", "1.1.0", "2.0.0")
    )
    assert text == textwrap.dedent(f"""\
        # Owned by the platform team.
        # Ask in #prompts.
        environments: [dev, staging, prod]
        prompts:
          summarize:
            dev:
              version: 1.1.0
              digest: {d2}
            prod:
              version: 1.0.0
              digest: {d1}
              canary:
                version: 2.0.0
                digest: {d3}
                weight: 5
        """)
    assert not [p for p in proj.root.iterdir() if p.name.endswith(".tmp")]


def test_dump_round_trips_and_quotes_what_yaml_would_misread() -> None:
    from promptops.registry.file import parse_registry
    from promptops.spec import RegistrySpec

    spec = RegistrySpec.model_validate(
        {
            "environments": ["dev", "prod"],
            "prompts": {"123": {"prod": {"version": "1.0.0", "digest": "sha256:" + "a" * 64}}},
        }
    )
    text = dump_registry(spec)
    assert text.startswith(HEADER) and "  '123':" in text
    assert parse_registry(text, Path("registry.yaml")) == spec


def test_a_hand_edited_invalid_registry_is_a_clear_error(proj: Project) -> None:
    proj.registry_path.write_text(
        proj.registry_path.read_text().replace("version: 1.0.0", "version: [1]")
    )
    with pytest.raises(SpecError, match=r"registry.yaml:5: prompts.summarize.prod.version"):
        promote(proj, "summarize", "2.0.0", "dev", force=True, reason="x")
    proj.registry_path.write_text(
        proj.registry_path.read_text().replace(
            "version: [1]", "version: 1.0.0\n      canary: {version: 1.0.0, digest: x, weight: 500}"
        )
    )
    with pytest.raises(SpecError) as err:
        status(proj)
    assert "prompts.summarize.prod.canary.weight" in err.value.message


RACE = """
import sys
from pathlib import Path
from promptops.project import Project
from promptops.registry.changes import promote
name, n = sys.argv[1], int(sys.argv[2])
project = Project(Path("."))
for i in range(n):
    promote(project, name, ("1.1.0", "1.0.0")[i % 2], "dev", force=True, reason=f"race {i}")
"""


def test_concurrent_promotions_in_separate_processes_all_land(proj: Project) -> None:
    d = proj.root / "prompts" / "other"
    d.mkdir()
    (d / "1.0.0.yaml").write_text(SUMMARIZE_1_0_0.replace("name: summarize", "name: other"))
    (d / "1.1.0.yaml").write_text(SUMMARIZE_1_1_0.replace("name: summarize", "name: other"))
    n = 25
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, name, str(n)],
            cwd=proj.root,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("summarize", "other", "summarize")
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    spec = read_registry(proj)  # still valid
    assert spec.prompts["summarize"]["prod"].version == "1.0.0"
    assert spec.prompts["other"]["dev"].version == "1.1.0"  # its last promotion (i = n - 1 is even)
    journal = [
        json.loads(line)
        for line in (proj.root / ".promptops/registry-log.jsonl").read_text().splitlines()
    ]
    assert (
        sum(e["prompt"] == "other" for e in journal) == n
    )  # a no-op is not journaled; these never are
    assert 0 < sum(e["prompt"] == "summarize" for e in journal) <= 2 * n
    # No lost update: each change starts from the state the previous change of that prompt left.
    last: dict[str, str | None] = {"summarize": None, "other": None}
    for entry in journal:
        assert entry["from_version"] == last[entry["prompt"]], entry
        last[entry["prompt"]] = entry["to_version"]
    assert last["other"] == "1.1.0"
    assert not [p for p in proj.root.iterdir() if p.name.endswith(".tmp")]
