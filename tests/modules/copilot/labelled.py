"""The labelled set: questions an owner, a sales rep or a support lead asks of the demo,
each with the intent it should be read as, the tool its plan should call, and where a
figure is asked for, the figure computed by SQL (``oracles``) that must be among the
answer's figures, exact to the cent.

A case with ``follows=True`` continues the conversation of the case before it.
``bench/copilot.py`` and ``test_labelled_set.py`` both run this list.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.modules.copilot import oracles as o
from tests.modules.copilot import periods as p
from tests.modules.copilot.oracles import Oracle


@dataclass(frozen=True)
class Case:
    question: str
    intent: str
    tool: str | None = None
    figure: Oracle | None = None
    follows: bool = False
    source: str | None = None  # a KB document the answer must cite
    span: str | None = None  # words the answer must contain
    action: str | None = None  # the action tool proposed

    def asked(self, names: dict[str, str]) -> str:
        """The question with the records it names filled in (``oracles.records``)."""
        return self.question.format(**names)


def metric(
    question: str, tool: str, figure: Oracle | None = None, *, follows: bool = False
) -> Case:
    return Case(question, "metrics", tool, figure, follows)


def kb(question: str, source: str, span: str | None = None) -> Case:
    return Case(question, "search", None, None, False, source, span)


def act(question: str, action: str) -> Case:
    return Case(question, "action", action=action)


def outside(question: str) -> Case:
    return Case(question, "out_of_scope")


def chat(question: str) -> Case:
    return Case(question, "conversation")


REV = "commerce.revenue"
ORD = "commerce.orders"

REVENUE = [
    metric("What's my revenue?", REV, o.revenue(p.this_month)),
    metric("What's my revenue this month?", REV, o.revenue(p.this_month)),
    metric("How much did we sell this month?", REV, o.revenue(p.this_month)),
    metric("sales this month", REV, o.revenue(p.this_month)),
    metric("Revenue last month?", REV, o.revenue(p.last_month)),
    metric("how much money did we make last month", REV, o.revenue(p.last_month)),
    metric("What were total sales in the previous month?", REV, o.revenue(p.last_month)),
    metric("What did we turn over in October?", REV, o.revenue(lambda t: p.named_month(t, 10))),
    metric("revenue in March", REV, o.revenue(lambda t: p.named_month(t, 3))),
    metric("Sales for Q3", REV, o.revenue(lambda t: p.quarter(t, 3))),
    metric("What was revenue in the third quarter?", REV, o.revenue(lambda t: p.quarter(t, 3))),
    metric("revenue last quarter", REV, o.revenue(p.last_quarter)),
    metric(
        "How much have we sold in the last 7 days?", REV, o.revenue(lambda t: p.last_days(t, 7))
    ),
    metric("sales over the past 30 days", REV, o.revenue(lambda t: p.last_days(t, 30))),
    metric("What did we sell yesterday?", REV, o.revenue(p.yesterday)),
    metric("Revenue year to date", REV, o.revenue(p.year_to_date)),
    metric("How much have we made so far this year?", REV, o.revenue(p.year_to_date)),
    metric("What was our revenue last year?", REV, o.revenue(p.last_year)),
    metric("Revenue since Black Friday", REV, o.revenue(p.since_black_friday)),
    metric("How much did Shopify bring in this month?", REV, o.revenue(p.this_month, "shopify")),
    metric("Shopify sales last month", REV, o.revenue(p.last_month, "shopify")),
    metric("wholesale revenue last month", REV, o.revenue(p.last_month, "api")),
    metric("How much revenue came from deals this year?", REV, o.revenue(p.year_to_date, "deal")),
    metric("this week's sales", REV, o.revenue(p.this_week)),
    metric("What did we sell last week?", REV, o.revenue(p.last_week)),
    metric("Revenue by channel last month", REV, o.revenue(p.last_month)),
    metric("Break down last month's revenue by product", REV, o.revenue(p.last_month)),
    metric(
        "how much did the Kenya Nyeri 1 kg sell for last month",
        REV,
        o.product_revenue("NW-KEN-NYERI-1K", p.last_month),
    ),
    metric(
        "Sales of house espreso blend 250g this year",
        REV,
        o.product_revenue("NW-HOUSE-ESP-250", p.year_to_date),
    ),
    metric(
        "revenue of NW-EQ-GRINDER in November",
        REV,
        o.product_revenue("NW-EQ-GRINDER", lambda t: p.named_month(t, 11)),
    ),
    metric("monthly revenue this year", REV, o.revenue(p.year_to_date)),
    metric("whats the revenue for november", REV, o.revenue(lambda t: p.named_month(t, 11))),
]

ORDERS = [
    metric("How many orders did we get this month?", ORD, o.order_count(p.this_month)),
    metric("Number of orders last month", ORD, o.order_count(p.last_month)),
    metric("how many orders came in yesterday", ORD, o.order_count(p.yesterday)),
    metric("How many Shopify orders this month?", ORD, o.order_count(p.this_month, "shopify")),
    metric("order count for the last 7 days", ORD, o.order_count(lambda t: p.last_days(t, 7))),
    metric("What's our average order value this month?", ORD, o.average_order(p.this_month)),
    metric("AOV last month", ORD, o.average_order(p.last_month)),
    metric("what is the average basket size this year", ORD, o.average_order(p.year_to_date)),
    metric("How many orders in Q3?", ORD, o.order_count(lambda t: p.quarter(t, 3))),
    metric("orders so far this year", ORD, o.order_count(p.year_to_date)),
]

CUSTOMERS_AND_PRODUCTS = [
    metric(
        "Who are my top customers this month?",
        "commerce.top_customers",
        o.top_customer_revenue(p.this_month),
    ),
    metric(
        "Top 5 customers last month", "commerce.top_customers", o.top_customer_revenue(p.last_month)
    ),
    metric(
        "who spent the most with us this year",
        "commerce.top_customers",
        o.top_customer_revenue(p.year_to_date),
    ),
    metric(
        "best 3 customers in Q3",
        "commerce.top_customers",
        o.top_customer_revenue(lambda t: p.quarter(t, 3)),
    ),
    metric(
        "What are our best sellers this month?",
        "commerce.top_products",
        o.top_product_revenue(p.this_month),
    ),
    metric("Top products last month", "commerce.top_products", o.top_product_revenue(p.last_month)),
    metric(
        "which product made the most money this year",
        "commerce.top_products",
        o.top_product_revenue(p.year_to_date),
    ),
    metric("top 3 products by units sold last month", "commerce.top_products"),
]

STOCK = [
    metric("What's our stock worth?", "commerce.stock_value", o.stock_value),
    metric("value of inventory on hand", "commerce.stock_value", o.stock_value),
    metric("How much is tied up in stock?", "commerce.stock_value", o.stock_value),
    metric("What's running low?", "commerce.low_stock"),
    metric("Which products need reordering?", "commerce.low_stock"),
    metric("anything out of stock?", "commerce.low_stock"),
    metric("low stock items", "commerce.low_stock"),
]

MONEY_OWED = [
    metric("Who owes us money?", "billing.receivables", o.receivables),
    metric("How much is outstanding in receivables?", "billing.receivables", o.receivables),
    metric("accounts receivable aging", "billing.receivables", o.receivables),
    metric("What are our unpaid invoices worth?", "billing.receivables", o.receivables),
    metric("Which invoices are overdue?", "billing.overdue_invoices", o.overdue_invoices),
    metric("how many invoices are past due", "billing.overdue_invoices", o.overdue_invoices),
    metric("late payers", "billing.overdue_invoices", o.overdue_invoices),
    metric("How much did we refund this year?", "billing.refunds", o.refunds(p.year_to_date)),
    metric("refunds last month", "billing.refunds", o.refunds(p.last_month)),
]

SPENDING = [
    metric("How much did we spend last month?", "finance.expenses", o.expenses(p.last_month)),
    metric("expenses this month", "finance.expenses", o.expenses(p.this_month)),
    metric(
        "How much did we spend on marketing this year?",
        "finance.expenses",
        o.expenses(p.year_to_date, "marketing"),
    ),
    metric(
        "what did shipping cost us last month",
        "finance.expenses",
        o.expenses(p.last_month, "shipping"),
    ),
    metric(
        "green coffee spend in Q3",
        "finance.expenses",
        o.expenses(lambda t: p.quarter(t, 3), "green coffee"),
    ),
    metric("costs by category last month", "finance.expenses", o.expenses(p.last_month)),
    metric("Are we over budget?", "finance.budgets"),
    metric("budget status", "finance.budgets"),
    metric("how much of the marketing budget is left", "finance.budgets"),
    metric(
        "What's our gross profit this month?", "finance.gross_profit", o.gross_profit(p.this_month)
    ),
    metric("profit last month", "finance.gross_profit", o.gross_profit(p.last_month)),
    metric(
        "Did we make money last quarter?", "finance.gross_profit", o.gross_profit(p.last_quarter)
    ),
]

SALES = [
    metric("What's in the pipeline?", "crm.pipeline", o.pipeline_value),
    metric("How much is our open pipeline worth?", "crm.pipeline", o.pipeline_value),
    metric("How many open deals do we have?", "crm.pipeline", o.open_deals),
    metric("deals by stage", "crm.pipeline", o.open_deals),
    metric("How many deals are in negotiation?", "crm.pipeline", o.deals_in_stage("negotiation")),
    metric("What's the sales forecast?", "crm.forecast"),
    metric("forecast for next month", "crm.forecast"),
    metric("How many new leads this month?", "crm.leads", o.leads(p.this_month)),
    metric("leads last week", "crm.leads", o.leads(p.last_week)),
    metric("Where do our leads come from?", "crm.leads"),
    metric("leads from instagram this year", "crm.leads", o.leads(p.year_to_date, "instagram")),
    metric(
        "how many trade show leads did we get last month",
        "crm.leads",
        o.leads(p.last_month, "trade_show"),
    ),
    metric("Who are the hottest leads?", "crm.hot_leads"),
    metric("show me hot leads", "crm.hot_leads"),
    metric("Tell me about {company}", "crm.company_lookup"),
    metric("What's going on with the {deal} deal?", "crm.deal_lookup"),
    metric("Who is {contact}?", "crm.contact_lookup"),
    metric("What should I do next with {contact}?", "crm.next_best_actions"),
]

SUPPORT = [
    metric("How many open tickets are there?", "support.ticket_counts", o.tickets_open()),
    metric("open support tickets", "support.ticket_counts", o.tickets_open()),
    metric("Any urgent tickets?", "support.ticket_counts", o.tickets_open("urgent")),
    metric("How many tickets did we get this month?", "support.ticket_counts"),
    metric("SLA breaches this month", "support.sla_breaches"),
    metric("Did we miss any SLAs last month?", "support.sla_breaches"),
    metric("How fast do we respond to customers?", "support.first_response"),
    metric("average first response time last month", "support.first_response"),
    metric("What's ticket {ticket} about?", "support.ticket_lookup"),
]

TASKS = [
    metric("What are my tasks?", "work.my_tasks"),
    metric("what's on my plate today", "work.my_tasks"),
    metric("What's overdue?", "work.overdue_tasks", o.overdue_tasks),
    metric("overdue tasks", "work.overdue_tasks", o.overdue_tasks),
    metric("Which contracts are up for renewal?", "kb.contracts_due"),
]

COMPARISONS = [
    metric(
        "Revenue this month vs last month",
        REV,
        o.difference(o.revenue(p.this_month), o.revenue(p.last_month)),
    ),
    metric("How does this month's revenue compare to last month?", REV, o.revenue(p.last_month)),
    metric("Compare sales in October and November", REV, o.revenue(lambda t: p.named_month(t, 10))),
    metric("orders this month compared with last month", ORD, o.order_count(p.last_month)),
    metric("Is revenue up on last year?", REV, o.revenue(p.last_year)),
    metric("expenses this month vs last month", "finance.expenses", o.expenses(p.last_month)),
    metric("How did Q3 compare with Q2?", REV, o.revenue(lambda t: p.quarter(t, 2))),
    metric("leads this month versus last month", "crm.leads", o.leads(p.last_month)),
]

FOLLOW_UPS = [
    metric("What was revenue last month?", REV, o.revenue(p.last_month)),
    metric("and the month before?", REV, o.revenue(lambda t: p.months_ago(t, 2)), follows=True),
    metric("only Shopify", REV, o.revenue(lambda t: p.months_ago(t, 2), "shopify"), follows=True),
    metric("How many orders this month?", ORD, o.order_count(p.this_month)),
    metric("what about last month?", ORD, o.order_count(p.last_month), follows=True),
    metric("Revenue this year", REV, o.revenue(p.year_to_date)),
    metric("break that down by product", REV, o.revenue(p.year_to_date), follows=True),
    metric("Sales last month", REV, o.revenue(p.last_month)),
    metric(
        "who was the biggest customer then?",
        "commerce.top_customers",
        o.top_customer_revenue(p.last_month),
        follows=True,
    ),
    metric("How much did we spend this month?", "finance.expenses", o.expenses(p.this_month)),
    metric(
        "and on marketing?", "finance.expenses", o.expenses(p.this_month, "marketing"), follows=True
    ),
    metric("Revenue in October", REV, o.revenue(lambda t: p.named_month(t, 10))),
    metric("how does that compare to last year?", REV, follows=True),
]

KNOWLEDGE = [
    kb("What's our refund policy?", "Returns and refunds"),
    kb("How long does a refund take?", "Returns and refunds"),
    kb("Can customers return opened coffee?", "Returns and refunds"),
    kb("How long is the warranty on the grinder?", "Equipment warranty"),
    kb("Do we ship internationally?", "Shipping and delivery"),
    kb("How do I pause my subscription?", "Subscription FAQ"),
    kb("What are the wholesale payment terms?", "Wholesale terms"),
    kb("what's the minimum wholesale order", "Wholesale terms"),
    kb("How should I brew with a French press?", "Brew guide"),
    kb("What do we do with customer data?", "Privacy notice"),
    kb(
        "When does the Finca La Esperanza agreement renew?", "Supply agreement — Finca La Esperanza"
    ),
    kb("search the knowledge base for shipping times", "Shipping and delivery"),
]

ACTIONS = [
    act("Create a task to call {contact} tomorrow", "work.create_task"),
    act("remind me to follow up with {company} on Friday", "work.create_task"),
    act("Add a note to {contact}: prefers decaf, call after lunch", "crm.add_note"),
    act("Move the {deal} deal to won", "crm.move_deal"),
    act("move {deal2} to negotiation", "crm.move_deal"),
    act("Draft an email to {contact} about the new espresso blend", "crm.draft_email"),
    act("Send a payment reminder for invoice {invoice}", "billing.send_dunning_reminder"),
    act("chase {invoice2}", "billing.send_dunning_reminder"),
]

OUT_OF_SCOPE = [
    outside("What's the weather in Paris?"),
    outside("Write me a poem about coffee"),
    outside("Who won the world cup?"),
    outside("What's the capital of Australia?"),
    outside("Tell me a joke"),
    outside("What's the price of bitcoin?"),
    outside("how tall is the eiffel tower"),
    outside("Translate hello into Spanish"),
]

CONVERSATION = [
    chat("Hi"),
    chat("thanks!"),
    chat("What can you do?"),
    chat("good morning"),
]

CASES: list[Case] = [
    *REVENUE,
    *ORDERS,
    *CUSTOMERS_AND_PRODUCTS,
    *STOCK,
    *MONEY_OWED,
    *SPENDING,
    *SALES,
    *SUPPORT,
    *TASKS,
    *COMPARISONS,
    *FOLLOW_UPS,
    *KNOWLEDGE,
    *ACTIONS,
    *OUT_OF_SCOPE,
    *CONVERSATION,
]
