"""The "never lost" guarantees: redelivery and stale versions are harmless, poison goes to the
dead-letter queues, and no event is lost or applied twice when the broker goes away, when a worker
is killed or stopped, or when the api starts while the broker is unreachable.

Every test here runs its own app, worker(s), broker names (prefix `assetflow-res-…`) and database
(a copy of a migrated template), so that cutting connections or killing workers never touches the
session's shared app and worker, and no other relay can claim this test's outbox rows.
"""

import asyncio
import contextlib
import json
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aio_pika
import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from shared.db import create_pool
from shared.settings import Settings
from shared.topology import CONSUMERS, Topology, declare_all, declare_exchange
from tests.conftest import EventTap, TenantFactory, WorkerStarter, app_of, poll, worker_of
from tests.e2e.tcp_proxy import TcpProxy

# Helpers ---------------------------------------------------------------------------------------


def _settings(base: Settings, prefix: str, amqp_url: str | None = None) -> Settings:
    """Settings of a test's own: its own broker names, fast relay, no worker HTTP port."""
    return Settings(
        database_url=base.database_url,
        amqp_url=amqp_url or base.amqp_url,
        events_prefix=prefix,
        relay_poll_seconds=0.1,
        publish_timeout_seconds=2.0,
        worker_port=0,
        worker_prefetch=20,
        db_pool_max_size=10,
    )


def _consumed(registry: CollectorRegistry, consumer: str, outcome: str) -> float:
    value = registry.get_sample_value(
        "assetflow_events_consumed_total", {"consumer": consumer, "outcome": outcome}
    )
    return value or 0.0


