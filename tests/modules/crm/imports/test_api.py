"""CSV import through the API: mapping, validation report, duplicates, bad files,
tenancy; and the export that imports back unchanged. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import sqlalchemy as sa

from bizos.core.config import Settings
from bizos.core.db import Database
from bizos.core.events import Event
from bizos.modules.crm.models import Company, Contact
from tests.conftest import TenantLogin
from tests.modules.crm.imports.helpers import csv_text, imported, run_imports, upload


async def contacts_of(db: Database, login: TenantLogin) -> dict[str, Contact]:
    async with db.unit_of_work(tenant_id=login.tenant_id, readonly=True) as session:
        rows = (await session.scalars(sa.select(Contact))).all()
    return {c.email_normalized or c.phone_normalized or c.id: c for c in rows}


async def event_types(db: Database, login: TenantLogin, prefix: str) -> list[str]:
    async with db.unit_of_work(tenant_id=login.tenant_id, readonly=True) as session:
        rows = await session.scalars(
            sa.select(Event.type).where(Event.type.like(f"{prefix}%")).order_by(Event.sequence)
        )
        return list(rows)


# --- mapping ----------------------------------------------------------------------------


async def test_columns_are_mapped_by_their_common_names(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database, settings: Settings
) -> None:
    content = csv_text(
        "E-Mail Address,First Name,Last Name,Mobile Phone,Organisation,Job Title,Country,Tags,"
        "custom:segment,Favourite colour",
        "ada@analytical.example,Ada,Lovelace,+44 20 7946 0018,Analytical Engines,CTO,"
        'United Kingdom,"vip, london",enterprise,green',
    )
    job = await imported(client, tenant, db, settings, content)

    assert job["status"] == "completed"
    assert (
        job["mapping"]
        == {
            "First Name": "first_name",
            "Last Name": "last_name",
            "Mobile Phone": "phone",
            "Organisation": "company",
            "Job Title": "title",
            "Country": "country",
            "Tags": "tags",
            "custom:segment": "custom:segment",
            "E-Mail Address": "email",
        }
        or job["mapping"]["E-Mail Address"] == "email"
    )
    assert job["ignored_columns"] == ["Favourite colour"]
    assert job["counts"]["created"] == 1 and job["progress"] == 1.0
    ada = (await contacts_of(db, tenant))["ada@analytical.example"]
    assert (ada.name, ada.phone_normalized, ada.title, ada.country) == (
        "Ada Lovelace",
        "+442079460018",
        "CTO",
        "GB",
    )
    assert ada.tags == ["vip", "london"] and ada.properties == {"segment": "enterprise"}
    assert ada.company_name == "Analytical Engines" and ada.company_id is not None
    assert ada.source == "import"
    assert await event_types(db, tenant, "crm.") == [
        "crm.import.queued",
        "crm.company.created",
        "crm.contact.created",
        "crm.import.completed",
    ]


async def test_an_explicit_mapping_wins_and_can_ignore_columns(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database, settings: Settings
) -> None:
    content = csv_text(
        "Kontakt;Mail;Firma;Name", "Grace Hopper;grace@navy.example;US Navy;ignored name"
    )
    job = await imported(
        client,
        tenant,
        db,
        settings,
        content,
        mapping={"Kontakt": "name", "Mail": "email", "Name": ""},
    )

    assert job["delimiter"] == ";"
    assert job["mapping"] == {"Kontakt": "name", "Mail": "email", "Firma": "company"}
    grace = (await contacts_of(db, tenant))["grace@navy.example"]
    assert (grace.name, grace.company_name) == ("Grace Hopper", "US Navy")


async def test_a_mapping_that_does_not_fit_the_file_is_422_with_paths(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    content = csv_text("Mail,Name", "a@example.com,A")
    r = await upload(
        client, tenant, content, mapping={"Nope": "email", "Name": "shoe_size", "Mail": "email"}
    )
    assert r.status_code == 422, r.text
    locs = {tuple(e["loc"]): e["msg"] for e in r.json()["errors"]}
    assert "no column" in locs[("body", "mapping", "Nope")]
    assert "unknown field" in locs[("body", "mapping", "Name")]

    r = await upload(client, tenant, content, mapping="{not json")
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "mapping"]


# --- validation report ------------------------------------------------------------------


async def test_invalid_rows_are_reported_with_their_fields_and_raw_values(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database, settings: Settings
) -> None:
    content = csv_text(
        "email,name,phone,country",
        "ok@example.com,Fine,,",
        "not-an-email,Broken,,",
        ",No Contact Data,,",
        f"long@example.com,{'x' * 201},,",
        "phone@example.com,Bad Phone,12,",
        "country@example.com,Bad Country,,Atlantis",
        ",Phone Only,+49 30 901820,DE",
    )
    job = await imported(client, tenant, db, settings, content)

    assert job["status"] == "completed"
    assert job["counts"] == {
        "created": 2,
        "updated": 0,
        "merged": 0,
        "skipped": 0,
        "unchanged": 0,
        "errors": 5,
    }
    r = await client.get(
        f"/api/v1/crm/imports/{job['id']}/errors", params={"limit": 2}, headers=tenant.headers
    )
    assert r.status_code == 200
    page = r.json()
    assert [e["row_number"] for e in page["items"]] == [2, 3]
    assert page["items"][0]["errors"][0]["field"] == "email"
    assert page["items"][0]["errors"][0]["column"] == "email"
    assert "invalid email" in page["items"][0]["errors"][0]["msg"]
    assert page["items"][0]["raw"] == {
        "email": "not-an-email",
        "name": "Broken",
        "phone": "",
        "country": "",
    }
    assert "email or a phone is required" in page["items"][1]["errors"][0]["msg"]
    r = await client.get(
        f"/api/v1/crm/imports/{job['id']}/errors",
        params={"cursor": page["next_cursor"]},
        headers=tenant.headers,
    )
    rest = r.json()
    assert rest["next_cursor"] is None
    assert [(e["row_number"], e["errors"][0]["field"]) for e in rest["items"]] == [
        (4, "name"),
        (5, "phone"),
        (6, "country"),
    ]
    assert "+49309018" in "".join((await contacts_of(db, tenant)).keys())


# --- duplicates -------------------------------------------------------------------------


async def _seed(
    client: httpx.AsyncClient, login: TenantLogin, db: Database, settings: Settings
) -> None:
    content = csv_text(
        "email,name,phone,title,tags,custom:tier",
        "ada@example.com,Ada,,Engineer,vip,gold",
        ",Phone Person,+1 415 555 0100,,,",
    )
    job = await imported(client, login, db, settings, content)
    assert job["counts"]["created"] == 2


DUPLICATE_FILE = csv_text(
    "email,name,phone,title,city,tags,custom:tier",
    "ADA@example.com,Ada Lovelace,,CTO,London,new,platinum",
    "phone.person@example.com,,+14155550100,,Paris,,",
)


async def test_skip_leaves_existing_contacts_alone(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database, settings: Settings
) -> None:
    await _seed(client, tenant, db, settings)
    job = await imported(client, tenant, db, settings, DUPLICATE_FILE, on_duplicate="skip")

    assert job["counts"]["skipped"] == 2 and job["counts"]["created"] == 0
    ada = (await contacts_of(db, tenant))["ada@example.com"]
    assert (ada.name, ada.title, ada.city, ada.version) == ("Ada", "Engineer", None, 1)


async def test_update_overwrites_with_the_non_empty_values(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database, settings: Settings
) -> None:
    await _seed(client, tenant, db, settings)
    job = await imported(client, tenant, db, settings, DUPLICATE_FILE, on_duplicate="update")

    assert job["counts"]["updated"] == 2 and job["counts"]["created"] == 0
    contacts = await contacts_of(db, tenant)
    ada = contacts["ada@example.com"]
    assert (ada.name, ada.title, ada.city, ada.version) == ("Ada Lovelace", "CTO", "London", 2)
    assert ada.tags == ["new"] and ada.properties == {"tier": "platinum"}
    # Found by phone: it had no email, now it has the file's, and kept its name.
    by_phone = contacts["phone.person@example.com"]
    assert (by_phone.name, by_phone.city) == ("Phone Person", "Paris")
    assert (await event_types(db, tenant, "crm.contact.updated")) == ["crm.contact.updated"] * 2


async def test_merge_fills_only_blank_fields_and_unites_tags(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database, settings: Settings
) -> None:
    await _seed(client, tenant, db, settings)
    job = await imported(client, tenant, db, settings, DUPLICATE_FILE, on_duplicate="merge")

    assert job["counts"]["merged"] == 2
    ada = (await contacts_of(db, tenant))["ada@example.com"]
    assert (ada.name, ada.title, ada.city) == ("Ada", "Engineer", "London")
    assert ada.tags == ["vip", "new"] and ada.properties == {"tier": "gold"}


async def test_duplicates_within_one_file_make_one_contact(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database, settings: Settings
) -> None:
    content = csv_text(
        "email,name,phone,city",
        "sam@example.com,Sam,,",
        "SAM@example.com,Samuel,,Berlin",
        ",Sam by phone,+1 415 555 0199,",
        "sam2@example.com,,+14155550199,Rome",
    )
    job = await imported(client, tenant, db, settings, content, on_duplicate="merge")

    assert job["counts"]["created"] == 2 and job["counts"]["merged"] == 2
    contacts = await contacts_of(db, tenant)
    assert len(contacts) == 2
    assert (contacts["sam@example.com"].name, contacts["sam@example.com"].city) == ("Sam", "Berlin")
    assert contacts["sam2@example.com"].name == "Sam by phone"


# --- bad files --------------------------------------------------------------------------


async def test_files_that_are_not_csv_are_422_at_the_file(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database
) -> None:
    cases = {
        "empty": b"",
        "binary": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
        "utf16": "email\nx@example.com\n".encode("utf-16"),
        "blank": b"\n\n  \n",
    }
    for name, content in cases.items():
        r = await upload(client, tenant, content, filename=f"{name}.csv")
        assert r.status_code == 422, (name, r.text)
        assert r.json()["errors"][0]["loc"] == ["body", "file"], name

    r = await upload(client, tenant, csv_text("name,company", "Ada,Analytical"))
    assert r.status_code == 422
    error = r.json()["errors"][0]
    assert error["loc"] == ["body", "mapping"] and "email or phone" in error["msg"]

    r = await upload(client, tenant, csv_text("email", "a@example.com"), kind="deals")
    assert r.status_code == 422
    r = await upload(client, tenant, csv_text("email", "a@example.com"), on_duplicate="replace")
    assert r.status_code == 422
    r = await client.get("/api/v1/crm/imports", headers=tenant.headers)
    assert r.json()["items"] == []


async def test_bom_cp1252_tabs_and_quoted_newlines_are_read(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database, settings: Settings
) -> None:
    bom = '\ufeffemail\tname\tcity\nzoe@example.com\t"Zoë\nSecond line"\tMünchen\n'
    job = await imported(client, tenant, db, settings, bom.encode("utf-8"))
    assert (job["encoding"], job["delimiter"], job["columns"]) == (
        "utf-8-sig",
        "\t",
        ["email", "name", "city"],
    )
    latin = "email;name\nrene@example.com;René Müller\n".encode("cp1252")
    job = await imported(client, tenant, db, settings, latin)
    assert job["encoding"] == "cp1252"
    contacts = await contacts_of(db, tenant)
    assert contacts["zoe@example.com"].name == "Zoë\nSecond line"
    assert contacts["zoe@example.com"].city == "München"
    assert contacts["rene@example.com"].name == "René Müller"


# --- tenancy and scopes -----------------------------------------------------------------


async def test_another_tenants_import_is_404_and_lists_are_per_tenant(
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    other_tenant: TenantLogin,
    db: Database,
    settings: Settings,
) -> None:
    job = await imported(client, tenant, db, settings, csv_text("email", "a@example.com"))
    for path in (f"/api/v1/crm/imports/{job['id']}", f"/api/v1/crm/imports/{job['id']}/errors"):
        r = await client.get(path, headers=other_tenant.headers)
        assert r.status_code == 404, path
    r = await client.get("/api/v1/crm/imports", headers=other_tenant.headers)
    assert r.json()["items"] == []
    r = await client.get("/api/v1/crm/imports", headers=tenant.headers)
    assert [i["id"] for i in r.json()["items"]] == [job["id"]]


async def test_a_read_only_key_cannot_import(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.post(
        "/api/v1/api-keys", json={"name": "reader", "scopes": ["crm:read"]}, headers=tenant.headers
    )
    assert r.status_code == 201, r.text
    reader = {"Authorization": f"Bearer {r.json()['key']}"}
    r = await client.post(
        "/api/v1/crm/imports",
        headers=reader,
        files={"file": ("c.csv", csv_text("email", "a@example.com"), "text/csv")},
    )
    assert r.status_code == 403
    r = await client.get("/api/v1/crm/exports/contacts.csv", headers=reader)
    assert r.status_code == 200


# --- export -----------------------------------------------------------------------------


def read_csv(text: str) -> list[dict[str, Any]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_export_imports_back_with_update_changing_nothing(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database, settings: Settings
) -> None:
    content = csv_text(
        "email,name,phone,company,title,country,city,tags,source,owner_email,custom:tier",
        f'ada@example.com,Ada,+44 20 7946 0018,Analytical,CTO,GB,London,"vip, uk",fair,'
        f"{tenant.email},gold",
        "bob@example.com,Bob,,,,,,,,,",
        ",Phone Only,+1 415 555 0100,,,,,,,,",
    )
    first = await imported(client, tenant, db, settings, content)
    assert first["counts"]["created"] == 3, first
    before = await contacts_of(db, tenant)

    r = await client.get("/api/v1/crm/contacts/export.csv", headers=tenant.headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    rows = read_csv(r.text)
    assert len(rows) == 3
    ada = next(row for row in rows if row["email"] == "ada@example.com")
    assert ada["owner_email"] == tenant.email and ada["custom:tier"] == "gold"
    assert ada["phone"] == "'+44 20 7946 0018"  # defused, and read back as the number

    again = await imported(
        client, tenant, db, settings, r.content, filename="export.csv", on_duplicate="update"
    )
    assert again["counts"] == {
        "created": 0,
        "updated": 0,
        "merged": 0,
        "skipped": 0,
        "unchanged": 3,
        "errors": 0,
    }
    after = await contacts_of(db, tenant)
    assert {k: c.version for k, c in after.items()} == {k: c.version for k, c in before.items()}
    assert await event_types(db, tenant, "crm.contact.updated") == []

    r = await client.get(
        "/api/v1/crm/exports/contacts.csv", params={"q": "ada"}, headers=tenant.headers
    )
    assert [row["email"] for row in read_csv(r.text)] == ["ada@example.com"]
    r = await client.get("/api/v1/crm/exports/companies.csv", headers=tenant.headers)
    assert [row["name"] for row in read_csv(r.text)] == ["Analytical"]


async def test_export_defuses_spreadsheet_formulas(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database, settings: Settings
) -> None:
    content = csv_text(
        "email,name,title,city,company",
        'evil@example.com,"=HYPERLINK(""http://x.example"")",+cmd,-2+3,@SUM(A1)',
    )
    await imported(client, tenant, db, settings, content)
    r = await client.get("/api/v1/crm/exports/contacts.csv", headers=tenant.headers)
    row = read_csv(r.text)[0]
    assert row["name"] == '\'=HYPERLINK("http://x.example")'
    assert (row["title"], row["city"], row["company"]) == ("'+cmd", "'-2+3", "'@SUM(A1)")
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        company = await session.scalar(sa.select(Company.name))
    assert company == "@SUM(A1)"  # stored as given; only the export is defused


async def test_export_of_another_tenant_has_none_of_our_contacts(
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    other_tenant: TenantLogin,
    db: Database,
    settings: Settings,
) -> None:
    await imported(client, tenant, db, settings, csv_text("email", "mine@example.com"))
    r = await client.get("/api/v1/crm/exports/contacts.csv", headers=other_tenant.headers)
    assert r.status_code == 200 and read_csv(r.text) == []


# --- leads ------------------------------------------------------------------------------


async def test_a_leads_import_creates_leads_and_skips_open_ones(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database, settings: Settings
) -> None:
    r = await client.post(
        "/api/v1/crm/leads", json={"email": "old@example.com"}, headers=tenant.headers
    )
    assert r.status_code == 201, r.text
    content = csv_text(
        "email,name,company,message",
        "new@example.com,New Lead,Acme,Call me",
        "old@example.com,Old Lead,,",
        "new@example.com,Again,,",
        "broken,Nobody,,",
    )
    r = await upload(client, tenant, content, kind="leads", on_duplicate="update")
    assert r.status_code == 422  # leads are only ever skipped
    job = await imported(client, tenant, db, settings, content, kind="leads")

    assert job["counts"]["created"] == 1
    assert job["counts"]["skipped"] == 2
    assert job["counts"]["errors"] == 1
    r = await client.get("/api/v1/crm/leads", headers=tenant.headers)
    emails = sorted(lead["email"] for lead in r.json()["items"])
    assert emails == ["new@example.com", "old@example.com"]


async def test_the_worker_resumes_an_import_where_it_stopped(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database, settings: Settings
) -> None:
    """Batches commit with their offset: a stopped import finishes without doubling."""
    from bizos.core.context import Context
    from bizos.modules.crm.imports import service

    rows = [f"p{i}@example.com,Person {i}" for i in range(25)]
    r = await upload(client, tenant, csv_text("email,name", *rows))
    import_id = r.json()["id"]
    ctx = Context(tenant_id=tenant.tenant_id, actor_type="system")
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        partial = await service.process_next_batch(session, ctx, import_id, batch_size=10)
    assert (partial.status, partial.processed_rows, partial.counts.created) == ("running", 10, 10)

    await run_imports(db, settings)  # the queued event: continues from row 11
    r = await client.get(f"/api/v1/crm/imports/{import_id}", headers=tenant.headers)
    assert r.json()["status"] == "completed"
    assert r.json()["counts"]["created"] == 25
    assert len(await contacts_of(db, tenant)) == 25
