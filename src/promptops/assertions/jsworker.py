"""The helper process that runs JavaScript (``javascript`` assertions and ``transform``s) in
QuickJS: standard library and the ``quickjs`` package only, run by path as
``python -I .../jsworker.py`` without promptops.

Each request gets a fresh QuickJS context with nothing but the ECMAScript built-ins: no
``require``, ``process``, ``fetch``, ``std``/``os`` modules, timers or host callables; its heap
is capped (``m`` bytes) and its run interrupted at ``t`` seconds. A regex can backtrack in one
C call that QuickJS does not interrupt, so the parent kills this process past the limit, and
its address space is capped too.

The helper writes ``{}`` when it is ready, then answers one JSON line per request line
``{"k": "assert" | "transform", "c": code, "o": output, "x": context, "t": seconds,
"m": bytes}``: ``{"r": result}`` (for ``assert``: a bool, a number or ``{pass, score,
reason}``; for ``transform``: any JSON value) or ``{"e": message}``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

MEMORY_LIMIT = 1 << 30  # bytes of address space for the helper process

# promptfoo's own rules (src/assertions/javascript.ts, src/util/transform.ts), in JavaScript so
# that they read the code exactly as promptfoo does
PRELUDE = r"""
function __escaped(code, index) {
  let n = 0;
  for (let i = index - 1; i >= 0 && code[i] === "\\"; i--) n++;
  return n % 2 === 1;
}
function __lastSemicolon(code) {
  let sq = false, dq = false, tq = false, last = -1;
  for (let i = 0; i < code.length; i++) {
    const ch = code[i];
    if (!__escaped(code, i)) {
      if (ch === "'" && !dq && !tq) sq = !sq;
      else if (ch === '"' && !sq && !tq) dq = !dq;
      else if (ch === "`" && !sq && !dq) tq = !tq;
    }
    if (ch === ";" && !sq && !dq && !tq) last = i;
  }
  return last;
}
function __assertBody(code) {
  const trimmed = code.trim().replace(/;+\s*$/, "");
  if (/^(const|let|var)\s/.test(trimmed)) {
    const last = __lastSemicolon(trimmed);
    if (last !== -1) {
      const statements = trimmed.slice(0, last + 1);
      const expression = trimmed.slice(last + 1).trim();
      if (expression) return `${statements} return ${expression}`;
    }
    return trimmed;
  }
  return `return ${trimmed}`;
}
function __isGrading(r) {
  return typeof r === "object" && r !== null && typeof r.pass === "boolean" &&
    typeof r.score === "number" && typeof r.reason === "string";
}
globalThis.__state = null;
(function () {
  const req = JSON.parse(globalThis.__input);
  let fn;
  if (req.k === "assert") {
    const code = req.c.trimEnd();
    fn = new Function("output", "context", "process", code.includes("\n") ? code : __assertBody(code));
  } else {
    fn = new Function("output", "context", "process", req.c.includes("\n") ? req.c : `return ${req.c}`);
  }
  Promise.resolve()
    .then(() => fn(req.o, req.x, undefined))
    .then((v) => {
      if (req.k === "assert") {
        if (typeof v === "boolean" || typeof v === "number") return { r: v };
        if (__isGrading(v)) return { r: { pass: v.pass, score: v.score, reason: v.reason } };
        let shown;
        try { shown = JSON.stringify(v); } catch (e) { shown = String(v); }
        return { e: `Custom function must return a boolean, number, or GradingResult object. Got type ${typeof v}: ${shown}` };
      }
      if (v === null || v === undefined) return { e: `transform returned ${v}` };
      return { r: v };
    })
    .then((out) => { globalThis.__state = out; },
          (e) => { globalThis.__state = { e: (e && e.name ? e.name + ": " : "") + (e && e.message !== undefined ? e.message : String(e)) }; });
})();
"""


def answer(request: dict[str, Any]) -> dict[str, Any]:
    import quickjs

    ctx = quickjs.Context()
    ctx.set_memory_limit(int(request["m"]))
    ctx.set_time_limit(float(request["t"]))
    ctx.set_max_stack_size(1 << 20)
    ctx.set("__input", json.dumps({k: request[k] for k in ("k", "c", "o", "x")}))
    try:
        ctx.eval(PRELUDE)
        while ctx.execute_pending_job():
            pass
        state = ctx.eval("JSON.stringify(globalThis.__state)")
    except quickjs.JSException as e:
        first = str(e).splitlines()[0] if str(e) else "error"
        if "interrupted" in first:
            return {"e": f"ran over {float(request['t']):g}s"}
        return {"e": first}
    except quickjs.StackOverflow:
        return {"e": "InternalError: stack overflow"}
    if not isinstance(state, str) or state == "null":
        return {"e": "the function's promise never settled"}
    reply: dict[str, Any] = json.loads(state)
    if reply.get("e") == "InternalError: interrupted":
        return {"e": f"ran over {float(request['t']):g}s"}
    return reply


def main() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    except (ImportError, ValueError, OSError):  # not on this platform: the heap cap stays
        pass
    import quickjs  # noqa: F401  (imported before "ready": not counted against a check)

    sys.stdout.write("{}\n")
    sys.stdout.flush()
    for line in sys.stdin:
        try:
            reply = answer(json.loads(line))
        except Exception as e:  # MemoryError included: the check fails with it
            reply = {"e": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
