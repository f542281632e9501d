"""CRM tables: companies, contacts, notes, attachments, leads and their scores,
deals and their stage history, forecasts, imports, per-tenant CRM settings.

Money is ``Numeric(14, 2)`` with a ``currency``; emails and phones are kept as given and
normalised (``email_normalized``, ``phone_normalized`` in E.164) for dedupe and search.
A merged contact or company keeps its row with ``merged_into_id`` set, so history that
points at it can still be followed to the survivor.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from bizos.core.db import Base, Entity, TenantScoped, UtcDateTime, utcnow
from bizos.core.ids import new_id

Money = sa.Numeric(14, 2)
JsonDict = sa.JSON


def _unique_among_live(name: str, column: str) -> sa.Index:
    """A tenant's ``column`` is unique among its rows not merged away (and not null)."""
    where = sa.text(f"merged_into_id IS NULL AND {column} IS NOT NULL")
    return sa.Index(
        name, "tenant_id", column, unique=True, sqlite_where=where, postgresql_where=where
    )


class Company(Entity, Base):
    __tablename__ = "crm_companies"
    __table_args__ = (
        # One live company per domain (dedupe key); merged rows step aside.
        _unique_among_live("uq_crm_companies_tenant_domain", "domain"),
        sa.Index("ix_crm_companies_tenant_name", "tenant_id", "name"),
    )

    name: Mapped[str] = mapped_column(sa.String(200))
    domain: Mapped[str | None] = mapped_column(sa.String(253))  # lower-case, no www.
    website: Mapped[str | None] = mapped_column(sa.String(500))
    industry: Mapped[str | None] = mapped_column(sa.String(100))
    employees: Mapped[int | None]
    annual_revenue: Mapped[Decimal | None] = mapped_column(Money)
    country: Mapped[str | None] = mapped_column(sa.String(2))  # ISO 3166-1 alpha-2
    city: Mapped[str | None] = mapped_column(sa.String(100))
    description: Mapped[str | None] = mapped_column(sa.Text)
    owner_id: Mapped[str | None] = mapped_column(sa.String(36))
    tags: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    properties: Mapped[dict[str, Any]] = mapped_column(JsonDict, default=dict)
    # What the enrichment provider said, as it said it (plus provider and fetched_at).
    enrichment: Mapped[dict[str, Any] | None] = mapped_column(JsonDict)
    merged_into_id: Mapped[str | None] = mapped_column(sa.String(36))


class Contact(Entity, Base):
    __tablename__ = "crm_contacts"
    __table_args__ = (
        # One live contact per normalised email; merged rows step aside.
        _unique_among_live("uq_crm_contacts_tenant_email", "email_normalized"),
        sa.Index("ix_crm_contacts_tenant_phone", "tenant_id", "phone_normalized"),
        sa.Index("ix_crm_contacts_tenant_company", "tenant_id", "company_id"),
        sa.Index("ix_crm_contacts_tenant_owner", "tenant_id", "owner_id"),
    )

    name: Mapped[str | None] = mapped_column(sa.String(200))
    email: Mapped[str | None] = mapped_column(sa.String(320))
    email_normalized: Mapped[str | None] = mapped_column(sa.String(320))
    phone: Mapped[str | None] = mapped_column(sa.String(40))
    phone_normalized: Mapped[str | None] = mapped_column(sa.String(20))  # E.164
    company_id: Mapped[str | None] = mapped_column(sa.String(36))
    company_name: Mapped[str | None] = mapped_column(sa.String(200))  # as given
    title: Mapped[str | None] = mapped_column(sa.String(200))
    # subscriber | lead | opportunity | customer | churned
    lifecycle_stage: Mapped[str] = mapped_column(sa.String(20), default="lead")
    owner_id: Mapped[str | None] = mapped_column(sa.String(36))
    source: Mapped[str | None] = mapped_column(sa.String(40))
    country: Mapped[str | None] = mapped_column(sa.String(2))
    city: Mapped[str | None] = mapped_column(sa.String(100))
    tags: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    properties: Mapped[dict[str, Any]] = mapped_column(JsonDict, default=dict)
    do_not_contact: Mapped[bool] = mapped_column(default=False)
    last_activity_at: Mapped[dt.datetime | None]
    last_contacted_at: Mapped[dt.datetime | None]
    last_replied_at: Mapped[dt.datetime | None]
    became_customer_at: Mapped[dt.datetime | None]
    merged_into_id: Mapped[str | None] = mapped_column(sa.String(36))


