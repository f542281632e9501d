from __future__ import annotations

import pytest

from bizos.core.config import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The test receiver listens on 127.0.0.1, which production refuses by default.
    return settings.model_copy(update={"webhook_allow_private_targets": True})
