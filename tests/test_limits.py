"""Issue 11: small hostile files must not exhaust memory (YAML alias bombs, template output),
and what they cause is a clear ``file:line`` error, exit 1, no traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import assert_no_traceback, git
from typer.testing import Result

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
