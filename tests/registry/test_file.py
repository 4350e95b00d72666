"""registry.yaml's one parse path: every reader (status, check, lint, the runtime API) sees the
same normalized values."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from conftest import git
from promptops.gate.merge_base import registry_at
from promptops.project import Project, load_prompt
from promptops.registry.runtime import Registry

Cli = Callable[..., Result]


def _digest(root: Path, version: str) -> str:
    return load_prompt(root / "prompts" / "summarize" / f"{version}.yaml").digest


def write_short_canary(root: Path) -> None:
    """A hand-written registry whose canary version is the short string "2.0"."""
    (root / "registry.yaml").write_text(
        f"""\
environments: [dev, staging, prod]
prompts:
  summarize:
    prod:
      version: "1.1"
      digest: {_digest(root, "1.1.0")}
      canary:
        version: "2.0"
        digest: {_digest(root, "2.0.0")}
        weight: 100
""",
        encoding="utf-8",
    )


def test_a_short_canary_version_is_normalized_through_every_path(project: Path, cli: Cli) -> None:
    write_short_canary(project)

    # the CLI (promptops status)
    result = cli("status", "--json")
    assert result.exit_code == 0, result.output
    [row] = [
        r for r in json.loads(result.stdout) if r["prompt"] == "summarize" and r["env"] == "prod"
    ]
    assert (row["active"]["version"], row["canary"]["version"]) == ("1.1.0", "2.0.0")
    assert row["canary"]["state"] == "ok"

    # the runtime API: weight 100 serves the canary to every key
    served = Registry.load(project).get("summarize", env="prod", key="user-1")
    assert (served.arm, served.version) == ("canary", "2.0.0")

    # lint/check read it through the project, and check reads the merge base's copy too
    dep = Project(project).registry_spec().prompts["summarize"]["prod"]
    assert dep.canary is not None and dep.canary.version == "2.0.0"
    git(project, "add", "registry.yaml")
    git(project, "commit", "-q", "-m", "hand-written canary")
    at_head = registry_at(Project(project), project, "HEAD")
    assert at_head is not None
    canary = at_head.prompts["summarize"]["prod"].canary
    assert canary is not None and canary.version == "2.0.0"


def test_an_invalid_canary_version_is_still_an_error_naming_the_field(
    project: Path, cli: Cli
) -> None:
    write_short_canary(project)
    text = (project / "registry.yaml").read_text().replace('version: "2.0"', "version: two")
    (project / "registry.yaml").write_text(text)
    result = cli("status", "--json")
    assert result.exit_code == 1
    assert "registry.yaml:8: prompts.summarize.prod.canary.version: 'two' is not a version" in (
        result.stderr
    )
