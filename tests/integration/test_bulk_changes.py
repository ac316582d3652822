"""PATCH /v1/assets and DELETE /v1/assets as a client meets them: many assets changed or deleted
in one request, all or nothing, each with its own event, and every bad item named by its place."""

import asyncio
import json
import uuid
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from shared.asset_v1 import DERIVED_FIELDS
from tests.conftest import Tenant, TenantFactory


async def _created(client: TestClient, tenant: Tenant, count: int, **fields: Any) -> list[dict[str, Any]]:
    made = []
    for n in range(count):
        response = await client.post(
            "/v1/assets", json={"name": f"Laptop {n}", **fields}, headers=tenant.auth()
        )
        assert response.status == 201, await response.text()
        made.append(_stable((await response.json())["data"]))
    return made


async def _events(pool: asyncpg.Pool, tenant: Tenant, after_seq: int = 0) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT body FROM outbox WHERE org_id = $1 AND seq > $2 ORDER BY seq", tenant.org_id, after_seq
    )
    return [json.loads(row["body"]) for row in rows]


async def _last_seq(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT coalesce(max(seq), 0) FROM outbox"))


async def _problem(response: Any, status: int = 400) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    body: dict[str, Any] = await response.json()
    return body


def _stable(asset: dict[str, Any]) -> dict[str, Any]:
    """An asset without what the worker derives (it may fill that in at any moment)."""
    return {k: v for k, v in asset.items() if k not in DERIVED_FIELDS}


async def _state(client: TestClient, tenant: Tenant, ids: list[str]) -> list[dict[str, Any] | None]:
    """The assets as they are now, without their derived fields; None for each one gone."""
    found = []
    for asset_id in ids:
        response = await client.get(f"/v1/assets/{asset_id}", headers=tenant.auth())
        found.append(_stable((await response.json())["data"]) if response.status == 200 else None)
    return found


async def test_bulk_patch_changes_each_asset_with_its_own_event(
    client: TestClient, tenant: Tenant, pool: asyncpg.Pool
) -> None:
    made = await _created(client, tenant, 3)
    seq = await _last_seq(pool)
    changes = [
        {"id": made[2]["id"], "status": "in_use", "purchase_price": "1299.99"},
        {"id": made[0]["id"], "name": "Renamed", "serial_number": "SN-0"},
        {"id": made[1]["id"], "name": made[1]["name"]},  # the same value: no change, no event
    ]
    response = await client.patch(
        "/v1/assets", json={"data": changes}, headers={**tenant.auth(), "X-Request-ID": "bulk-1"}
    )
    assert response.status == 200, await response.text()
    shown = [_stable(a) for a in (await response.json())["data"]]
    assert [a["id"] for a in shown] == [made[2]["id"], made[0]["id"], made[1]["id"]]  # the order sent
    assert (shown[0]["status"], shown[0]["purchase_price"]) == ("in_use", 1299.99)
    assert (shown[1]["name"], shown[1]["serial_number"]) == ("Renamed", "SN-0")
    assert shown[2] == made[1]
    assert await _state(client, tenant, [a["id"] for a in shown]) == shown

    events = await _events(pool, tenant, seq)
    assert [(e["type"], e["subject"]) for e in events] == [
        ("asset.updated", made[2]["id"]),
        ("asset.updated", made[0]["id"]),
    ]
    assert {e["data"]["request_id"] for e in events} == {"bulk-1"}
    assert set(events[0]["data"]["changes"]) == {"status", "purchase_price"}
    assert events[1]["data"]["changes"]["name"] == {"from": "Laptop 0", "to": "Renamed"}
    assert all(e["data"]["version"] == 2 for e in events)


async def test_bulk_patch_with_one_bad_item_changes_nothing_and_names_it(
    client: TestClient, tenant: Tenant, pool: asyncpg.Pool
) -> None:
    made = await _created(client, tenant, 4)
    seq = await _last_seq(pool)
    good = [{"id": a["id"], "name": "Changed"} for a in made]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"id": made[3]["id"], "purchase_price": -1}, "data[3].purchase_price"),
        ({"id": made[3]["id"], "purchase_price": 1.999}, "data[3].purchase_price"),
        ({"id": made[3]["id"], "name": None}, "data[3].name"),
        ({"id": made[3]["id"], "colour": "red"}, "data[3].colour"),
        ({"id": made[3]["id"], "asset_type_id": str(uuid.uuid4())}, "data[3].asset_type_id"),
        ({"id": made[3]["id"], "purchase_date": "2024-02-30"}, "data[3].purchase_date"),
        ({"id": str(uuid.uuid4()), "name": "x"}, "data[3].id"),
        ({"id": "not-an-id", "name": "x"}, "data[3].id"),
        ({"id": made[0]["id"], "name": "again"}, "data[3].id"),  # the same asset twice
        ({"name": "no id"}, "data[3].id"),
    ]
    for bad, place in cases:
        response = await client.patch("/v1/assets", json={"data": [*good[:3], bad]}, headers=tenant.auth())
        body = await _problem(response)
        assert body["code"] == "VALIDATION_ERROR"
        assert place in [p["field"] for p in body["errors"]], (bad, body)
        assert place in body["detail"], body
    assert await _state(client, tenant, [a["id"] for a in made]) == made
    assert await _events(pool, tenant, seq) == []


