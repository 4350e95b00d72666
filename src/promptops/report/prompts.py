"""Prompt files on the terminal: a rendered version (render), lint's findings, the catalogue
(list), one version (show), and what an import wrote."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .console import error_lines
from .format import plural, truncate

if TYPE_CHECKING:
    from rich.console import Console

    from ..errors import Problem
    from ..importers.promptfoo import ImportResult


def print_rendered(console: Console, info: dict[str, Any]) -> None:
    """The version and its model, then each message under a rule naming its role."""
    from rich.rule import Rule

    params = " ".join(f"{k}={v}" for k, v in info["params"].items())
    _heading(console, f"{info['prompt']}@{info['version']}", info["digest"])
    _wrapped(console, f"model {info['model']}" + (f"  {params}" if params else ""), style="dim")
    if info.get("tools"):
        names = ", ".join(t["function"]["name"] for t in info["tools"])
        _wrapped(console, f"tools {names}", style="dim")
    for m in info["messages"]:
        console.print(Rule(m["role"], align="left", style="cyan"))
        # wrapped at word boundaries (--format json has the exact text)
        _wrapped(console, shown_content(m.get("content")))


def _heading(console: Console, ref: str, digest: str) -> None:
    """``ref  digest`` on one line when it fits the terminal, else the digest on the next."""
    line = f"{ref}  {digest}"
    if len(line) <= console.width:
        console.print(line, style="bold", markup=False)
    else:
        console.print(ref, style="bold", markup=False)
        console.print(f"  {digest}", style="dim", markup=False)


def _wrapped(console: Console, text: str, style: str | None = None) -> None:
    """A line of prose wrapped at word boundaries to the terminal's width (80 when piped)."""
    console.print(text, markup=False, soft_wrap=False, style=style)


def shown_content(content: Any) -> str:
    """Message content as text; image parts as ``[image: URL]``, data URLs shortened."""
    if not isinstance(content, list):
        return "" if content is None else str(content)
    shown = []
    for part in content:
        if part.get("type") == "text":
            shown.append(str(part.get("text", "")))
            continue
        url = str((part.get("image_url") or {}).get("url", ""))
        if url.startswith("data:"):
            url = f"{url.split(',', 1)[0]} ({len(url)} chars)"
        shown.append(f"[image: {url}]")
    return "\n".join(shown)


def print_lint(console: Console, problems: list[Problem], files: int) -> None:
    """Problems as red ``file:line: field: message`` lines on stderr and their count; a clean
    project's ``ok`` line on ``console``."""
    if problems:
        error_lines([str(p) for p in problems])
        error_lines([plural(len(problems), "problem")])
        return
    console.print(f"ok: {plural(files, 'prompt file')}, no problems", style="green")


def print_catalog(console: Console, rows: list[dict[str, Any]]) -> None:
    """One row per prompt; the description column only on a wide terminal."""
    from rich import box
    from rich.table import Table

    from ..project import short_digest

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    wide = console.width >= 110
    table.add_column("prompt", no_wrap=True)
    table.add_column("versions", min_width=8)
    table.add_column("latest", no_wrap=True)
    table.add_column("digest", no_wrap=True)
    table.add_column("environments", min_width=12)
    if wide:
        table.add_column("description", overflow="ellipsis", no_wrap=True, max_width=50)
    for r in rows:
        envs = " ".join(f"{e}={v}" for e, v in r["environments"].items())
        table.add_row(
            r["name"],
            ", ".join(r["versions"]),
            r["latest"] or "-",
            short_digest(r["digest"]) if r["digest"] else "-",
            envs or "-",
            *([r["description"]] if wide else []),
        )
    console.print(table)


def print_prompt(console: Console, info: dict[str, Any]) -> None:
    """One version: its fields as lines, then its inputs and its assertions as tables."""
    from rich.table import Table

    _heading(console, f"{info['name']}@{info['version']}", info["digest"])
    for key in ("description", "changelog"):
        if info[key]:
            _wrapped(console, f"{key}: {info[key]}")
    params = " ".join(f"{k}={v!r}" for k, v in info["params"].items())
    _wrapped(console, f"model: {info['model']}" + (f"  params: {params}" if params else ""))
    if info["fallbacks"]:
        _wrapped(console, f"fallbacks: {', '.join(info['fallbacks'])}")
    console.print(f"file: {info['file']}", markup=False)
    if info["dataset"]:
        console.print(f"dataset: {info['dataset']} ({info['cases']} cases)", markup=False)
    if info["active"]:
        console.print("active: " + ", ".join(info["active"]), markup=False)
    t = Table("input", "type", "required", "default", "description", show_edge=False)
    for name, i in info["inputs"].items():
        t.add_row(
            name,
            i["type"],
            "yes" if i["required"] else "no",
            "" if i["default"] is None else repr(i["default"]),
            i["description"],
        )
    console.print(t)
    t2 = Table("assertion", "value", "weight", "threshold", show_edge=False)
    for a in info["assert"]:
        t2.add_row(
            a["type"],
            truncate(a.get("value"), 60),
            str(a.get("weight", 1.0)),
            str(a.get("threshold") or ""),
        )
    console.print(t2)


def print_import(console: Console, result: ImportResult, files: list[str]) -> None:
    """The files written, what was converted, what to check and what did not convert."""
    for path in files:
        console.print(f"wrote {path}", markup=False)
    made = []
    if result.expanded:
        made.append(f"{result.expanded} from {result.expanded_tests} test(s) with list-valued vars")
    if result.scenarios:
        made.append(f"{result.scenario_cases} from {result.scenarios} scenario(s)")
    expanded = f" ({'; '.join(made)})" if made else ""
    console.print(
        f"{', '.join(result.prompts or [result.name])}: {len(result.refs)} version(s), "
        f"{result.cases} case(s){expanded}",
        markup=False,
    )
    if result.notes:
        console.print("check:", style="yellow", markup=False)
        for s in result.notes:
            console.print(f"  {s}", markup=False)
    if result.skipped:
        console.print(f"not converted ({len(result.skipped)}):", style="yellow", markup=False)
        for s in result.skipped:
            console.print(f"  {s}", markup=False)
    else:
        console.print("everything converted", markup=False)
