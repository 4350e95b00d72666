"""Derived metrics: arithmetic over a run group's named metrics (promptfoo's ``derivedMetrics``).

A prompt's ``derived_metrics`` are ``{name, value}`` pairs whose value is an expression over the
group's metric sums (each assertion with a ``metric`` adds ``weight * score``, summed over the
group's records, as promptfoo sums its named scores over a prompt's tests) and ``__count`` (the
records). Each result is added to the names the next ones see, so a derived metric may use an
earlier one.

The expressions are a small arithmetic language, parsed here (never ``eval``): numbers, names,
``+ - * / % ^`` (``^`` and ``**`` are powers, as in mathjs), parentheses and the functions
``min max abs sqrt log exp round floor ceil``. As in promptfoo: a name no assertion measured
makes the expression fail, and the metric is then 0; a division by zero or another non-finite
result is ``None`` (promptfoo's NaN/Infinity, which its JSON writes as null).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping

_FUNCS: dict[str, Callable[..., float]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "sqrt": math.sqrt,
    "log": math.log,
    "exp": math.exp,
    "round": round,
    "floor": math.floor,
    "ceil": math.ceil,
}
_MAX_LEN = 2000
_MAX_DEPTH = 100  # operators and calls nested in one another (evaluation recurses)


class _Undefined(Exception):
    """A name the metrics do not hold."""


def parse(expr: str) -> ast.expr:
    """The expression's syntax tree; ValueError (with what is wrong) when it is not one of
    the arithmetic forms above."""
    if len(expr) > _MAX_LEN:
        raise ValueError(f"longer than {_MAX_LEN} characters")
    try:
        tree = ast.parse(expr.replace("^", "**").strip(), mode="eval")
    except SyntaxError as e:
        raise ValueError(f"not an arithmetic expression: {e.msg}") from None
    except (RecursionError, MemoryError):
        raise ValueError(f"nested more than {_MAX_DEPTH} deep") from None
    if _depth(tree.body) > _MAX_DEPTH:
        raise ValueError(f"nested more than {_MAX_DEPTH} deep")
    for node in ast.walk(tree):
        if isinstance(node, ast.Expression | ast.Load | ast.operator | ast.unaryop):
            continue
        if isinstance(node, ast.BinOp) and isinstance(
            node.op, ast.Add | ast.Sub | ast.Mult | ast.Div | ast.Mod | ast.Pow
        ):
            continue
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
            continue
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            continue
        if isinstance(node, ast.Name):
            continue
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _FUNCS
            and not node.keywords
        ):
            continue
        raise ValueError(
            f"{ast.unparse(node) if isinstance(node, ast.expr) else type(node).__name__!r} is "
            "not allowed: numbers, metric names, + - * / % ^, parentheses and "
            + ", ".join(sorted(_FUNCS))
        )
    return tree.body


def _depth(root: ast.AST) -> int:
    """How deep the tree nests (iteratively: the tree may be deeper than Python's stack)."""
    deepest = 0
    stack: list[tuple[ast.AST, int]] = [(root, 1)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        stack.extend((child, d + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _eval(node: ast.expr, names: Mapping[str, float]) -> float:
    if isinstance(node, ast.Constant):
        assert isinstance(node.value, int | float)
        return float(node.value)
    if isinstance(node, ast.Name):
        if node.id not in names:
            raise _Undefined(node.id)
        return float(names[node.id])
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, names)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        return float(_FUNCS[node.func.id](*(_eval(a, names) for a in node.args)))
    assert isinstance(node, ast.BinOp)
    a, b = _eval(node.left, names), _eval(node.right, names)
    if isinstance(node.op, ast.Add):
        return a + b
    if isinstance(node.op, ast.Sub):
        return a - b
    if isinstance(node.op, ast.Mult):
        return a * b
    if isinstance(node.op, ast.Div):
        if b == 0:
            return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a)
        return a / b
    if isinstance(node.op, ast.Mod):
        return math.nan if b == 0 else math.fmod(a, b)
    if abs(b) > 1e6:
        raise OverflowError("exponent too large")
    return float(a**b)


def compute(
    definitions: list[tuple[str, str]], sums: Mapping[str, float], count: int
) -> dict[str, float | None]:
    """The derived metrics, in order, over the metric ``sums`` and ``__count``."""
    names: dict[str, float] = {**sums, "__count": float(count)}
    out: dict[str, float | None] = {}
    for name, expr in definitions:
        try:
            value: float | None = _eval(parse(expr), names)
        except (_Undefined, ValueError, OverflowError, ZeroDivisionError, TypeError):
            value = 0.0  # promptfoo: an expression that fails leaves the metric at 0
        if value is not None and not math.isfinite(value):
            names[name] = value
            value = None
        else:
            names[name] = value if value is not None else 0.0
        out[name] = value
    return out
