"""The run record, typed: the run spec (``run.json``), the case record (one line of
``results.jsonl``) and the summary (``summary.json``), each with a ``schema_version``.

These models are the file format. They are published as JSON Schemas (``promptops schema
run|record|summary``, committed under ``schemas/``) and read and written by
:mod:`promptops.eval.store`. What promptops writes must validate against them (``extra="forbid"``: a
misspelt field is an error); files written by an earlier release are brought up to
:data:`SCHEMA_VERSION` by :func:`migrate` before they are validated.

The eval hot path does not validate each record (that would cost more than writing it); the
records are validated where they cross a boundary: evidence, ``runs merge`` and resume read them
through :func:`promptops.eval.store.load_record`.

Schema versions:

- (none) promptops 0.1.0: the same fields, without ``schema_version``; ``options.seed`` (never
  used) was recorded.
- 1: ``schema_version`` on every file; ``options.seed`` dropped; ``stop_reason`` in summaries.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Open(BaseModel):
    """Parts whose keys are open by design (a provider's identity, a git revision)."""

    model_config = ConfigDict(extra="allow")


# -- run.json ---------------------------------------------------------------------------------


class RunRef(_Strict):
    ref: str = Field(description="The prompt version as asked, e.g. 'summarize@1.0.0'.")
    file: str = Field(description="Its file, relative to the project root.")
    digest: str = Field(description="Content digest of the prompt version ('sha256:...').")


class RunOptions(_Strict):
    """The eval options (``promptops eval`` flags) the run was started with."""

    models: list[str] = Field(default_factory=list, description="--model: models asked for.")
    dataset: str | None = Field(None, description="--dataset, if given.")
    tests: bool = Field(False, description="--tests: the prompts' inline tests were run.")
    concurrency: int = Field(8, description="Concurrent model calls.")
    repeat: int = Field(1, description="Samples per case.")
    max_cost: float | None = Field(None, description="--max-cost budget in USD.")
    timeout: float | None = Field(None, description="Seconds per call (None: provider default).")
    retries: int = Field(3, description="Retries of a failed call.")
    use_cache: bool = Field(True, description="Whether the response cache was used.")
    filter: str | None = Field(None, description="--filter expression over cases.")
    limit: int | None = Field(None, description="--limit: first N cases only.")
    shard: list[int] | None = Field(None, description="--shard K/N as [K, N].")
    api_base: str | None = Field(None, description="--api-base override.")
    fail_under: float | None = Field(None, description="--fail-under pass-rate bar.")
    cases: list[str] | None = Field(None, description="Only these case ids (a sequential look).")
    batch: bool = Field(False, description="--batch: uncached calls went through a batch API.")
    batch_poll: float = Field(5.0, description="--batch-poll: seconds before the first poll.")


class GitRevision(_Open):
    commit: str | None = Field(None, description="HEAD commit.")
    branch: str | None = Field(None, description="Current branch (None: detached).")
    dirty: bool | None = Field(None, description="Tracked files modified.")


class PromptProvenance(_Strict):
    digest: str
    file: str


class Provenance(_Strict):
    """Where the run's inputs came from, to reproduce or audit it."""

    git: GitRevision | None = Field(None, description="The project's git revision.")
    prompts: dict[str, PromptProvenance] = Field(
        default_factory=dict, description="Prompt ref -> digest and file."
    )
    datasets: dict[str, str] = Field(
        default_factory=dict, description="Dataset file -> content digest."
    )
    models: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Model -> the provider's identity of it."
    )
    promptops_version: str | None = Field(None, description="promptops that wrote the run.")
    python: str | None = Field(None, description="Python version.")
    shards: dict[str, dict[str, Any]] | None = Field(
        None, description="Merged runs: fields the shard runs disagreed on, per shard run."
    )


class MergedFrom(_Strict):
    run_id: str
    shard: list[int] = Field(description="[K, N].")
    status: str


class RunSpec(_Strict):
    """``run.json``: what was asked, written before the first call."""

    schema_version: int = Field(SCHEMA_VERSION, description="Version of this file format.")
    run_id: str = Field(description="The run's id (its directory name).")
    command: str = Field("", description="The command line that started it.")
    started: str | None = Field(None, description="UTC start time, ISO 8601.")
    refs: list[RunRef] = Field(default_factory=list, description="Prompt versions evaluated.")
    options: RunOptions = Field(default_factory=RunOptions)
    provenance: Provenance = Field(default_factory=Provenance)
    merged_from: list[MergedFrom] | None = Field(
        None, description="Set on a run made by `promptops runs merge`: its shard runs."
    )


