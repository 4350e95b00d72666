"""The published JSON Schemas, generated from the pydantic models (committed under schemas/)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from .analysis.canary import CanaryAnalysis
from .analysis.shadow import ShadowAnalysis
from .errors import UsageError
from .eval.records import CaseRecord, RunSpec, Summary
from .runtime.records import CallRecord
from .runtime.snapshot import SnapshotManifest
from .spec import CaseSpec, PromptSpec, RegistrySpec

KINDS: dict[str, type[BaseModel]] = {
    "prompt": PromptSpec,
    "case": CaseSpec,
    "registry": RegistrySpec,
    "run": RunSpec,  # a run's run.json
    "record": CaseRecord,  # one line of a run's results.jsonl
    "summary": Summary,  # a run's summary.json
    "call": CallRecord,  # one line of the runtime's call log (Registry.load(record_to=...))
    "snapshot": SnapshotManifest,
    "analysis": CanaryAnalysis,  # promptops canary analyze --json
    "shadow-analysis": ShadowAnalysis,  # promptops shadow analyze --json  # a published snapshot's manifest (promptops publish)
}


def json_schema(kind: str) -> dict[str, Any]:
    """JSON Schema (draft 2020-12) for one kind of file."""
    model = KINDS.get(kind)
    if model is None:
        raise UsageError(f"unknown schema {kind!r}; choose one of {', '.join(KINDS)}")
    schema = model.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://promptops.dev/schemas/{kind}.schema.json"
    return schema
