"""Whether a workspace may send real email yet: a port the identity module fills.

Anyone can sign up with anyone's address, so a workspace's email is recorded in the
sandbox until one of its active owners has verified theirs. Only identity knows who is
verified, and identity sits above the channel resolver (it sends through outreach, which
sends through connectors), so the resolver asks through this port. Identity's manifest
declares the check and the assembly installs it with the other ports; nothing registers
itself by being imported. Until a check is installed no workspace counts as verified:
its email stays in the sandbox.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession


class OwnerVerified(Protocol):
    """``(session, tenant_id=…) -> bool``: one of the workspace's active owners has a
    verified address. Works in a tenant or a system session."""

    async def __call__(self, session: AsyncSession, *, tenant_id: str) -> bool: ...


class EmailSending:
    def __init__(self) -> None:
        self.owner_verified: OwnerVerified | None = None

    def install(self, check: OwnerVerified | None) -> None:
        self.owner_verified = check

    async def allowed(self, session: AsyncSession, *, tenant_id: str) -> bool:
        if self.owner_verified is None:
            return False
        return await self.owner_verified(session, tenant_id=tenant_id)


email_sending = EmailSending()
