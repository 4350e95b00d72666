"""Import every promptfoo config under a directory and lint the result, one throwaway project
per config, and count what happened (issue 25: promptfoo's own example configs).

    python bench/promptfoo_examples.py /tmp/pfex [--json out.json]

DIR holds one directory per example (as promptfoo's repository has them under examples/), each
with its ``promptfooconfig*.yaml`` and the files those name. Nothing is fetched: the configs are
read from DIR, the commands run offline (no model is called). Each config is copied with its
directory into a fresh project, then ``promptops import promptfoo CONFIG -f json`` and
``promptops lint -f json`` run as subprocesses. Each config gets two counts:

- import: ``clean`` (nothing reported as not converted), ``unconverted`` (parts reported as not
  converted; each line is printed with its reason) or ``refused`` (the import stopped; its
  error is printed);
- lint: ``passes``, ``pin-model`` (lint's only errors are model or judge ids it will not
  take, an alias such as ``gpt-4o`` or a name the installed litellm does not list, which the
  import report names: promptops evaluates pinned, dated models), ``announced`` (besides
  those, only errors the import's report said lint would give: "lint will refuse it until it
  is fixed: ...") or ``fails`` (printed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Outcome:
    example: str
    config: str
    status: str  # clean, unconverted, refused
    lint_status: str = "passes"  # passes, pin-model, fails (or "-" when refused)
    not_converted: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    lint: list[str] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0


def _promptops(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "NO_COLOR": "1"}
    env.pop("PROMPTFOO_DISABLE_VAR_EXPANSION", None)
    return subprocess.run(
        [sys.executable, "-m", "promptops", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


_ANNOUNCE = "lint will refuse it until it is fixed: "


def _announced(error: dict[str, str], notes: list[str]) -> bool:
    """Whether the import's report said this lint error was coming: a note "lint will refuse
    it until it is fixed: ..." holding the error's message, or naming a field its field ends
    with (``function.input_schema`` for ``tools[0].function.input_schema``)."""
    message, where = str(error.get("message", "")), str(error.get("field", ""))
    for note in notes:
        said = note.partition(_ANNOUNCE)[2]
        if not said:
            continue
        field = said.split(":", 1)[0].strip()
        if (message and message in said) or (field and where.endswith(field)):
            return True
    return False


def run_one(example: Path, config: Path) -> Outcome:
    import time

    start = time.perf_counter()
    out = Outcome(example.name, config.name, "clean")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "prompts").mkdir()
        (root / "evals").mkdir()
        shutil.copytree(example, root / "pf" / example.name)
        rel = Path("pf") / example.name / config.relative_to(example)
        done = _promptops("import", "promptfoo", str(rel), "-f", "json", "--name", "ex", cwd=root)
        if done.returncode != 0:
            out.status = "refused"
            out.lint_status = "-"
            out.error = (done.stderr.strip() or done.stdout.strip()).replace("\n", " | ")[:600]
        else:
            report = json.loads(done.stdout)
            out.not_converted = list(report["not_converted"])
            out.notes = list(report["notes"])
            lint = _promptops("lint", "-f", "json", cwd=root)
            errors: list[dict[str, str]] = []
            if lint.returncode != 0:
                try:
                    problems = json.loads(lint.stdout)
                except json.JSONDecodeError:
                    problems = [{"message": (lint.stderr or lint.stdout).strip()[:600]}]
                items = problems if isinstance(problems, list) else problems.get("problems", [])
                errors = [p for p in items if p.get("severity", "error") == "error"]
                out.lint = [json.dumps(p) for p in errors]
            named = " ".join(out.notes)
            pins = [
                e
                for e in errors
                if e.get("field") == "model.id" or str(e.get("field")).endswith(".judge")
            ]
            out.status = "unconverted" if out.not_converted else "clean"
            if errors and len(pins) == len(errors) and "lint" in named:
                out.lint_status = "pin-model"
            elif errors and all(e in pins or _announced(e, out.notes) for e in errors):
                out.lint_status = "announced"
            elif errors:
                out.lint_status = "fails"
    out.seconds = round(time.perf_counter() - start, 2)
    return out


def configs(directory: Path) -> list[tuple[Path, Path]]:
    found = []
    for example in sorted(p for p in directory.iterdir() if p.is_dir()):
        for config in sorted(example.rglob("promptfooconfig*.yaml")):
            found.append((example, config))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--json", type=Path, help="write every outcome here")
    args = parser.parse_args()
    outcomes = [run_one(e, c) for e, c in configs(args.directory)]
    for o in outcomes:
        print(f"{o.status:12} lint {o.lint_status:9} {o.example}/{o.config} ({o.seconds} s)")
        for line in o.not_converted:
            print(f"    not converted: {line}")
        for line in o.lint:
            print(f"    lint: {line}")
        if o.error:
            print(f"    error: {o.error}")
    for what in ("status", "lint_status"):
        counts: dict[str, int] = {}
        for o in outcomes:
            counts[getattr(o, what)] = counts.get(getattr(o, what), 0) + 1
        shown = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        print(f"{len(outcomes)} config(s), {'import' if what == 'status' else 'lint'}: {shown}")
    if args.json:
        args.json.write_text(json.dumps([asdict(o) for o in outcomes], indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
