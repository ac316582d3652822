"""Rate limits as a client meets them: each budget's boundary exactly, read and write apart, a
token's own budget, the organisation's total, the headers request by request, both dialects'
429, the limit on tokens that do not work, and a throttled write that does nothing."""

import asyncio
import math
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from services.api.app import create_app
from shared.services import organisations
from shared.services.unit_of_work import unit_of_work
from shared.settings import Settings
from tests.conftest import REDIS_KEY_PREFIX, Tenant, TenantFactory, delete_keys
from tests.integration.test_operations import cli

ClientFactory = Callable[..., Awaitable[TestClient]]

# draft-ietf-httpapi-ratelimit-headers: a List of Items, each a String with parameters.
_ITEM = re.compile(r'^"(?P<name>[a-z-]+)"(?P<params>(;[a-z]+=\d+)+)$')


def parse_field(value: str) -> tuple[str, dict[str, int]]:
    """One item of RateLimit-Policy or RateLimit: its policy name and integer parameters."""
    found = _ITEM.match(value)
    assert found, f"not a ratelimit field item: {value!r}"
    params = dict(part.split("=") for part in found["params"].strip(";").split(";"))
    return found["name"], {key: int(number) for key, number in params.items()}


@pytest.fixture(params=["memory", "redis"])
async def limited(
    request: pytest.FixtureRequest, settings: Settings, redis_url: str
) -> AsyncIterator[ClientFactory]:
    """A real app of its own with rate limiting on and the given budgets (generous defaults),
    counting in its own memory and, again, in Redis under keys of the test's own."""
    made: list[TestClient] = []
    prefix = f"{REDIS_KEY_PREFIX}-{uuid.uuid4().hex[:8]}"
    storage = {"memory": "memory://", "redis": redis_url}[request.param]

    async def make(**overrides: Any) -> TestClient:
        values = {
            **settings.model_dump(),
            "rate_limit_enabled": True,
            "rate_limit_storage_url": storage,
            "rate_limit_key_prefix": prefix,
            "rate_limit_read": "1000/minute",
            "rate_limit_write": "1000/minute",
            "rate_limit_org_read": "5000/minute",
            "rate_limit_org_write": "5000/minute",
            "rate_limit_unauthenticated": "1000/minute",
            **overrides,
        }
        client = TestClient(TestServer(create_app(Settings(**values))))
        await client.start_server()
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()
    if request.param == "redis":
        await delete_keys(redis_url, prefix)


async def _problem(response: ClientResponse, owner: str, kind: str) -> dict[str, Any]:
    assert response.status == 429, await response.text()
    assert response.content_type == "application/problem+json"
    body: dict[str, Any] = await response.json()
    assert body["code"] == "RATE_LIMITED"
    assert body["status"] == 429
    assert body["error"] == body["detail"]
    assert body["budget"]["owner"] == owner
    assert body["budget"]["class"] == kind
    assert int(response.headers["Retry-After"]) >= 1
    return body


async def test_the_read_budget_is_exact_and_comes_back_after_its_window(
    limited: ClientFactory, tenant: Tenant
) -> None:
    client = await limited(rate_limit_read="3 per 2 seconds")
    for _ in range(3):
        assert (await client.get("/v1/assets", headers=tenant.auth())).status == 200
    throttled = await client.get("/v1/assets", headers=tenant.auth())
    body = await _problem(throttled, "token", "read")
    assert (body["budget"]["quota"], body["budget"]["window_seconds"]) == (3, 2)
    assert "This token's read budget (3 per 2 seconds) is spent" in body["detail"]
    assert throttled.headers["X-RateLimit-Remaining"] == "0"
    wait = int(throttled.headers["Retry-After"])
    assert 1 <= wait <= 2
    await asyncio.sleep(wait + 0.1)
    again = await client.get("/v1/assets", headers=tenant.auth())
    assert again.status == 200, await again.text()


