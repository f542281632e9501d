"""SMS channels: one contract for the sandbox and Twilio, then Twilio's protocol details.

The Twilio channel is tested against a local HTTP server that speaks the Messages API.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from bizos.connectors.base import DeliveryError, OutboundSms, SmsChannel
from bizos.connectors.sandbox import SandboxSmsChannel
from bizos.connectors.twilio import TwilioSmsChannel
from tests.connectors.servers import TwilioServer, twilio_server

SMS = OutboundSms(to="+15551230001", body="Your order #1042 has shipped 📦")


@dataclass
class Harness:
    channel: SmsChannel
    delivered: Callable[[], list[tuple[str, str]]]  # (to, body)
    status: str


def _twilio(server: TwilioServer, messaging_service_sid: str | None = None) -> TwilioSmsChannel:
    return TwilioSmsChannel(
        account_sid=server.account_sid,
        auth_token=server.auth_token,
        base_url=server.base_url,
        from_number="+15550009999",
        messaging_service_sid=messaging_service_sid,
    )


@pytest.fixture(params=["sandbox", "twilio"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "sandbox":
        sandbox = SandboxSmsChannel()
        yield Harness(sandbox, lambda: [(m.to, m.body) for m in sandbox.outbox], "sandboxed")
        return
    with twilio_server() as server:
        yield Harness(
            _twilio(server),
            lambda: [(r["form"]["To"], r["form"]["Body"]) for r in server.requests],
            "sent",
        )


async def test_an_sms_is_delivered_to_its_number(harness: Harness) -> None:
    result = await harness.channel.send(SMS)
    assert result.status == harness.status
    assert result.provider == harness.channel.provider
    assert result.provider_message_id
    assert harness.delivered() == [(SMS.to, SMS.body)]


@pytest.mark.parametrize(
    "bad",
    [
        OutboundSms(to="5551230001", body="hi"),
        OutboundSms(to="+15551230001", body=""),
        OutboundSms(to="+15551230001", body="x" * 1601),
    ],
    ids=["not-e164", "empty", "too-long"],
)
async def test_an_unsendable_sms_is_refused_for_good(harness: Harness, bad: OutboundSms) -> None:
    with pytest.raises(DeliveryError) as refused:
        await harness.channel.send(bad)
    assert refused.value.retryable is False
    assert harness.delivered() == []


async def test_twilio_request_is_a_form_post_with_basic_auth() -> None:
    with twilio_server() as server:
        result = await _twilio(server).send(SMS)
        [request] = server.requests
    assert request["path"] == f"/2010-04-01/Accounts/{server.account_sid}/Messages.json"
    assert request["content_type"] == "application/x-www-form-urlencoded"
    assert request["form"] == {"To": SMS.to, "From": "+15550009999", "Body": SMS.body}
    user_pass = base64.b64decode(request["auth"].removeprefix("Basic ")).decode()
    assert user_pass == f"{server.account_sid}:{server.auth_token}"
    assert result.provider_message_id == "SM" + "1".rjust(32, "0")
    assert result.detail == {"provider_status": "queued"}


async def test_twilio_uses_the_messaging_service_when_configured() -> None:
    with twilio_server() as server:
        await _twilio(server, messaging_service_sid="MG123").send(SMS)
        assert server.requests[0]["form"]["MessagingServiceSid"] == "MG123"
        assert "From" not in server.requests[0]["form"]


async def test_twilio_wrong_token_fails_for_good_without_showing_it() -> None:
    with twilio_server() as server:
        channel = TwilioSmsChannel(
            account_sid=server.account_sid,
            auth_token="wrong-token",
            from_number="+15550009999",
            base_url=server.base_url,
        )
        with pytest.raises(DeliveryError) as refused:
            await channel.send(SMS)
    assert refused.value.retryable is False
    assert "20003" in refused.value.detail
    assert "wrong-token" not in refused.value.detail and "wrong-token" not in repr(channel)


@pytest.mark.parametrize(("status", "retryable"), [(429, True), (503, True), (400, False)])
async def test_twilio_errors_say_whether_to_retry(status: int, retryable: bool) -> None:
    with twilio_server() as server:
        server.script.append((status, {"code": 1, "message": "scripted", "status": status}))
        with pytest.raises(DeliveryError) as refused:
            await _twilio(server).send(SMS)
    assert refused.value.retryable is retryable
    assert f"twilio {status}" in refused.value.detail


async def test_twilio_unreachable_is_worth_retrying() -> None:
    with twilio_server() as server:
        base_url = server.base_url
    channel = TwilioSmsChannel(
        account_sid="AC1", auth_token="t", from_number="+15550009999", base_url=base_url, timeout=5
    )
    with pytest.raises(DeliveryError) as refused:
        await channel.send(SMS)
    assert refused.value.retryable is True


def test_twilio_channel_is_built_from_the_connector_config() -> None:
    channel = TwilioSmsChannel.from_connector(
        {"account_sid": "AC9", "from_number": "+15550001111", "base_url": "http://127.0.0.1:1/"},
        {"auth_token": "tok"},
    )
    assert channel.messages_url == "http://127.0.0.1:1/2010-04-01/Accounts/AC9/Messages.json"
    assert "tok" not in repr(channel)
