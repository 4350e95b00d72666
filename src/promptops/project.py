"""A promptops project on disk: prompt versions, datasets, registry.yaml and settings."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import semver

from .errors import Problem, SpecError, display_path
from .loader import LineMap, load_yaml, parse_yaml, read_text, validate
from .paths import CONFIG_FILE, REGISTRY_FILE, OutsideProject, confine, find_root
from .spec import ProjectConfig, PromptSpec, RegistrySpec
from .versions import parse_version


def canonical_digest(data: Any) -> str:
    """sha256 over canonical JSON of the parsed file: formatting and comments don't count."""
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return "sha256:" + hashlib.sha256(blob.encode("utf-8")).hexdigest()


def file_digest(path: Path) -> str | None:
    """The digest of the prompt version in ``path``, or None when the file does not load."""
    try:
        return load_prompt(path).digest
    except SpecError:
        return None


def short_digest(digest: str) -> str:
    """The first 12 hex digits, for tables."""
    return digest.split(":", 1)[-1][:12]


@dataclass
class PromptVersion:
    """One parsed, validated prompt file."""

    spec: PromptSpec
    path: Path
    digest: str
    lines: LineMap = field(default_factory=LineMap, repr=False)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    # Where its python assertion paths resolve (None: the project root). A version read from
    # another commit's tree resolves them in that tree (see check.py), never the working tree.
    code_root: Path | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> str:
        return self.spec.version

    @property
    def semver(self) -> semver.Version:
        return parse_version(self.spec.version)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def line(self, *loc: str | int) -> int | None:
        return self.lines.line(loc)


def parse_prompt(text: str, path: Path, check_location: bool = True) -> PromptVersion:
    """Parse prompt text (from disk or a git tree) into a PromptVersion, strictly."""
    data, lines = parse_yaml(text, path)
    if data is None:
        raise SpecError.of(
            path, 1, None, "empty file; expected a prompt mapping (name, version, ...)"
        )
    if not isinstance(data, dict):
        raise SpecError.of(
            path, 1, None, f"expected a mapping of fields, got a {type(data).__name__}"
        )
    spec = validate(PromptSpec, data, path, lines)
    if check_location:
        problems = location_problems(spec, path, lines)
        if problems:
            raise SpecError("\n".join(map(str, problems)), problems)
    digest = canonical_digest(data)
    if any(isinstance(m.content, list) for m in spec.chat()):
        from .content import image_digests

        images = image_digests(spec, path)
        if images:  # the file's digest alone would miss a changed image
            digest = canonical_digest({"file": data, "images": images})
    return PromptVersion(spec=spec, path=path, digest=digest, lines=lines, raw=data)


def location_problems(spec: PromptSpec, path: Path, lines: LineMap) -> list[Problem]:
    """The file name must equal the version and the directory the name."""
    out = []
    stem = path.name.removesuffix(".yaml").removesuffix(".yml")
    try:
        file_version = str(parse_version(stem))
    except ValueError:
        file_version = None
    if file_version is None:
        out.append(
            Problem(
                display_path(path),
                None,
                None,
                f"file name {path.name!r} is not a version such as 1.0.0.yaml",
            )
        )
    elif file_version != spec.version:
        out.append(
            Problem(
                display_path(path),
                lines.line(("version",)),
                "version",
                f"{spec.version} does not match the file name {path.name}",
            )
        )
    if path.parent.name != spec.name:
        out.append(
            Problem(
                display_path(path),
                lines.line(("name",)),
                "name",
                f"{spec.name!r} does not match the directory {path.parent.name!r}",
            )
        )
    return out


def load_prompt(path: Path) -> PromptVersion:
    """Read and validate one prompt file."""
    return parse_prompt(read_text(path), path)


def version_files_in(d: Path) -> dict[str, Path]:
    """Version -> file for the version files in a prompt directory, ascending."""
    found: list[tuple[semver.Version, Path]] = []
    if d.is_dir():
        for f in d.iterdir():
            if f.suffix in (".yaml", ".yml") and f.is_file():
                try:
                    found.append((parse_version(f.stem), f))
                except ValueError:
                    continue
    found.sort(key=lambda t: t[0])
    return {str(v): f for v, f in found}


class Project:
    """The directory holding prompts/, evals/ and registry.yaml."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._prompt_cache: dict[Path, PromptVersion] = {}

    @classmethod
    def find(cls, start: Path | None = None) -> Project:
        """The nearest directory upwards with registry.yaml, promptops.yaml or prompts/."""
        return cls(find_root(start))

    def with_config(self, config: ProjectConfig) -> Project:
        """The same project read with another configuration (``check`` uses the merge base's
        policy)."""
        other = Project(self.root)
        other.__dict__["config"] = config
        return other

    @cached_property
    def config(self) -> ProjectConfig:
        path = self.root / CONFIG_FILE
        if not path.is_file():
            return ProjectConfig()
        data, lines = load_yaml(path)
        return validate(ProjectConfig, data or {}, path, lines)

    def _inside(self, field: str) -> Path:
        """A directory promptops.yaml names, confined to the project (a branch's promptops.yaml
        could point reads of prompts, or writes of records and the cache, anywhere)."""
        value = getattr(self.config, field)
        try:
            return confine(self.root, value)
        except OutsideProject as e:
            path = self.root / CONFIG_FILE
            line = None
            if path.is_file():
                line = load_yaml(path)[1].line((field,))
            raise SpecError.of(path, line, field, str(e)) from None

    @property
    def prompts_dir(self) -> Path:
        return self._inside("prompts_dir")

    @property
    def registry_path(self) -> Path:
        return self.root / REGISTRY_FILE

    @property
    def runs_dir(self) -> Path:
        return self._inside("runs_dir")

    @property
    def cache_dir(self) -> Path:
        return self._inside("cache_dir")

    def rel(self, path: Path) -> str:
        """A path relative to the project root (for records and messages)."""
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def prompt_names(self) -> list[str]:
        if not self.prompts_dir.is_dir():
            return []
        return sorted(
            p.name for p in self.prompts_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
        )

    def version_files(self, name: str) -> dict[str, Path]:
        """Version -> file for a prompt, by file name only (no parsing); sorted ascending."""
        return version_files_in(self.prompts_dir / name)

    def all_files(self) -> Iterator[Path]:
        for name in self.prompt_names():
            d = self.prompts_dir / name
            yield from sorted(
                p for p in d.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()
            )

    def load(self, path: Path) -> PromptVersion:
        path = path.resolve()
        if path not in self._prompt_cache:
            self._prompt_cache[path] = load_prompt(path)
        return self._prompt_cache[path]

    def registry_spec(self) -> RegistrySpec:
        """Parse registry.yaml strictly (schema plus digest/canary checks); missing is empty."""
        from .registry.file import read_registry_file

        return read_registry_file(self.registry_path)

    def dataset_path(self, pv: PromptVersion, override: str | Path | None = None) -> Path | None:
        """The dataset file: ``override`` (a command-line path, as given), else the prompt's
        ``dataset:``, which must resolve inside the project (symlinks followed; SpecError naming
        the field otherwise, before anything reads it)."""
        if override is not None:
            p = Path(override)
            return p if p.is_absolute() else (Path.cwd() / p)
        if pv.spec.dataset is None:
            return None
        try:
            return confine(self.root, pv.spec.dataset)
        except OutsideProject as e:
            raise SpecError.of(pv.path, pv.line("dataset"), "dataset", str(e)) from None
