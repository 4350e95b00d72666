"""What ``promptops check`` trusts in a pull request, and what it takes from the merge base.

A pull request can change every file in the working tree, and ``check`` runs with the CI's
model credentials. So, before any model call:

* the policy (``allowed_api_hosts``, ``allow_unpinned``, ``plugins`` and ``gate`` in
  promptops.yaml) is read from the merge base, not from the branch;
* every endpoint a call would go to (``model.api_base`` of each evaluated version, and
  ``--api-base``) must be a host on that allowlist; the providers' own endpoints need none;
* ``python`` assertion files must resolve inside the project and exist unchanged at the merge
  base (unless the caller trusts the branch's code), and what runs is the merge base's bytes
  (:mod:`promptops.codeload`, never a ``.pyc``); a baseline read from the base tree resolves
  them in the base tree;
* plugin files listed in promptops.yaml must be unchanged at the merge base too (installed
  entry-point plugins are trusted: the workflow installs them), see :mod:`promptops.plugins`;
* JSON Schemas must not ``$ref`` anything outside themselves (they are never fetched).

``params.extra`` is limited to an allowlist by the prompt schema itself (spec.py).
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..errors import Problem, PromptOpsError, display_path

if TYPE_CHECKING:
    from ..assertions.pyfunc import CodeGate
    from ..project import Project, PromptVersion
    from ..spec import AssertionSpec, ProjectConfig

POLICY_FIELDS = ("allowed_api_hosts", "allow_unpinned", "plugins", "gate")


def policy_at(project: Project, root: Path, commit: str) -> tuple[ProjectConfig, list[str]]:
    """The project's configuration with its policy fields as promptops.yaml has them at
    ``commit`` (layout fields such as prompts_dir stay as in the working tree), and notes."""
    from ..gitops import read_file_at
    from ..loader import parse_yaml, validate
    from ..paths import CONFIG_FILE
    from ..spec import ProjectConfig

    now = project.config
    path = project.root / CONFIG_FILE
    rel = path.relative_to(root).as_posix()
    notes: list[str] = []
    try:
        text = read_file_at(root, commit, rel)
    except UnicodeDecodeError:
        text = None
        notes.append(f"{rel} at the merge base is not UTF-8; using the default (strict) policy")
    base = ProjectConfig()
    if text is not None:
        try:
            data, lines = parse_yaml(text, path)
            base = validate(ProjectConfig, data or {}, path, lines)
        except PromptOpsError:
            notes.append(f"{rel} at the merge base is invalid; using the default (strict) policy")
    policy = {f: getattr(base, f) for f in POLICY_FIELDS}
    if any(getattr(now, f) != v for f, v in policy.items()):
        notes.append(
            f"{rel} changes {', '.join(f for f in POLICY_FIELDS if getattr(now, f) != policy[f])} "
            "on this branch; check applies the merge base's policy"
        )
    for key, old in base.gate.model_dump().items():
        new = getattr(now.gate, key)
        if new != old:
            notes.append(
                f"{rel}: gate.{key}: {old} -> {new} on this branch; takes effect after merge"
            )
    return now.model_copy(update=policy), notes


def _target(host: str, port: int | None) -> tuple[str, str]:
    shown = f"[{host}]" if ":" in host else host
    return shown, f"{shown}:{port}" if port is not None else shown


def host_allowed(url: str, patterns: list[str]) -> bool:
    """Whether ``url``'s host (``host`` or ``host:port`` patterns, globs) is allowlisted."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return False
    if not host:
        return False
    bare, with_port = _target(host, port)
    for pat in patterns:
        pat = pat.strip().lower()
        head, colon, tail = pat.rpartition(":")
        has_port = bool(colon) and (tail == "*" or tail.isdigit()) and not head.endswith(":")
        if fnmatchcase(with_port if has_port else bare, pat):
            return True
    return False


def api_base_message(url: str, commit: str) -> str:
    from ..redact import strip_url

    try:
        host = urlsplit(url).netloc.rpartition("@")[2] or url
    except ValueError:
        host = strip_url(url)
    return (
        f"api_base {strip_url(url)!r}: host {host!r} is not in allowed_api_hosts of promptops.yaml "
        f"at the merge base ({commit[:10]}); check sends the CI's credentials only to the "
        "providers' own endpoints and to allowlisted hosts (add the host on the base branch first)"
    )


