"""Through the ask endpoint: what the copilot cannot do or answer is said plainly with no
figure and no plan; a channel's share and net revenue come back as figures."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import TenantLogin
from tests.modules.commerce.orders.helpers import add_product
from tests.modules.copilot.helpers import ask, place_order


@pytest.mark.parametrize(
    ("question", "intent"),
    [
        ("Can you cancel order 1042?", "action"),
        ("What's the cheapest product we sell?", "metrics"),
        ("what's our cash position", "metrics"),
    ],
)
async def test_what_it_cannot_do_is_said_plainly_with_no_figure(
    client: httpx.AsyncClient, tenant: TenantLogin, question: str, intent: str
) -> None:
    answer = await ask(client, tenant.headers, question)
    assert answer["intent"] == intent
    assert answer["figures"] == [] and answer["plan"] == []
    assert "can't" in answer["answer"] or "isn't something I can do" in answer["answer"]
    assert not any(ch.isdigit() for ch in answer["answer"])


async def test_net_revenue_and_a_channels_share_are_figures(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await add_product(client, tenant, "MUG-1", price="12.50")
    await place_order(client, tenant.headers, "MUG-1", 2)

    net = await ask(client, tenant.headers, "What's the net revenue after refunds this month?")
    assert [s["tool"] for s in net["plan"]] == ["commerce.revenue", "billing.refunds"]
    assert net["answer"].startswith("Revenue less refunds (net revenue) for this month:")
    assert any(f["label"].startswith("revenue less refunds") for f in net["figures"])

    share = await ask(client, tenant.headers, "what percentage of revenue comes from wholesale")
    assert share["plan"][0]["args"]["group_by"] == "channel"
    assert any(f["unit"] == "%" for f in share["figures"])
