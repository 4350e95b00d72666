"""Where a running application's registry comes from, and how it is re-read.

A source is a project directory (registry.yaml and prompts/, read in place), or a published
location (:mod:`promptops.runtime.snapshot`): a directory holding ``current.json``, or a URL
(``https://``, ``s3://``, ... through fsspec). A published snapshot is fetched whole, every
digest verified, written to a private local directory and parsed there, so serving never
touches the network; a refresh that fails in any way leaves the last good snapshot in place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import PromptOpsError, RegistryError, display_path
from ..loader import read_text
from ..paths import REGISTRY_FILE
from ..project import Project, PromptVersion, load_prompt, short_digest
from ..redact import redact_text, strip_url
from ..spec import RegistrySpec
from .guards import compile_guards
from .snapshot import (
    DIGEST,
    POINTER,
    SNAPSHOT_PATH,
    SnapshotManifest,
    SnapshotPointer,
    _hex,
    _join,
    served,
    sha256,
)

MAX_FILE_BYTES = 4 * 1024 * 1024  # a prompt file or registry.yaml larger than this is refused
MAX_FILES = 10_000


@dataclass(frozen=True)
class Snapshot:
    """One loaded state of the registry: swapped whole, never changed."""

    project: Project
    spec: RegistrySpec
    version: str  # manifest digest (published) or sha256 of registry.yaml (project)
    loaded_at: float
    prompts: dict[tuple[str, str], PromptVersion] = field(default_factory=dict)
    published: bool = False


def is_url(source: str) -> bool:
    return "://" in source and not source.startswith("file://")


def is_published(source: str | Path) -> bool:
    """A URL, or a directory with current.json (a project has registry.yaml instead)."""
    s = str(source)
    if is_url(s):
        return True
    p = Path(s.removeprefix("file://"))
    return p.is_dir() and (p / POINTER).is_file()


def describe(source: str | Path) -> str:
    """The source for messages: no credentials in a URL."""
    s = str(source)
    return strip_url(s) if is_url(s) else display_path(Path(s))


# --------------------------------------------------------------------------- project sources


def read_project(path: Path, have: str | None = None, *, verify: bool = False) -> Snapshot | None:
    """registry.yaml of a project directory (or the file itself); None when unchanged."""
    from ..registry.file import parse_registry

    root, registry = (path.parent, path) if path.is_file() else (path, path / REGISTRY_FILE)
    if not registry.is_file():
        raise RegistryError(
            f"no {REGISTRY_FILE} in {display_path(root)}; promote a version first "
            f"(promptops promote NAME VERSION --env ENV) or pass the project directory"
        )
    raw = registry.read_bytes()
    version = sha256(raw)
    if version == have:
        return None
    project = Project(root)
    spec = parse_registry(read_text(registry), registry)
    prompts = verified_prompts(project, spec) if verify else {}
    return Snapshot(project, spec, version, time.time(), prompts)


def verified_prompts(project: Project, spec: RegistrySpec) -> dict[tuple[str, str], PromptVersion]:
    """Every version registry.yaml serves, loaded, each with the digest it was promoted with."""
    out: dict[tuple[str, str], PromptVersion] = {}
    for name, envs in spec.prompts.items():
        for env, dep in envs.items():
            for version, digest in served(dep):
                path = project.version_files(name).get(version)
                if path is None:
                    raise RegistryError(
                        f"{REGISTRY_FILE}: {name} {version} is active in {env}, but its file "
                        "is not in the snapshot"
                    )
                pv = out.get((name, version)) or load_prompt(path)
                if pv.digest != digest:
                    raise RegistryError(
                        f"{name} {version} in {env}: registry.yaml has {short_digest(digest)}, "
                        f"the file {short_digest(pv.digest)}"
                    )
                compile_guards(pv)
                out[(name, version)] = pv
    return out


# --------------------------------------------------------------------------- published sources


def _filesystem(source: str, timeout: float) -> tuple[Any, str]:
    import fsspec

    if is_url(source) and source.split("://", 1)[0] in ("http", "https"):
        import aiohttp

        fs, root = fsspec.core.url_to_fs(
            source,
            client_kwargs={"timeout": aiohttp.ClientTimeout(total=timeout)},
            skip_instance_cache=True,
        )
    else:
        fs, root = fsspec.core.url_to_fs(source.removeprefix("file://"))
    return fs, str(root)


def _cat(fs: Any, path: str, what: str) -> bytes:
    data = fs.cat_file(path)
    if not isinstance(data, bytes):
        raise RegistryError(f"{what}: expected bytes")
    if len(data) > MAX_FILE_BYTES:
        raise RegistryError(f"{what}: larger than {MAX_FILE_BYTES} bytes; refused")
    return data


class SnapshotCache:
    """A private directory where fetched snapshots are written, one subdirectory each."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="promptops-registry-"))

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def fetch(
    source: str, cache: SnapshotCache, have: str | None = None, timeout: float = 10.0
) -> Snapshot | None:
    """The snapshot ``current.json`` names, fetched, verified and parsed; None when it is the
    one already loaded (``have``). Raises RegistryError (or OSError) on anything wrong."""
    where = describe(source)
    try:
        fs, root = _filesystem(source, timeout)
        raw = _cat(fs, _join(root, POINTER), f"{where}/{POINTER}")
        try:
            pointer = SnapshotPointer.model_validate_json(raw)
        except ValidationError as e:
            raise RegistryError(f"{where}/{POINTER}: not a snapshot pointer: {_first(e)}") from None
        if not DIGEST.match(pointer.manifest):
            raise RegistryError(f"{where}/{POINTER}: manifest: not a sha256 digest")
        if pointer.manifest == have:
            return None
        mpath = f"manifests/{_hex(pointer.manifest)}.json"
        blob = _cat(fs, _join(root, mpath), f"{where}/{mpath}")
        if sha256(blob) != pointer.manifest:
            raise RegistryError(f"{where}/{mpath}: content does not match its digest")
        try:
            manifest = SnapshotManifest.model_validate_json(blob)
        except ValidationError as e:
            raise RegistryError(f"{where}/{mpath}: not a snapshot manifest: {_first(e)}") from None
        files = _check_files(manifest, f"{where}/{mpath}")
        contents: dict[str, bytes] = {}
        for path, digest in files.items():
            data = _cat(fs, _join(root, "objects", _hex(digest)), f"{where}/objects")
            if sha256(data) != digest:
                raise RegistryError(f"{where}: object for {path} does not match its digest")
            contents[path] = data
    except FileNotFoundError as e:
        raise RegistryError(f"{where}: not found: {redact_text(str(e))}") from None
    except PromptOpsError:
        raise
    except Exception as e:  # network, permissions, fsspec backends: one kind of failure here
        raise RegistryError(f"{where}: {type(e).__name__}: {redact_text(str(e))}") from None
    return materialize(pointer.manifest, contents, cache)


