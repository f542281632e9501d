"""Twelve months of sales history for the demo tenant, Northwind Coffee Roasters.

The CRM services stamp "now" on what they write, so the history is written here row by
row with the moments things happened: companies and their people, leads from every
source with their enrichment, scores, owners and outcomes, deals moving through the
pipeline (stage history with realistic days per stage, won and lost with reasons, an
open pipeline closing over the next months), tasks and notes. Each row has the domain
event the service would have appended (``occurred_at`` set to when it happened), so the
event log, contact timelines and reports tell the same story as the tables.

Outcomes carry a signal a scoring model can learn: bigger companies, and leads from
referrals and trade shows, win more often; cold outreach and free-mail addresses less.

The history is already handled: its events are recorded as processed for every event
subscriber, so starting the server does not replay twelve months of lead flows, task
reminders and notifications. Then the tenant's scoring targets are set and its first
model is trained on the year's outcomes. Everything is drawn from the ``random.Random``
handed in (ids aside), so the same seed and moment give the same history.
"""

from bizos.demo.crm.seed import seed_crm_history

__all__ = ["seed_crm_history"]
