"""The batch APIs ``eval --batch`` can use, behind one small interface
(:class:`BatchAPI`): OpenAI's (and OpenAI-compatible servers') Batch API in
:mod:`.openai_batch`, Anthropic's Message Batches in :mod:`.anthropic_batch`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .base import CallError, Completion


TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
"""Final batch statuses, in the vocabulary every client reports in."""


class BatchAPI(Protocol):
    """One endpoint's batch API for one model. Batch objects come back with ``id``,
    ``status`` (one of :data:`TERMINAL`, or a running state) and ``request_counts``
    (``total``, ``completed``, ``failed``)."""

    base: str

    @property
    def max_requests(self) -> int: ...

    @property
    def max_bytes(self) -> int: ...

    def line(self, custom_id: str, messages: Any, params: dict[str, Any]) -> bytes: ...

    def parse(self, line: dict[str, Any]) -> Completion | CallError | None: ...

    async def submit(
        self, lines: list[bytes], run_id: str
    ) -> tuple[dict[str, Any], str | None]: ...

    async def retrieve(self, batch_id: str) -> dict[str, Any]: ...

    async def results(self, info: dict[str, Any], errors: bool) -> list[dict[str, Any]]: ...


def is_anthropic(model: str) -> bool:
    return model.startswith("anthropic/")


def batch_client(model: str, api_base: str | None, timeout: float = 120.0) -> BatchAPI:
    """The batch API that answers ``model`` at ``api_base``."""
    if is_anthropic(model):
        from .anthropic_batch import AnthropicBatchClient

        return AnthropicBatchClient(model, api_base, timeout)
    from .openai_batch import BatchClient

    return BatchClient(model, api_base, timeout)
