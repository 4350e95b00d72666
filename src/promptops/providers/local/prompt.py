"""Chat messages -> a plain-text few-shot prompt for a base model, and where its answer stops.

What prompts work with the bundled base model: ``docs/local-model.md``.
"""

from __future__ import annotations

from typing import Any

INPUT_LABEL = "Input:"
OUTPUT_LABEL = "Output:"


def completion_prompt(messages: list[dict[str, str]]) -> str:
    """Render chat messages as a plain few-shot completion prompt for a base model.

    Format (blocks separated by a blank line)::

        <system text>

        Input: <user 1>
        Output: <assistant 1>

        Input: <user 2>
        Output:

    * ``system`` messages are emitted verbatim as paragraphs (put the instruction there).
    * each ``user`` message opens an ``Input:`` block; the ``assistant`` message after it
      becomes its ``Output:`` line: that is how few-shot examples are written.
    * the prompt ends with a bare ``Output:`` so the model writes the answer; a final
      ``assistant`` message is treated as the start of the answer and continued.

    The bundled 270M base model needs few-shot examples (what was measured:
    ``docs/local-model.md``). Keep answers on one line and use :func:`default_stop`.
    Outputs start with a space: strip them.
    """
    blocks: list[str] = []
    pending_input: str | None = None
    for i, msg in enumerate(messages):
        role = msg.get("role", "user")
        content = str(msg.get("content", "")).strip()
        last = i == len(messages) - 1
        if role == "assistant":
            head = f"{INPUT_LABEL} {pending_input}\n" if pending_input is not None else ""
            pending_input = None
            if last:
                return _join(blocks, f"{head}{OUTPUT_LABEL} {content}".rstrip(" "))
            blocks.append(f"{head}{OUTPUT_LABEL} {content}")
        elif role == "system" or role == "developer":
            if pending_input is not None:
                blocks.append(f"{INPUT_LABEL} {pending_input}")
                pending_input = None
            blocks.append(content)
        else:  # user (and any other role): a new input
            if pending_input is not None:
                blocks.append(f"{INPUT_LABEL} {pending_input}")
            pending_input = content
    if pending_input is not None:
        return _join(blocks, f"{INPUT_LABEL} {pending_input}\n{OUTPUT_LABEL}")
    return _join(blocks, OUTPUT_LABEL)


def _join(blocks: list[str], tail: str) -> str:
    return "\n\n".join([b for b in blocks if b] + [tail])


def default_stop(multiline: bool = False) -> list[str]:
    """Stop sequences for prompts from :func:`completion_prompt`.

    A base model that has answered goes on to invent the next ``Input:``/``Output:``
    example (or an ``Explanation:`` line, or a copy of the input). For one-line answers
    (labels, short answers, one-sentence summaries) the answer is the first line, so
    stop at ``"\n"``. With ``multiline=True`` stop only where a new example starts or
    at a run of blank lines. (OpenAI-compatible APIs accept at most 4 stop strings.)
    """
    if multiline:
        return [f"\n{INPUT_LABEL}", f"\n{OUTPUT_LABEL}", "\n\n\n"]
    return ["\n", INPUT_LABEL, OUTPUT_LABEL]


def flatten_messages(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Messages with text content only: text parts joined (images dropped), tool results as
    user turns, tool calls as the assistant's text."""
    out = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            content = " ".join(
                str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p
            )
        text = str(content or "")
        if m.get("tool_calls") and not text:
            text = "; ".join(
                f"{c['function']['name']}({c['function']['arguments']})" for c in m["tool_calls"]
            )
        role = "user" if m.get("role") == "tool" else str(m.get("role", "user"))
        out.append(
            {"role": role, "content": f"Tool result: {text}" if role != m.get("role") else text}
        )
    return out
