"""GET /v1/assets/export over HTTP: the column contract with its human keys, CSV and NDJSON, the
list's filters, tenancy, the file name, one snapshot while writes go on, a client that goes away
or a database that fails mid-stream, the errors, and the OpenAPI document."""

import csv
import datetime as dt
import io
import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from shared.asset_columns import COLUMNS, HUMAN_KEYS, READ_ONLY_COLUMNS, ExportedAsset
from shared.domain.queries import AssetFilter
from shared.jsonio import dumps
from shared.services import export as export_service
from shared.services import organisations
from shared.services.unit_of_work import unit_of_work
from tests.conftest import Tenant, TenantFactory, poll, served_openapi

PATH = "/v1/assets/export"
# Written by the worker, which may run beside these tests: they change without a write.
DERIVED = frozenset({"warranty_status", "support_status", "book_value"})
KEY_COLUMNS = frozenset(key.column for key in HUMAN_KEYS)
# Enough rows (about 3.5 kB each, 28 MB in all) that an export outruns every buffer between the
# server and a client that stops reading: the server is still reading from its cursor when the
# test acts. Few rows, and big: the asset count trigger makes each insert of one batch slower.
SEEDED = 8_000
# How the export's statement shows in pg_stat_activity (shared/repositories/export.py).
EXPORT_MARKER = "/* asset export */"


# ---------------------------------------------------------------- helpers


