"""Outbound email over SMTP (RFC 5321) with optional STARTTLS and AUTH."""

from bizos.connectors.smtp.channel import SmtpEmailChannel

__all__ = ["SmtpEmailChannel"]