# -- results.jsonl ----------------------------------------------------------------------------


class AssertionOutcome(_Strict):
    type: str = Field(description="Assertion type, e.g. 'icontains'.")
    metric: str | None = Field(None, description="Named metric it reports under, if any.")
    weight: float = Field(1.0, description="Weight in the case score.")
    passed: bool = Field(alias="pass", description="Did it pass.")
    score: float = Field(description="Score in [0, 1].")
    reason: str | None = Field(None, description="Why, in words.")
    error: str | None = Field(None, description="The check itself failed (not the output).")
    turn: int | None = Field(None, description="Conversations: the turn (1-based) it judged.")


class ToolCall(_Strict):
    id: str | None = Field(None, description="The provider's call id.")
    name: str | None = Field(None, description="Tool name.")
    raw: str = Field(description="Arguments as the model wrote them.")
    arguments: Any = Field(None, description="Parsed arguments (None: not valid JSON).")
    error: str | None = Field(None, description="Why the arguments did not parse.")


class TurnRecord(_Strict):
    """One assistant turn of a conversation case."""

    output: str | None
    finish_reason: str | None = None
    tool_calls: list[ToolCall] | None = None
    assertions: list[AssertionOutcome] = Field(default_factory=list)
    score: float
    passed: bool = Field(alias="pass")
    assert_error: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)


class CaseRecord(_Strict):
    """One line of ``results.jsonl``: one (case, prompt version, model, repeat).

    A record written later for the same key (digest, model, case_id, repeat) replaces an
    earlier one (a resumed run retries errors)."""

    schema_version: int = Field(SCHEMA_VERSION, description="Version of this record format.")
    case_id: str = Field(description="The case's id in its dataset.")
    prompt: str = Field(description="Prompt name.")
    version: str = Field(description="Prompt version.")
    digest: str = Field(description="Prompt version digest.")
    model: str = Field(description="Model asked.")
    repeat: int = Field(0, description="Sample index (0-based) under --repeat.")
    trace_id: str | None = Field(None, description="Unique id of this evaluation.")
    vars: dict[str, Any] = Field(default_factory=dict, description="The case's inputs.")
    expected: Any = Field(None, description="The case's expected value, if any.")
    error: str | None = Field(None, description="Why no output was judged (None: it was).")
    error_kind: str | None = Field(
        None, description="render, or the provider's kind (timeout, rate_limit, auth...)."
    )
    hint: str | None = Field(
        None, description="What to do about a configuration error (env var, extra, model id)."
    )
    messages_hash: str | None = Field(None, description="Hash of the rendered messages.")
    attempts: int | None = Field(None, description="Model calls made (retries included).")
    answered_by: str | None = Field(None, description="Model that answered (a fallback?).")
    output: str | None = Field(None, description="The model's final text.")
    latency_ms: float | None = Field(None, description="Call latency (sum over turns).")
    tokens_in: int | None = Field(None, description="Prompt tokens.")
    tokens_out: int | None = Field(None, description="Completion tokens.")
    cost: float | None = Field(None, description="USD, None when the price is unknown.")
    cached: bool | None = Field(None, description="Answered from the response cache.")
    finish_reason: str | None = Field(None, description="Why the model stopped.")
    tool_calls: list[ToolCall] | None = Field(None, description="Tool calls of the last reply.")
    turns: list[TurnRecord] | None = Field(None, description="Conversation cases: each turn.")
    assertions: list[AssertionOutcome] | None = Field(None, description="Each check's outcome.")
    score: float = Field(0.0, description="Weighted case score in [0, 1].")
    passed: bool = Field(False, alias="pass", description="Did the case pass.")
    assert_error: str | None = Field(None, description="An assertion could not be evaluated.")
    judge_failed: bool | None = Field(
        None, description="A judge call got no answer; --resume evaluates the case again."
    )
    metrics: dict[str, float] | None = Field(None, description="Metric label -> score.")


# -- summary.json -----------------------------------------------------------------------------


class RecordCounts(_Strict):
    planned: int = Field(description="Cases x models x repeats the run set out to evaluate.")
    written: int = Field(description="Records in results.jsonl for them.")


