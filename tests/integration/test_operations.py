"""Operations: health, readiness, metrics, request ids, the OpenAPI and AsyncAPI documents and
the docs page; migrations run twice and concurrently; the `assetflow` command line."""

import asyncio
import os
import re
import subprocess
import uuid
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from shared.db import ensure_database
from shared.migrate import available_migrations, migrate_database
from shared.services import organisations
from shared.services.unit_of_work import unit_of_work
from shared.settings import Settings
from tests.conftest import Tenant, poll

GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")
ALL_VERSIONS = [version for version, _ in available_migrations()]


def v1_routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, path template) of every /v1 route of the app, from its router."""
    found = set()
    for route in client.app.router.routes():
        # `*`: the 405 of a fixed path beside an `{id}` one (/v1/assets/import), not an operation
        if route.resource is None or route.method in ("HEAD", "*"):
            continue
        if route.resource.canonical.startswith("/v1/"):
            found.add((route.method, route.resource.canonical))
    return sorted(found)


# Health and readiness


async def test_healthz(client: TestClient) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}
    assert GENERATED_ID.match(response.headers["X-Request-ID"])


async def test_readyz_checks_the_database_and_the_broker(client: TestClient) -> None:
    async def ready() -> dict[str, Any] | None:
        response = await client.get("/readyz")
        return dict(await response.json()) if response.status == 200 else None

    # The relay connects to the broker when the app starts; give it a moment.
    body = await poll(ready, timeout=15, interval=0.1)
    assert body == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}


# Metrics


async def _metrics(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert "version=0.0.4" in response.headers["Content-Type"]
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_count_requests_by_route_and_status(client: TestClient, tenant: Tenant) -> None:
    before = await _metrics(client)
    missing = f"/v1/assets/{uuid.uuid4()}"
    for _ in range(3):
        assert (await client.get("/v1/assets", headers=tenant.auth())).status == 200
    for _ in range(2):
        assert (await client.get(missing, headers=tenant.auth())).status == 404
    assert (await client.get("/v1/assets")).status == 401
    assert (await client.post("/v1/assets", json={"name": "Counted"}, headers=tenant.auth())).status == 201
    after = await _metrics(client)

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    total = "assetflow_http_requests_total"
    assert delta(total, method="GET", route="/v1/assets", status="200") == 3
    assert delta(total, method="GET", route="/v1/assets/{id}", status="404") == 2
    assert delta(total, method="GET", route="/v1/assets", status="401") == 1
    assert delta(total, method="POST", route="/v1/assets", status="201") == 1

    latency = "assetflow_http_request_duration_seconds"
    assert delta(f"{latency}_count", method="GET", route="/v1/assets") == 4
    assert delta(f"{latency}_count", method="GET", route="/v1/assets/{id}") == 2
    assert delta(f"{latency}_sum", method="GET", route="/v1/assets") > 0
    assert _value(after, f"{latency}_bucket", method="GET", route="/v1/assets", le="+Inf") >= 4
    # Routes are labelled by their template, never by the raw path (which would explode the series).
    assert not any(missing in str(labels) for _, labels in after)


async def test_a_client_that_hangs_up_mid_upload_is_no_server_error(
    client: TestClient, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    """Counted as 499 (the client closed the request), not as a 500 with a traceback."""
    before = await _metrics(client)
    host, port = client.server.host, client.server.port
    assert port is not None
    _, writer = await asyncio.open_connection(host, port)
    head = (
        f"POST /v1/assets HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {tenant.token}\r\n"
        "Content-Type: application/json\r\nContent-Length: 500\r\n\r\n"
    )
    writer.write(head.encode() + b'{"name": "cut')
    await writer.drain()
    await asyncio.sleep(0.2)  # the handler is waiting for the rest of the body
    writer.close()
    await writer.wait_closed()
    total = "assetflow_http_requests_total"

    async def counted() -> bool:
        after = await _metrics(client)
        return _value(after, total, method="POST", route="/v1/assets", status="499") > _value(
            before, total, method="POST", route="/v1/assets", status="499"
        )

    await poll(counted)
    after = await _metrics(client)
    assert _value(after, total, method="POST", route="/v1/assets", status="500") == _value(
        before, total, method="POST", route="/v1/assets", status="500"
    )
    assert not [r for r in caplog.records if r.getMessage() == "unhandled error"]


async def test_metrics_name_the_relay_series(client: TestClient) -> None:
    names = {name for name, _ in await _metrics(client)}
    for expected in (
        "assetflow_http_requests_total",
        "assetflow_http_request_duration_seconds_count",
        "assetflow_outbox_backlog",
    ):
        assert expected in names, expected
    response = await client.get("/metrics")
    text = await response.text()
    for family in ("assetflow_events_published_total", "assetflow_events_publish_failures_total"):
        assert f"# TYPE {family.removesuffix('_total')} counter" in text or f"# TYPE {family} counter" in text


# Request ids


async def test_every_response_has_a_request_id(client: TestClient, tenant: Tenant) -> None:
    seen = set()
    requests: list[tuple[str, str, dict[str, str], int]] = [
        ("GET", "/healthz", {}, 200),
        ("GET", "/metrics", {}, 200),
        ("GET", "/openapi.json", {}, 200),
        ("GET", "/asyncapi.json", {}, 200),
        ("GET", "/docs", {}, 200),
        ("GET", "/docs/static/swagger-ui.css", {}, 200),
        ("GET", "/v1/assets", tenant.auth(), 200),
        ("GET", "/v1/assets", {}, 401),
        ("GET", "/v1/assets", tenant.auth(tenant.write_token), 403),
        ("GET", f"/v1/assets/{uuid.uuid4()}", tenant.auth(), 404),
        ("GET", "/no/such/route", {}, 404),
        ("PUT", "/v1/assets", tenant.auth(), 405),
        ("GET", "/v1/assets?limit=0", tenant.auth(), 400),
    ]
    for method, path, headers, status in requests:
        response = await client.request(method, path, headers=headers)
        assert response.status == status, (method, path, await response.text())
        request_id = response.headers.get("X-Request-ID", "")
        assert GENERATED_ID.match(request_id), (path, request_id)
        seen.add(request_id)
        if status >= 400:
            body = await response.json(content_type=None)
            assert body["request_id"] == request_id
    assert len(seen) == len(requests)


@pytest.mark.parametrize("given", ["my-trace-1", "req.2026:11:23_abc", "A" * 128, str(uuid.uuid4())])
async def test_a_sane_client_request_id_is_kept(client: TestClient, tenant: Tenant, given: str) -> None:
    response = await client.get("/v1/assets", headers={**tenant.auth(), "X-Request-ID": given})
    assert response.status == 200
    assert response.headers["X-Request-ID"] == given
    response = await client.get(
        f"/v1/assets/{uuid.uuid4()}", headers={**tenant.auth(), "X-Request-ID": given}
    )
    assert response.headers["X-Request-ID"] == given
    assert (await response.json(content_type=None))["request_id"] == given


@pytest.mark.parametrize("given", ["has space", "A" * 129, "<script>", "semi;colon", "ümlaut", ""])
async def test_an_insane_client_request_id_is_replaced(
    client: TestClient, tenant: Tenant, given: str
) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": given})
    assert response.status == 200
    assert GENERATED_ID.match(response.headers["X-Request-ID"])
    assert response.headers["X-Request-ID"] != given


async def test_method_not_allowed_names_the_allowed_methods(client: TestClient, tenant: Tenant) -> None:
    response = await client.put("/v1/assets", json={}, headers=tenant.auth())
    assert response.status == 405
    assert response.content_type == "application/problem+json"
    body = await response.json()
    assert body["code"] == "METHOD_NOT_ALLOWED"
    allowed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert {"GET", "POST"} <= allowed
    assert "PUT" not in allowed


# OpenAPI


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/"), ref
        node: Any = doc
        for part in ref[2:].split("/"):
            node = node[part]
        schema = node
    return schema


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


async def _openapi(client: TestClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    return dict(await response.json())


async def test_openapi_is_an_openapi_3_document(client: TestClient) -> None:
    doc = await _openapi(client)
    assert re.match(r"^3\.\d+\.\d+$", doc["openapi"])
    assert doc["info"]["title"] and doc["info"]["version"]
    assert isinstance(doc["paths"], dict) and doc["paths"]
    # Every reference resolves.
    for ref in _refs(doc):
        _resolve(doc, {"$ref": ref})
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    operation_ids = []
    for path, item in doc["paths"].items():
        assert path.startswith("/")
        for method, op in item.items():
            assert method in {"get", "put", "post", "delete", "options", "head", "patch", "trace"}, method
            assert op["responses"], (method, path)
            operation_ids.append(op["operationId"])
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"\{(\w+)\}", path)), (method, path)
    assert len(operation_ids) == len(set(operation_ids)), "operationIds must be unique"


async def test_openapi_covers_every_v1_route(client: TestClient) -> None:
    doc = await _openapi(client)
    routes = v1_routes(client)
    assert len(routes) >= 25
    for method, path in routes:
        assert path in doc["paths"], path
        op = doc["paths"][path].get(method.lower())
        assert op is not None, (method, path)
        assert op.get("security") == [{"bearer": []}], (method, path)
        assert "401" in op["responses"] and "403" in op["responses"], (method, path)
        if "{id}" in path:
            assert "404" in op["responses"], (method, path)


def _assert_closed(doc: dict[str, Any], schema: dict[str, Any], where: str, seen: set[str]) -> None:
    """An object schema with properties forbids unknown ones, down through nested models."""
    if "$ref" in schema:
        if schema["$ref"] in seen:
            return
        seen.add(schema["$ref"])
        schema = _resolve(doc, schema)
    if schema.get("type") == "object" and "properties" in schema:
        assert schema.get("additionalProperties") is False, where
        for name, prop in schema["properties"].items():
            _assert_closed(doc, prop, f"{where}.{name}", seen)
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            _assert_closed(doc, option, where, seen)
    if isinstance(schema.get("items"), dict):
        _assert_closed(doc, schema["items"], f"{where}[]", seen)


async def test_openapi_request_bodies_forbid_unknown_properties(client: TestClient) -> None:
    doc = await _openapi(client)
    bodies = 0
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if "requestBody" not in op:
                continue
            bodies += 1
            content = op["requestBody"]["content"]
            if "application/json" not in content:  # a file: the import's CSV or NDJSON bytes
                assert set(content) == {"text/csv", "application/x-ndjson"}, (method, path)
                continue
            schema = content["application/json"]["schema"]
            resolved = _resolve(doc, schema)
            assert resolved.get("type") == "object", (method, path)
            assert resolved.get("additionalProperties") is False, (method, path)
            _assert_closed(doc, schema, f"{method} {path}", set())
    writes = [(m, p) for m, p in v1_routes(client) if m in {"POST", "PATCH", "PUT"}]
    assert bodies >= len(writes) >= 11


async def test_openapi_documents_required_fields(client: TestClient) -> None:
    doc = await _openapi(client)
    create = _resolve(
        doc, doc["paths"]["/v1/assets"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    )
    assert create["required"] == ["name"]
    patch = _resolve(
        doc, doc["paths"]["/v1/assets/{id}"]["patch"]["requestBody"]["content"]["application/json"]["schema"]
    )
    assert not patch.get("required")
    kinds = _resolve(
        doc, doc["paths"]["/v1/asset-types"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    )
    assert set(kinds["required"]) == {"name", "code", "kind"}


# The docs page


class _Assets(HTMLParser):
    """The scripts and style sheets a page loads."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and found.get("src"):
            self.urls.append(found["src"] or "")
        if tag == "link" and found.get("rel") == "stylesheet" and found.get("href"):
            self.urls.append(found["href"] or "")


