"""Per-tenant AI settings: provider chain, embeddings, budget, prices.

``load_settings`` never writes: a tenant that never changed anything reads the defaults
from a transient row (version 0). ``update_settings`` creates the row on first change
and bumps its version after that; ``If-Match`` guards it like every other update.
"""

from __future__ import annotations

import importlib.util
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bizos.ai.models import AiSettings
from bizos.ai.schemas import AiSettingsRead, ModelPrice
from bizos.connectors.service import connector_config
from bizos.core.context import Context
from bizos.core.errors import Unprocessable, field_error
from bizos.core.settings_rows import apply_settings, refuse_nulls, stored_row

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


async def load_settings(session: AsyncSession, ctx: Context) -> AiSettings:
    """The tenant's settings row, or a transient one holding the defaults (version 0)."""
    return await stored_row(session, ctx, AiSettings) or _defaults(ctx.require_tenant())


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
    refuse_nulls(changes, _NOT_NULL)
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
    return await apply_settings(
        session,
        ctx,
        AiSettings,
        defaults=_defaults,
        changes=changes,
        if_match=if_match,
        event_type="ai.settings.updated",
        what="AI settings",
        differs=_differs,
    )


def _differs(old: Any, new: Any) -> bool:
    if isinstance(new, Decimal) and old is not None:
        return Decimal(old) != new
    return bool(old != new)
