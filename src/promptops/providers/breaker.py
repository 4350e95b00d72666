"""Stop calling a model whose setup is wrong, in seconds rather than after the whole dataset.

A missing or rejected API key, an unknown model or provider, or an optional package that is
not installed fails every call to that model the same way (the provider marks these errors
with a configuration kind, see :data:`promptops.providers.base.CONFIG_KINDS`). Until a call to
a model has succeeded, at most ``probe`` units that call it are in flight, and fewer as
configuration failures pile up (a unit is let through only while the units in flight plus the
trailing failures stay under ``probe``), so a model whose setup is wrong gets ``probe`` calls,
not more, however the answers interleave (a unit takes its place at the gate just before its
first call, so answers from the cache are not held back);
when ``probe`` calls in a row fail with the same configuration error and none has succeeded, the model is *stopped*: the
runner schedules nothing more for it and keeps what finished. One success disarms the breaker
for that model for the rest of the run; per-case failures (a 400 such as context length
exceeded, a render error) and cached answers neither trip nor disarm it.

The eval runner keeps one breaker for the evaluated models and one for the judges of
model-graded assertions (their calls observed one by one); a stopped judge stops the run.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from .base import CONFIG_KINDS


@dataclass
class _Model:
    probe: int
    proven: bool = False  # a call succeeded: the setup works
    in_flight: int = 0  # units past the gate, not yet observed
    waiters: list[asyncio.Future[None]] = field(default_factory=list)  # units at the gate
    calls: int = 0  # finished units that reached the provider, before any success
    streak: int = 0  # of those, trailing ones failing with ``signature``
    signature: tuple[str, str] | None = None
    first: dict[str, Any] = field(default_factory=dict)  # the first such error record
    stopped: bool = False


class Stopped(Exception):
    """A unit's model was stopped while the unit waited at its gate: the unit is dropped
    (not run, not recorded; resume runs it)."""


class Ticket:
    """One unit's place at its model's probe gate. The caller awaits it before the unit's
    first model call (:meth:`promptops.providers.Caller.complete`'s ``before_call``); the
    worker releases it when the unit has been observed."""

    def __init__(self, m: _Model) -> None:
        self._m = m
        self._held = False

    async def __call__(self) -> None:
        m = self._m
        if self._held:
            return
        while not m.proven:
            if m.stopped:
                raise Stopped
            if m.in_flight + m.streak < m.probe:
                m.in_flight += 1
                self._held = True
                return
            waiter = asyncio.get_running_loop().create_future()
            m.waiters.append(waiter)
            await waiter  # woken when a unit is observed or leaves the gate

    def release(self) -> None:
        if self._held:
            self._held = False
            self._m.in_flight -= 1
            _wake(self._m)


def _wake(m: _Model) -> None:
    """Let the units waiting at ``m``'s gate look again."""
    waiters, m.waiters = m.waiters, []
    for w in waiters:
        if not w.done():
            w.set_result(None)


class Breaker:
    """Per-model probe gate and configuration-error circuit breaker for one run."""

    def __init__(self, probe: int = 3) -> None:
        self.probe = probe
        self._models: dict[str, _Model] = {}

    def _m(self, model: str) -> _Model:
        m = self._models.get(model)
        if m is None:
            m = self._models[model] = _Model(self.probe)
        return m

    def stopped(self, model: str) -> bool:
        m = self._models.get(model)
        return m is not None and m.stopped

    @property
    def tripped(self) -> bool:
        """Some model is stopped."""
        return any(m.stopped for m in self._models.values())

    def ticket(self, model: str) -> Ticket:
        """A unit's place at ``model``'s gate (bounded until the model works)."""
        return Ticket(self._m(model))

    def observe(self, model: str, rec: dict[str, Any]) -> None:
        """Learn from a finished unit's record."""
        m = self._m(model)
        try:
            self._learn(m, rec)
        finally:
            _wake(m)

    def _learn(self, m: _Model, rec: dict[str, Any]) -> None:
        if m.proven or m.stopped:
            return
        kind = rec.get("error_kind")
        if not rec.get("error"):
            if not rec.get("cached"):
                m.proven = True
            return
        if kind == "render" or not rec.get("attempts"):
            return  # no call was made: says nothing about the model
        m.calls += 1
        if kind not in CONFIG_KINDS:
            m.streak, m.signature = 0, None
            return
        sig = (str(kind), _normalize(str(rec.get("error") or "")))
        if sig != m.signature:
            m.streak, m.signature, m.first = 0, sig, rec
        m.streak += 1
        if m.streak >= self.probe:
            m.stopped = True

    def finish(self) -> None:
        """End of run: a model whose every call (fewer than ``probe``) failed the same way
        counts as stopped too, so a small eval gets the same clear error."""
        for m in self._models.values():
            if not m.proven and not m.stopped and m.streak and m.streak == m.calls:
                m.stopped = True

    def report(self) -> list[dict[str, Any]]:
        """One entry per stopped model: what failed and what to do."""
        return [
            {
                "model": model,
                "error_kind": m.first.get("error_kind"),
                "error": m.first.get("error"),
                "hint": m.first.get("hint"),
                "failed_calls": m.streak,
            }
            for model, m in self._models.items()
            if m.stopped
        ]


def _normalize(message: str) -> str:
    """Messages of one configuration error differ only in ids and numbers; compare the rest."""
    return "".join("0" if c.isdigit() else c for c in message)[:200]


def short_error(message: str, limit: int = 160) -> str:
    """A provider's message without the SDKs' chain of class names (``InternalServerError:
    litellm.InternalServerError: OpenAIException - ``), on one line, cut at ``limit``."""
    import re

    text = " ".join(str(message).split())
    chain = re.compile(r"^(?:(?:litellm\.)?[A-Z]\w*(?:Error|Exception)\s*(?::|-)\s*)+")
    text = chain.sub("", text) or text
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def stop_reason(stopped: list[dict[str, Any]]) -> str:
    """The one error a user reads when a run stopped on configuration errors: a line per
    model, then the fix."""
    lines = []
    for s in stopped:
        who = f"judge {s['model']}" if s.get("judge") else s["model"]
        lines.append(
            f"{who}: stopped after {s['failed_calls']} call(s) with the same configuration "
            f"error ({s['error_kind']}): {short_error(s['error'] or '')}"
        )
        if s.get("hint"):
            lines.append(f"  fix: {s['hint']}")
    return "\n".join(lines)
