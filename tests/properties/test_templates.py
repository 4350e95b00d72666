"""Properties of rendering: any template source with any variables renders to text or is a
RenderError (syntax, sandbox, limits), never another exception; assertion values likewise."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from promptops.errors import RenderError
from promptops.render import render_template, render_value

from .strategies import JSON, TEXT, jinja, scaled

VARS = st.fixed_dictionaries(
    {
        "x": JSON,
        "document": TEXT,
        "xs": st.lists(JSON, max_size=4),
        "n": st.integers(-3, 10**6),
        "output": TEXT,
    }
)


@settings(max_examples=scaled(80))
@given(jinja(), VARS)
def test_any_template_renders_or_is_a_render_error(source: str, context: dict) -> None:
    try:
        out = render_template(source, context, "prompts/t/1.0.0.yaml:6: template")
    except RenderError as e:
        assert e.message.startswith("prompts/t/1.0.0.yaml:6: template: "), e.message
        return
    assert isinstance(out, str) and len(out) <= 20_000_000


@settings(max_examples=scaled(60))
@given(st.one_of(jinja(), st.lists(jinja(), max_size=3), JSON), VARS)
def test_any_assertion_value_renders_or_is_a_render_error(value: object, context: dict) -> None:
    try:
        render_value(value, context, "assert[0].value")
    except RenderError as e:
        assert e.message.startswith("assert[0].value: "), e.message
