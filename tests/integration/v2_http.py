"""Requests both v2 test modules make: a call with its status and exact-decimal body, and creates."""

import json
from decimal import Decimal
from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import Tenant

V2 = "/api/v2"


async def call(
    client: TestClient,
    tenant: Tenant,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
) -> tuple[int, Any]:
    """Send a request; the status and the body parsed with exact decimals (None when empty)."""
    kwargs: dict[str, Any] = {"headers": tenant.auth(token)}
    if body is not None:
        kwargs["json"] = body
    resp = await client.request(method, path, **kwargs)
    text = await resp.text()
    return resp.status, (json.loads(text, parse_float=Decimal) if text else None)


async def ok(
    client: TestClient, tenant: Tenant, method: str, path: str, body: Any = None, status: int = 200
) -> Any:
    got, data = await call(client, tenant, method, path, body)
    assert got == status, (method, path, got, data)
    return data


async def v2_create(client: TestClient, tenant: Tenant, name: str, body: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = await ok(client, tenant, "POST", f"{V2}/{name}/", body, status=201)
    return data


async def v1_create(client: TestClient, tenant: Tenant, path: str, body: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = (await ok(client, tenant, "POST", path, body, status=201))["data"]
    return data
