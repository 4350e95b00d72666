"""``eval --batch``: the uncached cases go to the provider's batch API (half price, answers
within the provider's window), and the run records them through its ordinary path.

How it hooks into the runner (:func:`promptops.eval.runner.arun_eval`): before the eval loop
starts, :meth:`BatchPhase.run` collects the units the loop would call (not recorded yet, not
answered by the response cache, single-turn), submits them as batches, persists what it
submitted, polls until the batches end and downloads their answers. The loop then runs as
always with :attr:`BatchPhase.caller` in place of the run's caller: a call whose cache key has
a batch answer gets that answer (stored in the response cache too, so a later run without
``--batch`` hits it, and an answer cached by an ordinary run is never sent in a batch); every
other call (conversation turns, judges, units the cache answers) goes through the run's caller
unchanged. Units whose batch ended without answering them (expired, cancelled, failed) are
:attr:`BatchPhase.held`: the loop skips them, nothing is recorded, and the run ends
``incomplete``; ``eval --resume`` submits only those.

What survives the process ending: ``batches.json`` in the run directory, written atomically
after each batch is created and before any polling, holds each batch's id, input file id,
endpoint (without credentials) and custom_id -> unit mapping. A resumed run reads it first and
collects those batches by id: a batch still running or completed is never submitted again;
only the units no batch answered, or will answer, are. A batch created in the instant before
``batches.json`` was written is found on resume by the run id in its metadata (``_adopt``).

The provider's batch API is a :class:`~promptops.providers.batches.BatchAPI`: OpenAI's (file
upload, then a batch over it) or, for ``anthropic/`` models, Anthropic's Message Batches
(requests inline, no input file id, no metadata: ``_adopt`` cannot find its unsaved batches).

Choices, documented in the README: one batch per (model, endpoint), split at the provider's
limits (OpenAI: 50,000 lines / 200 MB per input file; Anthropic: 100,000 requests / 256 MB);
a line the provider fails is recorded as that error (fallback models are not tried; resume asks
it again); a batch answer's latency is 0 (the provider does not report one); cost is the batch
price (:func:`promptops.providers.prices.batch_cost`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from ..cache import cache_key
from ..errors import ProviderError, RenderError, RunError

if TYPE_CHECKING:
    from ..datasets import Case
    from ..project import Project
    from ..providers.base import CallError, Completion
    from ..providers.batches import BatchAPI
    from .runner import EvalOptions, Target
    from .store import RunDir

STATE_FILE = "batches.json"
UnitKey = tuple[str, str, str, int]  # (digest, model, case_id, repeat): a record's key


@dataclass
class Unit:
    """One (target, case, repeat) whose call goes in a batch."""

    key: UnitKey
    target: Target
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    call_key: str  # the response-cache key of its call

    @property
    def custom_id(self) -> str:
        blob = "\0".join(str(k) for k in self.key)
        return "u-" + hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]


@dataclass
class BatchInfo:
    """What a progress display shows about one batch."""

    id: str
    status: str
    total: int
    completed: int
    failed: int


def check_batchable(targets: list[Target], opts: EvalOptions) -> None:
    """Refuse ``--batch`` where it cannot work, before anything is recorded (exit 1)."""
    from ..providers.base import route
    from ..providers.batches import is_anthropic
    from ..providers.native import NativeProvider

    if opts.max_cost is not None:
        raise ProviderError(
            "--batch with --max-cost: a batch is priced once it has run, so --max-cost cannot "
            "stop it part way; see the price first with --estimate --batch"
        )
    for t in targets:
        if is_anthropic(t.model):
            continue  # Anthropic's Message Batches (providers/anthropic_batch.py)
        if not isinstance(route(t.model, t.api_base, t.provider), NativeProvider):
            why = "provider: litellm" if t.provider == "litellm" else "litellm or its own provider"
            raise ProviderError(
                f"--batch: {t.model} ({t.pv.ref}) is called through {why}, which has no batch "
                f"endpoint in promptops; --batch works for openai/ and anthropic/ models and OpenAI-compatible "
                f"api_base endpoints that implement /v1/batches. Run it without --batch"
            )


class BatchCaller:
    """The run's caller, answering the calls a batch answered (see the module docstring)."""

    def __init__(self, caller: Any, answers: dict[str, Completion | CallError]) -> None:
        self._caller = caller
        self._answers = answers
        self.batch_answers = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._caller, name)

    @property
    def calls(self) -> int:
        return int(self._caller.calls) + self.batch_answers

    async def complete(
        self,
        model: str,
        messages: list[dict[str, Any]],
        params: dict[str, Any] | None = None,
        api_base: str | None = None,
        repeat: int = 0,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        from ..providers.base import CallError, route
        from ..providers.retry import Outcome

        if self._answers:
            prov = route(model, api_base, kwargs.get("provider"))
            key = cache_key(model, messages, params or {}, api_base, repeat, prov.identity(model))
            answer = self._answers.get(key)
            if answer is not None:
                self.batch_answers += 1
                if isinstance(answer, CallError):
                    return Outcome(
                        None,
                        error=str(answer),
                        error_kind=answer.kind,
                        hint=answer.hint,
                        attempts=1,
                        tried=[model],
                    )
                cache = self._caller.cache
                if cache is not None and prov.cacheable:
                    await cache.aput(key, answer.to_json())
                return Outcome(answer, attempts=1, tried=[model])
        return await self._caller.complete(
            model, messages, params, api_base, repeat, *args, **kwargs
        )


@dataclass
class BatchPhase:
    """Submit, persist, poll and collect the run's batches (see the module docstring)."""

    project: Project
    rundir: RunDir
    targets: list[Target]
    opts: EvalOptions
    caller: Any
    done: set[UnitKey]
    cases: Callable[[Target], Iterator[Case]]
    on_batch: Callable[[BatchInfo], None] | None = None
    sleep: Callable[[float], Any] = asyncio.sleep
    resuming: bool = False  # eval --resume: look for batches created but not saved
    held: set[UnitKey] = field(default_factory=set)
    batch_ids: list[str] = field(default_factory=list)
    ended: dict[str, str] = field(default_factory=dict)  # batch id -> its final status
    reasons: dict[str, str] = field(default_factory=dict)  # failed batch id -> the first error

    def held_message(self) -> str:
        """Why the run is incomplete, and how to finish it."""
        ended = ", ".join(
            f"{b} {s}" + (f" ({self.reasons[b]})" if b in self.reasons else "")
            for b, s in self.ended.items()
            if s != "completed"
        )
        return (
            f"{len(self.held)} requests were not answered by their batch ({ended or 'no answer'});"
            f" they are not recorded; submit only those with: promptops eval --resume {self.rundir.id}"
        )

    @property
    def state_path(self) -> Path:
        return self.rundir.path / STATE_FILE

    def _load(self) -> list[dict[str, Any]]:
        """The batches an earlier process of this run submitted (none on a new run)."""
        if not self.state_path.is_file():
            return []
        where = self.project.rel(self.state_path)
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise RunError(f"{where}: unreadable: {e}") from None
        batches = data.get("batches") if isinstance(data, dict) else None
        if not isinstance(batches, list):
            raise RunError(f"{where}: batches: expected a list")
        for i, b in enumerate(batches):
            fields = {"id": str, "model": str, "units": dict}
            for name, kind in fields.items():
                if not isinstance(b, dict) or not isinstance(b.get(name), kind):
                    raise RunError(
                        f"{where}: batches[{i}].{name}: missing or not a {kind.__name__}"
                    )
        return batches

    def _save(self, batches: list[dict[str, Any]]) -> None:
        self.rundir.write_json(self.state_path, {"schema_version": 1, "batches": batches})

    def _units(self) -> list[Unit]:
        """The units the loop would call that a batch can answer."""
        from ..providers.base import route
        from ..render import bind_inputs, render_bound
        from ..toolcalls import call_params

        cache = self.caller.cache
        out: list[Unit] = []
        for t in self.targets:
            prov = route(t.model, t.api_base, t.provider)
            identity = prov.identity(t.model)
            params = call_params(t.pv, t.model)
            for case in self.cases(t):
                if case.spec.turns:  # later turns depend on earlier replies: run normally
                    continue
                try:
                    bound = bind_inputs(t.pv, case.spec.vars, where=f"{case.source}:{case.line}")
                    messages = render_bound(t.pv, bound)
                except RenderError:
                    continue  # recorded as a render error by the loop
                for r in range(self.opts.repeat):
                    key = (t.pv.digest, t.model, case.id, r)
                    if key in self.done:
                        continue
                    ck = cache_key(t.model, messages, params, t.api_base, r, identity)
                    out.append(Unit(key, t, messages, params, ck))
        if cache is not None and out:
            # answered by the cache over the whole chain (fallbacks too): the loop's, not ours
            chains = [
                self.caller.cache_keys(
                    u.target.model,
                    u.messages,
                    u.params,
                    u.target.api_base,
                    u.key[3],
                    u.target.fallbacks,
                    provider=u.target.provider,
                )
                for u in out
            ]
            found = set(cache.get_many(sorted({k for keys in chains for k in keys})))
            out = [u for u, keys in zip(out, chains, strict=True) if not found.intersection(keys)]
        return out

    async def run(self) -> BatchCaller:
        """Collect every answer a batch gives this run; returns the caller the loop uses."""
        from ..providers.batches import TERMINAL

        units = {u.custom_id: u for u in self._units()}
        answers: dict[str, Completion | CallError] = {}
        state = self._load()
        if self.resuming and units:
            await self._adopt(state, units)
        live: list[dict[str, Any]] = []
        # batches an earlier process submitted: collected by id, never submitted again
        for entry in state:
            wanted = [cid for cid in entry.get("units", {}) if cid in units]
            if not wanted:
                continue
            client = self._client(entry)
            info = await self._retrieve(client, entry["id"], missing_ok=True)
            if info is None:  # the provider no longer has it: its units are submitted again
                entry["status"] = "gone"
                continue
            if info["status"] in TERMINAL:
                await self._collect(client, info, entry, units, answers, errors=False)
            else:
                live.append(entry)
        covered = {cid for e in live for cid in e["units"]} | {
            cid for cid, u in units.items() if u.call_key in answers
        }
        todo = [u for cid, u in units.items() if cid not in covered]
        for group in self._groups(todo):
            entry = await self._submit(group)
            state.append(entry)
            self._save(state)  # before polling: a resume finds it by id
            live.append(entry)
        for entry in live:
            client = self._client(entry)
            info = await self._poll(client, entry["id"])
            await self._collect(client, info, entry, units, answers, errors=True)
        if state:
            self._save(state)  # each batch's last status
        # what no batch answered (expired, cancelled, failed): not recorded, resume asks again
        self.held = {u.key for u in units.values() if u.call_key not in answers}
        return BatchCaller(self.caller, answers)

    async def _adopt(self, state: list[dict[str, Any]], units: dict[str, Unit]) -> None:
        """Batches of this run the provider has and ``batches.json`` does not (the process
        ended between creating one and saving it): found by the run id in their metadata
        (the provider's 100 most recent batches), their units read back from their input file
        (custom_ids are digests of the units' keys), and saved."""
        from ..providers.base import CallError
        from ..providers.batches import is_anthropic
        from ..providers.openai_batch import BatchClient
        from ..redact import strip_url

        known = {e["id"] for e in state}
        seen_bases: set[str] = set()
        for t in self.targets:
            if is_anthropic(t.model):
                continue  # its batches carry no run id to find them by (see anthropic_batch)
            client = BatchClient(t.model, t.api_base, timeout=self.opts.timeout or 120.0)
            if client.base in seen_bases:
                continue
            seen_bases.add(client.base)
            try:
                listed = await client.list()
            except CallError:
                continue  # listing is optional for OpenAI-compatible servers
            for b in listed:
                meta = b.get("metadata") if isinstance(b, dict) else None
                if not isinstance(meta, dict) or meta.get("promptops_run") != self.rundir.id:
                    continue
                if b.get("id") in known or not isinstance(b.get("input_file_id"), str):
                    continue
                try:
                    raw = await client.content(b["input_file_id"])
                except CallError:
                    continue
                mine: dict[str, list[Any]] = {}
                for text in raw.splitlines():
                    try:
                        cid = json.loads(text).get("custom_id")
                    except (ValueError, AttributeError):
                        continue
                    if isinstance(cid, str) and cid in units:
                        mine[cid] = list(units[cid].key)
                if not mine:
                    continue
                model = units[next(iter(mine))].target.model
                state.append(
                    {
                        "id": b["id"],
                        "input_file_id": b["input_file_id"],
                        "model": model,
                        "endpoint": strip_url(client.base),
                        "units": mine,
                        "adopted": True,
                    }
                )
                known.add(b["id"])
                self._save(state)

    def _client(self, entry: dict[str, Any]) -> BatchAPI:
        model = entry["model"]
        api_base = next((t.api_base for t in self.targets if t.model == model), None)
        return self._client_for(model, api_base)

    def _client_for(self, model: str, api_base: str | None) -> BatchAPI:
        from ..providers.batches import batch_client

        return batch_client(model, api_base, timeout=self.opts.timeout or 120.0)

    def _groups(self, units: list[Unit]) -> Iterator[list[tuple[Unit, bytes]]]:
        """One batch per (model, endpoint), split at the provider's request and byte limits;
        each unit with its request as the provider's client encodes it."""
        by_model: dict[tuple[str, str | None], list[Unit]] = {}
        for u in units:
            by_model.setdefault((u.target.model, u.target.api_base), []).append(u)
        for (model, api_base), group in by_model.items():
            client = self._client_for(model, api_base)
            chunk: list[tuple[Unit, bytes]] = []
            size = 0
            for u in group:
                line = client.line(u.custom_id, u.messages, u.params)
                if chunk and (
                    len(chunk) >= client.max_requests or size + len(line) > client.max_bytes
                ):
                    yield chunk
                    chunk, size = [], 0
                chunk.append((u, line))
                size += len(line)
            if chunk:
                yield chunk

    async def _submit(self, pairs: list[tuple[Unit, bytes]]) -> dict[str, Any]:
        from ..providers.base import CallError
        from ..redact import strip_url

        group = [u for u, _ in pairs]
        t = group[0].target
        client = self._client_for(t.model, t.api_base)
        try:
            batch, file_id = await client.submit([line for _, line in pairs], self.rundir.id)
        except CallError as e:
            raise ProviderError(
                f"--batch: submitting {len(group)} requests to {strip_url(client.base)} failed: "
                f"{e}" + (f" ({e.hint})" if e.hint else "")
            ) from None
        self.batch_ids.append(str(batch["id"]))
        return {
            "id": batch["id"],
            **({"input_file_id": file_id} if file_id is not None else {}),
            "model": t.model,
            "endpoint": strip_url(client.base),
            "submitted": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "units": {u.custom_id: list(u.key) for u in group},
        }

    @overload
    async def _retrieve(self, client: BatchAPI, batch_id: str) -> dict[str, Any]: ...

    @overload
    async def _retrieve(
        self, client: BatchAPI, batch_id: str, missing_ok: bool
    ) -> dict[str, Any] | None: ...

    async def _retrieve(
        self, client: BatchAPI, batch_id: str, missing_ok: bool = False
    ) -> dict[str, Any] | None:
        """The batch object (None with ``missing_ok`` when the provider does not know it);
        transient failures (a dropped connection, a 5xx) are retried a few times, since the
        batch keeps running whatever happens here."""
        from ..providers.base import CallError

        for attempt in range(6):
            try:
                return await client.retrieve(batch_id)
            except CallError as e:
                if missing_ok and e.kind == "not_found":
                    return None
                if not e.transient or attempt == 5:
                    raise ProviderError(
                        f"--batch: batch {batch_id} could not be read: {e}; it keeps running at "
                        f"the provider"
                    ) from None
                await self.sleep(min(30.0, 0.5 * 2**attempt))
        raise AssertionError("unreachable")

    async def _poll(self, client: BatchAPI, batch_id: str) -> dict[str, Any]:
        """Retrieve until the batch ends, telling :attr:`on_batch` each time; the interval
        starts at ``--batch-poll`` and grows by half each poll, up to 60 s."""
        from ..providers.batches import TERMINAL

        wait = self.opts.batch_poll
        while True:
            info = await self._retrieve(client, batch_id)
            if self.on_batch is not None:
                counts = info.get("request_counts") or {}
                self.on_batch(
                    BatchInfo(
                        batch_id,
                        str(info.get("status")),
                        int(counts.get("total") or 0),
                        int(counts.get("completed") or 0),
                        int(counts.get("failed") or 0),
                    )
                )
            if info.get("status") in TERMINAL:
                return info
            await self.sleep(wait)
            wait = min(60.0, max(wait * 1.5, 0.01))

    async def _collect(
        self,
        client: BatchAPI,
        info: dict[str, Any],
        entry: dict[str, Any],
        units: dict[str, Unit],
        answers: dict[str, Completion | CallError],
        *,
        errors: bool,
    ) -> None:
        """Read the batch's output (and, with ``errors``, error) file into ``answers``."""
        from ..providers.base import CallError

        self.ended[str(info["id"])] = str(info.get("status"))
        entry["status"] = info.get("status")
        errs = (
            (info.get("errors") or {}).get("data") if isinstance(info.get("errors"), dict) else None
        )
        if isinstance(errs, list) and errs and isinstance(errs[0], dict):
            first = errs[0]
            line = f"line {first.get('line')}: " if first.get("line") is not None else ""
            self.reasons[str(info["id"])] = f"{line}{first.get('code')}: {first.get('message')}"
        try:
            lines = await client.results(info, errors)
        except CallError as e:
            raise ProviderError(
                f"--batch: the results of batch {info['id']} could not be downloaded: {e}"
            ) from None
        for row in lines:
            unit = units.get(str(row.get("custom_id")))
            if unit is None or unit.custom_id not in entry["units"]:
                continue  # not a request of ours (or of this run's undone units)
            result = client.parse(row)
            if result is None:
                continue
            if isinstance(result, CallError) and not errors:
                continue  # an earlier process's failure: asked again
            if unit.call_key not in answers or not isinstance(result, CallError):
                answers[unit.call_key] = result
