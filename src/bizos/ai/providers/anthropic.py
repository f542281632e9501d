"""Anthropic Messages API: messages and streaming.

``base_url`` is the API origin (``https://api.anthropic.com``); a trailing ``/v1`` is
accepted too. System messages go into the top-level ``system`` field, as the API wants.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from bizos.ai.providers.http import (
    bad_response,
    count,
    json_object,
    server_sent_events,
    status_error,
    transport_error,
    vendor_message,
)
from bizos.ai.tokens import estimate_message_tokens, estimate_tokens
from bizos.ai.types import (
    Completion,
    CompletionRequest,
    ProviderError,
    StreamChunk,
    StreamEnd,
    TextDelta,
)
from bizos.connectors.targets import allow_private_targets, http_client

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
# Error types sent inside a 200 stream that may pass on a later try.
_RETRYABLE_STREAM_ERRORS = {"overloaded_error", "api_error", "rate_limit_error", "timeout_error"}


class AnthropicProvider:
    """Claude models over the Messages API."""

    name = "anthropic"
    external = True

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
        """``base_url`` is the tenant's choice: unless ``allow_private`` (default:
        ``BIZOS_CONNECTOR_ALLOW_PRIVATE_TARGETS``) it may not point inside the server's
        network (``connectors.targets``). A ``client`` passed in is used as it is."""
        root = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.base_url = root.removesuffix("/v1")
        self.model = model
        self.timeout = timeout
        self.allow_private = allow_private_targets() if allow_private is None else allow_private
        self._api_key = api_key
        self._client = client

    def __repr__(self) -> str:  # never show the key
        return f"AnthropicProvider(base_url={self.base_url!r}, model={self.model!r})"

    async def complete(self, request: CompletionRequest) -> Completion:
        payload = self._payload(request, stream=False)
        async with self._http() as client:
            try:
                response = await client.post(
                    f"{self.base_url}/v1/messages", json=payload, headers=self._headers()
                )
            except httpx.HTTPError as exc:
                raise transport_error(self.name, exc) from None
        if response.status_code != 200:
            raise status_error(self.name, response, response.content)
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
        return Completion(
            text=text,
            provider=self.name,
            model=str(data.get("model") or payload["model"]),
            prompt_tokens=_input_tokens(usage) or estimate_message_tokens(request.messages),
            completion_tokens=count(usage.get("output_tokens")) or estimate_tokens(text),
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
        async with self._http() as client:
            try:
                async with client.stream(
                    "POST", f"{self.base_url}/v1/messages", json=payload, headers=self._headers()
                ) as response:
                    if response.status_code != 200:
                        body = await response.aread()
                        raise status_error(self.name, response, body)
                    async for event in server_sent_events(response):
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
            except httpx.HTTPError as exc:
                raise transport_error(self.name, exc) from None
        if not finished:
            raise ProviderError(
                "stream ended before the answer was complete", provider=self.name, retryable=True
            )
        text = "".join(parts)
        yield StreamEnd(
            Completion(
                text=text,
                provider=self.name,
                model=model,
                prompt_tokens=input_tokens or estimate_message_tokens(request.messages),
                completion_tokens=output_tokens or estimate_tokens(text),
            )
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
            "x-api-key": self._api_key,
            "anthropic-version": API_VERSION,
            "accept": "application/json",
        }

    def _payload(self, request: CompletionRequest, *, stream: bool) -> dict[str, Any]:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        turns: list[dict[str, Any]] = []
        for m in request.messages:
            if m.role == "system":
                continue
            if turns and turns[-1]["role"] == m.role:
                # The API wants alternating turns; adjacent ones of one role are one turn.
                turns[-1]["content"] += "\n\n" + m.content
            else:
                turns.append({"role": m.role, "content": m.content})
        payload: dict[str, Any] = {
            "model": request.model or self.model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "messages": turns,
        }
        if system:
            payload["system"] = system
        if stream:
            payload["stream"] = True
        return payload

    @asynccontextmanager
    async def _http(self) -> AsyncIterator[httpx.AsyncClient]:
        if self._client is not None:
            yield self._client
            return
        async with http_client(
            timeout=httpx.Timeout(self.timeout), allow_private=self.allow_private
        ) as client:
            yield client


def _input_tokens(usage: dict[str, Any]) -> int:
    """Prompt tokens including those read from or written to the prompt cache."""
    return (
        count(usage.get("input_tokens"))
        + count(usage.get("cache_creation_input_tokens"))
        + count(usage.get("cache_read_input_tokens"))
    )
