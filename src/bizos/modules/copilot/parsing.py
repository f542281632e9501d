"""Understanding a question without a model: its intent, its topic (which tool family
answers it) and the entities it names — periods, products, people, channels, currencies,
stages, priorities, "top N" — continuing from the previous question when it is a
follow-up ("and the month before?", "only Shopify", "break that down by product")."""

# ruff: noqa: E501  (pattern tables and phrasing tables read best one entry a line)

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bizos.modules.copilot import entities as ents
from bizos.modules.copilot.commands import command
from bizos.modules.copilot.dates import Period, find_periods, month
from bizos.modules.copilot.topics import (
    KB_CUES,
    KB_STRONG,
    ONE_CONTRACT,
    OUT_OF_SCOPE,
    SOME_CONTRACTS,
    TOPIC_INTENT,
    WORLD,
    cannot,
    conversation,
    scores,
)
from bizos.modules.copilot.vocabulary import Vocabulary

Intent = Literal["metrics", "search", "action", "conversation", "out_of_scope"]

# Topics that read a date range (others ignore periods).
DATED = frozenset(
    [
        "revenue",
        "orders",
        "aov",
        "top_customers",
        "top_products",
        "refunds",
        "expenses",
        "profit",
        "leads",
        "lead_sources",
        "tickets",
        "sla",
        "first_response",
        "overview",
        "customer_spend",
        "net_revenue",
        "channel_share",
    ]
)
COMPARE = re.compile(
    r"\b(?:vs\.?|versus|compared?(?: it| that| this)?(?: to| with| against)?|comparison|against|"
    r"relative to|than|(?:up|down) (?:on|from)|(?:up|down) or (?:up|down)|better or worse|"
    r"same (?:period|time) last year)\b"
)
BEFORE = re.compile(
    r"\bthe (?P<unit>day|week|month|quarter|year|period) before\b(?! last)|\b(?:previous|prior) period\b"
)
GROWTH = re.compile(
    r"\b(?:grow(?:ing|th|n)?|trend(?:ing)?|improv(?:ing|ed)|declin(?:ing|ed)|month over month|mom|week over week|wow)\b"
)
YEAR_OVER_YEAR = re.compile(
    r"\b(?:year over year|year on year|yoy|same (?:period|time|month) last year)\b"
)
LOOKUP_TAIL = re.compile(
    r"(?:tell me (?:all )?about|what do (?:we|i) know about|who is|info(?:rmation)? (?:on|about)|"
    r"look ?up|details (?:of|for|on)|profile (?:of|for)|history with|any news (?:on|from)|"
    r"what(?:'s| is) (?:up|new|happening|going on) with|find (?:the )?(?:contact|company|customer|account)|"
    r"show me (?:the )?(?:contact|company|customer|account))\s+(?:the\s+)?(?P<q>[\w&'. -]{2,60}?)(?:'s)?"
    r"(?:\s+(?:account|company|customer|contact))?\s*[?.!]*$"
)
FOLLOW_CUE = re.compile(
    r"^(?:and|what about|how about|same|only|just|then|ok and|and what about|and for|but|"
    r"break|split|compare|vs|versus|now|also|instead|excluding|without|for)\b|\bthen\??$|"
    r"\b(?:that|those|these|it|they|them|there)\b"
)


@dataclass(frozen=True, slots=True)
class Parsed:
    """What a question asks: its ``intent``, the ``topic`` (which tool family answers it)
    and the ``entities`` it names (JSON-able). ``followup`` says it continued from the
    previous question."""

    question: str
    intent: Intent
    topic: str
    entities: dict[str, Any] = field(default_factory=dict)
    followup: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "intent": self.intent,
            "topic": self.topic,
            "entities": self.entities,
            "followup": self.followup,
        }

    def period(self) -> Period | None:
        data = self.entities.get("period")
        return Period.from_dict(data) if data else None


def local_day(today: dt.date | dt.datetime, timezone: str) -> dt.date:
    """The tenant's day: an aware datetime is seen in ``timezone``."""
    if isinstance(today, dt.datetime):
        if today.tzinfo is None:
            return today.date()
        try:
            return today.astimezone(ZoneInfo(timezone)).date()
        except (ZoneInfoNotFoundError, ValueError):
            return today.date()
    return today


