"""promptfoo's list-valued vars, expanded as promptfoo's evaluator does
(``generateVarCombinations``), for :mod:`promptops.importers.promptfoo`.

A test's vars are its ``defaultTest`` vars overlaid with its own. A var whose value is a list
whose first item is a string takes each item in turn, and a ``file://`` var with a glob pattern
takes each file it matches: the test becomes one case per combination (the cartesian product,
the first var varying slowest). Any other list (numbers, objects, empty) is one value, an
array. ``options.disableVarExpansion`` (on the test or ``defaultTest``) or
``PROMPTFOO_DISABLE_VAR_EXPANSION`` (the config's ``env`` or the environment) turn it off.
"""

from __future__ import annotations

import glob
import itertools
import math
import os
from pathlib import Path
from typing import Any

from ..errors import PromptOpsError
from .promptfoo_parts import Ctx, slug, var_value

MAX_EXPANDED = 10_000  # cases the expansion may produce in one import
_GLOB = "*?["
_TRUE = {"1", "true", "yes", "yup", "yeppers"}  # promptfoo's getEnvBool


def disabled_by_env(config: dict[str, Any]) -> bool:
    """``PROMPTFOO_DISABLE_VAR_EXPANSION`` from the config's ``env``, else the environment."""
    env = config.get("env")
    value = env.get("PROMPTFOO_DISABLE_VAR_EXPANSION") if isinstance(env, dict) else None
    if value is None:
        value = os.environ.get("PROMPTFOO_DISABLE_VAR_EXPANSION")
    return str(value).lower() in _TRUE if value not in (None, "") else False


def expands(value: Any) -> bool:
    """Whether promptfoo would run one case per value of this var."""
    if isinstance(value, list):
        return bool(value) and isinstance(value[0], str)
    return isinstance(value, str) and value.startswith("file://") and any(c in value for c in _GLOB)


def choices(ctx: Ctx, value: Any, loc: tuple[str | int, ...]) -> list[Any]:
    """The values an expanding var takes, one per case (a glob: its files, sorted)."""
    if isinstance(value, list):
        return list(value)
    pattern = str(value).removeprefix("file://")
    # relative to the config's directory (whose own name is not read as a pattern)
    found = glob.glob(pattern, root_dir=ctx.base, recursive=True)
    for p in found:
        ctx.inside(p, loc)  # a match outside the project (../, a symlink) is refused, unread
    files = sorted(p for p in found if (ctx.base / p).is_file())
    if not files:
        raise PromptOpsError(f"{ctx.where(*loc)}: {value}: no file matches")
    return [f"file://{p}" for p in files]


def label(value: Any, index: int) -> str:
    """A value's part of its case id: the value (a file: its name), else its 1-based index."""
    text = str(value)
    if text.startswith("file://"):
        text = Path(text.removeprefix("file://")).stem
    return slug(text, "")[:20].strip("-._") or str(index + 1)


def check_size(ctx: Ctx, loc: tuple[str | int, ...], sizes: dict[str, int], before: int) -> int:
    """The number of cases the expansion gives; over :data:`MAX_EXPANDED` is an error."""
    n = math.prod(sizes.values())
    if before + n > MAX_EXPANDED:
        product = " x ".join(f"{k}: {m}" for k, m in sizes.items())
        prior = f"; {before} came from earlier tests" if before else ""
        raise PromptOpsError(
            f"{ctx.where(*loc, 'vars')}: list-valued vars expand to {n} case(s) ({product})"
            f"{prior}; the limit is {MAX_EXPANDED} in one import: split the test, shorten "
            "the lists or set options.disableVarExpansion: true to keep them as arrays"
        )
    return n


def cases_of_test(
    ctx: Ctx,
    listed: dict[str, Any],
    own: dict[str, Any],
    loc: tuple[str | int, ...],
    off: bool,
    before: int,
    var_locs: dict[str, tuple[str | int, ...]] | None = None,
) -> tuple[list[tuple[str | None, dict[str, Any]]], int]:
    """One test's cases: (id suffix, vars) each, the suffix None when nothing expanded; and
    how many cases expansion made. ``listed``: the ``defaultTest`` vars that expand;
    ``var_locs``: where each of ``own`` is, when not in the test at ``loc`` (a scenario's)."""
    raw = {**listed, **own}
    locs = var_locs or {}

    def where(k: str) -> tuple[str | int, ...]:
        if k not in own:
            return ("defaultTest", "vars", k)
        return locs.get(k, (*loc, "vars", k))

    plan = {} if off else {k: choices(ctx, v, where(k)) for k, v in raw.items() if expands(v)}
    n = check_size(ctx, loc, {k: len(v) for k, v in plan.items()}, before) if plan else 0
    keys = list(raw)
    options: list[list[tuple[str | None, Any]]] = [
        [(label(c, j), var_value(ctx, c, where(k))) for j, c in enumerate(plan[k])]
        if k in plan
        else [(None, var_value(ctx, raw[k], where(k)))]
        for k in keys
    ]
    out: list[tuple[str | None, dict[str, Any]]] = []
    for combo in itertools.product(*options):  # the first var varies slowest, as in promptfoo
        parts = [p for p, _ in combo if p is not None]
        vars_ = {k: v for k, (_, v) in zip(keys, combo, strict=True) if v is not None}
        out.append(("-".join(parts) if plan else None, vars_))
    return out, n
