"""Pydantic models of the files people write: prompt versions, dataset cases, the registry.

Parsing is strict (``extra="forbid"``); field descriptions feed the published JSON Schema.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StrictInt,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, InitErrorDetails, PydanticCustomError

from .versions import is_version, normalize

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
InputType = Literal["string", "integer", "number", "boolean", "array", "object", "messages", "any"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ShortForm(Strict):
    """A model that also accepts a bare string; the published schema says so too, so an
    editor does not flag ``model: openai/gpt-4o-2024-08-06`` or ``x: string``."""

    short_form: ClassVar[str] = ""

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        full = handler.resolve_ref_schema(handler(schema))
        return {"anyOf": [{"type": "string", "description": cls.short_form}, full]}


def check_name(name: str) -> str:
    """Prompt names are directory names: lowercase, no slashes, no ``..``."""
    if not NAME_RE.match(name) or ".." in name:
        raise ValueError(
            f"{name!r} is not a valid prompt name: use lowercase letters, digits, '.', '_' "
            "and '-', starting with a letter or digit"
        )
    return name


# Keys ``params.extra`` may hold: sampling and response-shape parameters of the providers. Not
# endpoints, credentials, headers or litellm switches (``mock_response`` answers without calling
# a model, ``api_base`` sends the key elsewhere): a prompt file is data a pull request can change.
EXTRA_PARAMS = frozenset(
    {
        "top_k",
        "min_p",
        "top_a",
        "typical_p",
        "repetition_penalty",
        "mirostat",
        "num_ctx",
        "num_predict",
        "max_completion_tokens",
        "response_format",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "n",
        "user",
        "reasoning_effort",
        "thinking",
        "verbosity",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "functions",
        "function_call",
        "safety_settings",
        "modalities",
        "prediction",
        "web_search_options",
    }
)
_EXTRA_SCHEMA: dict[str, Any] = {"propertyNames": {"enum": sorted(EXTRA_PARAMS)}}
_EXTRA_WHY = {
    "mock_response": "it answers without calling the model",
    "api_base": "endpoints are set by model.api_base (checked against promptops.yaml)",
    "base_url": "endpoints are set by model.api_base (checked against promptops.yaml)",
    "api_key": "credentials come from the environment, never from a prompt file",
}


def check_api_base(url: str) -> str:
    """An http(s) URL with a host and no credentials in it."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port
    except ValueError as e:
        raise ValueError(f"not a valid URL: {e}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError("must be an http:// or https:// URL with a host")
    if parts.username or parts.password or "@" in parts.netloc:
        raise ValueError(
            "must not hold credentials (user:password@); the provider's key comes from the environment"
        )
    return url


class ModelParams(Strict):
    """Sampling parameters passed to the model unchanged."""

    temperature: float | None = Field(None, ge=0, le=2, description="Sampling temperature.")
    max_tokens: int | None = Field(None, gt=0, description="Maximum tokens to generate.")
    top_p: float | None = Field(None, gt=0, le=1, description="Nucleus sampling mass.")
    seed: int | None = Field(None, description="Sampling seed, where the provider supports it.")
    stop: Annotated[
        list[str] | None,
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "string"},
                    {"type": "array", "items": {"type": "string"}},
                    {"type": "null"},
                ]
            }
        ),
    ] = Field(None, description="Stop sequences.")
    frequency_penalty: float | None = Field(None, ge=-2, le=2, description="Frequency penalty.")
    presence_penalty: float | None = Field(None, ge=-2, le=2, description="Presence penalty.")
    extra: dict[str, Any] = Field(
        default_factory=dict,
        description="Provider-specific sampling and response-format parameters passed through to "
        "litellm (an allowlist: no endpoints, credentials, headers or mock_response).",
        json_schema_extra=_EXTRA_SCHEMA,
    )

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("extra")
    @classmethod
    def _allowed_extra(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key in v:
            if key not in EXTRA_PARAMS:
                why = _EXTRA_WHY.get(key, "only sampling and response-format parameters pass")
                raise ValueError(
                    f"{key!r} is not allowed in params.extra: {why}; allowed: "
                    + ", ".join(sorted(EXTRA_PARAMS))
                )
        return v

    def as_kwargs(self) -> dict[str, Any]:
        """The parameters for a litellm call, without unset ones."""
        out = self.model_dump(exclude_none=True, exclude={"extra"})
        out.update(self.extra)
        return out


class ModelSpec(ShortForm):
    """The pinned model a prompt version runs on."""

    short_form = "Short form: the model id."

    id: str = Field(
        min_length=1,
        description="Pinned litellm model id, e.g. openai/gpt-4o-mini-2024-07-18 or local/gemma-3-270m.",
    )
    params: ModelParams = Field(default_factory=ModelParams, description="Sampling parameters.")
    api_base: str | None = Field(
        None,
        description="Base URL of an OpenAI-compatible server (no credentials; `check` requires "
        "its host in promptops.yaml allowed_api_hosts).",
    )
    provider: Literal["auto", "litellm"] = Field(
        "auto",
        description="How the model is called: auto (openai/ models and OpenAI-compatible "
        "api_base endpoints on promptops's native path, everything else through litellm) or "
        "litellm (always through litellm).",
    )

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, v: Any) -> Any:
        return {"id": v} if isinstance(v, str) else v

    @field_validator("api_base")
    @classmethod
    def _api_base(cls, v: str | None) -> str | None:
        return check_api_base(v) if v is not None else v


