"""The v2 companion resources (company, category, contract, vendor, business_unit, asset_owner,
custom_form_template) and their v1 side (/v1/companies, /v1/contracts, /v1/vendors,
/v1/business-units, /v1/custom-forms), and the v1 asset fields that point at them."""

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from yarl import URL

from tests.conftest import Tenant, TenantFactory
from tests.integration.v2_http import V2, call, ok, v1_create, v2_create

PROBLEM_TYPE = "application/problem+json"


# ---------------------------------------------------------------- helpers


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


@dataclass
class Kind:
    """One companion resource: how to make one, replace it, change part of it, and what it shows."""

    name: str
    create: dict[str, Any]
    put: dict[str, Any]
    patch: dict[str, Any]
    # What a PUT that leaves everything optional out shows (the fields that go back to null).
    put_nulls: dict[str, Any] = field(default_factory=dict)
    keys: frozenset[str] = frozenset({"id", "name"})


KINDS = [
    Kind(
        "company",
        {"name": "Acme North"},
        {"name": "Acme South"},
        {"name": "Acme East"},
    ),
    Kind(
        "category",
        {"name": "Laptop", "subcategory": "Ultrabook"},
        {"name": "Desktop"},
        {"subcategory": "Workstation"},
        put_nulls={"subcategory": None},
        keys=frozenset({"id", "name", "subcategory", "code", "kind"}),
    ),
    Kind(
        "contract",
        {"number": "C-100", "start_date": "2024-01-01", "end_date": "2026-12-31"},
        {"number": "C-200"},
        {"end_date": "2027-06-30"},
        put_nulls={"start_date": None, "end_date": None, "vendor": None},
        keys=frozenset({"id", "number", "start_date", "end_date", "vendor"}),
    ),
    Kind("vendor", {"name": "Dell"}, {"name": "Lenovo"}, {"name": "HP"}),
    Kind("business_unit", {"name": "Operations"}, {"name": "Finance"}, {"name": "Legal"}),
    Kind(
        "asset_owner",
        {"name": "Ada Lovelace", "email": "ada@example.com", "phone_number": "+44 20 7946 0000"},
        {"name": "Grace Hopper"},
        {"phone_number": "+1 555 0100"},
        put_nulls={"email": None, "phone_number": None},
        keys=frozenset({"id", "name", "email", "phone_number"}),
    ),
    Kind(
        "custom_form_template",
        {"name": "Laptop specs", "fields": [{"name": "ram_gb", "type": "integer"}]},
        {"name": "Server specs"},
        {"fields": [{"name": "cpu", "type": "string"}, {"name": "bought", "type": "date"}]},
        put_nulls={"fields": []},
        keys=frozenset({"id", "name", "fields"}),
    ),
]
KIND_IDS = [k.name for k in KINDS]


# ---------------------------------------------------------------- v2: list, detail, create, replace, delete


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
async def test_v2_companion_full_cycle(client: TestClient, tenant: Tenant, kind: Kind) -> None:
    base = f"{V2}/{kind.name}/"
    made = await v2_create(client, tenant, kind.name, kind.create)
    assert set(made) == kind.keys
    assert isinstance(made["id"], int) and not isinstance(made["id"], bool)
    assert {k: made[k] for k in kind.create} == kind.create
    item = f"{base}{made['id']}/"
    assert await ok(client, tenant, "GET", item) == made

    listed = await ok(client, tenant, "GET", base)
    assert set(listed) == {"count", "next", "previous", "results"}
    assert made in listed["results"]
    assert listed["next"] is None and listed["previous"] is None

    replaced = await ok(client, tenant, "PUT", item, kind.put)
    assert replaced["id"] == made["id"]
    assert {k: replaced[k] for k in kind.put} == kind.put
    assert {k: replaced[k] for k in kind.put_nulls} == kind.put_nulls
    assert await ok(client, tenant, "GET", item) == replaced

    changed = await ok(client, tenant, "PATCH", item, kind.patch)
    assert {k: changed[k] for k in kind.patch} == kind.patch
    untouched = {k: v for k, v in replaced.items() if k not in kind.patch}
    assert {k: changed[k] for k in untouched} == untouched

    resp = await client.delete(item, headers=tenant.auth())
    assert resp.status == 204
    assert await resp.read() == b""
    status, body = await call(client, tenant, "GET", item)
    assert status == 404 and set(body) == {"detail"}, body
    status, body = await call(client, tenant, "DELETE", item)
    assert status == 404 and set(body) == {"detail"}, body


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
async def test_v2_companion_of_another_organisation_is_404(
    client: TestClient, make_tenant: TenantFactory, kind: Kind
) -> None:
    owner, other = await make_tenant(), await make_tenant()
    made = await v2_create(client, owner, kind.name, kind.create)
    item = f"{V2}/{kind.name}/{made['id']}/"
    for method, body in (("GET", None), ("PUT", kind.put), ("PATCH", kind.patch), ("DELETE", None)):
        status, answer = await call(client, other, method, item, body)
        assert status == 404, (method, status, answer)
        assert set(answer) == {"detail"}, answer
    listed = await ok(client, other, "GET", f"{V2}/{kind.name}/")
    assert made["id"] not in [e["id"] for e in listed["results"]]
    # Nothing changed for its owner.
    assert await ok(client, owner, "GET", item) == made


