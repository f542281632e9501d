"""Every table, so ``Base.metadata`` is complete (Alembic, tests): read from the
manifests (:func:`bizos.registry.metadata`)."""

from __future__ import annotations

from bizos.registry import metadata as _metadata

metadata = _metadata()
