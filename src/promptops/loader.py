"""Read the files people write: strict YAML with line numbers, JSONL streamed line by line.

Every error names the file, the line and the field, so ``lint`` can list them and ``eval``
can refuse to start.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from .errors import Problem, SpecError, display_path
from .paths import OutsideProject, confine, project_of

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]


class LineMap:
    """Maps a field path such as ``('messages', 0, 'content')`` to its 1-based line."""

    def __init__(self, lines: dict[Loc, int] | None = None) -> None:
        self.lines: dict[Loc, int] = lines or {}

    def line(self, loc: Loc) -> int | None:
        """The line of the deepest part of ``loc`` that exists in the file."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), None)


class _StrictLoader(_Base):  # type: ignore[valid-type,misc]
    """SafeLoader that refuses duplicate keys instead of silently keeping the last. Merge keys
    (``<<: *base``) work as in YAML 1.1: the mapping's own keys override the merged ones."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        own = [(k, v) for k, v in node.value if k.tag != "tag:yaml.org,2002:merge"]
        if len(own) != len(node.value):
            self.flatten_mapping(node)  # merged pairs first, so the own ones win
        for key_node, _ in own:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


MAX_NODES = 100_000  # nodes a document may expand to once aliases are followed


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many nodes ``node`` stands for with every alias expanded (memoized by identity,
    so this costs the size of the file, not of the expansion)."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = MAX_NODES + 1  # a cycle (a recursive alias) counts as too big
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(v, memo) for v in node.value)
    else:
        size = 1
    memo[key] = min(size, 10 * MAX_NODES)  # capped: only "over the limit" matters
    return memo[key]


def _check_expansion(node: yaml.Node, path: Path) -> None:
    """Refuse a document whose aliases expand beyond MAX_NODES (a "billion laughs" bomb)
    before anything walks or builds it, naming the line of the smallest part that does."""
    memo: dict[int, int] = {}
    if _expanded_size(node, memo) <= MAX_NODES:
        return
    while True:
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        big = next((c for c in children if memo.get(id(c), 0) > MAX_NODES), None)
        if big is None or big is node:
            break
        node = big
    raise SpecError.of(
        path,
        node.start_mark.line + 1,
        None,
        f"invalid YAML: aliases here expand to more than {MAX_NODES:,} nodes "
        f"(an alias bomb?); write the values out or use fewer nested aliases",
    )


def _walk(node: yaml.Node, loc: Loc, out: dict[Loc, int]) -> None:
    out.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            sub = (*loc, key)
            out[sub] = key_node.start_mark.line + 1
            _walk(value_node, sub, out)
            out[sub] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*loc, i), out)


def read_text(path: Path, confined: bool = True) -> str:
    """Read a user file as UTF-8 (a BOM is allowed); other encodings are an error.

    A file inside a project (prompt versions, registry.yaml, promptops.yaml) that resolves
    outside it (a committed symlink) is refused unread; ``confined=False``: a path the user
    gave on the command line."""
    root = project_of(path) if confined else None
    if root is not None:
        try:
            confine(root, path)
        except OutsideProject as e:
            raise SpecError.of(path, None, None, str(e)) from None
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SpecError.of(path, None, None, "file not found") from None
    except IsADirectoryError:
        raise SpecError.of(path, None, None, "is a directory, expected a file") from None
    except OSError as e:
        raise SpecError.of(path, None, None, f"cannot read: {e.strerror}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise SpecError.of(
            path,
            line,
            None,
            f"not valid UTF-8 (byte 0x{data[e.start]:02x}); save the file as UTF-8",
        ) from None


def parse_yaml(text: str, path: Path) -> tuple[Any, LineMap]:
    """Parse one YAML document, returning the data and a map of field lines."""
    try:
        loader = _StrictLoader(text)
    except UnicodeEncodeError as e:  # text not read from a file: a lone surrogate (fuzzing)
        at = text[: e.start].count("\n") + 1
        raise SpecError.of(
            path, at, None, "invalid YAML: a lone surrogate (\\ud800-\\udfff), not text"
        ) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None, LineMap()
        _check_expansion(node, path)
        lines: dict[Loc, int] = {}
        _walk(node, (), lines)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        msg = " ".join(str(x) for x in (e.context, e.problem) if x)
        raise SpecError.of(path, line, None, f"invalid YAML: {msg}") from None
    except yaml.YAMLError as e:
        raise SpecError.of(path, None, None, f"invalid YAML: {e}") from None
    finally:
        loader.dispose()
    return data, LineMap(lines)


def load_yaml(path: Path, confined: bool = True) -> tuple[Any, LineMap]:
    """Read and parse a YAML file (``confined``: see :func:`read_text`)."""
    return parse_yaml(read_text(path, confined), path)


def field_name(loc: Loc) -> str:
    """``("messages", 0, "content")`` -> ``messages[0].content``, as messages name fields."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


_TAGS = ("str", "int", "float", "bool", "list", "dict")


def _is_tag(part: str | int) -> bool:
    return isinstance(part, str) and (
        part.startswith("function-") or part[:1].isupper() or part in _TAGS
    )


def validation_problems(
    err: ValidationError, path: Path, lines: LineMap, prefix: Loc = ()
) -> list[Problem]:
    """Turn pydantic's errors into ``file:line: field: message`` problems."""
    problems = []
    for e in err.errors(include_url=False):
        # Drop pydantic's union/tag members (e.g. 'str', 'ModelSpec') from the location, but
        # keep keys the file really has (an input named 'Doc', an environment named 'Prod').
        kept: list[str | int] = []
        for part in e["loc"]:
            if _is_tag(part) and (*prefix, *kept, part) not in lines.lines:
                continue
            kept.append(part)
        full = (*prefix, *kept)
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; see `promptops schema`)"
        elif e["type"] == "missing":
            msg = "required field is missing"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        elif msg.startswith("Assertion failed, "):
            msg = msg[len("Assertion failed, ") :]
        problems.append(
            Problem(display_path(path), lines.line(full), field_name(full) or None, msg)
        )
    return problems


def validate(model: type[M], data: Any, path: Path, lines: LineMap, prefix: Loc = ()) -> M:
    """Validate ``data`` strictly against ``model``, raising SpecError with every problem."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        problems = validation_problems(e, path, lines, prefix)
        raise SpecError("\n".join(str(p) for p in problems), problems) from None


def iter_jsonl(path: Path, errors: list[Problem] | None = None) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, value)`` for each non-blank line, streaming (never loads the file).

    A bad line raises SpecError, or, when ``errors`` is given (lint), is appended to it and
    skipped so every bad line is reported in one run."""
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        raise SpecError.of(path, None, None, "dataset file not found") from None
    except OSError as e:
        raise SpecError.of(path, None, None, f"cannot read: {e.strerror}") from None
    with fh:
        for lineno, raw in enumerate(fh, start=1):
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            try:
                # without the line break, so an error at the end of the line has its column
                # on this line (not "line 2 column 1" of a one-line document)
                value = json.loads(raw.rstrip(b"\r\n").decode("utf-8"))
            except UnicodeDecodeError:
                bad = SpecError.of(path, lineno, None, "not valid UTF-8")
            except json.JSONDecodeError as e:
                bad = SpecError.of(
                    path, lineno, None, f"invalid JSON at column {e.pos + 1}: {e.msg}"
                )
            except RecursionError:
                bad = SpecError.of(path, lineno, None, "JSON nested too deeply")
            else:
                yield lineno, value
                continue
            if errors is None:
                raise bad
            errors.extend(bad.problems)