class Note(Entity, Base):
    """A note on a contact, company, lead or deal."""

    __tablename__ = "crm_notes"
    __table_args__ = (sa.Index("ix_crm_notes_subject", "tenant_id", "subject_type", "subject_id"),)

    subject_type: Mapped[str] = mapped_column(sa.String(20))  # contact | company | lead | deal
    subject_id: Mapped[str] = mapped_column(sa.String(36))
    body: Mapped[str] = mapped_column(sa.Text)
    author_id: Mapped[str | None] = mapped_column(sa.String(36))


class Attachment(Entity, Base):
    """A file kept on disk under the data dir; the row says what and where."""

    __tablename__ = "crm_attachments"
    __table_args__ = (
        sa.Index("ix_crm_attachments_subject", "tenant_id", "subject_type", "subject_id"),
    )

    subject_type: Mapped[str] = mapped_column(sa.String(20))
    subject_id: Mapped[str] = mapped_column(sa.String(36))
    filename: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    storage_key: Mapped[str] = mapped_column(sa.String(255))  # relative to the data dir
    uploaded_by: Mapped[str | None] = mapped_column(sa.String(36))


class Lead(Entity, Base):
    __tablename__ = "crm_leads"
    __table_args__ = (
        sa.Index("ix_crm_leads_tenant_status", "tenant_id", "status"),
        sa.Index("ix_crm_leads_tenant_owner_status", "tenant_id", "owner_id", "status"),
        sa.Index("ix_crm_leads_tenant_contact", "tenant_id", "contact_id"),
    )

    contact_id: Mapped[str] = mapped_column(sa.String(36))
    company_id: Mapped[str | None] = mapped_column(sa.String(36))
    email: Mapped[str] = mapped_column(sa.String(320))
    name: Mapped[str | None] = mapped_column(sa.String(200))
    phone: Mapped[str | None] = mapped_column(sa.String(40))
    company: Mapped[str | None] = mapped_column(sa.String(200))  # as given
    source: Mapped[str] = mapped_column(sa.String(40), default="api")
    message: Mapped[str | None] = mapped_column(sa.Text)
    properties: Mapped[dict[str, Any]] = mapped_column(JsonDict, default=dict)
    # new | working | qualified | disqualified | converted
    status: Mapped[str] = mapped_column(sa.String(20), default="new")
    status_reason: Mapped[str | None] = mapped_column(sa.String(500))
    status_changed_at: Mapped[dt.datetime | None]
    score: Mapped[int | None]
    score_factors: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    score_model: Mapped[str | None] = mapped_column(sa.String(60))  # "rules" | model id
    scored_at: Mapped[dt.datetime | None]
    owner_id: Mapped[str | None] = mapped_column(sa.String(36))
    assigned_at: Mapped[dt.datetime | None]
    assignment_reason: Mapped[str | None] = mapped_column(sa.String(300))
    enrichment: Mapped[dict[str, Any] | None] = mapped_column(JsonDict)
    # pending | enriched | not_found | skipped | failed
    enrichment_status: Mapped[str] = mapped_column(sa.String(12), default="pending")
    first_outreach_message_id: Mapped[str | None] = mapped_column(sa.String(36))
    deal_id: Mapped[str | None] = mapped_column(sa.String(36))
    converted_at: Mapped[dt.datetime | None]
    ip: Mapped[str | None] = mapped_column(sa.String(64))