async def test_bulk_bodies_are_checked_as_a_whole(client: TestClient, tenant: Tenant) -> None:
    made = await _created(client, tenant, 1)
    too_many = [{"id": str(uuid.uuid4()), "name": "x"} for _ in range(1001)]
    for body, field in [
        ({"data": []}, "data"),
        ({"data": too_many}, "data"),
        ({}, "data"),
        ({"data": {"id": made[0]["id"]}}, "data"),
        ({"data": [], "extra": 1}, "extra"),
    ]:
        answer = await _problem(await client.patch("/v1/assets", json=body, headers=tenant.auth()))
        assert field in [p["field"] for p in answer["errors"]], (body, answer)
    for body, field in [({"ids": []}, "ids"), ({"ids": "x"}, "ids"), ({}, "ids"), ({"ids": [1]}, "ids[0]")]:
        answer = await _problem(
            await client.request("DELETE", "/v1/assets", json=body, headers=tenant.auth())
        )
        assert field in [p["field"] for p in answer["errors"]], (body, answer)


async def test_bulk_delete_deletes_each_with_its_own_event(
    client: TestClient, tenant: Tenant, pool: asyncpg.Pool
) -> None:
    made = await _created(client, tenant, 3)
    seq = await _last_seq(pool)
    ids = [made[1]["id"], made[0]["id"]]
    response = await client.request("DELETE", "/v1/assets", json={"ids": ids}, headers=tenant.auth())
    assert response.status == 200, await response.text()
    assert await response.json() == {"message": "2 assets deleted.", "deleted": ids}
    assert await _state(client, tenant, [a["id"] for a in made]) == [None, None, made[2]]
    events = await _events(pool, tenant, seq)
    assert [(e["type"], e["subject"]) for e in events] == [("asset.deleted", i) for i in ids]
    assert len({e["data"]["request_id"] for e in events}) == 1


async def test_bulk_delete_with_one_unknown_id_deletes_nothing(
    client: TestClient, tenant: Tenant, pool: asyncpg.Pool
) -> None:
    made = await _created(client, tenant, 2)
    seq = await _last_seq(pool)
    for bad, message in [
        (str(uuid.uuid4()), "no asset"),
        ("nope", "no asset with id"),
        (made[0]["id"], "same"),
    ]:
        ids = [made[0]["id"], made[1]["id"], bad]
        body = await _problem(
            await client.request("DELETE", "/v1/assets", json={"ids": ids}, headers=tenant.auth())
        )
        assert [p["field"] for p in body["errors"]] == ["ids[2]"], body
        assert message in body["errors"][0]["message"]
    assert await _state(client, tenant, [a["id"] for a in made]) == made
    assert await _events(pool, tenant, seq) == []


