"""The v1 assets API over HTTP: every parameter, field and error of /v1/assets."""

import gzip
import io
import json
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from shared.repositories import assets as assets_repo
from tests.conftest import Tenant, TenantFactory

SEED_FIELDS = {
    "id",
    "asset_tag",
    "name",
    "status",
    "asset_type_name",
    "asset_kind",
    "manufacturer",
    "model",
    "model_id",
    "catalog_manufacturer_name",
    "catalog_model_name",
    "serial_number",
    "purchase_date",
    "purchase_price",
    "warranty_until",
    "assigned_to",
    "notes",
    "custom_fields",
    "created_at",
    "updated_at",
}
LIFECYCLE_FIELDS = {
    "warranty_start_date": "2024-01-10",
    "support_start_date": "2024-02-01",
    "support_end_date": "2027-02-01",
    "end_of_life_date": "2030-12-31",
    "service_start_date": "2024-01-15",
    "depreciation_schedule": "3_year_33_percent",
    "estimated_salvage_value": 100.5,
}
STATUSES = ("in_stock", "preparing", "in_use", "in_service", "returned", "scrapped")
PROBLEM_TYPE = "application/problem+json"


# ---------------------------------------------------------------- helpers


async def post(client: TestClient, tenant: Tenant, path: str, body: Any) -> ClientResponse:
    return await client.post(path, json=body, headers=tenant.auth())


