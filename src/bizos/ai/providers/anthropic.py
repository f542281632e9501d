"""Anthropic Messages API: messages and streaming.

``base_url`` is the API origin (``https://api.anthropic.com``); a trailing ``/v1`` is
accepted too. System messages go into the top-level ``system`` field, as the API wants.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import httpx

from bizos.ai.providers.http import (
    HttpProvider,
    bad_response,
    count,
    json_object,
    vendor_message,
)
from bizos.ai.types import (
    ChatMessage,
    Completion,
    CompletionRequest,
    ProviderError,
    StreamChunk,
    StreamEnd,
    TextDelta,
)

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
# Error types sent inside a 200 stream that may pass on a later try.
_RETRYABLE_STREAM_ERRORS = {"overloaded_error", "api_error", "rate_limit_error", "timeout_error"}


class AnthropicProvider(HttpProvider):
    """Claude models over the Messages API."""

    name = "anthropic"

    def __init__(
        self,
        base_url: str | None,
        api_key: str,
        model: str,
        timeout: float = 60.0,
        client: httpx.AsyncClient | None = None,
        *,
        allow_private: bool | None = None,
    ) -> None:
        super().__init__(api_key, model, timeout, client, allow_private)
        root = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.base_url = root.removesuffix("/v1")

    async def complete(self, request: CompletionRequest) -> Completion:
        payload = self._payload(request, stream=False)
        response = await self._post(f"{self.base_url}/v1/messages", payload)
        try:
            data = response.json()
            blocks = data["content"]
            if not isinstance(blocks, list):  # a string would read as an empty answer
                raise TypeError("content is not a list of blocks")
            text = "".join(
                str(b.get("text", ""))
                for b in blocks
                if isinstance(b, dict) and b.get("type") == "text"
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise bad_response(self.name, "no content blocks") from None
        usage = data.get("usage") or {}
        model = str(data.get("model") or payload["model"])
        return self._completion(
            request, text, model, _input_tokens(usage), count(usage.get("output_tokens"))
        )

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamChunk]:
        """Text deltas from ``content_block_delta`` events; input tokens come with
        ``message_start``, output tokens with ``message_delta``. Ending without
        ``message_stop`` is an error, never a short answer."""
        payload = self._payload(request, stream=True)
        parts: list[str] = []
        model = str(payload["model"])
        input_tokens = 0
        output_tokens = 0
        finished = False
        async with aclosing(self._events(f"{self.base_url}/v1/messages", payload)) as events:
            async for event in events:
                data = json_object(event.data)
                if data is None:
                    raise bad_response(self.name, "stream event is not JSON")
                kind = data.get("type") or event.event
                if kind == "message_start":
                    message = data.get("message") or {}
                    model = str(message.get("model") or model)
                    usage = message.get("usage") or {}
                    input_tokens = _input_tokens(usage)
                    output_tokens = count(usage.get("output_tokens"))
                elif kind == "content_block_delta":
                    delta = data.get("delta") or {}
                    text = delta.get("text")
                    if delta.get("type") == "text_delta" and isinstance(text, str) and text:
                        parts.append(text)
                        yield TextDelta(text)
                elif kind == "message_delta":
                    usage = data.get("usage") or {}
                    output_tokens = count(usage.get("output_tokens")) or output_tokens
                    input_tokens = _input_tokens(usage) or input_tokens
                elif kind == "message_stop":
                    finished = True
                    break
                elif kind == "error":
                    raise self._stream_error(event.data)
        if not finished:
            raise self._cut_off()
        yield StreamEnd(
            self._completion(request, "".join(parts), model, input_tokens, output_tokens)
        )

    # --- plumbing --------------------------------------------------------------------

    def _stream_error(self, raw: str) -> ProviderError:
        data = json_object(raw) or {}
        error = data.get("error") if isinstance(data.get("error"), dict) else {}
        kind = str((error or {}).get("type") or "")
        return ProviderError(
            vendor_message(raw.encode()) or "stream error",
            provider=self.name,
            retryable=kind in _RETRYABLE_STREAM_ERRORS,
        )

    def _headers(self) -> dict[str, str]:
        return {
            "x-api-key": self._api_key or "",
            "anthropic-version": API_VERSION,
            "accept": "application/json",
        }

    def _payload(self, request: CompletionRequest, *, stream: bool) -> dict[str, Any]:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        turns: list[dict[str, Any]] = []
        for m in request.messages:
            if m.role == "system":
                continue
            role, content = _turn(m)
            if turns and turns[-1]["role"] == role:
                # The API wants alternating turns; adjacent ones of one role are one turn.
                turns[-1]["content"] = _joined(turns[-1]["content"], content)
            else:
                turns.append({"role": role, "content": content})
        payload: dict[str, Any] = {
            "model": request.model or self.model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "messages": turns,
        }
        if request.tools:
            payload["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": dict(t.parameters)}
                for t in request.tools
            ]
        if system:
            payload["system"] = system
        if stream:
            payload["stream"] = True
        return payload


def _input_tokens(usage: dict[str, Any]) -> int:
    """Prompt tokens including those read from or written to the prompt cache."""
    return (
        count(usage.get("input_tokens"))
        + count(usage.get("cache_creation_input_tokens"))
        + count(usage.get("cache_read_input_tokens"))
    )


def _turn(m: ChatMessage) -> tuple[str, str | list[dict[str, Any]]]:
    """A message as a Messages API turn: a tool result is a user turn of
    ``tool_result`` blocks, an assistant's tool calls are ``tool_use`` blocks."""
    if m.role == "tool":
        return "user", [
            {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content}
        ]
    if m.tool_calls:
        blocks: list[dict[str, Any]] = [{"type": "text", "text": m.content}] if m.content else []
        blocks += [
            {
                "type": "tool_use",
                "id": c.id,
                "name": c.name,
                "input": json.loads(c.arguments or "{}"),
            }
            for c in m.tool_calls
        ]
        return m.role, blocks
    return m.role, m.content


def _joined(
    first: str | list[dict[str, Any]], second: str | list[dict[str, Any]]
) -> str | list[dict[str, Any]]:
    if isinstance(first, str) and isinstance(second, str):
        return first + "\n\n" + second

    def blocks(c: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"type": "text", "text": c}] if isinstance(c, str) else c

    return blocks(first) + blocks(second)
