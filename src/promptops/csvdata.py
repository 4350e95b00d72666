"""Datasets as CSV: one case per row, turned into the same dicts a JSONL line holds.

Columns (header row required):

- ``id``: the case id (default: ``row-<line>``);
- ``expected``: the reference answer; ``expected.<key>``: a key of an expected object;
- ``vars.<name>`` or a bare ``<name>``: an input's value;
- ``metadata.<key>``, ``description``, ``threshold``: as in JSONL.

Cells are text; a value for an input declared integer, number, boolean, array, object or
messages is converted as ``--var`` does (arrays and objects as JSON). An empty cell is no
value (the input's default applies). Errors name the file, the row's line and the column.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import Problem, RenderError, SpecError, display_path

if TYPE_CHECKING:
    from .project import PromptVersion

_PLAIN = ("id", "expected", "description", "threshold")


def iter_csv(
    path: Path, pv: PromptVersion | None = None, errors: list[Problem] | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line, case dict)`` per row. A bad row raises SpecError, or is appended to
    ``errors`` (lint) and skipped."""
    from .render import coerce_cli

    shown = display_path(path)
    try:
        fh = path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise SpecError.of(path, None, None, "dataset file not found") from None
    except OSError as e:
        raise SpecError.of(path, None, None, f"cannot read: {e.strerror}") from None
    with fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as e:
            raise SpecError.of(path, 1, None, f"invalid CSV: {e}") from None
        names = [h.strip() for h in header]
        dup = sorted({n for n in names if names.count(n) > 1 and n})
        if dup:
            raise SpecError.of(path, 1, dup[0], "duplicate column")
        start = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except (csv.Error, UnicodeDecodeError) as e:
                raise SpecError.of(path, reader.line_num, None, f"invalid CSV: {e}") from None
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            problem: Problem | None = None
            if len(row) != len(names):
                problem = Problem(
                    shown, line, None, f"{len(row)} cells, but the header has {len(names)} columns"
                )
            else:
                try:
                    yield line, _case(names, row, line, pv, coerce_cli)
                    continue
                except _CellError as e:
                    problem = Problem(shown, line, e.column, e.message)
            if errors is None:
                raise SpecError(str(problem), [problem])
            errors.append(problem)


class _CellError(Exception):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


def _case(
    names: list[str], row: list[str], line: int, pv: PromptVersion | None, coerce: Any
) -> dict[str, Any]:
    case: dict[str, Any] = {}
    vars_: dict[str, Any] = {}
    expected: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    for col, cell in zip(names, row, strict=True):
        if cell == "" or not col:
            continue
        if col in _PLAIN:
            if col == "threshold":
                try:
                    case[col] = float(cell)
                except ValueError:
                    raise _CellError(col, f"{cell!r} is not a number") from None
            else:
                case[col] = cell
        elif col.startswith("expected."):
            expected[col.removeprefix("expected.")] = cell
        elif col.startswith("metadata."):
            metadata[col.removeprefix("metadata.")] = cell
        else:
            name = col.removeprefix("vars.")
            spec = pv.spec.inputs.get(name) if pv is not None else None
            if spec is None or spec.type == "string":
                vars_[name] = cell
            else:
                try:
                    vars_[name] = coerce(name, spec, cell)
                except RenderError as e:
                    raise _CellError(col, e.message) from None
    if expected:
        if "expected" in case:
            raise _CellError("expected", "give expected or expected.* columns, not both")
        case["expected"] = expected
    case.setdefault("id", f"row-{line}")
    case["vars"] = vars_
    if metadata:
        case["metadata"] = metadata
    return case
