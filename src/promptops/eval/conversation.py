"""Multi-turn cases: a case with ``turns`` is a conversation.

Turn 1 sends the rendered prompt (plus the turn's ``user`` message, if any). Each later turn
first appends the model's previous reply (text and tool calls) to the history, then the
turn's ``tool_results`` as ``tool`` messages answering those calls (nothing is executed), then
its ``user`` message; then the model is called and the turn's assertions checked. The prompt's
and the case's assertions apply to the last reply. The case passes when every turn passes;
the record keeps every turn (``turns``) and the last reply as its ``output``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..errors import PromptOpsError
from ..toolcalls import call_params, parse_calls

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ..datasets import Case
    from ..project import Project
    from ..spec import ToolResult
    from .runner import Target, _Budget


class TurnError(PromptOpsError):
    """A turn cannot be built from the case (e.g. a tool result with no call to answer)."""


def _assistant_message(text: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
    if calls:
        msg["tool_calls"] = [
            {
                "id": c.get("id") or f"call_{i}",
                "type": "function",
                "function": {"name": c["name"], "arguments": c["raw"]},
            }
            for i, c in enumerate(calls)
        ]
    return msg


def tool_messages(
    results: list[ToolResult], calls: list[dict[str, Any]], where: str
) -> list[dict[str, Any]]:
    """``tool`` messages answering ``calls`` (matched by id, else name, else order). Every
    call must be answered and every result must answer a call."""
    open_ids = [c.get("id") or f"call_{i}" for i, c in enumerate(calls)]
    names = {cid: c["name"] for cid, c in zip(open_ids, calls, strict=True)}
    out = []
    for j, res in enumerate(results):
        if res.id is not None:
            cid = res.id if res.id in open_ids else None
        elif res.name is not None:
            cid = next((i for i in open_ids if names[i] == res.name), None)
        else:
            cid = open_ids[0] if open_ids else None
        if cid is None:
            made = ", ".join(c["name"] for c in calls) or "no tool call"
            wanted = res.id or res.name or "a call"
            raise TurnError(
                f"{where}.tool_results[{j}]: no open call to answer for {wanted!r} "
                f"(the previous reply made: {made})"
            )
        open_ids.remove(cid)
        content = res.content if isinstance(res.content, str) else json.dumps(res.content)
        out.append({"role": "tool", "tool_call_id": cid, "content": content})
    if open_ids:
        left = ", ".join(names[i] for i in open_ids)
        raise TurnError(f"{where}: give tool_results for the previous reply's call(s) to {left}")
    return out


async def run_turns(
    rec: dict[str, Any],
    messages: list[dict[str, Any]],
    bound: dict[str, Any],
    project: Project,
    caller: Any,
    t: Target,
    case: Case,
    repeat: int,
    budget: _Budget,
    judge: Any,
    before_call: Callable[[], Awaitable[None]] | None = None,
) -> dict[str, Any]:
    """Run a conversation case; returns the finished record. ``judge`` is the runner's judge
    callable for model-graded assertions (passed in: this module is below the runner);
    ``before_call`` goes to every model call (the probe gate's ticket)."""
    from ..assertions import AssertionContext, run_assertions
    from ..errors import RenderError
    from ..render import render_template

    pv, turns = t.pv, case.spec.turns or []
    history = list(messages)
    params = call_params(pv, t.model)
    threshold = case.spec.threshold if case.spec.threshold is not None else pv.spec.threshold
    done: list[dict[str, Any]] = []
    prev: tuple[str, list[dict[str, Any]]] | None = None
    totals = {"latency_ms": 0.0, "tokens_in": 0, "tokens_out": 0, "cost": 0.0, "attempts": 0}
    for i, turn in enumerate(turns):
        where = f"{case.source}:{case.line}: turns[{i}]"
        try:
            if prev is not None:
                history.append(_assistant_message(*prev))
                history += tool_messages(turn.tool_results, prev[1], where)
            elif turn.tool_results:
                raise TurnError(f"{where}.tool_results: the first turn has no reply to answer")
            if turn.user is not None:
                text = render_template(turn.user, bound, f"{where}.user")
                history.append({"role": "user", "content": text})
        except (TurnError, RenderError) as e:
            return rec | {"error": e.message, "error_kind": "render", "pass": False, "score": 0.0}
        outcome = await caller.complete(
            t.model,
            list(history),
            params,
            t.api_base,
            repeat,
            t.fallbacks,
            before_call=before_call,
            provider=t.provider,
        )
        totals["attempts"] += outcome.attempts
        if not outcome.ok:
            return rec | {
                "error": f"turn {i + 1}: {outcome.error}",
                "error_kind": outcome.error_kind,
                "pass": False,
                "score": 0.0,
                "output": None,
                "turns": done,
                "attempts": totals["attempts"],
            }
        comp = outcome.completion
        if not comp.cached and comp.cost:
            budget.spent += comp.cost
        totals["latency_ms"] += comp.latency_ms
        totals["tokens_in"] += comp.tokens_in or 0
        totals["tokens_out"] += comp.tokens_out or 0
        totals["cost"] += comp.cost or 0.0
        calls = parse_calls(comp.tool_calls)
        last = i == len(turns) - 1
        specs = [*turn.assert_, *((*pv.spec.assert_, *case.spec.assert_) if last else ())]
        ctx = AssertionContext(
            output=comp.text,
            vars=bound,
            expected=case.spec.expected,
            metadata=case.spec.metadata,
            messages=list(history),
            output_format=pv.spec.output.format,
            output_schema=pv.spec.output.json_schema,
            latency_ms=comp.latency_ms,
            cost=comp.cost,
            judge=judge,
            project_root=str(project.root),
            case_id=case.id,
            tool_calls=calls,
            tools=pv.spec.tool_params().get("tools", []),
            finish_reason=comp.finish_reason,
        )
        verdict = await run_assertions(specs, ctx, threshold if last else None)
        done.append(
            {
                "output": comp.text,
                "finish_reason": comp.finish_reason,
                **({"tool_calls": calls} if calls else {}),
                **verdict.record_fields(),
            }
        )
        prev = (comp.text, calls)
    final = done[-1]
    errors = [f"turn {n + 1}: {d['assert_error']}" for n, d in enumerate(done) if d["assert_error"]]
    metrics: dict[str, list[float]] = {}
    for d in done:
        for label, v in d["metrics"].items():
            metrics.setdefault(label, []).append(v)
    rec.update(
        {
            "answered_by": t.model,
            "output": final["output"],
            "finish_reason": final["finish_reason"],
            "latency_ms": round(totals["latency_ms"], 3),
            "tokens_in": totals["tokens_in"],
            "tokens_out": totals["tokens_out"],
            "cost": totals["cost"],
            "attempts": totals["attempts"],
            "cached": False,
            "turns": done,
            "assertions": [
                {**a, "turn": n + 1, "reason": f"turn {n + 1}: {a['reason']}"}
                for n, d in enumerate(done)
                for a in d["assertions"]
            ],
            "score": round(sum(d["score"] for d in done) / len(done), 6),
            "pass": all(d["pass"] for d in done),
            "assert_error": errors[0] if errors else None,
            "metrics": {k: sum(v) / len(v) for k, v in metrics.items()},
        }
    )
    if final.get("tool_calls"):
        rec["tool_calls"] = final["tool_calls"]
    return rec
