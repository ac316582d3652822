"""Authentication, scopes and tenancy, over every /v1 route the app has."""

import asyncio
import datetime as dt
import hashlib
import re
import uuid
from collections import Counter
from typing import Any

import asyncpg
import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from services.api.endpoint import endpoint_of
from shared.services import organisations
from shared.services.unit_of_work import unit_of_work
from tests.conftest import Tenant, TenantFactory, poll

WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE"}
# Fields naming an object of another resource, and that resource's path segment.
REFERENCES = {
    "asset_type_id": "asset-types",
    "manufacturer_id": "manufacturers",
    "model_id": "models",
    "assigned_to": "users",
    "vendor_id": "vendors",
}
# Creation order where one resource refers to another; resources not named here come before assets.
ORDER = ["asset-types", "manufacturers", "models", "users", "companies", "vendors", "contracts"]


# What the worker derives and writes beside an asset, at any moment.
DERIVED = {"warranty_status", "support_status", "book_value"}


def stable(body: Any) -> Any:
    """A response body without the fields the worker may fill in at any moment."""
    if isinstance(body, dict):
        return {k: stable(v) for k, v in body.items() if k not in DERIVED}
    if isinstance(body, list):
        return [stable(v) for v in body]
    return body


def v1_routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, path template) of every /v1 route of the app, from its router."""
    found = set()
    for route in client.app.router.routes():
        resource = route.resource
        # `*`: the 405 of a fixed path beside an `{id}` one (/v1/assets/export), not an operation
        if resource is None or route.method in ("HEAD", "*"):
            continue
        if resource.canonical.startswith("/v1/"):
            found.add((route.method, resource.canonical))
    return sorted(found)


def collections(client: TestClient) -> list[str]:
    """The path segments of every /v1 collection one can POST to, in an order that creates what
    others refer to first (assets last)."""
    found = {p.split("/")[2] for m, p in v1_routes(client) if m == "POST" and p.count("/") == 2}
    return sorted(found, key=lambda s: (s == "assets", ORDER.index(s) if s in ORDER else len(ORDER), s))


def test_v1_routes_are_non_trivial(client: TestClient) -> None:
    routes = v1_routes(client)
    assert len(routes) >= 25
    methods = Counter(m for m, _ in routes)
    assert {"GET", "POST", "PATCH", "DELETE", "PUT"} <= set(methods)
    for expected in [
        ("GET", "/v1/assets"),
        ("POST", "/v1/assets"),
        ("PATCH", "/v1/assets/{id}"),
        ("DELETE", "/v1/users/{id}"),
        ("PUT", "/v1/settings/asset-tag"),
        ("GET", "/v1/assets/{id}/history"),
        ("GET", "/v1/assets/{id}/depreciation"),
        ("GET", "/v1/audit-log"),
    ]:
        assert expected in routes
    assert {"assets", "asset-types", "manufacturers", "models", "users"} <= set(collections(client))
    # Every /v1 route declares the scope it needs.
    for route in client.app.router.routes():
        if route.resource is not None and route.resource.canonical.startswith("/v1/") and route.method != "*":
            spec = endpoint_of(route.handler)
            assert spec is not None and spec.scope is not None, route


async def _problem(response: ClientResponse, status: int, code: str) -> dict[str, Any]:
    body = await response.json(content_type=None)
    assert response.status == status, body
    assert response.content_type == "application/problem+json"
    assert body["status"] == status
    assert body["code"] == code
    assert body["detail"] and body["error"] == body["detail"]
    assert body["instance"] == response.url.path
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert body["type"] == f"https://assetflow.dev/problems/{code.lower().replace('_', '-')}"
    return dict(body)


async def _ok(response: ClientResponse, status: int = 200) -> Any:
    body = await response.json()
    assert response.status == status, body
    return body


def _tag() -> str:
    return "A" + uuid.uuid4().hex[:7].upper()


def _generic_value(name: str, prop: dict[str, Any], defs: dict[str, Any]) -> Any:
    """A valid value for a required field of a body model not known to this test."""
    if "$ref" in prop:
        prop = defs[prop["$ref"].rsplit("/", 1)[1]]
    if "enum" in prop:
        return prop["enum"][0]
    kind = prop.get("type")
    if kind == "integer":
        return max(1, prop.get("minimum", 1))
    if kind == "number":
        return 1
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return {}
    if prop.get("format") == "date":
        return "2024-06-01"
    if prop.get("format") == "email":
        return "someone@example.com"
    if "pattern" in prop:
        return _tag()
    return f"{name} {_tag()}"


def create_body(client: TestClient, segment: str, objs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A valid create body for the collection, referring to objects made before it."""
    tag = _tag()
    if segment == "asset-types":
        return {"name": f"Laptop {tag}", "code": tag, "kind": "physical"}
    if segment == "models":
        return {"name": f"XPS {tag}", "manufacturer_id": objs["manufacturers"]["id"]}
    if segment == "users":
        return {"name": f"Alice {tag}", "email": "alice@example.com", "phone": "555-0100"}
    if segment == "webhooks":
        # Nothing listens on port 9, and only webhook.disabled would ever be sent: the session's
        # worker has nothing to deliver to it while the test looks.
        return {"url": f"http://127.0.0.1:9/hook-{tag}", "events": ["webhook.disabled"]}
    if segment == "assets":
        return {
            "name": f"Asset {tag}",
            "asset_type_id": objs["asset-types"]["id"],
            "model_id": objs["models"]["id"],
            "assigned_to": objs["users"]["id"],
            "status": "in_use",
            "serial_number": f"SN-{tag}",
            "purchase_date": "2024-06-01",
            "purchase_price": 1899.00,
            "depreciation_schedule": "3_year_33_percent",
        }
    # Any other collection: its required fields, from the route's own body model.
    spec = None
    for route in client.app.router.routes():
        if (
            route.method == "POST"
            and route.resource is not None
            and route.resource.canonical == f"/v1/{segment}"
        ):
            spec = endpoint_of(route.handler)
    assert spec is not None and spec.body is not None, segment
    schema = spec.body.model_json_schema()
    body: dict[str, Any] = {}
    for name in schema.get("required", []):
        if name in REFERENCES:
            body[name] = objs[REFERENCES[name]]["id"]
        else:
            body[name] = _generic_value(name, schema["properties"][name], schema.get("$defs", {}))
    return body


