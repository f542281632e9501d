"""From what a question asks to the tool calls that answer it: one step for a plain
question, the same tool twice for a comparison, parallel steps for an overview,
sequential steps whose arguments come from an earlier answer, and conditional steps."""

# ruff: noqa: E501  (pattern tables and phrasing tables read best one entry a line)

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from bizos.core.tools import MAX_DAYS
from bizos.modules.copilot.parsing import Parsed
from bizos.modules.copilot.steps import Outcome, Outcomes, Plan, Step

__all__ = ["Outcome", "Outcomes", "Plan", "Step", "first_record", "has_rows", "plan"]

# topic -> (tool, label); the arguments come from the entities (see _args).
SIMPLE: dict[str, tuple[str, str]] = {
    "revenue": ("commerce.revenue", "revenue"),
    "orders": ("commerce.orders", "orders"),
    "aov": ("commerce.orders", "average order value"),
    "top_customers": ("commerce.top_customers", "top customers"),
    "top_products": ("commerce.top_products", "top products"),
    "stock_value": ("commerce.stock_value", "stock value"),
    "low_stock": ("commerce.low_stock", "low stock"),
    "receivables": ("billing.receivables", "receivables"),
    "overdue_invoices": ("billing.overdue_invoices", "overdue invoices"),
    "refunds": ("billing.refunds", "refunds"),
    "expenses": ("finance.expenses", "expenses"),
    "budgets": ("finance.budgets", "budgets"),
    "profit": ("finance.gross_profit", "gross profit"),
    "pipeline": ("crm.pipeline", "pipeline"),
    "forecast": ("crm.forecast", "forecast"),
    "leads": ("crm.leads", "leads"),
    "lead_sources": ("crm.leads", "lead sources"),
    "hot_leads": ("crm.hot_leads", "hot leads"),
    "deal": ("crm.deal_lookup", "deal"),
    "next_actions": ("crm.next_best_actions", "next best actions"),
    "tickets": ("support.ticket_counts", "tickets"),
    "sla": ("support.sla_breaches", "SLA breaches"),
    "first_response": ("support.first_response", "first response time"),
    "ticket": ("support.ticket_lookup", "ticket"),
    "my_tasks": ("work.my_tasks", "my tasks"),
    "overdue_tasks": ("work.overdue_tasks", "overdue tasks"),
    "contracts_due": ("kb.contracts_due", "contracts due"),
    "kb": ("kb.answer", "knowledge base"),
}
DATED = {"commerce.revenue", "commerce.orders", "commerce.top_customers", "commerce.top_products",
         "billing.refunds", "finance.expenses", "finance.gross_profit", "crm.leads",
         "support.ticket_counts", "support.sla_breaches", "support.first_response"}  # fmt: skip
WITH_CURRENCY = {"commerce.revenue", "commerce.orders", "commerce.top_customers",
                 "commerce.top_products", "commerce.stock_value", "billing.receivables",
                 "billing.overdue_invoices", "billing.refunds", "finance.expenses",
                 "finance.gross_profit", "crm.pipeline", "crm.forecast"}  # fmt: skip


def plan(parsed: Parsed) -> Plan:
    """The steps that answer ``parsed`` (none for conversation and out-of-scope)."""
    if parsed.intent in ("conversation", "out_of_scope"):
        return Plan([])
    if parsed.intent == "action":
        return _action(parsed.entities.get("action") or {})
    special = {
        "overview": _overview,
        "customer_spend": _customer_spend,
        "net_revenue": _net_revenue,
        "channel_share": _channel_share,
        "reorder": _reorder,
        "overdue_check": _overdue_check,
        "lookup": _lookup,
    }
    if parsed.topic in special:
        return special[parsed.topic](parsed)
    if parsed.topic not in SIMPLE:
        return Plan([])
    tool, label = SIMPLE[parsed.topic]
    args = _args(parsed, tool)
    e = parsed.entities
    if (
        tool in ("commerce.revenue", "commerce.orders")
        and e.get("companies")
        and not e.get("contacts")
    ):
        # sales are filtered by contact, not company: say what is known of the company
        company = e["companies"][0]["name"]
        return Plan([Step("answer", "crm.company_lookup", {"query": company}, company)])
    if tool == "commerce.revenue" and len(e.get("products", [])) > 1:
        steps = [
            Step(f"product{i}", tool, {**args, "product_id": p["id"]}, f"revenue of {p['name']}",
                 parallel_group="products")
            for i, p in enumerate(e["products"][:4])
        ]  # fmt: skip
        return Plan(steps)
    if tool == "finance.expenses" and len(e.get("categories", [])) == 2:
        steps = [
            Step(f"category{i}", tool, {**args, "category": c}, f"{c} expenses",
                 parallel_group="categories")
            for i, c in enumerate(e["categories"])
        ]  # fmt: skip
        return Plan(steps)
    compare = e.get("compare")
    if compare and tool in DATED:
        before = {**args, "from": compare["from"], "to": compare["to"]}
        # "current"/"previous" tell the answer to state the change; a ranking is shown
        # for both periods side by side instead ("first"/"second")
        now, then = ("current", "previous") if _totals(parsed) else ("first", "second")
        return Plan(
            [
                Step(
                    now,
                    tool,
                    args,
                    f"{label}, {e['period']['label']}",
                    parallel_group="compare",
                ),
                Step(
                    then,
                    tool,
                    before,
                    f"{label}, {compare['label']}",
                    parallel_group="compare",
                ),
            ],
            compare=(now, then) if now == "current" else None,
        )
    return Plan([Step("answer", tool, args, label)])


