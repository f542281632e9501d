"""The copilot over the demo, as an owner asks it: every question of the labelled set
(``labelled.py``) through ``POST /api/v1/copilot/ask``, figures compared with SQL.

The floors are counts, not times: most questions must be read right and answered with
the right figure, and no answer may write a number that is not one of its figures.
"""

from __future__ import annotations

import httpx
import pytest

from bizos.core.config import Settings
from bizos.core.db import Database
from tests.demo.test_knowledge import demo_login, demo_tenant
from tests.modules.copilot.labelled import CASES
from tests.modules.copilot.scoring import ask_all, score


def test_the_labelled_set_is_large_and_covers_every_kind_of_question() -> None:
    kinds = {c.intent for c in CASES}
    assert len(CASES) >= 150
    assert kinds == {"metrics", "search", "action", "conversation", "out_of_scope"}
    assert sum(1 for c in CASES if c.follows) >= 6
    assert sum(1 for c in CASES if c.figure is not None) >= 100


@pytest.mark.demo
async def test_the_copilot_answers_the_labelled_set_from_the_demo(
    settings: Settings, db: Database, client: httpx.AsyncClient
) -> None:
    tenant_id = await demo_tenant(db)
    headers = await demo_login(client, settings)
    outcomes = await ask_all(client, headers, db, tenant_id)
    scores = score(outcomes)
    report = "\n".join(f"{o.question!r}: {'; '.join(o.problems)}" for o in scores.failures)
    assert scores.unfigured_answers == 0, report
    assert scores.intent >= 0.95, report
    assert scores.tools >= 0.9, report
    assert scores.figures >= 0.9, report
    assert scores.kb_cited >= 0.9, report
    assert scores.actions >= 0.9, report