class LeadScore(TenantScoped, Base):
    """Every score a lead was given, with its factors: the score history."""

    __tablename__ = "crm_lead_scores"
    __table_args__ = (sa.Index("ix_crm_lead_scores_lead", "tenant_id", "lead_id", "scored_at"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    lead_id: Mapped[str] = mapped_column(sa.String(36))
    score: Mapped[int]
    factors: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    model: Mapped[str] = mapped_column(sa.String(60))
    reason: Mapped[str] = mapped_column(sa.String(60))  # created | event:<type> | retrained
    event_id: Mapped[str | None] = mapped_column(sa.String(36))
    scored_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class ScoringModel(Entity, Base):
    """A tenant's trained scoring model, stored as plain numbers (no pickles): feature
    names, scaling, coefficients and intercept, and how well it did on held-out data."""

    __tablename__ = "crm_scoring_models"
    __table_args__ = (sa.Index("ix_crm_scoring_models_active", "tenant_id", "active"),)

    kind: Mapped[str] = mapped_column(sa.String(40))  # logistic_regression
    active: Mapped[bool] = mapped_column(default=False)
    trained_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    samples: Mapped[int]
    positives: Mapped[int]
    features: Mapped[list[str]] = mapped_column(sa.JSON)
    parameters: Mapped[dict[str, Any]] = mapped_column(JsonDict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JsonDict, default=dict)


class SalesRep(Entity, Base):
    """How a user takes leads: capacity, availability, territories, sources."""

    __tablename__ = "crm_sales_reps"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "user_id"),)

    user_id: Mapped[str] = mapped_column(sa.String(36))
    available: Mapped[bool] = mapped_column(default=True)
    capacity: Mapped[int | None]  # max open leads; None = no limit
    territories: Mapped[list[str]] = mapped_column(sa.JSON, default=list)  # country codes
    sources: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    away_until: Mapped[dt.datetime | None]


class CrmSettings(Entity, Base):
    """One row per tenant. Each JSON section is owned by one part of the CRM:
    ``assignment`` (assignment rules), ``scoring`` (threshold, retraining), ``pipeline``
    (stage rules and probabilities), ``lead_flow`` (first outreach email), ``contacts``
    (default phone region), ``web_form`` (the public lead form)."""

    __tablename__ = "crm_settings"
    __table_args__ = (sa.UniqueConstraint("tenant_id"),)

    assignment: Mapped[dict[str, Any]] = mapped_column(JsonDict, default=dict)
    scoring: Mapped[dict[str, Any]] = mapped_column(JsonDict, default=dict)
    pipeline: Mapped[dict[str, Any]] = mapped_column(JsonDict, default=dict)
    lead_flow: Mapped[dict[str, Any]] = mapped_column(JsonDict, default=dict)
    # Contacts: ``default_region`` (ISO 3166 alpha-2) for phone numbers given nationally.
    contacts: Mapped[dict[str, Any]] = mapped_column(JsonDict, default=dict)
    # The public lead form: ``allowed_origins`` (CORS) and ``thank_you_url``.
    web_form: Mapped[dict[str, Any]] = mapped_column(JsonDict, default=dict)
    # Round-robin position, advanced under the row lock.
    round_robin_position: Mapped[int] = mapped_column(default=0)


class Deal(Entity, Base):
    __tablename__ = "crm_deals"
    __table_args__ = (
        sa.Index("ix_crm_deals_tenant_stage", "tenant_id", "stage"),
        sa.Index("ix_crm_deals_tenant_contact", "tenant_id", "contact_id"),
        sa.Index("ix_crm_deals_tenant_close", "tenant_id", "close_date"),
    )

    name: Mapped[str] = mapped_column(sa.String(200))
    contact_id: Mapped[str | None] = mapped_column(sa.String(36))
    company_id: Mapped[str | None] = mapped_column(sa.String(36))
    lead_id: Mapped[str | None] = mapped_column(sa.String(36))
    owner_id: Mapped[str | None] = mapped_column(sa.String(36))
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(sa.String(3))
    # lead | qualified | proposal | negotiation | won | lost
    stage: Mapped[str] = mapped_column(sa.String(20), default="lead")
    stage_entered_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    probability: Mapped[float | None]  # an explicit override of the stage probability
    close_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    closed_at: Mapped[dt.datetime | None]
    close_reason: Mapped[str | None] = mapped_column(sa.String(500))
    source: Mapped[str | None] = mapped_column(sa.String(40))
    description: Mapped[str | None] = mapped_column(sa.Text)
    properties: Mapped[dict[str, Any]] = mapped_column(JsonDict, default=dict)


