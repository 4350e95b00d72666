"""Drift watch: the per-case evidence a promotion relied on, kept in git, and ``promptops
drift``, which re-runs what is deployed and compares it with that evidence.

``promote`` writes ``evidence/NAME/VERSION.jsonl.gz`` beside registry.yaml (committed with it
under ``--commit``): a header line (prompt, version, digest, run, dataset digest, gate) then one
compact line per case record of the pinned model (case id, repeat, pass, score, metrics,
error kind). Gzip with a zero mtime, so the same evidence is the same bytes.

``drift`` evaluates every version active (or on canary) in the chosen environments, uncached,
on its dataset, and compares the new records with the evidence, paired by case, with the
gate's statistics (:func:`promptops.gate.compare.compare_records`, the prompt's ``gate:``
metric and margin). The prompt file and the dataset are the same (the digests say so), so a
``regression`` means the model behind the pinned id answers worse than it did.
"""

from __future__ import annotations

import gzip
import io
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import RegistryError, SpecError

EVIDENCE_DIR = "evidence"
FORMAT = 1
_KEEP = ("case_id", "repeat", "pass", "score", "metrics", "error_kind")


def evidence_path(root: Path, name: str, version: str) -> Path:
    return root / EVIDENCE_DIR / name / f"{version}.jsonl.gz"


def write_evidence(project: Any, pv: Any, run: Any) -> Path:
    """Store the records of ``pv``'s digest on its pinned model from ``run`` (a RunDir)."""
    from ..datasets import file_digest

    model = pv.spec.model.id
    rows = []
    for rec in run.records():
        if rec.get("digest") != pv.digest or rec.get("model") != model:
            continue
        row = {k: rec.get(k) for k in _KEEP if rec.get(k) is not None}
        if rec.get("error"):
            row["error"] = True  # the message is not needed to pair, and may be long
        rows.append(row)
    rows.sort(key=lambda r: (str(r["case_id"]), int(r.get("repeat") or 0)))
    ds = project.dataset_path(pv)
    header = {
        "evidence": FORMAT,
        "prompt": pv.name,
        "version": pv.version,
        "digest": pv.digest,
        "model": model,
        "run": run.id,
        "dataset": project.rel(ds) if ds is not None else None,
        "dataset_digest": file_digest(ds) if ds is not None and ds.is_file() else None,
        "gate": {"metric": pv.spec.gate.metric, "margin": pv.spec.gate.margin},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    text = "".join(
        json.dumps(x, sort_keys=True, separators=(",", ":")) + "\n" for x in [header, *rows]
    )
    path = evidence_path(project.root, pv.name, pv.version)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as gz:
        gz.write(text.encode("utf-8"))
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)
    return path


