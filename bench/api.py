"""Authenticated read throughput and latency, next to a bare endpoint in the same run.

    .venv/bin/python bench/api.py [--seconds 10] [--concurrency 32] [--database-url URL]

Runs ``bizos serve`` in a subprocess and drives it over loopback from this process.
Budget (DESIGN.md): >= 50,000 authenticated reads per minute on one node.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx
from _server import percentile, running_server, signup


async def load(
    base: str, path: str, headers: dict[str, str], seconds: float, concurrency: int
) -> tuple[int, int, list[float]]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=30
    ) as client:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                r = await client.get(path)
                latencies.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(latencies), errors, latencies


def report(label: str, n: int, errors: int, lat: list[float], seconds: float) -> None:
    print(
        f"{label:<34} {n / seconds:>9.0f} req/s  {n / seconds * 60:>10.0f} req/min  "
        f"p50 {percentile(lat, 50) * 1000:6.1f} ms  p95 {percentile(lat, 95) * 1000:6.1f} ms"
        f"  errors {errors}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    with running_server(args.database_url, workers=False) as base:
        auth = signup(base)
        headers = {"Authorization": auth["Authorization"]}
        print(
            f"bizos bench/api.py  database={'postgresql' if args.database_url else 'sqlite'}"
            f"  concurrency={args.concurrency}  seconds={args.seconds}"
        )
        asyncio.run(load(base, "/healthz", {}, 1, 4))  # warm up
        for label, path, hdrs in [
            ("bare GET /healthz", "/healthz", {}),
            ("authenticated GET /api/v1/me", "/api/v1/me", headers),
            ("authenticated GET /api/v1/events", "/api/v1/events?limit=20", headers),
        ]:
            n, errors, lat = asyncio.run(load(base, path, hdrs, args.seconds, args.concurrency))
            report(label, n, errors, lat, args.seconds)
        print("budget: >= 50,000 authenticated reads/min")


if __name__ == "__main__":
    main()
