"""The v2 dialect's asset API (/api/v2/asset/) over the same data as v1: every field both ways,
every query parameter and ordering key, DRF pagination, PUT/PATCH/DELETE, errors, events and audit."""

import asyncio
import datetime as dt
import io
import json
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient
from yarl import URL

from shared.services import organisations
from shared.services.unit_of_work import unit_of_work
from tests.conftest import TapFactory, Tenant, TenantFactory, poll
from tests.integration.v2_http import V2, call, ok, v1_create, v2_create

# Every key of the document's response syntax (plus the company and the two dates this dialect adds).
ASSET_KEYS = {
    "id",
    "name",
    "company",
    "contract",
    "category",
    "manufacturer",
    "serial_number",
    "address",
    "city",
    "country",
    "region",
    "location_description",
    "asset_owner",
    "business_unit",
    "warranty_status",
    "warranty_type",
    "warranty_provider",
    "end_of_life_date",
    "warranty_start_date",
    "warranty_end_date",
    "warranty_contact_phone",
    "warranty_contact_email",
    "warranty_notes",
    "support_status",
    "support_type",
    "support_provider",
    "attached_supplier",
    "end_of_support_date",
    "support_start_date",
    "support_end_date",
    "support_contact_phone",
    "support_contact_email",
    "support_notes",
    "usage_status",
    "asset_tag",
    "asset_notes",
    "original_cost",
    "service_start_date",
    "depreciation_schedule",
    "estimated_salvage_value",
    "financial_notes",
    "template",
    "created_date",
    "modified_date",
}
WARRANTY_KEYS = {
    "id",
    "name",
    "asset_tag",
    "warranty_status",
    "warranty_type",
    "warranty_provider",
    "end_of_life_date",
    "warranty_start_date",
    "warranty_end_date",
    "warranty_contact_phone",
    "warranty_contact_email",
    "warranty_notes",
}
SUPPORT_KEYS = {
    "id",
    "name",
    "asset_tag",
    "support_status",
    "support_type",
    "support_provider",
    "attached_supplier",
    "end_of_support_date",
    "support_start_date",
    "support_end_date",
    "support_contact_phone",
    "support_contact_email",
    "support_notes",
}
USAGE_STATUSES = [
    (1, "in_stock", "In Stock"),
    (2, "preparing", "Preparing"),
    (3, "in_use", "In Use"),
    (4, "in_service", "In Service"),
    (5, "returned", "Returned"),
    (6, "scrapped", "Scrapped"),
]
# Written by the worker, which may be running beside these tests: they change without a write.
DERIVED = frozenset({"warranty_status", "support_status", "book_value"})
# Keys a bare asset has values for (or the worker will): every other key of a bare asset is null.
NEVER_NULL = frozenset(
    {"id", "name", "company", "usage_status", "warranty_type", "support_type", "asset_tag", "template"}
    | {"created_date", "modified_date", "warranty_status", "support_status"}
)


# ---------------------------------------------------------------- helpers


async def v2_asset(client: TestClient, tenant: Tenant, **fields: Any) -> dict[str, Any]:
    body = {"name": f"asset-{uuid.uuid4().hex[:8]}", **fields}
    return await v2_create(client, tenant, "asset", body)


async def v1_asset(client: TestClient, tenant: Tenant, **fields: Any) -> dict[str, Any]:
    body = {"name": f"asset-{uuid.uuid4().hex[:8]}", **fields}
    return await v1_create(client, tenant, "/v1/assets", body)


async def v2_get(client: TestClient, tenant: Tenant, number: int, query: str = "") -> dict[str, Any]:
    data: dict[str, Any] = await ok(client, tenant, "GET", f"{V2}/asset/{number}/{query}")
    return data


async def v1_get(client: TestClient, tenant: Tenant, asset_id: str) -> dict[str, Any]:
    data: dict[str, Any] = (await ok(client, tenant, "GET", f"/v1/assets/{asset_id}"))["data"]
    return data


async def v2_list(client: TestClient, tenant: Tenant, query: str = "") -> dict[str, Any]:
    data: dict[str, Any] = await ok(client, tenant, "GET", f"{V2}/asset/{query}")
    return data


async def number_of(client: TestClient, tenant: Tenant, asset_id: str, company: int = 1) -> int:
    """The v2 (integer) id of a v1 asset, found through the v2 list by its name and asset tag."""
    asset = await v1_get(client, tenant, asset_id)
    page = await v2_list(client, tenant, f"?company={company}&name={asset['name']}&page_size=100")
    found = [a["id"] for a in page["results"] if a["asset_tag"] == asset["asset_tag"]]
    assert len(found) == 1, page
    number: int = found[0]
    return number


async def v1_id_of(client: TestClient, tenant: Tenant, shown: dict[str, Any]) -> str:
    """The v1 (string) id of an asset read through v2, found through the v1 list by its asset tag."""
    page = await ok(client, tenant, "GET", f"/v1/assets?q={shown['asset_tag']}")
    found = [a["id"] for a in page["data"] if a["asset_tag"] == shown["asset_tag"]]
    assert len(found) == 1, page
    asset_id: str = found[0]
    return asset_id


def settled(asset: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in asset.items() if k not in DERIVED}


def ids(page: dict[str, Any]) -> list[int]:
    return [a["id"] for a in page["results"]]


def when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


class World:
    """Every companion object an asset can point at, in one tenant, with both ids of each."""

    def __init__(self) -> None:
        self.v1: dict[str, str] = {}
        self.v2: dict[str, dict[str, Any]] = {}


async def v1_id_in(client: TestClient, tenant: Tenant, path: str, key: str, value: Any) -> str:
    """The v1 id of the entry of a v1 list whose `key` is `value`."""
    page = await ok(client, tenant, "GET", f"{path}?limit=100")
    found = [e["id"] for e in page["data"] if e[key] == value]
    assert len(found) == 1, (path, page)
    entry_id: str = found[0]
    return entry_id


async def build_world(client: TestClient, tenant: Tenant) -> World:
    """Companions made through v2, with their v1 ids looked up through the v1 lists."""
    w = World()
    tag = uuid.uuid4().hex[:6]
    w.v2["company"] = await v2_create(client, tenant, "company", {"name": f"Second {tag}"})
    w.v2["category"] = await v2_create(
        client, tenant, "category", {"name": f"Laptop {tag}", "subcategory": "Ultrabook"}
    )
    w.v2["warranty_provider"] = await v2_create(client, tenant, "vendor", {"name": f"Dell {tag}"})
    w.v2["support_provider"] = await v2_create(client, tenant, "vendor", {"name": f"SupportCo {tag}"})
    w.v2["attached_supplier"] = await v2_create(client, tenant, "vendor", {"name": f"CDW {tag}"})
    w.v2["contract"] = await v2_create(
        client,
        tenant,
        "contract",
        {
            "number": f"C-{tag}",
            "start_date": "2024-01-01",
            "end_date": "2027-01-01",
            "vendor": w.v2["warranty_provider"]["id"],
        },
    )
    w.v2["business_unit"] = await v2_create(client, tenant, "business_unit", {"name": f"Ops {tag}"})
    w.v2["asset_owner"] = await v2_create(
        client,
        tenant,
        "asset_owner",
        {"name": f"Ada {tag}", "email": f"ada-{tag}@example.com", "phone_number": "+44 20 7946 0000"},
    )
    w.v2["template"] = await v2_create(
        client,
        tenant,
        "custom_form_template",
        {
            "name": f"Specs {tag}",
            "fields": [
                {"name": "ram_gb", "type": "integer"},
                {"name": "cpu", "type": "string"},
                {"name": "weight", "type": "decimal"},
                {"name": "touch", "type": "boolean"},
                {"name": "checked", "type": "date"},
            ],
        },
    )
    w.v1["company_id"] = await v1_id_in(client, tenant, "/v1/companies", "number", w.v2["company"]["id"])
    w.v1["asset_type_id"] = await v1_id_in(
        client, tenant, "/v1/asset-types", "name", w.v2["category"]["name"]
    )
    for key in ("warranty_provider", "support_provider", "attached_supplier"):
        w.v1[f"{key}_id"] = await v1_id_in(client, tenant, "/v1/vendors", "name", w.v2[key]["name"])
    w.v1["contract_id"] = await v1_id_in(
        client, tenant, "/v1/contracts", "number", w.v2["contract"]["number"]
    )
    w.v1["business_unit_id"] = await v1_id_in(
        client, tenant, "/v1/business-units", "name", w.v2["business_unit"]["name"]
    )
    w.v1["assigned_to"] = await v1_id_in(client, tenant, "/v1/users", "name", w.v2["asset_owner"]["name"])
    w.v1["custom_form_id"] = await v1_id_in(
        client, tenant, "/v1/custom-forms", "name", w.v2["template"]["name"]
    )
    return w


def named(entry: dict[str, Any]) -> dict[str, Any]:
    return {"id": entry["id"], "name": entry["name"]}


CUSTOM_VALUES = {
    "ram_gb": 32,
    "cpu": "i7-1360P",
    "weight": Decimal("1.86"),
    "touch": True,
    "checked": "2024-06-01",
}

