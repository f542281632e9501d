"""Authenticated read throughput and latency, next to a bare endpoint in the same run.

    .venv/bin/python bench/api.py [--seconds 10] [--connections 32] [--processes 1 2]
                                  [--database-url URL]

Starts ``bizos serve --no-workers`` (1 and then 2 API processes by default) on a fresh
database and drives it over loopback with ``wrk`` when it is installed (Debian package
``wrk``), else with an asyncio httpx client in this process, which saturates before the
server does and so understates the figures. Budget (DESIGN.md): >= 50,000 authenticated
reads per minute on one node.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import time

import httpx
from _server import percentile, running_server, signup

WRK_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format("BIZOS requests=%d errors=%d p50_us=%d p95_us=%d\\n",
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(95)))
end
"""


def run_wrk(
    url: str, headers: dict[str, str], seconds: float, connections: int
) -> tuple[int, int, float, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(WRK_SCRIPT)
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{int(seconds)}s", "-s", fh.name]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    os.unlink(fh.name)
    m = re.search(r"BIZOS requests=(\d+) errors=(\d+) p50_us=(\d+) p95_us=(\d+)", out)
    if not m:
        raise RuntimeError(out)
    n, errors, p50, p95 = (int(g) for g in m.groups())
    return n, errors, p50 / 1e6, p95 / 1e6


async def run_python(
    base: str, path: str, headers: dict[str, str], seconds: float, connections: int
) -> tuple[int, int, float, float]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=30
    ) as client:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                r = await client.get(path)
                latencies.append(time.perf_counter() - t0)
                errors += r.status_code != 200

        await asyncio.gather(*(worker() for _ in range(connections)))
    return len(latencies), errors, percentile(latencies, 50), percentile(latencies, 95)


def measure(
    base: str, path: str, headers: dict[str, str], seconds: float, connections: int
) -> tuple[int, int, float, float]:
    if shutil.which("wrk"):
        return run_wrk(base + path, headers, seconds, connections)
    return asyncio.run(run_python(base, path, headers, seconds, connections))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    client = "wrk" if shutil.which("wrk") else "python httpx (client-bound: install wrk)"
    print(
        f"bizos bench/api.py  database={'postgresql' if args.database_url else 'sqlite'}  "
        f"client={client}  connections={args.connections}  seconds={args.seconds:g}"
    )
    for processes in args.processes:
        with running_server(args.database_url, workers=False, processes=processes) as base:
            auth = {"Authorization": signup(base)["Authorization"]}
            measure(base, "/healthz", {}, 1, 4)  # warm up every process
            for label, path, headers in [
                ("bare GET /healthz", "/healthz", {}),
                ("authenticated GET /api/v1/me", "/api/v1/me", auth),
                ("authenticated GET /api/v1/events", "/api/v1/events?limit=20", auth),
            ]:
                n, errors, p50, p95 = measure(base, path, headers, args.seconds, args.connections)
                rate = n / args.seconds
                print(
                    f"{processes} process{'es' if processes > 1 else '  '}  {label:<33} "
                    f"{rate:>8,.0f} req/s {rate * 60:>10,.0f} req/min  "
                    f"p50 {p50 * 1000:6.1f} ms  p95 {p95 * 1000:6.1f} ms  errors {errors}"
                )
    print("budget: >= 50,000 authenticated reads/min on one node")


if __name__ == "__main__":
    main()
