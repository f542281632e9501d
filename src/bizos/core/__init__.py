"""The kernel every bizos module stands on. Imports nothing from modules, ai or automation."""
