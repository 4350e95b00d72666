"""Ready-made responders for :class:`~promptops.testing.fake_openai.FakeOpenAI` and combinators:
:func:`echo` (the default), :func:`constant`, :func:`sequence`, :func:`fail_first`, :func:`flaky`,
:func:`noisy`, :func:`by_content` and :func:`slow`. Each is deterministic given its seed.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from typing import TypeAlias

from .outcomes import Fault, Outcome, Reply, Request, Responder, as_reply

# --------------------------------------------------------------------------- #
# Responders
# --------------------------------------------------------------------------- #


def echo(request: Request) -> Reply:
    """Default responder: answer with the last user message (or the prompt)."""
    return Reply(request.text)


def constant(outcome: Outcome) -> Responder:
    """Always return ``outcome``."""

    def responder(request: Request) -> Outcome:
        return outcome

    return responder


def sequence(*outcomes: Outcome, then: Responder = echo) -> Responder:
    """Return ``outcomes`` in global arrival order, then delegate to ``then``."""
    lock = threading.Lock()
    queue = list(outcomes)
    position = 0

    def responder(request: Request) -> Outcome:
        nonlocal position
        with lock:
            if position < len(queue):
                position += 1
                return queue[position - 1]
        return then(request)

    return responder


def fail_first(
    n: int,
    fault: Fault | None = None,
    *,
    then: Responder = echo,
    key: Callable[[Request], str] | None = None,
) -> Responder:
    """Fail the first ``n`` calls *of each distinct prompt*, then delegate to ``then``.

    Args:
        n: failures per prompt before succeeding.
        fault: what to fail with (default HTTP 500).
        then: responder used once a prompt has failed ``n`` times.
        key: prompt identity (default :attr:`Request.key`).

    The returned callable has an ``attempts`` attribute: ``dict[key, calls]``.
    """
    chosen = fault if fault is not None else Fault.server_error()
    keyfunc = key if key is not None else _request_key
    lock = threading.Lock()
    attempts: dict[str, int] = {}

    def responder(request: Request) -> Outcome:
        k = keyfunc(request)
        with lock:
            seen = attempts.get(k, 0)
            attempts[k] = seen + 1
        return chosen if seen < n else then(request)

    responder.attempts = attempts  # type: ignore[attr-defined]
    return responder


def _request_key(request: Request) -> str:
    return request.key


def _unit(seed: int, key: str, nth: int, salt: str) -> float:
    """Deterministic uniform [0, 1) draw from (seed, key, occurrence, salt)."""
    digest = hashlib.blake2b(f"{seed}\x00{salt}\x00{nth}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


class _Occurrences:
    """Thread-safe per-key occurrence counter (n-th time a prompt is seen)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: Counter[str] = Counter()

    def next(self, key: str) -> int:
        with self._lock:
            nth = self._seen[key]
            self._seen[key] = nth + 1
            return nth


def flaky(
    p_fault: float,
    fault: Fault | None = None,
    *,
    seed: int = 0,
    then: Responder = echo,
    key: Callable[[Request], str] | None = None,
) -> Responder:
    """Fail with probability ``p_fault`` (seeded, reproducible), else delegate.

    The draw depends only on ``(seed, prompt key, how many times this prompt was
    seen)``, so results do not depend on the arrival order of *different* prompts
    under concurrency.
    """
    chosen = fault if fault is not None else Fault.server_error()
    keyfunc = key if key is not None else _request_key
    occurrences = _Occurrences()

    def responder(request: Request) -> Outcome:
        k = keyfunc(request)
        if _unit(seed, k, occurrences.next(k), "flaky") < p_fault:
            return chosen
        return then(request)

    return responder


TextSource: TypeAlias = str | Callable[[Request], str]


def _text_of(source: TextSource, request: Request) -> str:
    return source if isinstance(source, str) else source(request)


def _echo_text(request: Request) -> str:
    return request.text


def noisy(
    p_correct: float | Callable[[Request], float],
    correct: TextSource = _echo_text,
    wrong: TextSource = "WRONG",
    seed: int = 0,
    *,
    key: Callable[[Request], str] | None = None,
) -> Responder:
    """Answer ``correct`` with probability ``p_correct`` else ``wrong`` (seeded).

    Args:
        p_correct: probability, or a function of the request (per-case accuracy).
        correct: answer text, or a function of the request (default: echo).
        wrong: answer text, or a function of the request.
        seed: different seeds give independent answer streams (e.g. baseline
            vs. candidate runs for false-alarm-rate tests of a regression gate).
        key: prompt identity (default :attr:`Request.key`).

    Each draw depends only on ``(seed, prompt key, occurrence of that prompt)``,
    so a run is reproducible regardless of concurrency, while repeated calls of
    the same prompt are independent trials.
    """
    keyfunc = key if key is not None else _request_key
    occurrences = _Occurrences()

    def responder(request: Request) -> Outcome:
        k = keyfunc(request)
        p = p_correct(request) if callable(p_correct) else p_correct
        u = _unit(seed, k, occurrences.next(k), "noisy")
        return Reply(_text_of(correct if u < p else wrong, request))

    return responder


def by_content(
    answers: Mapping[str, Outcome] | Callable[[str], Outcome | None],
    *,
    default: Responder = echo,
    substring: bool = False,
) -> Responder:
    """Decide the answer from the user message (:attr:`Request.text`).

    Args:
        answers: mapping from user text to outcome (exact match, or first key
            contained in the text if ``substring``), or a function of the text
            returning an outcome or ``None``.
        default: responder used when nothing matches / the function returns None.
    """

    def responder(request: Request) -> Outcome:
        text = request.text
        found: Outcome | None
        if callable(answers):
            found = answers(text)
        elif substring:
            found = next((v for k, v in answers.items() if k in text), None)
        else:
            found = answers.get(text)
        return default(request) if found is None else found

    return responder


def slow(latency: float, then: Responder = echo) -> Responder:
    """Delegate to ``then`` but answer after ``latency`` seconds (replies and faults)."""

    def responder(request: Request) -> Outcome:
        outcome = as_reply(then(request))
        if isinstance(outcome, Reply):
            return Reply(
                text=outcome.text,
                latency=latency,
                finish_reason=outcome.finish_reason,
                prompt_tokens=outcome.prompt_tokens,
                completion_tokens=outcome.completion_tokens,
                model=outcome.model,
                headers=outcome.headers,
            )
        return Fault(
            kind=outcome.kind,
            status=outcome.status,
            message=outcome.message,
            error_type=outcome.error_type,
            retry_after=outcome.retry_after,
            seconds=outcome.seconds,
            body=outcome.body,
            reset=outcome.reset,
            latency=latency,
            headers=outcome.headers,
        )

    return responder