def _first(e: ValidationError) -> str:
    err = e.errors()[0]
    return f"{'.'.join(map(str, err['loc'])) or '(top)'}: {err['msg']}"


def _check_files(manifest: SnapshotManifest, where: str) -> dict[str, str]:
    if len(manifest.files) > MAX_FILES:
        raise RegistryError(f"{where}: more than {MAX_FILES} files")
    files: dict[str, str] = {}
    for f in manifest.files:
        if not SNAPSHOT_PATH.match(f.path) or ".." in f.path:
            raise RegistryError(f"{where}: files: {f.path!r} is not a snapshot path")
        if not DIGEST.match(f.digest):
            raise RegistryError(f"{where}: files: {f.path}: digest is not sha256:HEX")
        if f.path in files:
            raise RegistryError(f"{where}: files: {f.path} is listed twice")
        files[f.path] = f.digest
    if REGISTRY_FILE not in files:
        raise RegistryError(f"{where}: files: no {REGISTRY_FILE}")
    return files


def materialize(version: str, contents: dict[str, bytes], cache: SnapshotCache) -> Snapshot:
    """Write a verified snapshot's files to a fresh directory and parse them there."""
    from ..registry.file import parse_registry

    target = cache.root / _hex(version)[:16]
    if not target.is_dir():
        tmp = Path(tempfile.mkdtemp(dir=cache.root, prefix=".tmp-"))
        try:
            for path, data in contents.items():
                dest = tmp / path
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)
            os.replace(tmp, target)
        finally:
            with contextlib.suppress(OSError):
                shutil.rmtree(tmp)
    project = Project(target)
    registry = target / REGISTRY_FILE
    spec = parse_registry(read_text(registry), registry)
    prompts = verified_prompts(project, spec)
    return Snapshot(project, spec, version, time.time(), prompts, published=True)
