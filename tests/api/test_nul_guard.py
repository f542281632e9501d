"""NUL characters (U+0000) anywhere a client can put text: PostgreSQL cannot store them,
so every route refuses them with a 422 naming where they were, never a 500, on both
databases. Uploads are not read by the guard; the text fields of a parsed form are."""

from __future__ import annotations

import uuid

import httpx

from tests.api.conftest import assert_problem
from tests.conftest import TenantLogin, signup

NUL_MSG = "must not contain NUL (U+0000) characters"


def _locs(r: httpx.Response) -> list[list[object]]:
    body = assert_problem(r, 422)
    assert all(e["msg"] == NUL_MSG for e in body["errors"]), body
    return [e["loc"] for e in body["errors"]]


async def test_signup_and_login_with_nul_are_refused_and_write_nothing(
    client: httpx.AsyncClient,
) -> None:
    email = f"nul-{uuid.uuid4().hex[:8]}@example.com"
    body = {"company_name": "Nul\u0000 Ltd", "email": email, "password": "pw\u0000" * 5}
    r = await client.post("/api/v1/auth/signup", json={**body, "name": "N\u0000"})
    assert _locs(r) == [["body", "company_name"], ["body", "password"], ["body", "name"]]

    r = await client.post("/api/v1/auth/login", json={"email": email, "password": "x\u0000y"})
    assert _locs(r) == [["body", "password"]]
    r = await client.post(
        "/api/v1/auth/login",
        json={"email": f"a\u0000{email}", "password": "whatever", "tenant": "acme\u0000"},
    )
    assert _locs(r) == [["body", "email"], ["body", "tenant"]]

    # Nothing was written: the same email signs up cleanly, then logs in.
    password = "correct horse battery"
    clean = {"company_name": "Nul Ltd", "email": email, "password": password, "name": "N"}
    r = await client.post("/api/v1/auth/signup", json=clean)
    assert r.status_code == 201, r.text
    # A self-service owner names the workspace until their address is verified.
    slug = r.json()["tenant"]["slug"]
    r = await client.post(
        "/api/v1/auth/login", json={"email": email, "password": password, "tenant": slug}
    )
    assert r.status_code == 200, r.text


async def test_query_and_path_of_any_route(client: httpx.AsyncClient) -> None:
    tenant = await signup(client)
    r = await client.get("/api/v1/events", headers=tenant.headers, params={"type": "crm.\u0000"})
    assert _locs(r) == [["query", "type"]]
    r = await client.get("/api/v1/tasks/abc%00def", headers=tenant.headers)
    assert _locs(r) == [["path", "task_id"]]
    # A NUL-free request on the same routes is answered normally.
    r = await client.get("/api/v1/tasks/abcdef", headers=tenant.headers)
    assert_problem(r, 404)


async def test_urlencoded_and_multipart_forms(client: httpx.AsyncClient) -> None:
    tenant: TenantLogin = await signup(client)
    form = f"/forms/{tenant.slug}/leads"
    r = await client.post(form, data={"email": "ann@example.com", "name": "Ann\u0000"})
    assert _locs(r) == [["body", "name"]]
    r = await client.post(
        form, data={"email": "ann@example.com", "name": "Ann\u0000"}, files={"x": (None, "1")}
    )
    assert _locs(r) == [["body", "name"]]

    # A parsed upload form: its text fields and file name, never the file itself.
    csv = b"email,name\nann@example.com,Ann\n"
    r = await client.post(
        "/api/v1/crm/imports",
        headers=tenant.headers,
        files={"file": ("people.csv", csv, "text/csv")},
        data={"mapping": '{"email": "em\u0000ail"}'},
    )
    assert _locs(r) == [["body", "mapping"]]
    # httpx escapes a NUL in a file name; a hand-made body carries it raw.
    raw = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="p\x00.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\n" + csv + b"\r\n--b--\r\n"
    )
    r = await client.post(
        "/api/v1/crm/imports",
        headers={**tenant.headers, "Content-Type": "multipart/form-data; boundary=b"},
        content=raw,
    )
    assert _locs(r) == [["body", "file", "filename"]]
    r = await client.post(
        "/api/v1/crm/imports",
        headers=tenant.headers,
        files={"file": ("people.csv", csv, "text/csv")},
    )
    assert r.status_code == 202, r.text


async def test_escaped_backslash_is_not_a_nul(client: httpx.AsyncClient) -> None:
    email = f"esc-{uuid.uuid4().hex[:8]}@example.com"
    r = await client.post(
        "/api/v1/auth/signup",
        json={
            "company_name": "Back \\u0000 slash",
            "email": email,
            "password": "correct horse battery",
            "name": "E",
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["tenant"]["name"] == "Back \\u0000 slash"
