"""The gateway answers through the real factory against the real database."""

from aiohttp.test_utils import TestClient

from tests.conftest import Tenant


async def test_create_then_read_an_asset(client: TestClient, tenant: Tenant) -> None:
    created = await client.post("/v1/assets", json={"name": 'MacBook Pro 14" M3'}, headers=tenant.auth())
    assert created.status == 201
    asset = (await created.json())["data"]
    got = await client.get(f"/v1/assets/{asset['id']}", headers=tenant.auth())
    assert got.status == 200
    assert (await got.json())["data"] == asset
    assert asset["status"] == "in_stock"
