"""Human labels: ``labels/NAME.jsonl``, one JSON line per label, committed beside the prompts so
reviews are reviewed in pull requests like code.

A label names what was judged (case id, the hash of the output, the run or candidates file it
was seen in, prompt version and model), the verdict (``pass``/``fail`` or a 1-5 score, with a
note), who gave it (git config) and when. Model-graded assertion outcomes of the same output
are copied in (``judged``), so ``calibrate`` can compare judges with people from committed
files alone (runs are not committed). The file is append-only; the last label of a key wins.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import Problem, SpecError, display_path

LABELS_DIR = "labels"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class JudgedOutcome(_Strict):
    """One model-graded assertion's verdict on the labelled output."""

    type: str = Field(description="Assertion type, e.g. 'llm-rubric'.")
    judge: str | None = Field(None, description="The judge model.")
    rubric: str = Field(description="Hash of the assertion's rubric (value) and settings.")
    passed: bool = Field(alias="pass", description="The judge's verdict.")
    score: float | None = Field(None, description="The judge's score in [0, 1].")


class Label(_Strict):
    """One line of ``labels/NAME.jsonl``."""

    case_id: str = Field(min_length=1, description="The case's id.")
    prompt: str = Field(min_length=1, description="Prompt name.")
    version: str | None = Field(None, description="Prompt version whose output was labelled.")
    model: str | None = Field(None, description="Model that produced the output.")
    run: str | None = Field(None, description="Run id, or the candidates file, it was seen in.")
    output_hash: str | None = Field(None, description="sha256 of the labelled output text.")
    label: Literal["pass", "fail"] | Annotated[int, Field(ge=1, le=5)] = Field(
        description="pass/fail, or a score from 1 (bad) to 5 (good)."
    )
    note: str = Field("", description="Why, in the reviewer's words.")
    reviewer: str = Field(min_length=1, description="git config user.name <user.email>.")
    time: str = Field(description="UTC time, ISO 8601.")
    judged: list[JudgedOutcome] = Field(
        default_factory=list, description="Model-graded assertion verdicts on the same output."
    )

    @property
    def human_pass(self) -> bool:
        """The label as a verdict: pass, or a score of 4-5."""
        return self.label == "pass" or (isinstance(self.label, int) and self.label >= 4)

    def key(self) -> tuple[str, str | None, str | None, str | None]:
        return (self.case_id, self.model, self.output_hash, self.run)


def output_hash(output: str | None) -> str | None:
    if output is None:
        return None
    return "sha256:" + hashlib.sha256(output.encode("utf-8")).hexdigest()


def labels_path(root: Path, prompt: str) -> Path:
    return root / LABELS_DIR / f"{prompt}.jsonl"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def append_lines(path: Path, lines: list[str]) -> None:
    """Append JSON lines in one write, starting on a line of their own when the file does not
    end in a newline (a hand edit), so a crash leaves no half line joined to another."""
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = ""
    if path.exists() and path.stat().st_size:
        with path.open("rb") as fh:
            fh.seek(-1, 2)
            prefix = "" if fh.read(1) == b"\n" else "\n"
    with path.open("a", encoding="utf-8") as fh:
        fh.write(prefix + "\n".join(lines) + "\n")


def append_label(path: Path, label: Label) -> None:
    """Append one label (a line written whole, so a crash leaves no half line)."""
    line = json.dumps(label.model_dump(mode="json", by_alias=True), ensure_ascii=False)
    append_lines(path, [line])


def read_labels(path: Path) -> Iterator[tuple[int, Label]]:
    """Every label of a file with its line; a bad line raises SpecError naming line and field."""
    from ..loader import LineMap, iter_jsonl, validation_problems

    if not path.exists():
        return
    for lineno, data in iter_jsonl(path):
        if not isinstance(data, dict):
            p = Problem(display_path(path), lineno, None, "expected a JSON object")
            raise SpecError(str(p), [p])
        try:
            yield lineno, Label.model_validate(data)
        except ValidationError as e:
            problems = validation_problems(e, path, LineMap({(): lineno}))
            raise SpecError("\n".join(map(str, problems)), problems) from None


def parse_labels(text: str, path: Path) -> list[Label]:
    """Labels from a file's text (``check`` reads them at the merge base); a bad line raises
    SpecError naming line and field."""
    from ..loader import LineMap, validation_problems

    out = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, RecursionError) as e:
            raise SpecError.of(path, lineno, None, f"invalid JSON: {e}") from None
        if not isinstance(data, dict):
            raise SpecError.of(path, lineno, None, "expected a JSON object")
        try:
            out.append(Label.model_validate(data))
        except ValidationError as e:
            problems = validation_problems(e, path, LineMap({(): lineno}))
            raise SpecError("\n".join(map(str, problems)), problems) from None
    return out


def latest_labels(path: Path) -> dict[tuple[str, str | None, str | None, str | None], Label]:
    """The last label of each (case, model, output, run)."""
    out = {}
    for _, label in read_labels(path):
        out[label.key()] = label
    return out


def label_json(label: Label) -> dict[str, Any]:
    return label.model_dump(mode="json", by_alias=True)
