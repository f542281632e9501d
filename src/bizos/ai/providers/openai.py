"""OpenAI-compatible chat, streaming and embeddings (OpenAI, Ollama, vLLM, llama.cpp).

``base_url`` is the API root including its version, as the vendors document it:
``https://api.openai.com/v1``, ``http://localhost:11434/v1`` (Ollama).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import httpx

from bizos.ai.providers.http import (
    HttpProvider,
    bad_response,
    count,
    json_object,
    vendor_message,
)
from bizos.ai.tokens import estimate_tokens
from bizos.ai.types import (
    ChatMessage,
    Completion,
    CompletionRequest,
    ProviderError,
    StreamChunk,
    StreamEnd,
    TextDelta,
)

DEFAULT_BASE_URL = "https://api.openai.com/v1"


@dataclass(frozen=True, slots=True)
class Embeddings:
    vectors: list[list[float]]
    model: str
    prompt_tokens: int


class OpenAICompatibleProvider(HttpProvider):
    """Chat completions and embeddings over the OpenAI wire format."""

    name = "openai"

    def __init__(
        self,
        base_url: str | None,
        api_key: str | None,
        model: str,
        timeout: float = 60.0,
        client: httpx.AsyncClient | None = None,
        *,
        embedding_model: str | None = None,
        allow_private: bool | None = None,
    ) -> None:
        super().__init__(api_key, model, timeout, client, allow_private)
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.embedding_model = embedding_model or model

    # --- chat ------------------------------------------------------------------------

    async def complete(self, request: CompletionRequest) -> Completion:
        payload = self._chat_payload(request, stream=False)
        response = await self._post(self._url("/chat/completions"), payload)
        try:
            data = response.json()
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise bad_response(self.name, "no choices[0].message") from None
        if not isinstance(text, str):
            raise bad_response(self.name, "message content is not text")
        return self._answer(request, text, str(data.get("model") or payload["model"]), data)

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamChunk]:
        """Deltas as the server sends them, then a StreamEnd with the server's usage
        (``stream_options.include_usage``) or an estimate when it sent none. A stream cut
        off before ``[DONE]`` or a finish reason is an error, never a short answer."""
        payload = self._chat_payload(request, stream=True)
        parts: list[str] = []
        last: dict[str, Any] = {}  # the chunk that brought the usage
        model = str(payload["model"])
        finished = False
        async with aclosing(self._events(self._url("/chat/completions"), payload)) as events:
            async for event in events:
                if event.data.strip() == "[DONE]":
                    finished = True
                    break
                chunk = json_object(event.data)
                if chunk is None:
                    raise bad_response(self.name, "stream chunk is not JSON")
                if "error" in chunk:
                    # Errors after the 200 are the server's trouble, not ours.
                    message = vendor_message(event.data.encode()) or "stream error"
                    raise ProviderError(message, provider=self.name, retryable=True)
                model = str(chunk.get("model") or model)
                if isinstance(chunk.get("usage"), dict):
                    last = chunk
                for choice in chunk.get("choices") or []:
                    delta = (choice.get("delta") or {}).get("content")
                    if isinstance(delta, str) and delta:
                        parts.append(delta)
                        yield TextDelta(delta)
                    if choice.get("finish_reason"):
                        finished = True
        if not finished:
            raise self._cut_off()
        yield StreamEnd(self._answer(request, "".join(parts), model, last))

    def _answer(
        self, request: CompletionRequest, text: str, model: str, data: dict[str, Any]
    ) -> Completion:
        """The answer with the token counts of ``data["usage"]``, estimated if absent."""
        usage = data.get("usage") or {}
        return self._completion(
            request,
            text,
            model,
            count(usage.get("prompt_tokens")),
            count(usage.get("completion_tokens")),
        )

    # --- embeddings ------------------------------------------------------------------

    async def embed(self, texts: Sequence[str], model: str | None = None) -> list[list[float]]:
        return (await self.embed_with_usage(texts, model)).vectors

    async def embed_with_usage(self, texts: Sequence[str], model: str | None = None) -> Embeddings:
        """Vectors in the order of ``texts`` plus the tokens the server counted."""
        use_model = model or self.embedding_model
        if not texts:
            return Embeddings([], use_model, 0)
        payload = {"model": use_model, "input": list(texts), "encoding_format": "float"}
        response = await self._post(self._url("/embeddings"), payload)
        try:
            data = response.json()
            rows = sorted(data["data"], key=lambda row: int(row["index"]))
            vectors = [[float(x) for x in row["embedding"]] for row in rows]
        except (ValueError, KeyError, TypeError):
            raise bad_response(self.name, "no data[].embedding") from None
        if len(vectors) != len(texts):
            raise bad_response(self.name, f"{len(vectors)} vectors for {len(texts)} texts")
        usage = data.get("usage") or {}
        tokens = count(usage.get("prompt_tokens")) or sum(estimate_tokens(t) for t in texts)
        return Embeddings(vectors, str(data.get("model") or use_model), tokens)

    # --- plumbing --------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return self.base_url + path

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _chat_payload(self, request: CompletionRequest, *, stream: bool) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": request.model or self.model,
            "messages": [_message(m) for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.tools:
            payload["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": dict(t.parameters),
                    },
                }
                for t in request.tools
            ]
        if stream:
            payload["stream"] = True
            payload["stream_options"] = {"include_usage": True}
        return payload


def _message(m: ChatMessage) -> dict[str, Any]:
    """A message as the Chat Completions API spells it (tool calls and results too)."""
    if m.role == "tool":
        return {"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content}
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in m.tool_calls
        ]
    return out
