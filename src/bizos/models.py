"""Imports every table so ``Base.metadata`` is complete (Alembic, tests)."""

from __future__ import annotations

from bizos.core import events as _events  # noqa: F401
from bizos.core.db import Base
from bizos.modules.identity import models as _identity  # noqa: F401

metadata = Base.metadata
