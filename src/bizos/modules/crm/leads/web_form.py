"""The public lead form's settings: which sites may post it from a script (CORS), and
where a plain HTML form post sends the visitor once the lead is taken.

Stored in ``CrmSettings.web_form`` (``allowed_origins``, ``thank_you_url``). The form
itself stays open to any page that posts it as a plain HTML form, as before; an origin
only has to be listed for a page's JavaScript to be allowed to read the answer.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.modules.crm.leads.schemas import WebFormSettings, WebFormUpdate
from bizos.modules.crm.models import CrmSettings
from bizos.modules.crm.settings import merge_section, settings_section


def _read(section: dict[str, object]) -> WebFormSettings:
    origins = section.get("allowed_origins")
    url = section.get("thank_you_url")
    return WebFormSettings(
        allowed_origins=[str(o) for o in origins] if isinstance(origins, list) else [],
        thank_you_url=url if isinstance(url, str) else None,
    )


async def get_web_form_settings(session: AsyncSession, ctx: Context) -> WebFormSettings:
    return _read(await settings_section(session, ctx, "web_form"))


async def update_web_form_settings(
    session: AsyncSession, ctx: Context, *, changes: WebFormUpdate
) -> WebFormSettings:
    """Replace the given settings; ``crm.web_form.updated`` names what changed."""
    given = changes.model_dump(exclude_unset=True)
    if given.get("allowed_origins") is None:
        given.pop("allowed_origins", None)
    return _read(await merge_section(session, ctx, "web_form", given))


async def read_web_form_settings(session: AsyncSession, ctx: Context) -> WebFormSettings:
    """The settings as stored, without creating the tenant's settings row: safe in a
    read-only unit of work, as the public form's requests use."""
    section = await session.scalar(
        sa.select(CrmSettings.web_form).where(CrmSettings.tenant_id == ctx.require_tenant())
    )
    return _read(dict(section or {}))
