"""Gold datasets: JSONL (one case per line) or CSV (one case per row, see :mod:`.csvdata`),
streamed and validated line by line."""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from .errors import Problem, SpecError, display_path
from .loader import LineMap, iter_jsonl, validation_problems
from .render import type_error
from .spec import CaseSpec

if TYPE_CHECKING:
    from .project import PromptVersion


@dataclass(frozen=True)
class Case:
    """A validated case and where it came from."""

    spec: CaseSpec
    source: str
    line: int

    @property
    def id(self) -> str:
        return self.spec.id


def vars_problems(pv: PromptVersion, case: CaseSpec) -> list[str]:
    """Why a case's vars don't fit the prompt's inputs (empty when they do)."""
    out = []
    inputs = pv.spec.inputs
    for key in sorted(set(case.vars) - set(inputs)):
        out.append(f"unknown variable {key!r} (inputs of {pv.ref}: {', '.join(inputs) or 'none'})")
    for key, spec in inputs.items():
        if key not in case.vars:
            if spec.is_required:
                out.append(f"missing required input {key!r}")
            continue
        problem = type_error(key, spec, case.vars[key])
        if problem:
            out.append(problem)
    return out


def iter_cases(
    path: Path, pv: PromptVersion | None = None, collect: list[Problem] | None = None
) -> Iterator[Case]:
    """Stream cases. Problems raise SpecError, or are appended to ``collect`` (lint mode)."""
    seen: dict[str, int] = {}
    shown = display_path(path)

    def problem(line: int, field: str | None, msg: str) -> None:
        p = Problem(shown, line, field, msg)
        if collect is None:
            raise SpecError(str(p), [p])
        collect.append(p)

    rows: Iterator[tuple[int, Any]]
    if path.suffix.lower() == ".csv":
        from .csvdata import iter_csv

        rows = iter_csv(path, pv, collect)
    else:
        rows = iter_jsonl(path, collect)
    try:
        for lineno, data in rows:
            if not isinstance(data, dict):
                problem(lineno, None, f"expected a JSON object, got {type(data).__name__}")
                continue
            try:
                spec = CaseSpec.model_validate(data)
            except ValidationError as e:
                lines = LineMap({(): lineno})
                for p in validation_problems(e, path, lines):
                    problem(lineno, p.field, p.message)
                continue
            if spec.id in seen:
                problem(
                    lineno, "id", f"duplicate case id {spec.id!r} (first on line {seen[spec.id]})"
                )
                continue
            seen[spec.id] = lineno
            if collect is not None and _lone_surrogate(data):
                # valid JSON, but no model API can take it; eval would stop at this case
                problem(lineno, None, "a string holds a lone surrogate (\\ud800-\\udfff), not text")
            if pv is not None:
                for msg in vars_problems(pv, spec):
                    problem(lineno, "vars", msg)
            yield Case(spec, shown, lineno)
    except SpecError as e:
        if collect is None:
            raise
        collect.extend(e.problems)


def _lone_surrogate(data: object) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def inline_cases(pv: PromptVersion) -> Iterator[Case]:
    """The prompt file's own ``tests:`` as cases."""
    shown = display_path(pv.path)
    for i, spec in enumerate(pv.spec.tests):
        yield Case(spec, shown, pv.line("tests", i) or 0)


def select(
    cases: Iterator[Case],
    pattern: str | None,
    limit: int | None,
    shard: tuple[int, int] | None = None,
) -> Iterator[Case]:
    """Filter by id glob, keep a stable shard by id hash, stop after ``limit``."""
    n = 0
    for case in cases:
        if pattern and not fnmatch.fnmatchcase(case.id, pattern):
            continue
        if shard is not None and shard_of(case.id, shard[1]) != shard[0] - 1:
            continue
        if limit is not None and n >= limit:
            return
        n += 1
        yield case


def shard_of(case_id: str, total: int) -> int:
    """Stable 0-based shard of a case id (independent of file order and Python's hash seed)."""
    h = hashlib.sha256(case_id.encode("utf-8")).digest()
    return int.from_bytes(h[:8], "big") % total


def file_digest(path: Path) -> str:
    """sha256 of a dataset file's bytes, streamed."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()
