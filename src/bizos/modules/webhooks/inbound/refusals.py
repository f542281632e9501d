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

from bizos.core.errors import Unauthenticated

PROBLEM_BASE = "https://bizos.dev/problems/"


class WebhookRefused(Unauthenticated):
    title = "Webhook refused"
    type_ = PROBLEM_BASE + "webhook-refused"
    reason = "webhook-refused"

    def __init__(self, detail: str, *, challenge: str | None = None) -> None:
        super().__init__(detail)
        # Not a bearer-token endpoint: offer the provider's scheme, or no challenge.
        if challenge is None:
            self.headers.pop("WWW-Authenticate", None)
        else:
            self.headers["WWW-Authenticate"] = challenge


class WebhookNotConfigured(WebhookRefused):
    title = "Webhook not configured"
    type_ = PROBLEM_BASE + "webhook-not-configured"
    reason = "webhook-not-configured"


class WebhookSignatureMissing(WebhookRefused):
    title = "Webhook signature missing"
    type_ = PROBLEM_BASE + "webhook-signature-missing"
    reason = "webhook-signature-missing"


class WebhookSignatureMalformed(WebhookRefused):
    title = "Webhook signature malformed"
    type_ = PROBLEM_BASE + "webhook-signature-malformed"
    reason = "webhook-signature-malformed"


class WebhookSignatureMismatch(WebhookRefused):
    title = "Webhook signature does not match"
    type_ = PROBLEM_BASE + "webhook-signature-mismatch"
    reason = "webhook-signature-mismatch"


class WebhookTimestampExpired(WebhookRefused):
    title = "Webhook timestamp too old"
    type_ = PROBLEM_BASE + "webhook-timestamp-expired"
    reason = "webhook-timestamp-expired"


class WebhookTimestampInFuture(WebhookRefused):
    title = "Webhook timestamp in the future"
    type_ = PROBLEM_BASE + "webhook-timestamp-in-future"
    reason = "webhook-timestamp-in-future"


class WebhookSenderMismatch(WebhookRefused):
    title = "Webhook from another sender"
    type_ = PROBLEM_BASE + "webhook-sender-mismatch"
    reason = "webhook-sender-mismatch"


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
