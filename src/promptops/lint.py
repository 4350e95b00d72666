"""Find every problem in a project in one pass, each as ``file:line: field: message``."""

from __future__ import annotations

from pathlib import Path

import jinja2

from .datasets import iter_cases, vars_problems
from .errors import Problem, PromptOpsError, SpecError, display_path
from .loader import field_name, read_text
from .modelids import id_problem
from .paths import OutsideProject, confine
from .project import Project, PromptVersion, load_prompt, location_problems, parse_prompt
from .render import check_templates, template_variables
from .spec import AssertionSpec

_CONTEXT_NAMES = {"vars", "expected", "metadata", "output"}


def _p(
    path: Path, line: int | None, field: str | None, msg: str, severity: str = "error"
) -> Problem:
    return Problem(display_path(path), line, field, msg, severity)


def lint_prompt(
    pv: PromptVersion, project: Project, *, datasets: bool = True, api_base: str | None = None
) -> list[Problem]:
    """Problems in one parsed prompt version (the file itself already validated).
    ``datasets=False`` skips reading the dataset (the eval runner streams it itself);
    ``api_base`` is the run's ``--api-base``, where the prompt's models are then served."""
    out: list[Problem] = []
    spec = pv.spec
    allow = project.config.allow_unpinned
    models: list[tuple[tuple[str | int, ...], str]] = [(("model", "id"), spec.model.id)]
    models += [(("fallbacks", i), m) for i, m in enumerate(spec.fallbacks)]
    base = api_base or spec.model.api_base
    for mloc, mid in models:
        why = id_problem(mid, api_base=base, allow=allow)
        if why:
            out.append(_p(pv.path, pv.lines.line(mloc), field_name(mloc), why))
    for tloc, tline, tmsg in check_templates(pv):
        out.append(_p(pv.path, tline, field_name(tloc), tmsg))
    if spec.guards is not None:
        from .runtime.guards import compile_guards

        try:
            compile_guards(pv)
        except SpecError as e:
            out += e.problems
    used: set[str] = set()
    unparsed = False  # a template with a syntax error: which inputs it uses is unknown
    for i, msg in enumerate(spec.chat()):
        loc: tuple[str | int, ...] = (
            ("messages", i, "content") if spec.messages is not None else ("template",)
        )
        if msg.placeholder is not None:
            used.add(msg.placeholder)
            pin = spec.inputs.get(msg.placeholder)
            if pin is None or pin.type != "messages":
                out.append(
                    _p(
                        pv.path,
                        pv.lines.line(("messages", i, "placeholder")),
                        f"messages[{i}].placeholder",
                        f"{msg.placeholder!r} must name an input of type messages",
                    )
                )
            continue
        if isinstance(msg.content, list):
            from .content import image_file

            for part in msg.content:
                if part.path is not None and "{" not in part.path:
                    try:
                        image_file(project.root, part.path)
                    except ValueError as e:
                        out.append(_p(pv.path, pv.lines.line(loc), field_name(loc), str(e)))
        names = set()
        try:
            for source in msg.templates():
                names |= template_variables(source)
        except jinja2.TemplateSyntaxError:
            unparsed = True
            continue
        used |= names
        for name in sorted(names - set(spec.inputs)):
            out.append(
                _p(
                    pv.path,
                    pv.lines.line(loc),
                    field_name(loc),
                    f"template variable {name!r} is not declared under inputs",
                )
            )
    from . import assertions

    if spec.output.json_schema is not None:
        from .assertions.jsoncheck import remote_ref_message, remote_refs

        for ref in remote_refs(spec.output.json_schema):
            line = pv.lines.line(("output", "schema"))
            out.append(_p(pv.path, line, "output.schema", remote_ref_message(ref)))
    suites: list[tuple[tuple[str | int, ...], str, object]] = [
        (("assert", i), f"assert[{i}]", a) for i, a in enumerate(spec.assert_)
    ]
    for ti, case in enumerate(spec.tests):
        suites += [
            (("tests", ti, "assert", i), f"tests[{ti}].assert[{i}]", a)
            for i, a in enumerate(case.assert_)
        ]
        for ni, turn in enumerate(case.turns or []):
            suites += [
                (("tests", ti, "turns", ni, "assert", i), f"tests[{ti}].turns[{ni}].assert[{i}]", a)
                for i, a in enumerate(turn.assert_)
            ]
    for loc2, where, a in suites:
        assert isinstance(a, AssertionSpec)
        line = pv.lines.line(loc2)
        for msg2 in [*assertions.config_problems(a), *_python_ref_problems(a, project)]:
            out.append(_p(pv.path, line, where, msg2))
        for text in _strings(_values(a)):
            try:
                used |= template_variables(text)
            except jinja2.TemplateSyntaxError as e:
                unparsed = True
                out.append(
                    _p(pv.path, line, f"{where}.value", f"template syntax error: {e.message}")
                )
        if a.judge:
            why = id_problem(a.judge, api_base=base, allow=allow)
            if why:
                out.append(_p(pv.path, line, f"{where}.judge", why))
    scorings = [(("scoring",), "scoring", spec.scoring)] + [
        (("tests", ti, "scoring"), f"tests[{ti}].scoring", c.scoring)
        for ti, c in enumerate(spec.tests)
    ]
    for sloc, where, code in scorings:
        for why_s in _scoring_problems(code, project):
            out.append(_p(pv.path, pv.lines.line(sloc), where, why_s))
    for name in spec.inputs:
        if name not in used and not unparsed:
            out.append(
                _p(
                    pv.path,
                    pv.lines.line(("inputs", name)),
                    f"inputs.{name}",
                    "declared but never used in a template or assertion",
                    severity="hygiene",  # lint and check fail on it; an eval can still run
                )
            )
    if spec.changelog and spec.changelog.lstrip().upper().startswith("TODO"):
        out.append(
            _p(
                pv.path,
                pv.lines.line(("changelog",)),
                "changelog",
                "still the TODO placeholder `promptops new` wrote: say what changed and why",
                severity="hygiene",  # lint and check fail on it; an eval can still run
            )
        )
    for ti, case in enumerate(spec.tests):
        for msg3 in vars_problems(pv, case):
            out.append(_p(pv.path, pv.lines.line(("tests", ti, "vars")), f"tests[{ti}].vars", msg3))
    if spec.dataset and datasets:
        try:
            ds = project.dataset_path(pv)
        except SpecError as e:
            out.extend(e.problems)  # outside the project: never read
            ds = None
        if ds is None:
            pass
        elif not ds.is_file():
            out.append(
                _p(
                    pv.path,
                    pv.lines.line(("dataset",)),
                    "dataset",
                    f"{spec.dataset} does not exist",
                )
            )
        else:
            collected: list[Problem] = []
            for row in iter_cases(ds, pv, collect=collected):
                # the case's own assertions get the checks the prompt's get: eval would fail them
                for i, a in enumerate(row.spec.assert_):
                    for msg4 in [*assertions.config_problems(a), *_python_ref_problems(a, project)]:
                        collected.append(Problem(row.source, row.line, f"assert[{i}]", msg4))
            out.extend(collected)
    return out