class InputSpec(ShortForm):
    """A typed template variable."""

    short_form = "Short form: the type."

    type: InputType = Field("string", description="JSON type of the value.")
    required: bool | None = Field(
        None, description="Whether a value must be given (default: true unless there is a default)."
    )
    default: Any = Field(None, description="Value used when none is given.")
    description: str = Field("", description="What the variable holds.")
    enum: list[Any] | None = Field(None, description="The only values allowed.")

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, v: Any) -> Any:
        return {"type": v} if isinstance(v, str) else v

    @property
    def is_required(self) -> bool:
        if self.required is not None:
            return self.required
        return self.default is None


class ImageURL(Strict):
    url: str = Field(description="Image URL or data: URL (a Jinja template).")
    detail: Literal["auto", "low", "high"] | None = Field(None, description="Image detail.")


class ContentPart(Strict):
    """One part of a multimodal message: text, or an image by URL or by project file."""

    type: Literal["text", "image", "image_url"] = Field(
        description="text; image (url or path); or image_url (OpenAI's own shape)."
    )
    text: str | None = Field(None, description="Jinja template of the text (type text).")
    url: str | None = Field(None, description="Image URL, a Jinja template (type image).")
    path: str | None = Field(
        None,
        description="Image file under the project, sent inline as a data URL (type image).",
    )
    image_url: ImageURL | None = Field(None, description="OpenAI image_url part.")
    detail: Literal["auto", "low", "high"] | None = Field(None, description="Image detail.")

    @model_validator(mode="after")
    def _shape(self) -> ContentPart:
        given = {k for k in ("text", "url", "path", "image_url") if getattr(self, k) is not None}
        need = {"text": [{"text"}], "image": [{"url"}, {"path"}], "image_url": [{"image_url"}]}
        if given not in need[self.type]:
            options = " or ".join("/".join(sorted(o)) for o in need[self.type])
            raise ValueError(f"a {self.type} part takes {options}")
        return self

    def templates(self) -> list[str]:
        if self.image_url is not None:
            return [self.image_url.url]
        return [t for t in (self.text, self.url, self.path) if t is not None]


