"""The Jinja sandbox with resource limits: a template cannot build a huge string or loop
without end, e.g. ``{{ 'a' * 10**10 }}`` is an error naming the limit instead of an OOM kill.

jinja2's ``SandboxedEnvironment`` already blocks Python internals and caps ``range()`` at
100,000 items. On top of it, per render:

- ``max_output`` (default 20,000,000 characters): the rendered text, and every string or list
  that ``*``, ``+``, ``~``, ``%``, padding (``center``, ``ljust``, ``format`` widths...) or
  ``replace`` would build, must stay under it; ``**`` may not build integers over 10,000 bits;
- ``max_iterations`` (default 100,000): loop iterations of all ``{% for %}`` loops together;
- ``max_total`` (default 50,000,000): everything one render builds, together: the characters
  of the strings and the items of the lists, dicts and sets that operators, calls, filters,
  ``{% set %}`` blocks and macros make or grow. Each string may be under ``max_output`` and
  still 40 of them kept in a list took 781 MB; the total is what bounds a render's memory.

All are attributes of :class:`LimitedSandbox`; assign another value on
``promptops.render.environment()`` to override them for the process.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from jinja2.visitor import NodeTransformer

MAX_OUTPUT = 20_000_000
MAX_ITERATIONS = 100_000
MAX_TOTAL = 50_000_000
MAX_INT_BITS = 10_000
_LOOP = "__promptops_loop"
_CONCAT = "__promptops_concat"
_WIDTH = re.compile(r"\d{8,}|\*")  # a format width of ten million or more, or one from an arg
_PADDERS = {"center", "ljust", "rjust", "zfill", "expandtabs", "format", "format_map", "indent"}
_PADDER_FILTERS = {"center", "indent", "wordwrap", "truncate", "format"}


class LimitError(SecurityError):
    """A template went past a resource limit of the sandbox."""


@dataclass
class _Budget:
    iterations: int = 0
    built: int = 0  # characters and container items made so far (see max_total)


_BUDGET: ContextVar[_Budget | None] = ContextVar("promptops_render_budget", default=None)


def _size(value: Any) -> int | None:
    return len(value) if isinstance(value, str | list | tuple) else None


_SIZED = (str, bytes, list, tuple, dict, set, frozenset)


def _measure(value: Any) -> int:
    """What a value weighs against ``max_total``: a string's characters, a container's items
    (its items were counted when they were built)."""
    return len(value) if isinstance(value, _SIZED) else 0


@contextmanager
def budget() -> Iterator[None]:
    """One render's budget (loop iterations, ``max_total``): every render and expression
    evaluation runs inside one."""
    token = _BUDGET.set(_Budget())
    try:
        yield
    finally:
        _BUDGET.reset(token)


class LimitedSandbox(SandboxedEnvironment):
    """SandboxedEnvironment that bounds output size, loop iterations and big arithmetic."""

    intercepted_binops = frozenset(["*", "**", "%", "+"])
    max_output = MAX_OUTPUT
    max_iterations = MAX_ITERATIONS
    max_total = MAX_TOTAL

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # our own helpers, called straight (the rewritten loops and '~' of every render)
        self._helpers = (self._count_loop, self._concat)
        self.globals[_LOOP], self.globals[_CONCAT] = self._helpers
        for name in list(self.filters):
            self.add_filter(name, self.filters[name])

    def add_filter(self, name: str, fn: Callable[..., Any]) -> None:
        """Register a filter whose results count against the render's limits (every filter
        must come through here: ``filters[name] = fn`` would be unbounded)."""
        self.filters[name] = self._guard_filter(name, fn)

    def _count(self, n: int, what: str) -> None:
        """Count ``n`` characters or items against the render's ``max_total``."""
        b = _BUDGET.get()
        if b is None or n <= 0:
            return
        b.built += n
        if b.built > self.max_total:
            raise LimitError(
                f"this render built more than {self.max_total:,} characters and container "
                f"items in all ({what} went past it; LimitedSandbox.max_total)"
            )

    def _spend(self, value: Any, what: str) -> Any:
        """Count ``value`` against ``max_total`` (and a string against ``max_output``);
        returns it."""
        if not isinstance(value, _SIZED):
            return value
        n = len(value)
        if n > self.max_output and isinstance(value, str):
            raise self._too_big(what, n)
        if n:
            self._count(n, what)
        return value

    def _joinable(self, sep: Any, value: Any) -> Any:
        """``value`` ready to be joined with ``sep`` (an iterator becomes a list), refused
        when the joined string would pass ``max_output``: checked before it is built."""
        gap = len(sep) if isinstance(sep, str) else len(str(sep))
        if isinstance(value, str):
            n = len(value) + gap * max(0, len(value) - 1)
        else:
            value = list(value)
            n = sum(len(x) if isinstance(x, str) else len(str(x)) for x in value)
            n += gap * max(0, len(value) - 1)
        if n > self.max_output:
            raise self._too_big("join", n)
        return value

    def concat(self, parts: Iterable[Any]) -> str:
        """The join of a ``{% set %}`` block's and a macro's output (Jinja's ``"".join``)."""
        items = [p if isinstance(p, str) else str(p) for p in parts]
        n = sum(len(p) for p in items)
        if n > self.max_output:
            raise self._too_big("a block", n)
        return str(self._spend("".join(items), "a block"))

    def _too_big(self, what: str, n: float) -> LimitError:
        return LimitError(
            f"{what} would make {n:,.0f} characters, over the sandbox limit of "
            f"{self.max_output:,} (LimitedSandbox.max_output)"
        )

    def _check_args(self, what: str, args: Iterable[Any]) -> None:
        for a in args:
            if isinstance(a, int) and not isinstance(a, bool) and a > self.max_output:
                raise self._too_big(what, a)
            if what.endswith("format") and isinstance(a, str) and _WIDTH.search(a):
                raise LimitError(
                    f"{what}: field widths of ten million or more (or '*') are refused"
                )

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                size = _size(seq)
                if size is not None and isinstance(n, int) and size * n > self.max_output:
                    raise self._too_big("'*'", size * n)
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
                bits = right * math.log2(abs(left))
                if bits > MAX_INT_BITS:
                    raise LimitError(
                        f"'**' would make a {bits:,.0f}-bit number (limit {MAX_INT_BITS:,} bits)"
                    )
        elif operator == "%":
            if isinstance(left, str) and _WIDTH.search(left):
                raise LimitError("'%': field widths of ten million or more (or '*') are refused")
        elif operator == "+":
            a, b = _size(left), _size(right)
            if a is not None and b is not None and a + b > self.max_output:
                raise self._too_big("'+'", a + b)
        return self._spend(super().call_binop(context, operator, left, right), f"'{operator}'")

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if __obj is __self._helpers[0] or __obj is __self._helpers[1]:
            return __obj(*args)  # (Jinja's keywords, _loop_vars and _block_vars, are its own)
        name = getattr(__obj, "__name__", "")
        if isinstance(getattr(__obj, "__self__", None), str):
            if name in _PADDERS:
                extra = [__obj.__self__] if name.startswith("format") else []
                __self._check_args(f"str.{name}", [*extra, *args, *kwargs.values()])
            elif name == "replace" and len(args) >= 2:
                s, new = __obj.__self__, args[1]
                if isinstance(new, str):
                    worst = len(s) + (len(s) + 1) * len(new)
                    if worst > __self.max_output:
                        raise __self._too_big("str.replace", worst)
            elif name == "join" and args:
                args = (__self._joinable(__obj.__self__, args[0]), *args[1:])
        owner = getattr(__obj, "__self__", None)
        container = owner if isinstance(owner, list | dict | set) else None
        before = 0 if container is None else len(container)
        out = super().call(__context, __obj, *args, **kwargs)
        if container is not None:  # xs.append(...), d.update(...): the new items
            __self._count(len(container) - before, name)
        if isinstance(__obj, jinja2.runtime.Macro):
            return out  # its output was counted by concat
        return __self._spend(out, name or "a call")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``str.format`` in a template (the sandbox wraps it on access): no huge widths."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt = value.__self__

        def checked(*args: Any, **kwargs: Any) -> str:
            self._check_args("str.format", [fmt, *args, *kwargs.values()])
            return wrapped(*args, **kwargs)

        return checked

    def _guard_filter(self, name: str, fn: Any) -> Any:
        env = self
        label = f"|{name}"
        checked = name == "replace" or name == "join" or name in _PADDER_FILTERS

        def guarded(*args: Any, **kwargs: Any) -> Any:
            if not checked:  # the common case: only the result is counted
                return env._spend(fn(*args, **kwargs), label)
            values = [a for a in args if not isinstance(a, _PASSED)]
            if name == "replace" and len(values) >= 3 and isinstance(values[2], str):
                s = str(values[0])
                worst = len(s) + (len(s) + 1) * len(values[2])
                if worst > env.max_output:
                    raise env._too_big("replace", worst)
            elif name in _PADDER_FILTERS:
                env._check_args(name, values if name == "format" else values[1:])
                env._check_args(name, kwargs.values())
            elif name == "join" and values:
                sep = values[1] if len(values) > 1 else kwargs.get("d", "")
                items = env._joinable(sep, values[0])
                i = next(i for i, a in enumerate(args) if a is values[0])
                args = (*args[:i], items, *args[i + 1 :])
            return env._spend(fn(*args, **kwargs), label)

        for attr in ("jinja_pass_arg",):
            if hasattr(fn, attr):
                setattr(guarded, attr, getattr(fn, attr))
        return guarded

    def _count_loop(self, iterable: Any) -> Iterator[Any]:
        budget = _BUDGET.get()
        if budget is None:
            budget = _Budget()
        for item in iterable:
            budget.iterations += 1
            if budget.iterations > self.max_iterations:
                raise LimitError(
                    f"loops ran more than {self.max_iterations:,} iterations "
                    f"(LimitedSandbox.max_iterations)"
                )
            yield item

    def _concat(self, *parts: Any) -> str:
        out = []
        size = 0
        for p in parts:
            s = str(p)
            size += len(s)
            if size > self.max_output:
                raise self._too_big("'~'", size)
            out.append(s)
        return str(self._spend("".join(out), "'~'"))

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """Route every loop through an iteration counter and every ``~`` through a sized join."""
        tree = super()._parse(source, name, filename)
        result: nodes.Template = _Rewrite().visit(tree)
        return result


