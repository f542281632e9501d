"""The cold-start scoring model: transparent points per feature.

Used until the tenant has enough won/lost history to train its own model. A lead starts
at ``BASE_POINTS`` and each feature adds or takes away the points below; the score is
the sum clamped to 0-100, so every point of it is accounted for by a factor:

=================  ==================================================================
feature            points
=================  ==================================================================
company size       unknown 0 · 1-10 +2 · 11-50 +6 · 51-200 +10 · 201-1000 +14 ·
                   1001+ +18
industry           a target industry (scoring settings) +8 · other known +2
country            a target country (scoring settings) +5
source             referral +12 · partner +10 · demo/event +8 · web/form +6 · api +4 ·
                   import +2 · anything else +3
engagement         +2.5 per tracked activity in the last 30 days, at most +25
activity recency   last activity within a day +8 · a week +5 · a month +2
email              business address +8 · free-mail -5
phone              given +5
message            none 0 · under 40 characters +2 · under 200 +5 · longer +8
lead recency       under a day old +5 · a week +2 · a month 0 · older -5 · over 90
                   days -10
=================  ==================================================================
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from bizos.modules.crm.scoring.features import FEATURE_GROUPS, LeadFeatures

BASE_POINTS = 20.0

EMPLOYEE_POINTS = {"unknown": 0.0, "1-10": 2.0, "11-50": 6.0, "51-200": 10.0}
EMPLOYEE_POINTS |= {"201-1000": 14.0, "1001+": 18.0}
SOURCE_POINTS = {"referral": 12.0, "partner": 10.0, "demo": 8.0, "event": 8.0}
SOURCE_POINTS |= {"web": 6.0, "form": 6.0, "website": 6.0, "api": 4.0, "import": 2.0}
OTHER_SOURCE_POINTS = 3.0
POINTS_PER_ACTIVITY = 2.5
MAX_ENGAGEMENT_POINTS = 25.0


@dataclass(frozen=True, slots=True)
class Targets:
    """What the tenant sells best to (scoring settings)."""

    industries: Collection[str] = ()
    countries: Collection[str] = ()


def _industry(f: LeadFeatures, targets: Targets) -> float:
    if not f.industry:
        return 0.0
    wanted = {i.strip().lower() for i in targets.industries}
    return 8.0 if f.industry.lower() in wanted else 2.0


def _activity_recency(f: LeadFeatures) -> float:
    days = f.days_since_activity
    if days is None:
        return 0.0
    return 8.0 if days <= 1 else 5.0 if days <= 7 else 2.0 if days <= 30 else 0.0


def _message(f: LeadFeatures) -> float:
    n = f.message_length
    return 0.0 if n == 0 else 2.0 if n < 40 else 5.0 if n < 200 else 8.0


def _lead_recency(f: LeadFeatures) -> float:
    days = f.lead_age_days
    if days < 1:
        return 5.0
    if days <= 7:
        return 2.0
    if days <= 30:
        return 0.0
    return -5.0 if days <= 90 else -10.0


def rule_points(f: LeadFeatures, targets: Targets) -> dict[str, float]:
    """Points per feature group (every group, zeros included)."""
    countries = {c.upper() for c in targets.countries}
    points = {
        "employees": EMPLOYEE_POINTS[f.employee_band],
        "industry": _industry(f, targets),
        "country": 5.0 if f.country and f.country in countries else 0.0,
        "source": SOURCE_POINTS.get(f.source, OTHER_SOURCE_POINTS),
        "engagement": min(MAX_ENGAGEMENT_POINTS, POINTS_PER_ACTIVITY * f.activities_30d),
        "activity_recency": _activity_recency(f),
        "email_domain": -5.0 if f.free_mail else 8.0,
        "phone": 5.0 if f.has_phone else 0.0,
        "message": _message(f),
        "lead_recency": _lead_recency(f),
    }
    assert set(points) == set(FEATURE_GROUPS)
    return points


def rule_score(points: dict[str, float]) -> int:
    return max(0, min(100, round(BASE_POINTS + sum(points.values()))))


RULES_DESCRIPTION: list[dict[str, str]] = [
    {"feature": "base", "points": "every lead starts at 20"},
    {"feature": "employees", "points": "unknown 0, 1-10 +2, 11-50 +6, 51-200 +10, "
     "201-1000 +14, 1001+ +18"},
    {"feature": "industry", "points": "target industry +8, other known +2"},
    {"feature": "country", "points": "target country +5"},
    {"feature": "source", "points": "referral +12, partner +10, demo/event +8, web/form +6, "
     "api +4, import +2, other +3"},
    {"feature": "engagement", "points": "+2.5 per tracked activity in 30 days, at most +25"},
    {"feature": "activity_recency", "points": "last activity: 1 day +8, 7 days +5, 30 days +2"},
    {"feature": "email_domain", "points": "business +8, free-mail -5"},
    {"feature": "phone", "points": "given +5"},
    {"feature": "message", "points": "under 40 chars +2, under 200 +5, longer +8"},
    {"feature": "lead_recency", "points": "under 1 day +5, 7 days +2, 30 days 0, older -5, "
     "over 90 days -10"},
]  # fmt: skip
