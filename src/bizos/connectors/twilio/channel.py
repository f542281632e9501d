"""SMS through Twilio's Programmable Messaging API.

``POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`` with a form body
(``To``, ``From`` or ``MessagingServiceSid``, ``Body``) and HTTP basic auth (account SID,
auth token). 201 answers with the message resource, whose ``sid`` we keep. Errors are
JSON ``{code, message, status}``; 429 and 5xx may pass later, other 4xx will not.
``base_url`` (for Twilio-compatible gateways) is the tenant's choice: an endpoint inside
the server's network is refused (``connectors.targets``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import structlog

from bizos.connectors.base import DeliveryError, OutboundSms, SendResult, check_sms
from bizos.connectors.targets import TargetRefused
from bizos.connectors.vendor import VendorEndpoint, json_object

log = structlog.get_logger("bizos.connectors.twilio")
DEFAULT_BASE_URL = "https://api.twilio.com"


class TwilioSmsChannel(VendorEndpoint):
    provider = "twilio"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 15.0,
        allow_private: bool | None = None,
    ) -> None:
        """``allow_private`` (default: ``BIZOS_CONNECTOR_ALLOW_PRIVATE_TARGETS``) lets
        ``base_url`` point inside the server's network."""
        if not from_number and not messaging_service_sid:
            raise ValueError("twilio needs from_number or messaging_service_sid")
        self.account_sid = account_sid
        self._auth_token = auth_token
        self.from_number = from_number
        self.messaging_service_sid = messaging_service_sid
        self._set_endpoint(base_url, timeout, allow_private)

    def __repr__(self) -> str:  # never show the token
        return f"TwilioSmsChannel(account_sid={self.account_sid!r}, base_url={self.base_url!r})"

    @classmethod
    def from_connector(
        cls, config: Mapping[str, Any], secrets: Mapping[str, str]
    ) -> TwilioSmsChannel:
        return cls(
            account_sid=str(config["account_sid"]),
            auth_token=secrets["auth_token"],
            from_number=config.get("from_number"),
            messaging_service_sid=config.get("messaging_service_sid"),
            base_url=str(config.get("base_url") or DEFAULT_BASE_URL),
            timeout=float(config.get("timeout_seconds", 15.0)),
        )

    @property
    def messages_url(self) -> str:
        return f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    def _form(self, message: OutboundSms) -> dict[str, str]:
        form = {"To": message.to, "Body": message.body}
        # A messaging service picks the sender itself unless the message names another.
        if self.messaging_service_sid and message.sender in (None, self.from_number):
            form["MessagingServiceSid"] = self.messaging_service_sid
        else:
            form["From"] = message.sender or self.from_number or ""
        return form

    async def send(self, message: OutboundSms) -> SendResult:
        check_sms(message)
        try:
            async with self._client() as client:
                response = await client.post(
                    self.messages_url,
                    data=self._form(message),
                    auth=(self.account_sid, self._auth_token),
                    headers={"Accept": "application/json"},
                )
        except TargetRefused as exc:
            log.warning("twilio.endpoint_refused", reason=str(exc))
            raise DeliveryError(f"twilio endpoint refused: {exc}", retryable=False) from exc
        except httpx.HTTPError as exc:
            log.warning("twilio.send_failed", retryable=True, error=type(exc).__name__)
            raise DeliveryError(
                f"twilio unreachable: {type(exc).__name__}", retryable=True
            ) from exc
        if response.status_code in (200, 201):
            body = json_object(response)
            sid = body.get("sid")
            if not isinstance(sid, str):
                raise DeliveryError("twilio answered without a message sid", retryable=False)
            return SendResult(
                "sent", self.provider, sid, detail={"provider_status": str(body.get("status", ""))}
            )
        error, status = _error(response), response.status_code
        log.warning(
            "twilio.send_failed", status=status, retryable=error.retryable, error=error.detail
        )
        raise error


def _error(response: httpx.Response) -> DeliveryError:
    body = json_object(response)
    code = body.get("code")
    message = body.get("message")
    text = message if isinstance(message, str) and message else response.reason_phrase
    text = (text or "error")[:300]
    status = response.status_code
    detail = f"twilio {status}" + (f" ({code})" if code else "") + f": {text}"
    return DeliveryError(detail, retryable=status == 429 or status >= 500)