async def test_read_and_write_budgets_are_counted_apart(limited: ClientFactory, tenant: Tenant) -> None:
    client = await limited(rate_limit_read="2/minute", rate_limit_write="2/minute")
    for _ in range(2):
        assert (await client.get("/v1/assets", headers=tenant.auth())).status == 200
    await _problem(await client.get("/v1/assets", headers=tenant.auth()), "token", "read")
    created = await client.post("/v1/assets", json={"name": "Still writable"}, headers=tenant.auth())
    assert created.status == 201, await created.text()
    assert parse_field(created.headers["RateLimit-Policy"]) == ("token-write", {"q": 2, "w": 60})
    assert created.headers["X-RateLimit-Remaining"] == "1"


async def test_a_tokens_own_budget_beats_the_default(
    limited: ClientFactory, tenant: Tenant, pool: asyncpg.Pool
) -> None:
    _, own = await organisations.create_token(
        unit_of_work(pool), tenant.name, ["assets:read"], name="slow", rate_limit_read="2/minute"
    )
    client = await limited(rate_limit_read="50/minute")
    for _ in range(2):
        response = await client.get("/v1/assets", headers=tenant.auth(own))
        assert response.status == 200
        assert response.headers["X-RateLimit-Limit"] == "2"
    await _problem(await client.get("/v1/assets", headers=tenant.auth(own)), "token", "read")
    # the organisation's other token keeps the default
    other = await client.get("/v1/assets", headers=tenant.auth(tenant.read_token))
    assert other.status == 200
    assert other.headers["X-RateLimit-Limit"] == "50"


async def test_the_organisation_total_spans_its_tokens(
    limited: ClientFactory, make_tenant: TenantFactory
) -> None:
    tenant, neighbour = await make_tenant(), await make_tenant()
    client = await limited(rate_limit_read="100/minute", rate_limit_org_read="6/minute")
    tokens = [tenant.token, tenant.read_token, tenant.token]
    for token in tokens * 2:
        assert (await client.get("/v1/assets", headers=tenant.auth(token))).status == 200
    throttled = await client.get("/v1/assets", headers=tenant.auth(tenant.read_token))
    body = await _problem(throttled, "organisation", "read")
    assert "This organisation's read budget (6/minute) is spent" in body["detail"]
    assert parse_field(throttled.headers["RateLimit"])[0] == "organisation-read"
    # another organisation is not starved
    assert (await client.get("/v1/assets", headers=neighbour.auth())).status == 200


async def test_a_concurrent_burst_gets_exactly_the_budget(
    limited: ClientFactory, make_tenant: TenantFactory
) -> None:
    """Requests in flight together (in Redis they go to it together, several in one call) are
    still each counted once: each token gets at most its own, and the organisation its total."""
    tenant, neighbour = await make_tenant(), await make_tenant()
    client = await limited(rate_limit_read="20/minute", rate_limit_org_read="30/minute")

    async def read(who: Tenant, token: str) -> tuple[str, int, str | None]:
        async with client.get("/v1/assets", headers=who.auth(token)) as response:
            owner = (await response.json())["budget"]["owner"] if response.status == 429 else None
            return token, response.status, owner

    burst = [(tenant, tenant.token), (tenant, tenant.read_token), (neighbour, neighbour.token)] * 25
    answers = await asyncio.gather(*(read(who, token) for who, token in burst))
    allowed = {
        token: sum(1 for t, status, _ in answers if t == token and status == 200) for _, token in burst
    }
    assert allowed[tenant.token] <= 20 and allowed[tenant.read_token] <= 20
    assert allowed[tenant.token] + allowed[tenant.read_token] == 30  # the organisation's total, exactly
    assert allowed[neighbour.token] == 20  # its own budget, exactly; the other tenant took nothing of it
    assert {status for _, status, _ in answers} == {200, 429}
    assert {owner for _, status, owner in answers if status == 429} <= {"token", "organisation"}


async def test_the_headers_count_down_and_parse_as_the_draft_defines(
    limited: ClientFactory, tenant: Tenant
) -> None:
    client = await limited(rate_limit_read="5/minute")
    remaining = []
    for _ in range(5):
        response = await client.get("/v1/assets", headers=tenant.auth())
        now = time.time()
        assert response.status == 200
        policy, quota = parse_field(response.headers["RateLimit-Policy"])
        name, standing = parse_field(response.headers["RateLimit"])
        assert (policy, name) == ("token-read", "token-read")
        assert quota == {"q": 5, "w": 60}
        assert set(standing) == {"r", "t"}
        assert 0 <= standing["t"] <= 60
        assert int(response.headers["X-RateLimit-Limit"]) == 5
        assert int(response.headers["X-RateLimit-Remaining"]) == standing["r"]
        reset = int(response.headers["X-RateLimit-Reset"])
        assert now - 1 <= reset <= now + 61
        remaining.append(standing["r"])
    assert remaining == [4, 3, 2, 1, 0]