def normal(question: str) -> str:
    text = (
        question.replace("\u2019", "'")
        .replace("\u2018", "'")
        .replace("\u201c", '"')
        .replace("\u201d", '"')
    )
    return re.sub(r"\s+", " ", text).strip().lower()


def understand(
    question: str,
    vocab: Vocabulary,
    *,
    today: dt.date | dt.datetime,
    previous: Parsed | None = None,
) -> Parsed:
    """``question`` understood against the tenant's ``vocab`` on ``today`` (a date, or an
    aware datetime seen in the tenant's timezone), continuing from ``previous``."""
    day = local_day(today, vocab.timezone)
    text = normal(question)
    small = conversation(text)
    if small is not None:
        return Parsed(question, "conversation", small, {})
    action = command(question.strip(), vocab, day)
    if action is not None:
        return Parsed(question, "action", action["kind"], {"action": action})
    unable = None if OUT_OF_SCOPE.search(text) else cannot(text)  # "the price of bitcoin"
    if unable is not None:
        return Parsed(question, cast(Intent, unable[0]), "cannot", {"cannot": unable[1]})
    if WORLD.search(text):
        return Parsed(question, "out_of_scope", "out_of_scope", {})
    found = find_periods(text, day)
    rest = _blank(text, [f.span for f in found])
    entities = ents.extract(rest, vocab)
    ranked = scores(text)
    topic = _topic(ranked, text, entities)
    if topic is None and OUT_OF_SCOPE.search(text):
        return Parsed(question, "out_of_scope", "out_of_scope", {})
    if topic is None and previous is None and found and COMPARE.search(text):
        topic = (
            "revenue"  # "how did October compare to September?": sales, the owner's first figure
        )
    followup = (
        previous is not None
        and previous.intent == "metrics"
        and _continues(text, topic, entities, found)
    )
    if followup and previous is not None:
        topic = _followed_topic(topic, previous, entities, text)
    if topic is None:
        return _unmetered(question, text, entities, previous)
    _periods(
        entities,
        text,
        found,
        day,
        previous if previous and previous.intent == "metrics" else None,
        topic,
    )
    if followup and previous is not None:
        same = topic == previous.topic
        entities = {**_inherited(previous.entities, entities, same_topic=same), **entities}
    if topic == "channel_share" and not entities.get("channel"):
        topic = "revenue"  # a share of something other than a channel: its revenue
    if topic in ("orders", "aov") and entities.get("group_by") in ("product", "channel"):
        topic = "revenue"  # orders are not grouped; revenue by product/channel carries the counts
    if entities.get("group_by") == "channel":
        entities.pop("channel", None)
    if topic not in ("expenses", "budgets"):
        entities.pop("category", None)
    if topic != "expenses":
        entities.pop("categories", None)
    if topic not in ("orders", "aov"):
        entities.pop("order_status", None)
    if topic not in ("leads", "lead_sources"):
        entities.pop("lead_source", None)
    elif entities.get("channel") in ("shopify", "api"):
        entities.pop("channel")
    entities = {k: v for k, v in entities.items() if v not in (None, [], {})}
    intent = cast(Intent, TOPIC_INTENT.get(topic, "metrics"))
    if topic in ("deal", "lookup"):
        intent = "search"
    return Parsed(question, intent, topic, entities, followup)


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def _topic(ranked: list[Any], text: str, entities: dict[str, Any]) -> str | None:
    ranked = [r for r in ranked if r.score >= 1.5]
    if not ranked:
        return None
    if KB_STRONG.search(text) and ranked[0].score < 7:
        return None
    best: str = ranked[0].topic
    if best in ("lookup", "deal") and (entities.get("companies") or entities.get("contacts")):
        return best
    if best == "lookup" and len(ranked) > 1:
        best = ranked[1].topic  # "what's up with ticket 17" asks about the ticket
    if best == "lookup":
        tail = LOOKUP_TAIL.search(text)
        if tail is None or OUT_OF_SCOPE.search(text):
            return None
        entities["lookup_query"] = tail.group("q").strip(" ?.!")
        return "lookup"
    if (
        best == "revenue"
        and (entities.get("contacts") or entities.get("companies"))
        and re.search(r"\bhow much (?:did|has|have) .*\b(?:spend|spent|buy|bought|order)", text)
    ):
        return "customer_spend" if re.search(r"\b(?:top|best|biggest)\b", text) else "revenue"
    if best in ("revenue", "top_customers") and re.search(
        r"\b(?:my|our) (?:top|best|biggest) (?:customer|client)\b.*\b(?:spend|spent|buy|bought)\b",
        text,
    ):
        return "customer_spend"
    if best == "expenses" and (entities.get("contacts") or entities.get("companies")):
        return "revenue"
    if best == "overdue_tasks" and re.search(r"\binvoices?\b|\bpay", text):
        return "overdue_invoices"
    if best == "low_stock" and re.search(r"\bif\b|\bwhat should i (?:re)?order\b", text):
        return "reorder"
    if best == "overdue_invoices" and re.search(r"\bif so\b|\bany\b.*\?.*\b(?:list|show)\b", text):
        return "overdue_check"
    if best == "tickets" and ents.ticket_number(text):
        return "ticket"
    if best == "deal" and not re.search(r"\bdeal\b", text):
        return None
    if best == "contracts_due" and ONE_CONTRACT.search(text) and not SOME_CONTRACTS.search(text):
        return None  # one named contract: its document says when (kb.answer)
    return best


