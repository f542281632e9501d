"""The request (or job) context: who acts, for which tenant, under which correlation."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from bizos.core.ids import new_id


@dataclass(frozen=True, slots=True)
class Context:
    """Explicit context handed to services (STYLE habit 3)."""

    tenant_id: str | None = None
    actor_id: str | None = None
    actor_type: str = "system"  # user | api_key | system | webhook
    scopes: frozenset[str] = field(default_factory=frozenset)
    request_id: str | None = None
    correlation_id: str = field(default_factory=new_id)
    causation_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    session_id: str | None = None

    def with_tenant(self, tenant_id: str) -> Context:
        return replace(self, tenant_id=tenant_id)

    def caused_by(self, event_id: str, correlation_id: str | None) -> Context:
        return replace(
            self, causation_id=event_id, correlation_id=correlation_id or self.correlation_id
        )

    def require_tenant(self) -> str:
        if self.tenant_id is None:
            raise RuntimeError("this operation needs a tenant context")
        return self.tenant_id


_current: contextvars.ContextVar[Context | None] = contextvars.ContextVar(
    "bizos_context", default=None
)


def current_context() -> Context | None:
    return _current.get()


@contextmanager
def use_context(ctx: Context) -> Iterator[Context]:
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def system_context(tenant_id: str | None = None, **kw: object) -> Context:
    return Context(tenant_id=tenant_id, actor_type="system", **kw)  # type: ignore[arg-type]