async def test_v2_companion_list_pages_as_drf_does(client: TestClient, tenant: Tenant) -> None:
    made = [(await v2_create(client, tenant, "vendor", {"name": unique("Vendor")}))["id"] for _ in range(5)]
    first = await ok(client, tenant, "GET", f"{V2}/vendor/?page_size=2")
    assert first["count"] == 5 and [e["id"] for e in first["results"]] == made[:2]
    assert first["previous"] is None
    seen: list[int] = []
    link: str | None = f"{V2}/vendor/?page_size=2"
    pages = 0
    while link is not None:
        url = URL(link)
        if pages:
            assert url.is_absolute() and url.path == f"{V2}/vendor/"
        page = await ok(client, tenant, "GET", f"{V2}/vendor/?{url.query_string}")
        assert (page["previous"] is None) == (pages == 0)
        seen += [e["id"] for e in page["results"]]
        link = page["next"]
        pages += 1
    assert pages == 3 and seen == made
    big = await ok(client, tenant, "GET", f"{V2}/vendor/?page_size=500")
    assert [e["id"] for e in big["results"]] == made and big["next"] is None
    status, body = await call(client, tenant, "GET", f"{V2}/vendor/?page=4&page_size=2")
    assert (status, body) == (404, {"detail": "Invalid page."})
    status, body = await call(client, tenant, "GET", f"{V2}/vendor/?page=0")
    assert status == 400 and list(body) == ["page"], body
    status, body = await call(client, tenant, "GET", f"{V2}/vendor/?name=x")
    assert status == 400 and list(body) == ["name"], body
    # A fresh organisation has its company 1 and nothing else.
    companies = await ok(client, tenant, "GET", f"{V2}/company/")
    assert companies["count"] == 1 and companies["results"][0]["id"] == 1
    empty = await ok(client, tenant, "GET", f"{V2}/business_unit/")
    assert empty == {"count": 0, "next": None, "previous": None, "results": []}


async def test_companion_aliases_without_the_trailing_slash(client: TestClient, tenant: Tenant) -> None:
    resp = await client.post(f"{V2}/business_unit", json={"name": "Ops"}, headers=tenant.auth())
    assert resp.status == 201
    made = await resp.json()
    assert await ok(client, tenant, "GET", f"{V2}/business_unit/{made['id']}") == made
    assert await ok(client, tenant, "GET", f"{V2}/business_unit") == await ok(
        client, tenant, "GET", f"{V2}/business_unit/"
    )
    changed = await ok(client, tenant, "PATCH", f"{V2}/business_unit/{made['id']}", {"name": "Ops 2"})
    assert changed == {"id": made["id"], "name": "Ops 2"}
    resp = await client.delete(f"{V2}/business_unit/{made['id']}", headers=tenant.auth())
    assert resp.status == 204


