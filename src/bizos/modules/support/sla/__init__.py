"""SLA policies with business hours, breach detection, and triage (sentiment, intent)."""
