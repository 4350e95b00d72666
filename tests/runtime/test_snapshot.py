"""promptops publish: content-addressed snapshots of what every environment serves."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from conftest import assert_no_traceback
from promptops.errors import RegistryError
from promptops.project import Project
from promptops.registry.changes import promote
from promptops.runtime.snapshot import (
    POINTER,
    SnapshotManifest,
    SnapshotPointer,
    publish,
    sha256,
)


@pytest.fixture(autouse=True)
def _in_project(project: Path) -> None:
    pass


def manifest_of(out: Path) -> SnapshotManifest:
    pointer = SnapshotPointer.model_validate_json((out / POINTER).read_bytes())
    blob = (out / "manifests" / (pointer.manifest.split(":")[1] + ".json")).read_bytes()
    assert sha256(blob) == pointer.manifest
    return SnapshotManifest.model_validate_json(blob)


def test_publish_writes_exactly_what_is_served_by_content(project: Path) -> None:
    out = project / "pub"
    result = publish(Project(project), out)
    assert result.changed and result.files == 2 and result.written == 3
    manifest = manifest_of(out)
    assert [f.path for f in manifest.files] == ["registry.yaml", "prompts/summarize/1.0.0.yaml"]
    for f in manifest.files:
        obj = out / "objects" / f.digest.split(":")[1]
        assert obj.read_bytes() == (project / f.path).read_bytes()
        assert sha256(obj.read_bytes()) == f.digest and f.size == obj.stat().st_size
    assert manifest.commit is not None and len(manifest.commit) == 40

    again = publish(Project(project), out)
    assert (again.changed, again.written, again.manifest) == (False, 0, result.manifest)


def test_a_canary_is_published_beside_the_active_version(project: Path) -> None:
    promote(Project(project), "summarize", "2.0.0", "prod", canary=10, force=True, reason="t")
    result = publish(Project(project), project / "pub")
    paths = [f.path for f in manifest_of(project / "pub").files]
    assert paths == [
        "registry.yaml",
        "prompts/summarize/1.0.0.yaml",
        "prompts/summarize/2.0.0.yaml",
    ]
    assert result.changed and result.files == 3


def test_an_edited_promoted_file_is_never_published(project: Path) -> None:
    path = project / "prompts/summarize/1.0.0.yaml"
    path.write_text(path.read_text().replace("in at most", "in no more than"))
    with pytest.raises(RegistryError, match=r"changed after it was promoted to prod"):
        publish(Project(project), project / "pub")
    assert not (project / "pub").exists()


def test_publish_cli_defaults_to_the_config_and_json(
    project: Path, cli: Callable[..., Result]
) -> None:
    (project / "promptops.yaml").write_text("publish_to: site/registry\n")
    result = cli("publish", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["changed"] is True and data["files"] == 2
    assert (project / "site/registry" / POINTER).is_file()

    text = cli("publish", "--to", str(project / "other"))
    assert text.exit_code == 0 and "published: sha256:" in text.stdout


def test_promote_and_rollback_publish(project: Path, cli: Callable[..., Result]) -> None:
    out = project / ".promptops" / "published"
    r = cli("promote", "summarize", "1.1.0", "--env", "prod", "--force", "-r", "t", "--publish")
    assert r.exit_code == 0, r.output
    assert "prompts/summarize/1.1.0.yaml" in [f.path for f in manifest_of(out).files]
    r = cli("rollback", "summarize", "--env", "prod", "--publish", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["published"]["changed"] is True
    assert [f.path for f in manifest_of(out).files][1:] == ["prompts/summarize/1.0.0.yaml"]


def test_publish_without_a_registry_is_a_clear_error(
    project: Path, cli: Callable[..., Result]
) -> None:
    (project / "registry.yaml").unlink()
    r = cli("publish")
    assert r.exit_code == 1
    assert_no_traceback(r)
    assert "no registry.yaml" in r.stderr