class Message(Strict):
    """One chat message (``content`` is a Jinja template or a list of content parts), or a
    ``placeholder`` naming a messages-typed input placed here as a run of messages."""

    role: Literal["system", "user", "assistant"] | None = Field(None, description="Chat role.")
    content: str | list[ContentPart] | None = Field(
        None, description="Jinja template of the message text, or content parts (text, image)."
    )
    placeholder: str | None = Field(
        None, description="Name of a messages-typed input to place here (chat history)."
    )

    @model_validator(mode="after")
    def _shape(self) -> Message:
        if self.placeholder is not None:
            if self.role is not None or self.content is not None:
                raise ValueError("a placeholder message takes no role or content")
        elif self.role is None or self.content is None:
            raise ValueError("a message needs role and content (or a placeholder)")
        return self

    def templates(self) -> list[str]:
        """Every Jinja template in the message."""
        if isinstance(self.content, str):
            return [self.content]
        return [t for part in self.content or [] for t in part.templates()]

    def text(self) -> str:
        """The message as text, for diffs: parts shown as ``[image: ...]``."""
        if self.placeholder is not None:
            return f"{{{{ placeholder: {self.placeholder} }}}}"
        if isinstance(self.content, str):
            return self.content
        shown = []
        for part in self.content or []:
            if part.type == "text":
                shown.append(part.text or "")
            else:
                shown.append(f"[image: {' '.join(part.templates())}]")
        return "\n".join(shown)


TOOL_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_json_schema(schema: Any) -> None:
    """Raise ValueError when ``schema`` is not a valid JSON Schema (jsonschema loads lazily)."""
    if not isinstance(schema, dict):
        raise ValueError("must be a JSON Schema object")
    from jsonschema import Draft202012Validator, validators
    from jsonschema.exceptions import SchemaError

    try:
        validators.validator_for(schema, default=Draft202012Validator).check_schema(schema)
    except SchemaError as e:
        raise ValueError(f"invalid JSON Schema: {e.message}") from None


class ToolFunction(Strict):
    """A function the model may call (OpenAI function-tool format)."""

    name: str = Field(description="Function name: letters, digits, '_' and '-', at most 64.")
    description: str = Field("", description="What the function does; the model reads this.")
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        description="JSON Schema of the arguments object.",
    )
    strict: bool | None = Field(None, description="Ask for strict schema adherence (OpenAI).")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not TOOL_NAME_RE.match(v):
            raise ValueError(
                f"{v!r} is not a valid tool name: use 1-64 letters, digits, '_' and '-'"
            )
        return v

    @field_validator("parameters")
    @classmethod
    def _schema(cls, v: dict[str, Any]) -> dict[str, Any]:
        check_json_schema(v)
        if v.get("type", "object") != "object":
            raise ValueError("the arguments schema must have type: object")
        return v


class ToolSpec(Strict):
    """One tool declared to the model (OpenAI ``tools`` entry)."""

    type: Literal["function"] = Field("function", description="Tool kind; only function.")
    function: ToolFunction = Field(description="The function's name, description and schema.")


class ToolChoiceFunction(Strict):
    name: str = Field(description="Name of the declared tool the model must call.")


class ToolChoice(Strict):
    """Force one named tool (OpenAI ``{type: function, function: {name}}``)."""

    type: Literal["function"] = Field("function", description="Always function.")
    function: ToolChoiceFunction = Field(description="The tool to call.")


class JsonSchemaFormat(Strict):
    name: str = Field("output", description="Name of the schema (OpenAI requires one).")
    schema_: dict[str, Any] = Field(alias="schema", description="JSON Schema of the reply.")
    strict: bool | None = Field(None, description="Ask for strict schema adherence.")
    description: str | None = Field(None, description="What the reply holds.")

    @field_validator("schema_")
    @classmethod
    def _schema(cls, v: dict[str, Any]) -> dict[str, Any]:
        check_json_schema(v)
        return v


class ResponseFormat(Strict):
    """OpenAI ``response_format``: JSON mode or JSON-schema structured output."""

    type: Literal["text", "json_object", "json_schema"] = Field(
        description="text, json_object (JSON mode) or json_schema (structured output)."
    )
    json_schema: JsonSchemaFormat | None = Field(
        None, description="The schema, for type json_schema."
    )

    @model_validator(mode="after")
    def _needs_schema(self) -> ResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("type json_schema needs json_schema: {name, schema}")
        if self.type != "json_schema" and self.json_schema is not None:
            raise ValueError(f"json_schema is only for type json_schema, not {self.type}")
        return self

    def as_param(self) -> dict[str, Any]:
        """The value sent to the model."""
        return self.model_dump(by_alias=True, exclude_none=True)


