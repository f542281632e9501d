"""Tickets: the desk's record of a customer's request, its messages and attachments."""
