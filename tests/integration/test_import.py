"""POST /v1/assets/import as a newcomer meets it: a spreadsheet's CSV (or NDJSON) of an existing
inventory, every row checked first, all written or none, each asset with its own event."""

import json
import uuid
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from shared.asset_v1 import DERIVED_FIELDS
from tests.conftest import Tenant, TenantFactory

CSV = "text/csv"


async def _import(
    client: TestClient, tenant: Tenant, body: str | bytes, content_type: str = CSV, **query: str
) -> tuple[int, dict[str, Any]]:
    response = await client.post(
        "/v1/assets/import",
        data=body.encode() if isinstance(body, str) else body,
        params=query,
        headers={
            **tenant.auth(),
            "Content-Type": content_type,
            "X-Request-ID": f"import-{uuid.uuid4().hex[:8]}",
        },
    )
    answer: dict[str, Any] = await response.json()
    return response.status, answer


async def _assets(client: TestClient, tenant: Tenant) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    page = 1
    while True:
        response = await client.get(
            "/v1/assets", params={"limit": "100", "page": str(page)}, headers=tenant.auth()
        )
        body = await response.json()
        found += [
            {k: v for k, v in a.items() if k not in DERIVED_FIELDS} for a in body["data"]
        ]  # the worker's
        if page >= body["meta"]["total_pages"]:
            return sorted(found, key=lambda a: a["asset_tag"])
        page += 1


async def _events(pool: asyncpg.Pool, tenant: Tenant) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT body FROM outbox WHERE org_id = $1 ORDER BY seq", tenant.org_id)
    return [json.loads(row["body"]) for row in rows]


async def _made(client: TestClient, tenant: Tenant, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=tenant.auth())
    assert response.status == 201, await response.text()
    made: dict[str, Any] = (await response.json())["data"]
    return made


async def _catalog(client: TestClient, tenant: Tenant) -> dict[str, dict[str, Any]]:
    vendor = await _made(client, tenant, "/v1/vendors", {"name": "Dell Direct"})
    return {
        "type": await _made(
            client, tenant, "/v1/asset-types", {"name": "Laptop", "code": "LAP", "kind": "physical"}
        ),
        "vendor": vendor,
        "person": await _made(client, tenant, "/v1/users", {"name": "Ada", "email": "ada@example.com"}),
        "company": await _made(client, tenant, "/v1/companies", {"name": "Acme Labs"}),
        "unit": await _made(client, tenant, "/v1/business-units", {"name": "Research"}),
        "contract": await _made(
            client,
            tenant,
            "/v1/contracts",
            {"number": "C-2024-7", "start_date": "2024-01-01", "vendor_id": vendor["id"]},
        ),
        "manufacturer": (manufacturer := await _made(client, tenant, "/v1/manufacturers", {"name": "Dell"})),
        "model": await _made(
            client, tenant, "/v1/models", {"name": "Latitude 7440", "manufacturer_id": manufacturer["id"]}
        ),
        "form": await _made(
            client,
            tenant,
            "/v1/custom-forms",
            {"name": "Laptops", "fields": [{"name": "ram_gb", "type": "integer"}]},
        ),
    }


