"""Unknown query parameters are a 422 on every ``/api/v1`` route, naming each one.

A parameter a route does not declare used to be dropped without a word: ``?q=acme`` on
a list without search answered the whole unfiltered list, which the caller took for the
search result. The guard is an app-wide dependency (``api/app.py``) that compares the
query string with the parameters the matched route declares (its own and its
dependencies', by alias), so each route states its parameters once, in its signature,
and that statement is also what the OpenAPI document shows.

Only ``/api/v1`` is guarded: provider webhooks (``/webhooks``) and public forms are sent
by systems we do not control, which may add parameters of their own.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import AliasChoices, BaseModel

from bizos.core.errors import Unprocessable, field_error

GUARDED_PREFIX = "/api/v1/"
MAX_REPORTED = 20
MAX_NAME = 60  # of a name quoted back
# Routes are made once, when their modules are imported: by id, with the route held so
# the id stays its own.
_declared: dict[int, tuple[APIRoute, frozenset[str]]] = {}


def _names(alias: str, name: str, validation_alias: object) -> set[str]:
    names = {alias or name}
    if isinstance(validation_alias, str):
        names.add(validation_alias)
    elif isinstance(validation_alias, AliasChoices):
        names.update(c for c in validation_alias.choices if isinstance(c, str))
    return names


def declared_query_names(dependant: Dependant) -> frozenset[str]:
    """Every query parameter name ``dependant`` (and its dependencies) reads, including
    the fields of a Pydantic model declared as ``Query()``."""
    names: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        pending.extend(current.dependencies)
        for field in current.query_params:
            annotation = field.field_info.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                for name, info in annotation.model_fields.items():
                    names |= _names(info.alias or name, name, info.validation_alias)
            else:
                names |= _names(field.alias, field.name, field.field_info.validation_alias)
    return frozenset(names)


def _route_names(route: APIRoute) -> frozenset[str]:
    known = _declared.get(id(route))
    if known is None or known[0] is not route:
        known = _declared[id(route)] = (route, declared_query_names(route.dependant))
    return known[1]


async def reject_unknown_query_parameters(request: Request) -> None:
    """422 naming each query parameter the matched ``/api/v1`` route does not declare."""
    if not request.url.path.startswith(GUARDED_PREFIX):
        return
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _route_names(route)
    given = dict.fromkeys(name for name, _ in request.query_params.multi_items())
    unknown = [name[:MAX_NAME] for name in given if name not in known]
    if not unknown:
        return
    accepted = ", ".join(sorted(known)) or "none"
    listed = ", ".join(unknown[:MAX_REPORTED])
    raise Unprocessable(
        f"unknown query parameter{'s' if len(unknown) > 1 else ''}: {listed} "
        f"(this endpoint accepts: {accepted})",
        errors=[
            field_error(["query", name], f"unknown query parameter; accepted here: {accepted}")
            for name in unknown[:MAX_REPORTED]
        ],
    )