# The same asset's plain fields under each dialect's names.
PLAIN_V1 = {
    "manufacturer": "Dell",
    "serial_number": "5CG123456",
    "address": "1 Main St",
    "city": "Leeds",
    "country": "GB",
    "region": "Yorkshire",
    "location_description": "Second floor, desk 12",
    "warranty_type": "oem_extended",
    "end_of_life_date": "2030-12-31",
    "warranty_start_date": "2024-01-10",
    "warranty_until": "2027-01-10",
    "warranty_contact_phone": "+1 800 555 0100",
    "warranty_contact_email": "warranty@example.com",
    "warranty_notes": "Next business day",
    "support_type": "third_party",
    "end_of_support_date": "2029-06-30",
    "support_start_date": "2024-02-01",
    "support_end_date": "2027-02-01",
    "support_contact_phone": "+1 800 555 0199",
    "support_contact_email": "support@example.com",
    "support_notes": "24/7",
    "notes": "Purchased for new hire",
    "purchase_price": Decimal("1899.99"),
    "service_start_date": "2024-01-15",
    "depreciation_schedule": "3_year_33_percent",
    "estimated_salvage_value": Decimal("100.50"),
    "financial_notes": "Capex 2024",
}
V1_TO_V2_PLAIN = {
    "warranty_until": "warranty_end_date",
    "notes": "asset_notes",
    "purchase_price": "original_cost",
}
PLAIN_V2 = {V1_TO_V2_PLAIN.get(k, k): v for k, v in PLAIN_V1.items()}


