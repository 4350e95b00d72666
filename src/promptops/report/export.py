"""A run's records as a flat table: ``promptops export RUN --format csv|jsonl|parquet``.

One row per record (case x version x model x repeat). Inputs become ``vars.<name>`` columns
and each assertion ``assert.<label>.pass`` / ``assert.<label>.score`` (label: its ``metric``,
else its type; a second assertion with the same label becomes ``<label>#2``). Values that are
not scalars (lists, objects) are JSON strings, and so is every value of a column whose rows
mix types, so each column has one type (parquet needs that; spreadsheets like it).

pandas is imported here, inside the functions, and pyarrow only for parquet.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..errors import PromptOpsError, UsageError
from . import ExportFormat

if TYPE_CHECKING:
    import pandas as pd

    from ..eval.store import RunDir

FORMATS = tuple(f.value for f in ExportFormat)

_HEAD = ("run_id", "case_id", "prompt", "version", "model", "repeat")
_TAIL = (
    "output",
    "pass",
    "score",
    "error",
    "error_kind",
    "assert_error",
    "latency_ms",
    "tokens_in",
    "tokens_out",
    "cost",
    "cached",
    "finish_reason",
    "answered_by",
    "attempts",
    "digest",
    "messages_hash",
    "trace_id",
)


_KINDS = {
    **dict.fromkeys(("repeat", "tokens_in", "tokens_out", "attempts"), "Int64"),
    **dict.fromkeys(("score", "latency_ms", "cost"), "Float64"),
    **dict.fromkeys(("pass", "cached"), "boolean"),
    **dict.fromkeys(
        ("run_id", "case_id", "prompt", "version", "model", "output", "error", "error_kind"),
        "string",
    ),
    **dict.fromkeys(
        ("assert_error", "finish_reason", "answered_by", "digest", "messages_hash", "trace_id"),
        "string",
    ),
}


def _scalar(v: Any) -> Any:
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    return json.dumps(v, ensure_ascii=False, sort_keys=True, default=str)


def flatten(rec: dict[str, Any], run_id: str | None = None) -> dict[str, Any]:
    """One record as a flat row (column name -> scalar)."""
    row: dict[str, Any] = {}
    if run_id is not None:
        row["run_id"] = run_id
    for k in _HEAD[1:]:
        row[k] = rec.get(k)
    for name, value in (rec.get("vars") or {}).items():
        row[f"vars.{name}"] = _scalar(value)
    row["expected"] = _scalar(rec.get("expected"))
    for k in _TAIL:
        row[k] = rec.get(k)
    for key in ("tool_calls", "turns"):  # only in records of tool-using / multi-turn cases
        if rec.get(key):
            row[key] = _scalar(rec[key])
    seen: dict[str, int] = {}
    for a in rec.get("assertions") or []:
        label = str(a.get("metric") or a.get("type"))
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            label = f"{label}#{seen[label]}"
        row[f"assert.{label}.pass"] = a.get("pass")
        row[f"assert.{label}.score"] = a.get("score")
    return row


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    return type(v).__name__


def records_frame(records: Iterable[dict[str, Any]], run_id: str | None = None) -> pd.DataFrame:
    """Records as a DataFrame with one column type per column (see the module docstring)."""
    import pandas as pd

    rows = [flatten(r, run_id) for r in records]
    columns: dict[str, None] = {}
    for k in _HEAD:
        if k != "run_id" or run_id is not None:
            columns[k] = None
    for r in rows:  # vars.* in first-seen order, then the fixed columns, then assertions
        for k in r:
            if k.startswith("vars."):
                columns[k] = None
    for k in ("expected", *_TAIL):
        columns[k] = None
    for key in ("tool_calls", "turns"):
        if any(key in r for r in rows):
            columns[key] = None
    for r in rows:
        for k in r:
            if k.startswith("assert."):
                columns[k] = None
    for col in columns:
        kinds = {_kind(r[col]) for r in rows if r.get(col) is not None}
        if len(kinds) > 1:
            for r in rows:
                v = r.get(col)
                if v is not None and not isinstance(v, str):
                    r[col] = json.dumps(v, ensure_ascii=False)
    frame = pd.DataFrame.from_records(rows, columns=list(columns)).convert_dtypes()
    for col in frame.columns:
        kind = _KINDS.get(col)
        if kind is None and col.startswith("assert."):
            kind = "boolean" if col.endswith(".pass") else "Float64"
        if kind is not None:
            frame[col] = frame[col].astype(kind)
    return frame


def _check(fmt: str, output: Path | None) -> None:
    """Refuse before any work: unknown format, parquet to stdout, parquet without pyarrow."""
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "parquet":
        if output is None:
            raise UsageError("parquet is binary: give --output FILE")
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise PromptOpsError(
                "parquet export needs pyarrow: pip install 'promptops-cli[parquet]'"
            ) from None


def write_frame(
    frame: pd.DataFrame, fmt: str, output: Path | None, stream: IO[str] | None = None
) -> None:
    """Write ``frame`` as csv, jsonl or parquet to ``output`` (csv and jsonl: else ``stream``,
    default stdout)."""
    _check(fmt, output)
    if fmt == "parquet":
        assert output is not None
        output.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(output, index=False)
        return
    # Plain Python values first: mapping a nullable Int64 column with gaps turns it into
    # floats on pandas 2.3 (``5.0``).
    plain = frame.astype(object).where(frame.notna(), None)
    if fmt == "csv":
        import csv
        import io

        from .safe import csv_cell

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(plain.columns)
        writer.writerows([csv_cell(v) for v in row] for row in plain.itertuples(index=False))
        text = buffer.getvalue()
    else:
        text = "".join(
            json.dumps(row, ensure_ascii=False, default=str) + "\n"
            for row in plain.to_dict(orient="records")
        )
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    else:
        (stream or sys.stdout).write(text)


def export_run(
    run: RunDir, fmt: str, output: Path | None = None, stream: IO[str] | None = None
) -> int:
    """Export a run's latest records; returns the number of rows written."""
    _check(fmt, output)
    frame = records_frame(run.records(), run_id=run.id)
    write_frame(frame, fmt, output, stream)
    return len(frame)
