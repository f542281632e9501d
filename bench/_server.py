"""Helpers shared by the benchmarks: a real bizos server on a free local port."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_server(
    database_url: str | None = None,
    *,
    workers: bool = True,
    processes: int = 1,
    extra_env: dict[str, str] | None = None,
) -> Iterator[str]:
    """Start ``bizos serve`` in a subprocess on a fresh data dir; yield its base URL."""
    data = Path(tempfile.mkdtemp(prefix="bizos-bench-"))
    port = free_port()
    env = {
        **os.environ,
        "BIZOS_DATA_DIR": str(data),
        "BIZOS_SECRET_KEY": "bench-secret",
        "BIZOS_LOG_LEVEL": "WARNING",
        "BIZOS_RATE_LIMIT_PER_MINUTE": "100000000",
        "BIZOS_RATE_LIMIT_PUBLIC_PER_MINUTE": "100000000",
        **(extra_env or {}),
    }
    if database_url:
        env["BIZOS_DATABASE_URL"] = database_url
    cmd = [str(BIN / "bizos"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    if not workers:
        cmd.append("--no-workers")
    if processes > 1:
        cmd += ["--processes", str(processes)]
    proc = subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "server died")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise RuntimeError("server did not start")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def signup(base: str, company: str = "Bench Co") -> dict[str, str]:
    import uuid

    r = httpx.post(
        f"{base}/api/v1/auth/signup",
        json={
            "company_name": company,
            "email": f"bench-{uuid.uuid4().hex[:8]}@example.com",
            "password": "bench-password-1",
            "name": "Bench",
        },
        timeout=30,
    )
    r.raise_for_status()
    body = r.json()
    return {"Authorization": f"Bearer {body['access_token']}", "tenant": body["tenant"]["id"]}


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]