def patch_body(client: TestClient, segment: str, objs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A valid change of the object's own fields (no references, so only existence decides)."""
    body = create_body(client, segment, objs)
    return {k: v for k, v in body.items() if k not in REFERENCES and not k.endswith("_id")}


async def populate(client: TestClient, tenant: Tenant) -> dict[str, dict[str, Any]]:
    """One object of each collection the app has, the asset using the catalog."""
    objs: dict[str, dict[str, Any]] = {}
    for segment in collections(client):
        body = create_body(client, segment, objs)
        response = await client.post(f"/v1/{segment}", json=body, headers=tenant.auth())
        objs[segment] = (await _ok(response, 201))["data"]
    # A webhook's delivery (its ping's, which finds nothing listening), for the routes that name one.
    response = await client.post(f"/v1/webhooks/{objs['webhooks']['id']}/ping", headers=tenant.auth())
    objs["deliveries"] = {"id": (await _ok(response))["data"]["delivery_id"]}
    return objs


# Objects of a route path's placeholders other than its collection's {id}.
PLACEHOLDER_OBJECTS = {"delivery_id": "deliveries"}


def concrete(path: str, objs: dict[str, dict[str, Any]]) -> str:
    """The route's path with its {id} filled by the object of the collection it names."""
    if "{" not in path:
        return path
    segment = path.split("/")[2]
    assert segment in objs, f"a route with an id but no collection to make one: {path}"
    placeholders = re.findall(r"\{(\w+)\}", path)
    assert placeholders[0] == "id" and set(placeholders[1:]) <= set(PLACEHOLDER_OBJECTS), path
    for name in placeholders[1:]:
        path = path.replace(f"{{{name}}}", objs[PLACEHOLDER_OBJECTS[name]]["id"])
    return path.replace("{id}", objs[segment]["id"])


async def snapshot(client: TestClient, tenant: Tenant, objs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Everything of the tenant the routes could change."""
    state: dict[str, Any] = {}
    for segment, obj in objs.items():
        if segment in PLACEHOLDER_OBJECTS.values():
            continue
        response = await client.get(f"/v1/{segment}/{obj['id']}", headers=tenant.auth())
        state[segment] = (response.status, stable(await response.json(content_type=None)))
        listed = await _ok(await client.get(f"/v1/{segment}", headers=tenant.auth()))
        state[f"list {segment}"] = stable(listed)
    state["template"] = await _ok(await client.get("/v1/settings/asset-tag", headers=tenant.auth()))
    return state


def write_body(client: TestClient, method: str, path: str, objs: dict[str, dict[str, Any]]) -> Any:
    """A body that would change something if the request were allowed."""
    if method == "DELETE" or method == "GET":
        return None
    if path == "/v1/settings/asset-tag":
        return {"template": "HACKED-{YY}-NNNN"}
    segment = path.split("/")[2]
    if method == "POST":
        return create_body(client, segment, objs)
    return patch_body(client, segment, objs)


# Authentication


AUTH_CASES = [
    pytest.param({}, "", id="no-header"),
    pytest.param({"Authorization": ""}, "", id="empty-header"),
    pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, "invalid_request", id="basic"),
    pytest.param({"Authorization": "Bearer"}, "invalid_request", id="bearer-without-token"),
    pytest.param({"Authorization": "Bearer    "}, "invalid_request", id="bearer-blank"),
    pytest.param({"Authorization": "Token usl_live_abc"}, "invalid_request", id="other-scheme"),
    pytest.param({"Authorization": "usl_live_abc"}, "invalid_request", id="token-without-scheme"),
    pytest.param({"Authorization": "Bearer usl_live_" + "x" * 43}, "invalid_token", id="unknown-token"),
    pytest.param({"Authorization": "Bearer not-even-a-token"}, "invalid_token", id="garbage-token"),
]


def _check_challenge(response: ClientResponse, token_error: str) -> None:
    challenge = response.headers.get("WWW-Authenticate", "")
    assert challenge.startswith("Bearer"), challenge
    if token_error:
        assert f'error="{token_error}"' in challenge


@pytest.mark.parametrize(("headers", "token_error"), AUTH_CASES)
async def test_unauthenticated_request_is_401(
    client: TestClient, headers: dict[str, str], token_error: str
) -> None:
    response = await client.get("/v1/assets", headers=headers)
    problem = await _problem(response, 401, "UNAUTHORIZED")
    assert problem["title"] == "Unauthorized"
    _check_challenge(response, token_error)


async def test_every_v1_route_needs_a_token(client: TestClient, tenant: Tenant) -> None:
    objs = await populate(client, tenant)
    before = await snapshot(client, tenant, objs)
    routes = v1_routes(client)
    assert len(routes) >= 25
    for method, path in routes:
        url = concrete(path, objs)
        for headers in ({}, {"Authorization": "Bearer usl_live_unknown"}):
            response = await client.request(
                method, url, json=write_body(client, method, path, objs), headers=headers
            )
            await _problem(response, 401, "UNAUTHORIZED")
            _check_challenge(response, "")
    assert await snapshot(client, tenant, objs) == before


async def test_401_comes_before_validation_and_404(client: TestClient) -> None:
    missing = f"/v1/assets/{uuid.uuid4()}"
    await _problem(await client.get(missing), 401, "UNAUTHORIZED")
    await _problem(await client.post("/v1/assets", data=b"{broken"), 401, "UNAUTHORIZED")
    await _problem(await client.get("/v1/assets", params={"limit": "0"}), 401, "UNAUTHORIZED")


async def test_a_valid_token_works(client: TestClient, tenant: Tenant) -> None:
    response = await client.get("/v1/assets", headers=tenant.auth())
    assert response.status == 200
    # The scheme is case-insensitive (RFC 6750 / RFC 9110).
    response = await client.get("/v1/assets", headers={"Authorization": f"bearer {tenant.token}"})
    assert response.status == 200


async def test_a_revoked_token_stops_working_on_the_next_request(
    client: TestClient, tenant: Tenant, pool: asyncpg.Pool
) -> None:
    token, plain = await organisations.create_token(
        unit_of_work(pool), tenant.name, ["assets:read"], name="soon-revoked"
    )
    headers = {"Authorization": f"Bearer {plain}"}
    assert (await client.get("/v1/assets", headers=headers)).status == 200
    assert await organisations.revoke_token(unit_of_work(pool), str(token.id))
    response = await client.get("/v1/assets", headers=headers)
    await _problem(response, 401, "UNAUTHORIZED")
    _check_challenge(response, "invalid_token")
    # The organisation's other tokens go on working.
    assert (await client.get("/v1/assets", headers=tenant.auth())).status == 200
    # Revoking again finds no live token.
    assert not await organisations.revoke_token(unit_of_work(pool), str(token.id))


async def test_revoking_by_the_plain_token(client: TestClient, tenant: Tenant, pool: asyncpg.Pool) -> None:
    _, plain = await organisations.create_token(
        unit_of_work(pool), tenant.name, ["assets:read", "assets:write"]
    )
    headers = {"Authorization": f"Bearer {plain}"}
    assert (await client.post("/v1/assets", json={"name": "Before"}, headers=headers)).status == 201
    assert await organisations.revoke_token(unit_of_work(pool), plain)
    await _problem(
        await client.post("/v1/assets", json={"name": "After"}, headers=headers), 401, "UNAUTHORIZED"
    )
    listed = await _ok(await client.get("/v1/assets", headers=tenant.auth()))
    assert [a["name"] for a in listed["data"]] == ["Before"]


async def test_an_expired_token_is_401(client: TestClient, tenant: Tenant, pool: asyncpg.Pool) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    _, plain = await organisations.create_token(
        unit_of_work(pool), tenant.name, ["assets:read"], expires_at=past
    )
    response = await client.get("/v1/assets", headers={"Authorization": f"Bearer {plain}"})
    await _problem(response, 401, "UNAUTHORIZED")
    _check_challenge(response, "invalid_token")


async def test_a_token_expiring_later_works_until_then(
    client: TestClient, tenant: Tenant, pool: asyncpg.Pool
) -> None:
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    _, plain = await organisations.create_token(
        unit_of_work(pool), tenant.name, ["assets:read"], expires_at=soon
    )
    headers = {"Authorization": f"Bearer {plain}"}
    assert (await client.get("/v1/assets", headers=headers)).status == 200

    async def expired() -> bool:
        return (await client.get("/v1/assets", headers=headers)).status == 401

    await poll(expired, interval=0.2)
    assert dt.datetime.now(dt.UTC) >= soon - dt.timedelta(milliseconds=500)


async def test_create_token_refuses_unknown_scopes(tenant: Tenant, pool: asyncpg.Pool) -> None:
    from shared.errors import InvalidInput

    with pytest.raises(InvalidInput):
        await organisations.create_token(unit_of_work(pool), tenant.name, ["assets:admin"])
    with pytest.raises(InvalidInput):
        await organisations.create_token(unit_of_work(pool), tenant.name, [])


# Scopes


async def test_a_read_only_token_is_403_on_every_write_route(client: TestClient, tenant: Tenant) -> None:
    objs = await populate(client, tenant)
    before = await snapshot(client, tenant, objs)
    writes = [(m, p) for m, p in v1_routes(client) if m in WRITE_METHODS]
    assert len(writes) >= 16
    assert {p for _, p in writes} >= {
        "/v1/assets",
        "/v1/assets/{id}",
        "/v1/asset-types",
        "/v1/asset-types/{id}",
        "/v1/manufacturers",
        "/v1/manufacturers/{id}",
        "/v1/models",
        "/v1/models/{id}",
        "/v1/users",
        "/v1/users/{id}",
        "/v1/settings/asset-tag",
    }
    for method, path in writes:
        response = await client.request(
            method,
            concrete(path, objs),
            json=write_body(client, method, path, objs),
            headers=tenant.auth(tenant.read_token),
        )
        problem = await _problem(response, 403, "FORBIDDEN")
        assert problem["title"] == "Forbidden"
        challenge = response.headers.get("WWW-Authenticate", "")
        assert challenge.startswith("Bearer") and 'error="insufficient_scope"' in challenge, (method, path)
    assert await snapshot(client, tenant, objs) == before


async def test_a_read_only_token_reads_every_read_route(client: TestClient, tenant: Tenant) -> None:
    objs = await populate(client, tenant)
    reads = [(m, p) for m, p in v1_routes(client) if m == "GET"]
    assert len(reads) >= 13
    for _, path in reads:
        response = await client.get(concrete(path, objs), headers=tenant.auth(tenant.read_token))
        assert response.status == 200, (path, await response.text())


async def test_a_write_only_token_is_403_on_every_read_route(client: TestClient, tenant: Tenant) -> None:
    objs = await populate(client, tenant)
    reads = [(m, p) for m, p in v1_routes(client) if m == "GET"]
    assert len(reads) >= 13
    for _, path in reads:
        response = await client.get(concrete(path, objs), headers=tenant.auth(tenant.write_token))
        await _problem(response, 403, "FORBIDDEN")
        assert 'error="insufficient_scope"' in response.headers.get("WWW-Authenticate", "")


async def test_a_write_only_token_writes(client: TestClient, tenant: Tenant) -> None:
    headers = tenant.auth(tenant.write_token)
    created = await _ok(await client.post("/v1/assets", json={"name": "Written"}, headers=headers), 201)
    asset_id = created["data"]["id"]
    patched = await _ok(await client.patch(f"/v1/assets/{asset_id}", json={"name": "Again"}, headers=headers))
    assert patched["data"]["name"] == "Again"
    await _ok(await client.put("/v1/settings/asset-tag", json={"template": "W-NNNN"}, headers=headers))
    template = await _ok(await client.get("/v1/settings/asset-tag", headers=tenant.auth()))
    assert template == {"template": "W-NNNN"}
    await _ok(await client.delete(f"/v1/assets/{asset_id}", headers=headers))


async def test_403_comes_before_validation(client: TestClient, tenant: Tenant) -> None:
    headers = {**tenant.auth(tenant.read_token), "Content-Type": "application/json"}
    await _problem(await client.post("/v1/assets", data=b"{broken", headers=headers), 403, "FORBIDDEN")
    await _problem(
        await client.get("/v1/assets", params={"limit": "0"}, headers=tenant.auth(tenant.write_token)),
        403,
        "FORBIDDEN",
    )


# Tenancy


def _same_shape(problem: dict[str, Any], reference: dict[str, Any], real_id: str, fake_id: str) -> None:
    """Another organisation's object answers exactly as one that does not exist."""
    ignore = {"request_id", "instance", "detail", "error"}
    assert {k: v for k, v in problem.items() if k not in ignore} == {
        k: v for k, v in reference.items() if k not in ignore
    }
    assert problem["detail"].replace(real_id, "<id>") == reference["detail"].replace(fake_id, "<id>")


async def test_another_organisation_gets_404_on_every_route_with_an_id(
    client: TestClient, make_tenant: TenantFactory
) -> None:
    owner, intruder = await make_tenant(), await make_tenant()
    objs = await populate(client, owner)
    # The intruder has objects of its own, so its ids are not simply absent everywhere.
    await populate(client, intruder)
    before = await snapshot(client, owner, objs)
    with_id = [(m, p) for m, p in v1_routes(client) if "{id}" in p]
    assert len(with_id) >= 17
    assert {p for _, p in with_id} >= {"/v1/assets/{id}/history", "/v1/assets/{id}/depreciation"}
    for method, path in with_id:
        url = concrete(path, objs)
        real_id = url.split("/")[3]
        fake_id = str(uuid.uuid4())
        body = write_body(client, method, path, objs)
        response = await client.request(method, url, json=body, headers=intruder.auth())
        problem = await _problem(response, 404, "NOT_FOUND")
        reference = await _problem(
            await client.request(method, url.replace(real_id, fake_id), json=body, headers=intruder.auth()),
            404,
            "NOT_FOUND",
        )
        _same_shape(problem, reference, real_id, fake_id)
        # The owner reaches the same route (reads only, so nothing changes).
        if method == "GET":
            assert (await client.get(url, headers=owner.auth())).status == 200, path
    assert await snapshot(client, owner, objs) == before


async def test_another_organisation_never_sees_rows_in_lists(
    client: TestClient, make_tenant: TenantFactory, worker: asyncio.Task[None]
) -> None:
    owner, other = await make_tenant(), await make_tenant()
    objs = await populate(client, owner)
    other_objs = await populate(client, other)
    owner_ids = {o["id"] for o in objs.values()}
    await _ok(
        await client.put("/v1/settings/asset-tag", json={"template": "ZZ-{YY}-NNNN"}, headers=owner.auth())
    )

    asset_id = objs["assets"]["id"]

    async def audited() -> bool:
        """Both tenants' assets are in the audit log (the worker is asynchronous)."""
        for tenant, asset in ((owner, objs["assets"]), (other, other_objs["assets"])):
            body = await _ok(await client.get("/v1/audit-log", headers=tenant.auth()))
            if not any(e["asset_id"] == asset["id"] for e in body["data"]):
                return False
        return True

    await poll(audited)

    lists = [p for m, p in v1_routes(client) if m == "GET" and "{" not in p]
    assert {
        "/v1/assets",
        "/v1/asset-types",
        "/v1/manufacturers",
        "/v1/models",
        "/v1/users",
        "/v1/audit-log",
    } <= set(lists)
    for path in lists:
        own_text = await (await client.get(path, headers=owner.auth())).text()
        other_response = await client.get(path, headers=other.auth())
        assert other_response.status == 200, path
        text = await other_response.text()
        for object_id in owner_ids:
            assert object_id not in text, (path, object_id)
        assert str(owner.org_id) not in text
        if path == "/v1/assets/export":  # a file: the other tenant's own asset is in it
            assert other_objs["assets"]["id"] in text, path
            assert any(object_id in own_text for object_id in owner_ids), path
        elif path != "/v1/settings/asset-tag":
            body = await other_response.json()
            assert body["data"], path  # the other tenant does see its own rows
            assert any(object_id in own_text for object_id in owner_ids), path
    template = await _ok(await client.get("/v1/settings/asset-tag", headers=other.auth()))
    assert template == {"template": "{PREFIX}-{YYYY}-NNNNNN"}
    # Filters naming the owner's objects find nothing for the other tenant.
    filtered = await _ok(
        await client.get("/v1/audit-log", params={"asset_id": asset_id}, headers=other.auth())
    )
    assert filtered["data"] == []
    type_id = objs["asset-types"]["id"]
    by_type = await _ok(
        await client.get("/v1/assets", params={"asset_type_id": type_id}, headers=other.auth())
    )
    assert by_type["data"] == [] and by_type["meta"]["total"] == 0
    by_q = await _ok(
        await client.get("/v1/assets", params={"q": objs["assets"]["serial_number"]}, headers=other.auth())
    )
    assert by_q["data"] == [] and by_q["meta"]["total"] == 0


@pytest.mark.parametrize(
    ("field", "resource"),
    [("asset_type_id", "asset-types"), ("model_id", "models"), ("assigned_to", "users")],
)
async def test_an_asset_cannot_point_at_another_organisations_objects(
    client: TestClient, make_tenant: TenantFactory, field: str, resource: str
) -> None:
    owner, other = await make_tenant(), await make_tenant()
    objs = await populate(client, owner)
    foreign_id = objs[resource]["id"]
    response = await client.post("/v1/assets", json={"name": "Mine", field: foreign_id}, headers=other.auth())
    problem = await _problem(response, 400, "VALIDATION_ERROR")
    assert [e["field"] for e in problem["errors"]] == [field]
    listed = await _ok(await client.get("/v1/assets", headers=other.auth()))
    assert listed["meta"]["total"] == 0

    mine = await _ok(await client.post("/v1/assets", json={"name": "Mine"}, headers=other.auth()), 201)
    response = await client.patch(
        f"/v1/assets/{mine['data']['id']}", json={"name": "Changed", field: foreign_id}, headers=other.auth()
    )
    problem = await _problem(response, 400, "VALIDATION_ERROR")
    assert [e["field"] for e in problem["errors"]] == [field]
    after = await _ok(await client.get(f"/v1/assets/{mine['data']['id']}", headers=other.auth()))
    assert stable(after) == stable(mine)


# Tokens at rest


async def test_tokens_are_stored_only_as_a_hash(tenant: Tenant, pool: asyncpg.Pool) -> None:
    token, plain = await organisations.create_token(
        unit_of_work(pool), tenant.name, ["assets:read"], name="hashed"
    )
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM api_tokens WHERE id = $1", token.id)
        assert row is not None
        assert bytes(row["token_hash"]) == hashlib.sha256(plain.encode()).digest()
        secret = plain.removeprefix("usl_live_")
        for value in dict(row).values():
            assert secret not in str(value)
            if isinstance(value, bytes | bytearray | memoryview):
                assert secret.encode() not in bytes(value)
        # Nowhere in the database, in any table.
        tables = await conn.fetch(
            "SELECT quote_ident(table_name) AS t FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        )
        assert len(tables) > 5
        for table in tables:
            hits = await conn.fetchval(
                f"SELECT count(*) FROM {table['t']} x WHERE x::text LIKE '%' || $1 || '%'", secret
            )
            assert hits == 0, table["t"]
    listed = await organisations.list_tokens(unit_of_work(pool), tenant.name)
    assert token.id in {t.id for t in listed}
    assert plain not in repr(listed)


async def test_tokens_look_like_usl_live_and_carry_enough_randomness(
    tenant: Tenant, pool: asyncpg.Pool
) -> None:
    tokens = [
        (await organisations.create_token(unit_of_work(pool), tenant.name, ["assets:read"], name=f"t{i}"))[1]
        for i in range(40)
    ]
    assert len(set(tokens)) == len(tokens)
    for plain in tokens:
        assert plain.startswith("usl_live_")
        secret = plain.removeprefix("usl_live_")
        assert re.fullmatch(r"[A-Za-z0-9_-]+", secret), plain
        # ≥ 128 random bits in base64url is at least 22 characters; the README documents 43 (256 bits).
        assert len(secret) >= 22
        assert len(secret) == 43
    # The characters spread over the alphabet, as random ones do (a constant or counter would not).
    alphabet = Counter("".join(t.removeprefix("usl_live_") for t in tokens))
    assert len(alphabet) > 50
    # No two tokens share a long common prefix beyond "usl_live_".
    prefixes = {t[:14] for t in tokens}
    assert len(prefixes) >= 38
