"""CSV import and export: request and response models."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

ImportKind = Literal["contacts", "leads"]
OnDuplicate = Literal["skip", "update", "merge"]
ImportStatus = Literal["queued", "running", "completed", "failed"]


class ImportCounts(BaseModel):
    """What became of the rows read so far."""

    created: int = 0
    updated: int = Field(0, description="duplicates overwritten (on_duplicate=update)")
    merged: int = Field(0, description="duplicates whose blank fields were filled (merge)")
    skipped: int = Field(0, description="duplicates left as they were (skip)")
    unchanged: int = Field(0, description="duplicates an update or merge found identical")
    errors: int = Field(0, description="rows rejected; see /errors")


class ImportRead(BaseModel):
    id: str
    kind: ImportKind
    status: ImportStatus
    filename: str
    on_duplicate: OnDuplicate
    mapping: dict[str, str] = Field(description="CSV column -> field, as applied")
    columns: list[str] = Field(description="the file's header")
    ignored_columns: list[str]
    encoding: str
    delimiter: str
    total_rows: int | None
    processed_rows: int
    progress: float = Field(description="share of the file processed, 0..1")
    counts: ImportCounts
    error: str | None = Field(None, description="why a failed import stopped")
    runner: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class RowProblem(BaseModel):
    column: str | None = Field(description="the CSV column, when one is to blame")
    field: str | None = Field(description="the field it maps to")
    msg: str


class ImportRowErrorRead(BaseModel):
    row_number: int = Field(description="1 = the first data row after the header")
    errors: list[RowProblem]
    raw: dict[str, str] = Field(description="the row as the file had it")
