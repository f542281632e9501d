"""Connector configuration: the only writer of ``connector_configs``.

Secret values enter through ``configure_connector`` and leave only through
``get_secret`` / ``connector_settings`` (for the module that calls the vendor). They are
encrypted before they reach the session, never returned by the API, never put in an
event or a log line.

Every query names the tenant explicitly as well as relying on the tenant session, so
the webhook modules may call ``get_secret`` from a system session with a tenant ``ctx``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.connectors.models import ConnectorConfig
from bizos.connectors.providers import PROVIDERS, ProviderSpec, validate_connector
from bizos.connectors.schemas import ConnectorRead
from bizos.connectors.targets import refuse_config_targets
from bizos.core import crypto
from bizos.core.context import Context
from bizos.core.errors import Conflict, NotFound
from bizos.core.events import NewEvent, append_events
from bizos.core.reads import read_of
from bizos.core.versions import check_version

log = structlog.get_logger("bizos.connectors")


def provider_spec(provider: str) -> ProviderSpec:
    spec = PROVIDERS.get(provider)
    if spec is None:
        raise NotFound(f"unknown connector provider {provider!r}; known: {', '.join(PROVIDERS)}")
    return spec


def secret_aad(tenant_id: str, provider: str, name: str) -> bytes:
    """Binds a secret's ciphertext to its tenant, provider and name."""
    return crypto.associated_data("connector-secret", tenant_id, provider, name)


def _read(row: ConnectorConfig) -> ConnectorRead:
    return read_of(ConnectorRead, row, config=dict(row.config), secrets_set=sorted(row.secrets))


async def _find(
    session: AsyncSession, tenant_id: str, provider: str, *, for_update: bool = False
) -> ConnectorConfig | None:
    """The tenant's row for ``provider``; ``for_update`` locks it (PostgreSQL) so two
    concurrent PUTs merge their secrets one after the other instead of losing one."""
    query = sa.select(ConnectorConfig).where(
        ConnectorConfig.tenant_id == tenant_id, ConnectorConfig.provider == provider
    )
    if for_update:
        query = query.with_for_update()
    return await session.scalar(query)


async def configure_connector(
    session: AsyncSession,
    ctx: Context,
    *,
    provider: str,
    config: dict[str, Any] | None,
    secrets: Mapping[str, str | None],
    if_match: str | None = None,
    allow_private_targets: bool = False,
) -> ConnectorRead:
    """Create or update a tenant's connector.

    Given ``config`` replaces the stored one; omitted keeps it. A secret set to a value
    is encrypted, set to ``None`` is removed, omitted is kept; a secret set to the value
    it already has is no change (a repeated PUT makes no new version). ``if_match`` is
    the ``If-Match`` header (a new connector counts as version 0). The endpoints of a
    given config must be publicly reachable unless ``allow_private_targets``
    (``BIZOS_CONNECTOR_ALLOW_PRIVATE_TARGETS``; see ``connectors.targets``).
    """
    spec = provider_spec(provider)
    tenant_id = ctx.require_tenant()
    given = spec.validate_config(config) if config is not None else None
    if given is not None:
        # Before the row is locked: judging a name resolves it, which may take a moment.
        await refuse_config_targets(provider, given, allow_private=allow_private_targets)
    row = await _find(session, tenant_id, provider, for_update=True)
    check_version(if_match, row.version if row is not None else 0)

    new_config = (
        given if given is not None else spec.validate_config(dict(row.config) if row else {})
    )
    stored = dict(row.secrets) if row else {}
    changed = _merge_secrets(stored, secrets, tenant_id=tenant_id, provider=provider)
    validate_connector(spec, new_config, set(stored))

    if row is None:
        new_row = ConnectorConfig(
            tenant_id=tenant_id, provider=provider, config=new_config, secrets=stored
        )
        row = await _insert(session, new_row)
    else:
        if new_config == row.config and not changed:
            return _read(row)  # nothing to change: no new version, no event
        row.config = new_config
        row.secrets = stored
        row.version += 1
    await session.flush()
    await _announce_configured(session, ctx, row, changed)
    return _read(row)


def _merge_secrets(
    stored: dict[str, str], secrets: Mapping[str, str | None], *, tenant_id: str, provider: str
) -> list[str]:
    """Apply ``secrets`` to the ``stored`` blobs in place; returns the names that changed."""
    changed: list[str] = []
    for name, value in sorted(secrets.items()):
        aad = secret_aad(tenant_id, provider, name)
        if value is None:
            if stored.pop(name, None) is not None:
                changed.append(name)
        elif name not in stored or not _holds(stored[name], value, aad):
            stored[name] = crypto.encrypt(value, aad=aad)
            changed.append(name)
    return changed


async def _insert(session: AsyncSession, row: ConnectorConfig) -> ConnectorConfig:
    """Add the new ``row``; a concurrent first PUT of the same connector is a 409."""
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"connector {row.provider!r} was configured concurrently; retry") from exc
    return row


async def _announce_configured(
    session: AsyncSession, ctx: Context, row: ConnectorConfig, changed: list[str]
) -> None:
    secrets = {"secrets_set": sorted(row.secrets), "secrets_changed": changed}
    data = {"provider": row.provider, "config_keys": sorted(row.config), **secrets}
    event = NewEvent("connectors.connector.configured", "connector", row.id, data, row.version)
    await append_events(session, ctx, [event])
    log.info("connector.configured", provider=row.provider, version=row.version, **secrets)


