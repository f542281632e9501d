"""Outreach: every outbound message (email, SMS, voice) and its delivery."""
