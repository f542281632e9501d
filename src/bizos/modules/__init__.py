"""Bounded contexts, one package each (DESIGN.md, layout)."""
