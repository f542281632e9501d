"""The platform mail setting: an SMTP URL the operator writes, sent through the same
SMTP channel as a workspace's connector, and said out loud at startup."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog
import typer
from pydantic import SecretStr

from bizos import cli
from bizos.connectors.base import OutboundEmail
from bizos.connectors.platform import (
    PlatformMailMisconfigured,
    announce,
    platform_mail,
    smtp_channel,
)
from bizos.core.config import Settings
from tests.connectors.servers import self_signed_tls, smtp_server

PASSWORD = "hunter2:/@%"
ENCODED = "hunter2%3A%2F%40%25"

MESSAGE = OutboundEmail(
    sender="accounts@platform.example",
    to=("owner@northwind.example",),
    subject="Confirm your email address",
    text="Open this link.\n",
    message_id="<m1@platform.example>",
)


def configured(url: str | None, sender: str | None = None) -> Settings:
    return Settings(
        platform_smtp_url=SecretStr(url) if url is not None else None,
        platform_mail_from=sender,
    )


async def test_the_url_logs_in_and_upgrades_to_tls_with_the_certificate_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tls = self_signed_tls(tmp_path)
    # The system trust store, as an operator's would hold their provider's CA.
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "cert.pem"))
    user = "accounts@platform.example"
    async with smtp_server(
        tls_context=tls.server, require_starttls=True, credentials=(user, PASSWORD)
    ) as server:
        url = f"smtp://accounts%40platform.example:{ENCODED}@127.0.0.1:{server.port}?starttls=true"
        mail = platform_mail(configured(url))
        assert mail is not None
        result = await mail.channel.send(MESSAGE)
    assert (result.status, result.provider) == ("sent", "platform")
    [received] = server.received
    assert (received.login, received.tls) == (user, True)
    assert mail.sender == user  # the From defaults to a user name that is an address
    assert PASSWORD not in repr(mail)


def test_schemes_and_options_pick_the_transport() -> None:
    plain = smtp_channel("smtp://mail.example")
    assert (plain.port, plain.use_tls, plain.starttls) == (587, False, None)
    implicit = smtp_channel("smtps://mail.example")
    assert (implicit.port, implicit.use_tls, implicit.starttls) == (465, True, None)
    assert smtp_channel("smtp://mail.example?ssl=true").use_tls is True
    never = smtp_channel("smtp://mail.example:2525?starttls=false&validate_certs=false&timeout=5")
    assert (never.port, never.starttls, never.validate_certs, never.timeout) == (
        2525,
        False,
        False,
        5.0,
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://mail.example",
        f"smtp://user:{ENCODED}@",
        f"smtp://user:{ENCODED}@mail.example:99999",
        f"smtp://user:{ENCODED}@mail.example:port",
        f"smtp://user:{ENCODED}@mail.example/inbox",
        f"smtp://user:{ENCODED}@mail.example?startls=true",
        f"smtp://user:{ENCODED}@mail.example?starttls=maybe",
        f"smtps://user:{ENCODED}@mail.example?starttls=true",
        f"smtp://user:{ENCODED}@mail.example?timeout=0",
    ],
)
def test_an_unusable_url_is_refused_without_showing_the_password(url: str) -> None:
    with pytest.raises(PlatformMailMisconfigured) as refused:
        platform_mail(configured(url, "accounts@platform.example"))
    assert refused.value.status == 503
    assert "hunter2" not in refused.value.detail


@pytest.mark.parametrize("sender", [None, "not an address"])
def test_account_emails_need_an_address_to_come_from(sender: str | None) -> None:
    with pytest.raises(PlatformMailMisconfigured) as refused:
        platform_mail(configured("smtp://relay:secret@mail.example", sender))
    assert "BIZOS_PLATFORM_MAIL_FROM" in refused.value.detail


def test_the_from_may_carry_a_name() -> None:
    mail = platform_mail(configured("smtp://mail.example", "bizos accounts <Acc@Platform.example>"))
    assert mail is not None
    assert (mail.sender, mail.sender_name) == ("Acc@platform.example", "bizos accounts")


def test_without_platform_mail_the_server_warns_that_verification_is_weak() -> None:
    with structlog.testing.capture_logs() as logs:
        assert announce(configured(None)) is None
    [line] = logs
    assert line["log_level"] == "warning"
    assert "account emails are sandboxed" in line["detail"]
    assert "verification proves workspace access only" in line["detail"]


def test_with_platform_mail_the_server_says_where_and_not_the_password() -> None:
    url = f"smtp://relay:{ENCODED}@mail.example"
    with structlog.testing.capture_logs() as logs:
        assert announce(configured(url, "accounts@platform.example")) is not None
    [line] = logs
    assert (line["log_level"], line["host"], line["port"]) == ("info", "mail.example", 587)
    assert "hunter2" not in repr(logs)


def test_a_server_with_an_unusable_setting_does_not_start() -> None:
    with pytest.raises(typer.Exit) as stopped:
        cli._announce_platform_mail(configured("smtp://mail.example"))  # no From
    assert stopped.value.exit_code == 2