async def test_companion_writes_need_the_write_scope_and_reads_the_read_scope(
    client: TestClient, tenant: Tenant
) -> None:
    made = await v2_create(client, tenant, "vendor", {"name": "Dell"})
    item = f"{V2}/vendor/{made['id']}/"
    for method, path, body in (
        ("POST", f"{V2}/vendor/", {"name": "x"}),
        ("PUT", item, {"name": "x"}),
        ("PATCH", item, {"name": "x"}),
        ("DELETE", item, None),
    ):
        status, answer = await call(client, tenant, method, path, body, token=tenant.read_token)
        assert (status, set(answer)) == (403, {"detail"}), (method, answer)
        resp = await client.request(method, path, json=body)
        assert resp.status == 401 and set(await resp.json()) == {"detail"}
    for path in (f"{V2}/vendor/", item):
        status, answer = await call(client, tenant, "GET", path, token=tenant.write_token)
        assert (status, set(answer)) == (403, {"detail"}), answer
        status, answer = await call(client, tenant, "GET", path, token=tenant.read_token)
        assert status == 200
    assert await ok(client, tenant, "GET", item) == made
    assert (await ok(client, tenant, "GET", f"{V2}/vendor/"))["count"] == 1


async def test_companion_validation_errors_are_drf_shaped(
    client: TestClient, make_tenant: TenantFactory
) -> None:
    tenant, other = await make_tenant(), await make_tenant()
    their_vendor = await v2_create(client, other, "vendor", {"name": "Theirs"})
    cases = [
        ("company", {}, "name"),
        ("company", {"name": ""}, "name"),
        ("vendor", {"name": None}, "name"),
        ("vendor", {"name": "x", "colour": "red"}, "colour"),
        ("business_unit", {"name": 12}, "name"),
        ("category", {"name": "x", "code": "lower"}, "code"),
        ("category", {"name": "x", "kind": "virtual"}, "kind"),
        ("contract", {"name": "x"}, "number"),
        ("contract", {"number": "C", "start_date": "soon"}, "start_date"),
        ("contract", {"number": "C", "end_date": "0"}, "end_date"),  # not a Unix time
        ("contract", {"number": "C", "end_date": "2025-01-01T00:00:00"}, "end_date"),
        ("contract", {"number": "\n"}, "number"),  # blank
        ("contract", {"number": "C", "vendor": their_vendor["id"]}, "vendor"),
        ("contract", {"number": "C", "vendor": "1"}, "vendor"),
        ("asset_owner", {"name": "x", "email": "nope"}, "email"),
        ("asset_owner", {"name": "x", "phone": "1"}, "phone"),
        (
            "custom_form_template",
            {"name": "x", "fields": [{"name": "a", "type": "colour"}]},
            "fields[0].type",
        ),
        ("custom_form_template", {"name": "x", "fields": {"a": "string"}}, "fields"),
        (
            "custom_form_template",
            {"name": "x", "fields": [{"name": "a", "type": "string"}, {"name": "a", "type": "integer"}]},
            "fields",
        ),
    ]
    for name, body, field_name in cases:
        status, answer = await call(client, tenant, "POST", f"{V2}/{name}/", body)
        assert status == 400, (name, body, answer)
        assert isinstance(answer, dict) and field_name in answer, (name, body, answer)
        assert all(isinstance(v, list) and all(isinstance(m, str) for m in v) for v in answer.values())
    status, answer = await call(client, tenant, "POST", f"{V2}/contract/", {"number": " \t"})
    assert answer == {"number": ["must not be blank"]}, answer
    # Nothing was made.
    for name in ("vendor", "business_unit", "category", "contract", "asset_owner", "custom_form_template"):
        assert (await ok(client, tenant, "GET", f"{V2}/{name}/"))["count"] == 0, name
    # Not-null fields of a PATCH; and a PUT needs what a create needs.
    made = await v2_create(client, tenant, "contract", {"number": "C-1"})
    status, answer = await call(client, tenant, "PATCH", f"{V2}/contract/{made['id']}/", {"number": None})
    assert status == 400 and list(answer) == ["number"], answer
    status, answer = await call(
        client, tenant, "PUT", f"{V2}/contract/{made['id']}/", {"end_date": "2025-01-01"}
    )
    assert status == 400 and list(answer) == ["number"], answer
    status, answer = await call(
        client, tenant, "PATCH", f"{V2}/contract/{made['id']}/", {"vendor": their_vendor["id"]}
    )
    assert status == 400 and list(answer) == ["vendor"], answer
    assert await ok(client, tenant, "GET", f"{V2}/contract/{made['id']}/") == made


# ---------------------------------------------------------------- in use: 409


