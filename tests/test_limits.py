"""Issue 11: small hostile files must not exhaust memory (YAML alias bombs, template output),
and what they cause is a clear ``file:line`` error, exit 1, no traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from conftest import assert_no_traceback, git

Cli = Callable[..., Result]

BOMB = """\
name: bomb
version: 1.0.0
model: {id: echo/echo}
template: hi
a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


@pytest.fixture(autouse=True)
def _in_project(project: Path) -> None:
    pass


@pytest.mark.parametrize(
    "args",
    [("lint",), ("list", "--json"), ("eval", "bomb@1.0", "-q"), ("check", "--base", "main")],
    ids=["lint", "list", "eval", "check"],
)
def test_a_yaml_alias_bomb_is_refused_before_expansion(
    project: Path, cli: Cli, args: tuple[str, ...]
) -> None:
    path = project / "prompts/bomb/1.0.0.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(BOMB, encoding="utf-8")
    assert len(BOMB.encode()) < 600
    git(project, "checkout", "-q", "-b", "bomb")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "bomb")
    result = cli(*args)
    assert_no_traceback(result)
    if args[0] == "list":  # list reads names only; it must just not blow up
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 1, result.output
    # the line of the first key whose aliases expand past the limit (f: 9**6 nodes)
    assert (
        "prompts/bomb/1.0.0.yaml:10: invalid YAML: aliases here expand to more than "
        "100,000 nodes" in result.output
    )


def test_a_few_aliases_are_still_fine(project: Path, cli: Cli) -> None:
    text = (project / "prompts/summarize/1.0.0.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "  params: {temperature: 0, max_tokens: 200}", "  params: &p {temperature: 0}"
    )
    (project / "prompts/summarize/1.0.0.yaml").write_text(text, encoding="utf-8")
    assert cli("render", "summarize@1.0", "--var", "document=x").exit_code == 0


HUGE = """\
name: huge
version: 1.0.0
model: {id: echo/echo}
inputs:
  n: {type: integer, default: 3}
template: "{{ 'a' * n }}"
"""


def test_a_huge_template_output_is_a_sandbox_error_not_an_oom(project: Path, cli: Cli) -> None:
    (project / "prompts/huge").mkdir()
    (project / "prompts/huge/1.0.0.yaml").write_text(HUGE, encoding="utf-8")
    assert cli("render", "huge@1.0").stdout.strip().endswith("aaa")
    result = cli("render", "huge@1.0", "--var", f"n={10**10}")
    assert result.exit_code == 1
    assert_no_traceback(result)
    assert "blocked by the sandbox: '*' would make 10,000,000,000 characters" in result.stderr
    assert "max_output" in result.stderr


def test_runaway_loops_are_a_sandbox_error(project: Path, cli: Cli) -> None:
    (project / "prompts/huge").mkdir()
    loops = "{% for i in range(n) %}{% for j in range(n) %}{% endfor %}{% endfor %}done"
    (project / "prompts/huge/1.0.0.yaml").write_text(
        HUGE.replace("{{ 'a' * n }}", loops), encoding="utf-8"
    )
    assert cli("render", "huge@1.0").stdout.strip().endswith("done")
    result = cli("render", "huge@1.0", "--var", "n=100000")
    assert result.exit_code == 1
    assert_no_traceback(result)
    assert "loops ran more than 100,000 iterations" in result.stderr


def test_lint_catches_a_constant_huge_template(project: Path, cli: Cli) -> None:
    (project / "prompts/huge").mkdir()
    (project / "prompts/huge/1.0.0.yaml").write_text(
        HUGE.replace("{{ 'a' * n }}", "x {{ 'a' * 10**10 }}"), encoding="utf-8"
    )
    result = cli("lint")
    assert result.exit_code == 1
    assert_no_traceback(result)
    assert (
        "prompts/huge/1.0.0.yaml:6: template: template would go past the sandbox's limits: "
        "'*' makes 10,000,000,000 characters" in result.output
    )
