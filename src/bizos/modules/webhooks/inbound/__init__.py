"""Inbound webhooks: the raw deliveries providers post, stored once, then processed."""