def _continues(text: str, topic: str | None, entities: dict[str, Any], found: list[Any]) -> bool:
    if FOLLOW_CUE.search(text):
        return True
    if topic is None:
        filters = {k for k in entities if k not in ("category", "amount", "deal_query")}
        return bool(found or BEFORE.search(text) or COMPARE.search(text) or filters)
    return False


def _followed_topic(
    topic: str | None, previous: Parsed, entities: dict[str, Any], text: str
) -> str:
    if topic is not None:
        return topic
    if entities.get("group_by") in ("product", "channel") and previous.topic in ("orders", "aov"):
        return "revenue"  # orders are not grouped; revenue by product/channel carries the counts
    if previous.topic == "leads" and re.search(r"\bwhere\b.*\bfrom\b|\bsources?\b", text):
        return "lead_sources"
    if previous.topic in ("overview", "customer_spend", "reorder", "overdue_check"):
        return previous.topic
    return previous.topic


def _inherited(old: dict[str, Any], new: dict[str, Any], *, same_topic: bool) -> dict[str, Any]:
    """What a follow-up keeps from the question before: the filters, not the answer's
    shape (a new grouping or top N replaces the old)."""
    keep = ["period", "products", "contacts", "companies", "channel", "currency", "category",
            "priority", "status"]  # fmt: skip
    if same_topic:
        keep += ["group_by", "interval", "top_n", "by"]
    return {k: old[k] for k in keep if k in old and k not in new}


def _periods(
    entities: dict[str, Any],
    text: str,
    found: list[Any],
    day: dt.date,
    previous: Parsed | None,
    topic: str,
) -> None:
    """Sets ``period`` and ``compare``: the first period named is the one asked about;
    one named after "vs"/"compared to" (or "the month before", "last year" after a
    comparison word) is the one to compare with."""
    before = previous.period() if previous else None
    cmp_at = None if entities.pop("versus", None) else COMPARE.search(text)
    split = cmp_at.start() if cmp_at is not None else None
    if re.match(r"^(?:can you |please |let's )?(?:compare|comparison)", text):
        split = found[1].span[0] if len(found) > 1 else 0
    main: Period | None = None
    other: Period | None = None
    for f in found:
        if split is not None and f.span[0] >= split:
            other = other or f.period
        elif main is None:
            main = f.period
        else:
            other = other or f.period
    relative = BEFORE.search(text)
    if main is not None and other is not None and other.start > main.start:
        main, other = other, main  # both named: the later is compared with the earlier
    year_on_year = (other is not None and other.label == "last year") or bool(
        YEAR_OVER_YEAR.search(text)
    )
    if main is None and before is None and year_on_year and (cmp_at or YEAR_OVER_YEAR.search(text)):
        # "is revenue up on last year?": the year so far against the same days last year
        main = Period(dt.date(day.year, 1, 1), day, "this year so far", "year")
    if main is None:
        main = before.before() if relative and not cmp_at and before is not None else before
    default = main is None
    if main is None:
        main = month(day.year, day.month, label="this month", today=day)
    if other is not None and other.label == "last year" and not main.whole_year():
        other = main.year_earlier()
    if other is None and YEAR_OVER_YEAR.search(text):
        other = main.year_earlier()
    if other is None and cmp_at is not None:
        other = main.before() if not re.search(r"\blast year\b", text) else main.year_earlier()
    if other is None and relative and cmp_at is None and found:
        other = main.before()
    if other is None and GROWTH.search(text) and topic in DATED:
        other = main.before()
    if topic in DATED or (topic in ("forecast",) and found):
        entities["period"] = main.to_dict() | ({"default": True} if default else {})
        if other is not None and other != main:
            entities["compare"] = other.to_dict()
    elif found and topic not in ("low_stock", "stock_value", "pipeline", "receivables"):
        entities["period"] = main.to_dict()


