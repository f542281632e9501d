"""Pure, offline extractors the local provider uses."""