async def created(client: TestClient, tenant: Tenant, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post(path, json=body, headers=tenant.auth())
    assert resp.status == 201, await resp.text()
    data: dict[str, Any] = (await resp.json())["data"]
    return data


def _unique(stem: str) -> str:
    return f"{stem} {uuid.uuid4().hex[:8]}"


async def catalog(client: TestClient, tenant: Tenant) -> dict[str, dict[str, Any]]:
    """One object of every kind an asset refers to, made through the API."""
    code = f"T{uuid.uuid4().hex[:6].upper()}"
    kind = await created(
        client, tenant, "/v1/asset-types", {"name": f"Laptop {code}", "code": code, "kind": "physical"}
    )
    maker = await created(client, tenant, "/v1/manufacturers", {"name": _unique("Dell")})
    model = await created(
        client,
        tenant,
        "/v1/models",
        {"manufacturer_id": maker["id"], "name": _unique("XPS"), "asset_type_id": kind["id"]},
    )
    email = f"ada-{uuid.uuid4().hex[:6]}@example.com"
    return {
        "type": kind,
        "maker": maker,
        "model": model,
        "user": await created(client, tenant, "/v1/users", {"name": "Ada Lovelace", "email": email}),
        "company": await created(client, tenant, "/v1/companies", {"name": _unique("Acme, Europe")}),
        "warranty": await created(client, tenant, "/v1/vendors", {"name": _unique("Dell Care")}),
        "support": await created(client, tenant, "/v1/vendors", {"name": _unique('Help "Desk"')}),
        "supplier": await created(client, tenant, "/v1/vendors", {"name": _unique("CDW")}),
        "contract": await created(client, tenant, "/v1/contracts", {"number": _unique("C-2024")}),
        "unit": await created(client, tenant, "/v1/business-units", {"name": _unique("Finance")}),
        "form": await created(
            client,
            tenant,
            "/v1/custom-forms",
            {"name": _unique("Laptop form"), "fields": [{"name": "ram_gb", "type": "integer"}]},
        ),
    }


def full_body(cat: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """An asset with every v1 field that can be written, and text that CSV must quote."""
    return {
        "name": "Laptop, 15\" \u2014 Ada's",
        "status": "in_use",
        "asset_type_id": cat["type"]["id"],
        "model_id": cat["model"]["id"],
        "serial_number": _unique("SN"),
        "purchase_date": "2024-01-10",
        "purchase_price": "1299.5",
        "warranty_until": "2027-01-10",
        "assigned_to": cat["user"]["id"],
        "notes": 'two\nlines, and a "quote"',
        "custom_fields": {"ram_gb": 32},
        "warranty_start_date": "2024-01-10",
        "support_start_date": "2024-02-01",
        "support_end_date": "2027-02-01",
        "end_of_life_date": "2030-12-31",
        "service_start_date": "2024-01-15",
        "depreciation_schedule": "3_year_33_percent",
        "estimated_salvage_value": 100,
        "company_id": cat["company"]["id"],
        "contract_id": cat["contract"]["id"],
        "business_unit_id": cat["unit"]["id"],
        "custom_form_id": cat["form"]["id"],
        "address": "1 Main Street",
        "city": "Lyon",
        "country": "FR",
        "region": "Rhône",
        "location_description": "Desk 4",
        "warranty_type": "oem",
        "warranty_provider_id": cat["warranty"]["id"],
        "warranty_contact_phone": "+33 1 23 45 67 89",
        "warranty_contact_email": "care@example.com",
        "warranty_notes": "next business day",
        "support_type": "third_party",
        "support_provider_id": cat["support"]["id"],
        "attached_supplier_id": cat["supplier"]["id"],
        "support_contact_phone": "+33 9 87 65 43 21",
        "support_contact_email": "help@example.com",
        "support_notes": "24/7",
        "end_of_support_date": "2029-12-31",
        "financial_notes": "capex",
    }


def expected_keys(cat: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {
        "asset_type": cat["type"]["code"],
        "company": cat["company"]["name"],
        "contract": cat["contract"]["number"],
        "business_unit": cat["unit"]["name"],
        "custom_form": cat["form"]["name"],
        "assigned_to_email": cat["user"]["email"],
        "warranty_provider": cat["warranty"]["name"],
        "support_provider": cat["support"]["name"],
        "attached_supplier": cat["supplier"]["name"],
    }


async def v1_asset(client: TestClient, tenant: Tenant, asset_id: str) -> dict[str, Any]:
    """The asset as GET shows it, amounts as exact decimals."""
    resp = await client.get(f"/v1/assets/{asset_id}", headers=tenant.auth())
    assert resp.status == 200, await resp.text()
    data: dict[str, Any] = json.loads(await resp.text(), parse_float=Decimal)["data"]
    return data


async def export(
    client: TestClient, tenant: Tenant, query: str = "", token: str | None = None
) -> ClientResponse:
    return await client.get(f"{PATH}{query}", headers=tenant.auth(token))


async def csv_rows(client: TestClient, tenant: Tenant, query: str = "") -> list[dict[str, str]]:
    """The rows of a CSV export, after checking its header is the column contract."""
    resp = await export(client, tenant, query)
    assert resp.status == 200, await resp.text()
    reader = csv.reader(io.StringIO((await resp.read()).decode("utf-8"), newline=""))
    header = next(reader)
    assert tuple(header) == COLUMNS
    return [dict(zip(header, row, strict=True)) for row in reader]


async def ndjson_rows(client: TestClient, tenant: Tenant, query: str = "") -> list[dict[str, Any]]:
    sep = "&" if query else "?"
    resp = await export(client, tenant, f"{query}{sep}format=ndjson")
    assert resp.status == 200, await resp.text()
    text = (await resp.read()).decode("utf-8")
    assert text == "" or text.endswith("\n")
    return [json.loads(line, parse_float=Decimal) for line in text.splitlines()]


def cell(value: Any) -> str:
    """What the CSV export must write for a value of the v1 JSON body."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


async def problem(resp: ClientResponse, status: int, code: str) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/problem+json"
    body: dict[str, Any] = await resp.json(content_type=None)
    assert (body["status"], body["code"]) == (status, code)
    return body


def at_fault(body: dict[str, Any]) -> set[str]:
    return {e["field"] for e in body.get("errors", [])}


async def seed(pool: asyncpg.Pool, tenant: Tenant, count: int) -> None:
    """`count` assets straight into the table, a millisecond apart, older than anything else."""
    await pool.execute(
        """INSERT INTO assets (id, org_id, asset_tag, name, notes, created_at, updated_at)
           SELECT gen_random_uuid(), $1, 'SEED-' || g, 'seeded ' || g, repeat('n', 3000),
                  now() - interval '1 hour' + g * interval '1 millisecond',
                  now() - interval '1 hour' + g * interval '1 millisecond'
           FROM generate_series(1, $2) g""",
        tenant.org_id,
        count,
    )


async def export_sessions(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    """The server's sessions that are running an export or hold one open."""
    rows: list[asyncpg.Record] = await pool.fetch(
        """SELECT pid, state FROM pg_stat_activity
           WHERE datname = current_database() AND pid <> pg_backend_pid()
             AND state IN ('active', 'idle in transaction') AND query LIKE '%' || $1 || '%'""",
        EXPORT_MARKER,
    )
    return rows


@pytest.fixture(scope="module")
async def seeded(pool: asyncpg.Pool) -> AsyncIterator[Tenant]:
    """An organisation of SEEDED assets, shared by the tests that only stream it."""
    name = f"org-{uuid.uuid4().hex[:12]}"
    org = await organisations.create_organisation(unit_of_work(pool), name, "BIG")
    _, token = await organisations.create_token(unit_of_work(pool), name, ["assets:read", "assets:write"])
    tenant = Tenant(name, org.id, token, token, token)
    await seed(pool, tenant, SEEDED)
    yield tenant


# ---------------------------------------------------------------- the file


async def test_csv_is_the_column_contract_with_every_field_and_the_human_keys(
    client: TestClient, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant("EXPCSV")
    cat = await catalog(client, tenant)
    full = await created(client, tenant, "/v1/assets", full_body(cat))
    bare = await created(client, tenant, "/v1/assets", {"name": "Bare"})

    resp = await export(client, tenant)
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert resp.headers["Content-Disposition"] == f'attachment; filename="assets-EXPCSV-{today}.csv"'
    assert resp.headers["X-Request-ID"]
    rows = await csv_rows(client, tenant)
    assert [r["id"] for r in rows] == [full["id"], bare["id"]]  # oldest first

    row = rows[0]
    assert {k: row[k] for k in KEY_COLUMNS} == expected_keys(cat)
    assert row["catalog_model_name"] == cat["model"]["name"]
    assert row["catalog_manufacturer_name"] == cat["maker"]["name"]
    assert row["name"] == "Laptop, 15\" \u2014 Ada's" and row["notes"] == 'two\nlines, and a "quote"'
    assert (row["purchase_price"], row["estimated_salvage_value"]) == ("1299.50", "100.00")
    assert row["purchase_date"] == "2024-01-10"
    assert row["custom_fields"] == '{"ram_gb":32}'
    assert row["created_at"].endswith("Z")
    # Every other column is the v1 field as text, the same value GET shows.
    shown = await v1_asset(client, tenant, full["id"])
    for name, value in shown.items():
        if name not in DERIVED:
            assert row[name] == cell(value), name

    empty = rows[1]
    assert empty["company"] and empty["company_id"]  # every asset has a company
    for name in (
        "asset_type_id",
        "asset_type",
        "contract",
        "assigned_to",
        "assigned_to_email",
        "purchase_price",
    ):
        assert empty[name] == "", name
    assert empty["custom_fields"] == "{}"


async def test_ndjson_lines_have_the_same_keys_and_the_v1_values(
    client: TestClient, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant("EXPND")
    cat = await catalog(client, tenant)
    full = await created(client, tenant, "/v1/assets", full_body(cat))
    await created(client, tenant, "/v1/assets", {"name": "Bare"})

    resp = await export(client, tenant, "?format=ndjson")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "application/x-ndjson"
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert resp.headers["Content-Disposition"] == f'attachment; filename="assets-EXPND-{today}.ndjson"'
    lines = await ndjson_rows(client, tenant)
    assert len(lines) == 2
    assert all(tuple(line) == COLUMNS for line in lines)
    line = lines[0]
    shown = await v1_asset(client, tenant, full["id"])
    assert {k: v for k, v in line.items() if k not in KEY_COLUMNS | DERIVED} == {
        k: v for k, v in shown.items() if k not in DERIVED
    }
    assert {k: line[k] for k in KEY_COLUMNS} == expected_keys(cat)
    assert line["purchase_price"] == Decimal("1299.50") and line["custom_fields"] == {"ram_gb": 32}
    assert lines[1]["contract"] is None and lines[1]["purchase_price"] is None


async def test_an_export_written_back_changes_nothing_and_makes_no_event(
    client: TestClient, make_tenant: TenantFactory, pool: asyncpg.Pool
) -> None:
    """What the importer will do with on_conflict=update, done through PATCH: every column but the
    read-only ones and the human keys, as the file has it (CSV cells read as text, an empty cell
    as null), is the asset as it is."""
    tenant = await make_tenant()
    cat = await catalog(client, tenant)
    full = await created(client, tenant, "/v1/assets", full_body(cat))
    await created(client, tenant, "/v1/assets", {"name": "Bare"})
    events = await pool.fetchval("SELECT count(*) FROM outbox WHERE org_id = $1", tenant.org_id)
    before = await v1_asset(client, tenant, full["id"])

    writable = [c for c in COLUMNS if c not in READ_ONLY_COLUMNS | KEY_COLUMNS]
    for row in await csv_rows(client, tenant):
        body: dict[str, Any] = {c: row[c] or None for c in writable}
        body["custom_fields"] = json.loads(row["custom_fields"])
        resp = await client.patch(f"/v1/assets/{row['id']}", json=body, headers=tenant.auth())
        assert resp.status == 200, await resp.text()
    for line in await ndjson_rows(client, tenant):
        text = dumps({c: line[c] for c in writable})  # amounts as the exact JSON numbers they were
        resp = await client.patch(
            f"/v1/assets/{line['id']}",
            data=text,
            headers={**tenant.auth(), "Content-Type": "application/json"},
        )
        assert resp.status == 200, await resp.text()

    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE org_id = $1", tenant.org_id) == events
    after = await v1_asset(client, tenant, full["id"])
    assert (after["updated_at"], after["name"]) == (before["updated_at"], before["name"])


# ---------------------------------------------------------------- what is in it


async def test_the_filters_are_the_lists(client: TestClient, make_tenant: TenantFactory) -> None:
    tenant = await make_tenant()
    laptop = await created(
        client, tenant, "/v1/asset-types", {"name": "Laptop", "code": "LAP", "kind": "physical"}
    )
    licence = await created(
        client, tenant, "/v1/asset-types", {"name": "Licence", "code": "LIC", "kind": "logical"}
    )
    for name, status, kind in [
        ("Blue laptop", "in_use", laptop),
        ("Red laptop", "in_stock", laptop),
        ("Office 365", "in_use", licence),
        ("Blue licence", "in_stock", licence),
        ("Untyped blue", "in_use", None),
    ]:
        body = {"name": name, "status": status, **({"asset_type_id": kind["id"]} if kind else {})}
        await created(client, tenant, "/v1/assets", body)

    async def listed(query: str) -> list[str]:
        resp = await client.get(f"/v1/assets?limit=100&{query}", headers=tenant.auth())
        assert resp.status == 200, await resp.text()
        return [a["id"] for a in reversed((await resp.json())["data"])]  # the list is newest first

    for query in [
        "",
        "q=BLUE",
        "status=in_use",
        f"asset_type_id={laptop['id']}",
        "kind=logical",
        "kind=physical&status=in_stock&q=laptop",
        f"asset_type_id={licence['id']}&kind=physical",
        f"asset_type_id={uuid.uuid4()}",
        "q=nothing-matches",
    ]:
        expected = await listed(query)
        assert [r["id"] for r in await csv_rows(client, tenant, f"?{query}")] == expected, query
        assert [r["id"] for r in await ndjson_rows(client, tenant, f"?{query}" if query else "")] == expected


async def test_nothing_to_export_is_the_header_alone(client: TestClient, tenant: Tenant) -> None:
    resp = await export(client, tenant)
    assert resp.status == 200
    assert await resp.read() == (",".join(COLUMNS) + "\r\n").encode()
    resp = await export(client, tenant, "?format=ndjson")
    assert resp.status == 200
    assert await resp.read() == b""


async def test_other_organisations_assets_never_appear(
    client: TestClient, make_tenant: TenantFactory
) -> None:
    ours, theirs = await make_tenant(), await make_tenant()
    mine = await created(client, ours, "/v1/assets", {"name": "Ours"})
    foreign_type = await created(
        client, theirs, "/v1/asset-types", {"name": "T", "code": "THEIRS", "kind": "physical"}
    )
    await created(client, theirs, "/v1/assets", {"name": "Theirs", "asset_type_id": foreign_type["id"]})

    assert [r["id"] for r in await csv_rows(client, ours)] == [mine["id"]]
    assert [r["id"] for r in await ndjson_rows(client, ours)] == [mine["id"]]
    # Another organisation's type is a filter that matches nothing, as in the list.
    assert await csv_rows(client, ours, f"?asset_type_id={foreign_type['id']}") == []


# ---------------------------------------------------------------- one snapshot, streamed


async def test_an_export_is_one_snapshot_while_writes_go_on(
    client: TestClient, seeded: Tenant, pool: asyncpg.Pool
) -> None:
    total = await pool.fetchval("SELECT count(*) FROM assets WHERE org_id = $1", seeded.org_id)
    newest = await pool.fetch(
        "SELECT id FROM assets WHERE org_id = $1 ORDER BY created_at DESC, id DESC LIMIT 3", seeded.org_id
    )
    resp = await export(client, seeded, "?format=ndjson")
    assert resp.status == 200
    start = await resp.content.readexactly(64 * 1024)
    assert await export_sessions(pool), "the export should still be reading from its cursor"

    # Meanwhile: new assets, and the last assets of the file deleted or changed before it gets there.
    made = [await created(client, seeded, "/v1/assets", {"name": f"made meanwhile {i}"}) for i in range(3)]
    for row in newest[:2]:
        assert (await client.delete(f"/v1/assets/{row['id']}", headers=seeded.auth())).status == 200
    changed = await client.patch(
        f"/v1/assets/{newest[2]['id']}", json={"name": "renamed"}, headers=seeded.auth()
    )
    assert changed.status == 200

    lines = [json.loads(line) for line in (start + await resp.read()).decode().splitlines()]
    assert len(lines) == total
    assert [line["id"] for line in lines[-3:]] == [str(row["id"]) for row in reversed(newest)]
    assert lines[-3]["name"] != "renamed"
    assert not {a["id"] for a in made} & {line["id"] for line in lines}
    await poll(lambda: _no_export_sessions(pool), timeout=10)


async def _no_export_sessions(pool: asyncpg.Pool) -> bool:
    return not await export_sessions(pool)


async def test_a_client_that_goes_away_gives_the_connection_back(
    client: TestClient, seeded: Tenant, pool: asyncpg.Pool
) -> None:
    resp = await export(client, seeded)
    assert resp.status == 200
    await resp.content.readexactly(64 * 1024)
    assert await export_sessions(pool), "the export should still be reading from its cursor"
    resp.close()  # the connection goes, mid-file
    await poll(lambda: _no_export_sessions(pool), timeout=10)
    # The pool is whole: an export and a list still work.
    again = await export(client, seeded, "?q=seeded%201999")
    assert again.status == 200
    assert b"SEED-1999" in await again.read()


async def test_a_database_failure_mid_stream_breaks_the_download(
    client: TestClient, seeded: Tenant, pool: asyncpg.Pool
) -> None:
    """Once the status line has gone out no error response can follow: the body is cut short, and
    the client sees a broken download rather than a file that merely looks complete."""
    resp = await export(client, seeded)
    assert resp.status == 200
    await resp.content.readexactly(64 * 1024)
    sessions = await export_sessions(pool)
    assert sessions, "the export should still be reading from its cursor"
    await pool.execute("SELECT pg_terminate_backend($1)", sessions[0]["pid"])
    with pytest.raises(aiohttp.ClientPayloadError):
        await resp.read()
    again = await export(client, seeded, "?format=ndjson&q=seeded%2077")
    assert again.status == 200
    matches = [g for g in range(1, SEEDED + 1) if str(g).startswith("77")]
    assert len((await again.read()).splitlines()) == len(matches)


# ---------------------------------------------------------------- errors and the document


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("?format=xml", "format"),
        ("?asset_type_id=not-a-uuid", "asset_type_id"),
        ("?asset_type_id=0b4b2c1e6b5f4f7e9d532a7c0c1d9e11", "asset_type_id"),
        ("?status=lost", "status"),
        ("?kind=virtual", "kind"),
        ("?q=", "q"),
        ("?page=2", "page"),
        ("?colour=red", "colour"),
        ("?format=csv&format=ndjson", "format"),
    ],
)
async def test_a_malformed_parameter_is_a_400_naming_it(
    client: TestClient, tenant: Tenant, query: str, parameter: str
) -> None:
    body = await problem(await export(client, tenant, query), 400, "VALIDATION_ERROR")
    assert at_fault(body) == {parameter}


async def test_only_a_token_with_assets_read_may_export(client: TestClient, tenant: Tenant) -> None:
    anonymous = await client.get(PATH)
    await problem(anonymous, 401, "UNAUTHORIZED")
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    unknown = await client.get(PATH, headers={"Authorization": "Bearer usl_live_nope"})
    await problem(unknown, 401, "UNAUTHORIZED")
    write_only = await export(client, tenant, token=tenant.write_token)
    await problem(write_only, 403, "FORBIDDEN")
    assert 'error="insufficient_scope"' in write_only.headers["WWW-Authenticate"]
    assert (await export(client, tenant, token=tenant.read_token)).status == 200


async def test_other_methods_are_405_not_an_asset_named_export(client: TestClient, tenant: Tenant) -> None:
    for method in ("POST", "PATCH", "DELETE", "PUT", "HEAD"):
        resp = await client.request(method, PATH, headers=tenant.auth())
        assert resp.status == 405, method
        assert resp.headers["Allow"] == "GET"


async def test_the_openapi_document_describes_the_export(client: TestClient) -> None:
    document = await served_openapi(client)
    assert set(document["paths"][PATH]) == {"get"}
    operation = document["paths"][PATH]["get"]
    assert "Required scope: `assets:read`" in operation["description"]
    assert operation["security"] == [{"bearer": []}]
    assert {p["name"] for p in operation["parameters"]} == {"format", "q", "status", "asset_type_id", "kind"}
    formats = next(p for p in operation["parameters"] if p["name"] == "format")
    assert formats["schema"]["enum"] == ["csv", "ndjson"]
    ok = operation["responses"]["200"]
    assert list(ok["content"]) == ["text/csv", "application/x-ndjson"]
    assert ok["headers"]["Content-Disposition"]["required"] is True
    assert "RateLimit" in ok["headers"]
    assert {"400", "401", "403", "429"} <= set(operation["responses"])
    for key in HUMAN_KEYS:
        assert f"`{key.column}`" in operation["description"]


# ---------------------------------------------------------------- rows read without the models


async def test_each_row_read_for_an_export_encodes_as_its_domain_asset(
    client: TestClient, make_tenant: TenantFactory, pool: asyncpg.Pool
) -> None:
    """The export reads its rows straight in the column contract's order, without a model per row:
    each encodes, in both formats and byte for byte, as the asset read through the asset
    repository and its v1 body does, book values and custom fields with decimals included."""
    tenant = await make_tenant()
    cat = await catalog(client, tenant)
    full = await created(client, tenant, "/v1/assets", full_body(cat))
    odd = await created(
        client,
        tenant,
        "/v1/assets",
        {
            "name": " spaces\r\nand a, comma ",
            "notes": "",
            "purchase_price": "0",
            "end_of_life_date": "9999-12-31",
            "custom_fields": {"price": 0.5, "tiny": 1e-7, "nested": {"a": [1, "é\u0001"]}},
        },
    )
    bare = await created(client, tenant, "/v1/assets", {"name": "Bare"})
    # What the worker writes (lifecycle and depreciation), at a version it never reaches, so that
    # a worker running beside the test cannot change it between the two reads.
    for asset_id, schedule, cost, salvage, start in [
        (full["id"], "3_year_33_percent", Decimal("1299.50"), Decimal("100"), dt.date(2024, 1, 31)),
        (odd["id"], "5_year_20_percent", Decimal("7.99"), None, dt.date(2016, 2, 29)),
        (bare["id"], "other", Decimal("10"), None, dt.date(2020, 1, 1)),
    ]:
        await pool.execute(
            """INSERT INTO asset_depreciation
                   (asset_id, org_id, version, schedule, original_cost, salvage_value, service_start_date)
               VALUES ($1, $2, 1000000, $3, $4, $5, $6)
               ON CONFLICT (asset_id) DO UPDATE SET version = 1000000, deleted = false,
                   schedule = $3, original_cost = $4, salvage_value = $5, service_start_date = $6""",
            uuid.UUID(asset_id),
            tenant.org_id,
            schedule,
            cost,
            salvage,
            start,
        )
        await pool.execute(
            """INSERT INTO asset_lifecycle (asset_id, org_id, version, asset_tag, name, warranty_status,
                   support_status, computed_on)
               VALUES ($1, $2, 1000000, '', '', 'none', 'none', current_date)
               ON CONFLICT (asset_id) DO UPDATE SET version = 1000000, deleted = false,
                   warranty_status = 'none', support_status = 'none'""",
            uuid.UUID(asset_id),
            tenant.org_id,
        )

    uow = unit_of_work(pool)
    read = [row async for chunk in uow.exports.chunks(tenant.org_id, AssetFilter(), 2) for row in chunk]
    today = dt.date.today()
    assert len(read) == 3
    for row in read:
        cells = row.cells(today)
        asset = await uow.assets.get(tenant.org_id, uuid.UUID(cells[COLUMNS.index("id")]))
        assert asset is not None
        domain = ExportedAsset(asset, {key.column: cells[COLUMNS.index(key.column)] for key in HUMAN_KEYS})
        for encode in (export_service._csv, export_service._ndjson):
            assert encode([row], today) == encode([domain], today)
    assert read[0].cells(today)[COLUMNS.index("book_value")] is not None