class _Rewrite(NodeTransformer):
    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Call(
            nodes.Name(_LOOP, "load"), [node.iter], [], None, None, lineno=node.lineno
        )
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Call(
            nodes.Name(_CONCAT, "load"), list(node.nodes), [], None, None, lineno=node.lineno
        )


INTERNAL_NAMES = frozenset([_LOOP, _CONCAT])
_PASSED = (jinja2.runtime.Context, nodes.EvalContext, jinja2.Environment)


def render_limited(template: jinja2.Template, context: dict[str, Any]) -> str:
    """Render with a fresh iteration budget, stopping once the text passes ``max_output``."""
    env = template.environment
    limit = getattr(env, "max_output", MAX_OUTPUT)
    with budget():
        chunks = []
        size = 0
        for chunk in template.generate(context):
            size += len(chunk)
            if size > limit:
                raise LimitError(
                    f"the rendered text is over the sandbox limit of {limit:,} characters "
                    f"(LimitedSandbox.max_output)"
                )
            chunks.append(chunk)
        return "".join(chunks)


def static_problems(source: str, env: SandboxedEnvironment) -> list[tuple[int, str]]:
    """What lint can see without rendering: constant ``*`` and ``**`` past the limits."""
    try:
        tree = env.parse(source)
    except jinja2.TemplateSyntaxError:
        return []
    out: list[tuple[int, str]] = []
    limit = getattr(env, "max_output", MAX_OUTPUT)
    for node in tree.find_all(nodes.BinExpr):
        if isinstance(node, nodes.Pow):
            bits = _pow_bits(node)
            if bits is not None and bits > MAX_INT_BITS:
                out.append(
                    (node.lineno, f"'**' makes a {bits:,.0f}-bit number (limit {MAX_INT_BITS:,})")
                )
        elif isinstance(node, nodes.Mul):
            for seq, n in ((node.left, node.right), (node.right, node.left)):
                size = _size(seq.value) if isinstance(seq, nodes.Const) else None
                count = _const_int(n)
                if size is not None and count is not None and size * count > limit:
                    out.append(
                        (
                            node.lineno,
                            f"'*' makes {size * count:,.0f} characters, over the sandbox "
                            f"limit of {limit:,}",
                        )
                    )
    return out


def _pow_bits(node: nodes.Pow) -> float | None:
    base, exp = _const_int(node.left), _const_int(node.right)
    if base is None or exp is None or abs(base) <= 1 or exp <= 0:
        return None
    return exp * math.log2(abs(base))


def _const_int(node: nodes.Node) -> float | None:
    """A constant integer expression's value (as a float: it may be astronomically big)."""
    if isinstance(node, nodes.Const) and isinstance(node.value, int):
        return float(node.value)
    if isinstance(node, nodes.Pow):
        bits = _pow_bits(node)
        base = _const_int(node.left)
        exp = _const_int(node.right)
        if bits is None or base is None or exp is None:
            return None
        return math.inf if bits > 1000 else float(base) ** exp
    if isinstance(node, nodes.Mul):
        a, b = _const_int(node.left), _const_int(node.right)
        return None if a is None or b is None else a * b
    return None
