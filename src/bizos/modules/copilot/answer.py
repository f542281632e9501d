"""The answer in words from the tools' outcomes: each outcome's own words joined, the
difference and percentage change for a comparison, failures said plainly, and small talk.
Every number written is a figure's value (``unfigured_numbers`` checks it)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from pydantic import BaseModel

from bizos.core.money import cents, spoken
from bizos.core.phrases import counted
from bizos.core.tools import Figure, SourceRef, numbers_in
from bizos.modules.copilot.parsing import Parsed
from bizos.modules.copilot.steps import Outcome

TENTH = Decimal("0.1")
CAPABILITIES = (
    "I can answer questions about your business from its own data: revenue, orders and "
    "average order value; best customers and best sellers; stock value and what is running "
    "low; receivables, overdue invoices and refunds; expenses, budgets and gross profit; the "
    "pipeline, the forecast, leads and hot leads; deals, contacts and companies; support "
    "tickets, SLA breaches and response times; your tasks; and your documents and policies. "
    'I can compare periods ("this month vs last month") and follow up ("and the month '
    'before?", "only Shopify"). I can also propose a task, a note, a deal move, an email '
    "draft or a payment reminder for you to confirm."
)
SMALL_TALK = {
    "greeting": "Hello! Ask me about your sales, customers, stock, money owed, support or "
    'documents — for example "what\'s my revenue this month?".',
    "thanks": "You're welcome.",
    "goodbye": "Goodbye!",
    "help": CAPABILITIES,
}
OUT_OF_SCOPE = (
    "That is outside what I can answer: I only know this business's own data and documents "
    "(sales, customers, stock, invoices, expenses, deals, tickets, tasks and the knowledge "
    "base)."
)


@dataclass(frozen=True, slots=True)
class Composed:
    """The answer: its text, the figures stated (each with the outcome it came from) and
    the sources it rests on."""

    text: str
    figures: list[tuple[Figure, Outcome]] = field(default_factory=list)
    sources: list[SourceRef] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    def unfigured(self) -> list[Decimal]:
        """Numbers in ``text`` that no figure, name or period accounts for (should be
        none): the check an external model's words must pass too."""
        names = [
            *self.labels,
            *(f.label for f, _ in self.figures),
            *(s.title for s in self.sources),
        ]
        return unfigured_numbers(self.text, [f for f, _ in self.figures], names)


def compose(parsed: Parsed, outcomes: Iterable[Outcome] | Mapping[str, Outcome]) -> Composed:
    """The answer to ``parsed`` from the ``outcomes`` of its plan."""
    listed = list(outcomes.values()) if isinstance(outcomes, Mapping) else list(outcomes)
    if parsed.intent == "conversation":
        return Composed(SMALL_TALK.get(parsed.topic, CAPABILITIES))
    if parsed.intent == "out_of_scope":
        return Composed(OUT_OF_SCOPE)
    ran = [o for o in listed if not o.skipped]
    if not ran:
        return Composed(_nothing(parsed))
    parts: list[str] = []
    figures: list[tuple[Figure, Outcome]] = []
    sources: list[SourceRef] = []
    for outcome in ran:
        if outcome.error is not None:
            verb = "" if outcome.step.id == "action" else "get "  # "I couldn't move the deal"
            parts.append(f"I couldn't {verb}{outcome.step.label}: {outcome.error.rstrip('.')}.")
        elif outcome.proposal is not None:
            parts.append(f"{outcome.proposal.summary.rstrip('.')}. Confirm to go ahead.")
            figures.extend((f, outcome) for f in outcome.proposal.figures)
        elif outcome.said is not None:
            parts.append(outcome.said.text.strip())
            figures.extend((f, outcome) for f in outcome.said.figures)
            sources.extend(s for s in outcome.said.sources if s not in sources)
        elif outcome.result is not None and not _is_lookup_step(outcome):
            parts.append(f"I found {outcome.step.label} but cannot put it into words.")
    stage = _stage_asked(parsed, ran)
    if stage is not None:
        parts.insert(0, stage[0])
        figures[:0] = stage[1]
    derived = _net(parsed, ran) or _share(parsed, ran) or _categories(parsed, ran)
    if derived is not None:
        parts.insert(0, derived[0])
        figures[:0] = derived[1]
    change = _comparison(ran, "average" if parsed.topic == "aov" else "")
    if change is not None:
        parts.append(change[0])
        figures.extend(change[1])
    text = " ".join(p for p in parts if p)
    return Composed(text or _nothing(parsed), figures, sources, period_labels(parsed, ran))