async def test_a_csv_with_every_reference_style_imports_every_row(
    client: TestClient, tenant: Tenant, pool: asyncpg.Pool
) -> None:
    c = await _catalog(client, tenant)
    header = (
        "name,asset_tag,status,asset_type,model_id,catalog_model_name,catalog_manufacturer_name,serial_number,"
        "purchase_date,purchase_price,assigned_to,assigned_to_email,company,contract,business_unit,"
        "custom_form,custom_fields,warranty_provider,support_provider_id,notes"
    )
    rows = [
        # by the keys people know
        "Ada laptop,LEG-001,in_use,LAP,,Latitude 7440,Dell,SN-1,2024-03-01,1299.99,,ada@example.com,"
        'Acme Labs,C-2024-7,Research,Laptops,"{""ram_gb"": 16}",Dell Direct,'
        f'{c["vendor"]["id"]},"two\nlines"',
        # by ids, and a type by its name; no tag: one is made
        f"Spare,,in_stock,laptop,{c['model']['id']},,,SN-2,,,{c['person']['id']},,{c['company']['number']},,,,,,,",
        # the fewest cells
        "Bare,,,,,,,,,,,,,,,,,,,",
    ]
    status, answer = await _import(client, tenant, "\n".join([header, *rows]) + "\n")
    assert status == 200, answer
    assert answer["data"] == {
        "rows": 3,
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "skipped": 0,
        "dry_run": False,
        "errors": [],
        "error_count": 0,
    }
    assets = {a["name"]: a for a in await _assets(client, tenant)}
    ada = assets["Ada laptop"]
    assert ada["asset_tag"] == "LEG-001"  # kept as it is
    assert ada["asset_type_id"] == c["type"]["id"]
    assert (ada["model_id"], ada["manufacturer"], ada["model"]) == (c["model"]["id"], "Dell", "Latitude 7440")
    assert ada["assigned_to"] == c["person"]["id"]
    assert ada["company_id"] == c["company"]["id"]
    assert ada["contract_id"] == c["contract"]["id"]
    assert ada["business_unit_id"] == c["unit"]["id"]
    assert ada["custom_form_id"] == c["form"]["id"]
    assert ada["custom_fields"] == {"ram_gb": 16}
    assert (ada["warranty_provider_id"], ada["support_provider_id"]) == (c["vendor"]["id"], c["vendor"]["id"])
    assert (ada["purchase_price"], ada["purchase_date"], ada["notes"]) == (
        1299.99,
        "2024-03-01",
        "two\nlines",
    )
    spare = assets["Spare"]
    assert spare["asset_tag"] and spare["asset_tag"] != "LEG-001"
    assert (spare["asset_type_id"], spare["model_id"], spare["assigned_to"]) == (
        c["type"]["id"],
        c["model"]["id"],
        c["person"]["id"],
    )
    assert spare["company_id"] == c["company"]["id"]
    assert assets["Bare"]["status"] == "in_stock"
    created = [
        e
        for e in await _events(pool, tenant)
        if e["type"] == "asset.created" and e["subject"] in {a["id"] for a in assets.values()}
    ]
    assert len(created) == 3
    assert len({e["data"]["request_id"] for e in created}) == 1  # one request id for the import


async def test_semicolons_a_bom_and_crlf_are_read(client: TestClient, tenant: Tenant) -> None:
    body = '\ufeffname;purchase_price;notes\r\nOne;10.50;"a; b"\r\nTwo;;\r\n'
    status, answer = await _import(client, tenant, body.encode("utf-8"))
    assert status == 200, answer
    assets = {a["name"]: a for a in await _assets(client, tenant)}
    assert (assets["One"]["purchase_price"], assets["One"]["notes"]) == (10.5, "a; b")
    assert assets["Two"]["purchase_price"] is None


async def test_ndjson_rows_are_v1_create_bodies(client: TestClient, tenant: Tenant) -> None:
    lines = [{"name": "First", "purchase_price": 12.34, "custom_fields": {"a": [1, 2]}}, {"name": "Second"}]
    body = "\n".join(json.dumps(line) for line in lines) + "\n"
    status, answer = await _import(client, tenant, body, "application/x-ndjson")
    assert status == 200, answer
    assert answer["data"]["created"] == 2
    assets = {a["name"]: a for a in await _assets(client, tenant)}
    assert assets["First"]["custom_fields"] == {"a": [1, 2]}


async def test_one_bad_row_among_thousands_writes_nothing_and_is_named(
    client: TestClient, tenant: Tenant, pool: asyncpg.Pool
) -> None:
    rows = [f"Laptop {n},SN-{n},100.00" for n in range(3000)]
    rows[1234] = "Broken,SN-X,12.345"  # three decimals: row 1236 of the sheet (the header is row 1)
    rows[2999] = ",SN-Y,1.00"  # no name
    status, answer = await _import(client, tenant, "name,serial_number,purchase_price\n" + "\n".join(rows))
    assert status == 422, answer
    assert answer["code"] == "IMPORT_REJECTED"
    assert answer["rows"] == 3000 and answer["error_count"] == 2
    assert [(e["row"], e["field"]) for e in answer["errors"]] == [(1236, "purchase_price"), (3001, "name")]
    assert await _assets(client, tenant) == []
    assert await _events(pool, tenant) == []


