"""The identity module's clock: one seam so tests can move time instead of waiting.

Every expiry and lockout decision in this module reads the time through ``now()``.
"""

from __future__ import annotations

import datetime as dt

from bizos.core.db import utcnow


def now() -> dt.datetime:
    return utcnow()