def jsonable(value: Any) -> Any:
    """Decimals as JSON numbers with their exact digits (through float is exact for these), at any depth."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


def expected_v2(w: World, name: str, status: tuple[int, str, str]) -> dict[str, Any]:
    """What the v2 dialect must show for an asset with every field of the world set."""
    category = w.v2["category"]
    owner = w.v2["asset_owner"]
    return {
        "name": name,
        "company": w.v2["company"]["id"],
        "contract": {"id": w.v2["contract"]["id"], "number": w.v2["contract"]["number"]},
        "category": {"id": category["id"], "name": category["name"], "subcategory": "Ultrabook"},
        "asset_owner": {
            "id": owner["id"],
            "name": owner["name"],
            "email": owner["email"],
            "phone_number": owner["phone_number"],
        },
        "business_unit": named(w.v2["business_unit"]),
        "warranty_provider": named(w.v2["warranty_provider"]),
        "support_provider": named(w.v2["support_provider"]),
        "attached_supplier": named(w.v2["attached_supplier"]),
        "usage_status": {"id": status[0], "name": status[2]},
        "template": {"id": w.v2["template"]["id"], "fields": CUSTOM_VALUES},
        **PLAIN_V2,
    }


def expected_v1(w: World, name: str, status: tuple[int, str, str]) -> dict[str, Any]:
    return {
        "name": name,
        "status": status[1],
        "asset_type_id": w.v1["asset_type_id"],
        "asset_type_name": w.v2["category"]["name"],
        "asset_kind": "physical",
        "company_id": w.v1["company_id"],
        "contract_id": w.v1["contract_id"],
        "business_unit_id": w.v1["business_unit_id"],
        "assigned_to": w.v1["assigned_to"],
        "warranty_provider_id": w.v1["warranty_provider_id"],
        "support_provider_id": w.v1["support_provider_id"],
        "attached_supplier_id": w.v1["attached_supplier_id"],
        "custom_form_id": w.v1["custom_form_id"],
        "custom_fields": CUSTOM_VALUES,
        **PLAIN_V1,
    }


# ---------------------------------------------------------------- both dialects, every field


async def test_created_through_v1_reads_through_v2_field_for_field(
    client: TestClient, tenant: Tenant
) -> None:
    w = await build_world(client, tenant)
    status = USAGE_STATUSES[2]
    body = {
        **{
            k: v
            for k, v in expected_v1(w, "Dell XPS 15", status).items()
            if k not in ("asset_type_name", "asset_kind")
        },
    }
    created = await v1_create(client, tenant, "/v1/assets", jsonable(body))
    company = w.v2["company"]["id"]
    page = await v2_list(client, tenant, f"?company={company}")
    assert page["count"] == 1 and page["next"] is None and page["previous"] is None
    shown = page["results"][0]
    assert set(shown) == ASSET_KEYS
    want = expected_v2(w, "Dell XPS 15", status)
    assert {k: shown[k] for k in want} == want
    assert shown["asset_tag"] == created["asset_tag"]
    assert isinstance(shown["id"], int)
    assert when(shown["created_date"]) == when(created["created_at"])
    assert when(shown["modified_date"]) == when(created["updated_at"])
    detail = await v2_get(client, tenant, shown["id"], f"?company={company}")
    assert settled(detail) == settled(shown)


async def test_created_through_v2_reads_through_v1_field_for_field(
    client: TestClient, tenant: Tenant
) -> None:
    w = await build_world(client, tenant)
    status = USAGE_STATUSES[3]
    body = {
        "name": "ThinkPad X1",
        "company": w.v2["company"]["id"],
        "contract": w.v2["contract"]["id"],
        "category": w.v2["category"]["id"],
        "asset_owner": w.v2["asset_owner"]["id"],
        "business_unit": w.v2["business_unit"]["id"],
        "warranty_provider": w.v2["warranty_provider"]["id"],
        "support_provider": w.v2["support_provider"]["id"],
        "attached_supplier": w.v2["attached_supplier"]["id"],
        "usage_status": status[0],
        "template": {"id": w.v2["template"]["id"], "fields": jsonable(CUSTOM_VALUES)},
        **jsonable(PLAIN_V2),
    }
    created = await v2_create(client, tenant, "asset", body)
    assert set(created) == ASSET_KEYS
    want = expected_v2(w, "ThinkPad X1", status)
    assert {k: created[k] for k in want} == want
    asset_id = await v1_id_of(client, tenant, created)
    v1 = await v1_get(client, tenant, asset_id)
    want_v1 = expected_v1(w, "ThinkPad X1", status)
    assert {k: v1[k] for k in want_v1} == want_v1
    assert v1["asset_tag"] == created["asset_tag"]
    assert v1["model"] is None and v1["model_id"] is None and v1["purchase_date"] is None
    assert when(v1["created_at"]) == when(created["created_date"])


async def test_a_minimal_asset_shows_every_key_with_nulls_and_defaults(
    client: TestClient, tenant: Tenant
) -> None:
    created = await v2_asset(client, tenant, name="Bare")
    assert set(created) == ASSET_KEYS
    assert created["company"] == 1
    assert created["usage_status"] == {"id": 1, "name": "In Stock"}
    assert created["warranty_type"] == "none" and created["support_type"] == "none"
    assert created["template"] == {"id": None, "fields": {}}
    nullable = ASSET_KEYS - NEVER_NULL
    assert {k: created[k] for k in nullable} == dict.fromkeys(nullable)
    warranty = await v2_get(client, tenant, created["id"], "?req=warranty")
    assert set(warranty) == WARRANTY_KEYS
    support = await v2_get(client, tenant, created["id"], "?req=support")
    assert set(support) == SUPPORT_KEYS


async def test_usage_status_ids_and_labels_match_the_v1_statuses(client: TestClient, tenant: Tenant) -> None:
    for number, v1_status, label in USAGE_STATUSES:
        through_v1 = await v1_asset(client, tenant, status=v1_status)
        shown = await v2_list(client, tenant, f"?name={through_v1['name']}")
        assert shown["results"][0]["usage_status"] == {"id": number, "name": label}
        through_v2 = await v2_asset(client, tenant, usage_status=number)
        assert through_v2["usage_status"] == {"id": number, "name": label}
        assert (await v1_get(client, tenant, await v1_id_of(client, tenant, through_v2)))[
            "status"
        ] == v1_status
    for bad in (0, 7, "in_use"):
        status, body = await call(client, tenant, "POST", f"{V2}/asset/", {"name": "x", "usage_status": bad})
        assert status == 400 and list(body) == ["usage_status"], body


# ---------------------------------------------------------------- query parameters


async def test_filters_id_name_serial_number_and_manufacturer(client: TestClient, tenant: Tenant) -> None:
    a = await v2_asset(client, tenant, name="Dell XPS 15", serial_number="SN-A", manufacturer="Dell")
    b = await v1_asset(client, tenant, name="dell xps 15", serial_number="SN-B", manufacturer="DELL")
    c = await v2_asset(client, tenant, name="MacBook Pro", serial_number="SN-C", manufacturer="Apple")
    b_number = await number_of(client, tenant, b["id"])

    everything = await v2_list(client, tenant)
    assert everything["count"] == 3
    assert ids(everything) == sorted([a["id"], b_number, c["id"]])

    only = await v2_list(client, tenant, f"?id={c['id']}")
    assert (only["count"], ids(only)) == (1, [c["id"]])
    assert (await v2_list(client, tenant, f"?id={c['id'] + 10_000_000}"))["count"] == 0

    by_name = await v2_list(client, tenant, "?name=DELL%20XPS%2015")
    assert ids(by_name) == sorted([a["id"], b_number])  # case-insensitive, whole name
    assert (await v2_list(client, tenant, "?name=Dell"))["count"] == 0

    by_serial = await v2_list(client, tenant, "?serial_number=SN-B")
    assert ids(by_serial) == [b_number]
    assert (await v2_list(client, tenant, "?serial_number=SN"))["count"] == 0

    by_maker = await v2_list(client, tenant, "?manufacturer_name=dell")
    assert ids(by_maker) == sorted([a["id"], b_number])
    assert ids(await v2_list(client, tenant, "?manufacturer_name=APPLE")) == [c["id"]]

    both = await v2_list(client, tenant, "?manufacturer_name=Dell&serial_number=SN-A")
    assert ids(both) == [a["id"]]


async def test_filter_by_custom_form_id_name_and_value(client: TestClient, tenant: Tenant) -> None:
    form = await v2_create(
        client,
        tenant,
        "custom_form_template",
        {
            "name": "Specs",
            "fields": [{"name": "ram_gb", "type": "integer"}, {"name": "cpu", "type": "string"}],
        },
    )
    other = await v2_create(
        client,
        tenant,
        "custom_form_template",
        {"name": "Other", "fields": [{"name": "ram_gb", "type": "integer"}]},
    )
    a = await v2_asset(client, tenant, template={"id": form["id"], "fields": {"ram_gb": 16, "cpu": "i5"}})
    b = await v2_asset(client, tenant, template={"id": form["id"], "fields": {"ram_gb": 32}})
    c = await v2_asset(client, tenant, template={"id": other["id"], "fields": {"ram_gb": 16}})
    await v2_asset(client, tenant)

    assert ids(await v2_list(client, tenant, f"?custom_form_id={form['id']}")) == [a["id"], b["id"]]
    assert ids(await v2_list(client, tenant, f"?custom_form_id={other['id']}")) == [c["id"]]
    query = f"?custom_form_id={form['id']}&custom_form_name=ram_gb&custom_form_value=16"
    assert ids(await v2_list(client, tenant, query)) == [a["id"]]
    assert ids(await v2_list(client, tenant, "?custom_form_name=ram_gb&custom_form_value=16")) == [
        a["id"],
        c["id"],
    ]
    assert ids(await v2_list(client, tenant, f"?custom_form_id={form['id']}&custom_form_name=cpu")) == [
        a["id"]
    ]
    assert ids(await v2_list(client, tenant, "?custom_form_name=cpu&custom_form_value=i5")) == [a["id"]]
    assert (await v2_list(client, tenant, "?custom_form_name=cpu&custom_form_value=i7"))["count"] == 0
    # A form of another organisation, or none at all, finds nothing.
    assert (await v2_list(client, tenant, f"?custom_form_id={form['id'] + 10_000_000}"))["count"] == 0
    status, body = await call(client, tenant, "GET", f"{V2}/asset/?custom_form_value=16")
    assert status == 400 and "custom_form_value" in body, body


async def test_serial_number_list_gives_the_serial_numbers_only(client: TestClient, tenant: Tenant) -> None:
    await v2_asset(client, tenant, name="c", serial_number="SN-3")
    await v1_asset(client, tenant, name="a", serial_number="SN-1")
    await v2_asset(client, tenant, name="no serial")
    await v2_asset(client, tenant, name="b", serial_number="SN-2")
    page = await v2_list(client, tenant, "?serial_number=list")
    assert page == {"count": 3, "next": None, "previous": None, "results": ["SN-3", "SN-1", "SN-2"]}
    by_name = await v2_list(client, tenant, "?serial_number=list&ordering=asset_name")
    assert by_name["results"] == ["SN-1", "SN-2", "SN-3"]
    paged = await v2_list(client, tenant, "?serial_number=list&page_size=2&page=2")
    assert paged["count"] == 3 and paged["results"] == ["SN-2"] and paged["next"] is None
    assert paged["previous"] is not None


async def test_req_warranty_and_support_give_those_blocks_only(client: TestClient, tenant: Tenant) -> None:
    vendor = await v2_create(client, tenant, "vendor", {"name": "Dell"})
    supplier = await v2_create(client, tenant, "vendor", {"name": "CDW"})
    made = await v2_asset(
        client,
        tenant,
        name="Blocky",
        warranty_type="oem",
        warranty_provider=vendor["id"],
        warranty_start_date="2024-01-01",
        warranty_end_date="2026-01-01",
        warranty_contact_email="w@example.com",
        support_type="third_party",
        support_provider=vendor["id"],
        attached_supplier=supplier["id"],
        support_start_date="2024-02-01",
        support_end_date="2026-02-01",
        support_notes="24/7",
        end_of_life_date="2030-01-01",
        end_of_support_date="2029-01-01",
    )
    warranty = (await v2_list(client, tenant, "?req=warranty"))["results"]
    assert len(warranty) == 1 and set(warranty[0]) == WARRANTY_KEYS
    assert {k: made[k] for k in WARRANTY_KEYS - DERIVED} == {
        k: warranty[0][k] for k in WARRANTY_KEYS - DERIVED
    }
    assert warranty[0]["warranty_provider"] == {"id": vendor["id"], "name": "Dell"}
    support = (await v2_list(client, tenant, "?req=support"))["results"]
    assert len(support) == 1 and set(support[0]) == SUPPORT_KEYS
    assert {k: made[k] for k in SUPPORT_KEYS - DERIVED} == {k: support[0][k] for k in SUPPORT_KEYS - DERIVED}
    assert support[0]["attached_supplier"] == {"id": supplier["id"], "name": "CDW"}
    detail_w = await v2_get(client, tenant, made["id"], "?req=warranty")
    assert settled(detail_w) == settled(warranty[0])
    detail_s = await v2_get(client, tenant, made["id"], "?req=support")
    assert settled(detail_s) == settled(support[0])
    for bad in ("lifecycle", "WARRANTY", ""):
        status, body = await call(client, tenant, "GET", f"{V2}/asset/?req={bad}")
        assert status == 400 and list(body) == ["req"], body


ORDERING_VALUES = [
    # name, created order position is the list index; dates chosen with ties
    {
        "name": "delta",
        "support_start_date": "2024-03-01",
        "support_end_date": "2026-01-01",
        "warranty_start_date": "2024-02-01",
        "warranty_end_date": "2027-05-05",
    },
    {
        "name": "alpha",
        "support_start_date": "2024-01-01",
        "support_end_date": "2026-01-01",
        "warranty_start_date": "2024-02-01",
        "warranty_end_date": "2025-05-05",
    },
    {
        "name": "charlie",
        "support_start_date": "2024-03-01",
        "support_end_date": "2025-01-01",
        "warranty_start_date": "2023-02-01",
        "warranty_end_date": "2026-05-05",
    },
    {
        "name": "alpha",
        "support_start_date": "2023-01-01",
        "support_end_date": "2027-01-01",
        "warranty_start_date": "2024-02-01",
        "warranty_end_date": "2025-05-05",
    },
    {
        "name": "bravo",
        "support_start_date": "2024-03-01",
        "support_end_date": "2025-01-01",
        "warranty_start_date": "2022-02-01",
        "warranty_end_date": "2028-05-05",
    },
]
ORDERING_FIELDS = {
    "asset_name": "name",
    "support_start_date": "support_start_date",
    "support_end_date": "support_end_date",
    "warranty_start_date": "warranty_start_date",
    "warranty_end_date": "warranty_end_date",
}


async def test_each_ordering_key_ascending_and_descending_with_stable_ties(
    client: TestClient, tenant: Tenant
) -> None:
    made = []
    for values in ORDERING_VALUES:
        made.append(await v2_create(client, tenant, "asset", values))
    # Change them in another order than they were made, so modified_date differs from created_date.
    for index in (2, 0, 4, 1, 3):
        await ok(client, tenant, "PATCH", f"{V2}/asset/{made[index]['id']}/", {"asset_notes": f"n{index}"})
    shown = {a["id"]: a for a in (await v2_list(client, tenant))["results"]}
    assert len(shown) == len(made)

    def order(key: str, descending: bool) -> list[int]:
        if key == "asset_id":
            return sorted(shown, reverse=descending)
        if key in ("created_date", "modified_date"):
            sort_key: Any = lambda n: (when(shown[n][key]), n)  # noqa: E731
        else:
            sort_key = lambda n: (shown[n][ORDERING_FIELDS[key]], n)  # noqa: E731
        return sorted(shown, key=sort_key, reverse=descending)

    keys = ["asset_id", "created_date", "modified_date", *ORDERING_FIELDS]
    assert len(keys) == 8
    for key in keys:
        ascending = ids(await v2_list(client, tenant, f"?ordering={key}"))
        assert ascending == order(key, False), key
        descending = ids(await v2_list(client, tenant, f"?ordering=-{key}"))
        assert descending == order(key, True), key
        # Paging through an ordering gives the same sequence, ties included.
        first = await v2_list(client, tenant, f"?ordering={key}&page_size=2")
        second = await v2_list(client, tenant, f"?ordering={key}&page_size=2&page=2")
        third = await v2_list(client, tenant, f"?ordering={key}&page_size=2&page=3")
        assert ids(first) + ids(second) + ids(third) == ascending, key
    # The creation order and the id order agree; the modification order is the PATCH order.
    assert ids(await v2_list(client, tenant, "?ordering=created_date")) == [m["id"] for m in made]
    assert ids(await v2_list(client, tenant, "?ordering=modified_date")) == [
        made[i]["id"] for i in (2, 0, 4, 1, 3)
    ]
    assert ids(await v2_list(client, tenant)) == sorted(shown)  # default: asset_id
    for bad in ("name", "-", "id", "asset_id,asset_name", "--asset_id"):
        status, body = await call(client, tenant, "GET", f"{V2}/asset/?ordering={bad}")
        assert status == 400 and list(body) == ["ordering"], (bad, body)


# ---------------------------------------------------------------- pagination


async def test_pagination_links_followed_to_the_end(client: TestClient, tenant: Tenant) -> None:
    semaphore = asyncio.Semaphore(10)

    async def make(n: int) -> int:
        async with semaphore:
            return int((await v2_asset(client, tenant, name=f"p{n:03d}"))["id"])

    made = sorted(await asyncio.gather(*(make(n) for n in range(103))))

    first = await v2_list(client, tenant)
    assert first["count"] == 103 and len(first["results"]) == 25  # 25 by default
    assert first["previous"] is None and first["next"] is not None
    assert ids(first) == made[:25]

    # The links are absolute, and followed to the end they give every asset once, in order.
    seen: list[int] = []
    pages = 0
    link: str | None = f"{V2}/asset/?page_size=40"
    previous_links: list[str | None] = []
    while link is not None:
        url = URL(link)
        if pages:
            assert url.is_absolute() and url.scheme == "http" and url.host is not None
            assert url.path == f"{V2}/asset/" and url.query["page_size"] == "40"
        page = await v2_list(client, tenant, "?" + url.query_string)
        assert page["count"] == 103
        previous_links.append(page["previous"])
        seen += ids(page)
        pages += 1
        link = page["next"]
    assert pages == 3 and seen == made
    assert previous_links[0] is None and previous_links[1] is not None and previous_links[2] is not None
    # previous of page 2 is page 1 (DRF drops the page parameter); of page 3, page 2.
    back = await v2_list(client, tenant, "?" + URL(str(previous_links[2])).query_string)
    assert ids(back) == made[40:80]
    back = await v2_list(client, tenant, "?" + URL(str(previous_links[1])).query_string)
    assert ids(back) == made[:40]

    # page_size above 100 counts as 100.
    big = await v2_list(client, tenant, "?page_size=1000")
    assert big["count"] == 103 and ids(big) == made[:100] and big["next"] is not None
    rest = await v2_list(client, tenant, "?" + URL(big["next"]).query_string)
    assert ids(rest) == made[100:] and rest["next"] is None

    # A page past the end is 404 "Invalid page."
    for query in ("?page=6", "?page_size=40&page=4", "?page_size=100&page=3"):
        status, body = await call(client, tenant, "GET", f"{V2}/asset/{query}")
        assert (status, body) == (404, {"detail": "Invalid page."}), query
    last = await v2_list(client, tenant, "?page=5")
    assert ids(last) == made[100:] and last["next"] is None


async def test_empty_list_has_a_first_page_and_bad_parameters_are_4xx(
    client: TestClient, tenant: Tenant
) -> None:
    assert await v2_list(client, tenant) == {"count": 0, "next": None, "previous": None, "results": []}
    status, body = await call(client, tenant, "GET", f"{V2}/asset/?page=2")
    assert (status, body) == (404, {"detail": "Invalid page."})
    for query, name in (
        ("?id=abc", "id"),
        ("?company=x", "company"),
        ("?colour=red", "colour"),
        ("?page=1&page=2", "page"),
    ):
        status, body = await call(client, tenant, "GET", f"{V2}/asset/{query}")
        assert status == 400, (query, body)
        assert list(body) == [name] and isinstance(body[name], list) and body[name], (query, body)
        assert all(isinstance(m, str) for m in body[name])
    # A page that is not a page number: DRF answers 404 "Invalid page."; a 400 naming `page` is as clear.
    for query in ("?page=0", "?page=x", "?page=-1", "?page=100000000", "?page=1_0", "?page=1.0"):
        status, body = await call(client, tenant, "GET", f"{V2}/asset/{query}")
        assert (status, body) == (404, {"detail": "Invalid page."}) or (
            status == 400 and list(body) == ["page"]
        ), (
            query,
            body,
        )
    # A page size that is not one: DRF falls back to the default; a 400 naming `page_size` is as clear.
    for query in ("?page_size=0", "?page_size=-5", "?page_size=abc"):
        status, body = await call(client, tenant, "GET", f"{V2}/asset/{query}")
        assert status == 200 or (status == 400 and list(body) == ["page_size"]), (query, body)


# ---------------------------------------------------------------- company


async def test_company_defaults_to_1_and_scopes_list_and_detail(client: TestClient, tenant: Tenant) -> None:
    second = await v2_create(client, tenant, "company", {"name": "Second"})
    assert second["id"] == 2
    one = await v2_asset(client, tenant, name="in one")
    two = await v2_asset(client, tenant, name="in two", company=2)
    assert one["company"] == 1 and two["company"] == 2
    assert ids(await v2_list(client, tenant)) == [one["id"]]
    assert ids(await v2_list(client, tenant, "?company=1")) == [one["id"]]
    assert ids(await v2_list(client, tenant, "?company=2")) == [two["id"]]
    assert (await v2_list(client, tenant, "?company=2&serial_number=list"))["count"] == 0
    assert (await v2_get(client, tenant, two["id"], "?company=2"))["name"] == "in two"
    status, body = await call(client, tenant, "GET", f"{V2}/asset/{two['id']}/")
    assert status == 404 and set(body) == {"detail"}, body
    # v1 sees the whole organisation, and names the company by its v1 id.
    v1 = await v1_get(client, tenant, await v1_id_of(client, tenant, two))
    companies = (await ok(client, tenant, "GET", "/v1/companies"))["data"]
    assert v1["company_id"] == next(c["id"] for c in companies if c["number"] == 2)
    # Moving an asset between companies through either dialect.
    moved = await ok(client, tenant, "PATCH", f"{V2}/asset/{one['id']}/", {"company": 2})
    assert moved["company"] == 2
    assert ids(await v2_list(client, tenant, "?company=2")) == sorted([one["id"], two["id"]])
    assert (await v2_list(client, tenant))["count"] == 0


async def test_a_company_of_another_organisation_is_404(
    client: TestClient, make_tenant: TenantFactory
) -> None:
    tenant, other = await make_tenant(), await make_tenant()
    await v2_create(client, other, "company", {"name": "Theirs"})
    await v2_asset(client, other, company=2)
    for query in ("?company=2", "?company=2&serial_number=list", "?company=999", "?company=2&req=warranty"):
        status, body = await call(client, tenant, "GET", f"{V2}/asset/{query}")
        assert status == 404 and set(body) == {"detail"}, (query, body)
    status, body = await call(client, tenant, "POST", f"{V2}/asset/", {"name": "x", "company": 2})
    assert status == 400 and list(body) == ["company"], body
    assert (await v2_list(client, tenant))["count"] == 0


# ---------------------------------------------------------------- writes


async def test_put_replaces_the_whole_asset_and_nulls_what_it_leaves_out(
    client: TestClient, tenant: Tenant
) -> None:
    w = await build_world(client, tenant)
    full = {
        "name": "Full",
        "company": w.v2["company"]["id"],
        "contract": w.v2["contract"]["id"],
        "category": w.v2["category"]["id"],
        "asset_owner": w.v2["asset_owner"]["id"],
        "business_unit": w.v2["business_unit"]["id"],
        "warranty_provider": w.v2["warranty_provider"]["id"],
        "support_provider": w.v2["support_provider"]["id"],
        "attached_supplier": w.v2["attached_supplier"]["id"],
        "usage_status": 5,
        "template": {"id": w.v2["template"]["id"], "fields": jsonable(CUSTOM_VALUES)},
        **jsonable(PLAIN_V2),
    }
    made = await v2_create(client, tenant, "asset", full)
    replaced = await ok(client, tenant, "PUT", f"{V2}/asset/{made['id']}/", {"name": "Bare again"})
    assert set(replaced) == ASSET_KEYS
    assert replaced["id"] == made["id"] and replaced["asset_tag"] == made["asset_tag"]
    assert replaced["name"] == "Bare again"
    assert replaced["company"] == 1
    assert replaced["usage_status"] == {"id": 1, "name": "In Stock"}
    assert replaced["warranty_type"] == "none" and replaced["support_type"] == "none"
    assert replaced["template"] == {"id": None, "fields": {}}
    nulled = ASSET_KEYS - NEVER_NULL
    assert {k: replaced[k] for k in nulled} == dict.fromkeys(nulled)
    assert when(replaced["modified_date"]) > when(made["modified_date"])
    assert when(replaced["created_date"]) == when(made["created_date"])
    # v1 sees the same emptiness.
    v1 = await v1_get(client, tenant, await v1_id_of(client, tenant, replaced))
    assert v1["status"] == "in_stock" and v1["custom_fields"] == {} and v1["custom_form_id"] is None
    assert v1["purchase_price"] is None and v1["assigned_to"] is None and v1["warranty_until"] is None
    # A read written back with PUT changes nothing (read-only fields are accepted and ignored).
    again = await ok(
        client, tenant, "PUT", f"{V2}/asset/{made['id']}/", jsonable({**made, "id": 1, "asset_tag": "X"})
    )
    assert settled({**again, "modified_date": None}) == settled({**made, "modified_date": None})
    assert again["id"] == made["id"] and again["asset_tag"] == made["asset_tag"]
    # PUT needs the name.
    status, body = await call(client, tenant, "PUT", f"{V2}/asset/{made['id']}/", {"asset_notes": "x"})
    assert status == 400 and list(body) == ["name"], body


async def test_patch_changes_only_what_it_is_given_and_null_clears(
    client: TestClient, tenant: Tenant
) -> None:
    vendor = await v2_create(client, tenant, "vendor", {"name": "Dell"})
    made = await v2_asset(
        client,
        tenant,
        name="Patchy",
        serial_number="SN-9",
        original_cost="1200.00",
        warranty_provider=vendor["id"],
        warranty_type="oem",
        usage_status=3,
    )
    changed = await ok(
        client, tenant, "PATCH", f"{V2}/asset/{made['id']}/", {"original_cost": 1300.5, "serial_number": None}
    )
    assert changed["original_cost"] == Decimal("1300.50") and changed["serial_number"] is None
    untouched = {
        k for k in ASSET_KEYS if k not in ("original_cost", "serial_number", "modified_date")
    } - DERIVED
    assert {k: changed[k] for k in untouched} == {k: made[k] for k in untouched}
    v1 = await v1_get(client, tenant, await v1_id_of(client, tenant, made))
    assert v1["purchase_price"] == Decimal("1300.50") and v1["serial_number"] is None
    # And the reverse: a v1 patch shows through v2.
    await ok(client, tenant, "PATCH", f"/v1/assets/{v1['id']}", {"status": "returned", "notes": "back"})
    shown = await v2_get(client, tenant, made["id"])
    assert shown["usage_status"] == {"id": 5, "name": "Returned"} and shown["asset_notes"] == "back"
    # Not-null fields may be left out but not sent as null.
    for name in ("name", "company", "usage_status", "warranty_type", "support_type"):
        status, body = await call(client, tenant, "PATCH", f"{V2}/asset/{made['id']}/", {name: None})
        assert status == 400 and list(body) == [name], (name, body)
    # An empty PATCH changes nothing.
    same = await ok(client, tenant, "PATCH", f"{V2}/asset/{made['id']}/", {})
    assert when(same["modified_date"]) == when(shown["modified_date"])


async def test_delete_through_v2_is_204_and_gone_in_both_dialects(client: TestClient, tenant: Tenant) -> None:
    through_v1 = await v1_asset(client, tenant)
    number = await number_of(client, tenant, through_v1["id"])
    resp = await client.delete(f"{V2}/asset/{number}/", headers=tenant.auth())
    assert resp.status == 204 and await resp.read() == b""
    status, body = await call(client, tenant, "GET", f"/v1/assets/{through_v1['id']}")
    assert status == 404 and body["code"] == "NOT_FOUND"
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        status, body = await call(client, tenant, method, f"{V2}/asset/{number}/", {"name": "x"})
        assert status == 404 and set(body) == {"detail"}, (method, body)
    # And the reverse: deleted through v1, gone through v2.
    made = await v2_asset(client, tenant)
    await ok(client, tenant, "DELETE", f"/v1/assets/{await v1_id_of(client, tenant, made)}")
    status, body = await call(client, tenant, "GET", f"{V2}/asset/{made['id']}/")
    assert status == 404 and set(body) == {"detail"}, body


async def test_related_ids_of_another_organisation_are_rejected(
    client: TestClient, make_tenant: TenantFactory
) -> None:
    tenant, other = await make_tenant(), await make_tenant()
    theirs = await build_world(client, other)
    mine = await v2_asset(client, tenant, name="Mine")
    related = {
        "contract": theirs.v2["contract"]["id"],
        "category": theirs.v2["category"]["id"],
        "asset_owner": theirs.v2["asset_owner"]["id"],
        "business_unit": theirs.v2["business_unit"]["id"],
        "warranty_provider": theirs.v2["warranty_provider"]["id"],
        "support_provider": theirs.v2["support_provider"]["id"],
        "attached_supplier": theirs.v2["attached_supplier"]["id"],
        "company": theirs.v2["company"]["id"],
    }
    for name, value in related.items():
        for method, path in (
            ("POST", f"{V2}/asset/"),
            ("PUT", f"{V2}/asset/{mine['id']}/"),
            ("PATCH", f"{V2}/asset/{mine['id']}/"),
        ):
            status, body = await call(client, tenant, method, path, {"name": "x", name: value})
            assert status == 400, (name, method, body)
            assert list(body) == [name] and isinstance(body[name], list), (name, method, body)
    template = {"id": theirs.v2["template"]["id"], "fields": {}}
    status, body = await call(client, tenant, "POST", f"{V2}/asset/", {"name": "x", "template": template})
    assert status == 400 and list(body) == ["template.id"], body
    # And the v1 side rejects the other organisation's string ids by name.
    for name, value in theirs.v1.items():
        status, body = await call(client, tenant, "POST", "/v1/assets", {"name": "x", name: value})
        assert status == 400 and [e["field"] for e in body["errors"]] == [name], (name, body)
    # Nothing was written.
    assert ids(await v2_list(client, tenant)) == [mine["id"]]
    assert settled(await v2_get(client, tenant, mine["id"])) == settled(mine)


async def test_custom_fields_are_checked_against_the_template_fields(
    client: TestClient, tenant: Tenant
) -> None:
    form = await v2_create(
        client,
        tenant,
        "custom_form_template",
        {
            "name": "Typed",
            "fields": [
                {"name": "ram_gb", "type": "integer"},
                {"name": "bought", "type": "date"},
                {"name": "ok", "type": "boolean"},
                {"name": "w", "type": "decimal"},
            ],
        },
    )
    good = {"ram_gb": 16, "bought": "2024-06-01", "ok": False, "w": 1.5}
    made = await v2_asset(client, tenant, template={"id": form["id"], "fields": good})
    assert made["template"] == {"id": form["id"], "fields": {**good, "w": Decimal("1.5")}}
    bad_values = [
        ({"ram_gb": "16"}, "template.fields.ram_gb"),
        ({"ram_gb": 1.5}, "template.fields.ram_gb"),
        ({"bought": "June"}, "template.fields.bought"),
        ({"bought": "2024-W22-6"}, "template.fields.bought"),  # an ISO week date is not YYYY-MM-DD
        ({"ok": "yes"}, "template.fields.ok"),
        ({"w": "heavy"}, "template.fields.w"),
        ({"colour": "red"}, "template.fields.colour"),
    ]
    for fields, name in bad_values:
        status, body = await call(
            client,
            tenant,
            "POST",
            f"{V2}/asset/",
            {"name": "x", "template": {"id": form["id"], "fields": fields}},
        )
        assert status == 400 and list(body) == [name], (fields, body)
        status, body = await call(
            client, tenant, "PATCH", f"{V2}/asset/{made['id']}/", {"template": {"fields": fields}}
        )
        assert status == 400 and list(body) == [name], (fields, body)
    # Through v1, the same form checks custom_fields under its v1 name.
    form_v1 = (await ok(client, tenant, "GET", "/v1/custom-forms"))["data"][0]["id"]
    status, body = await call(
        client,
        tenant,
        "POST",
        "/v1/assets",
        {"name": "x", "custom_form_id": form_v1, "custom_fields": {"ram_gb": "x"}},
    )
    assert status == 400 and [e["field"] for e in body["errors"]] == ["custom_fields.ram_gb"], body
    # Nothing was written by the failures.
    assert ids(await v2_list(client, tenant)) == [made["id"]]
    assert (await v2_get(client, tenant, made["id"]))["template"] == made["template"]


# ---------------------------------------------------------------- errors, tokens, aliases, OpenAPI


def drf_validation(body: Any) -> bool:
    """Django REST framework's validation shape: {"field": ["message", ...], ...}."""
    return (
        isinstance(body, dict)
        and bool(body)
        and all(isinstance(v, list) and v and all(isinstance(m, str) for m in v) for v in body.values())
    )


