"""Imports every table so ``Base.metadata`` is complete (Alembic, tests)."""

from __future__ import annotations

from bizos.ai import models as _ai  # noqa: F401
from bizos.connectors import models as _connectors  # noqa: F401
from bizos.core import audit as _audit  # noqa: F401
from bizos.core import dispatcher as _dispatcher  # noqa: F401
from bizos.core import events as _events  # noqa: F401
from bizos.core import idempotency as _idempotency  # noqa: F401
from bizos.core import scheduler as _scheduler  # noqa: F401
from bizos.core import sequences as _sequences  # noqa: F401
from bizos.core.db import Base
from bizos.modules.billing import models as _billing  # noqa: F401
from bizos.modules.commerce import models as _commerce  # noqa: F401
from bizos.modules.crm import models as _crm  # noqa: F401
from bizos.modules.finance import models as _finance  # noqa: F401
from bizos.modules.identity import models as _identity  # noqa: F401
from bizos.modules.knowledge import models as _knowledge  # noqa: F401
from bizos.modules.knowledge.summaries import models as _knowledge_summaries  # noqa: F401
from bizos.modules.notifications import models as _notifications  # noqa: F401
from bizos.modules.outreach import models as _outreach  # noqa: F401
from bizos.modules.support import models as _support  # noqa: F401
from bizos.modules.support.drafts import models as _support_drafts  # noqa: F401
from bizos.modules.support.sla import models as _support_sla  # noqa: F401
from bizos.modules.webhooks import models as _webhooks  # noqa: F401
from bizos.modules.work import models as _work  # noqa: F401

metadata = Base.metadata
