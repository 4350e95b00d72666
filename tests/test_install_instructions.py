"""Every install instruction we publish names our own distribution, never the bare `promptops`.

`promptops` on the package index is an unrelated project: `pip install promptops` would run a
stranger's code (in CI, next to the user's API keys). Our distribution is `promptops-cli`; the
import name and the command stay `promptops`.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from promptops import __version__, scaffold

ROOT = Path(__file__).resolve().parents[1]
OUR_NAME = "promptops-cli"
# A pip command: `pip install`, `pip3 install`, `python -m pip install`, `uv pip install`,
# `pipx install`, `uv add`, `poetry add`; then its arguments up to the end of the shell command.
INSTALL = re.compile(r"(?:\bpip3?|\bpipx|\buv pip)\s+install\b|\b(?:uv|poetry)\s+add\b")
END = re.compile(r"&&|\|\||[;|`\n]")
# Options whose value is the next word (a file or a URL, not a requirement).
TAKES_VALUE = {
    "-r", "--requirement", "-c", "--constraint", "--prefix", "--target", "-t", "--root",
    "-i", "--index-url", "--extra-index-url", "-f", "--find-links", "--python", "-p",
}  # fmt: skip


def requirements_in(command: str) -> list[str]:
    """The requirement specifiers an install command names (paths and options left out)."""
    try:
        words = shlex.split(command)
    except ValueError:  # an unbalanced quote: fall back to whitespace
        words = command.split()
    found: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
            continue
        if word in TAKES_VALUE:
            skip = True
            continue
        if word.startswith("-") or word.startswith((".", "/", "$")) or "://" in word:
            continue
        found.append(word)
    return found


def install_commands(text: str) -> list[str]:
    commands = []
    for match in INSTALL.finditer(text):
        rest = text[match.end() :]
        end = END.search(rest)
        commands.append(rest[: end.start()] if end else rest)
    return commands


def published_texts() -> dict[str, str]:
    texts = {
        str(p.relative_to(ROOT)): p.read_text(encoding="utf-8")
        for pattern in (
            "README.md",
            "docs/**/*.md",
            "examples/**/*",
            ".github/workflows/*.yml",
            ".pre-commit-hooks.yaml",
            "src/promptops/**/*.py",
        )
        for p in ROOT.glob(pattern)
        if p.is_file() and p.suffix in {".md", ".yml", ".yaml", ".py", ""}
    }
    for rel, text in scaffold.FILES.items():
        texts[f"promptops init: {rel}"] = text
    return texts


def bare_promptops(text: str) -> list[str]:
    bad = []
    for command in install_commands(text):
        for spec in requirements_in(command):
            try:
                name = Requirement(spec).name
            except InvalidRequirement:
                continue
            if canonicalize_name(name) == "promptops":
                bad.append(f"{command.strip()!r} names {spec!r}")
    for deps in re.findall(r"additional_dependencies:\s*\[([^\]]*)\]", text):
        for spec in (d.strip().strip("'\"") for d in deps.split(",")):
            if spec and canonicalize_name(Requirement(spec).name) == "promptops":
                bad.append(f"additional_dependencies names {spec!r}")
    return bad


def test_no_published_instruction_installs_the_bare_name() -> None:
    texts = published_texts()
    assert "README.md" in texts and "promptops init: .github/workflows/promptops.yml" in texts
    problems = [f"{where}: {msg}" for where, text in texts.items() for msg in bare_promptops(text)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("$ pip install promptops", True),
        ("run: pip install 'promptops[local]'", True),
        ("python -m pip install -U promptops==0.1.0 && promptops check", True),
        ("`uv pip install PromptOps`", True),
        ("pipx install promptops", True),
        ("additional_dependencies: [promptops>=0.1]", True),
        ("pip install 'promptops-cli[local]==0.1.0'", False),
        ("pip install -e '.[dev,local]'", False),
        ("pip install --require-hashes -r requirements/dev.txt && promptops eval x", False),
        ("pip install -c constraints.txt promptops_cli", False),
    ],
)
def test_the_scanner_finds_bare_names(text: str, bad: bool) -> None:
    """The scan above can fail: it catches each way of writing the bare name."""
    assert bool(bare_promptops(text)) is bad


def test_generated_workflow_pins_the_release_that_wrote_it() -> None:
    workflow = yaml.safe_load(scaffold.FILES[".github/workflows/promptops.yml"])
    runs = [s["run"] for s in workflow["jobs"]["check"]["steps"] if "run" in s]
    installs = [r for r in runs if "pip install" in r]
    assert installs == [f"pip install '{OUR_NAME}[local]=={__version__}'"]


def test_published_pins_match_this_release() -> None:
    """docs and README pin `promptops-cli==X`: X is the version being released."""
    for where, text in published_texts().items():
        for command in install_commands(text):
            for spec in requirements_in(command):
                try:
                    req = Requirement(spec)
                except InvalidRequirement:
                    continue
                if canonicalize_name(req.name) == OUR_NAME and req.specifier:
                    assert str(req.specifier) == f"=={__version__}", f"{where}: {spec}"


def test_distribution_name_in_pyproject() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^name = "promptops-cli"$', text, re.M)
    assert re.search(r'^promptops = "promptops\.cli:main"$', text, re.M)  # the command stays