async def test_deleting_a_companion_that_assets_use_is_409(client: TestClient, tenant: Tenant) -> None:
    company = await v2_create(client, tenant, "company", {"name": "Second"})
    category = await v2_create(client, tenant, "category", {"name": "Laptop"})
    contract = await v2_create(client, tenant, "contract", {"number": "C-1"})
    business_unit = await v2_create(client, tenant, "business_unit", {"name": "Ops"})
    owner = await v2_create(client, tenant, "asset_owner", {"name": "Ada"})
    form = await v2_create(client, tenant, "custom_form_template", {"name": "Specs", "fields": []})
    warranty = await v2_create(client, tenant, "vendor", {"name": "W"})
    support = await v2_create(client, tenant, "vendor", {"name": "S"})
    supplier = await v2_create(client, tenant, "vendor", {"name": "A"})
    used = {
        "company": (company, "company"),
        "category": (category, "category"),
        "contract": (contract, "contract"),
        "business_unit": (business_unit, "business_unit"),
        "asset_owner": (owner, "asset_owner"),
        "custom_form_template": (form, "template"),
        "vendor-warranty": (warranty, "warranty_provider"),
        "vendor-support": (support, "support_provider"),
        "vendor-supplier": (supplier, "attached_supplier"),
    }
    for key, (entry, asset_field) in used.items():
        name = key.split("-")[0]
        value: Any = {"id": entry["id"], "fields": {}} if asset_field == "template" else entry["id"]
        asset = await v2_create(client, tenant, "asset", {"name": f"uses {key}", asset_field: value})
        item = f"{V2}/{name}/{entry['id']}/"
        status, body = await call(client, tenant, "DELETE", item)
        assert status == 409 and set(body) == {"detail"}, (key, status, body)
        assert await ok(client, tenant, "GET", item) == entry, key
        # Once no asset uses it, it goes.
        query = f"?company={entry['id']}" if name == "company" else ""
        resp = await client.delete(f"{V2}/asset/{asset['id']}/{query}", headers=tenant.auth())
        assert resp.status == 204, key
        resp = await client.delete(item, headers=tenant.auth())
        assert resp.status == 204, key
        status, body = await call(client, tenant, "GET", item)
        assert status == 404, key


async def test_deleting_a_vendor_a_contract_names_is_409(client: TestClient, tenant: Tenant) -> None:
    vendor = await v2_create(client, tenant, "vendor", {"name": "Dell"})
    contract = await v2_create(client, tenant, "contract", {"number": "C-9", "vendor": vendor["id"]})
    assert contract["vendor"] == {"id": vendor["id"], "name": "Dell"}
    status, body = await call(client, tenant, "DELETE", f"{V2}/vendor/{vendor['id']}/")
    assert status == 409 and set(body) == {"detail"}, body
    # v1 refuses it the same way, in its own shape.
    vendor_v1 = (await ok(client, tenant, "GET", "/v1/vendors"))["data"][0]["id"]
    status, body = await call(client, tenant, "DELETE", f"/v1/vendors/{vendor_v1}")
    assert status == 409 and body["code"] == "CONFLICT", body
    # A PUT without the vendor frees it.
    replaced = await ok(client, tenant, "PUT", f"{V2}/contract/{contract['id']}/", {"number": "C-9"})
    assert replaced["vendor"] is None
    resp = await client.delete(f"{V2}/vendor/{vendor['id']}/", headers=tenant.auth())
    assert resp.status == 204


# ---------------------------------------------------------------- categories are v1 asset types


