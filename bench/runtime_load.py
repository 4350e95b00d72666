"""How long an application waits for its first rendered prompt: Registry.load + get + render.

Builds a throwaway project with 100 prompts (three environments, every tenth prompt with a
canary in prod) and measures, in this process:

- ``one``: load registry.yaml, get one prompt, render it;
- ``all``: load registry.yaml, get and render all 100 prompts.

Each is timed ``--repeat`` times with a fresh Registry (prompt files read, validated and
digest-checked again) and Jinja's compiled-template cache cleared ("cold": what a new process
pays after import), and again with the template cache warm. Import time is reported
separately. Target: ``one`` under 50 ms; and litellm, gitpython and pandas never imported.

    .venv/bin/python bench/runtime_load.py [--prompts 100] [--repeat 30] [--json]

Exits 1 when the target is missed or a heavy module was imported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

TARGET_MS = 50.0

PROMPT = """\
name: {name}
version: {version}
description: Benchmark prompt {i}.
model:
  id: openai/gpt-4o-mini-2024-07-18
  params: {{temperature: 0, max_tokens: 200}}
fallbacks: [anthropic/claude-3-5-haiku-20241022]
inputs:
  document: {{type: string, description: The text.}}
  max_words: {{type: integer, default: 25}}
messages:
  - role: system
    content: You write faithful summaries in at most {{{{ max_words }}}} words. Prompt {i}.
  - role: user
    content: |
      Summarize:
      {{{{ document }}}}
      {{% if max_words < 10 %}}Be very brief.{{% endif %}}
dataset: evals/{name}.jsonl
assert:
  - {{type: icontains, value: "{{{{ document }}}}"}}
"""


def build(root: Path, n: int) -> list[str]:
    from promptops.project import load_prompt

    names = [f"prompt-{i:03d}" for i in range(n)]
    lines = ["environments: [dev, staging, prod]", "prompts:"]
    for i, name in enumerate(names):
        d = root / "prompts" / name
        d.mkdir(parents=True)
        digests = {}
        for version in ("1.0.0", "1.1.0"):
            path = d / f"{version}.yaml"
            path.write_text(PROMPT.format(name=name, version=version, i=i), encoding="utf-8")
            digests[version] = load_prompt(path).digest
        lines.append(f"  {name}:")
        for env in ("dev", "staging", "prod"):
            lines += [f"    {env}:", "      version: 1.0.0", f"      digest: {digests['1.0.0']}"]
        if i % 10 == 0:
            lines += [
                "      canary:",
                "        version: 1.1.0",
                f"        digest: {digests['1.1.0']}",
                "        weight: 10",
            ]
    (root / "registry.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return names


def measure(root: Path, names: list[str], repeat: int, cold: bool) -> dict[str, float]:
    from promptops import Registry
    from promptops.render import compile_template

    def timed(which: list[str]) -> float:
        if cold:
            compile_template.cache_clear()
        start = time.perf_counter()
        reg = Registry.load(root)
        for i, name in enumerate(which):
            reg.get(name, "prod", key=f"user-{i}").render(
                document="The council voted on the budget."
            )
        return (time.perf_counter() - start) * 1000

    one = [timed(names[:1]) for _ in range(repeat)]
    every = [timed(names) for _ in range(repeat)]
    return {
        "one_median_ms": statistics.median(one),
        "one_max_ms": max(one),
        "all_median_ms": statistics.median(every),
        "all_max_ms": max(every),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--json", action="store_true", help="Print JSON.")
    args = parser.parse_args()

    start = time.perf_counter()
    import promptops.registry.runtime  # noqa: F401  (what an application imports)

    import_ms = (time.perf_counter() - start) * 1000
    with tempfile.TemporaryDirectory(prefix="promptops-bench-") as tmp:
        root = Path(tmp)
        names = build(root, args.prompts)
        cold = measure(root, names, args.repeat, cold=True)
        warm = measure(root, names, args.repeat, cold=False)
    heavy = sorted(m for m in ("litellm", "git", "pandas") if m in sys.modules)
    report = {
        "prompts": args.prompts,
        "repeat": args.repeat,
        "import_ms": round(import_ms, 1),
        "cold": {k: round(v, 2) for k, v in cold.items()},
        "warm": {k: round(v, 2) for k, v in warm.items()},
        "heavy_imports": heavy,
        "target_ms": TARGET_MS,
    }
    ok = cold["one_median_ms"] < TARGET_MS and not heavy
    report["ok"] = ok
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"import promptops.registry.runtime: {import_ms:.0f} ms (once per process)")
        for label, r in (("cold (template cache cleared)", cold), ("warm", warm)):
            print(f"{label}:")
            print(
                f"  load + get + render 1 prompt:    median {r['one_median_ms']:6.2f} ms  max {r['one_max_ms']:6.2f} ms"
            )
            print(
                f"  load + get + render {args.prompts} prompts: median {r['all_median_ms']:6.2f} ms  "
                f"max {r['all_max_ms']:6.2f} ms"
            )
        print(f"heavy modules imported: {', '.join(heavy) or 'none'}")
        print(f"target: one prompt under {TARGET_MS:.0f} ms: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
