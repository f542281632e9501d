"""The lead flow end to end: leads per second and the time from POST to assigned-and-
emailed, on a real server with its workers and sandbox connectors.

    .venv/bin/python bench/leads.py [--count 200] [--concurrency 1 8] [--database-url URL]

Starts ``bizos serve`` (API, dispatcher, durable workflows, message delivery) on a fresh
data dir, signs up a workspace and POSTs ``--count`` leads with ``--concurrency`` of them
in flight through the flow at a time (a sender posts its next lead once the last one is
done). Each lead
runs the whole flow: ``crm.lead.created`` -> workflow ``crm.lead_flow`` -> enrichment
(sandbox table) -> score -> assign -> first email from the owner -> delivered by the
sandbox channel (``outreach.message.sent``, status ``sandboxed``). A lead is done when
its ``outreach.message.sent`` event appears in the event log, which this script follows
with ``GET /api/v1/events?after=`` (so a figure includes up to one poll interval).

Seed target: enriched and assigned within 60 s; ours with sandbox connectors: < 1 s p95.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import httpx
from _server import percentile, running_server, signup

POLL_SECONDS = 0.02
# Corporate domains the sandbox knows (enriched), one it does not, and free mail (skipped).
DOMAINS = ("contoso.com", "fabrikam.com", "litwareinc.com", "unknown-co.example", "gmail.com")


async def follow_sent(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    done: dict[str, float],
    waiting: dict[str, asyncio.Event],
    stop: asyncio.Event,
) -> None:
    """Note when each lead's first email was sent, from the event log."""
    after = 0
    while not stop.is_set():
        r = await client.get(
            "/api/v1/events",
            params={"type": "outreach.message.sent", "after": after, "limit": 200},
            headers=headers,
        )
        r.raise_for_status()
        now = time.perf_counter()
        items: list[dict[str, Any]] = r.json()["items"]
        for event in items:
            after = max(after, int(event["sequence"]))
            related = event["data"].get("related") or {}
            if related.get("type") == "lead":
                done.setdefault(related["id"], now)
                waiting.setdefault(related["id"], asyncio.Event()).set()
        if len(items) < 200:
            await asyncio.sleep(POLL_SECONDS)


async def run(base: str, count: int, concurrency: int, run_id: str) -> dict[str, float]:
    """``concurrency`` leads in flight at a time: each sender POSTs a lead, waits until
    it is assigned and emailed, then POSTs the next."""
    auth = signup(base, f"Bench Leads {run_id}")
    headers = {"Authorization": auth["Authorization"]}
    posted: dict[str, float] = {}
    post_seconds: list[float] = []
    done: dict[str, float] = {}
    waiting: dict[str, asyncio.Event] = {}
    numbers = iter(range(count))
    limits = httpx.Limits(max_connections=concurrency + 4)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        stop = asyncio.Event()
        follower = asyncio.create_task(follow_sent(client, headers, done, waiting, stop))

        async def sender() -> None:
            for i in numbers:
                body = {
                    "email": f"lead{i}-{run_id}@{DOMAINS[i % len(DOMAINS)]}",
                    "name": f"Lead {i}",
                    "source": "web_form" if i % 2 else "api",
                }
                started = time.perf_counter()
                r = await client.post("/api/v1/crm/leads", json=body, headers=headers)
                post_seconds.append(time.perf_counter() - started)
                r.raise_for_status()
                lead_id = r.json()["id"]
                posted[lead_id] = started
                await asyncio.wait_for(waiting.setdefault(lead_id, asyncio.Event()).wait(), 120)

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        finished = time.perf_counter()
        stop.set()
        await follower
        leads = await _leads(client, headers)
    latencies = [done[i] - posted[i] for i in posted if i in done]
    owned = sum(1 for lead in leads if lead["owner_id"] and lead["first_outreach_message_id"])
    return {
        "leads_per_second": len(latencies) / (finished - started),
        "completed": len(latencies),
        "owned_and_emailed": owned,
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "max": max(latencies, default=float("nan")),
        "post_p95": percentile(post_seconds, 95),
    }


async def _leads(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/api/v1/crm/leads", params=params, headers=headers)
        r.raise_for_status()
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            return items


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    label = "postgresql" if args.database_url else "sqlite"
    with running_server(args.database_url) as base:
        asyncio.run(run(base, 10, 2, "warmup"))
        for concurrency in args.concurrency:
            f = asyncio.run(run(base, args.count, concurrency, f"c{concurrency}"))
            print(
                f"bizos bench/leads.py  database={label}  concurrency={concurrency:<3}"
                f"  {f['leads_per_second']:6.1f} leads/s through the whole flow"
                f"  POST->assigned+emailed p50 {f['p50'] * 1000:6.0f} ms"
                f"  p95 {f['p95'] * 1000:6.0f} ms  max {f['max'] * 1000:6.0f} ms"
                f"  ({int(f['completed'])}/{args.count} done,"
                f" {int(f['owned_and_emailed'])} owned+emailed; POST p95"
                f" {f['post_p95'] * 1000:.0f} ms)"
            )


if __name__ == "__main__":
    main()
