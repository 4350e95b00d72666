"""The gate's verdict in one plain sentence, for the terminal, the PR summary and JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .compare import Comparison

_EPS = 1e-12


def _pts(x: float) -> str:
    """A difference on a 0-1 scale in points (0.12 -> '12 points')."""
    v = abs(100 * x)
    text = f"{v:.0f}" if v >= 10 or v == round(v) else f"{v:.1f}"
    return f"{text} point" + ("" if text == "1" else "s")


def explain(c: Comparison) -> str:
    """The verdict in one plain sentence."""
    if c.n_paired == 0 or c.diff is None or c.ci_low is None or c.ci_high is None:
        if c.verdict == "error":
            return c.reason[0].upper() + c.reason[1:] + "."
        return "No case has a usable result on both sides, so nothing can be compared."
    b, k = len(c.regressed), len(c.improved)
    if c.binary:
        moved = f"B fails {b} case{'s' * (b != 1)} that A passed and passes {k} that A failed"
    else:
        by = f" by more than {c.margin:g}" if c.margin > 0 else ""
        moved = f"B scores lower than A{by} on {b} case{'s' * (b != 1)} and higher on {k}"
    moved += f" (of {c.n_paired})"
    change = (
        f"a drop of {_pts(-c.diff)}"
        if c.diff < -_EPS
        else f"a gain of {_pts(c.diff)}"
        if c.diff > _EPS
        else "no change on average"
    )
    tol = f"the {_pts(c.margin)} you tolerate" if c.margin > 0 else "no drop (margin 0)"
    level = f"{100 * (1 - 2 * c.level):.4g}%"
    if c.verdict == "regression":
        text = f"{moved}; that is {change}, more than {tol}"
        if c.p_value is not None:
            text += (
                f", and too large to be luck ({c.test}: one-sided p = {c.p_value:.3g}, "
                f"at most {c.p_level:.3g})"
            )
    elif c.verdict == "ok":
        worst = f"at worst a drop of {_pts(-c.ci_low)}" if c.ci_low < 0 else "no drop at all"
        text = f"{moved}; that is {change}, and with {level} confidence {worst}, within {tol}"
    elif c.verdict == "error":
        text = c.reason[0].upper() + c.reason[1:]
    else:
        text = (
            f"{moved}; that is {change}, but anything from "
            f"{_signed_pts(c.ci_low)} to {_signed_pts(c.ci_high)} fits the data, so it cannot "
            f"tell whether the drop is within {tol}"
        )
        if c.note:
            text += f"; {c.note}"
        if c.ok_floor and c.n_paired < c.ok_floor:
            text += f" (below {c.ok_floor} cases no data can show ok at margin {c.margin:g})"
    fails = []
    if c.failed_a:
        fails.append(f"calls failed on A for {len(c.failed_a)} case(s), counted as A failing")
    if c.failed_b:
        fails.append(f"calls failed on B for {len(c.failed_b)} case(s), counted as B failing")
    if c.invalid:
        fails.append(f"{len(c.invalid)} non-finite value(s) counted as failures")
    if fails and c.verdict != "error":
        text += "; " + "; ".join(fails)
    return text + "."


def _signed_pts(x: float) -> str:
    return ("+" if x > 0 else "−" if x < 0 else "") + _pts(x)
