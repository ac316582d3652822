"""An import is a stream of normal changes: 5,000 imported rows make exactly 5,000 events, 5,000
audit entries and 5,000 projections, each once, under the import's one request id."""

import asyncio

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import Tenant, poll

ROWS = 5_000
# The pipeline drains a few hundred events a second here; 2x slower machines and the rest of
# the suite's load beside it.
DRAIN_DEADLINE = 300


@pytest.mark.timeout(2 * DRAIN_DEADLINE)
async def test_an_import_of_5000_rows_makes_5000_events_audit_entries_and_projections(
    client: TestClient, tenant: Tenant, worker: asyncio.Task[None], pool: asyncpg.Pool
) -> None:
    sheet = "name,serial_number,warranty_until\n" + "".join(
        f"Imported {n},IMP-{n:05d},2030-01-01\n" for n in range(ROWS)
    )
    response = await client.post(
        "/v1/assets/import",
        data=sheet.encode(),
        headers={**tenant.auth(), "Content-Type": "text/csv", "X-Request-ID": "the-import"},
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["data"]["created"] == ROWS
    org = tenant.org_id
    events = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE org_id = $1 AND routing_key = 'asset.created'", org
    )
    assert events == ROWS

    async def audited() -> bool:
        count = await pool.fetchval("SELECT count(*) FROM audit_log WHERE org_id = $1", org)
        return bool(count >= ROWS)

    await poll(audited, timeout=DRAIN_DEADLINE, interval=0.5)

    async def projected() -> bool:
        count = await pool.fetchval("SELECT count(*) FROM asset_lifecycle WHERE org_id = $1", org)
        return bool(count >= ROWS)

    await poll(projected, timeout=DRAIN_DEADLINE, interval=0.5)
    audit = await pool.fetchrow(
        """SELECT count(*) AS entries, count(DISTINCT asset_id) AS assets,
                  count(*) FILTER (
                      WHERE action = 'created' AND version = 1 AND request_id = 'the-import'
                  ) AS ours
           FROM audit_log WHERE org_id = $1""",
        org,
    )
    assert audit is not None and (audit["entries"], audit["assets"], audit["ours"]) == (ROWS, ROWS, ROWS)
    lifecycle = await pool.fetchrow(
        """SELECT count(*) AS n, count(*) FILTER (WHERE warranty_end_date = '2030-01-01') AS dated
           FROM asset_lifecycle WHERE org_id = $1""",
        org,
    )
    assert lifecycle is not None and (lifecycle["n"], lifecycle["dated"]) == (ROWS, ROWS)
