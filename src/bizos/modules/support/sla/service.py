"""SLA policies and due times; breaches."""

from __future__ import annotations