class OutputSpec(Strict):
    """What the model is expected to return."""

    format: Literal["text", "json"] = Field(
        "text", description="text, or json to parse the output."
    )
    json_schema: dict[str, Any] | None = Field(
        None, alias="schema", description="JSON Schema the parsed output must match."
    )


class AssertionSpec(ShortForm):
    """One check applied to a model output. ``value`` may be a Jinja template over the case."""

    short_form = "Short form: the type, for types that need no value."

    type: str = Field(
        description="Assertion type, e.g. contains, regex, json-schema, llm-rubric; 'not-' negates."
    )
    value: Any = Field(
        None, description="Expected value; strings are Jinja templates over the case."
    )
    weight: float = Field(1.0, ge=0, description="Weight in the case's score.")
    threshold: float | None = Field(
        None, description="Score this assertion needs to pass (for graded types)."
    )
    metric: str | None = Field(None, description="Name under which results are grouped.")
    judge: str | None = Field(None, description="Pinned judge model for model-graded types.")
    judge_prompt: str | None = Field(
        None,
        description=(
            "Custom judge message for llm-rubric: a Jinja template over rubric, output, input, "
            "expected and vars (the JSON answer format is still required)."
        ),
    )
    method: str | None = Field(
        None,
        description=(
            "Variant: rouge-l or levenshtein (similar), extract (is-json, json-schema), "
            "contains, set, sequence or f1 (tool-call)."
        ),
    )
    source: str | None = Field(
        None, description="Input variable holding the source text (grounded)."
    )
    description: str = Field("", description="What the check is for.")
    path: str | None = Field(
        None, description="json-field: where the value is in the JSON output, e.g. items[0].name."
    )
    assert_: AssertionSpec | None = Field(
        None, alias="assert", description="json-field: the assertion applied to that value."
    )
    timeout: float | None = Field(
        None,
        gt=0,
        description="Seconds a python, regex or JSON Schema check (default 10) or an expr (default 1) may take.",
    )
    transform: str | None = Field(
        None,
        description=(
            "JavaScript applied to the output before this check, as promptfoo's transform "
            "(needs the js extra): one line is an expression over output and context."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, v: Any) -> Any:
        return {"type": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _field_metric(self) -> AssertionSpec:
        """Each json-field reports under its own name (``json-field amount``), not one shared
        ``json-field`` row, unless it names a metric."""
        if self.metric is None and self.path and self.base_type == "json-field":
            self.metric = f"{self.type} {self.path.strip()}"
        return self

    @property
    def negated(self) -> bool:
        return self.type.startswith("not-")

    @property
    def base_type(self) -> str:
        return self.type[4:] if self.negated else self.type

    @property
    def label(self) -> str:
        """Short name for tables: the metric, else the type."""
        return self.metric or self.type


class ToolResult(Strict):
    """The result of a tool call the previous reply made, fed back in a multi-turn case."""

    name: str | None = Field(
        None, description="Tool whose call this answers (default: the calls in order)."
    )
    id: str | None = Field(None, description="Tool call id to answer (default: by name/order).")
    content: Any = Field(description="The tool's result: text, or data sent as JSON.")


class TurnSpec(Strict):
    """One turn of a conversation case: the model's previous reply is kept in the history,
    tool results and a user message are added, the model is called and the turn asserted."""

    user: str | None = Field(
        None, description="Next user message, a Jinja template over the case's vars."
    )
    tool_results: list[ToolResult] = Field(
        default_factory=list, description="Results of the previous reply's tool calls."
    )
    assert_: list[AssertionSpec] = Field(
        default_factory=list, alias="assert", description="Assertions on this turn's reply."
    )
    description: str = Field("", description="What the turn checks.")


class CaseSpec(Strict):
    """One test case: a line of a gold dataset or an inline test."""

    id: Annotated[
        str, WithJsonSchema({"anyOf": [{"type": "string", "minLength": 1}, {"type": "integer"}]})
    ] = Field(min_length=1, description="Unique id of the case within its dataset.")
    vars: dict[str, Any] = Field(default_factory=dict, description="Values of the prompt's inputs.")
    expected: Any = Field(None, description="Reference answer or data the assertions compare with.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Free-form labels.")
    assert_: list[AssertionSpec] = Field(
        default_factory=list, alias="assert", description="Extra assertions for this case only."
    )
    threshold: float | None = Field(None, ge=0, le=1, description="Score this case needs to pass.")
    scoring: str | None = Field(
        None,
        description="JavaScript that decides the case from its named metric scores (promptfoo's "
        "assertScoringFunction); over the prompt's scoring.",
    )
    description: str = Field("", description="What the case checks.")
    turns: list[TurnSpec] | None = Field(
        None,
        description=(
            "A conversation: each turn is called and asserted in order, the model's replies "
            "fed back; the prompt's and case's assertions apply to the last reply."
        ),
    )

    @field_validator("id", mode="before")
    @classmethod
    def _id_str(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("turns")
    @classmethod
    def _turns(cls, v: list[TurnSpec] | None) -> list[TurnSpec] | None:
        if v is not None and not v:
            raise ValueError("'turns' is empty")
        return v


class GateSpec(Strict):
    """What `check` and `promote` compare against the baseline."""

    metric: str = Field("score", description="score, pass, or an assertion metric name.")
    margin: float = Field(0.02, ge=0, le=1, description="Largest drop still called ok.")


class JudgeRequirement(Strict):
    """A calibrated judge: the verdicts of model-graded assertions count only when their judge
    agrees well enough with human labels (labels/NAME.jsonl; promptops calibrate)."""

    min_kappa: float = Field(
        0.6, ge=-1, le=1, description="Cohen's kappa the judge needs against human labels."
    )
    min_labels: int = Field(30, ge=1, description="Human labels of its outputs it needs.")


GuardAction = Literal["block", "mask", "flag"]


class GuardSpec(Strict):
    """A check the runtime applies to a call's inputs or output, and what it does on a hit."""

    type: str = Field(
        description="A model-free assertion type: no-pii, not-regex, regex, is-json, "
        "json-schema or injection. The guard triggers when the assertion fails."
    )
    value: Any = Field(None, description="The assertion's value (a literal; no templates).")
    action: GuardAction = Field(
        "block",
        description="block: answer with `reply` instead (no model call for an input guard); "
        "mask: replace what was found (no-pii, not-regex); flag: only record it.",
    )
    reply: str | None = Field(None, description="What a blocked call answers.")
    name: str | None = Field(None, description="Name in records (default: the type).")


class GuardsSpec(Strict):
    """Guards on the text inputs (each string variable) and on the model's output."""

    input: list[GuardSpec] = Field(default_factory=list, description="Applied before the call.")
    output: list[GuardSpec] = Field(default_factory=list, description="Applied to the answer.")


class DerivedMetric(Strict):
    """A metric computed over a run group's named metrics (promptfoo's ``derivedMetrics``)."""

    name: str = Field(min_length=1, description="The metric's name in the run summary.")
    value: str = Field(
        description="Arithmetic over metric names (each the sum of weight x score of the "
        "assertions with that metric), __count (the records) and earlier derived metrics: "
        "+ - * / % ^, parentheses, min max abs sqrt log exp round floor ceil."
    )

    @field_validator("value")
    @classmethod
    def _expression(cls, v: str) -> str:
        from .derived import parse

        parse(v)  # a ValueError names what is not allowed
        return v


class PromptSpec(Strict):
    """One immutable version of a prompt: prompts/<name>/<version>.yaml."""

    name: str = Field(description="Prompt name; equals the directory name.")
    version: str = Field(description="Semantic version; equals the file name.")
    description: str = Field("", description="What the prompt does.")
    changelog: str = Field("", description="What changed from the previous version.")
    model: ModelSpec = Field(description="Pinned model and parameters.")
    fallbacks: list[str] = Field(
        default_factory=list, description="Other pinned models tried in order when a call fails."
    )
    inputs: dict[str, InputSpec] = Field(
        default_factory=dict, description="Typed template variables."
    )
    messages: list[Message] | None = Field(None, description="Chat messages (Jinja templates).")
    template: str | None = Field(None, description="A single user message; instead of messages.")
    output: OutputSpec = Field(default_factory=OutputSpec, description="Expected output format.")
    tools: list[ToolSpec] | None = Field(
        None, description="Functions the model may call (OpenAI function-tool format)."
    )
    tool_choice: Literal["auto", "none", "required"] | ToolChoice | None = Field(
        None, description="auto, none, required, or {type: function, function: {name}}."
    )
    response_format: ResponseFormat | None = Field(
        None,
        description=(
            "JSON mode or structured output; default: derived from output.schema when the "
            "model supports it."
        ),
    )
    dataset: str | None = Field(
        None, description="Path of the gold JSONL, relative to the project."
    )
    assert_: list[AssertionSpec] = Field(
        default_factory=list, alias="assert", description="Assertions applied to every case."
    )
    threshold: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Weighted score a case needs (default: every assertion passes).",
    )
    fail_under: float | None = Field(
        None, ge=0, le=1, description="Pass rate a run needs for `eval` to exit 0 (default 1.0)."
    )
    gate: GateSpec = Field(default_factory=GateSpec, description="Regression gate settings.")
    judge: JudgeRequirement | None = Field(
        None,
        description="Require calibrated judges: eval, check and promote refuse a verdict otherwise.",
    )
    guards: GuardsSpec | None = Field(
        None, description="Checks the runtime applies to inputs and output (promptops Registry)."
    )
    tests: list[CaseSpec] = Field(default_factory=list, description="Inline test cases.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Owner, tags and so on.")
    scoring: str | None = Field(
        None,
        description="JavaScript run with (namedScores, context) after a case's assertions: "
        "namedScores maps each metric to the weighted mean score of its assertions, context holds "
        "threshold and componentResults; its {pass, score, reason} is the case's verdict "
        "(promptfoo's assertScoringFunction). Runs in the JavaScript sandbox (the js extra).",
    )
    derived_metrics: list[DerivedMetric] = Field(
        default_factory=list,
        description="Metrics computed over each run group's named metrics, in order, reported "
        "in the run summary.",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v)

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, v: Any) -> Any:
        if isinstance(v, (bool, float)):
            raise ValueError(f'{v!r} is read as a number; quote it: version: "{v}.0"')
        if isinstance(v, int):
            v = str(v)
        if not isinstance(v, str):
            return v
        try:
            return normalize(v)
        except ValueError as e:
            raise ValueError(str(e)) from None

    @field_validator("inputs")
    @classmethod
    def _input_names(cls, v: dict[str, InputSpec]) -> dict[str, InputSpec]:
        for key in v:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise ValueError(f"input name {key!r} is not a valid identifier")
        return v

    @model_validator(mode="after")
    def _one_template(self) -> PromptSpec:
        if (self.messages is None) == (self.template is None):
            raise ValueError("give exactly one of 'messages' or 'template'")
        if self.messages is not None and not self.messages:
            raise ValueError("'messages' is empty")
        names = [t.function.name for t in self.tools or []]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"tool {dup[0]!r} is declared twice")
        if self.tool_choice is not None and not self.tools:
            raise ValueError("tool_choice is set but no tools are declared")
        if isinstance(self.tool_choice, ToolChoice) and self.tool_choice.function.name not in names:
            raise ValueError(
                f"tool_choice names {self.tool_choice.function.name!r}, which is not a declared "
                f"tool ({', '.join(names)})"
            )
        return self

    def tool_params(self) -> dict[str, Any]:
        """``tools`` and ``tool_choice`` as sent to the model (empty without tools)."""
        out: dict[str, Any] = {}
        if self.tools:
            out["tools"] = [t.model_dump(exclude_none=True) for t in self.tools]
        if self.tool_choice is not None:
            tc = self.tool_choice
            out["tool_choice"] = tc if isinstance(tc, str) else tc.model_dump()
        return out

    def chat(self) -> list[Message]:
        """The message templates, with ``template`` as a single user message."""
        if self.messages is not None:
            return self.messages
        return [Message(role="user", content=self.template or "")]