async def test_authentication_and_scope_errors_are_drf_detail(client: TestClient, tenant: Tenant) -> None:
    made = await v2_asset(client, tenant)
    item = f"{V2}/asset/{made['id']}/"
    routes = [
        ("GET", f"{V2}/asset/"),
        ("GET", item),
        ("POST", f"{V2}/asset/"),
        ("PUT", item),
        ("PATCH", item),
        ("DELETE", item),
    ]
    for method, path in routes:
        for headers in ({}, {"Authorization": "Bearer usl_live_nope"}, {"Authorization": "Basic abc"}):
            resp = await client.request(method, path, json={"name": "x"}, headers=headers)
            assert resp.status == 401, (method, path, headers)
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
            assert resp.content_type == "application/json"
            body = await resp.json()
            assert set(body) == {"detail"} and isinstance(body["detail"], str) and body["detail"]
    for method, path in routes:
        token = tenant.write_token if method == "GET" else tenant.read_token
        resp = await client.request(method, path, json={"name": "x"}, headers=tenant.auth(token))
        assert resp.status == 403, (method, path)
        assert "insufficient_scope" in resp.headers["WWW-Authenticate"]
        body = await resp.json()
        assert set(body) == {"detail"} and body["detail"], body
    # Nothing was changed by the refused writes.
    assert settled(await v2_get(client, tenant, made["id"])) == settled(made)
    assert (await v2_list(client, tenant))["count"] == 1