class Budget(_Strict):
    max_cost: float | None = Field(None, description="--max-cost, USD.")
    spent: float = Field(0.0, description="USD spent on uncached calls (judges included).")


class AssertionTally(_Strict):
    passed: int
    n: int
    pass_rate: float | None


class Latency(_Strict):
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    mean: float | None = None


class GroupSummary(_Strict):
    """Aggregates of one (prompt, version, model)."""

    prompt: str
    version: str
    digest: str
    model: str
    n: int = Field(description="Records.")
    cases: int = Field(description="Distinct case ids.")
    passed: int
    failed: int = Field(description="Judged and not passed.")
    errors: int = Field(description="Records with an error (nothing judged).")
    error_kinds: dict[str, int] = Field(default_factory=dict, description="Errors by kind.")
    assert_errors: int = 0
    pass_rate: float | None = Field(description="passed / n (None: no records).")
    pass_rate_ci95: list[float] = Field(description="Wilson 95% interval of the pass rate.")
    mean_score: float | None = None
    assertions: dict[str, AssertionTally] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    derived_metrics: dict[str, float | None] | None = Field(
        None, description="The prompt's derived_metrics (None: non-finite, as 0/0)."
    )
    latency_ms: Latency = Field(default_factory=Latency)
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    cost_unknown: int = Field(0, description="Records whose cost is unknown.")
    cached: int = Field(0, description="Records answered from the cache.")


class BarRow(_Strict):
    group: str = Field(description="'prompt@version model'.")
    fail_under: float
    met: bool


class Bar(_Strict):
    met: bool = Field(description="Every group met its bar in a complete run.")
    groups: list[BarRow] = Field(default_factory=list)


class ShardSet(_Strict):
    n: int
    present: list[int]
    missing: list[int]


RunStatus = Literal["complete", "incomplete", "interrupted", "budget", "error"]


class StoppedModel(_Strict):
    """A model the run stopped calling: its first few calls failed with one configuration
    error (401, missing key, unknown model or provider, missing package)."""

    model: str
    error_kind: str | None = None
    error: str | None = None
    hint: str | None = Field(None, description="What to do about it.")
    failed_calls: int = Field(description="Identical failures in a row before it stopped.")
    judge: bool | None = Field(
        None, description="A judge of model-graded assertions (the run stopped with it)."
    )


class Summary(RunSpec):
    """``summary.json``: the run spec, and what came of it (written at the end)."""

    status: RunStatus = Field(
        description="complete, interrupted (Ctrl-C / SIGTERM), budget (--max-cost reached), "
        "error (stopped by an internal or permanent error), incomplete (no summary yet, or a "
        "merge with missing shards)."
    )
    error: str | None = Field(None, description="Why the run stopped early.")
    stop_reason: str | None = Field(None, description="What stopped the run before its end.")
    stopped: list[StoppedModel] | None = Field(
        None, description="Models no more calls were sent to (a permanent configuration error)."
    )
    records: RecordCounts | None = None
    repairs: list[str] | None = Field(None, description="Repairs made on resume.")
    ended: str | None = Field(None, description="UTC end time, ISO 8601.")
    wall_s: float | None = None
    network_calls: int | None = Field(None, description="Calls that reached a provider.")
    budget: Budget | None = None
    signal: str | None = Field(None, description="'SIGTERM' when terminated by it.")
    shards: ShardSet | None = Field(None, description="Merged runs: the shards merged.")
    groups: list[GroupSummary] = Field(default_factory=list)
    bar: Bar | None = None


# -- migration --------------------------------------------------------------------------------


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """A run.json / summary.json / record as written by any release, at :data:`SCHEMA_VERSION`
    (a new dict; raises ValueError for a version newer than this promptops knows)."""
    version = data.get("schema_version")
    if version is None:  # 0.1.0
        data = {"schema_version": SCHEMA_VERSION, **data}
        opts = data.get("options")
        if isinstance(opts, dict) and "seed" in opts:
            data["options"] = {k: v for k, v in opts.items() if k != "seed"}
        return data
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ValueError(
            f"schema_version {version!r} is newer than this promptops reads "
            f"({SCHEMA_VERSION}); upgrade promptops"
        )
    return data


__all__ = [
    "SCHEMA_VERSION",
    "CaseRecord",
    "GroupSummary",
    "RunSpec",
    "Summary",
    "migrate",
]