def preflight(
    project: Project,
    versions: list[PromptVersion],
    models: list[str] | tuple[str, ...] = (),
    api_base: str | None = None,
) -> list[Problem]:
    """What lint knows about the versions an eval is about to run (and the ``--model`` ids),
    errors only: any of them would fail every case, so the eval stops before the first call."""
    out = [
        p for pv in versions for p in lint_prompt(pv, project, datasets=False, api_base=api_base)
    ]
    allow = project.config.allow_unpinned
    for m in models:  # an --model runs at --api-base, if any (not at the prompt's endpoint)
        why = id_problem(m, api_base=api_base, allow=allow)
        if why:
            out.append(Problem("--model", None, None, why))
    return list(dict.fromkeys(p for p in out if p.severity == "error"))


def _scoring_problems(code: str | None, project: Project) -> list[str]:
    """A scoring function: ``file.py:function`` as a python check's file, or JavaScript code."""
    from .assertions.javascript import MAX_CHARS
    from .assertions.pyfunc import PY_REF

    if code is None:
        return []
    if PY_REF.match(code.strip()):
        probe = AssertionSpec.model_validate({"type": "python", "value": code.strip()})
        return _python_ref_problems(probe, project)
    if not code.strip():
        return ["scoring must be JavaScript code or file.py:function"]
    if len(code) > MAX_CHARS:
        return [f"scoring code is over {MAX_CHARS} characters"]
    return []


def _python_ref_problems(a: AssertionSpec, project: Project) -> list[str]:
    """A ``python`` assertion's file must exist and define the function (read, never run)."""
    if a.base_type != "python" or not isinstance(a.value, str) or "{" in a.value:
        return []
    file, _, func = a.value.strip().rpartition(":")
    try:
        path = confine(project.root, file)
    except OutsideProject as e:
        return [f"python assertion file {e}"]
    if not path.is_file():
        return [f"{file}: no such file (paths are relative to the project root)"]
    import ast

    try:
        tree = ast.parse(path.read_text(encoding="utf-8-sig"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError) as e:
        return [f"{file}: cannot be parsed: {e}"]
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    if func not in defined:
        return [
            f"{file} defines no function {func!r} (functions: {', '.join(sorted(defined)) or 'none'})"
        ]
    return []


def _values(a: AssertionSpec) -> list[object]:
    """The values of an assertion and of the assertions nested in it (json-field)."""
    out: list[object] = []
    cur: AssertionSpec | None = a
    while cur is not None:
        out.append(cur.value)
        cur = cur.assert_
    return out


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value] if "{" in value else []
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    return []


