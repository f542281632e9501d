"""The providers a tenant can configure, and the light validation of their config.

Each provider declares the config keys it understands (typed, some required) and the
secrets it uses. Config may carry further keys (vendors grow options), but never a key
that names a secret: secrets go in ``secrets`` so they are encrypted, never in plain
``config``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, EmailStr, Field, ValidationError

from bizos.core.errors import Unprocessable, field_error

SECRET_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# Config keys that look like credentials are refused so they are never stored in plain text.
_SECRET_LOOKING = re.compile(
    r"(^|_)(secret|password|passwd|token|api_?key|private_?key|credentials?)($|_)", re.I
)


class ProviderConfig(BaseModel):
    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)


class WebhookConfig(ProviderConfig):
    """Providers that only verify inbound webhooks so far."""


class ShopifyConfig(ProviderConfig):
    shop_domain: str | None = Field(default=None, max_length=255)
    api_version: str | None = Field(default=None, max_length=20)


class StripeConfig(ProviderConfig):
    account_id: str | None = Field(default=None, max_length=255)
    tolerance_seconds: int = Field(default=300, ge=1, le=3600)


class EmailInboundConfig(ProviderConfig):
    inbound_address: EmailStr | None = None


class LlmConfig(ProviderConfig):
    base_url: AnyHttpUrl | None = None
    model: str | None = Field(default=None, min_length=1, max_length=200)
    timeout_seconds: float = Field(default=60.0, gt=0, le=600)


class SmtpConfig(ProviderConfig):
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(ge=1, le=65535)
    username: str | None = Field(default=None, max_length=320)
    from_address: EmailStr | None = None
    from_name: str | None = Field(default=None, max_length=200)
    starttls: bool | None = None
    use_tls: bool = False
    validate_certs: bool = True
    timeout_seconds: float = Field(default=30.0, gt=0, le=300)


class TwilioConfig(ProviderConfig):
    account_sid: str = Field(min_length=1, max_length=64)
    from_number: str | None = Field(default=None, max_length=32)
    messaging_service_sid: str | None = Field(default=None, max_length=64)
    base_url: AnyHttpUrl | None = None
    timeout_seconds: float = Field(default=15.0, gt=0, le=120)


class ServiceConfig(ProviderConfig):
    """Enrichment and shipping services: an endpoint and a named vendor."""

    vendor: str | None = Field(default=None, max_length=60)
    base_url: AnyHttpUrl | None = None
    timeout_seconds: float = Field(default=15.0, gt=0, le=120)


class EnrichmentConfig(ServiceConfig):
    """Company enrichment: ``provider`` is ``clearbit`` (any server speaking its company
    API at ``base_url``) or ``sandbox``; ``vendor`` is the older spelling of it."""

    provider: str | None = Field(default=None, max_length=60)


ENRICHMENT_PROVIDERS = ("clearbit", "sandbox")
SHIPPING_VENDORS = ("shippo", "sandbox")


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    name: str
    config_model: type[ProviderConfig]
    secrets: tuple[str, ...]  # the secrets this provider uses
    required_secrets: tuple[str, ...] = ()

    def validate_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Validated config as JSON (defaults filled), or 422 with ``body.config`` paths."""
        errors = [
            field_error(["body", "config", key], "credentials belong in secrets, not config")
            for key in config
            if key in self.secrets or _SECRET_LOOKING.search(key)
        ]
        if errors:
            raise Unprocessable("config carries a credential", errors=errors)
        try:
            model = self.config_model.model_validate(config)
        except ValidationError as exc:
            raise Unprocessable(
                f"invalid {self.name} config",
                errors=[field_error(["body", "config", *e["loc"]], e["msg"]) for e in exc.errors()],
            ) from exc
        return model.model_dump(mode="json", exclude_none=True)

    def check_secrets(self, config: dict[str, Any], names: set[str]) -> None:
        required = set(self.required_secrets)
        if self.name == "smtp" and config.get("username"):
            required.add("password")
        missing = sorted(required - names)
        if missing:
            raise Unprocessable(
                f"{self.name} needs secrets: {', '.join(missing)}",
                errors=[field_error(["body", "secrets", n], "required") for n in missing],
            )


def _check_twilio(config: dict[str, Any]) -> None:
    if not config.get("from_number") and not config.get("messaging_service_sid"):
        raise Unprocessable(
            "twilio needs from_number or messaging_service_sid",
            errors=[field_error(["body", "config", "from_number"], "required")],
        )


PROVIDERS: dict[str, ProviderSpec] = {
    spec.name: spec
    for spec in (
        ProviderSpec("shopify", ShopifyConfig, ("webhook_secret", "access_token")),
        ProviderSpec("stripe", StripeConfig, ("webhook_secret", "api_key")),
        ProviderSpec("email", EmailInboundConfig, ("webhook_secret",)),
        ProviderSpec("openai", LlmConfig, ("api_key",)),
        ProviderSpec("anthropic", LlmConfig, ("api_key",), required_secrets=("api_key",)),
        ProviderSpec("smtp", SmtpConfig, ("password",)),
        ProviderSpec("twilio", TwilioConfig, ("auth_token",), required_secrets=("auth_token",)),
        ProviderSpec("enrichment", EnrichmentConfig, ("api_key",)),
        ProviderSpec("shipping", ServiceConfig, ("api_key",)),
    )
}


def _check_smtp(config: dict[str, Any]) -> None:
    # Mail needs a From address; a username that is an address will do.
    if not config.get("from_address") and "@" not in str(config.get("username") or ""):
        raise Unprocessable(
            "smtp needs from_address (or an email address as username)",
            errors=[field_error(["body", "config", "from_address"], "required")],
        )


def validate_connector(spec: ProviderSpec, config: dict[str, Any], secret_names: set[str]) -> None:
    """Whole-connector rules that span config and secrets."""
    spec.check_secrets(config, secret_names)
    if spec.name == "twilio":
        _check_twilio(config)
    if spec.name == "smtp":
        _check_smtp(config)
    if spec.name == "enrichment":
        _check_enrichment(config, secret_names)
    if spec.name == "shipping":
        _check_shipping(config, secret_names)


def _check_enrichment(config: dict[str, Any], secret_names: set[str]) -> None:
    provider = str(config.get("provider") or config.get("vendor") or "clearbit").lower()
    key = "provider" if config.get("provider") else "vendor"
    if provider not in ENRICHMENT_PROVIDERS:
        raise Unprocessable(
            f"enrichment provider must be one of: {', '.join(ENRICHMENT_PROVIDERS)}",
            errors=[field_error(["body", "config", key], "unknown provider")],
        )
    if provider != "sandbox" and "api_key" not in secret_names:
        raise Unprocessable(
            f"enrichment provider {provider} needs secrets: api_key",
            errors=[field_error(["body", "secrets", "api_key"], "required")],
        )


def _check_shipping(config: dict[str, Any], secret_names: set[str]) -> None:
    vendor = str(config.get("vendor") or config.get("provider") or "sandbox").lower()
    key = "provider" if config.get("provider") and not config.get("vendor") else "vendor"
    if vendor not in SHIPPING_VENDORS:
        raise Unprocessable(
            f"shipping vendor must be one of: {', '.join(SHIPPING_VENDORS)}",
            errors=[field_error(["body", "config", key], "unknown vendor")],
        )
    if vendor != "sandbox" and "api_key" not in secret_names:
        raise Unprocessable(
            f"shipping vendor {vendor} needs secrets: api_key",
            errors=[field_error(["body", "secrets", "api_key"], "required")],
        )
