"""What a compiled ``expr`` runs with: its builtins, the size checks of ``*``, ``**``, ``<<``
and ``%``, and the time limit of its trace function. Standard library only, because it is also
the helper process that evaluates expressions (run by path as ``python -I .../exprruntime.py``,
without promptops): an expression can hold the GIL in one C call for as long as it likes
(``sum`` of lists, ``round(1, -10**9)``, a ``join`` of a huge list), which no trace function
can interrupt, so the eval loop waits for it in another process, killed past its limit, with
its memory capped.

The helper writes ``{}`` when it is ready, then answers one JSON line per request line
``{"c": base64 marshal of the code, "n": base64 pickle of the names, "t": seconds}``:
``{"r": a bool or number}``, ``{"x": type name, "s": its text}`` for another result,
``{"l": a limit it hit}`` or ``{"e": "ErrorType: message"}``.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any

MAX_ITEMS = 100_000
MAX_BITS = 100_000
TIME_LIMIT = 1.0
MEMORY_LIMIT = 2 << 30  # bytes of address space for the helper process


class Limit(Exception):
    """The expression hit a size or time limit."""


def _range(*args: int) -> range:
    r = range(*args)
    if len(r) > MAX_ITEMS:
        raise Limit(f"range of {len(r)} items is over the limit of {MAX_ITEMS}")
    return r


def _parse_json(text: str) -> Any:
    return json.loads(text)


BUILTINS: dict[str, Any] = {
    "len": len,
    "min": min,
    "max": max,
    "sum": sum,
    "abs": abs,
    "round": round,
    "sorted": sorted,
    "any": any,
    "all": all,
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "list": list,
    "dict": dict,
    "set": set,
    "tuple": tuple,
    "range": _range,
    "enumerate": enumerate,
    "zip": zip,
    "reversed": reversed,
    "parse_json": _parse_json,
    "True": True,
    "False": False,
    "None": None,
}


def _sized(value: Any) -> int | None:
    return len(value) if isinstance(value, str | bytes | list | tuple) else None


_WIDTHS = re.compile(r"\d+|\*")


def wide(spec: str) -> bool:
    """Whether a format spec or %-format asks for a width or precision over the limit."""
    return any(m == "*" or int(m) > MAX_ITEMS for m in _WIDTHS.findall(spec))


def binop(op: str, a: Any, b: Any) -> Any:
    """``a op b`` for the operators that can blow up memory, checked before they run."""
    if op == "%":
        if isinstance(a, str) and wide(a):
            raise Limit("%-format width over the limit")
        return a % b
    if op == "*":
        for seq, n in ((a, b), (b, a)):
            size = _sized(seq)
            if size is not None and isinstance(n, int) and size * max(n, 0) > MAX_ITEMS:
                raise Limit(f"repeating a sequence to {size * n} items is over the limit")
        return a * b
    if op == "**":
        ints = isinstance(a, int) and isinstance(b, int)
        if ints and b > 0 and max(abs(a).bit_length(), 1) * b > MAX_BITS:
            raise Limit("integer power over the size limit")
        return a**b
    if isinstance(a, int) and isinstance(b, int) and b > MAX_BITS:  # <<
        raise Limit("shift over the size limit")
    return a << b


def run(code: CodeType, names: dict[str, Any], time_limit: float = TIME_LIMIT) -> Any:
    """Evaluate compiled ``code`` over ``names``, stopped by a trace function after
    ``time_limit`` seconds of Python-level work."""
    env: dict[str, Any] = {"__builtins__": BUILTINS, "__binop": binop}
    deadline = time.monotonic() + time_limit

    def tracer(frame: FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        if time.monotonic() > deadline:
            raise Limit(f"expression ran over {time_limit:g}s")
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        return eval(code, env, dict(names))
    finally:
        sys.settrace(previous)


def answer(request: dict[str, Any]) -> dict[str, Any]:
    import base64
    import marshal
    import pickle

    code = marshal.loads(base64.b64decode(request["c"]))
    names = pickle.loads(base64.b64decode(request["n"]))  # from the parent process
    try:
        result = run(code, names, float(request["t"]))
    except Limit as e:
        return {"l": str(e)}
    except Exception as e:
        return {"e": f"{type(e).__name__}: {e}"}
    if isinstance(result, bool | int | float):
        return {"r": result}
    return {"x": type(result).__name__, "s": str(result)[:40]}


def main() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    except (ImportError, ValueError, OSError):  # not on this platform: the time limit stays
        pass
    sys.stdout.write("{}\n")  # ready
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
