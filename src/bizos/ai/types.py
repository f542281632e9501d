"""The words every part of the AI gateway speaks: requests, completions, sources,
provider errors and the provider port.

A provider sees a :class:`CompletionRequest`: the rendered chat ``messages`` (what an
external model reads) plus the structured ``task``, ``inputs`` and ``sources`` they were
rendered from, so the built-in local provider can do its work without parsing prose.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant", "tool"]

# Tasks the gateway knows; the local provider has a handler for each.
TASKS = ("summarize", "draft", "answer", "extract_contract", "classify")


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call of a tool in a conversation with a model (OpenAI ``tool_calls``, Anthropic
    ``tool_use``): ``arguments`` is the JSON text of the parameters."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool a model is told of: ``parameters`` is its JSON schema. Names are
    ``[A-Za-z0-9_-]`` only, as both vendors require."""

    name: str
    description: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message. An ``assistant`` message may carry ``tool_calls``; a ``tool``
    message is the result (``content``) of the call ``tool_call_id``."""

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclass(frozen=True, slots=True)
class Source:
    """A passage an answer may rest on: a knowledge-base chunk or a past ticket."""

    title: str
    text: str
    document_id: str | None = None
    chunk_id: str | None = None
    kind: str = "kb"  # kb | ticket
    score: float | None = None

    def as_json(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in _SOURCE_JSON}


# A source's fields in the order its JSON lists them.
_SOURCE_JSON = ("document_id", "chunk_id", "title", "text", "kind", "score")


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    task: str  # one of TASKS
    messages: tuple[ChatMessage, ...]
    inputs: Mapping[str, str] = field(default_factory=dict)  # the template variables
    sources: tuple[Source, ...] = ()
    max_tokens: int = 800
    temperature: float = 0.2
    model: str | None = None  # override the provider's configured model
    tools: tuple[ToolSpec, ...] = ()  # the tools the messages' calls name


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    provider: str
    model: str
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class TextDelta:
    """One piece of a streamed answer."""

    text: str


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """The end of a streamed answer, with its token counts."""

    completion: Completion


StreamChunk = TextDelta | StreamEnd


class ProviderError(Exception):
    """A provider call failed. ``retryable`` is True only for 408, 429, 5xx, timeouts and
    connection errors; ``retry_after`` is the server's Retry-After in seconds, if any.
    ``detail`` never carries a key or a prompt."""

    def __init__(
        self,
        detail: str,
        *,
        provider: str,
        retryable: bool,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.provider = provider
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after


class LlmProvider(Protocol):
    """A model behind one interface (DESIGN rule 7)."""

    name: str  # local | openai | anthropic
    model: str
    external: bool  # True when prompts leave the machine: the privacy proxy applies

    async def complete(self, request: CompletionRequest) -> Completion: ...

    def stream(self, request: CompletionRequest) -> AsyncIterator[StreamChunk]: ...


class EmbeddingProvider(Protocol):
    """Something that turns texts into vectors of a fixed size."""

    name: str  # e.g. local-hash-384, sentence-transformers/all-MiniLM-L6-v2, openai/<model>
    dim: int

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...