async def test_category_is_the_v1_asset_type(client: TestClient, tenant: Tenant) -> None:
    first = await v2_create(client, tenant, "category", {"name": "Laptop", "subcategory": "Ultrabook"})
    assert first["kind"] == "physical" and first["code"] == "LAPTOP" and first["subcategory"] == "Ultrabook"
    second = await v2_create(client, tenant, "category", {"name": "Laptop"})
    assert second["code"] != first["code"] and second["code"].startswith("LAPTOP")
    licence = await v2_create(
        client, tenant, "category", {"name": "Licence", "code": "LIC", "kind": "logical"}
    )
    assert (licence["code"], licence["kind"]) == ("LIC", "logical")
    status, body = await call(client, tenant, "POST", f"{V2}/category/", {"name": "Other", "code": "LIC"})
    assert status == 409 and set(body) == {"detail"}, body
    types = {t["code"]: t for t in (await ok(client, tenant, "GET", "/v1/asset-types"))["data"]}
    assert set(types) == {first["code"], second["code"], "LIC"}
    assert types["LAPTOP"]["name"] == "Laptop" and types["LAPTOP"]["subcategory"] == "Ultrabook"
    assert types["LIC"]["kind"] == "logical"
    # A v1 asset type shows as a category, and a v1 change shows through v2.
    made = await v1_create(
        client,
        tenant,
        "/v1/asset-types",
        {"name": "Server", "code": "SRV", "kind": "physical", "subcategory": "Rack"},
    )
    await ok(client, tenant, "PATCH", f"/v1/asset-types/{made['id']}", {"subcategory": "Blade"})
    shown = [c for c in (await ok(client, tenant, "GET", f"{V2}/category/"))["results"] if c["code"] == "SRV"]
    assert len(shown) == 1
    assert {k: shown[0][k] for k in ("name", "subcategory", "kind")} == {
        "name": "Server",
        "subcategory": "Blade",
        "kind": "physical",
    }
    # The v1 tag template's {TYPE_CODE} uses a v2 category's code.
    await ok(client, tenant, "PUT", "/v1/settings/asset-tag", {"template": "{TYPE_CODE}-NNNN"})
    asset = await v2_create(client, tenant, "asset", {"name": "tagged", "category": licence["id"]})
    assert asset["asset_tag"].startswith("LIC-")
    assert asset["category"] == {"id": licence["id"], "name": "Licence", "subcategory": None}


async def test_renaming_a_companion_shows_in_the_assets_that_use_it(
    client: TestClient, tenant: Tenant
) -> None:
    vendor = await v2_create(client, tenant, "vendor", {"name": "Dell"})
    owner = await v2_create(client, tenant, "asset_owner", {"name": "Ada", "email": "ada@example.com"})
    contract = await v2_create(client, tenant, "contract", {"number": "C-1"})
    asset = await v2_create(
        client,
        tenant,
        "asset",
        {
            "name": "x",
            "warranty_provider": vendor["id"],
            "asset_owner": owner["id"],
            "contract": contract["id"],
        },
    )
    assert asset["asset_owner"] == {
        "id": owner["id"],
        "name": "Ada",
        "email": "ada@example.com",
        "phone_number": None,
    }
    await ok(client, tenant, "PATCH", f"{V2}/vendor/{vendor['id']}/", {"name": "Dell Technologies"})
    await ok(
        client, tenant, "PUT", f"{V2}/asset_owner/{owner['id']}/", {"name": "Ada L.", "phone_number": "123"}
    )
    await ok(client, tenant, "PATCH", f"{V2}/contract/{contract['id']}/", {"number": "C-2"})
    shown = await ok(client, tenant, "GET", f"{V2}/asset/{asset['id']}/")
    assert shown["warranty_provider"] == {"id": vendor["id"], "name": "Dell Technologies"}
    assert shown["asset_owner"] == {"id": owner["id"], "name": "Ada L.", "email": None, "phone_number": "123"}
    assert shown["contract"] == {"id": contract["id"], "number": "C-2"}


# ---------------------------------------------------------------- the v1 side


V1_KINDS = [
    ("/v1/companies", "company", {"name": "Acme North"}, {"name": "Acme South"}),
    ("/v1/vendors", "vendor", {"name": "Dell"}, {"name": "Dell Inc."}),
    ("/v1/business-units", "business_unit", {"name": "Ops"}, {"name": "Operations"}),
    (
        "/v1/contracts",
        "contract",
        {"number": "C-1", "start_date": "2024-01-01", "end_date": "2025-01-01"},
        {"end_date": "2026-01-01"},
    ),
    (
        "/v1/custom-forms",
        "custom_form_template",
        {"name": "Specs", "fields": [{"name": "ram_gb", "type": "integer"}]},
        {"fields": [{"name": "ram_gb", "type": "integer"}, {"name": "cpu", "type": "string"}]},
    ),
]


