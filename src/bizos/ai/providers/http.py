"""What the HTTP providers share: turning failures into :class:`ProviderError` with the
right ``retryable`` flag, reading Retry-After, and reading server-sent events."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from bizos.ai.tokens import estimate_message_tokens, estimate_tokens
from bizos.ai.types import Completion, CompletionRequest, ProviderError
from bizos.connectors.targets import allow_private_targets, http_client
from bizos.core.egress import TargetRefused

# Key-like strings a vendor may echo back in an error ("Incorrect API key: sk-ab***").
_KEYLIKE = re.compile(r"\b(?:sk|key|api|ant)[-_][A-Za-z0-9_\-*.]{4,}", re.IGNORECASE)


def is_retryable_status(status: int) -> bool:
    """408 (timeout), 429 (rate limit) and 5xx may pass on a later try; other 4xx will not."""
    return status in (408, 429) or status >= 500


def parse_retry_after(headers: httpx.Headers, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, or ``Retry-After`` (seconds or HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - now).total_seconds())


def scrub(message: str, limit: int = 200) -> str:
    """A vendor's error message made safe for logs and records: no key-like strings,
    one line, bounded."""
    one_line = " ".join(_KEYLIKE.sub("[redacted]", message).split())
    return one_line[:limit]


def vendor_message(body: bytes) -> str:
    """The human message out of an OpenAI or Anthropic error body, if there is one.

    Only the vendor's ``error`` text fields (``type``/``code`` and ``message`` as
    strings) are taken, scrubbed and bounded; nothing else of the answer is repeated, so
    a server that is not a model API cannot have its body read back through our errors.
    """
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        kind = _text(error.get("type")) or _text(error.get("code"))
        message = _text(error.get("message"))
        return scrub(f"{kind}: {message}" if kind and message else kind or message)
    return scrub(error) if isinstance(error, str) else ""


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def status_error(provider: str, response: httpx.Response, body: bytes) -> ProviderError:
    status = response.status_code
    message = vendor_message(body)
    detail = f"HTTP {status}" + (f": {message}" if message else "")
    return ProviderError(
        detail,
        provider=provider,
        retryable=is_retryable_status(status),
        status=status,
        retry_after=parse_retry_after(response.headers),
    )


def transport_error(provider: str, exc: httpx.HTTPError) -> ProviderError:
    """Timeouts and connection failures are worth another try; an endpoint refused by
    ``connectors.targets`` and anything else httpx raises (a malformed URL, say) are not."""
    if isinstance(exc, TargetRefused):
        return ProviderError(f"endpoint refused: {exc}", provider=provider, retryable=False)
    if isinstance(exc, httpx.TimeoutException):
        return ProviderError(f"timeout ({type(exc).__name__})", provider=provider, retryable=True)
    if isinstance(exc, httpx.TransportError):
        return ProviderError(
            f"connection failed ({type(exc).__name__})", provider=provider, retryable=True
        )
    return ProviderError(
        f"request failed ({type(exc).__name__})", provider=provider, retryable=False
    )


def bad_response(provider: str, what: str) -> ProviderError:
    """A 200 whose body is not what the API documents: another try rarely helps."""
    return ProviderError(f"unexpected response: {what}", provider=provider, retryable=False)


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    event: str  # "message" when the server names none
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


async def server_sent_events(response: httpx.Response) -> AsyncIterator[ServerSentEvent]:
    """The events of a ``text/event-stream`` body, per the WHATWG rules: ``event:`` and
    ``data:`` fields (multi-line data joined by newlines), comments ignored, dispatched on
    a blank line."""
    event = ""
    data: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield ServerSentEvent(event or "message", "\n".join(data))
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)
    if data:
        yield ServerSentEvent(event or "message", "\n".join(data))


def count(value: object) -> int:
    """A token count from a vendor's usage object (0 when absent or not a count)."""
    return value if isinstance(value, int) and value >= 0 else 0


def json_object(data: str) -> dict[str, Any] | None:
    """``data`` parsed when it is a JSON object, else None."""
    try:
        parsed = json.loads(data)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


class HttpProvider(ABC):
    """What the HTTP providers share: the key kept out of ``repr``, the tenant's endpoint
    checked by ``connectors.targets``, one POST or one event stream per call with its
    failures turned into :class:`ProviderError`, and the answer with estimated token
    counts where the server sent none."""

    name: str
    external = True  # even on loopback: the privacy proxy applies to every non-local model
    base_url: str

    def __init__(
        self,
        api_key: str | None,
        model: str,
        timeout: float,
        client: httpx.AsyncClient | None,
        allow_private: bool | None,
    ) -> None:
        """``base_url`` is the tenant's choice: unless ``allow_private`` (default:
        ``BIZOS_CONNECTOR_ALLOW_PRIVATE_TARGETS``) it may not point inside the server's
        network (``connectors.targets``). A ``client`` passed in is used as it is."""
        self.model = model
        self.timeout = timeout
        self.allow_private = allow_private_targets() if allow_private is None else allow_private
        self._api_key = api_key
        self._client = client

    def __repr__(self) -> str:  # never show the key
        return f"{type(self).__name__}(base_url={self.base_url!r}, model={self.model!r})"

    @abstractmethod
    def _headers(self) -> dict[str, str]:
        """The vendor's authentication and version headers."""

    async def _post(self, url: str, payload: dict[str, Any]) -> httpx.Response:
        """The 200 answer to one POST; anything else raises :class:`ProviderError`."""
        async with self._http() as client:
            try:
                response = await client.post(url, json=payload, headers=self._headers())
            except httpx.HTTPError as exc:
                raise transport_error(self.name, exc) from None
        if response.status_code != 200:
            raise status_error(self.name, response, response.content)
        return response

    async def _events(
        self, url: str, payload: dict[str, Any]
    ) -> AsyncGenerator[ServerSentEvent, None]:
        """The events of one streamed POST (use under ``contextlib.aclosing``)."""
        async with self._http() as client:
            try:
                async with client.stream(
                    "POST", url, json=payload, headers=self._headers()
                ) as response:
                    if response.status_code != 200:
                        body = await response.aread()
                        raise status_error(self.name, response, body)
                    async for event in server_sent_events(response):
                        yield event
            except httpx.HTTPError as exc:
                raise transport_error(self.name, exc) from None

    def _completion(
        self,
        request: CompletionRequest,
        text: str,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
    ) -> Completion:
        """The answer, with token counts estimated where the server sent none (0)."""
        return Completion(
            text=text,
            provider=self.name,
            model=model,
            prompt_tokens=prompt_tokens or estimate_message_tokens(request.messages),
            completion_tokens=completion_tokens or estimate_tokens(text),
        )

    def _cut_off(self) -> ProviderError:
        """A stream that ended before the answer was complete: never a short answer."""
        return ProviderError(
            "stream ended before the answer was complete", provider=self.name, retryable=True
        )

    @asynccontextmanager
    async def _http(self) -> AsyncIterator[httpx.AsyncClient]:
        """The caller's shared client (auth goes per request, so one client can serve
        several providers), or a short-lived one with this provider's timeout that
        connects only to an endpoint that passes ``connectors.targets``."""
        if self._client is not None:
            yield self._client
            return
        async with http_client(
            timeout=httpx.Timeout(self.timeout), allow_private=self.allow_private
        ) as client:
            yield client