async def test_a_dry_run_checks_everything_and_writes_nothing(
    client: TestClient, tenant: Tenant, pool: asyncpg.Pool
) -> None:
    status, answer = await _import(client, tenant, "name\nA\nB\n", dry_run="true")
    assert status == 200, answer
    assert (answer["data"]["created"], answer["data"]["dry_run"]) == (2, True)
    status, answer = await _import(client, tenant, "name,asset_type\nA\nB,nope\n", dry_run="true")
    assert status == 422
    assert answer["errors"] == [
        {
            "row": 3,
            "field": "asset_type_id",
            "message": "no asset type with id or name 'nope' in this organisation",
        }
    ]
    assert await _assets(client, tenant) == []
    assert await _events(pool, tenant) == []


async def test_a_schedule_past_the_calendar_is_named_by_the_dry_run_too(
    client: TestClient, tenant: Tenant, pool: asyncpg.Pool
) -> None:
    sheet = (
        "name,purchase_price,depreciation_schedule,service_start_date\n"
        "Fine,100,10_year_10_percent,2024-01-01\n"
        "Too late,100,10_year_10_percent,9995-06-01\n"
    )
    for dry_run in ("true", "false"):
        status, answer = await _import(client, tenant, sheet, dry_run=dry_run)
        assert status == 422, answer
        [error] = answer["errors"]
        assert (error["row"], error["field"]) == (3, "service_start_date")
        assert "9999-12-31" in error["message"]
    assert await pool.fetchval("SELECT count(*) FROM assets WHERE org_id = $1", tenant.org_id) == 0


async def test_on_conflict_error_skip_and_update_by_tag(
    client: TestClient, tenant: Tenant, pool: asyncpg.Pool
) -> None:
    status, _ = await _import(client, tenant, "asset_tag,name,notes\nT-1,One,first\nT-2,Two,first\n")
    assert status == 200
    before = await _assets(client, tenant)
    again = "asset_tag,name,notes\nT-1,One,first\nT-2,Two,second\nT-3,Three,new\n"

    status, answer = await _import(client, tenant, again)
    assert status == 422
    assert [(e["row"], e["field"]) for e in answer["errors"]] == [(2, "asset_tag"), (3, "asset_tag")]

    events = len(await _events(pool, tenant))
    status, answer = await _import(client, tenant, again, on_conflict="skip")
    assert status == 200, answer
    assert (answer["data"]["created"], answer["data"]["skipped"]) == (1, 2)
    assert len(await _events(pool, tenant)) == events + 1

    status, answer = await _import(client, tenant, again.replace("new", "newer"), on_conflict="update")
    assert status == 200, answer
    counts = {k: answer["data"][k] for k in ("created", "updated", "unchanged", "skipped")}
    assert counts == {"created": 0, "updated": 2, "unchanged": 1, "skipped": 0}
    after = {a["asset_tag"]: a for a in await _assets(client, tenant)}
    assert (after["T-1"]["notes"], after["T-2"]["notes"], after["T-3"]["notes"]) == (
        "first",
        "second",
        "newer",
    )
    assert after["T-1"]["updated_at"] == before[0]["updated_at"]  # unchanged: no new version, no event
    updated = [e for e in await _events(pool, tenant) if e["type"] == "asset.updated"]
    assert sorted(e["data"]["asset"]["asset_tag"] for e in updated) == ["T-2", "T-3"]
    assert set(updated[0]["data"]["changes"]) == {"notes"}


async def test_match_by_serial_number(client: TestClient, tenant: Tenant) -> None:
    await _import(client, tenant, "name,serial_number\nOne,SN-1\n")
    status, answer = await _import(
        client,
        tenant,
        "name,serial_number,notes\nOne,SN-1,found\nTwo,SN-2,\n",
        on_conflict="update",
        match="serial_number",
    )
    assert status == 200, answer
    assert (answer["data"]["created"], answer["data"]["updated"]) == (1, 1)
    assert {a["serial_number"]: a["notes"] for a in await _assets(client, tenant)} == {
        "SN-1": "found",
        "SN-2": None,
    }
    status, answer = await _import(
        client, tenant, "name,serial_number\nA,SN-9\nB,SN-9\n", match="serial_number"
    )
    assert status == 422
    assert answer["errors"][0]["row"] == 3 and "also in row 2" in answer["errors"][0]["message"]