async def test_both_dialects_accept_the_same_tokens_and_scopes(client: TestClient, tenant: Tenant) -> None:
    through_v1 = await v1_create(client, tenant, "/v1/assets", {"name": "via write token"})
    assert through_v1["name"] == "via write token"
    # The write-only token writes through v2 too, and the read-only token reads both.
    resp = await client.post(
        f"{V2}/asset/", json={"name": "v2 write"}, headers=tenant.auth(tenant.write_token)
    )
    assert resp.status == 201
    made = await resp.json()
    resp = await client.get(f"{V2}/asset/{made['id']}/", headers=tenant.auth(tenant.read_token))
    assert resp.status == 200 and (await resp.json())["name"] == "v2 write"
    resp = await client.get("/v1/assets", headers=tenant.auth(tenant.read_token))
    assert resp.status == 200 and (await resp.json())["meta"]["total"] == 2
    # The v1 side answers the same refusals in its own shape.
    resp = await client.post("/v1/assets", json={"name": "x"}, headers=tenant.auth(tenant.read_token))
    assert resp.status == 403 and resp.content_type == "application/problem+json"
    assert (await resp.json())["code"] == "FORBIDDEN"


async def test_revoked_and_expired_tokens_are_refused_by_both_dialects(
    client: TestClient, tenant: Tenant, pool: asyncpg.Pool
) -> None:
    _, token = await organisations.create_token(
        unit_of_work(pool), tenant.name, ["assets:read", "assets:write"], name="soon"
    )
    resp = await client.get(f"{V2}/asset/", headers=tenant.auth(token))
    assert resp.status == 200
    assert await organisations.revoke_token(unit_of_work(pool), token)
    for path in (f"{V2}/asset/", "/v1/assets"):
        resp = await client.get(path, headers=tenant.auth(token))
        assert resp.status == 401, path
        assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
    assert set(await (await client.get(f"{V2}/asset/", headers=tenant.auth(token))).json()) == {"detail"}
    _, old = await organisations.create_token(
        unit_of_work(pool),
        tenant.name,
        ["assets:read"],
        name="old",
        expires_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
    )
    resp = await client.get(f"{V2}/asset/", headers=tenant.auth(old))
    assert resp.status == 401 and set(await resp.json()) == {"detail"}


