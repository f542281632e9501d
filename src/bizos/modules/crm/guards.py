"""Request guards every CRM route shares (mounted in ``crm/api.py``).

PostgreSQL text cannot hold U+0000: a NUL in a name, a query or an id would reach the
database and fail there as a 500. :func:`reject_nul_characters` answers 422 with the
path of every offending value instead, on both databases alike.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from fastapi import Request

from bizos.core.errors import Unprocessable, field_error

NUL = "\x00"
MAX_REPORTED = 20
_NUL_MESSAGE = "must not contain NUL (U+0000) characters"


def nul_paths(value: Any, loc: list[str | int]) -> Iterator[list[str | int]]:
    """The paths under ``loc`` of the strings (and object keys) in ``value`` holding NUL."""
    if isinstance(value, str):
        if NUL in value:
            yield loc
    elif isinstance(value, dict):
        for key, item in value.items():
            if NUL in key:
                yield [*loc, key]
            yield from nul_paths(item, [*loc, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from nul_paths(item, [*loc, index])


def _is_json(request: Request) -> bool:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


async def reject_nul_characters(request: Request) -> None:
    """422 naming ``path``/``query``/``body`` locations whose text holds a NUL."""
    paths: list[list[str | int]] = []
    for name, value in request.path_params.items():
        paths.extend(nul_paths(value, ["path", name]))
    for name, value in request.query_params.multi_items():
        paths.extend(nul_paths(value, ["query", name]))
    if _is_json(request):
        body = await request.body()  # cached by the request: the route reads it again
        # JSON can carry a NUL only as the escape \u0000: skip parsing every other body.
        if b"\\u0000" in body:
            # Not JSON at all: the route's own validation reports that.
            with contextlib.suppress(ValueError):
                paths.extend(nul_paths(json.loads(body), ["body"]))
    if paths:
        raise Unprocessable(
            f"text {_NUL_MESSAGE}",
            errors=[field_error(path, _NUL_MESSAGE) for path in paths[:MAX_REPORTED]],
        )
