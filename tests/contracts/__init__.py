"""Contract suites: one per swappable capability, run against every implementation.

Each suite states its contract in its module docstring and runs every test against every
implementation in its list; a new implementation is done when it passes its suite.
"""
