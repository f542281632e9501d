"""Typed errors that map to RFC 9457 problem+json responses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class ProblemError(Exception):
    """Base of every error a caller may see. ``status`` picks the HTTP status."""

    status: int = 400
    title: str = "Bad request"
    type_: str = "about:blank"

    def __init_subclass__(
        cls, *, status: int | None = None, title: str | None = None, **kw: Any
    ) -> None:
        """``class NotFound(ProblemError, status=404, title="Not found")`` sets both."""
        super().__init_subclass__(**kw)
        if status is not None:
            cls.status = status
        if title is not None:
            cls.title = title

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = list(errors) if errors else None
        self.headers = headers or {}

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type_,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = self.errors
        return body


class Unauthenticated(ProblemError, status=401, title="Unauthorized"):
    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        super().__init__(detail, **kw)
        self.headers.setdefault("WWW-Authenticate", "Bearer")


class Forbidden(ProblemError, status=403, title="Forbidden"): ...


class NotFound(ProblemError, status=404, title="Not found"): ...


class Conflict(ProblemError, status=409, title="Conflict"): ...


class VersionConflict(Conflict, title="Version conflict"): ...


class Unprocessable(ProblemError, status=422, title="Unprocessable content"): ...


class PayloadTooLarge(ProblemError, status=413, title="Payload too large"): ...


class TooManyRequests(ProblemError, status=429, title="Too many requests"):
    def __init__(self, detail: str | None = None, *, retry_after: int, **kw: Any) -> None:
        super().__init__(detail, **kw)
        self.retry_after = max(1, int(retry_after))
        self.headers["Retry-After"] = str(self.retry_after)


class ServiceUnavailable(ProblemError, status=503, title="Service unavailable"): ...


def field_error(loc: Sequence[str | int], msg: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg}
