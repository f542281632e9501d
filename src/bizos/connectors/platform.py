"""The platform mail: the operator's own SMTP account, for account emails.

Account emails (a sign-up's verification link and its resend, the lockout warning) must
reach the mailbox they are addressed to and nobody else. A workspace's own channel
cannot promise that: a self-service workspace sends through the sandbox until its owner
is verified, and the sandbox shows every message to whoever holds the workspace's
tokens, which is exactly who must not see a verification link when they signed up with
someone else's address. So the operator, not a tenant, configures one account:

    BIZOS_PLATFORM_SMTP_URL=smtp://user:password@smtp.example.com:587
    BIZOS_PLATFORM_MAIL_FROM=bizos <accounts@example.com>

``smtp://`` upgrades with STARTTLS when the server offers it (port 587 unless given);
``smtps://`` (or ``?ssl=true``) speaks TLS from the start (port 465 unless given).
Options: ``starttls=true`` demands STARTTLS, ``starttls=false`` never upgrades,
``validate_certs=false`` accepts any certificate, ``timeout=<seconds>``. A user name or
password with ``@ : / %`` in it is percent-encoded. The From defaults to the user name
when that is an address.

It speaks SMTP through the same ``SmtpEmailChannel`` as a workspace's smtp connector;
only its provider name differs (``platform``), so a workspace's copy of an account email
says who sent it. Without the setting, account emails go through the workspace's
channel (offline, demo, development), and following a verification link proves access
to the workspace, not to the mailbox; ``announce`` says so when a server starts.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from email.utils import parseaddr

import structlog
from email_validator import EmailNotValidError, validate_email

from bizos.connectors.smtp import SmtpEmailChannel
from bizos.core.config import Settings, get_settings
from bizos.core.errors import ServiceUnavailable

log = structlog.get_logger("bizos.connectors.platform")

# scheme -> (default port, implicit TLS)
_SCHEMES = {"smtp": (587, False), "smtps": (465, True)}
_OPTIONS = frozenset({"starttls", "ssl", "validate_certs", "timeout"})
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


class PlatformMailMisconfigured(ServiceUnavailable, title="Account email is not available"):
    """``BIZOS_PLATFORM_SMTP_URL`` or ``BIZOS_PLATFORM_MAIL_FROM`` cannot be used. The
    detail names the problem, never the URL (it carries the password)."""


class PlatformSmtpChannel(SmtpEmailChannel):
    """SMTP through the operator's account (results say ``platform``, not ``smtp``)."""

    provider = "platform"


@dataclass(frozen=True, slots=True)
class PlatformMail:
    channel: PlatformSmtpChannel
    sender: str
    sender_name: str | None


def _refuse(problem: str) -> PlatformMailMisconfigured:
    return PlatformMailMisconfigured(f"BIZOS_PLATFORM_SMTP_URL: {problem}")


def _flag(options: dict[str, str], name: str) -> bool | None:
    value = options.get(name)
    if value is None:
        return None
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise _refuse(f"{name} must be true or false")


def _timeout(options: dict[str, str]) -> float:
    text = options.get("timeout", "30")
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= 300:
        raise _refuse("timeout must be a number of seconds from 1 to 300")
    return seconds


def smtp_channel(url: str) -> PlatformSmtpChannel:
    """The channel a platform SMTP URL describes (see the module docstring)."""
    parts = urllib.parse.urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise _refuse("the scheme must be smtp:// or smtps://")
    if not parts.hostname:
        raise _refuse("a host is needed, e.g. smtp://user:password@smtp.example.com:587")
    if parts.path not in ("", "/") or parts.fragment:
        raise _refuse("an SMTP URL has no path; options go after '?'")
    try:
        port = parts.port
    except ValueError:
        port = 0
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - _OPTIONS)
    if unknown:
        raise _refuse(f"unknown option {', '.join(unknown)} (known: {', '.join(sorted(_OPTIONS))})")
    options = {name: values[-1] for name, values in query.items()}
    default_port, implicit_tls = _SCHEMES[scheme]
    use_tls = implicit_tls or _flag(options, "ssl") is True
    starttls = _flag(options, "starttls")
    if use_tls and starttls:
        raise _refuse(
            "TLS from the start (smtps://, ssl=true) and starttls=true exclude each other"
        )
    if port is None:
        port = 465 if use_tls else default_port
    if not 1 <= port <= 65535:
        raise _refuse("the port must be a number from 1 to 65535")
    return PlatformSmtpChannel(
        host=parts.hostname,
        port=port,
        username=urllib.parse.unquote(parts.username) if parts.username else None,
        password=urllib.parse.unquote(parts.password) if parts.password is not None else None,
        starttls=None if use_tls else starttls,
        use_tls=use_tls,
        timeout=_timeout(options),
        validate_certs=_flag(options, "validate_certs") is not False,
    )


def _sender(configured: str | None, username: str | None) -> tuple[str, str | None]:
    text = (configured or "").strip() or (username if username and "@" in username else "")
    if not text:
        raise PlatformMailMisconfigured(
            "BIZOS_PLATFORM_MAIL_FROM: set the address account emails come from"
        )
    name, address = parseaddr(text)
    try:
        valid = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise PlatformMailMisconfigured(f"BIZOS_PLATFORM_MAIL_FROM: {exc}") from exc
    return valid.normalized, name or None


def platform_mail(settings: Settings | None = None) -> PlatformMail | None:
    """The platform mail, or None when ``BIZOS_PLATFORM_SMTP_URL`` is not set. Raises
    ``PlatformMailMisconfigured`` (a 503 problem) for a setting it cannot use."""
    settings = settings or get_settings()
    url = settings.platform_smtp_url.get_secret_value() if settings.platform_smtp_url else ""
    if not url.strip():
        return None
    channel = smtp_channel(url)
    sender, sender_name = _sender(settings.platform_mail_from, channel.username)
    return PlatformMail(channel=channel, sender=sender, sender_name=sender_name)


def announce(settings: Settings) -> PlatformMail | None:
    """Log, once at startup, where account emails go; a warning without platform mail.
    Raises ``PlatformMailMisconfigured`` so a server with a broken setting never starts."""
    mail = platform_mail(settings)
    if mail is None:
        log.warning(
            "platform_mail.not_configured",
            detail="account emails are sandboxed; verification proves workspace access "
            "only (set BIZOS_PLATFORM_SMTP_URL and BIZOS_PLATFORM_MAIL_FROM to send them "
            "to the mailbox)",
        )
    else:
        log.info("platform_mail.configured", host=mail.channel.host, port=mail.channel.port)
    return mail