class CanarySpec(Strict):
    """A version serving a share of an environment's traffic beside the active one."""

    version: str = Field(description="Canary version.")
    digest: str = Field(description="Digest of the canary version's file.")
    weight: int = Field(ge=0, le=100, description="Percent of traffic (0-100).")

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, v: Any) -> Any:
        return normalize(v) if isinstance(v, str) and is_version(v) else v


class ShadowSpec(Strict):
    """A version called beside the served one on a share of requests; never served."""

    version: str = Field(description="Shadow version.")
    digest: str = Field(description="Digest of the shadow version's file.")
    weight: int = Field(ge=1, le=100, description="Percent of requests also sent to it.")

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, v: Any) -> Any:
        return normalize(v) if isinstance(v, str) and is_version(v) else v


class Deployment(Strict):
    """What one environment serves for one prompt."""

    version: str = Field(description="Active version.")
    digest: str = Field(description="Digest of the active version's file, sha256:...")
    canary: CanarySpec | None = Field(
        None, description="Optional canary beside the active version."
    )
    shadow: ShadowSpec | None = Field(
        None, description="Optional shadow: called in the background, never served."
    )

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, v: Any) -> Any:
        return normalize(v) if isinstance(v, str) and is_version(v) else v


class CanaryTolerances(Strict):
    """How much worse the canary arm may be than the stable one, per metric: rates and feedback
    as absolute differences, cost, output length and latency as relative rises (0.1 = 10%)."""

    error_rate: float = Field(0.01, ge=0, le=1, description="Share of calls that fail.")
    guard_rate: float = Field(0.02, ge=0, le=1, description="Share of calls a guard triggers on.")
    feedback: float = Field(0.05, ge=0, le=1, description="Drop in mean user feedback score (0-1).")
    cost: float | None = Field(
        0.1,
        ge=0,
        description="Relative rise in mean cost per call; null: reported, not decided on.",
    )
    output_chars: float | None = Field(
        0.25,
        ge=0,
        description="Relative rise in mean answer length; null: reported, not decided on.",
    )
    latency_p50: float | None = Field(
        0.25, ge=0, description="Relative rise in median latency; null: reported, not decided on."
    )
    latency_p95: float | None = Field(
        0.25,
        ge=0,
        description="Relative rise in 95th percentile latency; null: reported, not decided on.",
    )
    judge: float = Field(
        0.05, ge=0, le=1, description="Drop in mean judge score (0-1), with --judge-sample."
    )
    ttft_p95: float | None = Field(
        0.25,
        ge=0,
        description="Relative rise in 95th percentile time to first chunk (streamed calls); "
        "null: reported, not decided on.",
    )
    slow_rate: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Optional: share of calls slower than slow_ms (an absolute latency SLO).",
    )
    slow_ms: float = Field(5000, gt=0, description="What counts as a slow call (ms).")


