"""`promptops new`: start the next version of a prompt, or a new prompt with its dataset stub.

The next version is the highest version's file, copied as text (comments and layout kept) with
``version:`` bumped and ``changelog:`` set to a placeholder that says what to write.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import PromptOpsError, UsageError, display_path
from .project import Project, parse_prompt
from .spec import check_name
from .versions import parse_version

Part = Literal["major", "minor", "patch"]

_VERSION_LINE = re.compile(r"^version:[^\n]*$", re.MULTILINE)
_CHANGELOG_LINE = re.compile(r"^changelog:[^\n]*\n?", re.MULTILINE)
# the indented lines after a top-level key belong to its value (a block scalar or a quoted
# or plain scalar continued on the next lines); blank lines only when more of them follow
_BLOCK_TAIL = re.compile(r"(?:(?:[ \t]*\n)*[ \t]+\S[^\n]*(?:\n|$))*")

SCHEMA_HINT = "# yaml-language-server: $schema={path}\n"

STUB_PROMPT = """\
{hint}name: {name}
version: 1.0.0
description: "TODO: what this prompt does, in one sentence."
changelog: First version.
model:
  id: {model}
  params: {{temperature: 0, max_tokens: 64, seed: 7}}
inputs:
  text: {{type: string, description: The input text.}}
messages:
  - role: system
    content: "TODO: the instruction."
  - role: user
    content: "{{{{ text }}}}"
dataset: {dataset}
assert:
  - {{type: icontains, value: "{{{{ expected.contains }}}}"}}
fail_under: 0.8                   # pass rate a run needs; raise it as the dataset grows
"""

STUB_DATASET = """\
{"id": "example-1", "vars": {"text": "TODO: an input"}, "expected": {"contains": "TODO"}}
"""


@dataclass
class Created:
    """What `new` wrote: the prompt file, and for a new prompt its dataset stub."""

    prompt: Path
    dataset: Path | None = None
    source: Path | None = None
    version: str = "1.0.0"


def bump(version: str, part: Part) -> str:
    """The next version: ``1.2.3`` -> ``2.0.0`` / ``1.3.0`` / ``1.2.4``."""
    v = parse_version(version)
    nxt = {"major": v.bump_major, "minor": v.bump_minor, "patch": v.bump_patch}[part]()
    return str(nxt)


def next_version_text(text: str, old: str, new: str) -> str:
    """The file text with ``version:`` set to ``new`` and a changelog placeholder."""
    if not _VERSION_LINE.search(text):
        raise PromptOpsError("no top-level `version:` line to bump")
    text = _VERSION_LINE.sub(f"version: {new}", text, count=1)
    placeholder = f'changelog: "TODO: what changed since {old}, and why."\n'
    m = _CHANGELOG_LINE.search(text)
    if m is None:
        v = _VERSION_LINE.search(text)
        assert v is not None
        end = v.end() + 1
        return text[:end] + placeholder + text[end:]
    end = m.end()
    tail = _BLOCK_TAIL.match(text, end)
    if tail is not None:
        end = tail.end()
    return text[: m.start()] + placeholder + text[end:]


def new_version(project: Project, name: str, part: Part = "minor") -> Created:
    """Copy the highest version of ``name`` to the next ``part`` version (never overwrites)."""
    files = project.version_files(name)
    if not files:
        known = ", ".join(project.prompt_names()) or "none"
        raise PromptOpsError(
            f"no prompt named {name!r} (prompts: {known}); "
            f"to start one: promptops new {name} --from-scratch"
        )
    old, source = list(files.items())[-1]
    new = bump(old, part)
    target = source.with_name(f"{new}{source.suffix}")
    if target.exists():
        raise PromptOpsError(f"{display_path(target)}: already exists; nothing was written")
    text = source.read_text(encoding="utf-8")
    try:
        out = next_version_text(text, old, new)
    except PromptOpsError as e:
        raise PromptOpsError(f"{display_path(source)}: {e.message}") from None
    parse_prompt(out, target)  # the copy must be a valid version file before it is written
    target.write_text(out, encoding="utf-8")
    return Created(prompt=target, source=source, version=new)


def new_prompt(project: Project, name: str, model: str = "local/gemma-3-270m") -> Created:
    """A new prompt at 1.0.0 with a one-case dataset stub (never overwrites)."""
    try:
        check_name(name)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if project.version_files(name):
        raise PromptOpsError(
            f"prompt {name!r} already exists; for its next version: promptops new {name}"
        )
    prompt = project.prompts_dir / name / "1.0.0.yaml"
    dataset = project.root / "evals" / f"{name}.jsonl"
    if dataset.exists():
        raise PromptOpsError(f"{display_path(dataset)}: already exists; nothing was written")
    schema = project.root / "schemas" / "prompt.schema.json"
    hint = ""
    if schema.is_file():
        hint = SCHEMA_HINT.format(path=Path(os.path.relpath(schema, prompt.parent)).as_posix())
    text = STUB_PROMPT.format(hint=hint, name=name, model=model, dataset=project.rel(dataset))
    parse_prompt(text, prompt)
    prompt.parent.mkdir(parents=True, exist_ok=True)
    dataset.parent.mkdir(parents=True, exist_ok=True)
    prompt.write_text(text, encoding="utf-8")
    dataset.write_text(STUB_DATASET, encoding="utf-8")
    return Created(prompt=prompt, dataset=dataset)
