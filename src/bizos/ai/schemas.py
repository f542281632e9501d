"""AI API shapes: settings, usage report, call provenance."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

import pycountry
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StringConstraints

ProviderName = Literal["openai", "anthropic", "local"]
# local | sentence-transformers[:<model>] | openai[:<model>]
EmbeddingsKind = Annotated[
    str,
    StringConstraints(
        max_length=40,
        pattern=r"^(local|sentence-transformers|openai)(:[A-Za-z0-9._/-]{1,60})?$",
    ),
]
# Per million tokens, in the settings' currency.
PricePerMillion = Annotated[Decimal, Field(ge=0, le=100_000, max_digits=14, decimal_places=6)]
PriceKey = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=3,
        max_length=240,
        pattern=r"^(openai|anthropic)/[^\s/][^\s]*$",
    ),
]


def iso_currency(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 3 or pycountry.currencies.get(alpha_3=code) is None:
        raise ValueError("not an ISO 4217 currency code")
    return code


Currency = Annotated[str, AfterValidator(iso_currency)]


class ModelPrice(BaseModel):
    """What a model costs per million tokens, in the settings' currency."""

    model_config = ConfigDict(extra="forbid")
    prompt_per_million: PricePerMillion
    completion_per_million: PricePerMillion = Decimal("0")


class AiSettingsRead(BaseModel):
    providers: list[ProviderName] = Field(
        description="The fallback chain in use, in order; the built-in local provider is "
        "always last."
    )
    automatic_chain: bool = Field(
        description="True while no order was chosen: every configured LLM connector "
        "(openai, then anthropic) is tried, then local. PUT providers [] to go back to it."
    )
    embeddings: EmbeddingsKind
    monthly_token_budget: int | None = Field(
        description="Tokens (prompt + completion, every provider) a month; null = no limit."
    )
    monthly_cost_budget: Decimal | None = Field(
        description="Cost a month in `currency`; null = no limit."
    )
    currency: str
    prices: dict[str, ModelPrice] = Field(
        description='Per-model prices keyed "<provider>/<model>" ("<provider>/*" for any '
        "model); they override the built-in price table."
    )
    version: int


class AiSettingsUpdate(BaseModel):
    """Only the fields sent change (the defaults shown are never applied); ``null``
    clears a budget (no limit)."""

    model_config = ConfigDict(extra="forbid")
    providers: list[ProviderName] = Field(
        default_factory=list,
        max_length=3,
        description='The fallback chain, e.g. ["anthropic", "openai", "local"]; local is '
        "always last and implied; [] = automatic (every configured LLM connector).",
    )
    embeddings: EmbeddingsKind = "local"
    monthly_token_budget: Annotated[StrictInt, Field(ge=0, le=10**15)] | None = None
    monthly_cost_budget: Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)] | None = (
        None
    )
    currency: Currency = "USD"
    prices: dict[PriceKey, ModelPrice] = Field(default_factory=dict, max_length=100)


class UsageFigures(BaseModel):
    calls: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost: Decimal


class FeatureUsage(UsageFigures):
    feature: str


class ProviderUsage(UsageFigures):
    provider: str
    models: list[str]


class BudgetStatus(BaseModel):
    monthly_token_budget: int | None
    monthly_cost_budget: Decimal | None
    tokens_used: int
    cost_used: Decimal
    tokens_remaining: int | None
    cost_remaining: Decimal | None
    exhausted: bool
    resets_at: dt.datetime


class UsageReport(BaseModel):
    period: str
    currency: str
    totals: UsageFigures
    by_feature: list[FeatureUsage]
    by_provider: list[ProviderUsage]
    budget: BudgetStatus


class RelatedRef(BaseModel):
    type: str
    id: str


class CallUsage(BaseModel):
    """What one model call was for, who answered, and the tokens it took: shared by the
    record the gateway writes (``metering.CallRecord``) and the provenance it serves."""

    feature: str
    task: str
    provider: str
    model: str
    template: str | None
    template_version: str | None
    prompt_tokens: int
    completion_tokens: int


class _CallKey(BaseModel):
    id: str
    period: str


# Fields in order: ``id``, ``period`` (the last base's come first), CallUsage's, then its own.
class AiCallRead(CallUsage, _CallKey):
    """Provenance of one AI output: who answered, from which template, on what sources."""

    total_tokens: int
    cost: Decimal
    currency: str
    sources: list[dict[str, Any]]
    attempts: list[dict[str, Any]]
    redactions: int
    streamed: bool
    latency_ms: int
    related: RelatedRef | None
    actor_id: str | None
    created_at: dt.datetime


class PromptTemplateRead(BaseModel):
    name: str
    version: str
    description: str


class PromptTemplateList(BaseModel):
    items: list[PromptTemplateRead]