async def test_an_error_answer_carries_the_headers_too(limited: ClientFactory, tenant: Tenant) -> None:
    client = await limited(rate_limit_read="5/minute")
    missing = await client.get(f"/v1/assets/{uuid.uuid4()}", headers=tenant.auth())
    assert missing.status == 404
    assert missing.headers["X-RateLimit-Remaining"] == "4"


async def test_v2_answers_as_django_rest_framework_throttles(limited: ClientFactory, tenant: Tenant) -> None:
    client = await limited(rate_limit_read="1/minute")
    first = await client.get("/api/v2/asset/?company=1", headers=tenant.auth())
    assert first.status == 200, await first.text()
    assert parse_field(first.headers["RateLimit"]) == ("token-read", {"r": 0, "t": 60})
    throttled = await client.get("/api/v2/asset/?company=1", headers=tenant.auth())
    assert throttled.status == 429
    assert throttled.content_type == "application/json"
    body = await throttled.json()
    wait = int(throttled.headers["Retry-After"])
    assert 1 <= wait <= 60
    unit = "second" if wait == 1 else "seconds"
    assert body == {"detail": f"Request was throttled. Expected available in {wait} {unit}."}
    assert throttled.headers["X-RateLimit-Remaining"] == "0"


async def test_a_throttled_write_changes_nothing_and_makes_no_event(
    limited: ClientFactory, tenant: Tenant, pool: asyncpg.Pool
) -> None:
    client = await limited(rate_limit_write="1/minute")
    created = await client.post("/v1/assets", json={"name": "First"}, headers=tenant.auth())
    assert created.status == 201
    await _problem(
        await client.post("/v1/assets", json={"name": "Second"}, headers=tenant.auth()), "token", "write"
    )
    asset_id = (await created.json())["data"]["id"]
    await _problem(
        await client.patch(f"/v1/assets/{asset_id}", json={"name": "Changed"}, headers=tenant.auth()),
        "token",
        "write",
    )
    async with pool.acquire() as conn:
        names = [
            r["name"] for r in await conn.fetch("SELECT name FROM assets WHERE org_id = $1", tenant.org_id)
        ]
        events = await conn.fetchval("SELECT count(*) FROM outbox WHERE org_id = $1", tenant.org_id)
    assert names == ["First"]
    assert events == 1


async def test_tokens_that_do_not_work_are_limited_per_address(
    limited: ClientFactory, tenant: Tenant
) -> None:
    client = await limited(rate_limit_unauthenticated="3/minute")
    wrong = {"Authorization": "Bearer usl_live_not-a-real-token"}
    assert (await client.get("/v1/assets")).status == 401  # no token at all counts too
    for _ in range(2):
        assert (await client.get("/v1/assets", headers=wrong)).status == 401
    body = await _problem(await client.get("/v1/assets", headers=wrong), "address", "read")
    assert "without a working token from this address" in body["detail"]
    # once the address's budget is spent, no token is even checked from it
    await _problem(await client.get("/v1/assets", headers=tenant.auth()), "address", "read")
    # X-Forwarded-For is not believed from a peer that is not a trusted proxy
    spoofed = {**wrong, "X-Forwarded-For": "203.0.113.9"}
    await _problem(await client.get("/v1/assets", headers=spoofed), "address", "read")


async def test_a_trusted_proxy_names_the_client(limited: ClientFactory, tenant: Tenant) -> None:
    client = await limited(rate_limit_unauthenticated="2/minute", trusted_proxies="127.0.0.1, ::1")
    wrong = {"Authorization": "Bearer usl_live_not-a-real-token", "X-Forwarded-For": "203.0.113.9, 127.0.0.1"}
    for _ in range(2):
        assert (await client.get("/v1/assets", headers=wrong)).status == 401
    await _problem(await client.get("/v1/assets", headers=wrong), "address", "read")
    other_client = {"X-Forwarded-For": "198.51.100.7", **tenant.auth()}
    assert (await client.get("/v1/assets", headers=other_client)).status == 200


