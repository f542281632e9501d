"""The sandbox shipping provider: buys nothing, records what it would have bought.

Its labels are deterministic: the tracking number derives from the request's reference
(the order number) and the tenant's addresses, so buying again for the same order after a
crash answers the same label. Every purchase and void is kept in a bounded in-memory log
(the sandbox's "sent" record); the shipment row keeps the request as well.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from bizos.connectors.shipping.base import Label, LabelRequest

LOG_LIMIT = 1000
LABEL_BASE_URL = "https://labels.sandbox.invalid"
CARRIER = "sandbox"
SERVICE = "sandbox_ground"
RATE = Decimal("5.00")


@dataclass(frozen=True, slots=True)
class SandboxShippingCall:
    action: str  # buy_label | void_label
    reference: str
    at: dt.datetime


def sandbox_tracking_number(request: LabelRequest) -> str:
    digest = hashlib.sha256(
        json.dumps(request.as_json(), sort_keys=True, default=str).encode()
    ).hexdigest()
    return f"SBX{digest[:18].upper()}"


class SandboxShipping:
    provider = "sandbox"

    def __init__(self) -> None:
        self.calls: deque[SandboxShippingCall] = deque(maxlen=LOG_LIMIT)

    async def buy_label(self, request: LabelRequest) -> Label:
        tracking = sandbox_tracking_number(request)
        self.calls.append(SandboxShippingCall("buy_label", request.reference, _now()))
        return Label(
            provider=self.provider,
            carrier=CARRIER,
            service=request.servicelevel or SERVICE,
            tracking_number=tracking,
            label_url=f"{LABEL_BASE_URL}/{tracking}.pdf",
            provider_ref=f"sandbox-{tracking}",
            cost=RATE,
            currency="USD",
            request=request.as_json(),
        )

    async def void_label(self, label_ref: str) -> None:
        self.calls.append(SandboxShippingCall("void_label", label_ref, _now()))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# One per process, so what it was asked can be read back.
sandbox_shipping = SandboxShipping()