async def test_bad_files_are_4xx_naming_the_problem(client: TestClient, tenant: Tenant) -> None:
    status, answer = await _import(client, tenant, "name,colour\nA,red\n")
    assert status == 400 and "'colour' (column 2)" in answer["detail"]
    status, answer = await _import(client, tenant, b"name\n\xff\xfe\n")
    assert status == 400 and "UTF-8" in answer["detail"]
    status, answer = await _import(client, tenant, "")
    assert status == 400 and "empty" in answer["detail"]
    status, answer = await _import(client, tenant, "name\nA\n", "application/json")
    assert status == 415
    status, answer = await _import(client, tenant, "name\nA\n", on_conflict="merge")
    assert status == 400 and answer["errors"][0]["field"] == "on_conflict"
    status, answer = await _import(
        client, tenant, '{"name": "A"}\n[1]\n{"colour": 1}\n', "application/x-ndjson"
    )
    assert status == 422
    assert [(e["row"], e["field"]) for e in answer["errors"]] == [(2, "row"), (3, "colour")]


async def test_a_file_over_max_import_bytes_is_413(make_tenant: TenantFactory, settings: Any) -> None:
    from aiohttp.test_utils import TestServer

    from services.api.app import create_app
    from shared.settings import Settings

    tenant = await make_tenant()
    small = Settings(**{**settings.model_dump(), "max_import_bytes": 2048})
    async with TestClient(TestServer(create_app(small))) as client:
        status, answer = await _import(client, tenant, "name\n" + "A\n" * 2000)
        assert status == 413 and "MAX_IMPORT_BYTES" in answer["detail"]
        assert await _assets(client, tenant) == []


async def test_other_organisations_objects_are_not_found(
    client: TestClient, make_tenant: TenantFactory
) -> None:
    tenant, neighbour = await make_tenant(), await make_tenant()
    theirs = await _made(client, neighbour, "/v1/vendors", {"name": "Their vendor"})
    status, answer = await _import(
        client, tenant, f"name,warranty_provider,support_provider_id\nA,Their vendor,\nB,,{theirs['id']}\n"
    )
    assert status == 422
    assert [(e["row"], e["field"]) for e in answer["errors"]] == [
        (2, "warranty_provider_id"),
        (3, "support_provider_id"),
    ]


async def test_import_needs_the_write_scope(client: TestClient, tenant: Tenant) -> None:
    response = await client.post(
        "/v1/assets/import",
        data=b"name\nA\n",
        headers={**tenant.auth(tenant.read_token), "Content-Type": CSV},
    )
    assert response.status == 403


async def test_an_export_imported_back_changes_nothing_and_makes_no_event(
    client: TestClient, tenant: Tenant, pool: asyncpg.Pool
) -> None:
    c = await _catalog(client, tenant)
    for n in range(3):
        await _made(
            client,
            tenant,
            "/v1/assets",
            {
                "name": f"Round trip {n}",
                "asset_type_id": c["type"]["id"],
                "model_id": c["model"]["id"],
                "assigned_to": c["person"]["id"],
                "company_id": c["company"]["id"],
                "contract_id": c["contract"]["id"],
                "custom_form_id": c["form"]["id"],
                "custom_fields": {"ram_gb": 8 + n},
                "purchase_price": "999.90",
                "purchase_date": "2024-02-29",
                "notes": 'quotes " and, commas\nand lines',
                "warranty_provider_id": c["vendor"]["id"],
            },
        )
    await _made(client, tenant, "/v1/assets", {"name": "Plain"})
    before = await _assets(client, tenant)
    events = len(await _events(pool, tenant))
    for kind, content_type in (("csv", CSV), ("ndjson", "application/x-ndjson")):
        exported = await client.get("/v1/assets/export", params={"format": kind}, headers=tenant.auth())
        assert exported.status == 200, await exported.text()
        status, answer = await _import(
            client, tenant, await exported.read(), content_type, on_conflict="update"
        )
        assert status == 200, answer
        assert (answer["data"]["rows"], answer["data"]["unchanged"], answer["data"]["updated"]) == (4, 4, 0)
    assert await _assets(client, tenant) == before
    assert len(await _events(pool, tenant)) == events
