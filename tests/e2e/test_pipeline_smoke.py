"""A write through the API reaches a subscriber and the worker's projections."""

import asyncio

import asyncpg
from aiohttp.test_utils import TestClient

from tests.conftest import TapFactory, Tenant, poll


async def test_create_reaches_subscriber_and_audit_log(
    client: TestClient, tenant: Tenant, worker: asyncio.Task[None], event_tap: TapFactory, pool: asyncpg.Pool
) -> None:
    tap = await event_tap("asset.*")
    created = await client.post(
        "/v1/assets", json={"name": "Pipeline laptop", "purchase_price": 10.5}, headers=tenant.auth()
    )
    asset = (await created.json())["data"]
    event = await tap.until(lambda e: e["subject"] == asset["id"])
    assert event["type"] == "asset.created"
    assert event["data"]["version"] == 1
    assert event["data"]["request_id"] == created.headers["X-Request-ID"]

    async def audited() -> object:
        response = await client.get(f"/v1/assets/{asset['id']}/history", headers=tenant.auth())
        return (await response.json())["data"]

    entries = await poll(audited)
    assert [e["action"] for e in entries] == ["created"]
