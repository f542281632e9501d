"""Shipments at the edge: a label bought for an order, as the API and exports show it."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict

from bizos.modules.commerce.rows import Cents, JsonObject


class ShipmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    order_id: str
    provider: str
    carrier: str
    service: str | None
    tracking_number: str
    label_url: str
    status: str
    cost: Cents | None
    currency: str | None
    provider_ref: str | None
    request: JsonObject
    voided_at: dt.datetime | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
