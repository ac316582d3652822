"""The event stream as a subscriber sees it: one CloudEvent per asset write, with the right body."""

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from shared.events import AssetChangeEvent, EventType
from shared.services import organisations
from shared.services.unit_of_work import unit_of_work
from shared.settings import Settings
from shared.topology import Topology, declare_exchange
from tests.conftest import EventTap, TapFactory, Tenant, TenantFactory, poll


@pytest.fixture(autouse=True)
def _own_broker_names(broker: str, settings: Settings) -> None:
    assert settings.events_prefix == broker


CHANGE_KEYS = ("asset.created", "asset.updated", "asset.deleted")
BOOKKEEPING = {"id", "created_at", "updated_at", "warranty_status", "support_status", "book_value"}


# --------------------------------------------------------------------------- helpers


async def token_id(pool: asyncpg.Pool, tenant: Tenant, name: str = "token") -> str:
    """The id of the tenant's token with that name (the fixture's read+write token is 'token')."""
    async with pool.acquire() as conn:
        value = await conn.fetchval(
            "SELECT id FROM api_tokens WHERE org_id = $1 AND name = $2", tenant.org_id, name
        )
    assert value is not None
    return str(value)


async def outbox_rows(pool: asyncpg.Pool, org_id: uuid.UUID) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return list(
            await conn.fetch(
                "SELECT seq, routing_key, sent_at FROM outbox WHERE org_id = $1 ORDER BY seq", org_id
            )
        )


async def outbox_drained(pool: asyncpg.Pool, org_id: uuid.UUID) -> None:
    """Wait until every outbox row of the organisation has been published."""

    async def drained() -> bool:
        rows = await outbox_rows(pool, org_id)
        return all(r["sent_at"] is not None for r in rows)

    await poll(drained)


async def create(client: TestClient, tenant: Tenant, **fields: Any) -> tuple[dict[str, Any], str]:
    response = await client.post("/v1/assets", json=fields, headers=tenant.auth())
    assert response.status == 201, await response.text()
    return (await response.json())["data"], response.headers["X-Request-ID"]


async def marker(client: TestClient, tenant: Tenant, tap: EventTap) -> list[dict[str, Any]]:
    """Write a marker asset and wait for its event: every earlier event of the tenant has then arrived
    (the relay publishes in outbox order). Returns the events seen before the marker."""
    asset, _ = await create(client, tenant, name=f"marker-{uuid.uuid4().hex[:8]}")
    seen: list[dict[str, Any]] = []

    def is_marker(event: dict[str, Any]) -> bool:
        if event["subject"] == asset["id"]:
            return True
        seen.append(event)
        return False

    await tap.until(is_marker)
    return seen + await tap.drain()