def _totals(parsed: Parsed) -> bool:
    """Whether the answer leads with one total whose change means something (revenue,
    a count, an average), not a ranking or a breakdown."""
    if parsed.topic in ("revenue",):
        return parsed.entities.get("group_by") in (None, "period")
    return parsed.topic in COMPARABLE


COMPARABLE = {"orders", "aov", "refunds", "expenses", "profit", "leads", "tickets", "sla",
              "first_response"}  # fmt: skip


# The most each tool lists (its input model's bound): a larger "top N" is cut to it.
MAX_LIMIT = {"crm.hot_leads": 50, "work.my_tasks": 50, "work.overdue_tasks": 50,
             "crm.next_best_actions": 20}  # fmt: skip


def _span(e: dict[str, Any], tool: str) -> dict[str, Any]:
    """``from``/``to`` of the period, at most the tools' longest range (``MAX_DAYS``)."""
    period = e.get("period")
    if not period:
        return {}
    start = period["from"]
    end = dt.date.fromisoformat(period["to"])
    if (end - dt.date.fromisoformat(start)).days > MAX_DAYS:
        start = (end - dt.timedelta(days=MAX_DAYS)).isoformat()
    waiting = tool == "support.ticket_counts" or (
        tool == "commerce.orders" and e.get("order_status") == "backordered"
    )  # open tickets and backorders with no period named: everything still waiting
    if waiting and period.get("label") == "this month" and period.get("default"):
        start = (dt.date.fromisoformat(period["to"]) - dt.timedelta(days=364)).isoformat()
    return {"from": start, "to": period["to"]}


def _args(parsed: Parsed, tool: str) -> dict[str, Any]:
    """The tool's arguments from the entities."""
    e = parsed.entities
    args: dict[str, Any] = _span(e, tool) if tool in DATED or tool == "kb.contracts_due" else {}
    if tool == "crm.forecast" and e.get("period") and not e["period"].get("default"):
        args = {"from": e["period"]["from"], "to": e["period"]["to"]}
    if tool in WITH_CURRENCY and e.get("currency"):
        args["currency"] = e["currency"]
    limit = e.get("top_n")
    if tool == "commerce.revenue":
        args["group_by"] = (
            e.get("group_by") if e.get("group_by") in ("product", "channel") else "period"
        )
        if e.get("interval"):
            args["interval"] = e["interval"]
    if tool in ("commerce.revenue", "commerce.orders"):
        if e.get("channel"):
            args["source"] = e["channel"]
        if e.get("products"):
            args["product_id"] = e["products"][0]["id"]
        if e.get("contacts"):
            args["contact_id"] = e["contacts"][0]["id"]
    if tool == "commerce.orders" and e.get("order_status"):
        args["status"] = e["order_status"]  # counted exactly, cancelled/failed included
    if tool in ("commerce.top_customers", "commerce.top_products", "crm.hot_leads"):
        args["limit"] = limit or 5
    if tool == "commerce.top_products":
        args["by"] = e.get("by", "revenue")
    if tool in (
        "commerce.low_stock",
        "billing.overdue_invoices",
        "work.my_tasks",
        "work.overdue_tasks",
    ):
        args["limit"] = limit or 20
    if tool in ("finance.expenses", "finance.budgets") and e.get("category"):
        args["category"] = e["category"]
    if tool == "crm.leads":
        group = e.get("interval") if e.get("group_by") == "period" else e.get("group_by")
        args["group_by"] = "source" if parsed.topic == "lead_sources" else group or "source"
        if args["group_by"] not in ("source", "status", "day", "week", "month"):
            args["group_by"] = "source"
        if e.get("lead_source"):
            args["source"] = e["lead_source"]
    supported = ("support.ticket_counts", "support.sla_breaches", "support.first_response")
    if tool in supported and e.get("priority"):
        args["priority"] = e["priority"]
    if tool == "support.ticket_counts" and e.get("status") in (
        "new",
        "pending",
        "resolved",
        "closed",
    ):
        args["status"] = e["status"]
    if tool == "support.ticket_lookup":
        args["number"] = e.get("ticket_number", "")
    if tool == "crm.deal_lookup":
        args["query"] = e.get("deal_query") or _names(e) or parsed.question
    if tool == "crm.next_best_actions":
        args["limit"] = limit or 5
        if e.get("contacts"):
            args["contact_id"] = e["contacts"][0]["id"]
    if tool == "work.overdue_tasks":
        args["mine"] = bool(re.search(r"\b(?:my|i|me|mine)\b", parsed.question.lower()))
    if tool == "kb.answer":
        args = {"question": e.get("query") or parsed.question, "limit": 5}
    if "limit" in args:
        args["limit"] = min(args["limit"], MAX_LIMIT.get(tool, 100))
    return args


