"""Configuration from the environment (prefix ``BIZOS_``)."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BIZOS_", env_file=".env", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str | None = None
    redis_url: str | None = None
    secret_key: str | None = None
    environment: str = "development"

    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    jwt_key_id: str = "k1"
    jwt_previous_key_ids: list[str] = Field(default_factory=list)
    # Key-encryption keys for secrets at rest (core/crypto.py): new blobs use kek_id;
    # blobs under a previous id stay readable until rotated.
    kek_id: str = "kek1"
    kek_previous_ids: list[str] = Field(default_factory=list)
    db_app_role: str = "bizos_app"

    # Largest request body accepted (413 beyond): a 1,000-event track call fits easily.
    max_body_bytes: int = 5 * 1024 * 1024
    # Largest CSV import upload (413 beyond); streamed to data_dir/imports/, never held in
    # memory. A 100,000-contact file is about 10 MB.
    max_import_bytes: int = 200 * 1024 * 1024
    # Largest raw email accepted by /webhooks/email/ (attachments come base64-encoded).
    max_email_bytes: int = 35 * 1024 * 1024
    # Largest knowledge-base document upload.
    max_document_bytes: int = 25 * 1024 * 1024
    # The built-in SMTP receiver for support mail: started by `bizos serve`/`bizos worker`
    # when a port is set; it accepts support+<slug>@any and <slug>@<one of the domains>.
    smtp_receiver_port: int | None = None
    smtp_receiver_host: str = "127.0.0.1"
    smtp_receiver_domains: list[str] = Field(default_factory=list)
    # Largest CRM attachment (413 beyond); stored under data_dir/attachments/<tenant>/.
    crm_attachment_max_bytes: int = 4 * 1024 * 1024
    # Seconds a resolved bearer token is reused in-process (0 = look up every request).
    auth_cache_seconds: float = 2.0

    # Login attempts per account *and source address* (an IPv6 /64 counts as one) per
    # window; past it that source is refused (429) until the window ends.
    login_max_failures: int = 5
    login_window_seconds: int = 15 * 60
    # Attempts per account from all sources together per window: past it, sources the
    # user has not signed in from within ``login_known_source_days`` are refused too, and
    # the user is emailed once. Sources they have used keep working (per-source limit).
    login_account_max_failures: int = 50
    login_known_source_days: int = 30
    # Where links in our emails point (the email verification link): the address users
    # reach this server at. Never taken from a request's Host header.
    public_url: str = "http://127.0.0.1:8000"
    email_verification_ttl_seconds: int = 3 * 24 * 3600
    # The operator's mail for account emails (verification links, lockout warnings), so
    # they reach the mailbox and never a workspace's sandbox (connectors/platform.py):
    # smtp://user:pass@host:port, smtps://... for implicit TLS. Unset: account emails go
    # through the workspace's channel, and an unverified workspace's is the sandbox.
    platform_smtp_url: SecretStr | None = None
    platform_mail_from: str | None = None  # "Name <address>" or an address

    rate_limit_enabled: bool = True
    rate_limit_per_minute: int = 6000
    rate_limit_public_per_minute: int = 60
    # Posts to the public lead form per client address, on top of the public limit: a
    # person sends a form or two; a bot sends hundreds.
    rate_limit_form_per_minute: int = 10
    # Provider webhooks (Shopify, Stripe) per receiving tenant: a store's flash sale sends
    # bursts from a few provider addresses, which the public per-IP limit would refuse.
    rate_limit_webhook_per_minute: int = 6000
    # Idempotency-Key records live a day; a reservation whose request never finished (the
    # process died) is taken over after the lease so the key does not stay 409 for a day.
    idempotency_ttl_seconds: int = 24 * 3600
    idempotency_lease_seconds: int = 300

    dispatcher_batch_size: int = 500
    dispatcher_poll_interval: float = 0.05
    dispatcher_max_attempts: int = 8
    dispatcher_base_backoff: float = 0.5

    webhook_max_attempts: int = 8
    webhook_timeout_seconds: float = 10.0
    # Seconds before the first retry of a failed webhook delivery; doubles per attempt.
    webhook_base_backoff: float = 5.0
    webhook_poll_interval: float = 0.25
    # Outbound webhooks to loopback/private/link-local addresses are refused unless set
    # (a tenant must not be able to make the server call its own internal network).
    webhook_allow_private_targets: bool = False
    # The same rule for the endpoints a tenant admin gives its connectors (LLM, enrichment,
    # shipping and Twilio base_url, the SMTP host). Set it only where the operator is the
    # only tenant, e.g. self-hosting with a model or mail relay on the local network.
    connector_allow_private_targets: bool = False

    workflows_enabled: bool = True
    # An open high or urgent task this long past its due time escalates to the
    # assignee's manager (or the workspace owner) once.
    task_escalation_grace_minutes: int = 60
    executor_id: str = Field(default_factory=lambda: os.environ.get("HOSTNAME", "local"))

    otel_exporter: str = "none"  # none | console | otlp
    otel_endpoint: str | None = None
    log_level: str = "INFO"
    log_json: bool = True

    demo_email: str = "owner@northwind.example"
    demo_password: str = "demo-password-123"

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'bizos.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url().startswith("sqlite")

    def resolved_secret_key(self) -> bytes:
        """The master key: ``BIZOS_SECRET_KEY`` or a key file made once, mode 0600."""
        if self.secret_key:
            return self.secret_key.encode()
        return _key_file(self.data_dir.resolve())


_key_files: dict[Path, bytes] = {}


def _key_file(data_dir: Path) -> bytes:
    # Read once per process: the key is needed on every token check.
    if data_dir not in _key_files:
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / "secret.key"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
        _key_files[data_dir] = path.read_text().strip().encode()
    return _key_files[data_dir]


@lru_cache
def get_settings() -> Settings:
    return Settings()