def _python_ref_problems(spec: AssertionSpec, root: Path, gate: CodeGate | None) -> list[str]:
    from ..assertions.pyfunc import outside_problem, resolve_ref

    if gate is None or spec.base_type != "python" or not isinstance(spec.value, str):
        return []
    if "{" in spec.value:
        return []  # a template: judged by the gate when it has been rendered
    found = resolve_ref(spec.value, str(root))
    if found is None:
        return []  # lint names the shape problem
    why = outside_problem(spec.value, str(root)) or gate.problem(
        found[0], spec.value.strip().rpartition(":")[0]
    )
    return [why] if why else []


def _schema_problems(spec: AssertionSpec) -> list[str]:
    from ..assertions.jsoncheck import remote_ref_message, remote_refs

    if spec.base_type not in ("json-schema", "is-json") or not isinstance(spec.value, dict):
        return []
    return [remote_ref_message(r) for r in remote_refs(spec.value)]


def version_problems(
    pv: PromptVersion,
    project: Project,
    gate: CodeGate | None,
    commit: str,
    api_base: str | None,
    pinned: bool = True,
) -> list[Problem]:
    """What in one evaluated version ``check`` refuses to run (none: it may run)."""
    from ..assertions.jsoncheck import remote_ref_message, remote_refs

    out: list[Problem] = []
    shown = display_path(pv.path) + (" (merge base)" if pv.code_root is not None else "")
    url = pv.spec.model.api_base if pinned and not api_base else None  # --api-base: checked once
    if url and not host_allowed(url, project.config.allowed_api_hosts):
        out.append(
            Problem(
                shown, pv.line("model", "api_base"), "model.api_base", api_base_message(url, commit)
            )
        )
    if pv.spec.output.json_schema is not None:
        for r in remote_refs(pv.spec.output.json_schema):
            out.append(
                Problem(shown, pv.line("output", "schema"), "output.schema", remote_ref_message(r))
            )
    root = pv.code_root or project.root
    suites: list[tuple[tuple[str | int, ...], str, AssertionSpec]] = [
        (("assert", i), f"assert[{i}]", a) for i, a in enumerate(pv.spec.assert_)
    ]
    for ti, case in enumerate(pv.spec.tests):
        suites += [
            (("tests", ti, "assert", i), f"tests[{ti}].assert[{i}]", a)
            for i, a in enumerate(case.assert_)
        ]
    for loc, where, a in suites:
        for msg in [*_python_ref_problems(a, root, gate), *_schema_problems(a)]:
            out.append(Problem(shown, pv.line(*loc), where, msg))
    return out


def dataset_problems(path: Path, roots: list[Path], gate: CodeGate | None) -> list[Problem]:
    """The same for the assertions of a dataset's cases (resolved from each side's root)."""
    from ..datasets import iter_cases

    out: list[Problem] = []
    collected: list[Problem] = []
    for case in iter_cases(path, None, collect=collected):
        for i, a in enumerate(case.spec.assert_):
            msgs: list[str] = _schema_problems(a)
            for root in roots:
                msgs += _python_ref_problems(a, root, gate)
            for msg in dict.fromkeys(msgs):
                out.append(Problem(case.source, case.line, f"assert[{i}]", msg))
    return out


def model_ids(pv: PromptVersion, models: list[str], dataset: Path | None) -> list[str]:
    """Models whose calls an evaluation of ``pv`` needs: its model (or ``models``) and the
    judges of its assertions (a dataset's case judges included)."""
    from ..datasets import iter_cases

    out = list(models or [pv.spec.model.id])
    specs: list[Any] = list(pv.spec.assert_)
    for case in pv.spec.tests:
        specs += case.assert_
    if dataset is not None and dataset.is_file():
        try:
            for c in iter_cases(dataset, None):
                specs += c.spec.assert_
        except PromptOpsError:
            pass
    out += [a.judge for a in specs if a.judge]
    return list(dict.fromkeys(out))
