"""A bounded schemathesis run against a real bizos server with the demo tenant.

What ``make run`` starts (migrate, ``bizos demo``, ``bizos serve`` with its workers, on
SQLite in a fresh data directory) is fuzzed from outside for a fixed time: every
operation in ``/openapi.json``, with valid and invalid data, as the demo owner's admin
API key (an API key, so that fuzzing ``POST /auth/logout`` cannot end the run). It fails
on any 5xx, on a response whose content type the document does not state, and on a
response whose body does not match its documented schema.

Runs offline; repeatable with ``--seed``. Usage::

    .venv/bin/python scripts/fuzz_api.py [--seconds 150] [--seed 20251] [--workers 2]

Each 5xx is shown with a curl command that reproduces it; the server's log (with the
traceback) is kept in the printed directory.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CHECKS = "not_a_server_error,content_type_conformance,response_schema_conformance"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment(data: Path) -> dict[str, str]:
    return {
        **os.environ,
        "BIZOS_DATA_DIR": str(data),
        "BIZOS_SECRET_KEY": "fuzz-secret-key-not-for-production",
        "BIZOS_LOG_JSON": "true",
        # Limits high enough that the fuzzer reaches the code behind them.
        "BIZOS_RATE_LIMIT_PER_MINUTE": "100000000",
        "BIZOS_RATE_LIMIT_PUBLIC_PER_MINUTE": "100000000",
        "BIZOS_RATE_LIMIT_FORM_PER_MINUTE": "100000000",
        "BIZOS_RATE_LIMIT_WEBHOOK_PER_MINUTE": "100000000",
    }


def wait_until_up(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit("the server did not come up within 120 s")


def admin_key(base: str, email: str, password: str) -> str:
    """Log in as the demo owner and mint an API key holding every scope."""
    r = httpx.post(
        f"{base}/api/v1/auth/login", json={"email": email, "password": password}, timeout=30
    )
    r.raise_for_status()
    token = r.json()["access_token"]
    doc: dict[str, Any] = httpx.get(f"{base}/openapi.json", timeout=30).json()
    scopes = doc["components"]["schemas"]["ApiKeyCreate"]["properties"]["scopes"]["items"]
    r = httpx.post(
        f"{base}/api/v1/api-keys",
        json={"name": "schemathesis", "scopes": scopes["enum"]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    r.raise_for_status()
    key: str = r.json()["key"]
    return key


def server_errors(log: Path) -> list[str]:
    """The log lines of requests that failed on the server's side."""
    return [
        line for line in log.read_text(errors="replace").splitlines() if "request.failed" in line
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=150, help="time budget of the run")
    parser.add_argument("--seed", type=int, default=20251, help="generation seed")
    # One worker: hypothesis's lambda-description cache is not thread-safe, and two
    # schemathesis threads now and then fail inside it (an error of the tool, not the API).
    parser.add_argument("--workers", type=int, default=1, help="concurrent fuzzing workers")
    parser.add_argument("--checks", default=CHECKS, help="schemathesis checks")
    parser.add_argument("extra", nargs="*", help="more schemathesis options (after --)")
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="bizos-fuzz-"))
    env = environment(data)
    log = data / "server.log"
    print(f"fuzz: data and server log in {data}", flush=True)
    subprocess.run([str(BIN / "bizos"), "demo"], env=env, cwd=ROOT, check=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(BIN / "bizos"), "serve", "--port", str(port), "--no-migrate"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_up(base, server, log)
            from bizos.core.config import Settings

            defaults = Settings()
            key = admin_key(base, defaults.demo_email, defaults.demo_password)
            command = [
                str(BIN / "schemathesis"),
                "run",
                f"{base}/openapi.json",
                "--header",
                f"Authorization: Bearer {key}",
                "--checks",
                args.checks,
                "--max-time",
                str(args.seconds),
                "--seed",
                str(args.seed),
                "--workers",
                str(args.workers),
                "--request-timeout",
                "30",
                "--generation-database",
                "none",
                "--no-color",
                "--output-truncate",
                "true",
                *args.extra,
            ]
            status = subprocess.run(command, cwd=data).returncode
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
    failed = server_errors(log)
    if failed:
        print(f"fuzz: {len(failed)} requests failed on the server; first ones:")
        for line in failed[:10]:
            print("  " + line[:400])
    print(f"fuzz: schemathesis exited {status}; server log: {log}")
    return status or (1 if failed else 0)


if __name__ == "__main__":
    sys.exit(main())
