"""Commerce settings at the edge: what an admin sends and reads back.

``default_parcel`` is typed (:class:`DefaultParcel`: ``length_cm``, ``width_cm``,
``height_cm``, optional ``weight_kg``) and stored in that spelling. The spelling the
label step used to read (``length``/``width``/``height`` with ``distance_unit``,
``weight`` with ``mass_unit``) is still accepted, on input and in rows stored before,
and converted to centimetres and kilograms.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator
from pydantic.json_schema import SkipJsonSchema

TaxRate = Annotated[Decimal, Field(ge=0, lt=1, max_digits=6, decimal_places=4)]
UserId = Annotated[str, Field(min_length=1, max_length=36)]
Centimetres = Annotated[Decimal, Field(gt=0, le=1000, description="Centimetres.")]
Kilograms = Annotated[Decimal, Field(gt=0, le=10000, description="Kilograms.")]

# The spelling the label step read before the setting was typed: sizes in
# ``distance_unit``, a weight in ``mass_unit``. Converted on the way in.
_CM_PER_UNIT = {
    "cm": Decimal("1"),
    "mm": Decimal("0.1"),
    "m": Decimal("100"),
    "in": Decimal("2.54"),
}
_KG_PER_UNIT = {
    "kg": Decimal("1"),
    "g": Decimal("0.001"),
    "lb": Decimal("0.45359237"),
    "oz": Decimal("0.028349523125"),
}
_LEGACY_SIZES = {"length": "length_cm", "width": "width_cm", "height": "height_cm"}
_LEGACY_KEYS = (*_LEGACY_SIZES, "distance_unit", "weight", "mass_unit")


def _number(value: Any, key: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError(f"{key} must be a number")
    try:
        number = Decimal(str(value).strip())
    except ArithmeticError:
        raise ValueError(f"{key} must be a number") from None
    if not number.is_finite():
        raise ValueError(f"{key} must be a finite number")
    return number


def from_legacy_spelling(data: dict[str, Any]) -> dict[str, Any]:
    """``length``/``width``/``height`` in ``distance_unit`` (default cm) and ``weight``
    in ``mass_unit`` (default kg), as ``*_cm`` and ``weight_kg``. A size given in both
    spellings is refused: which one was meant?"""
    out = {k: v for k, v in data.items() if k not in _LEGACY_KEYS}
    unit = str(data.get("distance_unit") or "cm").strip().lower()
    mass = str(data.get("mass_unit") or "kg").strip().lower()
    if unit not in _CM_PER_UNIT:
        raise ValueError(f"distance_unit must be one of {', '.join(_CM_PER_UNIT)}")
    if mass not in _KG_PER_UNIT:
        raise ValueError(f"mass_unit must be one of {', '.join(_KG_PER_UNIT)}")
    for old, new in (*_LEGACY_SIZES.items(), ("weight", "weight_kg")):
        if old not in data or data[old] is None:
            continue
        if new in data:
            raise ValueError(f"give {new} or {old}, not both")
        factor = _KG_PER_UNIT[mass] if old == "weight" else _CM_PER_UNIT[unit]
        value = _number(data[old], old) * factor
        out[new] = value if factor == 1 else value.quantize(Decimal("0.001"))
    return out


class DefaultParcel(BaseModel):
    """The box labels are bought for: its sizes, and the weight to declare when the
    order's products have none (else their weights are added up)."""

    model_config = ConfigDict(extra="forbid")
    length_cm: Centimetres
    width_cm: Centimetres
    height_cm: Centimetres
    weight_kg: Kilograms | None = Field(
        default=None,
        description="Declared when the products carry no weight; without it, 1 kg.",
    )

    @model_validator(mode="before")
    @classmethod
    def _accept_legacy_spelling(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(key in data for key in _LEGACY_KEYS):
            return from_legacy_spelling(data)
        return data

    def stored(self) -> dict[str, Any]:
        """The JSON kept in ``commerce_settings.default_parcel``."""
        return self.model_dump(mode="json", exclude_none=True)


# What a label is bought for while the tenant set no parcel.
DEFAULT_PARCEL = DefaultParcel(length_cm=Decimal(30), width_cm=Decimal(20), height_cm=Decimal(10))
DEFAULT_PARCEL_WEIGHT_KG = Decimal("1")
PARCEL_KEYS = (*DefaultParcel.model_fields, *_LEGACY_KEYS)


class CommerceSettingsRead(BaseModel):
    orders_from_won_deals: bool
    default_tax_rate: Decimal = Field(description="A fraction: 0.2 is 20%.")
    payment_terms_days: int
    notify_customer: bool
    purchasing_assignee_id: str | None
    operations_assignee_id: str | None
    ship_from: dict[str, Any] | None
    default_parcel: DefaultParcel | None = Field(
        description="null: labels are bought for 30 x 20 x 10 cm, 1 kg unless the "
        "products carry weights."
    )
    version: int


class CommerceSettingsUpdate(BaseModel):
    """Only the fields sent change; ``null`` clears an assignee (back to the owner)."""

    model_config = ConfigDict(extra="forbid")
    orders_from_won_deals: bool | SkipJsonSchema[None] = None
    default_tax_rate: TaxRate | SkipJsonSchema[None] = None
    payment_terms_days: Annotated[StrictInt, Field(ge=0, le=365)] | SkipJsonSchema[None] = None
    notify_customer: bool | SkipJsonSchema[None] = None
    purchasing_assignee_id: UserId | None = None
    operations_assignee_id: UserId | None = None
    ship_from: dict[str, Any] | None = None
    default_parcel: DefaultParcel | None = None