def parse_time(value: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert moment.tzinfo is not None, value
    return moment


def assert_envelope(event: dict[str, Any], event_type: str, asset_id: str, tenant: Tenant) -> None:
    assert event["specversion"] == "1.0"
    assert str(uuid.UUID(event["id"])) == event["id"]
    assert event["source"] == "urn:assetflow:api"
    assert event["type"] == event_type
    assert event["subject"] == asset_id
    assert event["datacontenttype"] == "application/json"
    assert event["orgid"] == str(tenant.org_id)
    moment = parse_time(event["time"])
    assert abs((dt.datetime.now(dt.UTC) - moment).total_seconds()) < 60
    # The whole body is what the published contract says it is.
    AssetChangeEvent.model_validate(event)


@pytest.fixture
async def raw_queue(
    amqp_url: str, settings: Settings, client: TestClient
) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    """A queue of the test's own bound to every change, for looking at raw messages and their properties."""
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    exchange = await declare_exchange(channel, Topology(settings.events_prefix))
    queue = await channel.declare_queue("", exclusive=True, auto_delete=True)
    for key in CHANGE_KEYS:
        await queue.bind(exchange, routing_key=key)
    yield queue
    await connection.close()


async def raw_message(
    queue: aio_pika.abc.AbstractQueue, subject: str, event_type: str
) -> aio_pika.abc.AbstractIncomingMessage:
    async def found() -> aio_pika.abc.AbstractIncomingMessage | None:
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            body = json.loads(message.body)
            if body["subject"] == subject and body["type"] == event_type:
                return message
        return None

    message: aio_pika.abc.AbstractIncomingMessage = await poll(found, interval=0.02)
    return message


# --------------------------------------------------------------------------- one event per write


async def test_create_patch_delete_each_publish_exactly_one_event(
    client: TestClient, tenant: Tenant, event_tap: TapFactory, pool: asyncpg.Pool
) -> None:
    tap = await event_tap("asset.#")
    actor_id = await token_id(pool, tenant)

    created, created_rid = await create(
        client, tenant, name="Event laptop", purchase_price=10.5, serial_number="SN-EV-1", notes="first"
    )
    asset_id = created["id"]
    event = await tap.until(lambda e: e["subject"] == asset_id)
    assert_envelope(event, "asset.created", asset_id, tenant)
    data = event["data"]
    assert data["asset"] == created
    assert data["version"] == 1
    assert data["actor"] == {"id": actor_id, "name": "token"}
    assert data["request_id"] == created_rid
    # A create starts every set field from null; bookkeeping fields are not changes.
    assert data["changes"]["name"] == {"from": None, "to": "Event laptop"}
    assert data["changes"]["purchase_price"] == {"from": None, "to": 10.5}
    assert data["changes"]["serial_number"] == {"from": None, "to": "SN-EV-1"}
    assert data["changes"]["notes"] == {"from": None, "to": "first"}
    assert data["changes"]["asset_tag"] == {"from": None, "to": created["asset_tag"]}
    assert not BOOKKEEPING & data["changes"].keys()
    assert all(change["from"] is None for change in data["changes"].values())
    assert all(change["to"] is not None for change in data["changes"].values())

    patched = await client.patch(
        f"/v1/assets/{asset_id}", json={"purchase_price": 12, "notes": "second"}, headers=tenant.auth()
    )
    assert patched.status == 200, await patched.text()
    after_patch = (await patched.json())["data"]
    event = await tap.until(lambda e: e["subject"] == asset_id)
    assert_envelope(event, "asset.updated", asset_id, tenant)
    data = event["data"]
    assert data["version"] == 2
    assert data["asset"] == after_patch
    assert data["changes"] == {
        "purchase_price": {"from": 10.5, "to": 12},
        "notes": {"from": "first", "to": "second"},
    }
    assert data["actor"] == {"id": actor_id, "name": "token"}
    assert data["request_id"] == patched.headers["X-Request-ID"]

    last = await client.get(f"/v1/assets/{asset_id}", headers=tenant.auth())
    last_state = (await last.json())["data"]
    deleted = await client.delete(f"/v1/assets/{asset_id}", headers=tenant.auth())
    assert deleted.status == 200, await deleted.text()
    event = await tap.until(lambda e: e["subject"] == asset_id)
    assert_envelope(event, "asset.deleted", asset_id, tenant)
    data = event["data"]
    assert data["version"] == 3
    expected_last = {k: v for k, v in last_state.items() if k not in BOOKKEEPING - {"id"}}
    assert {k: v for k, v in data["asset"].items() if k in expected_last} == expected_last
    assert data["changes"]["purchase_price"] == {"from": 12, "to": None}
    assert data["changes"]["name"] == {"from": "Event laptop", "to": None}
    assert all(change["to"] is None for change in data["changes"].values())
    assert data["request_id"] == deleted.headers["X-Request-ID"]

    # Exactly one event per write: nothing else about this asset follows.
    await outbox_drained(pool, tenant.org_id)
    extra = [e for e in await marker(client, tenant, tap) if e["subject"] == asset_id]
    assert extra == []
    # And the outbox holds exactly the three events of the asset plus the marker's.
    keys = [r["routing_key"] for r in await outbox_rows(pool, tenant.org_id)]
    assert keys == ["asset.created", "asset.updated", "asset.deleted", "asset.created"]


async def test_versions_count_every_change(client: TestClient, tenant: Tenant, event_tap: TapFactory) -> None:
    tap = await event_tap("asset.*")
    asset, _ = await create(client, tenant, name="v0")
    for n in range(1, 5):
        response = await client.patch(
            f"/v1/assets/{asset['id']}", json={"name": f"v{n}"}, headers=tenant.auth()
        )
        assert response.status == 200
    await client.delete(f"/v1/assets/{asset['id']}", headers=tenant.auth())
    events = [await tap.until(lambda e: e["subject"] == asset["id"]) for _ in range(6)]
    assert [e["data"]["version"] for e in events] == [1, 2, 3, 4, 5, 6]
    assert [e["type"] for e in events] == ["asset.created"] + ["asset.updated"] * 4 + ["asset.deleted"]
    assert [e["data"]["changes"]["name"] for e in events[1:5]] == [
        {"from": f"v{n - 1}", "to": f"v{n}"} for n in range(1, 5)
    ]
    assert len({e["id"] for e in events}) == 6


async def test_concurrent_patches_of_one_asset_get_successive_versions_in_order(
    client: TestClient, tenant: Tenant, event_tap: TapFactory
) -> None:
    tap = await event_tap("asset.updated")
    asset, _ = await create(client, tenant, name="c0")
    responses = await asyncio.gather(
        *(
            client.patch(f"/v1/assets/{asset['id']}", json={"name": f"c{n}"}, headers=tenant.auth())
            for n in range(1, 11)
        )
    )
    assert [r.status for r in responses] == [200] * 10
    events = [await tap.until(lambda e: e["subject"] == asset["id"]) for _ in range(10)]
    # Published in the order they were committed: each changes what the previous one left.
    assert [e["data"]["version"] for e in events] == list(range(2, 12))
    names = ["c0"] + [e["data"]["asset"]["name"] for e in events]
    assert [e["data"]["changes"]["name"] for e in events] == [
        {"from": names[i], "to": names[i + 1]} for i in range(10)
    ]
    assert sorted(names[1:]) == sorted(f"c{n}" for n in range(1, 11))
    final = await client.get(f"/v1/assets/{asset['id']}", headers=tenant.auth())
    assert (await final.json())["data"]["name"] == names[-1]


async def test_message_is_persistent_structured_cloudevent_with_exact_decimals(
    client: TestClient, tenant: Tenant, raw_queue: aio_pika.abc.AbstractQueue
) -> None:
    asset, _ = await create(client, tenant, name="Raw", purchase_price=10.5, estimated_salvage_value=1)
    message = await raw_message(raw_queue, asset["id"], "asset.created")
    assert message.routing_key == "asset.created"
    assert message.content_type == "application/cloudevents+json"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    # Prices are JSON numbers with their exact digits, never strings or floats.
    assert b'"purchase_price":10.50' in message.body
    assert b'"estimated_salvage_value":1.00' in message.body

    response = await client.patch(
        f"/v1/assets/{asset['id']}", json={"purchase_price": 12}, headers=tenant.auth()
    )
    assert response.status == 200
    message = await raw_message(raw_queue, asset["id"], "asset.updated")
    assert message.routing_key == "asset.updated"
    assert b'"changes":{"purchase_price":{"from":10.50,"to":12.00}}' in message.body


async def test_actor_is_the_token_id_and_name(
    client: TestClient, tenant: Tenant, event_tap: TapFactory, pool: asyncpg.Pool
) -> None:
    tap = await event_tap("asset.created")
    token, plain = await organisations.create_token(
        unit_of_work(pool), tenant.name, ["assets:read", "assets:write"], name="alice"
    )
    response = await client.post("/v1/assets", json={"name": "Alice's"}, headers=tenant.auth(plain))
    assert response.status == 201
    asset = (await response.json())["data"]
    event = await tap.until(lambda e: e["subject"] == asset["id"])
    assert event["data"]["actor"] == {"id": str(token.id), "name": "alice"}

    # The write-only token of the fixture is named "write".
    response = await client.post(
        "/v1/assets", json={"name": "Writer's"}, headers=tenant.auth(tenant.write_token)
    )
    assert response.status == 201
    other = (await response.json())["data"]
    event = await tap.until(lambda e: e["subject"] == other["id"])
    assert event["data"]["actor"] == {"id": await token_id(pool, tenant, "write"), "name": "write"}


async def test_request_id_of_the_client_is_carried_into_the_event(
    client: TestClient, tenant: Tenant, event_tap: TapFactory
) -> None:
    tap = await event_tap("asset.created")
    mine = uuid.uuid4().hex
    response = await client.post(
        "/v1/assets", json={"name": "Traced"}, headers={**tenant.auth(), "X-Request-ID": mine}
    )
    assert response.status == 201
    assert response.headers["X-Request-ID"] == mine
    asset = (await response.json())["data"]
    event = await tap.until(lambda e: e["subject"] == asset["id"])
    assert event["data"]["request_id"] == mine


# --------------------------------------------------------------------------- no change, no event


async def test_patch_that_changes_nothing_makes_no_event(
    client: TestClient, tenant: Tenant, event_tap: TapFactory, pool: asyncpg.Pool
) -> None:
    tap = await event_tap("asset.#")
    asset, _ = await create(
        client, tenant, name="Same", purchase_price=12, status="in_use", notes="n", custom_fields={"a": 1}
    )
    await tap.until(lambda e: e["subject"] == asset["id"])
    await outbox_drained(pool, tenant.org_id)
    before = len(await outbox_rows(pool, tenant.org_id))

    for body in (
        {"name": "Same"},
        {"purchase_price": 12},
        {"purchase_price": "12.00"},
        {"purchase_price": 12.0, "status": "in_use", "notes": "n"},
        {"custom_fields": {"a": 1}},
        {"serial_number": None},
        {},
    ):
        response = await client.patch(f"/v1/assets/{asset['id']}", json=body, headers=tenant.auth())
        assert response.status == 200, (body, await response.text())
        data = (await response.json())["data"]
        assert data["updated_at"] == asset["updated_at"], body

    assert len(await outbox_rows(pool, tenant.org_id)) == before
    seen = await marker(client, tenant, tap)
    assert [e for e in seen if e["subject"] == asset["id"]] == []


async def test_rejected_writes_make_no_event_and_no_outbox_row(
    client: TestClient, tenant: Tenant, event_tap: TapFactory, pool: asyncpg.Pool
) -> None:
    tap = await event_tap("asset.#")
    asset, _ = await create(client, tenant, name="Kept", purchase_price=5)
    await tap.until(lambda e: e["subject"] == asset["id"])
    before = len(await outbox_rows(pool, tenant.org_id))
    missing = str(uuid.uuid4())
    attempts: list[tuple[str, str, Any, int]] = [
        ("POST", "/v1/assets", {}, 400),
        ("POST", "/v1/assets", {"name": "x", "purchase_price": 1.001}, 400),
        ("POST", "/v1/assets", {"name": "x", "unknown_field": 1}, 400),
        ("POST", "/v1/assets", {"name": "x", "assigned_to": missing}, 400),
        ("PATCH", f"/v1/assets/{asset['id']}", {"purchase_price": -1}, 400),
        ("PATCH", f"/v1/assets/{asset['id']}", {"name": None}, 400),
        ("PATCH", f"/v1/assets/{asset['id']}", {"purchase_date": "2024-13-01"}, 400),
        ("PATCH", f"/v1/assets/{missing}", {"name": "y"}, 404),
        ("DELETE", f"/v1/assets/{missing}", None, 404),
        ("DELETE", "/v1/assets/not-an-id", None, 404),
    ]
    for method, path, body, status in attempts:
        response = await client.request(method, path, json=body, headers=tenant.auth())
        assert response.status == status, (method, path, body, await response.text())

    # Another organisation's asset is not found, and nothing is written for either.
    other = await _other_tenant_asset(client, tenant, pool)
    response = await client.patch(f"/v1/assets/{other}", json={"name": "hijack"}, headers=tenant.auth())
    assert response.status == 404
    response = await client.delete(f"/v1/assets/{other}", headers=tenant.auth())
    assert response.status == 404

    assert len(await outbox_rows(pool, tenant.org_id)) == before
    seen = await marker(client, tenant, tap)
    assert [e for e in seen if e["orgid"] == str(tenant.org_id)] == []
    assert [e for e in seen if e["subject"] == other and e["type"] != "asset.created"] == []
    stored = await client.get(f"/v1/assets/{asset['id']}", headers=tenant.auth())
    assert (await stored.json())["data"]["purchase_price"] == 5


async def _other_tenant_asset(client: TestClient, tenant: Tenant, pool: asyncpg.Pool) -> str:
    """An asset of a second organisation (made directly, so the test does not need its fixture)."""
    name = f"org-{uuid.uuid4().hex[:12]}"
    await organisations.create_organisation(unit_of_work(pool), name, None)
    _, token = await organisations.create_token(unit_of_work(pool), name, ["assets:read", "assets:write"])
    response = await client.post(
        "/v1/assets", json={"name": "Theirs"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 201
    return str((await response.json())["data"]["id"])


# --------------------------------------------------------------------------- tenants


async def test_events_of_two_tenants_carry_their_organisation(
    client: TestClient, make_tenant: TenantFactory, event_tap: TapFactory, pool: asyncpg.Pool
) -> None:
    tap = await event_tap("asset.*")
    first: Tenant = await make_tenant()
    second: Tenant = await make_tenant()
    a, _ = await create(client, first, name="Same name")
    b, _ = await create(client, second, name="Same name")
    event_a = await tap.until(lambda e: e["subject"] == a["id"])
    tap_b = await tap.until(lambda e: e["subject"] == b["id"])
    assert event_a["orgid"] == str(first.org_id)
    assert tap_b["orgid"] == str(second.org_id)
    assert event_a["orgid"] != tap_b["orgid"]
    assert event_a["data"]["actor"]["id"] == await token_id(pool, first)
    assert tap_b["data"]["actor"]["id"] == await token_id(pool, second)
    rows_a = await outbox_rows(pool, first.org_id)
    rows_b = await outbox_rows(pool, second.org_id)
    assert len(rows_a) == 1 and len(rows_b) == 1


# --------------------------------------------------------------------------- the contract document


async def test_asyncapi_lists_every_event_type_and_the_exchange(
    client: TestClient, settings: Settings
) -> None:
    response = await client.get("/asyncapi.json")
    assert response.status == 200
    doc = await response.json()
    assert str(doc["asyncapi"]).startswith("3.")
    addresses = {channel["address"] for channel in doc["channels"].values()}
    assert addresses == {t.value for t in EventType}
    exchange = f"{settings.events_prefix}.events"
    for channel in doc["channels"].values():
        binding = channel["bindings"]["amqp"]
        assert binding["is"] == "routingKey"
        assert binding["exchange"]["name"] == exchange
        assert binding["exchange"]["type"] == "topic"
    titles = {message["name"] for message in doc["components"]["messages"].values()}
    assert titles == {t.value for t in EventType}
    for message in doc["components"]["messages"].values():
        assert message["contentType"] == "application/cloudevents+json"
    schemas = json.dumps(doc["components"]["schemas"])
    for member in ("specversion", "orgid", "request_id", "changes", "days_left"):
        assert member in schemas
