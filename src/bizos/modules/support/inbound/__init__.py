"""Inbound email: webhook, SMTP receiver, MIME parsing, threading."""