class CanaryPolicy(Strict):
    """How `promptops canary analyze` decides and what `--apply` does."""

    ramp: list[int] = Field(
        default_factory=lambda: [5, 20, 50, 100],
        description="Canary weights in order; after the last, the canary is promoted.",
    )
    alpha: float = Field(0.05, gt=0, lt=1, description="Error rate of the decisions.")
    min_calls: int = Field(100, ge=1, description="Calls per arm before any advance.")
    tolerances: CanaryTolerances = Field(default_factory=CanaryTolerances)


class RegistrySpec(Strict):
    """registry.yaml: which version each environment serves."""

    environments: list[str] = Field(
        default_factory=lambda: ["dev", "staging", "prod"],
        description="Environments in promotion order.",
    )
    enforce_order: bool = Field(
        False, description="Require a version to be active in the previous environment first."
    )
    prompts: dict[str, dict[str, Deployment]] = Field(
        default_factory=dict, description="prompt name -> environment -> deployment."
    )
    canary_policy: CanaryPolicy | None = Field(
        None, description="Ramp, tolerances and error rate of `promptops canary analyze`."
    )

    @field_validator("environments")
    @classmethod
    def _envs(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("declare at least one environment")
        if len(set(v)) != len(v):
            raise ValueError("environment names must be unique")
        for env in v:
            if is_version(env) or env == "latest":
                raise ValueError(f"environment name {env!r} would read as a version in refs")
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", env):
                raise ValueError(f"environment name {env!r}: use letters, digits, '_' and '-'")
        return v

    @model_validator(mode="after")
    def _known_envs(self) -> RegistrySpec:
        # Raised as a ValidationError with a location per entry, so each gets its file line.
        errors: list[InitErrorDetails] = []
        for name, envs in self.prompts.items():
            try:
                check_name(name)
            except ValueError as e:
                errors.append(_error(("prompts", name), str(e), name))
            for env in envs:
                if env not in self.environments:
                    msg = "unknown environment; declared: " + ", ".join(self.environments)
                    errors.append(_error(("prompts", name, env), msg, env))
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self


def _error(loc: tuple[str | int, ...], message: str, value: Any) -> InitErrorDetails:
    return InitErrorDetails(
        type=PydanticCustomError("value_error", "{message}", {"message": message}),
        loc=loc,
        input=value,
    )


class GatePolicy(Strict):
    """The project's gate policy (promptops.yaml ``gate:``); ``check`` reads it from the merge
    base, so a branch cannot loosen the rules it is judged by."""

    inconclusive: Literal["pass", "fail"] = Field(
        "pass",
        description="What `check` does with an inconclusive verdict: pass (with a warning, the "
        "default) or fail (as `check --strict`).",
    )
    alpha: float = Field(
        0.05, gt=0, lt=1, description="Error rate of the gate's decisions (alpha/2 per side)."
    )


# eval's estimate line: below a few hundred calls the bill rarely matters, above it a line
# costs nothing to read (promptops.yaml ``estimate_above``)
ESTIMATE_ABOVE = 500


class ProjectConfig(Strict):
    """Optional promptops.yaml at the project root."""

    prompts_dir: str = Field("prompts", description="Where prompt versions live.")
    allow_unpinned: list[str] = Field(
        default_factory=list,
        description="Glob patterns of model ids accepted without a dated version (self-hosted names).",
    )
    runs_dir: str = Field(".promptops/runs", description="Where run records are written.")
    cache_dir: str = Field(".promptops/cache", description="Where the response cache lives.")
    plugins: list[str] = Field(
        default_factory=list,
        description="Modules to import before eval, diff, lint and check, so their @assertion "
        "and @provider registrations apply: module names importable from the project root, or "
        "paths of .py files under it. check takes this list from the merge base and loads only "
        "plugin files unchanged there (unless --trust-pr-code).",
    )
    publish_to: str | None = Field(
        None,
        description="Where `promptops publish` and `--publish` write the registry snapshot "
        "applications follow: a directory or an fsspec URL (default .promptops/published).",
    )
    allowed_api_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts that model.api_base and --api-base may point at under `promptops "
        "check` (glob patterns: 'llm.internal.example.com', '127.0.0.1:*', '*.corp.example'); "
        "check reads this list from the merge base. The providers' own endpoints need no entry.",
    )
    gate: GatePolicy = Field(
        default_factory=GatePolicy,
        description="Gate policy for every prompt: inconclusive (pass or fail) and alpha; "
        "check reads it from the merge base.",
    )
    estimate_above: StrictInt | None = Field(
        ESTIMATE_ABOVE,
        ge=0,
        description="Before an eval expected to make more than this many model calls (cached "
        "cases excluded), print one line to stderr with the calls, tokens and dollars it "
        "expects (`eval --no-estimate` silences it; null: never; 0: before every eval that "
        "calls a model).",
    )
