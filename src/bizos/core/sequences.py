"""Per-tenant gapless number series (invoice numbers, order numbers, credit notes, tickets).

``next_value`` takes the next number of a named series inside the caller's transaction:
the counter row is locked by the update until commit, so two transactions never get the
same number, and a transaction that rolls back gives its number back (no gaps). Numbers
are therefore only as concurrent as the series' row; that is the price of gapless
numbering that invoices require.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from bizos.core.db import Base, TenantScoped, dialect_insert


class NumberSeries(TenantScoped, Base):
    __tablename__ = "number_series"
    __table_args__ = (sa.PrimaryKeyConstraint("tenant_id", "name"),)

    tenant_id: Mapped[str] = mapped_column(sa.String(36))
    name: Mapped[str] = mapped_column(sa.String(60))
    value: Mapped[int] = mapped_column(sa.BigInteger, default=0)


async def next_value(session: AsyncSession, tenant_id: str, name: str) -> int:
    """The next number (from 1) of series ``name`` for the tenant, in the caller's
    transaction."""
    insert = dialect_insert(session, NumberSeries)
    await session.execute(
        insert.values(tenant_id=tenant_id, name=name, value=0).on_conflict_do_nothing()
    )
    value = await session.scalar(
        sa.update(NumberSeries)
        .where(NumberSeries.tenant_id == tenant_id, NumberSeries.name == name)
        .values(value=NumberSeries.value + 1)
        .returning(NumberSeries.value)
        .execution_options(synchronize_session=False)
    )
    if value is None:  # pragma: no cover - the row was inserted just above
        raise RuntimeError(f"sequence {name!r} is missing")
    return int(value)


def format_number(prefix: str, value: int, *, width: int = 6) -> str:
    """``INV-000042``: a prefix and the zero-padded number."""
    return f"{prefix}-{value:0{width}d}"
