"""Email channels: one contract both the sandbox and SMTP pass, then what only SMTP does.

The SMTP channel is tested against a real SMTP server (aiosmtpd) on 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from email.message import EmailMessage
from pathlib import Path

import pytest

from bizos.connectors.base import DeliveryError, EmailChannel, OutboundEmail
from bizos.connectors.sandbox import SandboxEmailChannel
from bizos.connectors.smtp import SmtpEmailChannel
from tests.connectors.servers import self_signed_tls, smtp_server

MESSAGE = OutboundEmail(
    sender="support@acme.example",
    sender_name="Acme Support",
    to=("ada@customer.example",),
    subject="Your order #1042 has shipped",
    text="Hi Ada,\n\nYour parcel is on its way.\n.\nA line with a lone dot above.\n",
    message_id="<0190-abc@acme.example>",
    date=dt.datetime(2025, 3, 4, 10, 30, tzinfo=dt.UTC),
)


@dataclass
class Harness:
    channel: EmailChannel
    delivered: Callable[[], list[EmailMessage]]
    status: str


def _parse(data: bytes) -> EmailMessage:
    # As a mail client reads it: wire CRLF line ends become local ones.
    parsed = email.message_from_bytes(data.replace(b"\r\n", b"\n"), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


@pytest.fixture(params=["sandbox", "smtp"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    if request.param == "sandbox":
        sandbox = SandboxEmailChannel()
        yield Harness(sandbox, lambda: [_parse(m.as_bytes()) for m in sandbox.outbox], "sandboxed")
        return
    async with smtp_server() as server:
        channel = SmtpEmailChannel(host=server.host, port=server.port)
        yield Harness(channel, lambda: [m.message for m in server.received], "sent")


# --- the contract --------------------------------------------------------------------


async def test_a_sent_email_arrives_with_its_addresses_subject_and_body(
    harness: Harness,
) -> None:
    result = await harness.channel.send(MESSAGE)
    assert result.status == harness.status
    assert result.provider == harness.channel.provider
    [got] = harness.delivered()
    assert got["From"] == "Acme Support <support@acme.example>"
    assert got["To"] == "ada@customer.example"
    assert got["Subject"] == MESSAGE.subject
    assert got["Date"].datetime == MESSAGE.date
    assert got.get_content() == MESSAGE.text


async def test_the_message_id_is_kept_and_reported(harness: Harness) -> None:
    result = await harness.channel.send(MESSAGE)
    assert result.provider_message_id == MESSAGE.message_id
    assert harness.delivered()[0]["Message-ID"] == MESSAGE.message_id


async def test_a_reply_carries_threading_headers(harness: Harness) -> None:
    reply = replace(
        MESSAGE,
        subject="Re: Where is my order?",
        in_reply_to="<q1@customer.example>",
        references=("<q0@customer.example>", "<q1@customer.example>"),
        reply_to="tickets+42@acme.example",
    )
    await harness.channel.send(reply)
    got = harness.delivered()[0]
    assert got["In-Reply-To"] == "<q1@customer.example>"
    assert got["References"] == "<q0@customer.example> <q1@customer.example>"
    assert got["Reply-To"] == "tickets+42@acme.example"


async def test_non_ascii_subject_and_body_arrive_intact(harness: Harness) -> None:
    await harness.channel.send(
        replace(MESSAGE, subject="Grüße — ваш заказ 📦", text="Danke schön! Доставка завтра. 📦\n")
    )
    got = harness.delivered()[0]
    assert got["Subject"] == "Grüße — ваш заказ 📦"
    assert got.get_content() == "Danke schön! Доставка завтра. 📦\n"


async def test_html_goes_as_an_alternative_to_the_text(harness: Harness) -> None:
    await harness.channel.send(replace(MESSAGE, html="<p>Your parcel is <b>on its way</b></p>"))
    got = harness.delivered()[0]
    assert got.get_content_type() == "multipart/alternative"
    text = got.get_body(("plain",))
    html = got.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content() == MESSAGE.text
    assert "<b>on its way</b>" in html.get_content()


@pytest.mark.parametrize(
    "bad",
    [
        replace(MESSAGE, to=("not-an-address",)),
        replace(MESSAGE, to=()),
        replace(MESSAGE, subject="Hi\r\nBcc: victim@example.com"),
        replace(MESSAGE, sender="nobody"),
    ],
    ids=["bad-recipient", "no-recipient", "header-injection", "bad-sender"],
)
async def test_an_unsendable_message_is_refused_for_good(
    harness: Harness, bad: OutboundEmail
) -> None:
    with pytest.raises(DeliveryError) as refused:
        await harness.channel.send(bad)
    assert refused.value.retryable is False
    assert harness.delivered() == []


# --- SMTP only -------------------------------------------------------------------------


def _unix_lines(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").strip()


async def test_smtp_server_receives_exactly_the_rendered_message() -> None:
    async with smtp_server() as server:
        channel = SmtpEmailChannel(host=server.host, port=server.port)
        await channel.send(MESSAGE)
        [got] = server.received
    assert got.mail_from == "support@acme.example"
    assert got.rcpt_tos == ["ada@customer.example"]
    assert _unix_lines(got.content) == _unix_lines(channel.render(MESSAGE).as_bytes())
    assert b'Content-Type: text/plain; charset="utf-8"' in got.content


async def test_smtp_sends_one_message_to_every_recipient() -> None:
    async with smtp_server() as server:
        channel = SmtpEmailChannel(host=server.host, port=server.port)
        await channel.send(replace(MESSAGE, to=("a@x.example", "b@y.example")))
        [got] = server.received
    assert got.rcpt_tos == ["a@x.example", "b@y.example"]
    assert got.message["To"] == "a@x.example, b@y.example"


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_smtp_logs_in_when_a_username_is_configured() -> None:
    async with smtp_server(credentials=("mailer", "s3cret")) as server:
        ok = SmtpEmailChannel(
            host=server.host, port=server.port, username="mailer", password="s3cret"
        )
        await ok.send(MESSAGE)
        assert server.received[0].login == "mailer"

        wrong = SmtpEmailChannel(
            host=server.host, port=server.port, username="mailer", password="nope"
        )
        with pytest.raises(DeliveryError) as refused:
            await wrong.send(MESSAGE)
        assert refused.value.retryable is False
        assert "s3cret" not in repr(ok) and "nope" not in refused.value.detail
        assert len(server.received) == 1


async def test_smtp_upgrades_to_tls_and_verifies_the_certificate(tmp_path: Path) -> None:
    tls = self_signed_tls(tmp_path)
    async with smtp_server(tls_context=tls.server, require_starttls=True) as server:
        trusting = SmtpEmailChannel(
            host=server.host, port=server.port, starttls=True, tls_context=tls.client
        )
        await trusting.send(MESSAGE)
        assert server.received[0].tls is True

        # Without trusting the certificate the channel refuses to send in the clear.
        default_trust = SmtpEmailChannel(host=server.host, port=server.port, starttls=True)
        with pytest.raises(DeliveryError):
            await default_trust.send(MESSAGE)
        assert len(server.received) == 1


async def test_smtp_demanding_starttls_from_a_server_without_it_fails_for_good() -> None:
    async with smtp_server() as server:
        channel = SmtpEmailChannel(host=server.host, port=server.port, starttls=True)
        with pytest.raises(DeliveryError) as refused:
            await channel.send(MESSAGE)
        assert refused.value.retryable is False
        assert server.received == []


async def test_smtp_never_upgrades_when_starttls_is_off(tmp_path: Path) -> None:
    tls = self_signed_tls(tmp_path)
    async with smtp_server(tls_context=tls.server) as server:
        channel = SmtpEmailChannel(host=server.host, port=server.port, starttls=False)
        await channel.send(MESSAGE)
        assert server.received[0].tls is False


@pytest.mark.parametrize(
    ("reply", "retryable"), [("550 5.1.1 no such user", False), ("451 4.3.0 try later", True)]
)
async def test_smtp_refused_recipient_says_whether_to_retry(reply: str, retryable: bool) -> None:
    async with smtp_server() as server:
        server.refuse["ada@customer.example"] = reply
        channel = SmtpEmailChannel(host=server.host, port=server.port)
        with pytest.raises(DeliveryError) as refused:
            await channel.send(MESSAGE)
    assert refused.value.retryable is retryable
    assert reply.split()[0] in refused.value.detail


async def test_smtp_partly_refused_recipients_still_count_as_sent() -> None:
    async with smtp_server() as server:
        server.refuse["b@y.example"] = "550 no such user"
        channel = SmtpEmailChannel(host=server.host, port=server.port)
        result = await channel.send(replace(MESSAGE, to=("a@x.example", "b@y.example")))
        assert server.received[0].rcpt_tos == ["a@x.example"]
    assert result.status == "sent"
    assert result.detail == {"refused": "b@y.example"}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_smtp_server_down_is_worth_retrying() -> None:
    channel = SmtpEmailChannel(host="127.0.0.1", port=_closed_port(), timeout=5)
    with pytest.raises(DeliveryError) as refused:
        await channel.send(MESSAGE)
    assert refused.value.retryable is True


def test_smtp_channel_is_built_from_the_connector_config() -> None:
    channel = SmtpEmailChannel.from_connector(
        {
            "host": "mx.example",
            "port": 465,
            "username": "u",
            "use_tls": True,
            "timeout_seconds": 12.5,
            "validate_certs": True,
        },
        {"password": "pw"},
    )
    assert (channel.host, channel.port, channel.username, channel.use_tls, channel.timeout) == (
        "mx.example",
        465,
        "u",
        True,
        12.5,
    )
    assert "pw" not in repr(channel)
