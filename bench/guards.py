"""What guards cost per call: the deterministic guards on a 2 kB input, in this process.

Times each guard type alone and all of them together (the input stage of a prompt with
``no-pii`` (mask), ``not-regex`` (mask), ``injection`` (block), plus ``is-json`` and
``json-schema`` on a 2 kB JSON output), on a clean text (every guard runs to the end: the
worst case for a pass) and on a text with findings (masking included). Reports the median
and p95 over ``--repeat`` runs. Target: all input guards together under 1 ms per call.

    .venv/bin/python bench/guards.py [--repeat 2000] [--json]

Exits 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

TARGET_MS = 1.0
SENTENCE = (
    "The quarterly report shows revenue up 4.2% on the year, driven by the subscription "
    "business in Europe, while hardware sales fell for the third quarter in a row. "
)
FINDINGS = " Contact jane.doe@example.com or +44 20 7946 0958, ticket secret-4411. "


def text_of(size: int, dirty: bool) -> str:
    body = (SENTENCE * (size // len(SENTENCE) + 1))[:size]
    if dirty:
        body = body[: size - len(FINDINGS)] + FINDINGS
    return body


def json_of(size: int) -> str:
    items = []
    while len(json.dumps({"items": items})) < size:
        items.append({"id": len(items), "name": f"item {len(items)}", "price": 9.99})
    return json.dumps({"items": items})


def timed(fn: Any, arg: str, repeat: int) -> dict[str, float]:
    for _ in range(20):  # warm up: imports, compiled patterns, caches
        fn(arg)
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(arg)
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return {
        "median_ms": round(statistics.median(samples), 4),
        "p95_ms": round(samples[int(0.95 * len(samples)) - 1], 4),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=2000)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from promptops.project import PromptVersion
    from promptops.runtime.guards import apply, compile_guards
    from promptops.spec import GuardSpec, GuardsSpec, PromptSpec

    schema = {
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"type": "object"}}},
        "required": ["items"],
    }
    specs = {
        "no-pii": GuardSpec(type="no-pii", action="mask"),
        "not-regex": GuardSpec(type="not-regex", value=r"secret-\d+", action="mask"),
        "injection": GuardSpec(type="injection", action="block"),
        "is-json": GuardSpec(type="is-json", action="block"),
        "json-schema": GuardSpec(type="json-schema", value=schema, action="block"),
    }
    base = PromptSpec.model_validate(
        {
            "name": "b",
            "version": "1.0.0",
            "model": {"id": "echo/echo"},
            "messages": [{"role": "user", "content": "x"}],
        }
    )

    def compiled(names: list[str], stage: str) -> Any:
        spec = base.model_copy(update={"guards": GuardsSpec(**{stage: [specs[n] for n in names]})})
        pv = PromptVersion(spec=spec, path=Path("bench.yaml"), digest=f"sha256:{names}{stage}")
        return compile_guards(pv)[stage]  # type: ignore[index]

    rows: dict[str, Any] = {}
    text_guards = ["no-pii", "not-regex", "injection"]
    for dirty in (False, True):
        text = text_of(args.size, dirty)
        label = "findings" if dirty else "clean"
        for name in text_guards:
            g = compiled([name], "input")
            rows[f"{name} ({label})"] = timed(lambda s, g=g: apply(g, s), text, args.repeat)
        allg = compiled(text_guards, "input")
        rows[f"all input guards ({label})"] = timed(
            lambda s, g=allg: apply(g, s), text, args.repeat
        )
    doc = json_of(args.size)
    for name in ("is-json", "json-schema"):
        g = compiled([name], "output")
        rows[f"{name} (2 kB JSON)"] = timed(lambda s, g=g: apply(g, s), doc, args.repeat)

    worst = max(rows[f"all input guards ({k})"]["median_ms"] for k in ("clean", "findings"))
    ok = worst < TARGET_MS
    if args.json:
        print(json.dumps({"size": args.size, "rows": rows, "target_ms": TARGET_MS, "ok": ok}))
    else:
        print(f"guards on a {args.size}-character text, {args.repeat} runs each")
        for name, r in rows.items():
            print(f"  {name:32} median {r['median_ms']:.3f} ms  p95 {r['p95_ms']:.3f} ms")
        print(
            f"all input guards, worst median {worst:.3f} ms: {'OK' if ok else 'MISSED'} "
            f"(target < {TARGET_MS} ms)"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