def _stage_asked(
    parsed: Parsed, ran: list[Outcome]
) -> tuple[str, list[tuple[Figure, Outcome]]] | None:
    """ "How many deals are in negotiation?": the pipeline's count (and value) in that
    stage, said first, none included ("No open deal is in negotiation.")."""
    stage = parsed.entities.get("stage")
    outcome = next((o for o in ran if o.step.tool == "crm.pipeline" and o.result), None)
    if not isinstance(stage, str) or outcome is None or outcome.result is None:
        return None
    value = outcome.result.value
    data = value.model_dump() if isinstance(value, BaseModel) else value
    if not isinstance(data, dict):
        return None
    count, worth = 0, []
    for currency in data.get("by_currency") or []:
        for row in currency.get("stages") or []:
            if row.get("stage") == stage and row.get("count"):
                count += int(row["count"])
                worth.append((Decimal(row["amount"]), str(currency.get("currency"))))
    figures = [(Figure(f"open deals in {stage}", count, unit="deals"), outcome)]
    if count == 0:
        return f"No open deal is in {stage}.", figures
    figures += [(Figure(f"value of open deals in {stage} ({c})", a, c), outcome) for a, c in worth]
    amounts = " and ".join(spoken(a, c) for a, c in worth)
    verb = "is" if count == 1 else "are"
    return f"{counted(count, 'open deal')} {verb} in {stage}, worth {amounts}.", figures


CHANNEL_NAMES = {"shopify": "Shopify", "api": "wholesale", "deal": "deals"}


def _money(outcome: Outcome | None) -> dict[str, Figure]:
    """An answer's first money figure per currency."""
    found: dict[str, Figure] = {}
    for figure in outcome.said.figures if outcome is not None and outcome.said else []:
        if figure.currency is not None and figure.unit is None:
            found.setdefault(figure.currency, figure)
    return found


def _net(parsed: Parsed, ran: list[Outcome]) -> tuple[str, list[tuple[Figure, Outcome]]] | None:
    """ "Net revenue": revenue less refunds over the same days, per currency."""
    if parsed.topic != "net_revenue":
        return None
    by_id = {o.step.id: o for o in ran}
    revenue, refunds = by_id.get("revenue"), by_id.get("refunds")
    if revenue is None or revenue.said is None or refunds is None or refunds.said is None:
        return None
    took, gave = _money(revenue), _money(refunds)
    said, figures = [], []
    for currency in sorted(set(took) | set(gave)):
        a = Decimal(took[currency].value) if currency in took else Decimal("0.00")
        b = Decimal(gave[currency].value) if currency in gave else Decimal("0.00")
        net = cents(a - b)
        period = (took.get(currency) or gave[currency]).period
        figures.append(
            (Figure(f"revenue less refunds ({currency})", net, currency, None, period), revenue)
        )
        said.append(spoken(net, currency))
    if not said:
        return None
    when = str((parsed.entities.get("period") or {}).get("label") or "the period")
    return f"Revenue less refunds (net revenue) for {when}: {' and '.join(said)}.", figures


def _share(parsed: Parsed, ran: list[Outcome]) -> tuple[str, list[tuple[Figure, Outcome]]] | None:
    """ "What percentage of revenue comes from wholesale": the channel's revenue, the
    total and its share (one decimal), per currency."""
    channel = parsed.entities.get("channel")
    outcome = next((o for o in ran if o.step.tool == "commerce.revenue" and o.result), None)
    if parsed.topic != "channel_share" or not isinstance(channel, str) or outcome is None:
        return None
    value = outcome.result.value if outcome.result is not None else None
    data = value.model_dump() if isinstance(value, BaseModel) else value
    if not isinstance(data, dict):
        return None
    name, said, figures = CHANNEL_NAMES.get(channel, channel), [], []
    for currency, total in (data.get("totals") or {}).items():
        total = Decimal(total)
        part = sum(
            (Decimal(r["revenue"]) for r in data.get("rows") or []
             if r.get("currency") == currency and r.get("key") == channel),
            Decimal("0.00"),
        )  # fmt: skip
        pct = (
            (part / total * 100).quantize(TENTH, rounding=ROUND_HALF_UP)
            if total
            else Decimal("0.0")
        )
        figures += [
            (Figure(f"{name} revenue ({currency})", cents(part), currency), outcome),
            (Figure(f"total revenue ({currency})", cents(total), currency), outcome),
            (Figure(f"{name} share of revenue ({currency})", pct, None, "%"), outcome),
        ]
        said.append(f"{pct}% ({spoken(cents(part), currency)} of {spoken(cents(total), currency)})")
    if not said:
        return None
    return f"{name.capitalize()} brought in {' and '.join(said)} of revenue.", figures


