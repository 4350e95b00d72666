"""What an eval will cost before it runs (``promptops eval --estimate``): calls, tokens and
dollars, from the dataset, the rendered templates, the cache and litellm's price file, without
calling any model.

Prompt tokens are counted with the model's tokenizer (:mod:`promptops.providers.tokens`); the
answers' tokens are not known before the call, so they are bounded by ``max_tokens`` (no bound
without it), and so is the dollar figure: ``cost_in`` is what the prompts cost, ``cost_max``
adds every answer at ``max_tokens``. Cases the response cache already answers cost nothing and
are counted apart. Judge calls (model-graded assertions) are counted, not priced.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import RenderError
from ..project import Project, PromptVersion


@dataclass
class EstimateRow:
    """One (prompt version, model) column of the eval."""

    ref: str
    model: str
    units: int = 0  # cases x repeats
    cached: int = 0  # units the response cache answers (no call)
    calls: int = 0  # model calls to make (a conversation makes one per turn)
    judge_calls: int = 0  # model-graded assertions on the units to call (not priced)
    render_errors: int = 0  # cases that do not render (recorded as errors, no call)
    tokens_in: int = 0  # prompt tokens of the calls to make
    tokens_out_max: int | None = None  # answers at max_tokens; None: no max_tokens
    cost_in: float | None = None  # the prompt tokens' price; None: no price known
    cost_max: float | None = None  # plus every answer at max_tokens
    tokenizer: str = ""
    batch: bool = False  # eval --batch: single-turn calls at the batch price


@dataclass
class Estimate:
    rows: list[EstimateRow] = field(default_factory=list)

    def totals(self) -> dict[str, Any]:
        def total(name: str) -> Any:
            values = [getattr(r, name) for r in self.rows]
            return None if any(v is None for v in values) else sum(values)

        keys = ("units", "cached", "calls", "judge_calls", "tokens_in", "tokens_out_max")
        return {k: total(k) for k in (*keys, "cost_in", "cost_max")}

    def to_json(self) -> dict[str, Any]:
        return {"rows": [asdict(r) for r in self.rows], "total": self.totals()}


def _judged(pv: PromptVersion, case_asserts: list[Any]) -> int:
    from ..assertions.base import REGISTRY

    specs = [*pv.spec.assert_, *case_asserts]
    return sum(1 for a in specs if (t := REGISTRY.get(a.type)) is not None and t.model_graded)


def _count(
    prov: Any,
    model: str,
    calls: list[tuple[list[dict[str, Any]], int]],
    tools: list[dict[str, Any]] | None,
) -> tuple[int, str]:
    """Prompt tokens of the calls (messages, turns) and how they were counted: the provider's
    own tokenizer where it has one (the optional ``prompt_tokens(model, prompts)`` hook: the
    local provider asks its llama.cpp server), else :mod:`promptops.providers.tokens`. A
    conversation's later turns are counted as its first (a lower bound)."""
    hook = getattr(prov, "prompt_tokens", None)
    if hook is not None and calls:
        counts = hook(model, [m for m, _ in calls])
        return sum(n * turns for n, (_, turns) in zip(counts, calls, strict=True)), (
            f"{model}'s own"
        )
    from ..providers.tokens import counter, prompt_tokens

    count, label = counter(model)
    return sum(prompt_tokens(m, count, tools) * turns for m, turns in calls), label


def _price(row: EstimateRow, prov: Any, max_tokens: Any, batch: bool = False) -> None:
    """Dollars from litellm's price file, or the provider's flat ``cost_per_token`` (local
    models: 0); with ``batch``, the batch price (:func:`~promptops.providers.prices.batch_cost`)."""
    from ..providers.prices import batch_cost
    from ..providers.prices import cost as full_cost

    cost = batch_cost if batch else full_cost

    if isinstance(max_tokens, int):
        row.tokens_out_max = max_tokens * row.calls
    flat: Any = getattr(prov, "cost_per_token", None)
    if row.calls == 0 or isinstance(flat, int | float):  # nothing to pay, or a flat rate
        rate = 0.0 if row.calls == 0 else float(flat)
        row.cost_in = rate * row.tokens_in
        if row.tokens_out_max is not None:
            row.cost_max = rate * (row.tokens_in + row.tokens_out_max)
        return
    row.cost_in = cost(row.model, row.tokens_in, 0)
    if row.tokens_out_max is not None and row.cost_in is not None:
        row.cost_max = cost(row.model, row.tokens_in, row.tokens_out_max)