@pytest.mark.parametrize(
    ("path", "document"), [("/docs", "/openapi.json"), ("/docs/events", "/asyncapi.json")]
)
async def test_docs_pages_are_served_offline(client: TestClient, path: str, document: str) -> None:
    response = await client.get(path)
    assert response.status == 200
    assert response.content_type == "text/html"
    html = await response.text()
    assert document in html
    parser = _Assets()
    parser.feed(html)
    # No script, style sheet or anything else from another host.
    assert not re.search(r"(https?:)?//[a-z0-9.-]+", html, re.IGNORECASE), html
    kinds = set()
    for url in parser.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, url
        asset = await client.get(url)
        assert asset.status == 200, url
        assert len(await asset.read()) > 1000, url
        kinds.add(asset.content_type)
    assert "javascript" in " ".join(kinds)
    if path == "/docs":
        assert "text/css" in kinds
    else:  # the web component loads its style sheet itself, from the path the page gives it
        css = re.search(r'cssImportPath="([^"]+)"', html)
        assert css
        sheet = await client.get(css.group(1))
        assert sheet.status == 200 and sheet.content_type == "text/css"


async def test_docs_static_does_not_escape_its_folder(client: TestClient) -> None:
    for path in (
        "/docs/static/../../pyproject.toml",
        "/docs/static/%2e%2e/%2e%2e/pyproject.toml",
        "/docs/events/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/pyproject.toml",
    ):
        response = await client.get(path)
        assert response.status in {403, 404}, path
        assert "[project]" not in await response.text()


