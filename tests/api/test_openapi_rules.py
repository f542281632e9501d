"""``/openapi.json`` states the rules the server enforces on requests, so a request the
document calls valid is not refused by a rule it never mentioned: no NUL in any text, the
shape of a cursor (and that it must be one we issued), the ``If-Match`` syntax, and the
problem+json errors each operation can answer (415 where it takes more than JSON)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.api.conftest import assert_problem
from tests.conftest import TenantLogin

NO_NUL = r"^[^\x00]*$"
PROBLEM = "application/problem+json"


@pytest.fixture
async def spec(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    doc: dict[str, Any] = r.json()
    return doc


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def string_branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in [schema, *schema.get("anyOf", ())] if b.get("type") == "string"]


def component(doc: dict[str, Any], name: str) -> dict[str, Any]:
    schema: dict[str, Any] = doc["components"]["schemas"][name]
    return schema


def test_every_free_text_parameter_states_that_it_holds_no_nul(spec: dict[str, Any]) -> None:
    unstated = [
        (method, path, parameter["name"])
        for path, method, op in operations(spec)
        for parameter in op.get("parameters", ())
        if parameter["in"] in ("path", "query")
        for branch in string_branches(parameter["schema"])
        if not {"pattern", "enum", "const"} & branch.keys()
    ]
    assert unstated == []
    tag = next(
        p for p in spec["paths"]["/api/v1/crm/contacts"]["get"]["parameters"] if p["name"] == "q"
    )
    assert string_branches(tag["schema"])[0]["pattern"] == NO_NUL


def test_body_text_and_free_form_keys_state_that_they_hold_no_nul(spec: dict[str, Any]) -> None:
    deal = component(spec, "DealCreate")["properties"]
    assert deal["name"]["pattern"] == NO_NUL
    properties = deal["properties"]
    assert properties["propertyNames"] == {"pattern": NO_NUL}
    assert properties["additionalProperties"] == {"$ref": "#/components/schemas/NoNulJson"}
    free_form = component(spec, "NoNulJson")["anyOf"]
    assert {"type": "string", "pattern": NO_NUL} in free_form


async def test_a_nul_in_body_text_is_refused_as_the_document_says(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.post(
        "/api/v1/crm/deals",
        json={"name": "Big", "amount": "1.00", "currency": "USD", "properties": {"a\x00": 1}},
        headers=tenant.headers,
    )
    assert_problem(r, 422)


async def test_the_cursor_a_list_issues_matches_the_documented_pattern(
    client: httpx.AsyncClient, tenant: TenantLogin, spec: dict[str, Any]
) -> None:
    for name in ("Ada", "Grace"):
        r = await client.post("/api/v1/crm/contacts", json={"name": name}, headers=tenant.headers)
        assert r.status_code == 201, r.text
    r = await client.get("/api/v1/crm/contacts?limit=1", headers=tenant.headers)
    cursor = r.json()["next_cursor"]
    parameter = next(
        p
        for p in spec["paths"]["/api/v1/crm/contacts"]["get"]["parameters"]
        if p["name"] == "cursor"
    )
    pattern = string_branches(parameter["schema"])[0]["pattern"]
    assert re.search(pattern, cursor)
    assert "issue" in parameter["description"]
    # Well-formed but not ours: the description says so, and the server refuses it.
    forged = "QUJD.AAAAAAAAAAAA"
    assert re.search(pattern, forged)
    r = await client.get(f"/api/v1/crm/contacts?cursor={forged}", headers=tenant.headers)
    assert_problem(r, 422)


def test_if_match_headers_state_the_version_syntax(spec: dict[str, Any]) -> None:
    headers = [
        parameter
        for _, _, op in operations(spec)
        for parameter in op.get("parameters", ())
        if parameter["in"] == "header" and parameter["name"].lower() == "if-match"
    ]
    assert len(headers) > 10
    patterns = {h["schema"].get("pattern") for h in headers}
    assert len(patterns) == 1
    pattern = re.compile(patterns.pop())
    for value in ("3", '"3"', 'W/"3"', "*", '1, W/"2"', ""):
        assert pattern.search(value), value
    for value in ("abc", "3.0", "W/3", "1,,2", "-1"):
        assert not pattern.search(value), value


async def test_an_if_match_outside_the_syntax_is_refused(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.post(
        "/api/v1/crm/deals",
        json={"name": "Big", "amount": "1.00", "currency": "USD"},
        headers=tenant.headers,
    )
    deal = r.json()
    r = await client.patch(
        f"/api/v1/crm/deals/{deal['id']}",
        json={"name": "Bigger"},
        headers={**tenant.headers, "If-Match": "abc"},
    )
    assert_problem(r, 422)


def test_every_documented_error_is_problem_json(spec: dict[str, Any]) -> None:
    not_problem = [
        (method, path, status)
        for path, method, op in operations(spec)
        for status, response in op["responses"].items()
        if status[0] in ("4", "5") and PROBLEM not in response.get("content", {})
    ]
    assert not_problem == []


def test_operations_taking_more_than_json_document_415(spec: dict[str, Any]) -> None:
    for path, method, op in operations(spec):
        media_types = set(op.get("requestBody", {}).get("content", {}))
        expected = bool(media_types - {"application/json"})
        assert ("415" in op["responses"]) is expected, (method, path)
    upload = spec["paths"]["/api/v1/kb/documents"]["post"]["responses"]["415"]
    assert PROBLEM in upload["content"]


def test_decimal_text_is_documented_as_a_decimal(spec: dict[str, Any]) -> None:
    amount = component(spec, "DealCreate")["properties"]["amount"]["anyOf"]
    text = next(b for b in amount if b["type"] == "string")
    pattern = re.compile(text["pattern"])
    assert pattern.search("12.50") and pattern.search("-3") and pattern.search("0.0001")
    assert not pattern.search("12,50") and not pattern.search("1e3") and not pattern.search("")


def test_a_stored_file_may_come_in_the_type_it_was_stored_with(spec: dict[str, Any]) -> None:
    download = spec["paths"]["/api/v1/crm/attachments/{attachment_id}/content"]["get"]
    assert "*/*" in download["responses"]["200"]["content"]


@pytest.mark.parametrize(
    ("schema", "fields"),
    [
        ("TaskUpdate", {"title", "priority", "status"}),
        ("TaskTemplateUpdate", {"trigger", "title", "priority", "due_in_hours", "active"}),
        ("SlaPolicyUpdate", {"name", "targets", "is_default", "active"}),
    ],
)
def test_updates_do_not_offer_null_for_fields_that_cannot_be_cleared(
    spec: dict[str, Any], schema: str, fields: set[str]
) -> None:
    properties = component(spec, schema)["properties"]
    nullable = {
        name
        for name in fields
        if {"type": "null"} in properties[name].get("anyOf", ())
        or properties[name].get("type") == "null"
    }
    assert nullable == set()
