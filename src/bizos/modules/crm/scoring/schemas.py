"""Shapes of lead scoring: factors, score history, the model, the scoring settings."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StringConstraints,
    model_validator,
)


def iso_country(code: str) -> str:
    """``code`` when it is an ISO 3166-1 alpha-2 country (``GB``, not ``UK``)."""
    if pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"{code} is not an ISO 3166 country code")
    return code


CountryCode = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{2}$"),
    AfterValidator(iso_country),
]
Industry = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class ScoreFactor(BaseModel):
    """One reason behind a score. ``impact`` is in points for the rules model and in
    log-odds for a trained model; positive raises the score."""

    feature: str
    label: str
    impact: float
    value: Any = None


class LeadScoreRead(BaseModel):
    id: str
    lead_id: str
    score: int
    factors: list[ScoreFactor]
    model: str
    reason: str
    event_id: str | None
    scored_at: dt.datetime


class ScoringSettings(BaseModel):
    """When a lead is hot, and how much history a trained model needs."""

    model_config = ConfigDict(extra="forbid")

    hot_threshold: StrictInt = Field(
        default=70, ge=1, le=100, description="Crossing this score upward notifies the owner."
    )
    min_outcomes: StrictInt = Field(
        default=30, ge=10, le=1_000_000, description="Closed outcomes needed to train a model."
    )
    min_per_class: StrictInt = Field(
        default=5, ge=2, le=500_000, description="Of those, at least this many won and lost."
    )
    min_auc: StrictFloat = Field(
        default=0.55,
        ge=0.5,
        le=1.0,
        description="A trained model is used only if its held-out AUC reaches this.",
    )
    target_industries: list[Industry] = Field(default_factory=list, max_length=50)
    target_countries: list[CountryCode] = Field(default_factory=list, max_length=250)

    @model_validator(mode="after")
    def _classes_fit_in_outcomes(self) -> ScoringSettings:
        if self.min_per_class * 2 > self.min_outcomes:
            raise ValueError("min_per_class must be at most half of min_outcomes")
        return self


class TrainingAttempt(BaseModel):
    at: dt.datetime
    status: Literal["trained", "rejected", "insufficient_history"]
    detail: str
    model_id: str | None = None


class OutcomeCounts(BaseModel):
    outcomes: int
    won: int
    lost: int
    min_outcomes: int
    min_per_class: int


class ScoringModelRead(BaseModel):
    id: str
    kind: str
    active: bool
    trained_at: dt.datetime
    samples: int
    positives: int
    metrics: dict[str, Any]
    features: list[str]
    coefficients: dict[str, float]
    intercept: float


class ScoringStatus(BaseModel):
    """Which model scores the tenant's leads now, and why."""

    rules_in_use: bool
    reason: str
    model: ScoringModelRead | None
    history: OutcomeCounts
    last_training: TrainingAttempt | None
    rules: list[dict[str, str]]
