"""Request guards every route shares (attached to the app in ``api/app.py``).

PostgreSQL text cannot hold U+0000: a NUL in a name, a query or an id would reach the
database and fail there as a 500 (signup, login, any search). :func:`reject_nul_characters`
answers 422 with the path of every offending value instead, on both databases alike.

What is looked at: path parameters, the query string, JSON bodies, urlencoded bodies,
and the text fields and file names of a multipart form the route has already parsed.
File contents are left alone (their readers check them), and a multipart upload is
never read here: the uploads in ``UPLOAD_PATHS`` stream to disk as the route parses them.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.params import Form
from starlette.datastructures import UploadFile

from bizos.api.asgi import PROVIDER_WEBHOOKS
from bizos.core.errors import Unprocessable, field_error

NUL = "\x00"
MAX_REPORTED = 20
NUL_MESSAGE = "must not contain NUL (U+0000) characters"
# Methods whose bodies the body limit does not bound (and no route reads): never read here.
# Provider webhooks are stored byte for byte (a binary column holds NUL) and their adapters
# drop NULs from the text they keep: refusing the body would make the provider retry a
# delivery we can never accept.
# (The same receivers draw on their own rate limit: ``PROVIDER_WEBHOOKS``.)
RAW_BODY_PATHS = PROVIDER_WEBHOOKS
_BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})


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


def raise_for_nul(paths: list[list[str | int]]) -> None:
    """422 naming each path (at most ``MAX_REPORTED``), if there are any."""
    if paths:
        raise Unprocessable(
            f"text {NUL_MESSAGE}",
            errors=[field_error(path, NUL_MESSAGE) for path in paths[:MAX_REPORTED]],
        )


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _route_parses_form(request: Request) -> bool:
    """Whether FastAPI already read this request's body as a form (``Form``/``File``
    parameters): then ``request.form()`` hands back that parse, reading nothing."""
    body_field = getattr(request.scope.get("route"), "body_field", None)
    return body_field is not None and isinstance(body_field.field_info, Form)


async def _form_nul_paths(request: Request) -> list[list[str | int]]:
    paths: list[list[str | int]] = []
    for name, value in (await request.form()).multi_items():
        if NUL in name:
            paths.append(["body", name])
        if isinstance(value, UploadFile):
            if value.filename and NUL in value.filename:
                paths.append(["body", name, "filename"])
        elif NUL in value:
            paths.append(["body", name])
    return paths


async def _body_nul_paths(request: Request) -> list[list[str | int]]:
    if request.method in _BODILESS or request.url.path.startswith(RAW_BODY_PATHS):
        return []
    media_type = _media_type(request)
    if _route_parses_form(request):
        return await _form_nul_paths(request)
    # Bounded by the body limit; cached by the request, so the route reads it again.
    if media_type == "application/json" or media_type.endswith("+json"):
        body = await request.body()
        # JSON can carry a NUL only as the escape \u0000: skip parsing every other body.
        if b"\\u0000" not in body:
            return []
        # Not JSON at all: the route's own validation reports that.
        with contextlib.suppress(ValueError):
            return list(nul_paths(json.loads(body), ["body"]))
        return []
    if media_type == "application/x-www-form-urlencoded":
        body = await request.body()
        if b"%00" not in body and b"\x00" not in body:
            return []
        paths: list[list[str | int]] = []
        for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            if NUL in name or NUL in value:
                paths.append(["body", name])
        return paths
    return []


async def reject_nul_characters(request: Request) -> None:
    """422 naming ``path``/``query``/``body`` locations whose text holds a NUL."""
    paths: list[list[str | int]] = []
    for name, value in request.path_params.items():
        paths.extend(nul_paths(value, ["path", name]))
    for name, value in request.query_params.multi_items():
        if NUL in name:
            paths.append(["query", name])
        else:
            paths.extend(nul_paths(value, ["query", name]))
    paths.extend(await _body_nul_paths(request))
    raise_for_nul(paths)


DATE_PARAMS = ("from", "to", "as_of")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


async def strict_days(request: Request) -> None:
    """Query days (``from``, ``to``, ``as_of``) are ``YYYY-MM-DD``: a number (``0``) or a
    timestamp is a 422, not 1970-01-01 (Pydantic's lax date parsing would take it)."""
    bad = [
        name
        for name in DATE_PARAMS
        for value in request.query_params.getlist(name)
        if not _ISO_DAY.fullmatch(value)
    ]
    if bad:
        raise Unprocessable(
            "dates are YYYY-MM-DD",
            errors=[field_error(["query", name], "a day as YYYY-MM-DD") for name in bad],
        )
