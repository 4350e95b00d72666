"""Hypothesis strategies for what people (and hostile pull requests) put in promptops files:
text with the awkward characters, JSON values of any shape, Jinja fragments."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import strategies as st


def scaled(n: int) -> int:
    """A test's example count: ``n`` in CI, 20 times more when exploring
    (``HYPOTHESIS_PROFILE=explore``)."""
    return n * 20 if os.environ.get("HYPOTHESIS_PROFILE") == "explore" else n


# the characters that broke things: lone surrogates, NUL and control characters, BOM, line
# and paragraph separators, right-to-left marks, astral emoji, Jinja and YAML syntax
AWKWARD = st.sampled_from(
    [
        "\ud83d",
        "\udc00",
        "\x00",
        "\x1b[31m",
        "\ufeff",
        "\u2028",
        "\u202e",
        "😀",
        "{{",
        "}}",
        "{%",
        "#}",
        ": ",
        "- ",
        "&a",
        "*a",
        "!!python/object",
        '"',
        "'",
        "\\",
        "\r\n",
        "\t",
    ]
)

TEXT = st.one_of(
    st.text(max_size=30),
    st.lists(st.one_of(AWKWARD, st.text(max_size=5)), max_size=8).map("".join),
)

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    TEXT,
)

JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=12,
)


def jinja() -> st.SearchStrategy[str]:
    """Template sources: fragments of Jinja syntax (valid or not) between text."""
    names = st.sampled_from(["x", "document", "xs", "n", "loop", "range", "cycler", "output"])
    expr = st.one_of(
        names,
        st.integers(-5, 10**6).map(str),
        TEXT.map(repr),
        st.tuples(names, st.sampled_from(["*", "+", "~", "%", "**", "//"]), names).map(" ".join),
        st.tuples(
            names,
            st.sampled_from(
                [
                    "upper",
                    "join",
                    "length",
                    "list",
                    "tojson",
                    "replace('a', 'bb')",
                    "center(10**7)",
                    "format(1)",
                    "indent(99999999)",
                ]
            ),
        ).map(lambda t: f"{t[0]}|{t[1]}"),
        names.map(lambda n: f"{n}.__class__"),
        names.map(lambda n: f"{n}.append({n})"),
    )
    piece = st.one_of(
        TEXT,
        expr.map(lambda e: "{{ " + e + " }}"),
        st.tuples(names, expr).map(lambda t: "{% for " + t[0] + " in " + t[1] + " %}"),
        st.just("{% endfor %}"),
        expr.map(lambda e: "{% if " + e + " %}"),
        st.just("{% endif %}"),
        st.tuples(names, expr).map(lambda t: "{% set " + t[0] + " = " + t[1] + " %}"),
        st.just("{% macro m(a) %}{{ a }}{% endmacro %}"),
        AWKWARD,
    )
    return st.lists(piece, max_size=8).map("".join)


def case_line(draw_id: str) -> st.SearchStrategy[dict[str, Any]]:
    """One dataset case for the test project's summarize prompt (``document``,
    ``max_words``), with vars of any type and value."""
    return st.fixed_dictionaries(
        {"id": st.just(draw_id), "vars": st.fixed_dictionaries({"document": JSON})},
        optional={
            "expected": JSON,
            "metadata": st.dictionaries(TEXT, JSON, max_size=2),
            "threshold": st.one_of(st.floats(), st.integers(), TEXT),
        },
    )
