"""Sandbox channels: accept everything a real channel would, send nothing."""

from bizos.connectors.sandbox.channels import SandboxEmailChannel, SandboxSmsChannel

__all__ = ["SandboxEmailChannel", "SandboxSmsChannel"]