# AsyncAPI


async def test_asyncapi_names_the_exchange_and_routing_keys(client: TestClient, settings: Settings) -> None:
    response = await client.get("/asyncapi.json")
    assert response.status == 200
    doc = await response.json()
    assert re.match(r"^3\.\d+\.\d+$", doc["asyncapi"])
    assert doc["info"]["title"] and doc["info"]["version"]
    exchange = f"{settings.events_prefix}.events"
    addresses = {channel["address"] for channel in doc["channels"].values()}
    assert addresses >= {
        "asset.created",
        "asset.updated",
        "asset.deleted",
        "asset.warranty.expiring",
        "asset.warranty.expired",
        "asset.support.expiring",
        "asset.support.expired",
    }
    for name, channel in doc["channels"].items():
        binding = channel["bindings"]["amqp"]
        assert binding["is"] == "routingKey", name
        assert binding["exchange"]["name"] == exchange, name
        assert binding["exchange"]["type"] == "topic", name
        assert channel["messages"], name
    for ref in _refs(doc):
        _resolve(doc, {"$ref": ref})
    for name, op in doc["operations"].items():
        assert op["action"] in {"send", "receive"}, name
    sent = {
        _resolve(doc, op["channel"])["address"] for op in doc["operations"].values() if op["action"] == "send"
    }
    assert {"asset.created", "asset.updated", "asset.deleted"} <= sent
    payload = _resolve(doc, next(iter(doc["components"]["messages"].values()))["payload"])
    assert {"specversion", "id", "type", "data"} <= set(payload.get("properties", {}))