def _tokens(
    prov: Any,
    model: str,
    calls: list[tuple[list[dict[str, Any]], int]],
    tools: list[dict[str, Any]] | None,
    approximate: bool,
) -> tuple[int, str]:
    """:func:`_count`, or with ``approximate`` 4 characters a token (no tokenizer to load)."""
    if not approximate:
        return _count(prov, model, calls, tools)
    from ..providers.tokens import prompt_tokens

    chars = lambda text: (len(text) + 3) // 4  # noqa: E731
    return sum(prompt_tokens(m, chars, tools) * n for m, n in calls), "4 characters a token"


def _cost_of(
    row: EstimateRow,
    prov: Any,
    params: dict[str, Any],
    ordinary: list[tuple[list[dict[str, Any]], int]],
    batched: list[tuple[list[dict[str, Any]], int]],
    approximate: bool = False,
    scale: float = 1.0,
) -> None:
    """Calls, tokens and dollars of the calls, scaled by ``scale`` (a sample of the cases):
    ``ordinary`` at the price, ``batched`` (eval --batch's single-turn calls; conversations run
    normally) at the batch price."""
    parts = []
    for calls, batch in ((ordinary, False), (batched, True)):
        part = EstimateRow(row.ref, row.model)
        part.calls = round(sum(turns for _, turns in calls) * scale)
        tokens, part.tokenizer = _tokens(prov, row.model, calls, params.get("tools"), approximate)
        part.tokens_in = round(tokens * scale)
        _price(part, prov, params.get("max_tokens"), batch)
        parts.append(part)
    a, b = parts
    row.calls = a.calls + b.calls
    row.tokens_in = a.tokens_in + b.tokens_in
    row.tokenizer = b.tokenizer if b.calls else a.tokenizer

    def add(x: Any, y: Any) -> Any:
        return None if x is None or y is None else x + y

    row.tokens_out_max = add(a.tokens_out_max, b.tokens_out_max)
    row.cost_in = add(a.cost_in, b.cost_in)
    row.cost_max = add(a.cost_max, b.cost_max)


def estimate(
    project: Project, versions: list[PromptVersion], opts: Any, sample: int | None = None
) -> Estimate:
    """The estimate for ``promptops eval`` with these versions and options (an
    :class:`~promptops.eval.runner.EvalOptions`). Raises what the eval would raise before
    starting (bad refs, a dataset that does not parse).

    ``sample``: render, look up and count between this many and twice as many cases per row,
    spread evenly over the dataset, count prompt tokens at 4 characters a token (no tokenizer to load) and scale
    to all the cases (the line before a large eval: it must not delay the first call). The
    cases, repeats and turns are counted exactly either way."""
    from .runner import _cases, _targets, _validate

    opts.check()
    targets = _targets(project, versions, opts)
    if opts.batch:
        from .batch import check_batchable

        check_batchable(targets, opts)
    if sample is None:
        _validate(targets, opts)
    listed = []
    for t in targets:
        if sample is None:
            cases = list(_cases(t, opts))
            listed.append((t, len(cases), cases))
        else:
            n, _, kept = _kept(_cases(t, opts), sample, opts.repeat)
            listed.append((t, n, kept))
    return _estimate(project, listed, opts, sample)