def _names(e: dict[str, Any]) -> str | None:
    for key in ("companies", "contacts", "products"):
        if e.get(key):
            return str(e[key][0]["name"])
    return None


def _overview(parsed: Parsed) -> Plan:
    e = parsed.entities
    dated = _span(e, "commerce.revenue")
    currency = {"currency": e["currency"]} if e.get("currency") else {}
    steps = [
        Step("revenue", "commerce.revenue", {**dated, **currency, "group_by": "period"}, "revenue", parallel_group="overview"),
        Step("orders", "commerce.orders", {**dated, **currency}, "orders", parallel_group="overview"),
        Step("tickets", "support.ticket_counts", _span({"period": {**e.get("period", {}), "default": True, "label": "this month"}}, "support.ticket_counts") if e.get("period") else {}, "open tickets", parallel_group="overview"),
        Step("overdue", "billing.overdue_invoices", {**currency, "limit": 5}, "overdue invoices", parallel_group="overview"),
    ]  # fmt: skip
    return Plan(steps)


def _net_revenue(parsed: Parsed) -> Plan:
    """Revenue and refunds over the same days, side by side: the answer states revenue
    less refunds."""
    e = parsed.entities
    revenue = {**_args(parsed, "commerce.revenue"), "group_by": "period"}
    revenue.pop("interval", None)
    refunds = _args(parsed, "billing.refunds")
    return (
        Plan(
            [
                Step("revenue", "commerce.revenue", revenue, "revenue", parallel_group="net"),
                Step("refunds", "billing.refunds", refunds, "refunds", parallel_group="net"),
            ]
        )
        if e.get("period")
        else Plan([])
    )


def _channel_share(parsed: Parsed) -> Plan:
    """Revenue by channel over the period: the answer states the asked channel's share."""
    args = {**_args(parsed, "commerce.revenue"), "group_by": "channel"}
    args.pop("source", None)
    args.pop("interval", None)
    return Plan([Step("answer", "commerce.revenue", args, "revenue by channel")])


def first_record(step_id: str, field: str | None = None) -> Callable[[Outcomes], Any]:
    """The first id behind step ``step_id``'s answer (or the value's ``field`` of its
    first row): for a step that acts on what an earlier one found."""

    def pick(outcomes: Outcomes) -> Any:
        outcome = outcomes.get(step_id)
        result = outcome.result if outcome is not None else None
        if result is None:
            raise LookupError(f"{step_id} gave no answer")
        if field is not None:
            for row in _rows(result.value):
                value = row.get(field)
                if value:
                    return value
            raise LookupError(f"nothing found for {step_id}")
        if not result.records:
            raise LookupError(f"nothing found for {step_id}")
        return result.records[0]

    return pick


def _rows(value: Any) -> list[dict[str, Any]]:
    data = value.model_dump() if isinstance(value, BaseModel) else value
    if isinstance(data, dict):
        for item in data.values():
            if isinstance(item, list) and item and isinstance(item[0], dict):
                return item
    if isinstance(data, list):
        return [d for d in data if isinstance(d, dict)]
    return []