# Migrations


async def _applied(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        return [
            r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
        ]
    finally:
        await conn.close()


async def test_migrations_ship_in_order() -> None:
    assert len(ALL_VERSIONS) >= 2
    assert ALL_VERSIONS == sorted(ALL_VERSIONS)
    assert len(set(ALL_VERSIONS)) == len(ALL_VERSIONS)


async def test_migrating_twice_is_a_no_op_the_second_time(fresh_database: str) -> None:
    assert await migrate_database(fresh_database) == ALL_VERSIONS
    conn = await asyncpg.connect(fresh_database)
    try:
        tables = {
            r["t"]
            for r in await conn.fetch("SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public'")
        }
        schema = await conn.fetchval(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public'"
        )
    finally:
        await conn.close()
    assert {"organisations", "api_tokens", "assets", "outbox", "audit_log", "schema_migrations"} <= tables
    assert await migrate_database(fresh_database) == []
    assert await _applied(fresh_database) == ALL_VERSIONS
    conn = await asyncpg.connect(fresh_database)
    try:
        again = await conn.fetchval(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public'"
        )
    finally:
        await conn.close()
    assert again == schema


async def test_concurrent_migrations_apply_each_version_once(fresh_database: str) -> None:
    results = await asyncio.gather(*(migrate_database(fresh_database) for _ in range(4)))
    applied = [version for result in results for version in result]
    assert sorted(applied) == ALL_VERSIONS
    assert await _applied(fresh_database) == ALL_VERSIONS


def _cli(*args: str, database_url: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    return subprocess.run(
        ["uv", "run", "assetflow", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def cli(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(_cli, *args, database_url=database_url)


async def test_two_concurrent_cli_migrations_both_succeed(fresh_database: str) -> None:
    first, second = await asyncio.gather(
        cli("migrate", database_url=fresh_database), cli("migrate", database_url=fresh_database)
    )
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert await _applied(fresh_database) == ALL_VERSIONS


async def test_concurrent_cli_migrations_of_a_missing_database_both_succeed(missing_database: str) -> None:
    """`assetflow migrate` creates the database when it is missing, also when two run at once."""
    results = await asyncio.gather(*(cli("migrate", database_url=missing_database) for _ in range(2)))
    for done in results:
        assert done.returncode == 0, done.stderr
    assert await _applied(missing_database) == ALL_VERSIONS


async def test_concurrent_creation_of_a_missing_database(missing_database: str) -> None:
    results = await asyncio.gather(
        *(ensure_database(missing_database) for _ in range(6)), return_exceptions=True
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    assert results.count(True) == 1
    assert await ensure_database(missing_database) is False


# The command line


async def _status(client: TestClient, token: str) -> int:
    return (await client.get("/v1/assets", headers={"Authorization": f"Bearer {token}"})).status


def _listed(output: str, name: str) -> list[str]:
    """The tab-separated columns of the `token list` line of the token named `name`."""
    lines = [line.split("\t") for line in output.splitlines() if line.strip()]
    matches = [cols for cols in lines if len(cols) > 1 and cols[1] == name]
    assert len(matches) == 1, output
    return matches[0]


async def test_cli_org_and_token_lifecycle(client: TestClient, settings: Settings) -> None:
    db = settings.database_url.get_secret_value()
    org = f"CLI Org {uuid.uuid4().hex[:8]}"
    prefix = "Q" + uuid.uuid4().hex[:5].upper()
    made = await cli("org", "create", org, "--prefix", prefix, database_url=db)
    assert made.returncode == 0, made.stderr
    assert made.stdout == ""

    created = await cli(
        "token",
        "create",
        "--org",
        org,
        "--scope",
        "assets:read",
        "--scope",
        "assets:write",
        "--name",
        "ci-bot",
        database_url=db,
    )
    assert created.returncode == 0, created.stderr
    assert re.fullmatch(r"usl_live_[A-Za-z0-9_-]{43}\n", created.stdout), created.stdout
    token = created.stdout.strip()

    # The token works against the app on the same database, for the organisation made above.
    headers = {"Authorization": f"Bearer {token}"}
    response = await client.post("/v1/assets", json={"name": "Made with a CLI token"}, headers=headers)
    assert response.status == 201, await response.text()
    assert (await response.json())["data"]["asset_tag"].startswith(f"{prefix}-")
    assert await _status(client, token) == 200

    listed = await cli("token", "list", "--org", org, database_url=db)
    assert listed.returncode == 0, listed.stderr
    assert token not in listed.stdout and token.removeprefix("usl_live_") not in listed.stdout
    columns = _listed(listed.stdout, "ci-bot")
    token_id = columns[0]
    uuid.UUID(token_id)
    assert columns[2] == "assets:read,assets:write"
    assert columns[3] == "live"

    revoked = await cli("token", "revoke", token, database_url=db)
    assert revoked.returncode == 0, revoked.stderr
    assert await _status(client, token) == 401
    listed, again = await asyncio.gather(
        cli("token", "list", "--org", org, database_url=db), cli("token", "revoke", token_id, database_url=db)
    )
    assert _listed(listed.stdout, "ci-bot")[3] == "revoked"
    # Revoking what is already revoked says so and fails.
    assert again.returncode != 0
    assert again.stdout == ""
    assert "Traceback" not in again.stderr


async def test_cli_revoke_by_id_and_scopes(
    client: TestClient, settings: Settings, pool: asyncpg.Pool
) -> None:
    db = settings.database_url.get_secret_value()
    org = f"CLI Org {uuid.uuid4().hex[:8]}"
    await organisations.create_organisation(unit_of_work(pool), org, "XYZ")
    reader, writer = await asyncio.gather(
        cli("token", "create", "--org", org, "--scope", "assets:read", "--name", "reader", database_url=db),
        cli("token", "create", "--org", org, "--scope", "assets:write", "--name", "writer", database_url=db),
    )
    assert reader.returncode == 0 and writer.returncode == 0, (reader.stderr, writer.stderr)
    read_token, write_token = reader.stdout.strip(), writer.stdout.strip()
    assert await _status(client, read_token) == 200
    assert await _status(client, write_token) == 403
    response = await client.post(
        "/v1/assets", json={"name": "Nope"}, headers={"Authorization": f"Bearer {read_token}"}
    )
    assert response.status == 403
    response = await client.post(
        "/v1/assets", json={"name": "Yes"}, headers={"Authorization": f"Bearer {write_token}"}
    )
    assert response.status == 201
    assert (await response.json())["data"]["asset_tag"].startswith("XYZ-")
    listed = await cli("token", "list", "--org", org, database_url=db)
    columns = _listed(listed.stdout, "reader")
    assert columns[2] == "assets:read"
    assert _listed(listed.stdout, "writer")[2] == "assets:write"
    revoked = await cli("token", "revoke", columns[0], database_url=db)
    assert revoked.returncode == 0, revoked.stderr
    assert await _status(client, read_token) == 401
    # Only that token stopped working.
    response = await client.post(
        "/v1/assets", json={"name": "Still"}, headers={"Authorization": f"Bearer {write_token}"}
    )
    assert response.status == 201


async def test_cli_token_with_a_past_expiry_does_not_work(
    client: TestClient, settings: Settings, pool: asyncpg.Pool
) -> None:
    db = settings.database_url.get_secret_value()
    org = f"CLI Org {uuid.uuid4().hex[:8]}"
    await organisations.create_organisation(unit_of_work(pool), org)
    expired, live = await asyncio.gather(
        cli(
            "token",
            "create",
            "--org",
            org,
            "--scope",
            "assets:read",
            "--expires",
            "2020-01-01",
            database_url=db,
        ),
        cli(
            "token",
            "create",
            "--org",
            org,
            "--scope",
            "assets:read",
            "--expires",
            "2999-01-01",
            database_url=db,
        ),
    )
    assert expired.returncode == 0 and live.returncode == 0, (expired.stderr, live.stderr)
    assert await _status(client, expired.stdout.strip()) == 401
    assert await _status(client, live.stdout.strip()) == 200


async def test_cli_refuses_unknown_organisations_and_duplicates(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    db = settings.database_url.get_secret_value()
    org = f"CLI Org {uuid.uuid4().hex[:8]}"
    await organisations.create_organisation(unit_of_work(pool), org)
    unknown, duplicate, bad_scope = await asyncio.gather(
        cli("token", "create", "--org", f"{org} nope", "--scope", "assets:read", database_url=db),
        cli("org", "create", org, database_url=db),
        cli("token", "create", "--org", org, "--scope", "assets:admin", database_url=db),
    )
    for done in (unknown, duplicate, bad_scope):
        assert done.returncode != 0, done.args
        assert done.stdout == "", done.args
        assert "Traceback" not in done.stderr, done.stderr
        assert done.stderr.strip(), done.args
    assert f"{org} nope" in unknown.stderr or "not found" in unknown.stderr.lower()
    assert [t.name for t in await organisations.list_tokens(unit_of_work(pool), org)] == []