@pytest.mark.parametrize(("path", "v2_name", "create", "patch"), V1_KINDS, ids=[k[0] for k in V1_KINDS])
async def test_v1_companion_resources(
    client: TestClient,
    make_tenant: TenantFactory,
    path: str,
    v2_name: str,
    create: dict[str, Any],
    patch: dict[str, Any],
) -> None:
    tenant, other = await make_tenant(), await make_tenant()
    made = await v1_create(client, tenant, path, create)
    assert isinstance(made["id"], str) and {k: made[k] for k in create} == create
    assert {"created_at", "updated_at"} <= set(made)
    item = f"{path}/{made['id']}"
    assert (await ok(client, tenant, "GET", item))["data"] == made
    listed = await ok(client, tenant, "GET", path)
    assert made in listed["data"] and set(listed["meta"]) >= {"total", "page", "limit"}
    changed = (await ok(client, tenant, "PATCH", item, patch))["data"]
    assert {k: changed[k] for k in patch} == patch
    assert {k: changed[k] for k in create if k not in patch} == {
        k: v for k, v in create.items() if k not in patch
    }
    # The same object through v2.
    v2_entries = (await ok(client, tenant, "GET", f"{V2}/{v2_name}/"))["results"]
    key = "number" if v2_name == "contract" else "name"
    matching = [e for e in v2_entries if e[key] == changed[key]]
    assert len(matching) == 1
    if v2_name == "company":
        assert matching[0]["id"] == changed["number"] == 2
    if v2_name == "custom_form_template":
        assert matching[0]["fields"] == changed["fields"]
    # Another organisation sees none of it.
    for method in ("GET", "PATCH", "DELETE"):
        status, body = await call(client, other, method, item, patch if method == "PATCH" else None)
        assert status == 404 and body["code"] == "NOT_FOUND", (method, body)
    status, body = await call(client, tenant, "POST", path, {**create, "colour": "red"})
    assert status == 400 and [e["field"] for e in body["errors"]] == ["colour"], body
    status, body = await call(client, tenant, "POST", path, create, token=tenant.read_token)
    assert status == 403 and body["code"] == "FORBIDDEN"
    deleted = await ok(client, tenant, "DELETE", item)
    assert "message" in deleted
    status, body = await call(client, tenant, "GET", item)
    assert status == 404 and body["code"] == "NOT_FOUND"
    status, body = await call(client, tenant, "GET", f"{V2}/{v2_name}/{matching[0]['id']}/")
    assert status == 404 and set(body) == {"detail"}


async def test_v1_contract_number_and_dates_are_checked_as_documented(
    client: TestClient, tenant: Tenant
) -> None:
    """The number is not blank (the schema's pattern) and stripped; dates are YYYY-MM-DD only."""
    made = await v1_create(client, tenant, "/v1/contracts", {"number": "  C-9 "})
    assert made["number"] == "C-9"
    not_a_date = "must be an ISO 8601 date such as 2026-03-31"
    for body, field_name, message in (
        ({"number": "\n"}, "number", "must not be blank"),
        ({"number": "C", "end_date": "0"}, "end_date", not_a_date),
        ({"number": "C", "start_date": 1704067200}, "start_date", not_a_date),
    ):
        status, answer = await call(client, tenant, "POST", "/v1/contracts", body)
        assert status == 400, answer
        assert answer["errors"] == [{"field": field_name, "message": message}], answer
    item = f"/v1/contracts/{made['id']}"
    status, answer = await call(client, tenant, "PATCH", item, {"end_date": "20250101"})
    assert status == 400 and answer["errors"][0]["field"] == "end_date", answer
    # A contract cannot end before it starts: on create, and on a change of either date alone.
    backwards = {"number": "C", "start_date": "2025-01-01", "end_date": "2024-01-01"}
    status, answer = await call(client, tenant, "POST", "/v1/contracts", backwards)
    assert status == 400, answer
    assert answer["errors"] == [
        {"field": "end_date", "message": "must not be before start_date (2025-01-01)"}
    ]
    dated = await v1_create(client, tenant, "/v1/contracts", {"number": "C-10", "start_date": "2025-01-01"})
    status, answer = await call(
        client, tenant, "PATCH", f"/v1/contracts/{dated['id']}", {"end_date": "2024-12-31"}
    )
    assert status == 400 and answer["errors"][0]["field"] == "end_date", answer
    same_day = await ok(client, tenant, "PATCH", f"/v1/contracts/{dated['id']}", {"end_date": "2025-01-01"})
    v2_id = next(
        c["id"]
        for c in (await ok(client, tenant, "GET", f"{V2}/contract/"))["results"]
        if c["number"] == "C-10"
    )
    status, answer = await call(
        client, tenant, "PATCH", f"{V2}/contract/{v2_id}/", {"start_date": "2025-01-02"}
    )
    assert (status, list(answer)) == (400, ["end_date"]), answer
    status, answer = await call(client, tenant, "POST", f"{V2}/contract/", backwards)
    assert (status, list(answer)) == (400, ["end_date"]), answer
    listed = (await ok(client, tenant, "GET", "/v1/contracts"))["data"]
    assert sorted(listed, key=lambda c: c["number"]) == [same_day["data"], made]


