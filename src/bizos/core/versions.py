"""Optimistic concurrency over HTTP: ``If-Match`` against an entity's ``version``.

A client reads a resource (``version: 3``), edits it and sends ``If-Match: 3``; if someone
else saved in between, the stored version is 4 and the update is refused with 409 rather
than silently overwriting their change. Accepted spellings: ``3``, ``"3"`` and ``W/"3"``
(an ETag as browsers and HTTP libraries echo it), a comma-separated list, or ``*``.
"""

from __future__ import annotations

import re
from typing import Annotated, Protocol, TypeVar

from fastapi import Header
from starlette.requests import Request
from starlette.responses import Response

from bizos.core.errors import Unprocessable, VersionConflict, field_error

# The ``If-Match`` request header as an endpoint parameter (absent: no check).
IfMatch = Annotated[str | None, Header()]


class Versioned(Protocol):
    @property
    def version(self) -> int: ...


V = TypeVar("V", bound=Versioned)

_ETAG = re.compile(r'^(?:W/"(\d{1,18})"|"(\d{1,18})"|(\d{1,18}))$')


def version_etag(version: int) -> str:
    """The ``ETag`` header value for ``version``; echoing it as ``If-Match`` is accepted."""
    return f'W/"{version}"'


def tagged(response: Response, read: V) -> V:
    """``read`` as it is, its ``ETag`` (its version) set on ``response``."""
    response.headers["ETag"] = version_etag(read.version)
    return read


def parse_if_match(value: str) -> list[int] | None:
    """The versions an ``If-Match`` value names; ``None`` for ``*`` (any version)."""
    text = value.strip()
    if text == "*":
        return None
    versions: list[int] = []
    for part in text.split(","):
        match = _ETAG.match(part.strip())
        if match is None:
            raise Unprocessable(
                'If-Match must name a version such as 3 or W/"3"',
                errors=[field_error(["header", "If-Match"], "not a version")],
            )
        versions.append(int(next(g for g in match.groups() if g is not None)))
    return versions


def check_version(source: Request | str | None, current_version: int) -> None:
    """Raise ``VersionConflict`` (409) unless ``If-Match`` is absent or names the current
    version. ``source`` is the request or the header's value."""
    value = source.headers.get("if-match") if isinstance(source, Request) else source
    if value is None or not value.strip():
        return
    versions = parse_if_match(value)
    if versions is not None and current_version not in versions:
        raise VersionConflict(
            f"the resource is at version {current_version}; If-Match named "
            f"{', '.join(str(v) for v in versions)}. Re-read it and apply your change again."
        )
