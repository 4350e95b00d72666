"""A reduced run of bench/operating_characteristics.py: the exact enumeration of the gate's
verdict over every (worse, better) table, asserting the three targets of issue 20 on the
small-n cells (the full table, n up to 300, is in the README)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "operating_characteristics.py"


@pytest.fixture(scope="module")
def oc() -> ModuleType:
    spec = importlib.util.spec_from_file_location("operating_characteristics", BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_targets_hold_on_the_reduced_enumeration(oc: ModuleType) -> None:
    rows = [
        oc.cell(n, p, m) for m in (0.02, 0.05) for n in (10, 20, 40, 100) for p in (0.5, 0.8, 0.95)
    ]
    adv = oc.advice(120, margins=(0.05,))
    t = oc.targets(rows, adv)
    assert t["null"] <= 0.025  # P(regression | nothing changed), sup over discordance
    assert t["half"] <= 0.10  # P(regression | a true drop of half the margin)
    assert t["gap"] <= 0.02  # power given up against the exact conditional test alone
    assert adv and t["advice"] <= 0.02  # `promptops power` delivers what it states
    assert t["false_ok"] <= 0.03  # `ok` at a true drop of the margin: nominal 2.5%
    # the enumeration is not vacuous: a drop of 0.2 on 100 cases is usually caught
    big = oc.chance(100, 0.3, -0.2, oc.verdicts(100, 0.05) == 2)
    assert big > 0.9


def test_the_enumeration_can_fail(oc: ModuleType) -> None:
    """A gate that calls any drop in the estimate a regression breaks the first target."""
    n = 40
    naive = oc.np.zeros((n + 1, n + 1), dtype=bool)
    for w in range(n + 1):
        for b in range(n + 1 - w):
            naive[w, b] = w > b
    assert max(oc.chance(n, psi, 0.0, naive) for psi in oc.discordances(0.8, 0.0)) > 0.3


def test_the_readme_table_is_the_benchs_output(oc: ModuleType) -> None:
    """The README's table is measured, not typed: its rows for n <= 40 are what the bench
    prints now (the larger n are the same code, only slower)."""
    readme = (BENCH.parents[1] / "README.md").read_text(encoding="utf-8")
    text, rows = oc.table((10, 20, 40))
    lines = text.splitlines()
    assert lines[0].startswith("| margin | n | p | reg, Δ=0 |") and len(rows) == 18
    missing = [line for line in lines if line not in readme]
    assert not missing, missing


def test_futility_curtailment_changes_no_verdict(oc: ModuleType) -> None:
    table = oc.futility(seeds=20)
    rows = [line.split("|")[1:-1] for line in table.splitlines()[2:]]
    assert len(rows) == 9
    for n, _delta, plain, cut, changed in rows:
        assert int(changed) == 0 and float(cut) <= float(plain) <= int(n)