def _unmetered(
    question: str, text: str, entities: dict[str, Any], previous: Parsed | None
) -> Parsed:
    """No metric topic: a lookup of a named record, a question for the knowledge base,
    or something the business's data cannot answer."""
    named = {k: entities[k] for k in ("contacts", "companies", "products") if entities.get(k)}
    documents = bool(KB_CUES.search(text) or KB_STRONG.search(text))
    if named and len(text.split()) <= 8 and not documents:
        return Parsed(question, "search", "lookup", named)
    if previous is not None and previous.topic == "kb" and FOLLOW_CUE.match(text):
        query = re.sub(r"^(?:and|what about|how about|also)\s+(?:the\s+)?", "", text).strip(" ?")
        return Parsed(question, "search", "kb", {"query": query}, followup=True)
    if documents or re.search(r"\b(?:our|we|us|my|company|customers?)\b", text):
        return Parsed(question, "search", "kb", {"query": kb_query(question)})
    return Parsed(question, "out_of_scope", "out_of_scope", {})


_PLACES = (
    r"(?:the |our |my |your )?(?:knowledge ?base|kb|docs|documents|documentation|wiki|"
    r"handbook|help ?cent(?:er|re)|faqs?|policies|files|notes|intranet)"
)
_COMMAND_HEAD = re.compile(
    r"^(?:(?:hey|ok|okay|so),? )?(?:please,? |can you |could you |would you |will you |pls |"
    r"i (?:need|want) (?:you )?to |i'd like (?:you )?to |let's |help me )?"
    r"(?:search|look(?: it)?(?: up)?|look through|check|find|query|consult|scan|browse|dig)(?: me)?"
    rf"(?: (?:in|on|through|into))?(?: {_PLACES})?(?: (?:for|about|on|regarding|to see))?"
    r"(?: (?:info(?:rmation)?|anything|what it says|what they say|details|something) "
    r"(?:on|about|regarding))?\s*:?\s+",
    re.IGNORECASE,
)
_ASK_PLACE = re.compile(
    rf"^(?:what|anything) (?:does|do|did|is|in) {_PLACES} (?:say|says|have|has|mention)?"
    r"\s*(?:about|on|regarding|for)\s+|^according to {_PLACES},?\s+".replace("{_PLACES}", _PLACES),
    re.IGNORECASE,
)
_PLACE_TAIL = re.compile(
    rf",?\s+(?:in|from|on|using|per|according to) {_PLACES}\s*(?P<end>[?.!]*)$", re.IGNORECASE
)


def kb_query(question: str) -> str:
    """What to look up in the documents: the question without the words that only say
    where to look ("search the knowledge base for shipping times" asks about shipping
    times). A question that is only such words stays as it was."""
    text = " ".join(question.split())
    stripped = _ASK_PLACE.sub("", text, count=1)
    if stripped == text:
        stripped = _COMMAND_HEAD.sub("", text, count=1)
    stripped = _PLACE_TAIL.sub(lambda m: m.group("end"), stripped).strip(" ,:")
    if not re.findall(r"\w+", stripped) or re.fullmatch(_PLACES, stripped, re.IGNORECASE):
        return text
    return stripped[:1].upper() + stripped[1:] if stripped != text else text
