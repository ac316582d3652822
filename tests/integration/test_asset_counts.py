"""The maintained asset counts (the lists' totals) stay exact through every kind of write: one
asset at a time, an import of many in one statement, bulk changes and deletes."""

from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from tests.conftest import Tenant

ROWS = 1_200


async def _maintained(pool: asyncpg.Pool, tenant: Tenant) -> dict[tuple[Any, ...], int]:
    rows = await pool.fetch(
        """SELECT company_number, asset_type_id, status, sum(n) AS n FROM asset_counts WHERE org_id = $1
           GROUP BY company_number, asset_type_id, status HAVING sum(n) <> 0""",
        tenant.org_id,
    )
    return {(r["company_number"], r["asset_type_id"], r["status"]): r["n"] for r in rows}


async def _counted(pool: asyncpg.Pool, tenant: Tenant) -> dict[tuple[Any, ...], int]:
    rows = await pool.fetch(
        """SELECT company_number, asset_type_id, status, count(*) AS n FROM assets WHERE org_id = $1
           GROUP BY company_number, asset_type_id, status""",
        tenant.org_id,
    )
    return {(r["company_number"], r["asset_type_id"], r["status"]): r["n"] for r in rows}


async def _total(client: TestClient, tenant: Tenant, query: str = "") -> int:
    response = await client.get(f"/v1/assets?limit=1{query}", headers=tenant.auth())
    assert response.status == 200, await response.text()
    total: int = (await response.json())["meta"]["total"]
    return total


async def test_the_totals_stay_exact_through_imports_bulk_changes_and_single_writes(
    client: TestClient, tenant: Tenant, pool: asyncpg.Pool
) -> None:
    statuses = ["in_use", "in_stock", "scrapped"]
    sheet = "name,status\n" + "".join(f"Counted {n},{statuses[n % 3]}\n" for n in range(ROWS))
    response = await client.post(
        "/v1/assets/import", data=sheet.encode(), headers={**tenant.auth(), "Content-Type": "text/csv"}
    )
    assert response.status == 200, await response.text()
    assert await _maintained(pool, tenant) == await _counted(pool, tenant)
    assert await _total(client, tenant) == ROWS
    assert await _total(client, tenant, "&status=scrapped") == ROWS // 3

    ids = [
        r["id"]
        for r in await pool.fetch("SELECT id FROM assets WHERE org_id = $1 ORDER BY name", tenant.org_id)
    ]
    # Bulk: 30 to scrapped, whatever they were; 20 deleted.
    changes = {"data": [{"id": str(i), "status": "scrapped"} for i in ids[:30]]}
    response = await client.patch("/v1/assets", json=changes, headers=tenant.auth())
    assert response.status == 200, await response.text()
    response = await client.request(
        "DELETE", "/v1/assets", json={"ids": [str(i) for i in ids[30:50]]}, headers=tenant.auth()
    )
    assert response.status == 200, await response.text()
    # One at a time: a name (no count moves), a status, a deletion.
    for path, body in (
        (f"/v1/assets/{ids[50]}", {"name": "Renamed"}),
        (f"/v1/assets/{ids[51]}", {"status": "in_stock"}),
    ):
        response = await client.patch(path, json=body, headers=tenant.auth())
        assert response.status == 200, await response.text()
    response = await client.delete(f"/v1/assets/{ids[52]}", headers=tenant.auth())
    assert response.status in (200, 204), await response.text()

    counted = await _counted(pool, tenant)
    assert await _maintained(pool, tenant) == counted
    assert await _total(client, tenant) == ROWS - 21
    scrapped = sum(n for (_, _, status), n in counted.items() if status == "scrapped")
    assert await _total(client, tenant, "&status=scrapped") == scrapped