async def test_v1_assets_take_the_companion_ids_and_location_fields(
    client: TestClient, make_tenant: TenantFactory
) -> None:
    tenant, other = await make_tenant(), await make_tenant()
    company = await v1_create(client, tenant, "/v1/companies", {"name": "Second"})
    vendor = await v1_create(client, tenant, "/v1/vendors", {"name": "Dell"})
    support = await v1_create(client, tenant, "/v1/vendors", {"name": "SupportCo"})
    supplier = await v1_create(client, tenant, "/v1/vendors", {"name": "CDW"})
    contract = await v1_create(client, tenant, "/v1/contracts", {"number": "C-7", "vendor_id": vendor["id"]})
    assert contract["vendor_id"] == vendor["id"] and contract["vendor_name"] == "Dell"
    unit = await v1_create(client, tenant, "/v1/business-units", {"name": "Ops"})
    form = await v1_create(
        client,
        tenant,
        "/v1/custom-forms",
        {"name": "Specs", "fields": [{"name": "ram_gb", "type": "integer"}]},
    )
    ids = {
        "company_id": company["id"],
        "contract_id": contract["id"],
        "business_unit_id": unit["id"],
        "warranty_provider_id": vendor["id"],
        "support_provider_id": support["id"],
        "attached_supplier_id": supplier["id"],
        "custom_form_id": form["id"],
    }
    location = {
        "address": "1 Main St",
        "city": "Leeds",
        "country": "GB",
        "region": "Yorkshire",
        "location_description": "Desk 12",
    }
    asset = await v1_create(
        client, tenant, "/v1/assets", {"name": "Placed", **ids, **location, "custom_fields": {"ram_gb": 16}}
    )
    assert {k: asset[k] for k in ids} == ids
    assert {k: asset[k] for k in location} == location
    # Through v2, in company 2, with every reference nested.
    page = await ok(client, tenant, "GET", f"{V2}/asset/?company={company['number']}")
    assert page["count"] == 1
    shown = page["results"][0]
    assert shown["company"] == company["number"] == 2
    assert {k: shown[k] for k in location} == location
    assert shown["contract"]["number"] == "C-7"
    assert shown["business_unit"]["name"] == "Ops"
    assert shown["warranty_provider"]["name"] == "Dell"
    assert shown["support_provider"]["name"] == "SupportCo"
    assert shown["attached_supplier"]["name"] == "CDW"
    assert shown["template"]["fields"] == {"ram_gb": 16} and isinstance(shown["template"]["id"], int)
    # A v1 PATCH moves and clears them.
    first_company = next(
        c for c in (await ok(client, tenant, "GET", "/v1/companies"))["data"] if c["number"] == 1
    )
    patched = (
        await ok(
            client,
            tenant,
            "PATCH",
            f"/v1/assets/{asset['id']}",
            {"company_id": first_company["id"], "contract_id": None, "city": "York", "address": None},
        )
    )["data"]
    assert patched["company_id"] == first_company["id"] and patched["contract_id"] is None
    assert (patched["city"], patched["address"]) == ("York", None)
    moved = (await ok(client, tenant, "GET", f"{V2}/asset/"))["results"]
    assert len(moved) == 1 and moved[0]["contract"] is None and moved[0]["city"] == "York"
    status, body = await call(client, tenant, "PATCH", f"/v1/assets/{asset['id']}", {"company_id": None})
    assert status == 400 and [e["field"] for e in body["errors"]] == ["company_id"], body
    # Custom fields must fit the form.
    status, body = await call(
        client, tenant, "PATCH", f"/v1/assets/{asset['id']}", {"custom_fields": {"ram_gb": "lots"}}
    )
    assert status == 400 and [e["field"] for e in body["errors"]] == ["custom_fields.ram_gb"], body
    status, body = await call(
        client, tenant, "PATCH", f"/v1/assets/{asset['id']}", {"custom_fields": {"gpu": 1}}
    )
    assert status == 400 and [e["field"] for e in body["errors"]] == ["custom_fields.gpu"], body
    # Ids of another organisation are a 400 naming the field.
    theirs = await v1_create(client, other, "/v1/vendors", {"name": "Theirs"})
    for name in ("warranty_provider_id", "support_provider_id", "attached_supplier_id"):
        status, body = await call(client, tenant, "PATCH", f"/v1/assets/{asset['id']}", {name: theirs["id"]})
        assert status == 400 and [e["field"] for e in body["errors"]] == [name], body
    unchanged = (await ok(client, tenant, "GET", f"/v1/assets/{asset['id']}"))["data"]
    assert unchanged["custom_fields"] == {"ram_gb": 16} and unchanged["warranty_provider_id"] == vendor["id"]