async def test_money_is_written_as_exact_json_numbers(client: TestClient, tenant: Tenant) -> None:
    made = await v2_asset(client, tenant, original_cost=2499, estimated_salvage_value="0.07")
    resp = await client.get(f"{V2}/asset/{made['id']}/", headers=tenant.auth())
    text = await resp.text()
    assert '"original_cost":2499.00' in text.replace(" ", "")
    assert '"estimated_salvage_value":0.07' in text.replace(" ", "")
    v1 = await client.get(f"/v1/assets/{await v1_id_of(client, tenant, made)}", headers=tenant.auth())
    assert '"purchase_price":2499.00' in (await v1.text()).replace(" ", "")
    # Read exactly: more than two decimals is a 400, even where a float would round it away.
    headers = {**tenant.auth(), "Content-Type": "application/json"}
    resp = await client.post(
        f"{V2}/asset/", data='{"name": "x", "original_cost": 1899.999999999999999}', headers=headers
    )
    assert resp.status == 400 and list(await resp.json()) == ["original_cost"], await resp.text()


async def test_not_found_and_validation_errors_are_drf_shaped_never_500(
    client: TestClient, make_tenant: TenantFactory
) -> None:
    tenant, other = await make_tenant(), await make_tenant()
    theirs = await v2_asset(client, other)
    made = await v2_asset(client, tenant)
    for path in (
        f"{V2}/asset/{theirs['id']}/",
        f"{V2}/asset/{made['id'] + 10_000_000}/",
        f"{V2}/asset/abc/",
        f"{V2}/asset/-1/",
        f"{V2}/asset/99999999999999999999999/",
        f"{V2}/asset/1.5/",
    ):
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            status, body = await call(client, tenant, method, path, {"name": "x"})
            assert status == 404, (method, path, status, body)
            assert set(body) == {"detail"}, body
    # The other organisation's asset is untouched.
    assert settled(await v2_get(client, other, theirs["id"])) == settled(theirs)

    invalid = [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": None}, "name"),
        ({"name": 5}, "name"),
        ({"name": "x", "colour": "red"}, "colour"),
        ({"name": "x", "original_cost": 1.234}, "original_cost"),
        ({"name": "x", "original_cost": -1}, "original_cost"),
        ({"name": "x", "original_cost": "12,5"}, "original_cost"),
        ({"name": "x", "estimated_salvage_value": True}, "estimated_salvage_value"),
        ({"name": "x", "warranty_end_date": "2024-13-01"}, "warranty_end_date"),
        ({"name": "x", "warranty_type": "gold"}, "warranty_type"),
        ({"name": "x", "depreciation_schedule": "2_year"}, "depreciation_schedule"),
        ({"name": "x", "warranty_contact_email": "not-an-email"}, "warranty_contact_email"),
        ({"name": "x", "contract": "1"}, "contract"),
        ({"name": "x", "contract": 0}, "contract"),
        ({"name": "x", "category": 2**70}, "category"),
        ({"name": "x", "asset_owner": 999_999_999}, "asset_owner"),
        ({"name": "x", "company": 0}, "company"),
        ({"name": "x", "company": 77}, "company"),
        ({"name": "x", "usage_status": None}, "usage_status"),
    ]
    for body, name in invalid:
        status, answer = await call(client, tenant, "POST", f"{V2}/asset/", body)
        assert status == 400, (body, answer)
        assert drf_validation(answer) and name in answer, (body, answer)
    for raw, content_type, expected in (
        (b"{not json", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b"", "application/json", 400),
        (b"name=x", "application/x-www-form-urlencoded", 415),
    ):
        headers = {**tenant.auth(), "Content-Type": content_type}
        resp = await client.post(f"{V2}/asset/", data=raw, headers=headers)
        assert resp.status == expected, (raw, resp.status)
        assert resp.content_type == "application/json"
        answer = await resp.json()
        assert drf_validation(answer) or set(answer) == {"detail"}, answer
        assert "code" not in answer and "type" not in answer
    resp = await client.post(f"{V2}/asset/{made['id']}/", json={"name": "x"}, headers=tenant.auth())
    assert resp.status == 405 and "PUT" in resp.headers["Allow"]
    assert set(await resp.json()) == {"detail"}
    for query in ("?company=0", f"?company={2**31}", f"?id={2**64}", "?custom_form_id=-1"):
        status, answer = await call(client, tenant, "GET", f"{V2}/asset/{query}")
        assert status == 400 and drf_validation(answer), (query, answer)
    # Nothing was written by any of it.
    assert ids(await v2_list(client, tenant)) == [made["id"]]


async def test_unslashed_aliases_answer_the_same(client: TestClient, tenant: Tenant) -> None:
    resp = await client.post(f"{V2}/asset", json={"name": "alias"}, headers=tenant.auth())
    assert resp.status == 201
    made = await resp.json()
    slashed = await v2_list(client, tenant, "?company=1")
    unslashed = await ok(client, tenant, "GET", f"{V2}/asset?company=1")
    assert [settled(a) for a in unslashed["results"]] == [settled(a) for a in slashed["results"]]
    assert ids(unslashed) == [made["id"]]
    assert settled(await ok(client, tenant, "GET", f"{V2}/asset/{made['id']}")) == settled(made)
    assert await ok(client, tenant, "GET", f"{V2}/asset?serial_number=list") == await v2_list(
        client, tenant, "?serial_number=list"
    )
    changed = await ok(client, tenant, "PATCH", f"{V2}/asset/{made['id']}", {"asset_notes": "n"})
    assert changed["asset_notes"] == "n"
    replaced = await ok(client, tenant, "PUT", f"{V2}/asset/{made['id']}", {"name": "alias 2"})
    assert replaced["name"] == "alias 2" and replaced["asset_notes"] is None
    status, body = await call(client, tenant, "GET", f"{V2}/asset?page=9")
    assert (status, body) == (404, {"detail": "Invalid page."})
    status, body = await call(client, tenant, "GET", f"{V2}/asset?colour=red")
    assert status == 400 and list(body) == ["colour"]
    resp = await client.delete(f"{V2}/asset/{made['id']}", headers=tenant.auth())
    assert resp.status == 204
    status, body = await call(client, tenant, "GET", f"{V2}/asset/{made['id']}")
    assert status == 404 and set(body) == {"detail"}
    resp = await client.get(f"{V2}/asset")
    assert resp.status == 401 and set(await resp.json()) == {"detail"}


