"""Local HTTP servers that speak the model vendors' APIs, for testing the real providers.

- OpenAI-compatible: ``POST /v1/chat/completions`` (JSON, and ``stream: true`` as SSE
  ``data:`` chunks ending in ``data: [DONE]``; with ``stream_options.include_usage`` a
  last chunk with empty ``choices`` carries ``usage``) and ``POST /v1/embeddings``.
- Anthropic Messages: ``POST /v1/messages`` (JSON, and ``stream: true`` as the named SSE
  events ``message_start``, ``content_block_start``, ``ping``, ``content_block_delta``,
  ``content_block_stop``, ``message_delta`` (with usage), ``message_stop``).

Both listen on 127.0.0.1 on a port the OS picks, in a thread, so async tests can call
them over real HTTP. ``server.url`` is what a provider is configured with: for OpenAI it
ends in ``/v1`` (like ``https://api.openai.com/v1``), for Anthropic it is the origin
(like ``https://api.anthropic.com``).

The default answer ECHOES the last user message: ``"Echo: " + text`` (see
:func:`echo_of`), so a test can see what the model saw and that tokens are restored.
Streamed answers come in pieces of ``chunk_chars`` characters, so a privacy token like
``[PERSON_1]`` is split across deltas as a real tokenizer would split it.

Script failures with ``server.script(Reply(status=429, retry_after=1), Reply(...))``;
scripted replies are consumed one per request, then the default answer resumes.
Every request any fake receives is also appended to the module-level ``ALL_REQUESTS``.
"""

from __future__ import annotations

import hashlib
import json
import math
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import pytest

ECHO_PREFIX = "Echo: "

Kind = Literal["openai", "anthropic"]


def echo_of(text: str) -> str:
    """The default answer a fake gives to a last user message ``text``."""
    return ECHO_PREFIX + text


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it. ``headers`` keys are lower-case."""

    server: str  # openai | anthropic
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: dict[str, Any]

    def text(self) -> str:
        """The whole request body as text (for 'did the model see X' checks)."""
        return self.body.decode("utf-8", "replace")


# Every request any fake server received, in arrival order (the suite-wide privacy guard
# reads it). Tests that care about one test's requests should use ``server.requests``.
ALL_REQUESTS: list[RecordedRequest] = []
_ALL_LOCK = threading.Lock()


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    ``status`` != 200 answers with the vendor's error JSON (or ``body`` if given) and a
    ``Retry-After`` header when ``retry_after`` is set. ``text`` replaces the echo answer.
    ``body`` (dict → JSON, str/bytes → raw) replaces the whole response body (not for
    streams). ``delay`` sleeps before answering (for client timeouts). ``drop`` closes the
    connection without any response; ``drop_after_deltas=n`` sends n stream deltas then
    closes the connection mid-stream; ``error_after_deltas=n`` sends n deltas then the
    vendor's in-stream error event. ``usage=(prompt, completion)`` overrides the counts.
    """

    status: int = 200
    text: str | None = None
    retry_after: float | str | None = None
    delay: float = 0.0
    body: dict[str, Any] | str | bytes | None = None
    drop: bool = False
    drop_after_deltas: int | None = None
    error_after_deltas: int | None = None
    usage: tuple[int, int] | None = None


def _words(text: str) -> int:
    return len(text.split())


