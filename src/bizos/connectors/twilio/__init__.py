"""Outbound SMS through Twilio's Messages API (or any server speaking it)."""

from bizos.connectors.twilio.channel import TwilioSmsChannel

__all__ = ["TwilioSmsChannel"]