# ---------------------------------------------------------------- concurrency


async def test_concurrent_creates_get_distinct_ids(client: TestClient, tenant: Tenant) -> None:
    async def make(name: str, body: dict[str, Any]) -> tuple[int, Any]:
        return await call(client, tenant, "POST", f"{V2}/{name}/", body)

    companies = await asyncio.gather(*(make("company", {"name": f"C{n}"}) for n in range(8)))
    assert [s for s, _ in companies] == [201] * 8, companies
    assert sorted(b["id"] for _, b in companies) == list(range(2, 10))
    # Categories made without a code, all with the same name, at once: each gets a code of its own.
    categories = await asyncio.gather(*(make("category", {"name": "Laptop"}) for _ in range(6)))
    assert [s for s, _ in categories] == [201] * 6, categories
    codes = [b["code"] for _, b in categories]
    assert len(set(codes)) == 6 and all(c.startswith("LAPTOP") for c in codes)


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
async def test_a_companion_read_written_back_with_put_changes_nothing(
    client: TestClient, tenant: Tenant, kind: Kind
) -> None:
    body = dict(kind.create)
    if kind.name == "contract":
        vendor = await v2_create(client, tenant, "vendor", {"name": "Dell"})
        body["vendor"] = vendor["id"]
    made = await v2_create(client, tenant, kind.name, body)
    item = f"{V2}/{kind.name}/{made['id']}/"
    written_back = {**made, "id": made["id"] + 1000}  # the read-only id is ignored
    assert await ok(client, tenant, "PUT", item, written_back) == made
    assert await ok(client, tenant, "PATCH", item, made) == made
    assert await ok(client, tenant, "GET", item) == made


async def test_an_organisation_keeps_at_least_one_company(client: TestClient, tenant: Tenant) -> None:
    """DESIGN: "An organisation has one or more companies"; deleting the last one would leave v1
    creates (whose company defaults to the organisation's first) with nowhere to go."""
    status, body = await call(client, tenant, "DELETE", f"{V2}/company/1/")
    assert status == 409 and set(body) == {"detail"}, (status, body)
    companies = await ok(client, tenant, "GET", f"{V2}/company/")
    assert [c["id"] for c in companies["results"]] == [1]
    made = await v1_create(client, tenant, "/v1/assets", {"name": "still fine"})
    assert made["company_id"] == (await ok(client, tenant, "GET", "/v1/companies"))["data"][0]["id"]


async def test_v1_assets_default_to_the_organisations_first_company(
    client: TestClient, tenant: Tenant
) -> None:
    """README/v1 schema: company_id defaults to "the organisation's first" company."""
    second = await v2_create(client, tenant, "company", {"name": "Second"})
    deleted, body = await call(client, tenant, "DELETE", f"{V2}/company/1/")
    # Refusing to delete company 1 at all would also keep the promise; deleting it must not break creates.
    assert deleted == 204 or (deleted == 409 and set(body) == {"detail"}), (deleted, body)
    status, made = await call(client, tenant, "POST", "/v1/assets", {"name": "where does it go"})
    assert status == 201, made
    companies = (await ok(client, tenant, "GET", "/v1/companies"))["data"]
    first = min(companies, key=lambda c: c["number"])
    assert first["number"] == (1 if deleted == 409 else second["id"])
    assert made["data"]["company_id"] == first["id"]