async def test_probes_and_metrics_are_never_limited(limited: ClientFactory, tenant: Tenant) -> None:
    client = await limited(rate_limit_read="1/minute", rate_limit_unauthenticated="1/minute")
    for _ in range(3):
        for path in ("/healthz", "/readyz", "/metrics"):
            response = await client.get(path)
            # /readyz may say 503 while the new app's relay reaches the broker: never 429
            assert response.status in (200, 503) if path == "/readyz" else response.status == 200, path
            assert "X-RateLimit-Limit" not in response.headers
    await client.get("/v1/assets", headers=tenant.auth())
    await client.get("/v1/assets", headers=tenant.auth())
    metrics = await (await client.get("/metrics")).text()
    assert re.search(r'assetflow_http_throttled_total\{budget="token",class="read"\} 1\.0', metrics), metrics


async def test_limiting_off_sends_no_budget(client: TestClient, tenant: Tenant) -> None:
    response = await client.get("/v1/assets", headers=tenant.auth())
    assert response.status == 200
    assert not {"RateLimit", "RateLimit-Policy", "X-RateLimit-Limit"} & set(response.headers)


def test_retry_after_is_never_zero_while_spent() -> None:
    from services.api.rate_limits import Budget, Standing, Throttled

    budget = Budget("token", "read", "t", "5/minute")
    now = time.time()
    assert Throttled(Standing(budget, 0, now + 0.2)).retry_after(now) == 1
    assert Throttled(Standing(budget, 0, now - 5)).retry_after(now) == 1
    assert Throttled(Standing(budget, 0, now + 12.5)).retry_after(now) == math.ceil(12.5)


async def test_the_cli_gives_a_token_its_own_budgets_and_lists_them(
    settings: Settings, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant()
    db = settings.database_url.get_secret_value()
    made = await cli(
        "token",
        "create",
        "--org",
        tenant.name,
        "--scope",
        "assets:read",
        "--scope",
        "assets:write",
        "--name",
        "importer",
        "--rate-limit-read",
        "100/minute",
        "--rate-limit-write",
        "10/minute",
        database_url=db,
    )
    assert made.returncode == 0, made.stderr
    listed = await cli("token", "list", "--org", tenant.name, database_url=db)
    assert listed.returncode == 0, listed.stderr
    [line] = [row for row in listed.stdout.splitlines() if "\timporter\t" in row]
    assert line.endswith("read=100/minute\twrite=10/minute")
    defaults = [row for row in listed.stdout.splitlines() if "\tread\t" in row]
    assert defaults and defaults[0].endswith("read=default\twrite=default")

    bad = await cli(
        "token",
        "create",
        "--org",
        tenant.name,
        "--scope",
        "assets:read",
        "--rate-limit-read",
        "lots",
        database_url=db,
    )
    assert bad.returncode == 2
    assert "--rate-limit-read" in bad.stderr and "is not a budget" in bad.stderr
    assert bad.stdout == ""


async def test_the_openapi_document_states_the_429_and_the_headers(client: TestClient) -> None:
    document = await (await client.get("/openapi.json")).json()
    headers = document["components"]["headers"]
    assert {
        "RateLimit-Policy",
        "RateLimit",
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
        "Retry-After",
    } <= set(headers)
    limited = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if "security" not in operation:
                assert "429" not in operation["responses"], (method, path)
                continue
            limited += 1
            throttled = operation["responses"]["429"]
            assert set(throttled["headers"]) >= {"Retry-After", "RateLimit", "RateLimit-Policy"}, (
                method,
                path,
            )
            [media] = throttled["content"]
            assert media == (
                "application/json" if path.startswith("/api/v2/") else "application/problem+json"
            )
            for status, response in operation["responses"].items():
                if status != "401":
                    assert "X-RateLimit-Remaining" in response["headers"], (method, path, status)
    assert limited > 20
    budget = document["components"]["schemas"]["SpentBudget"]
    assert set(budget["properties"]) == {"owner", "class", "quota", "window_seconds"}
