"""Published snapshots: what every environment serves, as immutable content-addressed files.

A published location (a directory, or any URL fsspec can write: ``s3://``, ``gs://``, ...)::

    objects/<sha256 hex>          registry.yaml and each prompt file served, by content
    manifests/<sha256 hex>.json   a SnapshotManifest: which object is which file
    current.json                  a SnapshotPointer: the manifest applications should serve

Objects and manifests never change once written (their name is their digest), so a reader
that verifies digests can never mix two snapshots; ``current.json`` is written last (by an
atomic rename on a local disk), so a reader sees the old snapshot or the new one, whole.
Readers (:mod:`promptops.runtime.source`) treat everything they fetch as untrusted: every
digest is checked, paths are confined to ``registry.yaml`` and ``prompts/NAME/VERSION.yaml``,
and each prompt must have the digest registry.yaml promotes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import RegistryError, display_path
from ..paths import REGISTRY_FILE
from ..project import Project, file_digest
from ..spec import Deployment

SCHEMA_VERSION = 1
POINTER = "current.json"
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
SNAPSHOT_PATH = re.compile(
    r"^(registry\.yaml|prompts/[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.+-]*\.ya?ml)$"
)
DEFAULT_PUBLISH_DIR = ".promptops/published"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SnapshotFile(_Model):
    """One file of a snapshot, by content."""

    path: str = Field(
        description="Path inside the snapshot: registry.yaml or prompts/NAME/VERSION.yaml."
    )
    digest: str = Field(description="sha256:HEX of the file's bytes; the object's name.")
    size: int = Field(ge=0, description="Size in bytes.")


class SnapshotManifest(_Model):
    """What one published snapshot holds: registry.yaml and exactly the prompt files served."""

    schema_version: Literal[1] = Field(1, description="Version of this format.")
    created_at: str = Field(description="When it was published (UTC, ISO 8601).")
    promptops_version: str = Field(description="The promptops that published it.")
    commit: str | None = Field(None, description="Git commit of the project, when known.")
    dirty: bool | None = Field(None, description="Whether the working tree had changes.")
    files: list[SnapshotFile] = Field(description="registry.yaml first, then prompt files.")


class SnapshotPointer(_Model):
    """current.json: the manifest applications should serve now."""

    schema_version: Literal[1] = Field(1, description="Version of this format.")
    manifest: str = Field(description="sha256:HEX of the manifest's bytes.")
    published_at: str = Field(description="When it was published (UTC, ISO 8601).")


@dataclass(frozen=True)
class PublishResult:
    """What ``publish`` did: where, which manifest, how many new objects."""

    to: str
    manifest: str
    files: int
    written: int
    changed: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "to": self.to,
            "manifest": self.manifest,
            "files": self.files,
            "written": self.written,
            "changed": self.changed,
        }


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _hex(digest: str) -> str:
    return digest.split(":", 1)[1]


def canonical_json(model: BaseModel) -> bytes:
    return json.dumps(model.model_dump(mode="json"), sort_keys=True, indent=1).encode() + b"\n"


def served(dep: Deployment) -> list[tuple[str, str]]:
    """(version, digest) of what one environment serves: the active version, its canary and
    its shadow."""
    out = [(dep.version, dep.digest)]
    if dep.canary is not None:
        out.append((dep.canary.version, dep.canary.digest))
    if dep.shadow is not None:
        out.append((dep.shadow.version, dep.shadow.digest))
    return out


def served_files(project: Project) -> dict[str, bytes]:
    """registry.yaml and every prompt file an environment serves (active and canary), each
    checked against the digest registry.yaml promoted: an edited file is never published."""
    from ..loader import read_text
    from ..registry.file import parse_registry

    path = project.registry_path
    if not path.is_file():
        raise RegistryError(
            f"no {REGISTRY_FILE} in {display_path(project.root)}; nothing to publish "
            "(promote a version first)"
        )
    raw = path.read_bytes()
    spec = parse_registry(read_text(path), path)
    out: dict[str, bytes] = {REGISTRY_FILE: raw}
    for name, envs in sorted(spec.prompts.items()):
        for env, dep in envs.items():
            for version, digest in served(dep):
                file = project.version_files(name).get(version)
                if file is None:
                    raise RegistryError(
                        f"{REGISTRY_FILE}: {name} {version} is active in {env}, but its file "
                        "does not exist; restore it before publishing"
                    )
                if file_digest(file) != digest:
                    raise RegistryError(
                        f"{project.rel(file)} changed after it was promoted to {env}; restore it "
                        f"(git checkout -- {project.rel(file)}) before publishing"
                    )
                out[f"prompts/{name}/{version}{file.suffix}"] = file.read_bytes()
    return out


def build_manifest(project: Project) -> tuple[SnapshotManifest, dict[str, bytes]]:
    """The manifest of what the project serves now, and the objects by digest."""
    from .. import __version__

    files = served_files(project)
    commit: str | None = None
    dirty: bool | None = None
    from ..gitops import revision

    rev = revision(project.root)
    if rev is not None:
        commit, dirty = rev["commit"], rev["dirty"]
    objects = {sha256(data): data for data in files.values()}
    manifest = SnapshotManifest(
        created_at=_now(),
        promptops_version=__version__,
        commit=commit,
        dirty=dirty,
        files=[SnapshotFile(path=p, digest=sha256(d), size=len(d)) for p, d in files.items()],
    )
    return manifest, objects


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


def publish(project: Project, to: str | os.PathLike[str] | None = None) -> PublishResult:
    """Write the snapshot of what every environment serves to ``to`` (a directory or an fsspec
    URL; default ``.promptops/published``): new objects first, the manifest, then current.json.
    Publishing an unchanged project writes nothing but the pointer's timestamp."""
    import fsspec

    target = str(to) if to is not None else default_target(project)
    manifest, objects = build_manifest(project)
    try:
        fs, root = fsspec.core.url_to_fs(target)
    except (ValueError, ImportError) as e:
        raise RegistryError(f"cannot publish to {target}: {e}") from None
    local = "file" in _protocols(fs)
    written = 0
    try:
        if local:
            fs.makedirs(_join(root, "objects"), exist_ok=True)
            fs.makedirs(_join(root, "manifests"), exist_ok=True)
        for digest, data in objects.items():
            path = _join(root, "objects", _hex(digest))
            if not fs.exists(path):
                _put(fs, path, data, local)
                written += 1
        old = _read_pointer(fs, root)
        if old is not None and _same_files(fs, root, old.manifest, manifest):
            mdigest = old.manifest
        else:
            blob = canonical_json(manifest)
            mdigest = sha256(blob)
            _put(fs, _join(root, "manifests", _hex(mdigest) + ".json"), blob, local)
            written += 1
        pointer = SnapshotPointer(manifest=mdigest, published_at=_now())
        _put(fs, _join(root, POINTER), canonical_json(pointer), local)
    except OSError as e:
        raise RegistryError(f"cannot publish to {target}: {e}") from None
    changed = old is None or old.manifest != mdigest
    return PublishResult(target, mdigest, len(manifest.files), written, changed)


def _protocols(fs: Any) -> tuple[str, ...]:
    p = fs.protocol
    return (p,) if isinstance(p, str) else tuple(p)


def _put(fs: Any, path: str, data: bytes, local: bool) -> None:
    """Write one file; on a local disk through a temporary name and an atomic rename."""
    if not local:
        fs.pipe_file(path, data)
        return
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _read_pointer(fs: Any, root: str) -> SnapshotPointer | None:
    try:
        return SnapshotPointer.model_validate_json(fs.cat_file(_join(root, POINTER)))
    except (FileNotFoundError, ValidationError):
        return None


def _same_files(fs: Any, root: str, digest: str, manifest: SnapshotManifest) -> bool:
    try:
        old = SnapshotManifest.model_validate_json(
            fs.cat_file(_join(root, "manifests", _hex(digest) + ".json"))
        )
    except (OSError, ValidationError):
        return False
    return old.files == manifest.files


def default_target(project: Project) -> str:
    """promptops.yaml's ``publish_to`` (relative to the project root), else the default."""
    to = project.config.publish_to or DEFAULT_PUBLISH_DIR
    return to if "://" in to else str(project.root / to)