@pytest.fixture
async def pool(res_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """Overrides the session pool for this module, so that `make_tenant` makes tenants in the test's
    own database."""
    test_pool = await create_pool(res_database_url, min_size=1, max_size=5)
    yield test_pool
    await test_pool.close()


@pytest.fixture
def settings(res_database_url: str, amqp_url: str) -> Settings:
    """Overrides the session settings for this module: the test's own database."""
    return Settings(database_url=res_database_url, amqp_url=amqp_url)


@pytest.fixture
async def direct(amqp_url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    """A channel straight to RabbitMQ (never through a proxy)."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        yield await connection.channel()


async def _tap(channel: aio_pika.abc.AbstractChannel, prefix: str, *keys: str) -> EventTap:
    exchange = await declare_exchange(channel, Topology(prefix))
    queue = await channel.declare_queue("", exclusive=True, auto_delete=True)
    for key in keys or ("asset.*",):
        await queue.bind(exchange, routing_key=key)
    return EventTap(queue)


async def _republish(channel: aio_pika.abc.AbstractChannel, prefix: str, body: bytes, key: str) -> None:
    exchange = await declare_exchange(channel, Topology(prefix))
    await exchange.publish(
        aio_pika.Message(
            body,
            content_type="application/cloudevents+json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        ),
        routing_key=key,
    )


def _body(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


async def _create(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = await client.post("/v1/assets", json=fields, headers=headers)
    assert response.status == 201, await response.text()
    return dict((await response.json())["data"])


async def _patch(client: TestClient, headers: dict[str, str], asset_id: str, **fields: Any) -> dict[str, Any]:
    response = await client.patch(f"/v1/assets/{asset_id}", json=fields, headers=headers)
    assert response.status == 200, await response.text()
    return dict((await response.json())["data"])


async def _event_ids(pool: asyncpg.Pool, org_id: uuid.UUID) -> list[uuid.UUID]:
    """The org's events in outbox order."""
    rows = await pool.fetch("SELECT event_id FROM outbox WHERE org_id = $1 ORDER BY seq", org_id)
    return [r["event_id"] for r in rows]


async def _unsent(pool: asyncpg.Pool, org_id: uuid.UUID) -> int:
    query = "SELECT count(*) FROM outbox WHERE org_id = $1 AND sent_at IS NULL"
    return int(await pool.fetchval(query, org_id))


async def _processed(pool: asyncpg.Pool, org_id: uuid.UUID) -> int:
    """Handler applications (all consumers) recorded for the org's events."""
    return int(
        await pool.fetchval(
            """SELECT count(*) FROM processed_events p JOIN outbox o ON o.event_id = p.event_id
               WHERE o.org_id = $1""",
            org_id,
        )
    )


async def _audit_counts(pool: asyncpg.Pool, org_id: uuid.UUID) -> dict[tuple[uuid.UUID, int], int]:
    rows = await pool.fetch(
        "SELECT asset_id, version, count(*) AS n FROM audit_log WHERE org_id = $1 GROUP BY 1, 2", org_id
    )
    return {(r["asset_id"], r["version"]): r["n"] for r in rows}


async def _versions(pool: asyncpg.Pool, org_id: uuid.UUID) -> dict[uuid.UUID, int]:
    """Each asset's last version, from the events the api committed (a delete's included)."""
    rows = await pool.fetch(
        """SELECT (convert_from(body, 'UTF8')::jsonb ->> 'subject')::uuid AS id,
                  max((convert_from(body, 'UTF8')::jsonb -> 'data' ->> 'version')::int) AS version
           FROM outbox WHERE org_id = $1 GROUP BY 1""",
        org_id,
    )
    return {r["id"]: r["version"] for r in rows}


async def _everything_applied(pool: asyncpg.Pool, org_id: uuid.UUID) -> bool:
    """Every outbox event of the org is in the audit log, and both projections are at each asset's
    current version."""
    events = set(await _event_ids(pool, org_id))
    rows = await pool.fetch("SELECT event_id FROM audit_log WHERE org_id = $1", org_id)
    audited = {r["event_id"] for r in rows}
    if audited != events:
        return False
    current = await _versions(pool, org_id)
    for table in ("asset_lifecycle", "asset_depreciation"):
        rows = await pool.fetch(f"SELECT asset_id, version FROM {table} WHERE org_id = $1", org_id)
        if {r["asset_id"]: r["version"] for r in rows} != current:
            return False
    return True


async def _assert_exactly_once(pool: asyncpg.Pool, org_id: uuid.UUID) -> None:
    """Each (asset, version) audited once, versions 1..n with no gap, each consumer once per event."""
    counts = await _audit_counts(pool, org_id)
    doubled = {k: n for k, n in counts.items() if n != 1}
    assert not doubled, f"audit entries doubled: {doubled}"
    current = await _versions(pool, org_id)
    for asset_id, version in current.items():
        assert {v for (a, v) in counts if a == asset_id} == set(range(1, version + 1)), asset_id
    events = await _event_ids(pool, org_id)
    per_consumer = await pool.fetch(
        """SELECT p.consumer, count(*) AS n FROM processed_events p JOIN outbox o ON o.event_id = p.event_id
           WHERE o.org_id = $1 GROUP BY 1""",
        org_id,
    )
    assert {r["consumer"]: r["n"] for r in per_consumer} == dict.fromkeys(CONSUMERS, len(events))


# 1. Redelivery ---------------------------------------------------------------------------------


async def test_redelivered_events_are_applied_once(
    settings: Settings,
    prefix: str,
    make_tenant: TenantFactory,
    pool: asyncpg.Pool,
    direct: aio_pika.abc.AbstractChannel,
) -> None:
    mine = _settings(settings, prefix)
    registry = CollectorRegistry()
    tenant = await make_tenant()
    tap = await _tap(direct, prefix)
    async with app_of(mine) as client, worker_of(mine, registry):
        asset = await _create(
            client,
            tenant.auth(),
            name="Redelivered",
            purchase_price=3600.0,
            purchase_date="2024-01-15",
            depreciation_schedule="3_year_33_percent",
            warranty_until="2099-01-01",
        )
        await _patch(client, tenant.auth(), asset["id"], purchase_price=7200.0)
        created = await tap.until(lambda e: e["subject"] == asset["id"] and e["type"] == "asset.created")
        updated = await tap.until(lambda e: e["subject"] == asset["id"] and e["type"] == "asset.updated")
        assert updated["data"]["version"] == 2

        async def settled() -> bool:
            return await _everything_applied(pool, tenant.org_id)

        await poll(settled)
        before = await client.get(f"/v1/assets/{asset['id']}/depreciation", headers=tenant.auth())
        assert before.status == 200
        schedule_before = (await before.json())["data"]
        assert Decimal(str(schedule_before["original_cost"])) == Decimal("7200")
        history_before = await client.get(f"/v1/assets/{asset['id']}/history", headers=tenant.auth())
        entries_before = (await history_before.json())["data"]
        assert len(entries_before) == 2

        skipped = {c.value: _consumed(registry, c, "skipped") for c in CONSUMERS}
        applied = {c.value: _consumed(registry, c, "applied") for c in CONSUMERS}
        assert applied["audit"] == 2
        # The same messages again, twice each: what a redelivery after a lost ack looks like.
        for event in (created, updated, created, updated):
            await _republish(direct, prefix, _body(event), event["type"])

        async def skipped_all() -> bool:
            return all(_consumed(registry, c, "skipped") >= skipped[c] + 4 for c in CONSUMERS)

        await poll(skipped_all)
        assert {c.value: _consumed(registry, c, "applied") for c in CONSUMERS} == applied

        history_after = await client.get(f"/v1/assets/{asset['id']}/history", headers=tenant.auth())
        entries_after = (await history_after.json())["data"]
        assert entries_after == entries_before
        assert sorted(e["version"] for e in entries_after) == [1, 2]
        after = await client.get(f"/v1/assets/{asset['id']}/depreciation", headers=tenant.auth())
        assert (await after.json())["data"] == schedule_before
        await _assert_exactly_once(pool, tenant.org_id)


# 3. Poison -------------------------------------------------------------------------------------


async def _dead_letters(channel: aio_pika.abc.AbstractChannel, queue_name: str, want: int) -> list[Any]:
    queue = await channel.get_queue(queue_name, ensure=True)
    found: list[Any] = []

    async def enough() -> bool:
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            found.append(message)
        return len(found) >= want

    await poll(enough)
    return found


async def test_poison_messages_are_dead_lettered_with_a_reason_and_do_not_block(
    settings: Settings,
    prefix: str,
    make_tenant: TenantFactory,
    pool: asyncpg.Pool,
    direct: aio_pika.abc.AbstractChannel,
) -> None:
    mine = _settings(settings, prefix)
    registry = CollectorRegistry()
    tenant = await make_tenant()
    async with app_of(mine) as client, worker_of(mine, registry):
        # Make sure the topology exists (the worker declares it on start; this is idempotent).
        await declare_all(direct, Topology(prefix))
        not_json = b"\x00{this is not json"
        not_an_event = json.dumps({"hello": "world", "type": "asset.created"}).encode()
        await _republish(direct, prefix, not_json, "asset.updated")
        await _republish(direct, prefix, not_an_event, "asset.created")

        asset = await _create(client, tenant.auth(), name="After the poison")

        async def audited() -> bool:
            return await _everything_applied(pool, tenant.org_id)

        await poll(audited)
        history = await client.get(f"/v1/assets/{asset['id']}/history", headers=tenant.auth())
        assert [e["action"] for e in (await history.json())["data"]] == ["created"]

        topology = Topology(prefix)
        for consumer in CONSUMERS:
            messages = await _dead_letters(direct, topology.dead_letter_queue(consumer), 2)
            assert len(messages) == 2, consumer
            by_body = {m.body: m for m in messages}
            assert set(by_body) == {not_json, not_an_event}
            for message in messages:
                headers = message.headers or {}
                reason = headers.get("x-assetflow-reason")
                assert isinstance(reason, str) and reason, (consumer, headers)
                assert headers.get("x-assetflow-consumer") == consumer
            assert "JSON" in str((by_body[not_json].headers or {})["x-assetflow-reason"])
            assert "event" in str((by_body[not_an_event].headers or {})["x-assetflow-reason"])
            # Nothing is left waiting in the consumer's own queue.
            queue = await direct.declare_queue(topology.queue(consumer), passive=True)
            assert queue.declaration_result.message_count == 0
        await _assert_exactly_once(pool, tenant.org_id)


# 2. Stale versions -----------------------------------------------------------------------------


async def _projection(pool: asyncpg.Pool, asset_id: str) -> dict[str, Any]:
    life = await pool.fetchrow(
        """SELECT version, warranty_end_date, warranty_status, deleted FROM asset_lifecycle
           WHERE asset_id = $1""",
        uuid.UUID(asset_id),
    )
    dep = await pool.fetchrow(
        "SELECT version, schedule, original_cost, deleted FROM asset_depreciation WHERE asset_id = $1",
        uuid.UUID(asset_id),
    )
    periods = await pool.fetchval(
        "SELECT coalesce(cardinality(book_values), 0) FROM asset_depreciation WHERE asset_id = $1",
        uuid.UUID(asset_id),
    )
    return {
        "lifecycle": dict(life) if life else None,
        "depreciation": dict(dep) if dep else None,
        "periods": periods,
    }


async def test_an_older_version_arriving_late_does_not_regress_projections_but_is_audited(
    settings: Settings,
    prefix: str,
    make_tenant: TenantFactory,
    pool: asyncpg.Pool,
    direct: aio_pika.abc.AbstractChannel,
) -> None:
    """v1, v3 applied; then the real v2 arrives (reordering): lifecycle and depreciation stay at
    v3, and the audit log gains v2 (one entry per change)."""
    mine = _settings(settings, prefix)
    registry = CollectorRegistry()
    tenant = await make_tenant()
    tap = await _tap(direct, prefix)
    async with app_of(mine) as client:
        asset = await _create(
            client,
            tenant.auth(),
            name="Reordered",
            purchase_price=1200.0,
            purchase_date="2024-01-01",
            depreciation_schedule="3_year_33_percent",
            warranty_until="2099-12-31",
        )
        await _patch(
            client,
            tenant.auth(),
            asset["id"],
            purchase_price=2400.0,
            warranty_until="2000-01-01",
            depreciation_schedule="5_year_20_percent",
        )
        await _patch(
            client,
            tenant.auth(),
            asset["id"],
            purchase_price=3600.0,
            warranty_until="2098-06-30",
            depreciation_schedule="10_year_10_percent",
        )
        events = [await tap.until(lambda e: e["subject"] == asset["id"]) for _ in range(3)]
        assert [e["data"]["version"] for e in events] == [1, 2, 3]
        # The worker has not run yet: empty its queues and deliver v1 and v3 only.
        for consumer in CONSUMERS:
            queue = await direct.get_queue(Topology(prefix).queue(consumer), ensure=True)
            await queue.purge()
        for event in (events[0], events[2]):
            await _republish(direct, prefix, _body(event), event["type"])
        async with worker_of(mine, registry):

            async def at_v3() -> bool:
                state = await _projection(pool, asset["id"])
                return bool(
                    state["lifecycle"]
                    and state["lifecycle"]["version"] == 3
                    and state["depreciation"]
                    and state["depreciation"]["version"] == 3
                    and len(await _audit_counts(pool, tenant.org_id)) == 2
                )

            await poll(at_v3)
            at_three = await _projection(pool, asset["id"])
            assert at_three["depreciation"]["original_cost"] == Decimal("3600.00")
            assert at_three["depreciation"]["schedule"] == "10_year_10_percent"
            assert at_three["periods"] == 120
            assert str(at_three["lifecycle"]["warranty_end_date"]) == "2098-06-30"
            assert at_three["lifecycle"]["warranty_status"] == "within_warranty"
            shown = await client.get(f"/v1/assets/{asset['id']}", headers=tenant.auth())
            shown_before = (await shown.json())["data"]

            skipped = {c.value: _consumed(registry, c, "skipped") for c in CONSUMERS}
            await _republish(direct, prefix, _body(events[1]), events[1]["type"])

            async def handled() -> bool:
                return (
                    _consumed(registry, "lifecycle", "skipped") >= skipped["lifecycle"] + 1
                    and _consumed(registry, "depreciation", "skipped") >= skipped["depreciation"] + 1
                    and _consumed(registry, "audit", "applied") >= 3
                )

            await poll(handled)
            assert await _projection(pool, asset["id"]) == at_three
            shown = await client.get(f"/v1/assets/{asset['id']}", headers=tenant.auth())
            shown_after = (await shown.json())["data"]
            assert shown_after["warranty_status"] == "within_warranty"
            assert shown_after == shown_before
            history = await client.get(f"/v1/assets/{asset['id']}/history", headers=tenant.auth())
            entries = (await history.json())["data"]
            assert sorted(e["version"] for e in entries) == [1, 2, 3]
            assert sorted(e["id"] for e in entries) == sorted(e["id"] for e in events)
            await _assert_exactly_once(pool, tenant.org_id)


async def test_a_forged_lower_version_with_a_new_id_changes_no_projection(
    settings: Settings,
    prefix: str,
    make_tenant: TenantFactory,
    pool: asyncpg.Pool,
    direct: aio_pika.abc.AbstractChannel,
) -> None:
    mine = _settings(settings, prefix)
    registry = CollectorRegistry()
    tenant = await make_tenant()
    tap = await _tap(direct, prefix)
    async with app_of(mine) as client, worker_of(mine, registry):
        asset = await _create(
            client,
            tenant.auth(),
            name="Stale target",
            purchase_price=1000.0,
            purchase_date="2024-03-01",
            depreciation_schedule="5_year_20_percent",
            warranty_until="2099-01-01",
        )
        await _patch(client, tenant.auth(), asset["id"], name="Stale target v2")
        await _patch(client, tenant.auth(), asset["id"], name="Stale target v3")
        events = [await tap.until(lambda e: e["subject"] == asset["id"]) for _ in range(3)]

        async def settled() -> bool:
            return await _everything_applied(pool, tenant.org_id)

        await poll(settled)
        before = await _projection(pool, asset["id"])
        assert before["lifecycle"]["version"] == 3 and before["depreciation"]["version"] == 3

        stale = json.loads(_body(events[1]))
        stale["id"] = str(uuid.uuid4())
        stale["data"]["version"] = 2
        stale["data"]["asset"].update(
            {"purchase_price": 999999.99, "warranty_until": "2001-01-01", "depreciation_schedule": "other"}
        )
        stale["data"]["changes"] = {"purchase_price": {"from": 1000, "to": 999999.99}}
        skipped = {c.value: _consumed(registry, c, "skipped") for c in CONSUMERS}
        applied = {c.value: _consumed(registry, c, "applied") for c in CONSUMERS}
        await _republish(direct, prefix, _body(stale), "asset.updated")
        deleted = dict(stale, id=str(uuid.uuid4()), type="asset.deleted")
        deleted["data"] = dict(stale["data"], version=1)
        await _republish(direct, prefix, _body(deleted), "asset.deleted")

        async def handled() -> bool:
            return all(
                _consumed(registry, c, "skipped") >= skipped[c] + 2 for c in ("lifecycle", "depreciation")
            )

        await poll(handled)
        assert await _projection(pool, asset["id"]) == before
        for consumer in ("lifecycle", "depreciation"):
            assert _consumed(registry, consumer, "applied") == applied[consumer]
        shown = await client.get(f"/v1/assets/{asset['id']}", headers=tenant.auth())
        body = (await shown.json())["data"]
        assert body["warranty_status"] == "within_warranty"
        assert body["book_value"] is not None and Decimal(str(body["book_value"])) <= Decimal("1000")


# 4 and 7. The broker goes away ------------------------------------------------------------------


def _through(proxy: TcpProxy, amqp_url: str) -> str:
    """AMQP_URL with the proxy's address in place of RabbitMQ's (credentials and vhost kept), and a
    short reconnect interval for the robust connections."""
    parts = urlsplit(amqp_url)
    credentials = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    query = "&".join(q for q in (parts.query, "reconnect_interval=0.2") if q)
    return f"{parts.scheme}://{credentials}127.0.0.1:{proxy.port}{parts.path or '/'}?{query}"


@pytest.fixture
async def proxy(amqp_url: str) -> AsyncIterator[TcpProxy]:
    parts = urlsplit(amqp_url)
    tcp = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5672)
    await tcp.start()
    yield tcp
    await tcp.close()


async def _received(tap: EventTap, seen: list[dict[str, Any]], want: set[str], timeout: float) -> None:
    """Collect the tap's events (duplicates included) until every id in `want` has arrived."""
    deadline = time.monotonic() + timeout
    while not want <= {e["id"] for e in seen}:
        if time.monotonic() > deadline:
            missing = want - {e["id"] for e in seen}
            raise AssertionError(f"{len(missing)} of {len(want)} events never reached the tap")
        seen.extend(await tap.drain())
        await asyncio.sleep(0.05)


def _first_arrivals(seen: list[dict[str, Any]]) -> list[dict[str, Any]]:
    firsts: dict[str, dict[str, Any]] = {}
    for event in seen:
        firsts.setdefault(event["id"], event)
    return list(firsts.values())


async def test_broker_cut_mid_stream_loses_nothing_and_doubles_nothing(
    settings: Settings,
    amqp_url: str,
    prefix: str,
    make_tenant: TenantFactory,
    pool: asyncpg.Pool,
    direct: aio_pika.abc.AbstractChannel,
    proxy: TcpProxy,
) -> None:
    # Small batches, so that the backlog goes out in several, each a confirmed prefix.
    mine = _settings(settings, prefix, _through(proxy, amqp_url)).model_copy(update={"relay_batch_size": 7})
    tenant = await make_tenant()
    tap = await _tap(direct, prefix)
    seen: list[dict[str, Any]] = []
    async with app_of(mine) as client, worker_of(mine):

        async def ready() -> bool:
            response = await client.get("/readyz")
            return response.status == 200

        await poll(ready)
        reported_unready = False
        try:
            ids: list[str] = []
            for i in range(30):
                if i == 12:
                    await proxy.cut()
                asset = await _create(client, tenant.auth(), name=f"Cut {i:02d}", purchase_price=100.0 + i)
                ids.append(asset["id"])
                if i % 3 == 0:
                    await _patch(client, tenant.auth(), asset["id"], notes=f"patched {i}")
                    await _patch(client, tenant.auth(), asset["id"], purchase_price=500.0 + i)
                if i % 10 == 5:
                    response = await client.delete(f"/v1/assets/{asset['id']}", headers=tenant.auth())
                    assert response.status == 200
                if i == 20:
                    # The broker is unreachable: events wait in the outbox, and the api says it is not ready.
                    assert await _unsent(pool, tenant.org_id) > 0

                    async def not_ready() -> bool:
                        response = await client.get("/readyz")
                        body = await response.json()
                        return response.status == 503 and body["checks"]["broker"] == "unreachable"

                    # Asserted at the end, after the no-loss checks (see also the readyz test below).
                    try:
                        reported_unready = bool(await poll(not_ready, timeout=30))
                    except AssertionError:
                        reported_unready = False
        finally:
            await proxy.restore()  # also when an assertion failed: the worker must stop
        events = {str(e) for e in await _event_ids(pool, tenant.org_id)}
        assert len(events) == 30 + 2 * 10 + 3
        await _received(tap, seen, events, timeout=30)

        async def settled() -> bool:
            return await _everything_applied(pool, tenant.org_id) and await _unsent(pool, tenant.org_id) == 0

        await poll(settled)
        await poll(ready)
    await _assert_exactly_once(pool, tenant.org_id)
    # What reached a subscriber: every event, and per asset in version order.
    firsts = _first_arrivals(seen)
    assert {e["id"] for e in firsts} == events
    for asset_id in ids:
        versions = [e["data"]["version"] for e in firsts if e["subject"] == asset_id]
        assert versions == list(range(1, len(versions) + 1)), (asset_id, versions)
    # The outbox order (what the api committed) is the order the subscriber saw.
    outbox_order = [str(e) for e in await _event_ids(pool, tenant.org_id)]
    assert [e["id"] for e in firsts] == outbox_order
    assert reported_unready, "/readyz answered 200 while the broker was cut off and events were waiting"


async def test_api_started_while_the_broker_is_unreachable_accepts_writes_and_sends_later(
    settings: Settings,
    amqp_url: str,
    prefix: str,
    make_tenant: TenantFactory,
    pool: asyncpg.Pool,
    direct: aio_pika.abc.AbstractChannel,
    proxy: TcpProxy,
) -> None:
    await proxy.cut()  # refused from the very start
    mine = _settings(settings, prefix, _through(proxy, amqp_url))
    tenant = await make_tenant()
    tap = await _tap(direct, prefix)
    seen: list[dict[str, Any]] = []
    # The worker starts while the broker is unreachable too, and waits for it.
    async with app_of(mine) as client, worker_of(mine):
        ids = [(await _create(client, tenant.auth(), name=f"Early {i}"))["id"] for i in range(5)]
        response = await client.get("/readyz")
        assert response.status == 503
        body = await response.json()
        assert body["checks"] == {"database": "ok", "broker": "unreachable"}
        assert await _unsent(pool, tenant.org_id) == 5
        assert await tap.drain() == []
        health = await client.get("/healthz")
        assert health.status == 200

        await proxy.restore()
        events = [str(e) for e in await _event_ids(pool, tenant.org_id)]
        await _received(tap, seen, set(events), timeout=20)

        async def ready() -> bool:
            response = await client.get("/readyz")
            return response.status == 200 and await _unsent(pool, tenant.org_id) == 0

        await poll(ready)

        async def settled() -> bool:
            return await _everything_applied(pool, tenant.org_id)

        await poll(settled)
    await _assert_exactly_once(pool, tenant.org_id)
    firsts = _first_arrivals(seen)
    assert [e["id"] for e in firsts] == events
    assert [e["subject"] for e in firsts] == ids
    assert all(e["type"] == "asset.created" and e["data"]["version"] == 1 for e in firsts)


# 5 and 6. Worker processes killed and stopped --------------------------------------------------


@pytest.fixture
def spawn(settings: Settings, prefix: str, worker_processes: WorkerStarter) -> Callable[..., Any]:
    """Start `assetflow worker` processes on the test's prefix (through another broker address)."""

    async def start(amqp_url: str | None = None) -> asyncio.subprocess.Process:
        return await worker_processes(
            {
                "DATABASE_URL": settings.database_url.get_secret_value(),
                "AMQP_URL": amqp_url or settings.amqp_url.get_secret_value(),
                "EVENTS_PREFIX": prefix,
                "WORKER_PREFETCH": "20",
            }
        )

    return start


async def _write_run(client: TestClient, headers: dict[str, str], count: int) -> None:
    """`count` creates, and a patch of every other asset: count * 1.5 events."""
    for i in range(count):
        asset = await _create(
            client,
            headers,
            name=f"Run {i:03d}",
            purchase_price=1000.0 + i,
            purchase_date="2024-02-29",
            depreciation_schedule="3_year_33_percent",
            warranty_until="2099-01-01",
        )
        if i % 2 == 0:
            await _patch(client, headers, asset["id"], purchase_price=2000.0 + i)


async def test_a_worker_killed_mid_stream_loses_and_doubles_nothing(
    settings: Settings,
    prefix: str,
    make_tenant: TenantFactory,
    pool: asyncpg.Pool,
    spawn: Callable[..., Any],
) -> None:
    mine = _settings(settings, prefix)
    tenant = await make_tenant()
    async with app_of(mine) as client:
        await _write_run(client, tenant.auth(), 70)
        events = await _event_ids(pool, tenant.org_id)
        assert len(events) == 105

        async def all_sent() -> bool:
            return await _unsent(pool, tenant.org_id) == 0

        await poll(all_sent)
        first = await spawn()

        async def started() -> bool:
            return await _processed(pool, tenant.org_id) >= 20

        await poll(started, interval=0.005)
        first.send_signal(signal.SIGKILL)
        await asyncio.wait_for(first.wait(), timeout=10)
        assert first.returncode == -signal.SIGKILL
        at_kill = await _processed(pool, tenant.org_id)
        assert at_kill < 3 * len(events), "the worker finished before it could be killed mid-stream"

        await spawn()

        async def settled() -> bool:
            return await _everything_applied(pool, tenant.org_id)

        await poll(settled)
    await _assert_exactly_once(pool, tenant.org_id)


async def test_sigterm_finishes_in_flight_work_exits_0_and_a_restart_takes_the_rest(
    settings: Settings,
    prefix: str,
    make_tenant: TenantFactory,
    pool: asyncpg.Pool,
    spawn: Callable[..., Any],
) -> None:
    mine = _settings(settings, prefix)
    tenant = await make_tenant()
    async with app_of(mine) as client:
        await _write_run(client, tenant.auth(), 40)
        events = await _event_ids(pool, tenant.org_id)
        assert len(events) == 60

        async def all_sent() -> bool:
            return await _unsent(pool, tenant.org_id) == 0

        await poll(all_sent)
        # Hold the audit consumer on the first event: an uncommitted claim of the same event id makes
        # the worker's own claim wait, so that event is in flight when SIGTERM arrives.
        blocker = await pool.acquire()
        try:
            held = blocker.transaction()
            await held.start()
            await blocker.execute(
                "INSERT INTO processed_events (consumer, event_id) VALUES ('audit', $1)", events[0]
            )
            worker = await spawn()

            async def in_flight() -> bool:
                waiting = await pool.fetchval(
                    """SELECT count(*) FROM pg_stat_activity
                       WHERE datname = current_database() AND wait_event_type = 'Lock'"""
                )
                return bool(waiting) and await _processed(pool, tenant.org_id) >= 10

            await poll(in_flight)
            worker.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(worker.wait(), timeout=0.5)
            assert worker.returncode is None, "the worker exited with an event still in flight"
            await held.rollback()
        finally:
            await pool.release(blocker)
        await asyncio.wait_for(worker.wait(), timeout=10)
        assert worker.returncode == 0
        # The event that was in flight was finished, not dropped.
        audited = await pool.fetchval("SELECT count(*) FROM audit_log WHERE event_id = $1", events[0])
        assert audited == 1

        await spawn()

        async def settled() -> bool:
            return await _everything_applied(pool, tenant.org_id)

        await poll(settled)
    await _assert_exactly_once(pool, tenant.org_id)


async def test_readyz_reports_a_lost_broker_even_when_nothing_is_being_written(
    settings: Settings,
    amqp_url: str,
    prefix: str,
    proxy: TcpProxy,
) -> None:
    """README: /readyz is 503 unless the relay is connected to the broker; an idle relay too."""
    mine = _settings(settings, prefix, _through(proxy, amqp_url))
    async with app_of(mine) as client:

        def readiness(status: int, broker: str) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                response = await client.get("/readyz")
                body = await response.json()
                return response.status == status and body["checks"]["broker"] == broker

            return check

        await poll(readiness(200, "ok"))
        await proxy.cut()
        try:
            await poll(readiness(503, "unreachable"), timeout=30)
        finally:
            await proxy.restore()
        await poll(readiness(200, "ok"))


async def test_sigterm_stops_a_worker_still_waiting_for_the_broker(
    amqp_url: str,
    proxy: TcpProxy,
    spawn: Callable[..., Any],
    tmp_path: Path,
) -> None:
    await proxy.cut()
    worker = await spawn(_through(proxy, amqp_url))
    log = tmp_path / "worker-0.log"

    async def retrying() -> bool:
        assert worker.returncode is None, "the worker gave up instead of waiting for the broker"
        return log.exists() and log.read_text().count("broker unreachable") >= 2

    await poll(retrying)
    worker.send_signal(signal.SIGTERM)
    await asyncio.wait_for(worker.wait(), timeout=5)
    assert worker.returncode == 0


async def _consumers_on(channel: aio_pika.abc.AbstractChannel, prefix: str) -> list[int]:
    counts = []
    for consumer in CONSUMERS:
        queue = await channel.declare_queue(Topology(prefix).queue(consumer), passive=True)
        counts.append(queue.declaration_result.consumer_count or 0)
    return counts


async def test_sigterm_stops_a_worker_whose_broker_went_away(
    amqp_url: str,
    prefix: str,
    proxy: TcpProxy,
    spawn: Callable[..., Any],
    direct: aio_pika.abc.AbstractChannel,
) -> None:
    """With the broker gone nothing is in flight (the broker requeues what was unacked): SIGTERM must
    still end the worker promptly, with 0."""
    await declare_all(direct, Topology(prefix))
    worker = await spawn(_through(proxy, amqp_url))

    async def consuming() -> bool:
        assert worker.returncode is None
        return all(n == 1 for n in await _consumers_on(direct, prefix))

    await poll(consuming)
    await proxy.cut()

    async def gone() -> bool:
        return all(n == 0 for n in await _consumers_on(direct, prefix))

    await poll(gone)
    worker.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(worker.wait(), timeout=10)
    except TimeoutError:
        raise AssertionError("no exit within 10 s of SIGTERM while the broker was away") from None
    assert worker.returncode == 0
