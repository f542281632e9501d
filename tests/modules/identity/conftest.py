from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from bizos.core.auth import forget_principals
from bizos.core.db import utcnow
from bizos.modules.identity import clock


@pytest.fixture
def travel(monkeypatch: pytest.MonkeyPatch) -> Callable[[dt.timedelta], None]:
    """Move the identity module's clock forward instead of waiting."""

    def move(by: dt.timedelta) -> None:
        monkeypatch.setattr(clock, "now", lambda: utcnow() + by)
        # Principals are cached for a couple of real seconds; moved time must not hit them.
        forget_principals()

    return move
