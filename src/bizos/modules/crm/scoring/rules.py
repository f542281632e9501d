"""The cold-start scoring model: transparent points per feature.

Used until the tenant has enough won/lost history to train its own model. A lead starts
at ``BASE_POINTS`` and each feature adds or takes away the points below; the score is
the sum clamped to 0-100, so every point of it is accounted for by a factor.

Calibrated so that a score says something: a lead that gives nothing but an address
scores low (about 15 from a business address, 5 from free-mail), and only a lead with
several real signals (a sizeable company in a target industry, a decision maker, a
budget, a good source, recent engagement) reaches the default hot threshold of 70: on
the demo's year of leads, a realistic mix of sources, that is about one lead in seven.
Age only ever takes points away: a new lead is not a better lead for being new.

=================  ==================================================================
feature            points
=================  ==================================================================
company size       unknown 0 · 1-10 +2 · 11-50 +6 · 51-200 +10 · 201-1000 +14 ·
                   1001+ +18
industry           a target industry (scoring settings) +10 · other known +2
country            a target country (scoring settings) +5
source             referral +15 · partner +12 · trade show/event/demo/webinar +10 ·
                   web form +6 · social and other named sources +3 · api +2 ·
                   import, purchased lists, cold outreach 0
engagement         +2.5 per tracked activity in the last 30 days, at most +25
activity recency   last activity within a day +8 · a week +5 · a month +2
email              business address +5 · free-mail -5
phone              given +5
message            none 0 · under 40 characters +2 · under 200 +5 · longer +8
title              decision maker (owner, founder, director, head of, C-level) +12 ·
                   manager or buyer +6 · another title +2
budget             stated (``properties.budget``) +10
enrichment         company found by the enrichment provider +6
lead age           up to 30 days 0 · up to 90 days -5 · older -10
=================  ==================================================================
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from bizos.modules.crm.scoring.features import FEATURE_GROUPS, LeadFeatures

BASE_POINTS = 8.0

EMPLOYEE_POINTS = {"unknown": 0.0, "1-10": 2.0, "11-50": 6.0, "51-200": 10.0}
EMPLOYEE_POINTS |= {"201-1000": 14.0, "1001+": 18.0}
# Sources by what they tend to say about buying, spelt the ways tenants spell them.
SOURCE_POINTS = dict.fromkeys(("referral", "referrals", "word_of_mouth"), 15.0)
SOURCE_POINTS |= dict.fromkeys(("partner", "partners", "reseller"), 12.0)
SOURCE_POINTS |= dict.fromkeys(
    ("trade_show", "tradeshow", "event", "events", "conference", "demo", "webinar"), 10.0
)
SOURCE_POINTS |= dict.fromkeys(("web_form", "web", "form", "website", "contact_form"), 6.0)
SOURCE_POINTS |= {"api": 2.0}
SOURCE_POINTS |= dict.fromkeys(
    ("import", "csv", "list", "purchased_list", "cold_outreach", "cold_call", "cold_email"), 0.0
)
OTHER_SOURCE_POINTS = 3.0
POINTS_PER_ACTIVITY = 2.5
MAX_ENGAGEMENT_POINTS = 25.0
TITLE_POINTS = {0: 0.0, 1: 2.0, 2: 6.0, 3: 12.0}


@dataclass(frozen=True, slots=True)
class Targets:
    """What the tenant sells best to (scoring settings)."""

    industries: Collection[str] = ()
    countries: Collection[str] = ()


def _industry(f: LeadFeatures, targets: Targets) -> float:
    if not f.industry:
        return 0.0
    wanted = {i.strip().lower() for i in targets.industries}
    return 10.0 if f.industry.lower() in wanted else 2.0


def _activity_recency(f: LeadFeatures) -> float:
    days = f.days_since_activity
    if days is None:
        return 0.0
    return 8.0 if days <= 1 else 5.0 if days <= 7 else 2.0 if days <= 30 else 0.0


def _message(f: LeadFeatures) -> float:
    n = f.message_length
    return 0.0 if n == 0 else 2.0 if n < 40 else 5.0 if n < 200 else 8.0


def source_points(source: str) -> float:
    key = source.strip().lower().replace("-", "_").replace(" ", "_")
    return SOURCE_POINTS.get(key, OTHER_SOURCE_POINTS)


def age_points(lead_age_days: float) -> float:
    """What a lead's age costs it: nothing for a month, then more. Never a gain."""
    if lead_age_days <= 30:
        return 0.0
    return -5.0 if lead_age_days <= 90 else -10.0


def rule_points(f: LeadFeatures, targets: Targets) -> dict[str, float]:
    """Points per feature group (every group, zeros included)."""
    countries = {c.upper() for c in targets.countries}
    points = {
        "employees": EMPLOYEE_POINTS[f.employee_band],
        "industry": _industry(f, targets),
        "country": 5.0 if f.country and f.country in countries else 0.0,
        "source": source_points(f.source),
        "engagement": min(MAX_ENGAGEMENT_POINTS, POINTS_PER_ACTIVITY * f.activities_30d),
        "activity_recency": _activity_recency(f),
        "email_domain": -5.0 if f.free_mail else 5.0,
        "phone": 5.0 if f.has_phone else 0.0,
        "message": _message(f),
        "title": TITLE_POINTS[f.title_seniority],
        "budget": 10.0 if f.has_budget else 0.0,
        "enrichment": 6.0 if f.enriched else 0.0,
        "lead_recency": age_points(f.lead_age_days),
    }
    assert set(points) == set(FEATURE_GROUPS)
    return points


def rule_score(points: dict[str, float]) -> int:
    return max(0, min(100, round(BASE_POINTS + sum(points.values()))))


RULES_DESCRIPTION: list[dict[str, str]] = [
    {"feature": "base", "points": "every lead starts at 8"},
    {"feature": "employees", "points": "unknown 0, 1-10 +2, 11-50 +6, 51-200 +10, "
     "201-1000 +14, 1001+ +18"},
    {"feature": "industry", "points": "target industry +10, other known +2"},
    {"feature": "country", "points": "target country +5"},
    {"feature": "source", "points": "referral +15, partner +12, trade show/event/demo +10, "
     "web form +6, api +2, import/list/cold outreach 0, other +3"},
    {"feature": "engagement", "points": "+2.5 per tracked activity in 30 days, at most +25"},
    {"feature": "activity_recency", "points": "last activity: 1 day +8, 7 days +5, 30 days +2"},
    {"feature": "email_domain", "points": "business +5, free-mail -5"},
    {"feature": "phone", "points": "given +5"},
    {"feature": "message", "points": "under 40 chars +2, under 200 +5, longer +8"},
    {"feature": "title", "points": "decision maker +12, manager or buyer +6, other title +2"},
    {"feature": "budget", "points": "stated +10"},
    {"feature": "enrichment", "points": "company found by enrichment +6"},
    {"feature": "lead_recency", "points": "up to 30 days 0, up to 90 days -5, older -10 "
     "(age never adds points)"},
]  # fmt: skip