class DealStageChange(TenantScoped, Base):
    """Stage history: when a deal entered each stage and how long it stayed before."""

    __tablename__ = "crm_deal_stage_changes"
    __table_args__ = (sa.Index("ix_crm_deal_stage_changes_deal", "tenant_id", "deal_id"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    deal_id: Mapped[str] = mapped_column(sa.String(36))
    from_stage: Mapped[str | None] = mapped_column(sa.String(20))
    to_stage: Mapped[str] = mapped_column(sa.String(20))
    changed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    seconds_in_previous: Mapped[float | None]
    amount: Mapped[Decimal] = mapped_column(Money)
    actor_id: Mapped[str | None] = mapped_column(sa.String(36))


class Forecast(Entity, Base):
    """A forecast as it was given, so its accuracy can be judged once the period ends."""

    __tablename__ = "crm_forecasts"
    __table_args__ = (sa.Index("ix_crm_forecasts_tenant_period", "tenant_id", "period"),)

    period: Mapped[str] = mapped_column(sa.String(7))  # YYYY-MM
    currency: Mapped[str] = mapped_column(sa.String(3))
    weighted_amount: Mapped[Decimal] = mapped_column(Money)
    commit_amount: Mapped[Decimal] = mapped_column(Money)
    best_case_amount: Mapped[Decimal] = mapped_column(Money)
    interval_low: Mapped[Decimal] = mapped_column(Money)
    interval_high: Mapped[Decimal] = mapped_column(Money)
    by_stage: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    probabilities: Mapped[dict[str, Any]] = mapped_column(JsonDict, default=dict)
    method: Mapped[str] = mapped_column(sa.String(40))  # learned | default
    generated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class ImportJob(Entity, Base):
    """A CSV import: its mapping, progress and outcome counts."""

    __tablename__ = "crm_imports"
    __table_args__ = (sa.Index("ix_crm_imports_tenant_created", "tenant_id", "created_at"),)

    kind: Mapped[str] = mapped_column(sa.String(20))  # contacts | leads | companies
    filename: Mapped[str] = mapped_column(sa.String(255))
    storage_key: Mapped[str] = mapped_column(sa.String(255))
    mapping: Mapped[dict[str, Any]] = mapped_column(JsonDict, default=dict)
    on_duplicate: Mapped[str] = mapped_column(sa.String(10), default="skip")  # skip|update|merge
    # How the file reads: detected once when it arrives, so every batch reads it alike.
    encoding: Mapped[str] = mapped_column(sa.String(20), default="utf-8-sig")
    delimiter: Mapped[str] = mapped_column(sa.String(1), default=",")
    columns: Mapped[list[str]] = mapped_column(sa.JSON, default=list)  # the header row
    total_bytes: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    runner: Mapped[str] = mapped_column(sa.String(12), default="worker")  # worker|workflow|cli
    # queued | running | completed | failed
    status: Mapped[str] = mapped_column(sa.String(12), default="queued")
    total_rows: Mapped[int | None]
    processed_rows: Mapped[int] = mapped_column(default=0)
    created_count: Mapped[int] = mapped_column(default=0)
    updated_count: Mapped[int] = mapped_column(default=0)
    merged_count: Mapped[int] = mapped_column(default=0)
    skipped_count: Mapped[int] = mapped_column(default=0)
    # Duplicates whose update or merge changed nothing (a re-import of an export).
    unchanged_count: Mapped[int] = mapped_column(default=0)
    error_count: Mapped[int] = mapped_column(default=0)
    byte_offset: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # resume point
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_by: Mapped[str | None] = mapped_column(sa.String(36))
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]


class ImportRowError(TenantScoped, Base):
    """The validation report: one row per rejected CSV row, with what was wrong."""

    __tablename__ = "crm_import_errors"
    __table_args__ = (sa.Index("ix_crm_import_errors_job", "tenant_id", "import_id", "row_number"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    import_id: Mapped[str] = mapped_column(sa.String(36))
    row_number: Mapped[int]  # 1 = first data row after the header
    errors: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    raw: Mapped[dict[str, Any]] = mapped_column(JsonDict)