def _categories(
    parsed: Parsed, ran: list[Outcome]
) -> tuple[str, list[tuple[Figure, Outcome]]] | None:
    """Two expense categories over the same days: which is more, and by how much."""
    steps = [o for o in ran if o.step.id.startswith("category") and o.said is not None]
    if parsed.topic != "expenses" or len(steps) != 2:
        return None
    (a_out, b_out), names = (
        steps,
        [str(o.step.args["category"]) if isinstance(o.step.args, dict) else "" for o in steps],
    )
    a_money, b_money = _money(a_out), _money(b_out)
    currency = next(iter(a_money or b_money), None)
    if currency is None:
        return None
    zero = Decimal("0.00")
    a = Decimal(a_money[currency].value) if currency in a_money else zero
    b = Decimal(b_money[currency].value) if currency in b_money else zero
    diff = cents(abs(a - b))
    when = str((parsed.entities.get("period") or {}).get("label") or "the period")
    figures = [
        (Figure(f"{names[0]} expenses ({currency})", cents(a), currency), a_out),
        (Figure(f"{names[1]} expenses ({currency})", cents(b), currency), b_out),
        (
            Figure(f"difference between {names[0]} and {names[1]} ({currency})", diff, currency),
            a_out,
        ),
    ]
    if a == b:
        return (
            f"You spent the same on {names[0]} and {names[1]} {when}: "
            f"{spoken(cents(a), currency)} each.",
            figures,
        )
    more, less = (names[0], names[1]) if a > b else (names[1], names[0])
    return (
        f"You spent {spoken(diff, currency)} more on {more} than on {less} {when} "
        f"({more} {spoken(cents(max(a, b)), currency)}; "
        f"{less} {spoken(cents(min(a, b)), currency)}).",
        figures,
    )


def period_labels(parsed: Parsed, outcomes: Iterable[Outcome] = ()) -> list[str]:
    """The periods an answer may name in words ("March 2026", "Q3 2026") and the steps'
    labels, longest first so a checker removes "Q3 2026" before "2026"."""
    labels = {
        str(parsed.entities[k]["label"]) for k in ("period", "compare") if parsed.entities.get(k)
    }
    labels.update(o.step.label for o in outcomes)
    return sorted(labels, key=len, reverse=True)


def _is_lookup_step(outcome: Outcome) -> bool:
    return outcome.step.id != "action" and outcome.step.tool.endswith("_lookup")


def _nothing(parsed: Parsed) -> str:
    if parsed.entities.get("cannot"):
        return str(parsed.entities["cannot"])
    action = parsed.entities.get("action") or {}
    if action.get("missing"):
        return f"I couldn't do that: {action['missing']}."
    return "I have no data to answer that."


def _comparison(
    ran: list[Outcome], prefer: str = ""
) -> tuple[str, list[tuple[Figure, Outcome]]] | None:
    """The change from the ``previous`` step's main figure to the ``current`` one's, of
    the same currency and unit, said with the periods as subjects ("November 2026 was up
    $39,623.36 (+85.2%) on October 2026."). The difference is stated as a size (figure
    "increase in revenue" 39623.36); the percentage keeps its sign ("-10.0%", figure
    -10.0) and is left out against nothing, where the sentence says there was none."""
    by_id = {o.step.id: o for o in ran}
    now, then = by_id.get("current"), by_id.get("previous")
    if now is None or then is None or now.said is None or then.said is None:
        return None
    pairs = _pair(now.said.figures, then.said.figures, prefer)
    if pairs is None:
        return None
    a, b = pairs
    diff = Decimal(a.value) - Decimal(b.value)
    size: Decimal | int
    if a.currency is not None:
        size = cents(abs(diff))
        shown = spoken(size, a.currency)
    else:
        size = (
            int(abs(diff)) if isinstance(a.value, int) and isinstance(b.value, int) else abs(diff)
        )
        shown = f"{size:,}" + (f" {a.unit}" if a.unit else "")
    current, since = _period_name(now), _period_name(then)
    subject = f"{current[:1].upper()}{current[1:]} {_verb(current)}"
    if diff == 0:
        figure = Figure(f"change in {a.label}", size, a.currency, a.unit, a.period)
        return f"{subject} unchanged from {since}.", [(figure, now)]
    rise = diff > 0
    label = f"{'increase' if rise else 'decrease'} in {a.label}"
    extra = [(Figure(label, size, a.currency, a.unit, a.period), now)]
    text = f"{subject} {'up' if rise else 'down'} {shown}"
    if Decimal(b.value) != 0:
        pct = (diff / abs(Decimal(b.value)) * 100).quantize(TENTH, rounding=ROUND_HALF_UP)
        extra.append((Figure(f"percentage change in {a.label}", pct, None, "%", a.period), now))
        return f"{text} ({'+' if pct > 0 else ''}{pct}%) on {since}.", extra
    return f"{text} on {since}; {_none_in(a, since)}.", extra


