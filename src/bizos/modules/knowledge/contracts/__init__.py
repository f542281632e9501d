"""Contracts: terms extracted from documents tagged ``contract``, and their notice-date
task."""
