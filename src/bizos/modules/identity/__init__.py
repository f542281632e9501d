"""Tenants, users, sessions and API keys."""
