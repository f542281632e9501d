"""Signing secrets for the demo workspace's webhook doors (Shopify, Stripe, email).

``bizos demo`` sets each one the demo has not got yet (a secret already there, made
earlier or changed by an admin, is kept) and prints them, so the signing recipes in the
README work against the demo straight away. They are stored like any connector secret,
encrypted; the demo is a sandbox, which is why they may be printed at all.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from bizos.connectors import service as connectors
from bizos.core.config import Settings
from bizos.core.context import Context
from bizos.core.db import Database, init_database
from bizos.demo import DEMO_SLUG, demo_tenant_id


@dataclass(frozen=True, slots=True)
class DemoWebhook:
    provider: str
    path: str  # where the provider posts
    header: str  # the header carrying the signature
    secret: str = ""


DOORS = (
    DemoWebhook("shopify", f"/webhooks/shopify/{DEMO_SLUG}", "X-Shopify-Hmac-Sha256"),
    DemoWebhook("stripe", f"/webhooks/stripe/{DEMO_SLUG}", "Stripe-Signature"),
    DemoWebhook("email", f"/webhooks/email/{DEMO_SLUG}", "X-Bizos-Signature"),
)
# Stripe's own secrets start whsec_; hex after the prefix keeps them shell-safe.
_PREFIX = {"shopify": "demo_shopify_", "stripe": "whsec_demo_", "email": "demo_email_"}


def new_secret(provider: str) -> str:
    return _PREFIX[provider] + secrets.token_hex(16)


async def ensure_demo_webhook_secrets(
    settings: Settings, db: Database | None = None
) -> list[DemoWebhook]:
    """The demo's webhook doors with their secrets, each set now if it was absent;
    empty when there is no demo workspace."""
    owns = db is None
    database = db or init_database(settings.resolved_database_url(), app_role=settings.db_app_role)
    try:
        async with database.unit_of_work(system=True, readonly=True) as lookup:
            tenant_id = await demo_tenant_id(lookup)
        if tenant_id is None:
            return []
        ctx = Context(actor_type="system", actor_id="demo").with_tenant(tenant_id)
        doors: list[DemoWebhook] = []
        async with database.unit_of_work(tenant_id=tenant_id) as session:
            for door in DOORS:
                secret = await connectors.get_secret(session, ctx, door.provider, "webhook_secret")
                if not secret:
                    secret = new_secret(door.provider)
                    await connectors.configure_connector(
                        session,
                        ctx,
                        provider=door.provider,
                        config=None,
                        secrets={"webhook_secret": secret},
                    )
                doors.append(DemoWebhook(door.provider, door.path, door.header, secret))
        return doors
    finally:
        if owns:
            await database.dispose()
