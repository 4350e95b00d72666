"""``derived_metrics``: promptfoo's derivedMetrics arithmetic, parsed (never eval'd), over a
run group's metric sums; in the prompt file, lint and the run summary."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from promptops.derived import compute, parse

Cli = Callable[..., Result]


def test_arithmetic_as_mathjs() -> None:
    got = compute(
        [
            ("rate", "tp / (tp + fp)"),
            ("pow", "2 ^ 3 + 2 ** 2"),
            ("chain", "rate * 2 - -1"),
            ("fns", "max(tp, fp) + min(tp, fp) + abs(-1) + sqrt(4) + round(0.4)"),
            ("mod", "7 % 4"),
            ("count", "__count"),
        ],
        {"tp": 3.0, "fp": 1.0},
        5,
    )
    assert got == {"rate": 0.75, "pow": 12.0, "chain": 2.5, "fns": 7.0, "mod": 3.0, "count": 5.0}


def test_what_promptfoo_does_with_failures_and_non_finite_values() -> None:
    got = compute(
        [("nan", "z / z"), ("inf", "1 / z"), ("after", "nan + 1"), ("unknown", "nope * 2")],
        {"z": 0.0},
        1,
    )
    assert got == {"nan": None, "inf": None, "after": None, "unknown": 0.0}


@pytest.mark.parametrize(
    "expr",
    [
        "__import__('os').system('x')",
        "a.b",
        "a[0]",
        "lambda: 1",
        "'text'",
        "a if b else c",
        "max(a, key=b)",
        "open('x')",
        "x" * 2001,
        "+".join(["1"] * 999),  # nested deeper than evaluation may recurse
    ],
)
def test_only_arithmetic_parses(expr: str) -> None:
    with pytest.raises(ValueError):
        parse(expr)


def test_a_huge_power_is_a_failure_not_a_hang() -> None:
    assert compute([("big", "10 ^ 10000000")], {}, 1) == {"big": 0.0}
    assert not math.isnan(compute([("ok", "2 ^ 10")], {}, 1)["ok"] or 0.0)


def test_prompt_file_lint_and_run_summary(
    project: Path, cli: Cli, write: Callable[..., Path]
) -> None:
    write(
        "prompts/dm/1.0.0.yaml",
        """\
        name: dm
        version: 1.0.0
        model: {id: echo/echo}
        inputs: {w: {type: string}}
        template: "Reply {{w}}"
        assert:
          - {type: contains, value: Reply, metric: hit}
          - {type: contains, value: pear, metric: pear, weight: 2}
        tests:
          - {id: a, vars: {w: apple}}
          - {id: b, vars: {w: pear}}
        derived_metrics:
          - {name: pear_share, value: pear / (hit + pear)}
          - {name: per_case, value: hit / __count}
        """,
    )
    assert cli("lint").exit_code == 0
    result = cli("eval", "dm@1.0.0", "-f", "json", "--fail-under", "0")
    assert result.exit_code == 0, result.output
    group = json.loads(result.stdout)["groups"][0]
    # hit: 1 + 1; pear: 2 x (0 + 1)
    assert group["derived_metrics"] == {"pear_share": 0.5, "per_case": 1.0}


def test_a_bad_expression_is_a_located_lint_error(
    project: Path, cli: Cli, write: Callable[..., Path]
) -> None:
    write(
        "prompts/dm/1.0.0.yaml",
        """\
        name: dm
        version: 1.0.0
        model: {id: echo/echo}
        template: "Hi"
        derived_metrics:
          - {name: bad, value: "__import__('os')"}
        """,
    )
    result = cli("lint")
    assert result.exit_code == 1
    assert "prompts/dm/1.0.0.yaml:6" in result.output and "derived_metrics" in result.output
    assert "Traceback" not in result.output