def _estimate(
    project: Project, listed: list[tuple[Any, int, list[Any]]], opts: Any, sample: int | None
) -> Estimate:
    """The rows of :func:`estimate`, from each target, its number of cases and the cases kept
    of them (all, or an even spread)."""
    from .. import assertions  # registers the assertion types  # noqa: F401
    from ..cache import ResponseCache
    from ..providers import Caller, route
    from ..render import bind_inputs, render_bound
    from ..toolcalls import call_params

    cache = ResponseCache(project.cache_dir) if opts.use_cache else None
    caller = Caller(cache=cache)
    out = Estimate()
    try:
        for t, n_cases, cases in listed:
            prov = route(t.model, t.api_base, t.provider)
            row = EstimateRow(t.pv.ref, t.model)
            params = call_params(t.pv, t.model)
            units: list[tuple[list[dict[str, Any]], int, list[str], int]] = []
            errors = 0
            for case in cases:
                try:
                    bound = bind_inputs(t.pv, case.spec.vars, where=f"{case.source}:{case.line}")
                    messages = render_bound(t.pv, bound)
                except RenderError:
                    errors += opts.repeat
                    continue
                turns = len(case.spec.turns or []) or 1
                judges = _judged(t.pv, list(case.spec.assert_))
                for r in range(opts.repeat):
                    keys = (
                        caller.cache_keys(
                            t.model,
                            messages,
                            params,
                            t.api_base,
                            r,
                            t.fallbacks,
                            provider=t.provider,
                        )
                        if cache is not None and not case.spec.turns
                        else []
                    )
                    units.append((messages, turns, keys, judges))
            hits = set(cache.get_many([k for u in units for k in u[2]])) if cache else set()
            to_call: list[tuple[list[dict[str, Any]], int]] = []
            batched: list[tuple[list[dict[str, Any]], int]] = []  # eval --batch: single turns
            cached = judge_calls = 0
            for messages, turns, keys, judges in units:
                if keys and any(k in hits for k in keys):
                    cached += 1
                    continue
                judge_calls += judges
                (batched if opts.batch and turns == 1 else to_call).append((messages, turns))
            scale = n_cases / len(cases) if cases else 0.0
            row.units = n_cases * opts.repeat
            row.render_errors = round(errors * scale)
            row.cached = round(cached * scale)
            row.judge_calls = round(judge_calls * scale)
            row.batch = bool(opts.batch)
            _cost_of(row, prov, params, to_call, batched, sample is not None, scale)
            out.rows.append(row)
    finally:
        if cache is not None:
            cache.close()
    return out


def _kept(cases: Iterable[Any], sample: int, repeat: int) -> tuple[int, int, list[Any]]:
    """One pass over the cases: their number, the calls they can make (repeats and turns,
    cached ones included) and an even spread of between ``sample`` and ``2 * sample`` of them
    (every ``step``-th; when twice ``sample`` are kept, every other one goes and the step
    doubles), so memory stays bounded for any dataset."""
    n = bound = 0
    step = 1
    kept: list[Any] = []
    for case in cases:
        if n % step == 0:
            kept.append(case)
            if len(kept) >= 2 * sample:
                kept = kept[::2]
                step *= 2
        n += 1
        bound += (len(case.spec.turns or []) or 1) * repeat
    return n, bound, kept


def estimate_before_eval(
    project: Project, versions: list[PromptVersion], opts: Any, above: int, sample: int = 64
) -> Estimate | None:
    """The estimate shown before an eval expected to make more than ``above`` model calls
    (cached cases excluded), from ``sample`` cases per row; None below that (known from the
    cases, repeats and turns alone, before anything is rendered or looked up). No model is
    called, litellm is not imported (the character rule counts tokens; prices come from its
    file)."""
    from .runner import _cases, _targets

    opts.check()
    targets = _targets(project, versions, opts)
    if opts.batch:  # refused before a line about it
        from .batch import check_batchable

        check_batchable(targets, opts)
    listed = []
    bound = 0
    for t in targets:
        n, calls, kept = _kept(_cases(t, opts), sample, opts.repeat)
        listed.append((t, n, kept))
        bound += calls
    if bound <= above:
        return None
    est = _estimate(project, listed, opts, sample)
    return est if (est.totals()["calls"] or 0) > above else None