def has_rows(step_id: str) -> Callable[[Outcomes], bool]:
    """True when step ``step_id`` found anything (records, or rows in its value)."""

    def check(outcomes: Outcomes) -> bool:
        outcome = outcomes.get(step_id)
        result = outcome.result if outcome is not None else None
        if result is None:
            return False
        total = result.records_total if result.records_total is not None else len(result.records)
        return total > 0 or bool(_rows(result.value))

    return check


def _customer_spend(parsed: Parsed) -> Plan:
    e = parsed.entities
    span = _span(e, "commerce.revenue")
    pick = first_record("top", "contact_id")
    top = Step("top", "commerce.top_customers", {**span, "limit": 1}, "top customer")
    spend = Step(
        "spend",
        "commerce.revenue",
        lambda outcomes: {**span, "group_by": "period", "contact_id": pick(outcomes)},
        "what the top customer spent",
        after=("top",),
    )
    return Plan([top, spend])


def _reorder(parsed: Parsed) -> Plan:
    low = Step("low", "commerce.low_stock", {"limit": 20}, "low stock")
    end = (
        dt.date.fromisoformat(parsed.entities["period"]["to"])
        if parsed.entities.get("period")
        else None
    )
    span = {"from": (end - dt.timedelta(days=29)).isoformat(), "to": end.isoformat()} if end else {}
    selling = Step(
        "selling", "commerce.top_products", {**span, "limit": 5, "by": "quantity"},
        "what sells fastest", after=("low",), when=has_rows("low"),
    )  # fmt: skip
    return Plan([low, selling])


def _overdue_check(parsed: Parsed) -> Plan:
    owed = Step("owed", "billing.receivables", {}, "receivables")
    listed = Step(
        "overdue", "billing.overdue_invoices", {"limit": 20}, "overdue invoices",
        after=("owed",), when=has_rows("owed"),
    )  # fmt: skip
    return Plan([owed, listed])


def _lookup(parsed: Parsed) -> Plan:
    e = parsed.entities
    steps = []
    for key, tool in (("companies", "crm.company_lookup"), ("contacts", "crm.contact_lookup")):
        for i, item in enumerate(e.get(key, [])[:2]):
            steps.append(
                Step(
                    f"{key}{i}",
                    tool,
                    {"query": item["name"]},
                    item["name"],
                    parallel_group="lookup",
                )
            )
    if e.get("lookup_query"):  # a name the vocabulary does not hold: let the lookups search
        query = e["lookup_query"]
        steps += [
            Step(
                "companies0", "crm.company_lookup", {"query": query}, query, parallel_group="lookup"
            ),
            Step(
                "contacts0", "crm.contact_lookup", {"query": query}, query, parallel_group="lookup"
            ),
        ]
    for i, item in enumerate(e.get("products", [])[:2]):
        steps.append(
            Step(
                f"product{i}",
                "commerce.revenue",
                {"product_id": item["id"], "group_by": "period"},
                item["name"],
                parallel_group="lookup",
            )
        )
    return Plan(steps)


def _action(action: dict[str, Any]) -> Plan:
    kind, args = action.get("kind"), dict(action.get("args") or {})
    if action.get("missing"):
        return Plan([])
    if kind == "task.create":
        return Plan([Step("action", "work.create_task", args, "create a task")])
    if kind == "email.draft":
        args.pop("contact_name", None)
        return Plan([Step("action", "crm.draft_email", args, "draft an email")])
    if kind == "dunning":
        return Plan(
            [
                Step(
                    "action",
                    "billing.send_dunning_reminder",
                    {"invoice_id": args["invoice_number"]},
                    "send a payment reminder",
                )
            ]
        )
    if kind == "deal.move":
        find = Step("deal", "crm.deal_lookup", {"query": args["deal_query"]}, "find the deal")
        pick = first_record("deal")
        move = Step(
            "action",
            "crm.move_deal",
            lambda o: {"deal_id": pick(o), "stage": args["stage"]},
            f"move the deal to {args['stage']}",
            after=("deal",),
        )
        return Plan([find, move])
    if kind == "note.add":
        body = args["body"]
        if args.get("record_type") == "deal":
            find = Step("deal", "crm.deal_lookup", {"query": args["deal_query"]}, "find the deal")
            pick = first_record("deal")
            note = Step(
                "action",
                "crm.add_note",
                lambda o: {"record_type": "deal", "record_id": pick(o), "body": body},
                "add a note",
                after=("deal",),
            )
            return Plan([find, note])
        fixed = {"record_type": args["record_type"], "record_id": args["record_id"], "body": body}
        return Plan([Step("action", "crm.add_note", fixed, "add a note")])
    return Plan([])