def _period_name(outcome: Outcome) -> str:
    """The period a comparison step covers, as the plan named it ("October 2026")."""
    return outcome.step.label.split(", ")[-1]


def _verb(period: str) -> str:
    """ "This month is", "October 2026 was", "the last 7 days were"."""
    if period.startswith(("this", "today")) or period.endswith(("so far", "to date")):
        return "are" if period.endswith(("days", "weeks")) else "is"
    return "were" if period.endswith(("days", "weeks", "months")) else "was"


def _none_in(figure: Figure, period: str) -> str:
    """ "there was no revenue in October 2025", "there were no orders last month"."""
    where = period if period.startswith(("last ", "this ")) else f"in {period}"
    if period.startswith("the same"):
        where = f"over {period}"
    if figure.unit and figure.currency is None:
        return f"there were no {figure.unit} {where}"
    noun = re.sub(r"\s*\([A-Z]{3}\)$", "", figure.label).strip().lower() or "value"
    return f"there was no {noun} {where}"


def _pair(now: list[Figure], then: list[Figure], prefer: str) -> tuple[Figure, Figure] | None:
    """The first figures of both answers that measure the same thing (same currency and
    unit), those whose label has ``prefer`` first ("average" for AOV). An answer that
    found nothing (all its figures zero: "no orders, so no revenue") stands as a zero of
    the other's main figure, so revenue is compared as revenue, not as orders."""
    if now and then and _all_zero(then) and not _all_zero(now):
        a = _main(now, prefer)
        return a, _counterpart(a, then)
    if now and then and _all_zero(now) and not _all_zero(then):
        b = _main(then, prefer)
        return _counterpart(b, now), b
    return _same_kind(now, then, prefer)


def _counterpart(figure: Figure, others: list[Figure]) -> Figure:
    """``others``' figure measuring what ``figure`` does, or a zero of it."""
    same = [o for o in others if (o.currency, o.unit) == (figure.currency, figure.unit)]
    return sorted(same, key=lambda o: o.label != figure.label)[0] if same else _zero_of(figure)


def _same_kind(now: list[Figure], then: list[Figure], prefer: str) -> tuple[Figure, Figure] | None:
    preferred = [a for a in now if prefer and prefer in a.label.lower()]
    for a in [*preferred, *now]:
        same = [b for b in then if a.currency == b.currency and a.unit == b.unit != "%"]
        for b in sorted(same, key=lambda b: b.label != a.label):
            return a, b
    return None


def _main(figures: list[Figure], prefer: str) -> Figure:
    """An answer's main figure: the preferred one, else the first money figure, else the
    first."""
    preferred = [f for f in figures if prefer and prefer in f.label.lower()]
    money = [f for f in figures if f.currency is not None]
    return (preferred or money or figures)[0]


def _all_zero(figures: list[Figure]) -> bool:
    return all(Decimal(f.value) == 0 for f in figures if f.unit != "%")


def _zero_of(figure: Figure) -> Figure:
    zero: Decimal | int = 0 if isinstance(figure.value, int) else Decimal("0.00")
    return Figure(figure.label, zero, figure.currency, figure.unit, None)


# --- the check: every number written is a figure ------------------------------------------


def unfigured_numbers(
    text: str, figures: Iterable[Figure], labels: Iterable[str] = ()
) -> list[Decimal]:
    """The numbers in ``text`` (read as :func:`bizos.core.tools.numbers_in` reads them:
    signed, dates and periods left out) that are neither the exact value of one of
    ``figures`` (money to the cent, a percentage to one decimal) nor a number inside one of
    ``labels`` (names, figure labels, source titles, the periods the question named)."""
    values: set[Decimal] = set()
    for figure in figures:
        value = Decimal(figure.value)
        values.update({value, cents(value)})
        if figure.unit == "%":
            values.add(value.quantize(TENTH, rounding=ROUND_HALF_UP))
    in_labels = {abs(n) for n in numbers_in(" ".join(labels))}
    return [n for n in numbers_in(text) if n not in values and abs(n) not in in_labels]
