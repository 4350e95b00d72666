"""``expr``: an inline Python expression over the output, evaluated in a restricted
environment. It returns a bool (pass) or a score in [0, 1] (pass at ``threshold``, 0.5).

    - {type: expr, value: "len(output.split()) <= 50 and expected.lower() in output.lower()"}

Names: ``output``, ``expected``, ``vars``, ``metadata``, ``tool_calls``, ``finish_reason`` and
a few builtins (:data:`exprruntime.BUILTINS`). What keeps it contained:

- the expression is parsed with :mod:`ast` and only the node types in :data:`_NODES` are
  allowed: no imports, lambdas, assignments, walrus, starred calls or statements;
- no name or attribute starting with ``_``, and attributes only from :data:`METHODS` (plain
  string/list/dict methods: no ``format``, which can reach attributes through a format string);
- builtins are exactly :data:`exprruntime.BUILTINS` (no ``getattr``, ``type``, ``open``, ``eval``...);
- sizes are bounded: ``range`` to 100,000 items, ``*`` on strings/lists, ``**``/``<<`` on
  integers and widths in ``%``-formats and f-string format specs checked before they run,
  the expression to 2,000 characters;
- a time limit (1 s, or the assertion's ``timeout:``) enforced by a trace function on every
  Python-level call and line, in a helper process (:mod:`promptops.assertions.exprruntime`)
  that is killed a second past it and whose memory is capped: one C call (``sum`` of lists,
  ``round(1, -10**9)``, a ``join`` of a huge list) cannot hang or exhaust the eval loop.

It is a guard for a repository's own test files, not a sandbox for hostile code: the
``python`` assertion type is the place for real code.
"""

from __future__ import annotations

import ast
from functools import cache
from types import CodeType
from typing import Any

from promptops.spec import AssertionSpec

from .base import AssertionConfigError, AssertionContext, AssertionResult, assertion
from .exprruntime import TIME_LIMIT, run, wide

MAX_CHARS = 2000

_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Pow,
    ast.LShift,
    ast.RShift,
    ast.BitAnd,
    ast.BitOr,
    ast.BitXor,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.Invert,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
    ast.IfExp,
    ast.Call,
    ast.keyword,
    ast.Name,
    ast.Load,
    ast.Store,
    ast.Constant,
    ast.Subscript,
    ast.Slice,
    ast.Attribute,
    ast.List,
    ast.Tuple,
    ast.Dict,
    ast.Set,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
    ast.comprehension,
    ast.JoinedStr,
    ast.FormattedValue,
)

METHODS = frozenset(
    {
        # str
        "lower",
        "upper",
        "casefold",
        "strip",
        "lstrip",
        "rstrip",
        "startswith",
        "endswith",
        "split",
        "rsplit",
        "splitlines",
        "count",
        "find",
        "rfind",
        "replace",
        "join",
        "isdigit",
        "isalpha",
        "isalnum",
        "isnumeric",
        "isspace",
        "isupper",
        "islower",
        "title",
        # dict
        "get",
        "keys",
        "values",
        "items",
        # list
        "index",
    }
)


_CHECKED = {ast.Mult: "*", ast.Pow: "**", ast.LShift: "<<", ast.Mod: "%"}


class _Guard(ast.NodeTransformer):
    """Routes ``*``, ``**``, ``<<`` and ``%`` through :func:`exprruntime.binop` (added after
    validation, so the ``__binop`` name is ours, never the user's)."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        op = _CHECKED.get(type(node.op))
        if op is None:
            return node
        call = ast.Call(
            func=ast.Name(id="__binop", ctx=ast.Load()),
            args=[ast.Constant(op), node.left, node.right],
            keywords=[],
        )
        return ast.copy_location(call, node)


def validate(source: str) -> ast.Expression:
    """Parse and check an expression; raises AssertionConfigError naming what is refused."""
    if len(source) > MAX_CHARS:
        raise AssertionConfigError(f"expr: expression is over {MAX_CHARS} characters")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as e:
        raise AssertionConfigError(f"expr: syntax error: {e.msg}") from None
    for node in ast.walk(tree):
        if not isinstance(node, _NODES):
            raise AssertionConfigError(f"expr: {type(node).__name__} is not allowed")
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise AssertionConfigError(f"expr: name {node.id!r} is not allowed")
        if isinstance(node, ast.Attribute) and (
            node.attr.startswith("_") or node.attr not in METHODS
        ):
            raise AssertionConfigError(
                f"expr: attribute {node.attr!r} is not allowed (methods: {', '.join(sorted(METHODS))})"
            )
        if isinstance(node, ast.Call) and any(k.arg is None for k in node.keywords):
            raise AssertionConfigError("expr: **kwargs is not allowed")
        if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
            parts = getattr(node.format_spec, "values", [])
            literal = all(isinstance(p, ast.Constant) and isinstance(p.value, str) for p in parts)
            if not literal or wide("".join(p.value for p in parts)):
                raise AssertionConfigError(
                    "expr: an f-string format spec must be a literal with small widths"
                )
    return tree


@cache
def _compile(source: str) -> CodeType:
    tree = _Guard().visit(validate(source))
    ast.fix_missing_locations(tree)
    return compile(tree, "<expr>", "eval")


def evaluate(source: str, names: dict[str, Any], time_limit: float = TIME_LIMIT) -> Any:
    """Evaluate ``source`` over ``names`` in the restricted environment, in this process
    (the ``expr`` check uses a helper process: :func:`limits.expr_eval`)."""
    return run(_compile(source), names, time_limit)


def _lint(spec: AssertionSpec) -> list[str]:
    if not isinstance(spec.value, str):
        return ["value must be a Python expression (a string)"]
    try:
        validate(spec.value)
    except AssertionConfigError as e:
        return [e.message]
    return []


@assertion("expr", lint=_lint, fields=("timeout",))
async def expr(spec: AssertionSpec, value: Any, ctx: AssertionContext) -> AssertionResult:
    """A restricted Python expression over output, expected, vars, metadata, tool_calls: a bool, or a score in [0, 1]."""
    if not isinstance(value, str):
        raise AssertionConfigError("expr: value must be a Python expression (a string)")
    names = {
        "output": ctx.output,
        "expected": ctx.expected,
        "vars": ctx.vars,
        "metadata": ctx.metadata,
        "tool_calls": ctx.tool_calls,
        "finish_reason": ctx.finish_reason,
    }
    from .limits import expr_eval, off_loop

    short = " ".join(value.split())[:80]
    code = _compile(value)  # refused expressions are config errors, named, before any process
    limit = spec.timeout or TIME_LIMIT
    reply = await off_loop(lambda: expr_eval(code, names, limit), None, "expr")
    if "l" in reply:
        return AssertionResult(False, 0.0, "", error=f"expr: {reply['l']}")
    if "e" in reply:
        return AssertionResult(False, 0.0, "", error=f"expr raised {reply['e']}")
    if "r" not in reply:
        return AssertionResult(False, 0.0, "", error=_not_a_result(reply["x"], reply["s"]))
    result = reply["r"]
    if isinstance(result, bool):
        return AssertionResult(result, 1.0 if result else 0.0, f"{short} -> {result}")
    if isinstance(result, int | float) and 0 <= result <= 1:
        threshold = spec.threshold if spec.threshold is not None else 0.5
        return AssertionResult(result >= threshold - 1e-9, float(result), f"{short} -> {result:g}")
    return AssertionResult(False, 0.0, "", error=_not_a_result(type(result).__name__, str(result)))


def _not_a_result(kind: str, text: str) -> str:
    return f"expr returned {kind} {text[:40]!r}; return a bool or a score in [0, 1]"
