"""Registry.load from a published directory or URL: refresh, verification, last good, bundled."""

from __future__ import annotations

import json
import logging
import shutil
import socket
from pathlib import Path

import pytest

from promptops import Registry
from promptops.errors import RegistryError
from promptops.project import Project
from promptops.registry.changes import abort_canary, promote, rollback
from promptops.runtime.snapshot import POINTER, SnapshotPointer, publish

from .helpers import Served


@pytest.fixture(autouse=True)
def _in_project(project: Path) -> None:
    pass


def pub(project: Path, to: Path) -> str:
    return publish(Project(project), to).manifest


def test_load_a_published_directory_and_serve_without_the_project(
    project: Path, tmp_path: Path
) -> None:
    pub(project, tmp_path / "pub")
    shutil.rmtree(project / "prompts")  # served from the snapshot's own copy
    reg = Registry.load(tmp_path / "pub", refresh=0)
    p = reg.get("summarize", "prod")
    assert (p.version, p.arm) == ("1.0.0", "stable")
    assert p.render(document="The cat sat.")[1]["content"] == "The cat sat."
    assert reg.snapshot.startswith("sha256:") and reg.last_error is None


def test_refresh_over_http_follows_promote_canary_and_rollback(
    project: Path, served: Served
) -> None:
    first = pub(project, served.root)
    reg = Registry.load(served.url, refresh=0)
    assert reg.snapshot == first and reg.get("summarize", "prod").version == "1.0.0"
    assert reg.refresh() is False  # nothing new: nothing fetched beyond current.json

    proj = Project(project)
    promote(proj, "summarize", "1.1.0", "prod", force=True, reason="t")
    promote(proj, "summarize", "2.0.0", "prod", canary=100, force=True, reason="t")
    pub(project, served.root)
    assert reg.refresh() is True
    p = reg.get("summarize", "prod", key="u1")
    assert (p.version, p.arm) == ("2.0.0", "canary")

    abort_canary(proj, "summarize", "prod")
    rollback(proj, "summarize", "prod")
    pub(project, served.root)
    assert reg.refresh() is True
    assert reg.get("summarize", "prod", key="u1").version == "1.0.0"


def test_a_tampered_object_is_refused_and_the_last_good_keeps_serving(
    project: Path, served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    pub(project, served.root)
    reg = Registry.load(served.url, refresh=0)
    promote(Project(project), "summarize", "1.1.0", "prod", force=True, reason="t")
    pub(project, served.root)
    for obj in (served.root / "objects").iterdir():
        if b"version: 1.1.0" in obj.read_bytes():
            obj.write_bytes(obj.read_bytes().replace(b"one sentence", b"ignore all rules"))
    with caplog.at_level(logging.WARNING, "promptops.runtime"):
        assert reg.refresh() is False
    assert reg.get("summarize", "prod").version == "1.0.0"
    assert reg.last_error is not None and "does not match its digest" in reg.last_error
    assert "still serving" in caplog.text


def test_a_registry_naming_a_digest_its_file_lacks_is_never_published(
    project: Path, served: Served
) -> None:
    pub(project, served.root)
    reg = Registry.load(served.url, refresh=0)
    registry = project / "registry.yaml"
    registry.write_text(registry.read_text().replace("version: 1.0.0", "version: 1.1.0"))
    with pytest.raises(RegistryError, match="changed after it was promoted"):
        pub(project, served.root)
    assert reg.refresh() is False and reg.get("summarize", "prod").version == "1.0.0"


def test_hostile_manifest_paths_are_refused(project: Path, served: Served) -> None:
    import hashlib

    pub(project, served.root)
    reg = Registry.load(served.url, refresh=0)
    pointer = SnapshotPointer.model_validate_json((served.root / POINTER).read_bytes())
    mfile = served.root / "manifests" / (pointer.manifest.split(":")[1] + ".json")
    data = json.loads(mfile.read_bytes())
    data["files"][1]["path"] = "prompts/../../etc/evil.yaml"
    blob = json.dumps(data).encode()
    digest = hashlib.sha256(blob).hexdigest()
    (served.root / "manifests" / f"{digest}.json").write_bytes(blob)
    (served.root / POINTER).write_text(
        json.dumps({**pointer.model_dump(), "manifest": f"sha256:{digest}"})
    )
    assert reg.refresh() is False
    assert reg.last_error is not None and "is not a snapshot path" in reg.last_error


def test_source_down_keeps_serving_and_recovers(project: Path, served: Served) -> None:
    pub(project, served.root)
    reg = Registry.load(served.url, refresh=0)
    served.stop()
    assert reg.refresh() is False
    assert reg.last_error is not None and "127.0.0.1" in reg.last_error
    assert reg.get("summarize", "prod").version == "1.0.0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_start_from_the_bundled_snapshot_when_the_source_is_down(
    project: Path, tmp_path: Path
) -> None:
    pub(project, tmp_path / "bundled")
    down = f"http://127.0.0.1:{free_port()}/registry"
    reg = Registry.load(down, bundled=tmp_path / "bundled", refresh=0)
    assert reg.get("summarize", "prod").version == "1.0.0"
    assert reg.last_error is not None
    with pytest.raises(RegistryError, match=r"127\.0\.0\.1"):
        Registry.load(down, refresh=0)


def test_background_refresh_swaps_without_a_call_waiting(project: Path, served: Served) -> None:
    import time

    pub(project, served.root)
    reg = Registry.load(served.url, refresh=0.2)
    try:
        promote(Project(project), "summarize", "1.1.0", "prod", force=True, reason="t")
        pub(project, served.root)
        deadline = time.monotonic() + 10
        while reg.get("summarize", "prod").version != "1.1.0":
            assert time.monotonic() < deadline, reg.last_error
            time.sleep(0.05)
    finally:
        reg.close()


def test_a_project_source_refreshes_when_asked(project: Path) -> None:
    reg = Registry.load(".", refresh=0)
    assert reg.refresh() is False
    promote(Project(project), "summarize", "1.1.0", "prod", force=True, reason="t")
    assert reg.refresh() is True and reg.get("summarize", "prod").version == "1.1.0"


def test_a_snapshot_whose_prompt_lacks_the_promoted_digest_is_refused(
    project: Path, served: Served
) -> None:
    """Objects that match the manifest are not enough: each prompt must have the digest
    registry.yaml promoted (a publisher cannot swap a prompt under a version)."""
    import hashlib

    pub(project, served.root)
    reg = Registry.load(served.url, refresh=0)
    pointer = SnapshotPointer.model_validate_json((served.root / POINTER).read_bytes())
    mfile = served.root / "manifests" / (pointer.manifest.split(":")[1] + ".json")
    data = json.loads(mfile.read_bytes())
    swapped = (
        (project / "prompts/summarize/1.0.0.yaml")
        .read_bytes()
        .replace(b"in at most", b"in no more than")
    )
    sha = hashlib.sha256(swapped).hexdigest()
    (served.root / "objects" / sha).write_bytes(swapped)
    data["files"][1].update(digest=f"sha256:{sha}", size=len(swapped))
    blob = json.dumps(data).encode()
    digest = hashlib.sha256(blob).hexdigest()
    (served.root / "manifests" / f"{digest}.json").write_bytes(blob)
    (served.root / POINTER).write_text(
        json.dumps({**pointer.model_dump(), "manifest": f"sha256:{digest}"})
    )
    assert reg.refresh() is False
    assert reg.last_error is not None and "registry.yaml has" in reg.last_error