async def test_openapi_documents_the_v2_routes_under_v2_tags(client: TestClient) -> None:
    resp = await client.get("/openapi.json")
    assert resp.status == 200
    document = await resp.json()
    paths = document["paths"]
    names = [
        "asset",
        "company",
        "category",
        "contract",
        "vendor",
        "business_unit",
        "asset_owner",
        "custom_form_template",
    ]
    for name in names:
        collection, item = f"{V2}/{name}/", f"{V2}/{name}/{{id}}/"
        assert set(paths[collection]) >= {"get", "post"}, name
        assert set(paths[item]) >= {"get", "put", "patch", "delete"}, name
        for path in (collection, item):
            for method, operation in paths[path].items():
                assert operation["tags"] and all(t.startswith("v2:") for t in operation["tags"]), (
                    path,
                    method,
                )
    v2_tags = {
        t for p, ops in paths.items() if p.startswith(f"{V2}/") for op in ops.values() for t in op["tags"]
    }
    assert len(v2_tags) == len(names)
    v1_tags = {
        t for p, ops in paths.items() if p.startswith("/v1/") for op in ops.values() for t in op["tags"]
    }
    assert v1_tags and not any(t.startswith("v2:") for t in v1_tags)
    listing = paths[f"{V2}/asset/"]["get"]
    params = {p["name"] for p in listing["parameters"]}
    assert params >= {
        "company",
        "id",
        "name",
        "custom_form_id",
        "custom_form_name",
        "custom_form_value",
        "serial_number",
        "manufacturer_name",
        "req",
        "ordering",
        "page",
        "page_size",
    }
    assert set(listing["responses"]) >= {"200", "400", "401", "403", "404"}


# ---------------------------------------------------------------- the worker, events, audit


async def test_warranty_and_support_status_come_from_the_worker(
    client: TestClient, tenant: Tenant, worker: asyncio.Task[None]
) -> None:
    today = dt.date.today()
    covered = await v2_asset(
        client,
        tenant,
        name="covered",
        warranty_end_date=(today + dt.timedelta(days=200)).isoformat(),
        support_end_date=(today - dt.timedelta(days=3)).isoformat(),
    )
    bare = await v1_asset(client, tenant, name="bare")
    bare_number = await number_of(client, tenant, bare["id"])

    async def derived() -> bool:
        one = await v2_get(client, tenant, covered["id"])
        two = await v2_get(client, tenant, bare_number)
        return (
            one["warranty_status"],
            one["support_status"],
            two["warranty_status"],
            two["support_status"],
        ) == (
            "within_warranty",
            "out_of_support",
            "none",
            "none",
        )

    await poll(derived)
    listed = {a["id"]: a for a in (await v2_list(client, tenant))["results"]}
    assert listed[covered["id"]]["warranty_status"] == "within_warranty"
    warranty = await v2_get(client, tenant, covered["id"], "?req=warranty")
    support = await v2_get(client, tenant, covered["id"], "?req=support")
    assert warranty["warranty_status"] == "within_warranty" and support["support_status"] == "out_of_support"
    v1 = await v1_get(client, tenant, await v1_id_of(client, tenant, covered))
    assert (v1["warranty_status"], v1["support_status"]) == ("within_warranty", "out_of_support")
    # A v2 change of the end date is seen by the worker too.
    past = (today - dt.timedelta(days=1)).isoformat()
    await ok(client, tenant, "PATCH", f"{V2}/asset/{covered['id']}/", {"warranty_end_date": past})

    async def expired() -> bool:
        return (await v2_get(client, tenant, covered["id"]))["warranty_status"] == "out_of_warranty"

    await poll(expired)


def shape(event: dict[str, Any]) -> dict[str, Any]:
    """What must be the same in two events of the same kind: their keys and the keys of their data."""
    data = event["data"]
    return {
        "keys": sorted(event),
        "data": sorted(data),
        "asset": sorted(data["asset"]),
        "actor": sorted(data["actor"]),
        "type": event["type"],
        "specversion": event["specversion"],
        "source": event["source"],
        "datacontenttype": event["datacontenttype"],
    }


async def write(
    client: TestClient, tenant: Tenant, method: str, path: str, body: Any = None
) -> tuple[int, Any, str]:
    """A write with a request id of the test's own; the status, the body and that id."""
    request_id = f"test-{uuid.uuid4().hex}"
    headers = {**tenant.auth(), "X-Request-ID": request_id}
    resp = await client.request(method, path, json=body, headers=headers)
    assert resp.headers["X-Request-ID"] == request_id
    text = await resp.text()
    return resp.status, (json.loads(text) if text else None), request_id


async def test_v2_writes_emit_the_same_events_as_v1(
    client: TestClient, tenant: Tenant, event_tap: TapFactory
) -> None:
    tap = await event_tap("asset.*")
    vendor = await v2_create(client, tenant, "vendor", {"name": "Dell"})
    vendor_v1 = (await ok(client, tenant, "GET", "/v1/vendors"))["data"][0]["id"]
    fields_v1 = {
        "serial_number": "SN-1",
        "purchase_price": 1200.0,
        "notes": "n",
        "warranty_provider_id": vendor_v1,
        "warranty_until": "2027-01-01",
        "status": "in_use",
    }
    fields_v2 = {
        "serial_number": "SN-1",
        "original_cost": 1200.0,
        "asset_notes": "n",
        "warranty_provider": vendor["id"],
        "warranty_end_date": "2027-01-01",
        "usage_status": 3,
    }

    status, v1_made, v1_request = await write(
        client, tenant, "POST", "/v1/assets", {"name": "one", **fields_v1}
    )
    assert status == 201
    v1_made = v1_made["data"]
    status, v2_made, v2_request = await write(
        client, tenant, "POST", f"{V2}/asset/", {"name": "two", **fields_v2}
    )
    assert status == 201
    v2_id = await v1_id_of(client, tenant, v2_made)

    def about(asset_id: str, kind: str) -> Any:
        return lambda e: e["subject"] == asset_id and e["type"] == kind

    v1_created = await tap.until(about(v1_made["id"], "asset.created"))
    v2_created = await tap.until(about(v2_id, "asset.created"))
    assert shape(v2_created) == shape(v1_created)
    assert v2_created["orgid"] == v1_created["orgid"] == str(tenant.org_id)
    assert v2_created["data"]["version"] == v1_created["data"]["version"] == 1
    assert v2_created["data"]["request_id"] == v2_request and v1_created["data"]["request_id"] == v1_request
    assert v2_created["data"]["actor"] == v1_created["data"]["actor"]
    # The changes of a create are in v1 names, from null, for the same fields.
    changes_v1, changes_v2 = v1_created["data"]["changes"], v2_created["data"]["changes"]
    assert set(changes_v2) == set(changes_v1)
    for name in ("purchase_price", "notes", "warranty_provider_id", "warranty_until", "status"):
        assert changes_v2[name] == changes_v1[name], name
    assert changes_v2["status"] == {"from": None, "to": "in_use"}
    assert changes_v2["purchase_price"] == {"from": None, "to": 1200.0}
    assert changes_v2["name"] == {"from": None, "to": "two"}
    assert v2_created["data"]["asset"]["id"] == v2_id
    assert v2_created["data"]["asset"]["asset_tag"] == v2_made["asset_tag"]

    # A PATCH that changes nothing makes no event: the next update of the asset is version 2.
    status, _, _ = await write(client, tenant, "PATCH", f"{V2}/asset/{v2_made['id']}/", {"asset_notes": "n"})
    assert status == 200

    # An update of the same fields through each dialect.
    status, _, _ = await write(
        client,
        tenant,
        "PATCH",
        f"/v1/assets/{v1_made['id']}",
        {"purchase_price": 1300.5, "status": "returned"},
    )
    assert status == 200
    status, _, v2_patch_request = await write(
        client, tenant, "PATCH", f"{V2}/asset/{v2_made['id']}/", {"original_cost": 1300.5, "usage_status": 5}
    )
    assert status == 200
    v1_updated = await tap.until(about(v1_made["id"], "asset.updated"))
    v2_updated = await tap.until(about(v2_id, "asset.updated"))
    assert shape(v2_updated) == shape(v1_updated)
    assert (
        v2_updated["data"]["changes"]
        == v1_updated["data"]["changes"]
        == {
            "purchase_price": {"from": 1200.0, "to": 1300.5},
            "status": {"from": "in_use", "to": "returned"},
        }
    )
    assert v2_updated["data"]["version"] == 2 and v2_updated["data"]["request_id"] == v2_patch_request
    v1_now = await v1_get(client, tenant, v2_id)
    shown = v2_updated["data"]["asset"]
    assert {k: v for k, v in shown.items() if k not in DERIVED} == {
        k: float(v) if isinstance(v, Decimal) else v for k, v in v1_now.items() if k not in DERIVED
    }

    # A PUT's event names every field it cleared, in v1 names.
    status, _, _ = await write(client, tenant, "PUT", f"{V2}/asset/{v2_made['id']}/", {"name": "two"})
    assert status == 200
    v2_put = await tap.until(about(v2_id, "asset.updated"))
    assert set(v2_put["data"]["changes"]) == {
        "serial_number",
        "purchase_price",
        "notes",
        "warranty_provider_id",
        "warranty_until",
        "status",
    }
    assert v2_put["data"]["changes"]["warranty_provider_id"] == {"from": vendor_v1, "to": None}
    assert v2_put["data"]["version"] == 3

    # Deletes.
    status, _, _ = await write(client, tenant, "DELETE", f"/v1/assets/{v1_made['id']}")
    assert status == 200
    status, _, _ = await write(client, tenant, "DELETE", f"{V2}/asset/{v2_made['id']}/")
    assert status == 204
    v1_deleted = await tap.until(about(v1_made["id"], "asset.deleted"))
    v2_deleted = await tap.until(about(v2_id, "asset.deleted"))
    assert shape(v2_deleted) == shape(v1_deleted)
    assert v2_deleted["data"]["version"] == 4
    assert all(c["to"] is None for c in v2_deleted["data"]["changes"].values())
    last = v2_deleted["data"]["asset"]
    assert last["id"] == v2_id and last["name"] == "two" and last["serial_number"] is None
    # Every field the asset still had goes to null, and only those.
    assert v2_deleted["data"]["changes"] == {
        k: {"from": v, "to": None}
        for k, v in last.items()
        if v is not None and k not in DERIVED | {"id", "version", "created_at", "updated_at"}
    }
    assert "serial_number" not in v2_deleted["data"]["changes"]
    assert v2_deleted["data"]["changes"]["status"] == {"from": "in_stock", "to": None}