def _content_text(content: Any) -> str:
    """Text of a message content: a string, or a list of content blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            str(block.get("text", ""))
            for block in content
            if isinstance(block, dict) and block.get("type", "text") == "text"
        ]
        return "".join(parts)
    return ""


def _fake_vector(text: str, dims: int) -> list[float]:
    """A deterministic unit vector for ``text`` (same text → same vector)."""
    values: list[float] = []
    counter = 0
    while len(values) < dims:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend((b - 127.5) / 127.5 for b in digest)
        counter += 1
    values = values[:dims]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


_OPENAI_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    408: ("timeout", None),
    429: ("requests", "rate_limit_exceeded"),
}
_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


class FakeLlmServer:
    """A threaded HTTP server speaking one vendor's API (see the module docstring)."""

    def __init__(
        self,
        kind: Kind,
        *,
        api_key: str | None = None,
        chunk_chars: int = 4,
        embedding_dims: int = 8,
    ) -> None:
        self.kind: Kind = kind
        # When set, requests must carry this key (Bearer / x-api-key) or get 401.
        self.api_key = api_key
        self.chunk_chars = chunk_chars
        self.embedding_dims = embedding_dims
        self.requests: list[RecordedRequest] = []
        self._script: list[Reply] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.origin = ""
        self.url = ""

    # --- control ---------------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        """Queue replies, consumed one per request before the default answer resumes."""
        with self._lock:
            self._script.extend(replies)

    def reset(self) -> None:
        """Forget scripted replies and recorded requests."""
        with self._lock:
            self._script.clear()
            self.requests.clear()

    @property
    def pending_replies(self) -> int:
        with self._lock:
            return len(self._script)

    def start(self) -> FakeLlmServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self.origin = f"http://127.0.0.1:{server.server_address[1]}"
        self.url = f"{self.origin}/v1" if self.kind == "openai" else self.origin
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None
        self._thread = None

    # --- internals used by the handler ----------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)
        with _ALL_LOCK:
            ALL_REQUESTS.append(request)

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._script.pop(0) if self._script else Reply()

    def _pieces(self, text: str) -> list[str]:
        n = max(1, self.chunk_chars)
        return [text[i : i + n] for i in range(0, len(text), n)] or [""]