def lint_registry(project: Project) -> list[Problem]:
    """registry.yaml problems: schema, and entries pointing at versions that don't exist."""
    path = project.registry_path
    if not path.is_file():
        return []
    try:
        reg = project.registry_spec()
    except PromptOpsError as e:
        return e.problems or [_p(path, None, None, e.message)]
    from .loader import load_yaml

    data, lines = load_yaml(path)
    out = []
    if data is None:
        out.append(
            _p(
                path,
                None,
                None,
                "registry.yaml is empty; declare environments (e.g. environments: [dev, prod]) "
                "or delete the file",
            )
        )
    for name, envs in reg.prompts.items():
        files = project.version_files(name)
        for env, dep in envs.items():
            entries = [("", dep.version, dep.digest)]
            if dep.canary:
                entries.append((".canary", dep.canary.version, dep.canary.digest))
            for suffix, version, digest in entries:
                loc = ("prompts", name, env) + ((("canary",)) if suffix else ())
                field = f"prompts.{name}.{env}{suffix}"
                if version not in files:
                    have = ", ".join(files) or "none"
                    out.append(
                        _p(
                            path,
                            lines.line(loc),
                            field,
                            f"{name} {version} does not exist (versions: {have})",
                        )
                    )
                    continue
                try:
                    pv = load_prompt(files[version])
                except PromptOpsError:
                    continue  # reported against the prompt file itself
                if pv.digest != digest:
                    out.append(
                        _p(
                            path,
                            lines.line((*loc, "digest")),
                            f"{field}.digest",
                            f"{name} {version} was edited after promotion (file {pv.digest[:19]}..., "
                            f"registry {digest[:19]}...); released versions are immutable: bump the version",
                        )
                    )
    return out


def _dataset_problems(path: Path) -> list[Problem]:
    collected: list[Problem] = []
    for _ in iter_cases(path, None, collect=collected):
        pass
    return collected


def _prompt_file_problems(path: Path, project: Project) -> list[Problem]:
    if not path.exists():
        return [_p(path, None, None, "no such file")]
    try:
        pv = parse_prompt(read_text(path), path, check_location=False)
    except PromptOpsError as e:
        return e.problems or [_p(path, None, None, e.message)]
    # A misnamed file is still checked for everything else, so one run shows every problem.
    return location_problems(pv.spec, path, pv.lines) + lint_prompt(pv, project)


def _same_version_twice(files: list[Path]) -> list[Problem]:
    """``2.0.yaml`` and ``2.0.0.yaml`` (or ``.yml``) in one directory name the same version."""
    from .versions import parse_version

    seen: dict[tuple[Path, str], Path] = {}
    out = []
    for f in files:
        try:
            version = str(parse_version(f.stem))
        except ValueError:
            continue
        first = seen.setdefault((f.parent, version), f)
        if first != f:
            out.append(_p(f, None, None, f"same version {version} as {first.name}; keep one file"))
    return out


def lint(project: Project, paths: list[Path] | None = None) -> list[Problem]:
    """Every problem under ``paths`` (default: the whole project)."""
    problems: list[Problem] = []
    check_registry = not paths
    files: list[Path] = []
    if not paths:
        files = list(project.all_files())
        problems += _same_version_twice(files)
        if project.prompts_dir.is_dir():  # stray YAML directly under prompts/
            files += sorted(
                d
                for d in project.prompts_dir.iterdir()
                if d.is_file() and d.suffix in (".yaml", ".yml")
            )
    for p in paths or []:
        p = p.resolve()
        if p.is_dir():
            check_registry = check_registry or p == project.root or (p / "registry.yaml").is_file()
            files += sorted(
                x
                for x in p.rglob("*")
                if x.suffix in (".yaml", ".yml")
                and x.is_file()
                and x.name not in ("registry.yaml", "promptops.yaml")
                and ".github" not in x.parts
            )
        elif p.name == "registry.yaml":
            check_registry = True
        elif p.suffix in (".jsonl", ".csv"):
            problems += _dataset_problems(p) if p.is_file() else [_p(p, None, None, "no such file")]
        else:
            files.append(p)
    for f in files:
        problems += _prompt_file_problems(f, project)
    if check_registry:
        problems += lint_registry(project)
    # Versions sharing a dataset would each report its bad lines; keep one of each.
    return list(dict.fromkeys(problems))
