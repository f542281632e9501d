"""Attachments: stored under the data dir, size-limited, type-checked, downloadable."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from bizos.core.config import get_settings
from bizos.modules.crm.contacts.attachments import clean_filename
from tests.conftest import TenantLogin
from tests.modules.crm.contacts.helpers import CONTACTS, add_contact, assert_problem

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64
PDF = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


async def _upload(
    client: httpx.AsyncClient,
    who: TenantLogin,
    contact_id: str,
    name: str,
    data: bytes,
    content_type: str,
) -> httpx.Response:
    return await client.post(
        f"{CONTACTS}/{contact_id}/attachments",
        headers=who.headers,
        files={"file": (name, data, content_type)},
    )


async def test_a_file_is_stored_listed_downloaded_and_deleted(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    contact = await add_contact(client, tenant, name="Fay")
    r = await _upload(client, tenant, contact["id"], "contract.pdf", PDF, "application/pdf")
    assert r.status_code == 201, r.text
    meta: dict[str, Any] = r.json()
    assert meta == {
        **meta,
        "filename": "contract.pdf",
        "content_type": "application/pdf",
        "size": len(PDF),
        "sha256": hashlib.sha256(PDF).hexdigest(),
        "subject_type": "contact",
        "subject_id": contact["id"],
        "uploaded_by": tenant.user_id,
    }
    stored = get_settings().data_dir.resolve() / "attachments" / tenant.tenant_id / meta["id"]
    assert stored.read_bytes() == PDF

    listed = await client.get(f"{CONTACTS}/{contact['id']}/attachments", headers=tenant.headers)
    assert [a["id"] for a in listed.json()["items"]] == [meta["id"]]
    got = await client.get(f"/api/v1/crm/attachments/{meta['id']}", headers=tenant.headers)
    assert got.json() == meta
    content = await client.get(meta["content_url"], headers=tenant.headers)
    assert content.status_code == 200 and content.content == PDF
    assert content.headers["content-type"] == "application/pdf"
    assert "attachment" in content.headers["content-disposition"]
    assert content.headers["x-content-type-options"] == "nosniff"

    r = await client.delete(f"/api/v1/crm/attachments/{meta['id']}", headers=tenant.headers)
    assert r.status_code == 204
    assert not stored.exists()
    assert_problem(await client.get(meta["content_url"], headers=tenant.headers), 404)


async def test_a_path_in_the_filename_goes_nowhere(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    contact = await add_contact(client, tenant, name="Gil")
    r = await _upload(client, tenant, contact["id"], "../../../etc/passwd.png", PNG, "image/png")
    assert r.status_code == 201, r.text
    assert r.json()["filename"] == "passwd.png"
    base = get_settings().data_dir.resolve() / "attachments" / tenant.tenant_id
    assert [p.name for p in base.iterdir()] == [r.json()["id"]]
    r = await _upload(client, tenant, contact["id"], "..\\..\\win.txt", b"hello", "text/plain")
    assert r.json()["filename"] == "win.txt"
    r = await _upload(client, tenant, contact["id"], "...", b"hello", "text/plain")
    assert r.json()["filename"] == "attachment"


def test_filenames_are_cleaned_of_directories_controls_and_quotes() -> None:
    assert clean_filename('../../a\x00b"c\r\n.pdf') == "abc.pdf"
    assert clean_filename("C:\\Users\\x\\report.pdf") == "report.pdf"
    assert clean_filename(".hidden") == "hidden"
    assert clean_filename(None) == "attachment"
    long = clean_filename("x" * 300 + ".pdf")
    assert len(long) == 200 and long.endswith(".pdf")


async def test_wrong_types_mismatches_and_big_files_are_refused(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    contact = await add_contact(client, tenant, name="Hal")
    cid = contact["id"]
    assert_problem(await _upload(client, tenant, cid, "x.html", b"<script>", "text/html"), 415)
    assert_problem(
        await _upload(client, tenant, cid, "x.exe", b"MZ\x90\x00", "application/octet-stream"), 415
    )
    # Declared PDF, but the bytes are not one.
    r = await _upload(client, tenant, cid, "fake.pdf", b"<html>not a pdf</html>", "application/pdf")
    assert ["body", "file"] in [e["loc"] for e in assert_problem(r, 422)["errors"]]
    # Declared text, but the bytes are a PNG.
    assert_problem(await _upload(client, tenant, cid, "img.txt", PNG, "text/plain"), 422)
    assert_problem(await _upload(client, tenant, cid, "empty.txt", b"", "text/plain"), 422)
    # Unknown type: sniffed.
    r = await _upload(client, tenant, cid, "scan", PNG, "application/octet-stream")
    assert r.status_code == 201 and r.json()["content_type"] == "image/png"

    limit = get_settings().crm_attachment_max_bytes
    big = b"%PDF-" + b"0" * limit
    assert_problem(await _upload(client, tenant, cid, "big.pdf", big, "application/pdf"), 413)
    exact = b"%PDF-" + b"0" * (limit - 5)
    assert (
        await _upload(client, tenant, cid, "ok.pdf", exact, "application/pdf")
    ).status_code == 201

    listed = await client.get(f"{CONTACTS}/{cid}/attachments", headers=tenant.headers)
    assert sorted(a["filename"] for a in listed.json()["items"]) == ["ok.pdf", "scan"]
    base = get_settings().data_dir.resolve() / "attachments" / tenant.tenant_id
    assert len(list(base.iterdir())) == 2  # nothing left behind by the refused uploads
    assert_problem(
        await client.post(f"{CONTACTS}/{cid}/attachments", headers=tenant.headers, data={"x": "1"}),
        422,
    )


async def test_attachments_are_tenant_private(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    contact = await add_contact(client, tenant, name="Ida")
    meta = (await _upload(client, tenant, contact["id"], "a.txt", b"secret", "text/plain")).json()
    for path in (f"/api/v1/crm/attachments/{meta['id']}", meta["content_url"]):
        assert_problem(await client.get(path, headers=other_tenant.headers), 404)
    assert_problem(
        await client.delete(f"/api/v1/crm/attachments/{meta['id']}", headers=other_tenant.headers),
        404,
    )
    r = await _upload(client, other_tenant, contact["id"], "b.txt", b"x", "text/plain")
    assert_problem(r, 404)
