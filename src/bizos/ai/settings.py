"""Per-tenant AI settings: provider chain, embeddings, budget, prices.

``load_settings`` never writes: a tenant that never changed anything reads the defaults
from a transient row (version 0). ``update_settings`` creates the row on first change
and bumps its version after that; ``If-Match`` guards it like every other update.
"""

from __future__ import annotations

import importlib.util
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.ai.models import AiSettings
from bizos.ai.schemas import AiSettingsRead, ModelPrice
from bizos.connectors.service import connector_config
from bizos.core.context import Context
from bizos.core.errors import Conflict, Unprocessable, field_error
from bizos.core.events import append_event
from bizos.core.versions import check_version

EXTERNAL_PROVIDERS = ("openai", "anthropic")
_NOT_NULL = ("providers", "embeddings", "currency", "prices")


def _defaults(tenant_id: str) -> AiSettings:
    return AiSettings(
        tenant_id=tenant_id,
        providers=[],
        embeddings="local",
        monthly_token_budget=None,
        monthly_cost_budget=None,
        currency="USD",
        prices={},
        version=0,
    )


async def chain_names(session: AsyncSession, ctx: Context, row: AiSettings) -> list[str]:
    """The provider chain in use: the chosen order (providers whose connector has since
    been removed are skipped) or, when none was chosen, every configured LLM connector;
    the built-in local provider always closes it."""
    wanted = row.providers or list(EXTERNAL_PROVIDERS)
    names = [
        p for p in wanted if p != "local" and await connector_config(session, ctx, p) is not None
    ]
    return [*names, "local"]


async def settings_read(session: AsyncSession, ctx: Context, row: AiSettings) -> AiSettingsRead:
    return AiSettingsRead.model_validate(
        {
            "providers": await chain_names(session, ctx, row),
            "automatic_chain": not row.providers,
            "embeddings": row.embeddings,
            "monthly_token_budget": row.monthly_token_budget,
            "monthly_cost_budget": (
                Decimal(row.monthly_cost_budget) if row.monthly_cost_budget is not None else None
            ),
            "currency": row.currency,
            "prices": row.prices,
            "version": row.version,
        }
    )


async def _stored(
    session: AsyncSession, ctx: Context, *, for_update: bool = False
) -> AiSettings | None:
    query = sa.select(AiSettings).where(AiSettings.tenant_id == ctx.require_tenant())
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    row: AiSettings | None = await session.scalar(query)
    return row


async def load_settings(session: AsyncSession, ctx: Context) -> AiSettings:
    """The tenant's settings row, or a transient one holding the defaults (version 0)."""
    return await _stored(session, ctx) or _defaults(ctx.require_tenant())


def _normalise_providers(providers: list[str]) -> list[str]:
    """The chain to store, ending with ``local``; an empty list means "automatic" (every
    configured connector). ``local`` anywhere but last, or a provider named twice, is a
    mistake worth telling."""
    if len(set(providers)) != len(providers):
        raise Unprocessable(
            "each provider may appear once in the chain",
            errors=[field_error(["body", "providers"], "duplicate provider")],
        )
    if "local" in providers and providers[-1] != "local":
        raise Unprocessable(
            "the built-in local provider is always the last in the chain",
            errors=[field_error(["body", "providers"], "local must be last")],
        )
    if not providers:
        return []
    return [*(p for p in providers if p != "local"), "local"]


async def _check_connectors(session: AsyncSession, ctx: Context, providers: list[str]) -> None:
    missing = [p for p in providers if await connector_config(session, ctx, p) is None]
    if missing:
        raise Unprocessable(
            f"configure the {', '.join(missing)} connector first "
            "(PUT /api/v1/connectors/{provider} with config and secrets.api_key)",
            errors=[
                field_error(["body", "providers", providers.index(p)], "connector not configured")
                for p in missing
            ],
        )


def _prices_json(prices: dict[str, ModelPrice]) -> dict[str, Any]:
    return {key: price.model_dump(mode="json") for key, price in sorted(prices.items())}


async def update_settings(
    session: AsyncSession,
    ctx: Context,
    *,
    changes: dict[str, Any],
    if_match: str | None = None,
) -> AiSettings:
    """Apply the fields sent (``ai.settings.updated``); the row is created on first
    change. Providers named in the chain must have their connector configured."""
    nulls = [k for k in _NOT_NULL if k in changes and changes[k] is None]
    if nulls:
        raise Unprocessable(
            "these settings cannot be cleared",
            errors=[field_error(["body", k], "may not be null") for k in nulls],
        )
    changes = dict(changes)
    if "providers" in changes:
        changes["providers"] = _normalise_providers(list(changes["providers"]))
        await _check_connectors(session, ctx, [p for p in changes["providers"] if p != "local"])
    if (
        changes.get("embeddings") == "openai"
        and await connector_config(session, ctx, "openai") is None
    ):
        raise Unprocessable(
            "configure the openai connector before choosing openai embeddings",
            errors=[field_error(["body", "embeddings"], "connector not configured")],
        )
    if str(changes.get("embeddings", "")).startswith("sentence-transformers") and (
        importlib.util.find_spec("sentence_transformers") is None
    ):
        raise Unprocessable(
            "sentence-transformers embeddings need the optional extra: pip install "
            "'bizos[embeddings]'",
            errors=[field_error(["body", "embeddings"], "extra not installed")],
        )
    if "prices" in changes:
        changes["prices"] = _prices_json(
            {k: ModelPrice.model_validate(v) for k, v in changes["prices"].items()}
        )
    row = await _stored(session, ctx, for_update=True)
    check_version(if_match, row.version if row is not None else 0)
    if row is None:
        row = _defaults(ctx.require_tenant())
        row.version = 1
        for key, value in changes.items():
            setattr(row, key, value)
        try:
            async with session.begin_nested():
                session.add(row)
        except IntegrityError:
            raise Conflict("the AI settings were changed concurrently; re-read and retry") from None
    else:
        changes = {k: v for k, v in changes.items() if _differs(getattr(row, k), v)}
        if not changes:
            return row
        for key, value in changes.items():
            setattr(row, key, value)
        row.version += 1
        await session.flush()
    await append_event(
        session,
        ctx,
        "ai.settings.updated",
        aggregate_type="ai_settings",
        aggregate_id=row.id,
        version=row.version,
        data={"changed": sorted(changes)},
    )
    return row


def _differs(old: Any, new: Any) -> bool:
    if isinstance(new, Decimal) and old is not None:
        return Decimal(old) != new
    return bool(old != new)