async def test_v2_writes_leave_audit_entries_like_v1(
    client: TestClient, tenant: Tenant, worker: asyncio.Task[None]
) -> None:
    v1_made = await v1_asset(client, tenant, name="audited one")
    await ok(client, tenant, "PATCH", f"/v1/assets/{v1_made['id']}", {"purchase_price": 10})
    await ok(client, tenant, "DELETE", f"/v1/assets/{v1_made['id']}")
    status, v2_made, request_id = await write(client, tenant, "POST", f"{V2}/asset/", {"name": "audited two"})
    assert status == 201
    v2_id = await v1_id_of(client, tenant, v2_made)
    await ok(client, tenant, "PATCH", f"{V2}/asset/{v2_made['id']}/", {"original_cost": 10})
    resp = await client.delete(f"{V2}/asset/{v2_made['id']}/", headers=tenant.auth())
    assert resp.status == 204

    async def history(asset_id: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = (await ok(client, tenant, "GET", f"/v1/assets/{asset_id}/history"))[
            "data"
        ]
        return entries if len(entries) == 3 else []

    v1_entries = await poll(lambda: history(v1_made["id"]))
    v2_entries = await poll(lambda: history(v2_id))
    assert (
        [e["action"] for e in v2_entries]
        == [e["action"] for e in v1_entries]
        == ["deleted", "updated", "created"]
    )
    for one, two in zip(v1_entries, v2_entries, strict=True):
        assert set(two) == set(one)
        assert two["actor"] == one["actor"]
        assert two["asset_id"] == v2_id
    assert [e["version"] for e in v2_entries] == [3, 2, 1]
    assert (
        v2_entries[1]["changes"] == v1_entries[1]["changes"] == {"purchase_price": {"from": None, "to": 10}}
    )
    assert v2_entries[2]["request_id"] == request_id
    assert set(v2_entries[2]["changes"]) == set(v1_entries[2]["changes"])
    log = await ok(client, tenant, "GET", f"/v1/audit-log?asset_id={v2_id}&action=updated")
    assert [e["id"] for e in log["data"]] == [v2_entries[1]["id"]]


ODD_BODIES: list[Any] = [
    {"name": "x", "template": "abc"},
    {"name": "x", "template": {"id": "1", "fields": {}}},
    {"name": "x", "template": {"fields": None}},
    {"name": "x", "template": {"id": 2**63, "fields": {}}},
    {"name": "x", "template": {"id": 1, "fields": {}, "extra": 1}},
    {"name": "x", "category": {"name": "no id"}},
    {"name": "x", "category": {"id": "5"}},
    {"name": "x", "category": [1]},
    {"name": "x", "category": 1.5},
    {"name": "x", "category": -3},
    {"name": "x", "usage_status": True},
    {"name": "x", "usage_status": {"id": 9, "name": "Gone"}},
    {"name": "x", "usage_status": 2.5},
    {"name": "x", "original_cost": 1e20},
    {"name": "x", "original_cost": "1e3"},
    {"name": "x", "original_cost": [1]},
    {"name": "x", "warranty_end_date": "2024-02-30"},
    {"name": "x", "warranty_end_date": 20240101},
    {"name": "x", "warranty_end_date": "2024-01-01T10:00:00"},
    {"name": "x\u0000y"},
    {"name": "x" * 256},
    {"name": "x", "asset_notes": "n" * 10_001},
    {"name": "x", "company": 2**31},
    {"name": "x", "company": 2**63},
    {"name": "x", "asset_owner": {"id": 10**30}},
    {"name": "x", "depreciation_schedule": None, "estimated_salvage_value": "abc"},
    {"name": "x", "support_contact_email": "two words@example.com"},
    {"name": ["x"]},
    {"name": {"id": 1}},
]


async def test_odd_writes_are_400_in_drf_shape_never_500(client: TestClient, tenant: Tenant) -> None:
    made = await v2_asset(client, tenant, name="target")
    for body in ODD_BODIES:
        for method, path in (
            ("POST", f"{V2}/asset/"),
            ("PUT", f"{V2}/asset/{made['id']}/"),
            ("PATCH", f"{V2}/asset/{made['id']}/"),
        ):
            status, answer = await call(client, tenant, method, path, body)
            assert status == 400, (method, body, status, answer)
            assert drf_validation(answer), (method, body, answer)
    assert ids(await v2_list(client, tenant)) == [made["id"]]
    assert settled(await v2_get(client, tenant, made["id"])) == settled(made)


async def test_odd_queries_and_paths_are_4xx_never_500(client: TestClient, tenant: Tenant) -> None:
    made = await v2_asset(client, tenant, name="target", serial_number="SN-1")
    queries = [
        "?name=%00",
        "?serial_number=" + "s" * 300,
        "?custom_form_id=0",
        f"?custom_form_id={2**63}",
        "?custom_form_name=" + "n" * 101,
        "?ordering=",
        "?req=warranty&req=support",
        "?company=-1",
        "?id=1e3",
    ]
    for query in queries:
        status, answer = await call(client, tenant, "GET", f"{V2}/asset/{query}")
        assert status == 400, (query, status, answer)
        assert drf_validation(answer), (query, answer)
    for query in ("?req=lifecycle", "?company=abc", "?colour=1"):
        status, answer = await call(client, tenant, "GET", f"{V2}/asset/{made['id']}/{query}")
        assert status == 400 and drf_validation(answer), (query, answer)
    for path in (
        f"{V2}/asset/%D9%A1/",
        f"{V2}/asset/0/",
        f"{V2}/asset/{made['id']}/extra/",
        f"{V2}/nothing/",
    ):
        status, answer = await call(client, tenant, "GET", path)
        assert status == 404 and set(answer) == {"detail"}, (path, answer)
    resp = await client.post(
        f"{V2}/asset/",
        data=io.BytesIO(json.dumps({"name": "big", "asset_notes": "n" * 2_000_000}).encode()),
        headers={**tenant.auth(), "Content-Type": "application/json"},
    )
    assert resp.status == 413 and set(await resp.json()) == {"detail"}


async def test_ordering_puts_missing_dates_together_with_ties_by_id(
    client: TestClient, tenant: Tenant
) -> None:
    dated = await v2_asset(client, tenant, warranty_end_date="2026-01-01")
    blank_1 = await v2_asset(client, tenant)
    early = await v2_asset(client, tenant, warranty_end_date="2025-01-01")
    blank_2 = await v2_asset(client, tenant)
    ascending = ids(await v2_list(client, tenant, "?ordering=warranty_end_date"))
    descending = ids(await v2_list(client, tenant, "?ordering=-warranty_end_date"))
    assert ascending[:2] == [early["id"], dated["id"]]
    assert ascending[2:] == [blank_1["id"], blank_2["id"]]  # as PostgreSQL and Django order: nulls last
    assert descending == list(reversed(ascending))
