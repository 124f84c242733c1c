"""Request and response shapes of the OpenAI-compatible API (only what CoE reads or writes)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

MODE_MODELS: dict[str, str] = {
    "coe-auto": "auto", "coe-concise": "concise", "coe-standard": "standard", "coe-deep": "deep",
    "coe-collab": "collaborate", "coe-collab-5": "collaborate-5", "coe-moa": "moa",
}


def _clean(value: Any) -> Any:
    """JSON may carry lone UTF-16 surrogates (valid JSON, invalid Unicode): replace them instead of failing."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    return value


class CleanModel(BaseModel):
    @model_validator(mode="before")
    @classmethod
    def _surrogates(cls, data: Any) -> Any:
        return _clean(data)


NonBlank = Annotated[str, Field(min_length=1, pattern=r"[^\s\x00]")]


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["text", "input_text"]
    text: NonBlank


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: NonBlank | Annotated[list[ContentPart], Field(min_length=1)]
    name: str | None = None

    def text(self) -> str:
        text = "\n".join(p.text for p in self.content) if isinstance(self.content, list) else self.content
        return text.replace("\x00", "")


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: StrictBool = False


class CoeOptions(BaseModel):
    """CoE's extension: choose the models that fill the roles (like ``coe ask --team``)."""

    model_config = ConfigDict(extra="forbid")

    team: list[str] | None = Field(default=None, max_length=16)
    fallbacks: list[str] | None = Field(default=None, max_length=8,
                                        description="models to try, in order, when a stage's model fails")


class ChatCompletionRequest(CleanModel):
    # Unknown fields (tools, logprobs, …) are accepted and ignored, as most OpenAI-compatible servers do.
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=256)
    messages: list[ChatMessage] = Field(min_length=1, max_length=1000)
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1, le=65536)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=65536)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    n: int | None = Field(default=None, ge=1, le=1, description="only 1 is supported")
    stop: str | list[str] | None = None
    user: str | None = None
    coe: CoeOptions | None = None

    @property
    def token_cap(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    reasoning_content: str | None = None


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: str = "stop"


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    coe: dict[str, Any] | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str
    coe: dict[str, Any] | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail
