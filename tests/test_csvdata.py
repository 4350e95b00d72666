"""CSV datasets: columns -> vars, expected / expected.* columns, located errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from conftest import assert_no_traceback, error_lines
from promptops.datasets import iter_cases
from promptops.project import load_prompt

Cli = Callable[..., Result]
Write = Callable[..., Path]

GOOD = """\
id,document,vars.max_words,expected,metadata.topic
short,The cat sat on the mat.,5,cat,animals
quoted,"A document, with a comma
and a second line",,comma,
,Prices rose by 3%.,8,3%,money
"""


def test_columns_become_cases(project: Path, write: Write) -> None:
    path = write("evals/s.csv", GOOD)
    pv = load_prompt(project / "prompts/summarize/1.0.0.yaml")
    cases = list(iter_cases(path, pv))
    assert [c.id for c in cases] == ["short", "quoted", "row-5"]
    assert [c.line for c in cases] == [2, 3, 5]
    assert cases[0].spec.vars == {"document": "The cat sat on the mat.", "max_words": 5}
    assert cases[0].spec.metadata == {"topic": "animals"}
    assert cases[1].spec.vars == {"document": "A document, with a comma\nand a second line"}
    assert cases[2].spec.expected == "3%"


def test_expected_columns_make_an_object(project: Path, write: Write) -> None:
    path = write("evals/s.csv", "id,document,expected.city,expected.country\na,x,Paris,FR\n")
    (case,) = iter_cases(path, load_prompt(project / "prompts/summarize/1.0.0.yaml"))
    assert case.spec.expected == {"city": "Paris", "country": "FR"}


def test_eval_on_a_csv_dataset(project: Path, write: Write, cli: Cli) -> None:
    write("evals/s.csv", GOOD)
    result = cli("eval", "summarize@1.0.0", "--dataset", "evals/s.csv", "-f", "json")
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    (group,) = json.loads(result.stdout)["groups"]
    assert group["n"] == 3 and group["passed"] == 3


def test_bad_rows_name_file_line_and_column(project: Path, write: Write, cli: Cli) -> None:
    write(
        "evals/s.csv",
        "id,document,max_words\na,fine,3\nb,not a number,three\nc,too,many,cells\na,dup,1\n",
    )
    write(
        "prompts/summarize/1.0.0.yaml",
        (project / "prompts/summarize/1.0.0.yaml").read_text().replace("summarize.jsonl", "s.csv"),
    )
    result = cli("lint", "prompts/summarize/1.0.0.yaml")
    assert_no_traceback(result)
    assert result.exit_code == 1
    lines = error_lines(result)
    assert "evals/s.csv:3: max_words: input 'max_words' must be integer, got 'three'" in lines
    assert "evals/s.csv:4: 4 cells, but the header has 3 columns" in lines
    assert any(x.startswith("evals/s.csv:5: id: duplicate case id 'a'") for x in lines)
    result = cli("eval", "summarize@1.0.0", "--dataset", "evals/s.csv")
    assert result.exit_code == 1 and "evals/s.csv:3: max_words:" in result.stderr
