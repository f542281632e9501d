"""Normalising the identifiers dedupe and rules run on: email addresses, phone numbers,
domains and lead sources."""

from __future__ import annotations

import re

import phonenumbers
from email_validator import EmailNotValidError, validate_email

# Free-mail domains: an address there says nothing about the person's company.
FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "ymail.com",
        "hotmail.com", "hotmail.co.uk", "outlook.com", "live.com", "msn.com",
        "icloud.com", "me.com", "mac.com", "aol.com", "proton.me", "protonmail.com",
        "gmx.com", "gmx.de", "gmx.net", "web.de", "mail.com", "zoho.com", "yandex.com",
        "yandex.ru", "mail.ru", "fastmail.com", "hey.com", "tutanota.com", "qq.com",
        "163.com", "126.com", "orange.fr", "free.fr", "libero.it", "t-online.de",
    }
)  # fmt: skip

_SOURCE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")


class InvalidEmail(ValueError):
    pass


class InvalidPhone(ValueError):
    pass


def normalize_email(value: str) -> str:
    """The address dedupe compares: syntax-checked, domain lower-cased and IDNA-encoded,
    local part lower-cased (every provider we meet treats it case-insensitively).
    Raises :class:`InvalidEmail` with a readable reason."""
    try:
        checked = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from exc
    return f"{checked.local_part.lower()}@{checked.ascii_domain.lower()}"


def email_domain(email: str) -> str:
    return email.rpartition("@")[2].lower()


def is_free_mail(email_or_domain: str) -> bool:
    return email_domain(email_or_domain) in FREE_MAIL_DOMAINS


def normalize_phone(value: str, default_region: str | None = None) -> str:
    """E.164 (``+4915123456789``). Numbers without a country code need
    ``default_region`` (ISO 3166 alpha-2). Raises :class:`InvalidPhone`."""
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"not a phone number: {exc}") from exc
    if not phonenumbers.is_possible_number(number):
        raise InvalidPhone("not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_domain(value: str) -> str:
    """``https://www.Example.com/x`` -> ``example.com``."""
    text = value.strip().lower()
    for prefix in ("https://", "http://"):
        text = text.removeprefix(prefix)
    text = text.split("/", 1)[0].split("?", 1)[0].split(":", 1)[0]
    return text.removeprefix("www.").rstrip(".")


def normalize_source(value: str) -> str:
    """``"Google Ads"`` -> ``"google_ads"``: sources are compared by rules, so one spelling."""
    text = re.sub(r"\s+", "_", value.strip().lower())
    if not _SOURCE.match(text):
        raise ValueError("a source is 1-40 letters, digits, '_', '-' or '.'")
    return text
