"""Names of people and companies known to the CRM, for the privacy proxy."""

from __future__ import annotations