async def _row(
    session: AsyncSession, ctx: Context, provider: str, *, for_update: bool = False
) -> ConnectorConfig | None:
    """The tenant's row for a known ``provider`` (an unknown one is ``NotFound``)."""
    provider_spec(provider)
    return await _find(session, ctx.require_tenant(), provider, for_update=for_update)


async def _configured(
    session: AsyncSession, ctx: Context, provider: str, *, for_update: bool = False
) -> ConnectorConfig:
    row = await _row(session, ctx, provider, for_update=for_update)
    if row is None:
        raise NotFound(f"connector {provider!r} is not configured")
    return row


async def get_connector(session: AsyncSession, ctx: Context, *, provider: str) -> ConnectorRead:
    return _read(await _configured(session, ctx, provider))


async def list_connectors(session: AsyncSession, ctx: Context) -> list[ConnectorRead]:
    rows = await session.scalars(
        sa.select(ConnectorConfig)
        .where(ConnectorConfig.tenant_id == ctx.require_tenant())
        .order_by(ConnectorConfig.provider)
    )
    return [_read(r) for r in rows]


async def remove_connector(
    session: AsyncSession, ctx: Context, *, provider: str, if_match: str | None = None
) -> None:
    row = await _configured(session, ctx, provider, for_update=True)
    check_version(if_match, row.version)
    await session.delete(row)
    await session.flush()
    data = {"provider": provider}
    event = NewEvent("connectors.connector.removed", "connector", row.id, data, row.version + 1)
    await append_events(session, ctx, [event])
    log.info("connector.removed", provider=provider)


async def connector_config(
    session: AsyncSession, ctx: Context, provider: str
) -> dict[str, Any] | None:
    """The tenant's (non-secret) config for ``provider``, or ``None`` if not configured."""
    row = await _row(session, ctx, provider)
    return dict(row.config) if row is not None else None


@dataclass(frozen=True, slots=True)
class ConnectorSettings:
    """A configured connector with its secrets decrypted, for the code that calls out."""

    provider: str
    config: dict[str, Any]
    secrets: Mapping[str, str] = field(repr=False)


async def connector_settings(
    session: AsyncSession, ctx: Context, provider: str
) -> ConnectorSettings | None:
    """The tenant's connector with decrypted secrets, or ``None`` if not configured."""
    row = await _row(session, ctx, provider)
    if row is None:
        return None
    tenant_id = row.tenant_id
    secrets = {
        name: _open(blob, tenant_id=tenant_id, provider=provider, name=name)
        for name, blob in row.secrets.items()
    }
    return ConnectorSettings(provider, dict(row.config), secrets)


async def get_secret(session: AsyncSession, ctx: Context, provider: str, name: str) -> str | None:
    """One decrypted secret of the tenant's connector, or ``None`` if not set."""
    row = await _row(session, ctx, provider)
    if row is None or name not in row.secrets:
        return None
    return _open(row.secrets[name], tenant_id=row.tenant_id, provider=provider, name=name)


def _open(blob: str, *, tenant_id: str, provider: str, name: str) -> str:
    try:
        return crypto.decrypt(blob, aad=secret_aad(tenant_id, provider, name))
    except crypto.SecretDecryptionError:
        key_id = _key_id_or_none(blob)
        log.error("connector.secret_unreadable", provider=provider, secret=name, key_id=key_id)
        raise


def _holds(blob: str, value: str, aad: bytes) -> bool:
    """Whether ``blob`` already seals ``value`` (an unreadable blob is simply replaced)."""
    try:
        return crypto.decrypt(blob, aad=aad) == value
    except crypto.SecretDecryptionError:
        return False


def _key_id_or_none(blob: str) -> str | None:
    try:
        return crypto.key_id_of(blob)
    except crypto.SecretDecryptionError:
        return None


async def rotate_connector_secrets(
    session: AsyncSession, ctx: Context, *, keyring: crypto.Keyring | None = None
) -> int:
    """Re-wrap every connector secret not under the current KEK; returns how many moved.

    In a tenant session this rotates that tenant; in a system session (operator key
    rotation) every tenant. Plaintext is never produced and versions do not change,
    since what a tenant configured is the same.
    """
    ring = keyring or crypto.Keyring.from_settings()
    query = sa.select(ConnectorConfig).order_by(ConnectorConfig.tenant_id, ConnectorConfig.id)
    if ctx.tenant_id is not None:
        query = query.where(ConnectorConfig.tenant_id == ctx.tenant_id)
    moved = 0
    by_tenant: dict[str, list[NewEvent]] = {}
    for row in await session.scalars(query):
        stale = [n for n, blob in row.secrets.items() if crypto.needs_rewrap(blob, keyring=ring)]
        if not stale:
            continue
        row.secrets = {
            n: crypto.rewrap(blob, keyring=ring) if n in stale else blob
            for n, blob in row.secrets.items()
        }
        moved += len(stale)
        by_tenant.setdefault(row.tenant_id, []).append(
            NewEvent(
                "connectors.secrets.rewrapped",
                "connector",
                row.id,
                {"provider": row.provider, "secrets": sorted(stale), "key_id": ring.current_id},
                version=row.version,
            )
        )
    await session.flush()
    for tenant_id, events in by_tenant.items():
        await append_events(session, ctx.with_tenant(tenant_id), events)
    log.info("connector.secrets_rewrapped", count=moved, key_id=ring.current_id)
    return moved