async def created(client: TestClient, tenant: Tenant, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST a body that must be accepted; the `data` of the answer."""
    resp = await post(client, tenant, path, body)
    assert resp.status == 201, await resp.text()
    data: dict[str, Any] = (await resp.json())["data"]
    return data


async def new_asset(client: TestClient, tenant: Tenant, **fields: Any) -> dict[str, Any]:
    body = {"name": f"asset-{uuid.uuid4().hex[:8]}", **fields}
    return await created(client, tenant, "/v1/assets", body)


# Written by the worker, which may run beside these tests: they change without a write.
DERIVED = frozenset({"warranty_status", "support_status", "book_value"})


def settled(asset: dict[str, Any]) -> dict[str, Any]:
    """An asset without the fields the worker derives, for comparing reads taken at different times."""
    return {k: v for k, v in asset.items() if k not in DERIVED}


async def get_asset(client: TestClient, tenant: Tenant, asset_id: str) -> dict[str, Any]:
    """The asset as GET shows it, without the derived fields (see `settled`)."""
    resp = await client.get(f"/v1/assets/{asset_id}", headers=tenant.auth())
    assert resp.status == 200, await resp.text()
    data: dict[str, Any] = (await resp.json())["data"]
    return settled(data)


async def patch(client: TestClient, tenant: Tenant, asset_id: str, body: Any) -> ClientResponse:
    return await client.patch(f"/v1/assets/{asset_id}", json=body, headers=tenant.auth())


async def patched(client: TestClient, tenant: Tenant, asset_id: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = await patch(client, tenant, asset_id, body)
    assert resp.status == 200, await resp.text()
    data: dict[str, Any] = (await resp.json())["data"]
    return data


async def listing(client: TestClient, tenant: Tenant, query: str = "") -> dict[str, Any]:
    resp = await client.get(f"/v1/assets{query}", headers=tenant.auth())
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def snapshot(client: TestClient, tenant: Tenant) -> list[dict[str, Any]]:
    """Every asset of the tenant as the API shows it (at most 100; tests make far fewer)."""
    body = await listing(client, tenant, "?limit=100")
    assert body["meta"]["total"] <= 100
    return [settled(item) for item in body["data"]]


async def outbox_count(pool: asyncpg.Pool, tenant: Tenant) -> int:
    """How many events the tenant's writes have put in the outbox (sent or not)."""
    count: int = await pool.fetchval("SELECT count(*) FROM outbox WHERE org_id = $1", tenant.org_id)
    return count


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def problem(resp: ClientResponse, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    """Check an RFC 9457 problem document with the seed's `error` and `code`; return it."""
    text = await resp.text()
    assert resp.status == status, text
    assert resp.content_type == PROBLEM_TYPE, resp.content_type
    body: dict[str, Any] = json.loads(text)
    for member in ("type", "title", "status", "detail", "error", "code"):
        assert member in body, (member, body)
    assert body["status"] == status
    assert body["code"] == code
    assert isinstance(body["type"], str) and body["type"]
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["error"], str) and body["error"]
    if field is not None:
        fields = [e["field"] for e in body.get("errors", [])]
        assert any(f == field or f.startswith(field + ".") for f in fields), (field, body)
        assert field in body["detail"], body
    return body


async def catalog(client: TestClient, tenant: Tenant, kind: str = "physical") -> dict[str, dict[str, Any]]:
    """An asset type, a manufacturer, a model of both and a user, made through the API."""
    code = f"T{uuid.uuid4().hex[:6].upper()}"
    asset_type = await created(
        client, tenant, "/v1/asset-types", {"name": f"Type {code}", "code": code, "kind": kind}
    )
    maker = await created(client, tenant, "/v1/manufacturers", {"name": f"Maker {uuid.uuid4().hex[:6]}"})
    model = await created(
        client,
        tenant,
        "/v1/models",
        {
            "manufacturer_id": maker["id"],
            "name": f"Model {uuid.uuid4().hex[:6]}",
            "asset_type_id": asset_type["id"],
        },
    )
    user = await created(
        client,
        tenant,
        "/v1/users",
        {"name": "Alice Example", "email": f"a{uuid.uuid4().hex[:6]}@example.com"},
    )
    return {"type": asset_type, "maker": maker, "model": model, "user": user}


# ---------------------------------------------------------------- create


async def test_create_minimal_answers_201_with_every_field_and_defaults(
    client: TestClient, tenant: Tenant
) -> None:
    resp = await post(client, tenant, "/v1/assets", {"name": "Dell XPS 15"})
    assert resp.status == 201
    assert resp.content_type == "application/json"
    asset = (await resp.json())["data"]
    missing = (SEED_FIELDS | {"asset_type_id"} | set(LIFECYCLE_FIELDS)) - set(asset)
    assert not missing, missing
    assert asset["name"] == "Dell XPS 15"
    assert asset["status"] == "in_stock"
    assert isinstance(asset["id"], str) and asset["id"]
    assert isinstance(asset["asset_tag"], str) and asset["asset_tag"]
    assert asset["custom_fields"] == {}
    for name in (
        "asset_type_id",
        "asset_type_name",
        "asset_kind",
        "model_id",
        "manufacturer",
        "model",
        "catalog_manufacturer_name",
        "catalog_model_name",
        "serial_number",
        "purchase_date",
        "purchase_price",
        "warranty_until",
        "assigned_to",
        "notes",
        *LIFECYCLE_FIELDS,
    ):
        assert asset[name] is None, name
    assert await get_asset(client, tenant, asset["id"]) == settled(asset)


async def test_create_with_seed_example_body(client: TestClient, tenant: Tenant) -> None:
    cat = await catalog(client, tenant)
    body = {
        "name": "Dell XPS 15",
        "asset_type_id": cat["type"]["id"],
        "status": "in_stock",
        "serial_number": "5CG123456",
        "purchase_date": "2024-06-01",
        "purchase_price": 1899.00,
        "warranty_until": "2027-06-01",
        "notes": "Purchased for new hire",
        "custom_fields": {"cost_centre": "R&D", "seats": 3, "nested": {"a": [1, 2]}},
    }
    asset = await created(client, tenant, "/v1/assets", body)
    assert asset["asset_type_id"] == cat["type"]["id"]
    assert asset["asset_type_name"] == cat["type"]["name"]
    assert asset["asset_kind"] == "physical"
    assert asset["serial_number"] == "5CG123456"
    assert asset["purchase_date"] == "2024-06-01"
    assert asset["warranty_until"] == "2027-06-01"
    assert Decimal(str(asset["purchase_price"])) == Decimal("1899.00")
    assert asset["notes"] == "Purchased for new hire"
    assert asset["custom_fields"] == body["custom_fields"]
    assert await get_asset(client, tenant, asset["id"]) == settled(asset)


async def test_name_is_required(client: TestClient, tenant: Tenant) -> None:
    for body in ({}, {"status": "in_use"}, {"name": None}, {"name": ""}, {"name": "   "}):
        resp = await post(client, tenant, "/v1/assets", body)
        await problem(resp, 400, "VALIDATION_ERROR", "name")
    assert await snapshot(client, tenant) == []


async def test_every_status_is_accepted(client: TestClient, tenant: Tenant) -> None:
    for status in STATUSES:
        asset = await new_asset(client, tenant, status=status)
        assert asset["status"] == status
        assert (await get_asset(client, tenant, asset["id"]))["status"] == status


async def test_unknown_or_null_status_is_rejected(client: TestClient, tenant: Tenant) -> None:
    for status in ("lost", "IN_USE", "", 3, None):
        resp = await post(client, tenant, "/v1/assets", {"name": "x", "status": status})
        await problem(resp, 400, "VALIDATION_ERROR", "status")
    assert await snapshot(client, tenant) == []


async def test_model_id_fills_catalog_fields(client: TestClient, tenant: Tenant) -> None:
    cat = await catalog(client, tenant)
    asset = await new_asset(client, tenant, model_id=cat["model"]["id"])
    assert asset["model_id"] == cat["model"]["id"]
    assert asset["manufacturer"] == cat["maker"]["name"]
    assert asset["model"] == cat["model"]["name"]
    assert asset["catalog_manufacturer_name"] == cat["maker"]["name"]
    assert asset["catalog_model_name"] == cat["model"]["name"]
    # the model's type is used when no type is given
    assert asset["asset_type_id"] == cat["type"]["id"]
    assert asset["asset_kind"] == "physical"
    assert await get_asset(client, tenant, asset["id"]) == settled(asset)


async def test_model_id_with_explicit_type_keeps_the_type(client: TestClient, tenant: Tenant) -> None:
    cat = await catalog(client, tenant)
    other = await created(
        client, tenant, "/v1/asset-types", {"name": "Licence", "code": "LIC", "kind": "logical"}
    )
    asset = await new_asset(client, tenant, model_id=cat["model"]["id"], asset_type_id=other["id"])
    assert asset["asset_type_id"] == other["id"]
    assert asset["asset_kind"] == "logical"
    assert asset["manufacturer"] == cat["maker"]["name"]


async def test_catalog_names_follow_renames_but_text_stays(client: TestClient, tenant: Tenant) -> None:
    cat = await catalog(client, tenant)
    asset = await new_asset(client, tenant, model_id=cat["model"]["id"])
    resp = await client.patch(
        f"/v1/manufacturers/{cat['maker']['id']}", json={"name": "Renamed Maker"}, headers=tenant.auth()
    )
    assert resp.status == 200, await resp.text()
    resp = await client.patch(
        f"/v1/models/{cat['model']['id']}", json={"name": "Renamed Model"}, headers=tenant.auth()
    )
    assert resp.status == 200, await resp.text()
    got = await get_asset(client, tenant, asset["id"])
    assert got["catalog_manufacturer_name"] == "Renamed Maker"
    assert got["catalog_model_name"] == "Renamed Model"


async def test_free_text_manufacturer_and_model_without_model_id(client: TestClient, tenant: Tenant) -> None:
    asset = await new_asset(client, tenant, manufacturer="Apple", model='MacBook Pro 14" M3')
    assert asset["manufacturer"] == "Apple"
    assert asset["model"] == 'MacBook Pro 14" M3'
    assert asset["model_id"] is None
    assert asset["catalog_manufacturer_name"] is None
    assert asset["catalog_model_name"] is None


async def test_bad_dates_are_rejected_naming_the_field(client: TestClient, tenant: Tenant) -> None:
    date_fields = ("purchase_date", "warranty_until", *[f for f in LIFECYCLE_FIELDS if f.endswith("_date")])
    for field in date_fields:
        # Never a number read as a Unix time ("0" was 1970-01-01; 1717200000 is midnight of a day),
        # nor a time of day, nor the basic format that Python's fromisoformat also takes.
        bad_dates = ("2024-13-01", "01/06/2024", "yesterday", 20240601, "2024-02-30", "0", 0, 1717200000)
        for bad in (*bad_dates, "1717200000", "20240601", "2024-06-01T00:00:00", "2024-W22-6"):
            resp = await post(client, tenant, "/v1/assets", {"name": "x", field: bad})
            await problem(resp, 400, "VALIDATION_ERROR", field)
    assert await snapshot(client, tenant) == []


async def test_dates_round_trip(client: TestClient, tenant: Tenant) -> None:
    asset = await new_asset(client, tenant, purchase_date="2024-02-29", warranty_until="2027-02-28")
    assert asset["purchase_date"] == "2024-02-29"
    assert asset["warranty_until"] == "2027-02-28"


async def test_purchase_price_is_exact_and_a_json_number(client: TestClient, tenant: Tenant) -> None:
    resp = await post(client, tenant, "/v1/assets", {"name": "priced", "purchase_price": 1234.56})
    assert resp.status == 201
    text = await resp.text()
    assert '"purchase_price":1234.56' in text.replace(" ", ""), text
    assert '"1234.56"' not in text
    asset = json.loads(text, parse_float=Decimal)["data"]
    assert asset["purchase_price"] == Decimal("1234.56")
    got = await client.get(f"/v1/assets/{asset['id']}", headers=tenant.auth())
    got_text = await got.text()
    assert '"purchase_price":1234.56' in got_text.replace(" ", ""), got_text


async def test_prices_keep_their_exact_digits(client: TestClient, tenant: Tenant) -> None:
    cases = [
        ("2499.00", "2499.00"),
        ("0.1", "0.10"),
        ("0", "0.00"),
        ("999999999999.99", "999999999999.99"),
        ("19.9", "19.90"),
        ("1.500", "1.50"),  # trailing zeros are no extra decimals
        ("10.0000000000000000000000000000", "10.00"),
    ]
    for sent, expected in cases:
        raw = json.dumps({"name": "p", "purchase_price": "__P__"}).replace('"__P__"', sent)
        resp = await client.post(
            "/v1/assets", data=raw, headers={**tenant.auth(), "Content-Type": "application/json"}
        )
        assert resp.status == 201, (sent, await resp.text())
        asset = json.loads(await resp.text(), parse_float=Decimal, parse_int=Decimal)["data"]
        assert asset["purchase_price"] == Decimal(expected), (sent, asset["purchase_price"])


async def test_bad_prices_are_rejected(client: TestClient, tenant: Tenant) -> None:
    for field in ("purchase_price", "estimated_salvage_value"):
        # The last two read as floats are 1900.0 and 100.0: a float would have let them through.
        too_fine = ("1899.999999999999999", "100.0000000000000001")
        for raw_value in ("-0.01", "-5", "1.234", "0.001", "1e20", '"abc"', "true", "[1]", *too_fine):
            raw = '{"name": "p", "' + field + '": ' + raw_value + "}"
            resp = await client.post(
                "/v1/assets", data=raw, headers={**tenant.auth(), "Content-Type": "application/json"}
            )
            await problem(resp, 400, "VALIDATION_ERROR", field)
    assert await snapshot(client, tenant) == []


async def test_custom_fields_must_be_an_object(client: TestClient, tenant: Tenant) -> None:
    for bad in ([1, 2], "text", 5, True, None):
        resp = await post(client, tenant, "/v1/assets", {"name": "x", "custom_fields": bad})
        await problem(resp, 400, "VALIDATION_ERROR", "custom_fields")
    assert await snapshot(client, tenant) == []
    asset = await new_asset(client, tenant, custom_fields={"ram_gb": 16, "tags": ["a", "b"], "ok": None})
    assert asset["custom_fields"] == {"ram_gb": 16, "tags": ["a", "b"], "ok": None}


async def test_assigned_to_a_user(client: TestClient, tenant: Tenant) -> None:
    cat = await catalog(client, tenant)
    asset = await new_asset(client, tenant, assigned_to=cat["user"]["id"], status="in_use")
    assert asset["assigned_to"] == cat["user"]["id"]
    assert (await get_asset(client, tenant, asset["id"]))["assigned_to"] == cat["user"]["id"]


async def test_unknown_reference_ids_are_rejected(client: TestClient, tenant: Tenant) -> None:
    await catalog(client, tenant)
    for field in ("asset_type_id", "model_id", "assigned_to"):
        for bad in (str(uuid.uuid4()), "not-an-id"):
            resp = await post(client, tenant, "/v1/assets", {"name": "x", field: bad})
            await problem(resp, 400, "VALIDATION_ERROR", field)
        resp = await post(client, tenant, "/v1/assets", {"name": "x", field: 42})
        await problem(resp, 400, "VALIDATION_ERROR", field)
    assert await snapshot(client, tenant) == []


async def test_lifecycle_and_finance_fields_are_accepted_and_returned(
    client: TestClient, tenant: Tenant
) -> None:
    asset = await new_asset(client, tenant, purchase_price=1200, **LIFECYCLE_FIELDS)
    for name, value in LIFECYCLE_FIELDS.items():
        if name == "estimated_salvage_value":
            assert Decimal(str(asset[name])) == Decimal("100.50")
        else:
            assert asset[name] == value, name
    got = await get_asset(client, tenant, asset["id"])
    for name in LIFECYCLE_FIELDS:
        assert got[name] == asset[name], name


async def test_every_depreciation_schedule_and_an_unknown_one(client: TestClient, tenant: Tenant) -> None:
    for schedule in ("other", "3_year_33_percent", "5_year_20_percent", "10_year_10_percent"):
        asset = await new_asset(client, tenant, depreciation_schedule=schedule)
        assert asset["depreciation_schedule"] == schedule
    before = await snapshot(client, tenant)
    resp = await post(client, tenant, "/v1/assets", {"name": "x", "depreciation_schedule": "7_year"})
    await problem(resp, 400, "VALIDATION_ERROR", "depreciation_schedule")
    assert await snapshot(client, tenant) == before


async def test_a_schedule_must_end_within_the_calendar(client: TestClient, tenant: Tenant) -> None:
    """A schedule ending after 9999-12-31 cannot be computed: a 400 naming the start, not an
    event the worker dead-letters on every change of the asset."""
    ten_years = "10_year_10_percent"
    ok = await new_asset(
        client, tenant, purchase_price=100, depreciation_schedule=ten_years, purchase_date="9989-12-31"
    )
    before = await snapshot(client, tenant)
    for body, field in (
        ({"purchase_date": "9990-01-01", "depreciation_schedule": ten_years}, "purchase_date"),
        (
            {"service_start_date": "9997-02-01", "depreciation_schedule": "3_year_33_percent"},
            "service_start_date",
        ),
    ):
        resp = await post(client, tenant, "/v1/assets", {"name": "late", "purchase_price": 10, **body})
        answer = await problem(resp, 400, "VALIDATION_ERROR", field)
        assert "after 9999-12-31" in answer["errors"][0]["message"], answer
        await problem(await patch(client, tenant, ok["id"], body), 400, "VALIDATION_ERROR", field)
    assert await snapshot(client, tenant) == before
    # Without a cost nothing is computed, so the date alone is fine.
    assert (await new_asset(client, tenant, purchase_date="9999-12-31"))["purchase_date"] == "9999-12-31"


async def test_a_body_in_an_encoding_it_is_not_is_400(client: TestClient, tenant: Tenant) -> None:
    """A Content-Encoding the body does not have was a 500; one we do not decode is a 415."""
    asset = await new_asset(client, tenant)
    before = await snapshot(client, tenant)
    raw = json.dumps({"name": "x"}).encode()
    for encoding in ("gzip", "deflate"):
        headers = {**tenant.auth(), "Content-Type": "application/json", "Content-Encoding": encoding}
        resp = await client.post("/v1/assets", data=raw, headers=headers)
        answer = await problem(resp, 400, "VALIDATION_ERROR")
        assert answer["errors"] == [{"field": "body", "message": f"is not valid {encoding}"}], answer
        resp = await client.patch(f"/v1/assets/{asset['id']}", data=raw, headers=headers)
        await problem(resp, 400, "VALIDATION_ERROR", "body")
        resp = await client.post("/api/v2/asset/", data=raw, headers=headers)
        assert resp.status == 400 and "body" in await resp.json(), await resp.text()
    # (`br` never reaches the app: aiohttp's parser refuses it with its own 400.)
    for encoding in ("zzz", "compress"):
        headers = {**tenant.auth(), "Content-Type": "application/json", "Content-Encoding": encoding}
        resp = await client.post("/v1/assets", data=raw, headers=headers)
        await problem(resp, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert await snapshot(client, tenant) == before
    # A body that is what it says it is works.
    headers = {**tenant.auth(), "Content-Type": "application/json", "Content-Encoding": "gzip"}
    resp = await client.post("/v1/assets", data=gzip.compress(b'{"name": "zipped"}'), headers=headers)
    assert resp.status == 201, await resp.text()


async def test_generated_and_derived_fields_cannot_be_written(client: TestClient, tenant: Tenant) -> None:
    for field, value in (
        ("asset_tag", "MINE-1"),
        ("id", str(uuid.uuid4())),
        ("catalog_model_name", "x"),
        ("catalog_manufacturer_name", "x"),
        ("created_at", "2024-01-01T00:00:00Z"),
        ("asset_type_name", "Laptop"),
        ("book_value", 5),
    ):
        resp = await post(client, tenant, "/v1/assets", {"name": "x", field: value})
        await problem(resp, 400, "VALIDATION_ERROR", field)
    assert await snapshot(client, tenant) == []


async def test_unknown_body_field_is_rejected_naming_it(client: TestClient, tenant: Tenant) -> None:
    resp = await post(client, tenant, "/v1/assets", {"name": "x", "colour": "red"})
    await problem(resp, 400, "VALIDATION_ERROR", "colour")
    assert await snapshot(client, tenant) == []


async def test_wrong_types_are_rejected(client: TestClient, tenant: Tenant) -> None:
    for body in (
        {"name": 5},
        {"name": ["a"]},
        {"name": "x", "serial_number": 12345},
        {"name": "x", "notes": False},
        {"name": "x", "manufacturer": {"a": 1}},
    ):
        resp = await post(client, tenant, "/v1/assets", body)
        field = next(k for k in reversed(list(body)))
        await problem(resp, 400, "VALIDATION_ERROR", field)
    assert await snapshot(client, tenant) == []


# ---------------------------------------------------------------- get


async def test_get_unknown_and_malformed_ids_are_404(client: TestClient, tenant: Tenant) -> None:
    for asset_id in (str(uuid.uuid4()), "not-a-uuid", "123", "clx-abc"):
        resp = await client.get(f"/v1/assets/{asset_id}", headers=tenant.auth())
        await problem(resp, 404, "NOT_FOUND")


async def test_get_of_another_organisations_asset_is_404(
    client: TestClient, tenant: Tenant, make_tenant: TenantFactory
) -> None:
    other = await make_tenant()
    asset = await new_asset(client, other)
    resp = await client.get(f"/v1/assets/{asset['id']}", headers=tenant.auth())
    await problem(resp, 404, "NOT_FOUND")
    resp = await patch(client, tenant, asset["id"], {"name": "stolen"})
    await problem(resp, 404, "NOT_FOUND")
    resp = await client.delete(f"/v1/assets/{asset['id']}", headers=tenant.auth())
    await problem(resp, 404, "NOT_FOUND")
    assert await get_asset(client, other, asset["id"]) == settled(asset)


# ---------------------------------------------------------------- patch


async def test_patch_changes_only_the_fields_sent(client: TestClient, tenant: Tenant) -> None:
    asset = await new_asset(
        client, tenant, serial_number="SN-1", notes="keep me", purchase_price=10, custom_fields={"a": 1}
    )
    after = await patched(client, tenant, asset["id"], {"status": "in_use", "serial_number": "SN-2"})
    assert after["status"] == "in_use"
    assert after["serial_number"] == "SN-2"
    for name in set(asset) - {"status", "serial_number", "updated_at", "version"} - DERIVED:
        assert after[name] == asset[name], name
    assert instant(after["updated_at"]) > instant(asset["updated_at"])
    assert after["version"] == asset["version"] + 1
    assert after["created_at"] == asset["created_at"]
    assert await get_asset(client, tenant, asset["id"]) == settled(after)


async def test_patch_every_writable_field(client: TestClient, tenant: Tenant) -> None:
    cat = await catalog(client, tenant)
    asset = await new_asset(client, tenant)
    body: dict[str, Any] = {
        "name": "renamed",
        "status": "in_service",
        "asset_type_id": cat["type"]["id"],
        "manufacturer": "Lenovo",
        "model": "T14",
        "serial_number": "PF-1",
        "purchase_date": "2023-05-05",
        "purchase_price": 1300.5,
        "warranty_until": "2026-05-05",
        "assigned_to": cat["user"]["id"],
        "notes": "n",
        "custom_fields": {"x": "y"},
        **LIFECYCLE_FIELDS,
    }
    after = await patched(client, tenant, asset["id"], body)
    for name, value in body.items():
        if name in ("purchase_price", "estimated_salvage_value"):
            assert Decimal(str(after[name])) == Decimal(str(value)), name
        else:
            assert after[name] == value, name
    assert after["asset_tag"] == asset["asset_tag"]
    assert after["id"] == asset["id"]
    assert after["created_at"] == asset["created_at"]


async def test_patch_null_clears_optional_fields(client: TestClient, tenant: Tenant) -> None:
    cat = await catalog(client, tenant)
    full: dict[str, Any] = {
        "asset_type_id": cat["type"]["id"],
        "manufacturer": "Apple",
        "model": "M3",
        "serial_number": "SN",
        "purchase_date": "2024-01-10",
        "purchase_price": 99.99,
        "warranty_until": "2027-01-10",
        "assigned_to": cat["user"]["id"],
        "notes": "n",
        **LIFECYCLE_FIELDS,
    }
    asset = await new_asset(client, tenant, **full)
    after = await patched(client, tenant, asset["id"], dict.fromkeys(full))
    for name in full:
        assert after[name] is None, name
    assert after["asset_type_name"] is None
    assert after["asset_kind"] is None
    assert after["name"] == asset["name"]
    assert await get_asset(client, tenant, asset["id"]) == settled(after)


async def test_patch_model_id_refills_catalog_fields(client: TestClient, tenant: Tenant) -> None:
    first = await catalog(client, tenant)
    second = await catalog(client, tenant)
    asset = await new_asset(client, tenant, model_id=first["model"]["id"])
    after = await patched(client, tenant, asset["id"], {"model_id": second["model"]["id"]})
    assert after["model_id"] == second["model"]["id"]
    assert after["manufacturer"] == second["maker"]["name"]
    assert after["model"] == second["model"]["name"]
    assert after["catalog_manufacturer_name"] == second["maker"]["name"]
    assert after["catalog_model_name"] == second["model"]["name"]
    # a free-text asset linked later is filled too
    plain = await new_asset(client, tenant, manufacturer="Free", model="Text")
    linked = await patched(client, tenant, plain["id"], {"model_id": first["model"]["id"]})
    assert linked["manufacturer"] == first["maker"]["name"]
    assert linked["model"] == first["model"]["name"]
    assert linked["catalog_model_name"] == first["model"]["name"]
    # unlinking keeps the text and drops the catalog names
    unlinked = await patched(client, tenant, plain["id"], {"model_id": None})
    assert unlinked["model_id"] is None
    assert unlinked["catalog_model_name"] is None
    assert unlinked["catalog_manufacturer_name"] is None


async def test_patch_assigned_to_set_and_cleared(client: TestClient, tenant: Tenant) -> None:
    cat = await catalog(client, tenant)
    asset = await new_asset(client, tenant)
    assigned = await patched(
        client, tenant, asset["id"], {"assigned_to": cat["user"]["id"], "status": "in_use"}
    )
    assert assigned["assigned_to"] == cat["user"]["id"]
    cleared = await patched(client, tenant, asset["id"], {"assigned_to": None})
    assert cleared["assigned_to"] is None
    assert cleared["status"] == "in_use"


async def test_patch_custom_fields_replaces_the_whole_object(client: TestClient, tenant: Tenant) -> None:
    asset = await new_asset(client, tenant, custom_fields={"a": 1, "b": 2})
    after = await patched(client, tenant, asset["id"], {"custom_fields": {"c": 3}})
    assert after["custom_fields"] == {"c": 3}


async def test_patch_not_null_fields_cannot_be_null(client: TestClient, tenant: Tenant) -> None:
    asset = await new_asset(client, tenant)
    for field in ("name", "status", "custom_fields"):
        resp = await patch(client, tenant, asset["id"], {field: None})
        await problem(resp, 400, "VALIDATION_ERROR", field)
    for body in ({"name": ""}, {"name": "  "}, {"status": "lost"}):
        resp = await patch(client, tenant, asset["id"], body)
        await problem(resp, 400, "VALIDATION_ERROR", next(iter(body)))
    assert await get_asset(client, tenant, asset["id"]) == settled(asset)


async def test_patch_unknown_field_is_rejected_naming_it(client: TestClient, tenant: Tenant) -> None:
    asset = await new_asset(client, tenant)
    resp = await patch(client, tenant, asset["id"], {"name": "new", "colour": "red"})
    await problem(resp, 400, "VALIDATION_ERROR", "colour")
    resp = await patch(client, tenant, asset["id"], {"asset_tag": "MINE-1"})
    await problem(resp, 400, "VALIDATION_ERROR", "asset_tag")
    assert await get_asset(client, tenant, asset["id"]) == settled(asset)


async def test_patch_empty_object_changes_nothing(
    client: TestClient, tenant: Tenant, pool: asyncpg.Pool
) -> None:
    asset = await new_asset(client, tenant, notes="n")
    events = await outbox_count(pool, tenant)
    assert events == 1
    after = await patched(client, tenant, asset["id"], {})
    assert settled(after) == settled(asset)
    assert await get_asset(client, tenant, asset["id"]) == settled(asset)
    assert await outbox_count(pool, tenant) == events


async def test_patch_same_values_changes_nothing(
    client: TestClient, tenant: Tenant, pool: asyncpg.Pool
) -> None:
    asset = await new_asset(client, tenant, notes="n", status="in_use", purchase_price=12.5)
    events = await outbox_count(pool, tenant)
    after = await patched(
        client, tenant, asset["id"], {"notes": "n", "status": "in_use", "purchase_price": 12.50}
    )
    assert settled(after) == settled(asset)
    assert await outbox_count(pool, tenant) == events
    # a real change is one event
    await patched(client, tenant, asset["id"], {"notes": "m"})
    assert await outbox_count(pool, tenant) == events + 1


async def test_patch_unknown_and_malformed_ids_are_404(client: TestClient, tenant: Tenant) -> None:
    for asset_id in (str(uuid.uuid4()), "not-a-uuid"):
        resp = await patch(client, tenant, asset_id, {"name": "x"})
        await problem(resp, 404, "NOT_FOUND")


async def test_patch_bad_values_write_nothing(client: TestClient, tenant: Tenant, pool: asyncpg.Pool) -> None:
    asset = await new_asset(client, tenant, purchase_price=10)
    events = await outbox_count(pool, tenant)
    for body, field in (
        ({"purchase_price": -1}, "purchase_price"),
        ({"purchase_price": 1.001}, "purchase_price"),
        ({"purchase_date": "2024-99-01"}, "purchase_date"),
        ({"assigned_to": str(uuid.uuid4())}, "assigned_to"),
        ({"model_id": str(uuid.uuid4())}, "model_id"),
        ({"asset_type_id": str(uuid.uuid4())}, "asset_type_id"),
        ({"custom_fields": [1]}, "custom_fields"),
        ({"name": "ok", "notes": 5}, "notes"),
        ({"name": "ok", "assigned_to": str(uuid.uuid4())}, "assigned_to"),
        ({"status": "in_use", "model_id": "nope"}, "model_id"),
    ):
        resp = await patch(client, tenant, asset["id"], body)
        await problem(resp, 400, "VALIDATION_ERROR", field)
    assert await get_asset(client, tenant, asset["id"]) == settled(asset)
    assert await outbox_count(pool, tenant) == events


# ---------------------------------------------------------------- delete


async def test_delete_then_get_and_delete_again_are_404(client: TestClient, tenant: Tenant) -> None:
    asset = await new_asset(client, tenant)
    keep = await new_asset(client, tenant)
    resp = await client.delete(f"/v1/assets/{asset['id']}", headers=tenant.auth())
    assert resp.status == 200
    assert await resp.json() == {"message": "Asset deleted."}
    resp = await client.get(f"/v1/assets/{asset['id']}", headers=tenant.auth())
    await problem(resp, 404, "NOT_FOUND")
    resp = await client.delete(f"/v1/assets/{asset['id']}", headers=tenant.auth())
    await problem(resp, 404, "NOT_FOUND")
    resp = await patch(client, tenant, asset["id"], {"name": "ghost"})
    await problem(resp, 404, "NOT_FOUND")
    assert [a["id"] for a in await snapshot(client, tenant)] == [keep["id"]]
    assert (await listing(client, tenant))["meta"]["total"] == 1


async def test_delete_malformed_id_is_404(client: TestClient, tenant: Tenant) -> None:
    resp = await client.delete("/v1/assets/not-a-uuid", headers=tenant.auth())
    await problem(resp, 404, "NOT_FOUND")


# ---------------------------------------------------------------- list


async def test_list_defaults_and_meta(client: TestClient, tenant: Tenant) -> None:
    empty = await listing(client, tenant)
    assert empty["data"] == []
    assert empty["meta"]["total"] == 0
    assert empty["meta"]["page"] == 1
    assert empty["meta"]["limit"] == 20
    assert empty["meta"]["total_pages"] == 0
    made = [await new_asset(client, tenant, serial_number=f"S{i}") for i in range(23)]
    first = await listing(client, tenant)
    assert first["meta"] == {
        "total": 23,
        "page": 1,
        "limit": 20,
        "total_pages": 2,
        "total_is_estimate": False,
    }
    assert len(first["data"]) == 20
    # newest first
    newest_first = [a["id"] for a in reversed(made)]
    assert [a["id"] for a in first["data"]] == newest_first[:20]
    second = await listing(client, tenant, "?page=2")
    assert second["meta"]["page"] == 2
    assert second["meta"]["total"] == 23
    assert [a["id"] for a in second["data"]] == newest_first[20:]
    by_fives = await listing(client, tenant, "?limit=5&page=5")
    assert by_fives["meta"] == {
        "total": 23,
        "page": 5,
        "limit": 5,
        "total_pages": 5,
        "total_is_estimate": False,
    }
    assert [a["id"] for a in by_fives["data"]] == newest_first[20:]
    # list items are the same representation as GET
    assert settled(first["data"][0]) == await get_asset(client, tenant, first["data"][0]["id"])


async def test_page_past_the_end_is_empty_with_right_meta(client: TestClient, tenant: Tenant) -> None:
    for _ in range(3):
        await new_asset(client, tenant)
    body = await listing(client, tenant, "?page=7&limit=2")
    assert body["data"] == []
    assert body["meta"] == {"total": 3, "page": 7, "limit": 2, "total_pages": 2, "total_is_estimate": False}


async def test_limit_bounds(client: TestClient, tenant: Tenant) -> None:
    await new_asset(client, tenant)
    for query in ("limit=1", "limit=100"):
        resp = await client.get(f"/v1/assets?{query}", headers=tenant.auth())
        assert resp.status == 200
    for query, param in (
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("limit=-1", "limit"),
        ("limit=1.5", "limit"),
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("page=", "page"),
    ):
        resp = await client.get(f"/v1/assets?{query}", headers=tenant.auth())
        await problem(resp, 400, "VALIDATION_ERROR", param)


async def test_unknown_and_repeated_query_parameters_are_400(client: TestClient, tenant: Tenant) -> None:
    for query, param in (
        ("colour=red", "colour"),
        ("sort=name", "sort"),
        ("page=1&page=2", "page"),
        ("status=in_use&status=in_stock", "status"),
    ):
        resp = await client.get(f"/v1/assets?{query}", headers=tenant.auth())
        await problem(resp, 400, "VALIDATION_ERROR", param)


async def test_q_matches_name_tag_and_serial_case_insensitively(client: TestClient, tenant: Tenant) -> None:
    laptop = await new_asset(client, tenant, name="MacBook Pro Zeta", serial_number="C02XY1234")
    server = await new_asset(client, tenant, name="Rack Server", serial_number="ZZ-9931-QQ")
    await new_asset(client, tenant, name="Monitor", serial_number="MON-1")

    async def ids(q: str) -> list[str]:
        body = await listing(client, tenant, f"?q={q}")
        assert body["meta"]["total"] == len(body["data"])
        return [a["id"] for a in body["data"]]

    assert await ids("macbook") == [laptop["id"]]
    assert await ids("ZETA") == [laptop["id"]]
    assert await ids("c02xy") == [laptop["id"]]
    assert await ids("9931-qq") == [server["id"]]
    tag = server["asset_tag"]
    assert await ids(tag.lower()) == [server["id"]]
    assert await ids(tag.upper()) == [server["id"]]
    assert await ids("no-such-thing") == []
    # wildcards are literal
    assert await ids("%25") == []
    assert await ids("_") == []
    # q combines with the other filters
    await patched(client, tenant, laptop["id"], {"status": "in_use"})
    body = await listing(client, tenant, "?q=r&status=in_use")
    assert [a["id"] for a in body["data"]] == [laptop["id"]]


async def test_q_empty_or_too_long_is_400(client: TestClient, tenant: Tenant) -> None:
    for query in ("q=", "q=" + "a" * 201):
        resp = await client.get(f"/v1/assets?{query}", headers=tenant.auth())
        await problem(resp, 400, "VALIDATION_ERROR", "q")


async def test_q_total_is_exact_up_to_the_limit_then_the_planners_estimate(
    client: TestClient, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = [await new_asset(client, tenant, name=f"Gamma {i}") for i in range(7)]
    newest_first = [a["id"] for a in reversed(made)]

    async def gammas(limit: int, page: int = 1) -> dict[str, Any]:
        body = await listing(client, tenant, f"?q=gamma&limit={limit}&page={page}")
        # the page itself is always exact
        assert [a["id"] for a in body["data"]] == newest_first[(page - 1) * limit : page * limit]
        meta: dict[str, Any] = body["meta"]
        return meta

    exact = await gammas(limit=5)
    assert (exact["total"], exact["total_is_estimate"]) == (7, False)
    # More matches than are counted: the planner's estimate, flagged, never below the limit + 1.
    monkeypatch.setattr(assets_repo, "EXACT_SEARCH_TOTAL_LIMIT", 5)
    counted_past = await gammas(limit=5)
    assert counted_past["total_is_estimate"] is True
    assert counted_past["total"] >= 6
    # An estimate far above the limit stands without counting...
    monkeypatch.setattr(assets_repo, "EXACT_SEARCH_TOTAL_LIMIT", 1_000)
    monkeypatch.setattr(assets_repo, "TRUSTED_ESTIMATE_ABOVE", 0)
    trusted = await gammas(limit=5)
    assert (trusted["total"], trusted["total_is_estimate"]) == (1_001, True)
    # ...but a page that is not full is the last one, and so gives the exact total.
    for limit, page in ((100, 1), (5, 2)):
        last = await gammas(limit=limit, page=page)
        assert (last["total"], last["total_is_estimate"]) == (7, False), (limit, page)


async def test_status_filter(client: TestClient, tenant: Tenant) -> None:
    in_use = [await new_asset(client, tenant, status="in_use") for _ in range(2)]
    await new_asset(client, tenant)
    await new_asset(client, tenant, status="scrapped")
    body = await listing(client, tenant, "?status=in_use")
    assert [a["id"] for a in body["data"]] == [a["id"] for a in reversed(in_use)]
    assert body["meta"]["total"] == 2
    assert (await listing(client, tenant, "?status=returned"))["meta"]["total"] == 0
    # a status change moves the asset between filters
    await patched(client, tenant, in_use[0]["id"], {"status": "returned"})
    assert (await listing(client, tenant, "?status=in_use"))["meta"]["total"] == 1
    returned = await listing(client, tenant, "?status=returned")
    assert [a["id"] for a in returned["data"]] == [in_use[0]["id"]]
    resp = await client.get("/v1/assets?status=lost", headers=tenant.auth())
    await problem(resp, 400, "VALIDATION_ERROR", "status")


async def test_asset_type_and_kind_filters(client: TestClient, tenant: Tenant) -> None:
    physical = await catalog(client, tenant, "physical")
    logical = await catalog(client, tenant, "logical")
    laptop = await new_asset(client, tenant, asset_type_id=physical["type"]["id"])
    licence = await new_asset(client, tenant, asset_type_id=logical["type"]["id"])
    modelled = await new_asset(client, tenant, model_id=logical["model"]["id"])
    untyped = await new_asset(client, tenant)

    async def ids(query: str) -> list[str]:
        body = await listing(client, tenant, query)
        assert body["meta"]["total"] == len(body["data"]), body["meta"]
        return [a["id"] for a in body["data"]]

    assert await ids(f"?asset_type_id={physical['type']['id']}") == [laptop["id"]]
    assert await ids(f"?asset_type_id={logical['type']['id']}") == [modelled["id"], licence["id"]]
    assert await ids("?kind=physical") == [laptop["id"]]
    assert await ids("?kind=logical") == [modelled["id"], licence["id"]]
    assert await ids(f"?kind=physical&asset_type_id={logical['type']['id']}") == []
    assert await ids("") == [untyped["id"], modelled["id"], licence["id"], laptop["id"]]
    assert await ids(f"?asset_type_id={uuid.uuid4()}") == []
    await patched(client, tenant, laptop["id"], {"status": "in_use"})
    assert await ids("?kind=physical&status=in_use") == [laptop["id"]]
    assert await ids("?kind=logical&status=in_use") == []
    resp = await client.get("/v1/assets?kind=virtual", headers=tenant.auth())
    await problem(resp, 400, "VALIDATION_ERROR", "kind")


async def test_list_is_scoped_to_the_organisation(
    client: TestClient, tenant: Tenant, make_tenant: TenantFactory
) -> None:
    other = await make_tenant()
    mine = await new_asset(client, tenant, name="Shared Name")
    theirs = await new_asset(client, other, name="Shared Name")
    assert [a["id"] for a in await snapshot(client, tenant)] == [mine["id"]]
    assert [a["id"] for a in await snapshot(client, other)] == [theirs["id"]]
    body = await listing(client, tenant, "?q=shared")
    assert [a["id"] for a in body["data"]] == [mine["id"]]


# ---------------------------------------------------------------- errors of any write


async def test_malformed_json_is_400(client: TestClient, tenant: Tenant) -> None:
    asset = await new_asset(client, tenant)
    headers = {**tenant.auth(), "Content-Type": "application/json"}
    for raw in ('{"name": "x"', "{name: 'x'}", "not json", '{"name": "x",}'):
        resp = await client.post("/v1/assets", data=raw, headers=headers)
        await problem(resp, 400, "VALIDATION_ERROR")
        resp = await client.patch(f"/v1/assets/{asset['id']}", data=raw, headers=headers)
        await problem(resp, 400, "VALIDATION_ERROR")
    resp = await client.post("/v1/assets", data="", headers=headers)
    await problem(resp, 400, "VALIDATION_ERROR")
    assert await snapshot(client, tenant) == [settled(asset)]


async def test_body_that_is_not_an_object_is_400(client: TestClient, tenant: Tenant) -> None:
    asset = await new_asset(client, tenant)
    headers = {**tenant.auth(), "Content-Type": "application/json"}
    for body in ([{"name": "x"}], [], "x", 5, None, True):
        raw = json.dumps(body)
        resp = await client.post("/v1/assets", data=raw, headers=headers)
        await problem(resp, 400, "VALIDATION_ERROR", "body")
        resp = await client.patch(f"/v1/assets/{asset['id']}", data=raw, headers=headers)
        await problem(resp, 400, "VALIDATION_ERROR", "body")
    assert await snapshot(client, tenant) == [settled(asset)]


async def test_wrong_content_type_is_415(client: TestClient, tenant: Tenant) -> None:
    asset = await new_asset(client, tenant)
    raw = json.dumps({"name": "x"})
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
        headers = {**tenant.auth(), "Content-Type": content_type}
        resp = await client.post("/v1/assets", data=raw, headers=headers)
        await problem(resp, 415, "UNSUPPORTED_MEDIA_TYPE")
        resp = await client.patch(f"/v1/assets/{asset['id']}", data=raw, headers=headers)
        await problem(resp, 415, "UNSUPPORTED_MEDIA_TYPE")
    resp = await client.post("/v1/assets", data=raw.encode(), headers=tenant.auth())
    await problem(resp, 415, "UNSUPPORTED_MEDIA_TYPE")
    # a charset parameter is fine
    resp = await client.post(
        "/v1/assets", data=raw, headers={**tenant.auth(), "Content-Type": "application/json; charset=utf-8"}
    )
    assert resp.status == 201, await resp.text()
    assert len(await snapshot(client, tenant)) == 2


async def test_body_over_max_body_bytes_is_413(client: TestClient, tenant: Tenant) -> None:
    asset = await new_asset(client, tenant)
    big = json.dumps({"name": "big", "notes": "x" * (1024 * 1024 + 10)}).encode()
    headers = {**tenant.auth(), "Content-Type": "application/json"}
    resp = await client.post("/v1/assets", data=io.BytesIO(big), headers=headers)
    await problem(resp, 413, "PAYLOAD_TOO_LARGE")
    resp = await client.patch(f"/v1/assets/{asset['id']}", data=io.BytesIO(big), headers=headers)
    await problem(resp, 413, "PAYLOAD_TOO_LARGE")
    assert await snapshot(client, tenant) == [settled(asset)]


async def test_problem_document_shape(client: TestClient, tenant: Tenant) -> None:
    resp = await post(client, tenant, "/v1/assets", {"name": "x", "purchase_price": 1.234})
    body = await problem(resp, 400, "VALIDATION_ERROR", "purchase_price")
    assert body["instance"] == "/v1/assets"
    assert body["error"] == body["detail"]
    assert body["title"] == "Bad Request"
    assert body["type"].startswith("http")
    assert body["request_id"] == resp.headers["X-Request-ID"]
    assert [e["field"] for e in body["errors"]] == ["purchase_price"]
    assert body["errors"][0]["message"]


async def test_scopes_and_authentication(client: TestClient, tenant: Tenant) -> None:
    asset = await new_asset(client, tenant)
    resp = await client.post("/v1/assets", json={"name": "x"}, headers=tenant.auth(tenant.read_token))
    await problem(resp, 403, "FORBIDDEN")
    resp = await client.patch(
        f"/v1/assets/{asset['id']}", json={"name": "x"}, headers=tenant.auth(tenant.read_token)
    )
    await problem(resp, 403, "FORBIDDEN")
    resp = await client.delete(f"/v1/assets/{asset['id']}", headers=tenant.auth(tenant.read_token))
    await problem(resp, 403, "FORBIDDEN")
    resp = await client.get("/v1/assets", headers=tenant.auth(tenant.write_token))
    await problem(resp, 403, "FORBIDDEN")
    resp = await client.get(f"/v1/assets/{asset['id']}", headers=tenant.auth(tenant.write_token))
    await problem(resp, 403, "FORBIDDEN")
    resp = await client.get("/v1/assets")
    await problem(resp, 401, "UNAUTHORIZED")
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    resp = await client.post(
        "/v1/assets", json={"name": "x"}, headers={"Authorization": "Bearer usl_live_nope"}
    )
    await problem(resp, 401, "UNAUTHORIZED")
    assert [settled(a) for a in (await listing(client, tenant, "?limit=5"))["data"]] == [settled(asset)]
    # the read token reads and the write token writes
    resp = await client.get(f"/v1/assets/{asset['id']}", headers=tenant.auth(tenant.read_token))
    assert resp.status == 200
    resp = await client.post("/v1/assets", json={"name": "w"}, headers=tenant.auth(tenant.write_token))
    assert resp.status == 201


async def test_method_not_allowed(client: TestClient, tenant: Tenant) -> None:
    resp = await client.put("/v1/assets", json={"name": "x"}, headers=tenant.auth())
    body = await problem(resp, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in resp.headers["Allow"]
    assert body["status"] == 405
    assert await snapshot(client, tenant) == []


# ---------------------------------------------------------------- ids of another organisation


async def test_ids_of_another_organisation_are_rejected(
    client: TestClient, tenant: Tenant, make_tenant: TenantFactory, pool: asyncpg.Pool
) -> None:
    other = await make_tenant()
    foreign = await catalog(client, other)
    mine = await new_asset(client, tenant)
    events = await outbox_count(pool, tenant)
    for field, value in (
        ("asset_type_id", foreign["type"]["id"]),
        ("model_id", foreign["model"]["id"]),
        ("assigned_to", foreign["user"]["id"]),
    ):
        resp = await post(client, tenant, "/v1/assets", {"name": "x", field: value})
        await problem(resp, 400, "VALIDATION_ERROR", field)
        resp = await patch(client, tenant, mine["id"], {field: value})
        await problem(resp, 400, "VALIDATION_ERROR", field)
    assert await snapshot(client, tenant) == [settled(mine)]
    assert await get_asset(client, tenant, mine["id"]) == settled(mine)
    assert await outbox_count(pool, tenant) == events
    # the other organisation can use its own ids
    theirs = await new_asset(
        client, other, model_id=foreign["model"]["id"], assigned_to=foreign["user"]["id"]
    )
    assert theirs["model_id"] == foreign["model"]["id"]
    # and a list filter on another organisation's type finds nothing of theirs
    body = await listing(client, tenant, f"?asset_type_id={foreign['type']['id']}")
    assert body["data"] == []
    assert body["meta"]["total"] == 0


# ---------------------------------------------------------------- more fields


async def test_patch_model_id_keeps_an_existing_type(client: TestClient, tenant: Tenant) -> None:
    """README: the model fills asset_type_id only when none is given; a PATCH changes only what it sends."""
    cat = await catalog(client, tenant)
    own_type = await created(
        client, tenant, "/v1/asset-types", {"name": "Own type", "code": "OWN", "kind": "logical"}
    )
    asset = await new_asset(client, tenant, asset_type_id=own_type["id"])
    after = await patched(client, tenant, asset["id"], {"model_id": cat["model"]["id"]})
    assert after["manufacturer"] == cat["maker"]["name"]
    assert after["asset_type_id"] == own_type["id"]
    assert after["asset_kind"] == "logical"


async def test_patch_model_id_fills_the_type_of_an_untyped_asset(client: TestClient, tenant: Tenant) -> None:
    cat = await catalog(client, tenant)
    asset = await new_asset(client, tenant)
    after = await patched(client, tenant, asset["id"], {"model_id": cat["model"]["id"]})
    assert after["asset_type_id"] == cat["type"]["id"]
    assert after["asset_type_name"] == cat["type"]["name"]
    body = await listing(client, tenant, f"?asset_type_id={cat['type']['id']}")
    assert [a["id"] for a in body["data"]] == [asset["id"]]
    assert body["meta"]["total"] == 1


async def test_name_is_trimmed_and_bounded(client: TestClient, tenant: Tenant) -> None:
    asset = await new_asset(client, tenant, name="  Padded name  ")
    assert asset["name"] == "Padded name"
    assert (await new_asset(client, tenant, name="n" * 255))["name"] == "n" * 255
    before = await snapshot(client, tenant)
    resp = await post(client, tenant, "/v1/assets", {"name": "n" * 256})
    await problem(resp, 400, "VALIDATION_ERROR", "name")
    resp = await patch(client, tenant, asset["id"], {"name": "n" * 256})
    await problem(resp, 400, "VALIDATION_ERROR", "name")
    assert await snapshot(client, tenant) == before


async def test_text_limits_and_nul_characters(client: TestClient, tenant: Tenant) -> None:
    for field, limit in (("serial_number", 255), ("manufacturer", 255), ("model", 255), ("notes", 10_000)):
        ok = await new_asset(client, tenant, **{field: "s" * limit})
        assert ok[field] == "s" * limit
        before = await snapshot(client, tenant)
        resp = await post(client, tenant, "/v1/assets", {"name": "x", field: "s" * (limit + 1)})
        await problem(resp, 400, "VALIDATION_ERROR", field)
        assert await snapshot(client, tenant) == before
    before = await snapshot(client, tenant)
    for body, place in (
        ({"name": "a\u0000b"}, "name"),
        ({"name": "x", "notes": "a\u0000"}, "notes"),
        ({"name": "x", "custom_fields": {"k": "\u0000"}}, "custom_fields.k"),
        ({"name": "x", "custom_fields": {"k": ["a", {"deep": "b\u0000"}]}}, "custom_fields.k[1].deep"),
        ({"name": "x", "custom_fields": {"\u0000": 1}}, "custom_fields.\\u0000"),
    ):
        resp = await post(client, tenant, "/v1/assets", body)
        found = await problem(resp, 400, "VALIDATION_ERROR", place)
        assert found["errors"] == [{"field": place, "message": "must not contain NUL (\\u0000)"}]
    assert await snapshot(client, tenant) == before
    # A backslash followed by "u0000" is text, not NUL (its JSON is C:\\u0000dir).
    path = await new_asset(client, tenant, notes="C:\\u0000dir")
    assert path["notes"] == "C:\\u0000dir"


async def test_custom_fields_are_bounded(client: TestClient, tenant: Tenant) -> None:
    many = {f"k{i}": i for i in range(200)}
    asset = await new_asset(client, tenant, custom_fields=many)
    assert asset["custom_fields"] == many
    resp = await post(
        client, tenant, "/v1/assets", {"name": "x", "custom_fields": {f"k{i}": i for i in range(201)}}
    )
    await problem(resp, 400, "VALIDATION_ERROR", "custom_fields")
    assert [a["id"] for a in await snapshot(client, tenant)] == [asset["id"]]


async def test_custom_field_numbers_must_fit_64_bits(
    client: TestClient, tenant: Tenant, pool: asyncpg.Pool
) -> None:
    """A number no JSON reader, column or event could carry unchanged is a 400 naming its path:
    a larger integer was a 500 when its event was written, and 1e400 would have become null."""
    edges = {"low": -(2**63), "high": 2**63 - 1, "pi": 3.14159, "deep": {"list": [1, -2.5e18]}}
    asset = await new_asset(client, tenant, custom_fields=edges)
    assert asset["custom_fields"] == edges
    before, events = await snapshot(client, tenant), await outbox_count(pool, tenant)
    headers = {**tenant.auth(), "Content-Type": "application/json"}
    for number, path in (
        ("9223372036854775808", "n"),
        ("-9223372036854775809", "n"),
        ("123456789012345678901234567890", "n"),
        ("1e400", "n"),
        ("-1e19", "n"),
        ('{"a": [0, 1e30]}', "n.a[1]"),
    ):
        raw = f'{{"custom_fields": {{"n": {number}}}}}'
        for resp in (
            await client.post("/v1/assets", data='{"name": "x", ' + raw[1:], headers=headers),
            await client.patch(f"/v1/assets/{asset['id']}", data=raw, headers=headers),
        ):
            body = await problem(resp, 400, "VALIDATION_ERROR", "custom_fields")
            assert f"out of range at {path}:" in body["errors"][0]["message"], body
    assert await snapshot(client, tenant) == before
    assert await outbox_count(pool, tenant) == events
    # v2 names the same rule by its own field name.
    v2_asset = await client.post("/api/v2/asset/", json={"name": "v2"}, headers=tenant.auth())
    assert v2_asset.status == 201, await v2_asset.text()
    before = await snapshot(client, tenant)
    resp = await client.patch(
        f"/api/v2/asset/{(await v2_asset.json())['id']}/",
        data='{"template": {"fields": {"n": 1e400}}}',
        headers=headers,
    )
    assert resp.status == 400, await resp.text()
    assert "template.fields" in await resp.json(), await resp.text()
    assert await snapshot(client, tenant) == before


async def test_zero_price_and_salvage_are_kept(client: TestClient, tenant: Tenant) -> None:
    resp = await post(
        client, tenant, "/v1/assets", {"name": "free", "purchase_price": 0, "estimated_salvage_value": 0}
    )
    assert resp.status == 201
    asset = json.loads(await resp.text(), parse_float=Decimal, parse_int=Decimal)["data"]
    assert asset["purchase_price"] == Decimal("0")
    assert asset["estimated_salvage_value"] == Decimal("0")
    # a cleared price is null, a zero price is zero
    cleared = await patched(client, tenant, asset["id"], {"purchase_price": None})
    assert cleared["purchase_price"] is None
    assert cleared["estimated_salvage_value"] == 0


async def test_a_malformed_id_in_a_filter_is_a_400_naming_the_parameter(
    client: TestClient, tenant: Tenant
) -> None:
    await new_asset(client, tenant)
    for path, parameter in (
        ("/v1/assets?asset_type_id=not-an-id", "asset_type_id"),
        ("/v1/assets?asset_type_id={0b4b2c1e-6b5f-4f7e-9d53-2a7c0c1d9e11}", "asset_type_id"),
        ("/v1/audit-log?asset_id=not-an-id", "asset_id"),
    ):
        resp = await client.get(path, headers=tenant.auth())
        body = await problem(resp, 400, "VALIDATION_ERROR", parameter)
        assert "must be the id of" in body["errors"][0]["message"], path
    # A well-formed id that names nothing of the organisation's is a filter matching nothing.
    resp = await client.get(f"/v1/assets?asset_type_id={uuid.uuid4()}", headers=tenant.auth())
    assert resp.status == 200 and (await resp.json())["data"] == []


async def test_create_writes_exactly_one_event_and_rejects_write_none(
    client: TestClient, tenant: Tenant, pool: asyncpg.Pool
) -> None:
    assert await outbox_count(pool, tenant) == 0
    headers = {**tenant.auth(), "Content-Type": "application/json"}
    for raw in (
        '{"name": 5}',
        "[]",
        "{",
        '{"name": "x", "purchase_price": -1}',
        '{"colour": 1, "name": "x"}',
    ):
        resp = await client.post("/v1/assets", data=raw, headers=headers)
        assert resp.status == 400
    assert await outbox_count(pool, tenant) == 0
    asset = await new_asset(client, tenant)
    assert await outbox_count(pool, tenant) == 1
    resp = await client.delete(f"/v1/assets/{asset['id']}", headers=tenant.auth())
    assert resp.status == 200
    assert await outbox_count(pool, tenant) == 2
    resp = await client.delete(f"/v1/assets/{asset['id']}", headers=tenant.auth())
    assert resp.status == 404
    assert await outbox_count(pool, tenant) == 2


async def test_request_id_is_returned_and_a_sane_one_kept(client: TestClient, tenant: Tenant) -> None:
    resp = await client.post(
        "/v1/assets", json={"name": "x"}, headers={**tenant.auth(), "X-Request-ID": "my-req.1"}
    )
    assert resp.status == 201
    assert resp.headers["X-Request-ID"] == "my-req.1"
    resp = await client.get(
        "/v1/assets/nope", headers={**tenant.auth(), "X-Request-ID": "bad id with spaces"}
    )
    body = await problem(resp, 404, "NOT_FOUND")
    assert resp.headers["X-Request-ID"] != "bad id with spaces"
    assert body["request_id"] == resp.headers["X-Request-ID"]


async def test_kind_filter_follows_a_change_of_the_types_kind(client: TestClient, tenant: Tenant) -> None:
    cat = await catalog(client, tenant, "physical")
    asset = await new_asset(client, tenant, asset_type_id=cat["type"]["id"])
    assert (await listing(client, tenant, "?kind=physical"))["meta"]["total"] == 1
    resp = await client.patch(
        f"/v1/asset-types/{cat['type']['id']}", json={"kind": "logical"}, headers=tenant.auth()
    )
    assert resp.status == 200, await resp.text()
    physical = await listing(client, tenant, "?kind=physical")
    assert physical["data"] == []
    assert physical["meta"]["total"] == 0
    logical = await listing(client, tenant, "?kind=logical")
    assert [a["id"] for a in logical["data"]] == [asset["id"]]
    assert logical["meta"]["total"] == 1
    assert logical["data"][0]["asset_kind"] == "logical"


async def test_a_body_just_under_the_limit_is_accepted(client: TestClient, tenant: Tenant) -> None:
    fields = {f"k{i}": "v" * 4000 for i in range(200)}  # about 800 KB
    raw = json.dumps({"name": "big but fine", "custom_fields": fields}).encode()
    assert len(raw) < 1024 * 1024
    resp = await client.post(
        "/v1/assets", data=io.BytesIO(raw), headers={**tenant.auth(), "Content-Type": "application/json"}
    )
    assert resp.status == 201, (await resp.text())[:500]
    asset = (await resp.json())["data"]
    assert asset["custom_fields"] == fields


async def test_create_with_explicit_nulls_for_optional_fields(client: TestClient, tenant: Tenant) -> None:
    optional = (
        "asset_type_id model_id manufacturer model serial_number purchase_date purchase_price "
        "warranty_until assigned_to notes warranty_start_date support_start_date support_end_date "
        "end_of_life_date service_start_date depreciation_schedule estimated_salvage_value"
    ).split()
    asset = await new_asset(client, tenant, **dict.fromkeys(optional))
    for name in optional:
        assert asset[name] is None, name
    assert asset["status"] == "in_stock"
    assert asset["custom_fields"] == {}
    created_at = instant(asset["created_at"])
    assert created_at.tzinfo is not None
    assert instant(asset["updated_at"]) >= created_at