def _handler_for(state: FakeLlmServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        # --- plumbing ----------------------------------------------------------------

        def _send_json(
            self, status: int, body: dict[str, Any] | str | bytes, reply: Reply | None = None
        ) -> None:
            if isinstance(body, dict):
                data = json.dumps(body).encode()
            elif isinstance(body, str):
                data = body.encode()
            else:
                data = body
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if state.kind == "openai":
                self.send_header("x-request-id", f"req_{uuid.uuid4().hex[:16]}")
            else:
                self.send_header("request-id", f"req_{uuid.uuid4().hex[:16]}")
            if reply is not None and reply.retry_after is not None:
                self.send_header("Retry-After", str(reply.retry_after))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

        def _start_stream(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

        def _chunk(self, data: str) -> None:
            raw = data.encode()
            self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
            self.wfile.flush()

        def _end_stream(self) -> None:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _drop(self) -> None:
            self.close_connection = True
            try:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        def _error(self, status: int, message: str, reply: Reply | None = None) -> None:
            if reply is not None and reply.body is not None:
                self._send_json(status, reply.body, reply)
                return
            if state.kind == "openai":
                etype, code = _OPENAI_ERROR_TYPES.get(status, ("server_error", None))
                body: dict[str, Any] = {
                    "error": {"message": message, "type": etype, "param": None, "code": code}
                }
            else:
                body = {
                    "type": "error",
                    "error": {
                        "type": _ANTHROPIC_ERROR_TYPES.get(status, "api_error"),
                        "message": message,
                    },
                }
            self._send_json(status, body, reply)

        # --- request ----------------------------------------------------------------

        def do_GET(self) -> None:
            self._read_and_record()
            self._error(404, f"Unknown request URL: GET {self.path}")

        def do_POST(self) -> None:
            payload = self._read_and_record()
            if payload is None:
                self._error(400, "We could not parse the JSON body of your request.")
                return
            auth_problem = self._auth_problem()
            if auth_problem is not None:
                status, message = auth_problem
                self._error(status, message)
                return
            reply = state._next_reply()
            if reply.delay:
                time.sleep(reply.delay)
            if reply.drop:
                self._drop()
                return
            if reply.status != 200:
                self._error(reply.status, f"scripted failure {reply.status}", reply)
                return
            route = (state.kind, self.path.split("?")[0])
            if route == ("openai", "/v1/chat/completions"):
                self._openai_chat(payload, reply)
            elif route == ("openai", "/v1/embeddings"):
                self._openai_embeddings(payload, reply)
            elif route == ("anthropic", "/v1/messages"):
                self._anthropic_messages(payload, reply)
            else:
                self._error(404, f"Unknown request URL: POST {self.path}")

        def _read_and_record(self) -> dict[str, Any] | None:
            length = int(self.headers.get("Content-Length", "0") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                parsed = json.loads(body) if body else {}
            except ValueError:
                parsed = None
            state._record(
                RecordedRequest(
                    server=state.kind,
                    method=self.command,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    json=parsed if isinstance(parsed, dict) else {},
                )
            )
            return parsed if isinstance(parsed, dict) else None

        def _auth_problem(self) -> tuple[int, str] | None:
            if state.kind == "openai":
                if state.api_key is None:
                    return None
                if self.headers.get("Authorization") != f"Bearer {state.api_key}":
                    return 401, "Incorrect API key provided."
                return None
            key = self.headers.get("x-api-key")
            if not key or (state.api_key is not None and key != state.api_key):
                return 401, "invalid x-api-key"
            if not self.headers.get("anthropic-version"):
                return 400, "anthropic-version: header is required"
            return None

        # --- OpenAI -------------------------------------------------------------------

        def _openai_chat(self, payload: dict[str, Any], reply: Reply) -> None:
            messages = payload.get("messages")
            model = payload.get("model")
            if not isinstance(messages, list) or not messages or not model:
                self._error(400, "'messages' and 'model' are required properties")
                return
            last_user = next(
                (
                    _content_text(m.get("content"))
                    for m in reversed(messages)
                    if isinstance(m, dict) and m.get("role") == "user"
                ),
                "",
            )
            text = reply.text if reply.text is not None else echo_of(last_user)
            if reply.body is not None and not payload.get("stream"):
                self._send_json(200, reply.body)
                return
            prompt_tokens, completion_tokens = reply.usage or (
                sum(_words(_content_text(m.get("content"))) + 3 for m in messages),
                max(1, _words(text)),
            )
            usage = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }
            ident = f"chatcmpl-{uuid.uuid4().hex[:24]}"
            created = int(time.time())
            if not payload.get("stream"):
                self._send_json(
                    200,
                    {
                        "id": ident,
                        "object": "chat.completion",
                        "created": created,
                        "model": model,
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": text, "refusal": None},
                                "logprobs": None,
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": usage,
                        "system_fingerprint": "fp_fake",
                    },
                )
                return
            options = payload.get("stream_options") or {}
            include_usage = bool(isinstance(options, dict) and options.get("include_usage"))

            def chunk(delta: dict[str, Any], finish: str | None) -> str:
                event: dict[str, Any] = {
                    "id": ident,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "system_fingerprint": "fp_fake",
                    "choices": [
                        {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                    ],
                }
                if include_usage:
                    event["usage"] = None
                return f"data: {json.dumps(event)}\n\n"

            self._start_stream()
            self._chunk(chunk({"role": "assistant", "content": "", "refusal": None}, None))
            for n, piece in enumerate(state._pieces(text)):
                if reply.drop_after_deltas is not None and n >= reply.drop_after_deltas:
                    self._drop()
                    return
                if reply.error_after_deltas is not None and n >= reply.error_after_deltas:
                    error = {
                        "error": {"message": "The server had an error", "type": "server_error"}
                    }
                    self._chunk(f"data: {json.dumps(error)}\n\n")
                    self._end_stream()
                    return
                self._chunk(chunk({"content": piece}, None))
            self._chunk(chunk({}, "stop"))
            if include_usage:
                last = {
                    "id": ident,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "system_fingerprint": "fp_fake",
                    "choices": [],
                    "usage": usage,
                }
                self._chunk(f"data: {json.dumps(last)}\n\n")
            self._chunk("data: [DONE]\n\n")
            self._end_stream()

        def _openai_embeddings(self, payload: dict[str, Any], reply: Reply) -> None:
            raw_input = payload.get("input")
            model = payload.get("model")
            inputs = [raw_input] if isinstance(raw_input, str) else raw_input
            if not model or not isinstance(inputs, list) or not inputs:
                self._error(400, "'input' and 'model' are required properties")
                return
            if reply.body is not None:
                self._send_json(200, reply.body)
                return
            dims = int(payload.get("dimensions") or state.embedding_dims)
            tokens = sum(_words(str(t)) for t in inputs)
            self._send_json(
                200,
                {
                    "object": "list",
                    "data": [
                        {"object": "embedding", "index": i, "embedding": _fake_vector(str(t), dims)}
                        for i, t in enumerate(inputs)
                    ],
                    "model": model,
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                },
            )

        # --- Anthropic ----------------------------------------------------------------

        def _anthropic_messages(self, payload: dict[str, Any], reply: Reply) -> None:
            messages = payload.get("messages")
            model = payload.get("model")
            if not isinstance(messages, list) or not messages or not model:
                self._error(400, "messages: Field required")
                return
            if not isinstance(payload.get("max_tokens"), int):
                self._error(400, "max_tokens: Field required")
                return
            for m in messages:
                if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
                    role = m.get("role") if isinstance(m, dict) else None
                    self._error(400, f'messages: Unexpected role "{role}"')
                    return
            last_user = next(
                (
                    _content_text(m.get("content"))
                    for m in reversed(messages)
                    if m["role"] == "user"
                ),
                "",
            )
            text = reply.text if reply.text is not None else echo_of(last_user)
            if reply.body is not None and not payload.get("stream"):
                self._send_json(200, reply.body)
                return
            system = payload.get("system")
            system_words = _words(_content_text(system)) if system else 0
            input_tokens, output_tokens = reply.usage or (
                system_words + sum(_words(_content_text(m.get("content"))) + 3 for m in messages),
                max(1, _words(text)),
            )
            ident = f"msg_{uuid.uuid4().hex[:24]}"
            if not payload.get("stream"):
                self._send_json(
                    200,
                    {
                        "id": ident,
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": [{"type": "text", "text": text}],
                        "stop_reason": "end_turn",
                        "stop_sequence": None,
                        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
                    },
                )
                return

            def event(name: str, data: dict[str, Any]) -> None:
                self._chunk(f"event: {name}\ndata: {json.dumps(data)}\n\n")

            self._start_stream()
            event(
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": ident,
                        "type": "message",
                        "role": "assistant",
                        "content": [],
                        "model": model,
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {"input_tokens": input_tokens, "output_tokens": 1},
                    },
                },
            )
            event(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            )
            event("ping", {"type": "ping"})
            for n, piece in enumerate(state._pieces(text)):
                if reply.drop_after_deltas is not None and n >= reply.drop_after_deltas:
                    self._drop()
                    return
                if reply.error_after_deltas is not None and n >= reply.error_after_deltas:
                    event(
                        "error",
                        {
                            "type": "error",
                            "error": {"type": "overloaded_error", "message": "Overloaded"},
                        },
                    )
                    self._end_stream()
                    return
                event(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": piece},
                    },
                )
            event("content_block_stop", {"type": "content_block_stop", "index": 0})
            event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": output_tokens},
                },
            )
            event("message_stop", {"type": "message_stop"})
            self._end_stream()

    return Handler


def closed_port_url(path: str = "/v1") -> str:
    """A base URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


@pytest.fixture
def fake_openai() -> Iterator[FakeLlmServer]:
    """A started OpenAI-compatible fake; configure providers with ``fake_openai.url``."""
    server = FakeLlmServer("openai").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake_anthropic() -> Iterator[FakeLlmServer]:
    """A started Anthropic Messages fake; configure providers with ``fake_anthropic.url``."""
    server = FakeLlmServer("anthropic").start()
    try:
        yield server
    finally:
        server.stop()