async def test_other_organisations_assets_are_not_found(
    client: TestClient, make_tenant: TenantFactory, pool: asyncpg.Pool
) -> None:
    tenant, neighbour = await make_tenant(), await make_tenant()
    theirs = await _created(client, neighbour, 1)
    mine = await _created(client, tenant, 1)
    changes = {"data": [{"id": mine[0]["id"], "name": "Mine"}, {"id": theirs[0]["id"], "name": "Taken"}]}
    body = await _problem(await client.patch("/v1/assets", json=changes, headers=tenant.auth()))
    assert [p["field"] for p in body["errors"]] == ["data[1].id"]
    deletes = {"ids": [theirs[0]["id"]]}
    body = await _problem(await client.request("DELETE", "/v1/assets", json=deletes, headers=tenant.auth()))
    assert [p["field"] for p in body["errors"]] == ["ids[0]"]
    assert await _state(client, neighbour, [theirs[0]["id"]]) == theirs
    assert await _state(client, tenant, [mine[0]["id"]]) == mine


async def test_bulk_writes_need_the_write_scope(client: TestClient, tenant: Tenant) -> None:
    made = await _created(client, tenant, 1)
    patch = {"data": [{"id": made[0]["id"], "name": "x"}]}
    response = await client.patch("/v1/assets", json=patch, headers=tenant.auth(tenant.read_token))
    assert (await _problem(response, 403))["code"] == "FORBIDDEN"
    response = await client.request("DELETE", "/v1/assets", json={"ids": [made[0]["id"]]})
    assert (await _problem(response, 401))["code"] == "UNAUTHORIZED"
    assert await _state(client, tenant, [made[0]["id"]]) == made


async def test_overlapping_bulk_changes_queue_rather_than_deadlock(
    client: TestClient, tenant: Tenant, pool: asyncpg.Pool
) -> None:
    """Two requests naming the same assets in opposite orders both succeed, one after the other:
    the rows are locked in one order whatever the order sent."""
    made = await _created(client, tenant, 20)
    ids = [a["id"] for a in made]
    forward = {"data": [{"id": i, "notes": "forward"} for i in ids]}
    backward = {"data": [{"id": i, "notes": "backward"} for i in reversed(ids)]}
    answers = await asyncio.gather(
        *(client.patch("/v1/assets", json=body, headers=tenant.auth()) for body in [forward, backward] * 3)
    )
    assert [a.status for a in answers] == [200] * 6
    notes = {a["notes"] for a in await _state(client, tenant, ids) if a}
    assert len(notes) == 1  # every asset ends with the last request's value
    versions = await pool.fetch("SELECT version FROM assets WHERE id = ANY($1::uuid[])", ids)
    # the first request changes every asset; each later one changes them only when it differs
    assert len({row["version"] for row in versions}) == 1


async def test_the_openapi_document_describes_the_bulk_routes(client: TestClient) -> None:
    document = await (await client.get("/openapi.json")).json()
    operations = document["paths"]["/v1/assets"]
    patch, delete = operations["patch"], operations["delete"]
    assert patch["security"] == [{"bearerAuth": ["assets:write"]}] or patch.get("security")
    patch_body = patch["requestBody"]["content"]["application/json"]["schema"]
    delete_body = delete["requestBody"]["content"]["application/json"]["schema"]
    schemas = document["components"]["schemas"]

    def resolved(schema: dict[str, Any]) -> dict[str, Any]:
        ref = schema.get("$ref")
        return schemas[ref.rsplit("/", 1)[1]] if ref else schema

    data = resolved(patch_body)["properties"]["data"]
    assert (data["minItems"], data["maxItems"]) == (1, 1000)
    assert "id" in resolved(data["items"])["required"]
    assert resolved(delete_body)["properties"]["ids"]["maxItems"] == 1000
    for operation in (patch, delete):
        assert {"200", "400", "401", "403"} <= set(operation["responses"])
