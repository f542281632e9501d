"""Support desk: tickets from email, SLAs, triage and AI-drafted replies."""