def read_evidence(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The header and the records (as compare_records takes them) of an evidence file."""
    try:
        text = gzip.decompress(path.read_bytes()).decode("utf-8")
    except FileNotFoundError:
        raise SpecError.of(path, None, None, "evidence file not found") from None
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise SpecError.of(path, None, None, f"not a gzip'd JSONL evidence file: {e}") from None
    lines = [ln for ln in text.splitlines() if ln.strip()]
    out = []
    for i, raw in enumerate(lines, start=1):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as e:
            raise SpecError.of(path, i, None, f"invalid JSON: {e.msg}") from None
        if not isinstance(data, dict):
            raise SpecError.of(path, i, None, "expected a JSON object")
        out.append(data)
    if not out or out[0].get("evidence") != FORMAT:
        raise SpecError.of(path, 1, "evidence", f"expected an evidence header of format {FORMAT}")
    header, rows = out[0], out[1:]
    records = []
    for i, row in enumerate(rows, start=2):
        if "case_id" not in row:
            raise SpecError.of(path, i, "case_id", "missing")
        rec = {
            **row,
            "case_id": str(row["case_id"]),
            "model": header.get("model"),
            "digest": header.get("digest"),
            "prompt": header.get("prompt"),
            "version": header.get("version"),
            "repeat": int(row.get("repeat", 0)),
        }
        if row.get("error"):
            rec["error"] = "failed at promotion"
        records.append(rec)
    return header, records


@dataclass
class DriftEntry:
    """One deployed version and what re-running it found."""

    prompt: str
    version: str
    envs: list[str]
    verdict: str  # ok | regression | inconclusive | error | no-evidence
    message: str = ""
    run: str | None = None
    evidence: str | None = None

    def to_json(self) -> dict[str, Any]:
        from ..redact import redact_text

        return {
            "prompt": self.prompt,
            "version": self.version,
            "envs": self.envs,
            "verdict": self.verdict,
            "message": redact_text(self.message),
            "run": self.run,
            "evidence": self.evidence,
        }


@dataclass
class DriftReport:
    entries: list[DriftEntry] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(e.verdict in ("regression", "error") for e in self.entries)

    def to_json(self) -> dict[str, Any]:
        return {"failed": self.failed, "entries": [e.to_json() for e in self.entries]}


def deployed(spec: Any, envs: list[str] | None) -> dict[tuple[str, str, str], list[str]]:
    """(prompt, version, digest) -> the environments serving it (active or canary)."""
    out: dict[tuple[str, str, str], list[str]] = {}
    for name, by_env in sorted(spec.prompts.items()):
        for env, dep in by_env.items():
            if envs and env not in envs:
                continue
            out.setdefault((name, dep.version, dep.digest), []).append(env)
            if dep.canary is not None:
                key = (name, dep.canary.version, dep.canary.digest)
                out.setdefault(key, []).append(f"{env} (canary)")
    return out


def drift(
    project: Any,
    envs: list[str] | None = None,
    *,
    api_base: str | None = None,
    concurrency: int = 8,
) -> DriftReport:
    """Re-run every deployed version uncached and compare it with its promotion evidence."""
    from ..eval.runner import EvalOptions, run_eval
    from ..gate.compare import compare_records, overall_verdict
    from ..gate.explain import explain

    spec = project.registry_spec()
    if envs:
        unknown = [e for e in envs if e not in spec.environments]
        if unknown:
            raise RegistryError(
                f"unknown environment {', '.join(unknown)}; registry.yaml has "
                f"{', '.join(spec.environments)}"
            )
    report = DriftReport()
    for (name, version, digest), where in deployed(spec, envs).items():
        entry = DriftEntry(name, version, where, "error")
        report.entries.append(entry)
        file = project.version_files(name).get(version)
        if file is None:
            entry.message = f"prompts/{name}/{version}.yaml is missing"
            continue
        try:
            pv = project.load(file)
        except SpecError as e:
            entry.message = e.message
            continue
        if pv.digest != digest:
            entry.message = (
                f"{project.rel(file)} changed since it was promoted (registry digest "
                f"{digest[:19]}, file {pv.digest[:19]}); promptops status shows it"
            )
            continue
        path = evidence_path(project.root, name, version)
        entry.evidence = project.rel(path)
        if not path.is_file():
            entry.verdict = "no-evidence"
            entry.message = (
                f"no promotion evidence ({entry.evidence}); promote it again to store some"
            )
            continue
        try:
            header, before = read_evidence(path)
        except SpecError as e:
            entry.message = e.message
            continue
        if header.get("digest") != pv.digest:
            entry.message = f"{entry.evidence} is evidence for another digest"
            continue
        opts = EvalOptions(
            models=[str(header.get("model") or pv.spec.model.id)],
            use_cache=False,
            api_base=api_base,
            concurrency=concurrency,
        )
        try:
            result = run_eval(project, [pv], opts, command=f"promptops drift {pv.ref}")
        except (SpecError, RegistryError) as e:
            entry.message = e.message
            continue
        entry.run = result.run.id
        if result.stop_reason:
            entry.message = result.stop_reason
            continue
        from ..datasets import file_digest

        ds = project.dataset_path(pv)
        changed = (
            ds is not None and ds.is_file() and file_digest(ds) != header.get("dataset_digest")
        )
        gate = header.get("gate") or {}
        comparisons = compare_records(
            before,
            result.run.records(),
            metric=str(gate.get("metric") or pv.spec.gate.metric),
            margin=float(gate.get("margin", pv.spec.gate.margin)),
        )
        entry.verdict = overall_verdict(comparisons)
        entry.message = "; ".join(explain(c) for c in comparisons) or "no case ran on both sides"
        if changed:
            entry.message = (
                "the dataset changed since promotion (paired on common cases); " + entry.message
            )
    return report
