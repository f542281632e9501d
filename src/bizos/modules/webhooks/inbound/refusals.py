"""Why a provider's webhook (Shopify, Stripe, inbound email) was refused, one problem
type per reason, so whoever wires the provider up can tell a missing secret from a
wrong one, a stale timestamp from a bad signature.

Every refusal is a 401 and stores nothing. What a detail may say is limited to what the
caller sent or could read in our documentation: never a secret, never the signature we
expected, never whether a workspace exists (an unknown workspace and one without a
secret get the same ``webhook-not-configured``). ``reason`` is the type's last part, for
log lines.
"""

from __future__ import annotations

from typing import Any

from bizos.core.errors import Unauthenticated

PROBLEM_BASE = "https://bizos.dev/problems/"


class WebhookRefused(Unauthenticated):
    title = "Webhook refused"
    type_ = PROBLEM_BASE + "webhook-refused"
    reason = "webhook-refused"

    def __init_subclass__(cls, *, reason: str, title: str, **kw: Any) -> None:
        """Each refusal names its reason once: the problem type is the reason's page."""
        super().__init_subclass__(**kw)
        cls.title = title
        cls.type_ = PROBLEM_BASE + reason
        cls.reason = reason

    def __init__(self, detail: str, *, challenge: str | None = None) -> None:
        super().__init__(detail)
        # Not a bearer-token endpoint: offer the provider's scheme, or no challenge.
        if challenge is None:
            self.headers.pop("WWW-Authenticate", None)
        else:
            self.headers["WWW-Authenticate"] = challenge


class WebhookNotConfigured(
    WebhookRefused, reason="webhook-not-configured", title="Webhook not configured"
):
    pass


class WebhookSignatureMissing(
    WebhookRefused, reason="webhook-signature-missing", title="Webhook signature missing"
):
    pass


class WebhookSignatureMalformed(
    WebhookRefused, reason="webhook-signature-malformed", title="Webhook signature malformed"
):
    pass


class WebhookSignatureMismatch(
    WebhookRefused, reason="webhook-signature-mismatch", title="Webhook signature does not match"
):
    pass


class WebhookTimestampExpired(
    WebhookRefused, reason="webhook-timestamp-expired", title="Webhook timestamp too old"
):
    pass


class WebhookTimestampInFuture(
    WebhookRefused, reason="webhook-timestamp-in-future", title="Webhook timestamp in the future"
):
    pass


class WebhookSenderMismatch(
    WebhookRefused, reason="webhook-sender-mismatch", title="Webhook from another sender"
):
    pass


def not_configured(
    provider: str, label: str, *, challenge: str | None = None
) -> WebhookNotConfigured:
    """The same answer whether the workspace has no secret or does not exist."""
    return WebhookNotConfigured(
        f"{label} webhooks are not set up for this workspace (or there is no such "
        f"workspace): an admin stores the signing secret with PUT "
        f"/api/v1/connectors/{provider} and secrets.webhook_secret",
        challenge=challenge,
    )
