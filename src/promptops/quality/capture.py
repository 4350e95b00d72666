"""``promptops capture``: production call records -> candidate cases for a gold set.

A candidate is a :class:`spec.CaseSpec` line appended to ``<gold>.candidates.jsonl`` (never to
the gold set itself: ``review`` accepts candidates into it). Its vars come from the record,
with personal data masked by the ``no-pii`` detectors (``[email]``, ``[card]``, ...) unless
``keep_pii``, and secrets always redacted. Cases are de-duplicated by the hash of their
(stored) inputs against the gold set, the candidates file and each other. ``where`` is a
restricted expression (the ``expr`` assertion's language) over the names of
:meth:`CallRecord.names` plus ``rand``, a number in [0, 1) fixed per trace id, for samples.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import PromptOpsError, SpecError, UsageError
from ..spec import CaseSpec
from .callrecords import CallRecord, read_records


def candidates_path(gold: Path) -> Path:
    """``evals/x-gold.jsonl`` -> ``evals/x-gold.candidates.jsonl``."""
    name = gold.name
    stem = name[: -len(".jsonl")] if name.endswith(".jsonl") else gold.stem
    return gold.with_name(f"{stem}.candidates.jsonl")


def input_hash(vars: dict[str, Any]) -> str:
    """The hash candidates are de-duplicated by: canonical JSON of the inputs."""
    text = json.dumps(vars, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _rand(trace_id: str | None, source: str, line: int) -> float:
    key = trace_id or f"{source}:{line}"
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:13], 16) / float(1 << 52)


def _mask(value: Any, kinds: list[str]) -> Any:
    from ..assertions.pii import mask_pii

    if isinstance(value, str):
        masked, found = mask_pii(value)
        kinds.extend(found)
        return masked
    if isinstance(value, dict):
        return {k: _mask(v, kinds) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, kinds) for v in value]
    return value


@dataclass
class CaptureResult:
    """What a capture did, for the report."""

    candidates: Path
    added: list[str] = field(default_factory=list)
    read: int = 0
    other_prompt: int = 0
    not_selected: int = 0
    no_content: int = 0
    duplicates: int = 0
    masked: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "candidates": str(self.candidates),
            "added": self.added,
            "read": self.read,
            "other_prompt": self.other_prompt,
            "not_selected": self.not_selected,
            "no_content": self.no_content,
            "duplicates": self.duplicates,
            "masked": self.masked,
            "skipped": len(self.skipped),
        }


def _known_hashes(path: Path) -> set[str]:
    from ..datasets import iter_cases

    if not path.exists():
        return set()
    out = set()
    for case in iter_cases(path):
        stored = case.spec.metadata.get("input_hash")
        out.add(stored if isinstance(stored, str) else input_hash(case.spec.vars))
        out.add(input_hash(case.spec.vars))
    return out


def _selected(where: str | None, record: CallRecord) -> bool:
    if not where:
        return True
    from ..assertions.base import AssertionConfigError
    from ..assertions.expr import evaluate
    from ..assertions.exprruntime import Limit

    names = record.names()
    names["rand"] = _rand(record.trace_id, record.source, record.line)
    try:
        result = evaluate(where, names)
    except AssertionConfigError as e:
        raise UsageError(f"--where: {e.message.removeprefix('expr: ')}") from None
    except Limit as e:
        raise PromptOpsError(f"{record.source}:{record.line}: --where: {e}") from None
    except Exception as e:  # the expression failed on this record's values
        raise PromptOpsError(
            f"{record.source}:{record.line}: --where raised {type(e).__name__}: {e}"
        ) from None
    return bool(result)


def capture(
    name: str,
    records: list[Path],
    to: Path,
    *,
    where: str | None = None,
    keep_pii: bool = False,
    limit: int | None = None,
    now: datetime | None = None,
) -> CaptureResult:
    """Append the selected production calls of prompt ``name`` as candidate cases next to the
    gold set ``to``; returns what was added and why the rest was not."""
    from ..redact import redact_obj, redact_text

    if where:  # a refused expression is a usage error before any record is read
        from ..assertions.base import AssertionConfigError
        from ..assertions.expr import validate

        try:
            validate(where)
        except AssertionConfigError as e:
            raise UsageError(f"--where: {e.message.removeprefix('expr: ')}") from None
    for path in records:
        if not path.is_file():
            raise SpecError.of(path, None, None, "records file not found")
    out = candidates_path(to)
    known = _known_hashes(to) | _known_hashes(out)
    result = CaptureResult(out)
    stamp = (now or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    lines: list[str] = []
    for record in read_records(records, result.skipped):
        result.read += 1
        if record.prompt != name:
            result.other_prompt += 1
            continue
        if record.vars is None:
            result.no_content += 1
            continue
        if not _selected(where, record):
            result.not_selected += 1
            continue
        kinds: list[str] = []
        vars = record.vars if keep_pii else _mask(record.vars, kinds)
        vars = redact_obj(vars)
        digest = input_hash(vars)
        if digest in known:
            result.duplicates += 1
            continue
        known.add(digest)
        for kind in kinds:
            result.masked[kind] = result.masked.get(kind, 0) + 1
        output = record.output
        if output is not None:
            okinds: list[str] = []
            output = redact_text(output if keep_pii else _mask(output, okinds))
        metadata: dict[str, Any] = {
            "source": "production",
            "trace_id": record.trace_id,
            "version": record.version,
            "input_hash": digest,
            "captured": stamp,
            "record": f"{record.source}:{record.line}",
        }
        if output is not None:
            metadata["output"] = output
        if record.error:
            metadata["error"] = redact_text(record.error)
        if record.feedback is not None:
            metadata["feedback"] = record.feedback
        if kinds:
            metadata["pii_masked"] = sorted(set(kinds))
        case_id = f"prod-{digest.removeprefix('sha256:')[:12]}"
        spec = CaseSpec.model_validate(
            {
                "id": case_id,
                "vars": vars,
                "metadata": {k: v for k, v in metadata.items() if v is not None},
            }
        )
        lines.append(
            json.dumps(
                spec.model_dump(mode="json", by_alias=True, exclude_defaults=True),
                ensure_ascii=False,
            )
        )
        result.added.append(case_id)
        if limit is not None and len(result.added) >= limit:
            break
    if lines:
        from .labels import append_lines

        append_lines(out, lines)
    return result
