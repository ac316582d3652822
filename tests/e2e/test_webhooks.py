"""Webhooks end to end: changes made through the API reach a real HTTP receiver on 127.0.0.1,
signed as Standard Webhooks says and verified by the `standardwebhooks` package unchanged; retried
with the same webhook-id until taken; never lost when a worker is killed; never sent twice by two
workers; and never sent to an address a forged request would aim at.

Every test runs its own app and worker(s) on a database of its own (a copy of a migrated
template) and broker names of its own, so no other dispatcher can claim its deliveries.
"""

import asyncio
import base64
import datetime as dt
import itertools
import os
import signal
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aio_pika
import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from cryptography.fernet import Fernet
from prometheus_client import CollectorRegistry
from standardwebhooks.webhooks import WebhookVerificationError

from shared.db import create_pool
from shared.dispatcher import retry_plan
from shared.domain.webhooks import AttemptResult
from shared.secret_box import SecretBox, SecretUnreadable
from shared.services import organisations, webhooks
from shared.services.unit_of_work import unit_of_work
from shared.settings import Settings
from shared.topology import Topology, declare_exchange
from shared.webhook_http import WebhookSender
from tests.conftest import (
    ASSETFLOW,
    EventTap,
    TapFactory,
    TenantFactory,
    WorkerStarter,
    app_of,
    poll,
    worker_of,
)
from tests.e2e.webhook_receiver import ENDLESS, HANG, Receiver, receiving

KEY = Fernet.generate_key().decode()
# What the tests change from the defaults: plain http to a receiver on 127.0.0.1, and retries in
# fractions of a second rather than minutes.
FAST = {
    "webhook_secret_key": KEY,
    "webhook_allow_http": True,
    "webhook_allow_private_networks": True,
    "webhook_timeout_seconds": 2.0,
    "webhook_retry_schedule_seconds": [0.2, 0.4, 0.8],
    "webhook_retry_every_seconds": 1.0,
    "webhook_poll_seconds": 0.2,
}


@pytest.fixture
async def pool(res_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """The test's own database, so that `make_tenant` makes tenants there."""
    test_pool = await create_pool(res_database_url, min_size=1, max_size=5)
    yield test_pool
    await test_pool.close()


@pytest.fixture
def make_settings(res_database_url: str, amqp_url: str, prefix: str) -> Callable[..., Settings]:
    def make(**changes: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": res_database_url,
            "amqp_url": amqp_url,
            "events_prefix": prefix,
            "relay_poll_seconds": 0.1,
            "worker_port": 0,
            "worker_prefetch": 50,
            "db_pool_max_size": 10,
            "rate_limit_enabled": False,
            **FAST,
        }
        values.update(changes)
        return Settings(**values)

    return make


@pytest.fixture
async def event_tap(amqp_url: str, prefix: str) -> AsyncIterator[TapFactory]:
    """Taps on the test's own exchange: `await event_tap("webhook.disabled")`."""
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    exchange = await declare_exchange(channel, Topology(prefix))

    async def make(*routing_keys: str) -> EventTap:
        queue = await channel.declare_queue("", exclusive=True, auto_delete=True)
        for key in routing_keys:
            await queue.bind(exchange, routing_key=key)
        return EventTap(queue)

    yield make
    await connection.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as found:
        yield found


async def _hooks_token(pool: asyncpg.Pool, org_name: str) -> dict[str, str]:
    _, token = await organisations.create_token(
        unit_of_work(pool), org_name, ["webhooks:read", "webhooks:write", "assets:read", "assets:write"]
    )
    return {"Authorization": f"Bearer {token}"}


async def _register(client: TestClient, auth: dict[str, str], url: str, events: list[str]) -> dict[str, Any]:
    response = await client.post("/v1/webhooks", json={"url": url, "events": events}, headers=auth)
    body = await response.json()
    assert response.status == 201, body
    data: dict[str, Any] = body["data"]
    return data


async def _asset(client: TestClient, auth: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = await client.post("/v1/assets", json={"name": "Laptop", **fields}, headers=auth)
    body = await response.json()
    assert response.status == 201, body
    data: dict[str, Any] = body["data"]
    return data


async def _deliveries(
    client: TestClient, auth: dict[str, str], webhook_id: str, **query: str
) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/webhooks/{webhook_id}/deliveries", params=query, headers=auth)
    body = await response.json()
    assert response.status == 200, body
    data: list[dict[str, Any]] = body["data"]
    return data


def _received_at_least(receiver: Receiver, path: str, count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return len(receiver.at(path)) >= count

    return check


# 1. Every change reaches its subscriber once, signed --------------------------------------------


async def test_create_patch_delete_reach_a_subscriber_once_each_verified(
    make_settings: Callable[..., Settings], make_tenant: TenantFactory, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    settings = make_settings()
    tenant = await make_tenant()
    auth = await _hooks_token(pool, tenant.name)
    async with app_of(settings) as client, worker_of(settings):
        everything = await _register(client, auth, receiver.url("/all"), ["asset.*"])
        deletes = await _register(client, auth, receiver.url("/deletes"), ["asset.deleted"])
        assert everything["secret"].startswith("whsec_")
        asset = await _asset(client, auth)
        response = await client.patch(f"/v1/assets/{asset['id']}", json={"name": "Laptop 2"}, headers=auth)
        assert response.status == 200
        response = await client.delete(f"/v1/assets/{asset['id']}", headers=auth)
        assert response.status in (200, 204)

        await poll(_received_at_least(receiver, "/all", 3))
        await poll(_received_at_least(receiver, "/deletes", 1))
        await asyncio.sleep(1.0)  # anything sent twice would have come by now

    got = receiver.at("/all")
    assert len(got) == 3, [r.body for r in got]
    # Up to WEBHOOK_CONCURRENCY_PER_ENDPOINT deliveries to one endpoint are in flight at once, so
    # they may arrive in any order: `data.version` orders an asset's changes.
    got.sort(key=lambda r: r.verified(everything["secret"])["data"]["version"])
    events = [r.verified(everything["secret"]) for r in got]
    assert [e["type"] for e in events] == ["asset.created", "asset.updated", "asset.deleted"]
    assert {e["subject"] for e in events} == {asset["id"]}
    assert events[1]["data"]["changes"]["name"] == {"from": "Laptop", "to": "Laptop 2"}
    for received, event in zip(got, events, strict=True):
        assert received.webhook_id == event["id"]
        assert received.headers["Content-Type"] == "application/json"
        assert received.headers["User-Agent"].startswith("assetflow-webhooks/")
        assert event["specversion"] == "1.0" and event["orgid"] == str(tenant.org_id)
        with pytest.raises(WebhookVerificationError):
            received.verified(deletes["secret"])  # another endpoint's secret does not verify it

    only = receiver.at("/deletes")
    assert len(only) == 1
    assert only[0].verified(deletes["secret"])["type"] == "asset.deleted"


async def test_the_body_is_the_event_as_published_to_rabbitmq(
    make_settings: Callable[..., Settings],
    make_tenant: TenantFactory,
    pool: asyncpg.Pool,
    receiver: Receiver,
    event_tap: TapFactory,
) -> None:
    settings = make_settings()
    tenant = await make_tenant()
    auth = await _hooks_token(pool, tenant.name)
    async with app_of(settings) as client, worker_of(settings):
        tap: EventTap = await event_tap("asset.created")
        hook = await _register(client, auth, receiver.url("/same"), ["asset.created"])
        asset = await _asset(client, auth, serial_number="SN-SAME-1")
        published = await tap.until(lambda e: e["subject"] == asset["id"])
        await poll(_received_at_least(receiver, "/same", 1))
    assert receiver.at("/same")[0].verified(hook["secret"]) == published


# 2. Retried until taken, with the same webhook-id -----------------------------------------------


async def test_an_endpoint_failing_three_times_gets_it_on_the_fourth_attempt(
    make_settings: Callable[..., Settings], make_tenant: TenantFactory, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    settings = make_settings()
    tenant = await make_tenant()
    auth = await _hooks_token(pool, tenant.name)
    receiver.scripts["/flaky"] = [500, 500, 500, 200]
    async with app_of(settings) as client, worker_of(settings):
        hook = await _register(client, auth, receiver.url("/flaky"), ["asset.created"])
        await _asset(client, auth)
        await poll(_received_at_least(receiver, "/flaky", 4))

        async def delivered() -> list[dict[str, Any]]:
            found = await _deliveries(client, auth, hook["id"], status="delivered")
            return found

        [delivery] = await poll(delivered)
        await asyncio.sleep(1.0)
    got = receiver.at("/flaky")
    assert len(got) == 4
    assert len({r.webhook_id for r in got}) == 1
    assert got[0].webhook_id == delivery["event_id"]
    for r in got:
        r.verified(hook["secret"])
    gaps = [b.at - a.at for a, b in itertools.pairwise(got)]
    # The schedule's 0.2, 0.4 and 0.8 s, each less at most a fifth (its jitter).
    assert gaps[0] >= 0.2 * 0.8 and gaps[1] >= 0.4 * 0.8 and gaps[2] >= 0.8 * 0.8, gaps
    assert delivery["attempts"] == 4
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 500, 500, 200]
    assert [a["n"] for a in delivery["attempt_log"]] == [1, 2, 3, 4]
    assert delivery["attempt_log"][0]["error"] == "answered 500"
    assert delivery["attempt_log"][0]["response_body"] == "answer 1 from /flaky"
    assert delivery["attempt_log"][3]["error"] is None
    assert delivery["next_attempt_at"] is None and delivery["finished_at"] is not None


async def test_410_gone_disables_the_endpoint_and_publishes_webhook_disabled(
    make_settings: Callable[..., Settings],
    make_tenant: TenantFactory,
    pool: asyncpg.Pool,
    receiver: Receiver,
    event_tap: TapFactory,
) -> None:
    settings = make_settings()
    tenant = await make_tenant()
    auth = await _hooks_token(pool, tenant.name)
    receiver.scripts["/gone"] = [410]
    async with app_of(settings) as client, worker_of(settings):
        tap = await event_tap("webhook.disabled")
        hook = await _register(client, auth, receiver.url("/gone"), ["asset.*"])
        watcher = await _register(client, auth, receiver.url("/watch"), ["webhook.disabled"])
        await _asset(client, auth)
        disabled = await tap.until(lambda e: e["subject"] == hook["id"])
        await poll(_received_at_least(receiver, "/watch", 1))
        await _asset(client, auth)  # a disabled endpoint gets nothing more
        await asyncio.sleep(1.0)
        response = await client.get(f"/v1/webhooks/{hook['id']}", headers=auth)
        state = (await response.json())["data"]
        [delivery] = await _deliveries(client, auth, hook["id"])
    assert disabled["type"] == "webhook.disabled"
    assert disabled["data"]["reason"] == "the endpoint answered 410 Gone"
    assert disabled["orgid"] == str(tenant.org_id)
    assert receiver.at("/watch")[0].verified(watcher["secret"])["id"] == disabled["id"]
    assert len(receiver.at("/gone")) == 1
    assert state["enabled"] is False and state["disabled_reason"] == "the endpoint answered 410 Gone"
    assert delivery["status"] == "failed" and delivery["attempts"] == 1


async def test_an_endpoint_failing_for_the_whole_window_is_disabled(
    make_settings: Callable[..., Settings],
    make_tenant: TenantFactory,
    pool: asyncpg.Pool,
    receiver: Receiver,
    event_tap: TapFactory,
) -> None:
    settings = make_settings(webhook_retry_for_hours=2.0 / 3600)  # a two-second "day"
    tenant = await make_tenant()
    auth = await _hooks_token(pool, tenant.name)
    receiver.scripts["/down"] = [503]
    async with app_of(settings) as client, worker_of(settings):
        tap = await event_tap("webhook.disabled")
        hook = await _register(client, auth, receiver.url("/down"), ["asset.created"])
        await _asset(client, auth)
        disabled = await tap.until(lambda e: e["subject"] == hook["id"])
        [delivery] = await _deliveries(client, auth, hook["id"])
        response = await client.get(f"/v1/webhooks/{hook['id']}", headers=auth)
        state = (await response.json())["data"]
        # Enabled again, it starts afresh.
        response = await client.patch(f"/v1/webhooks/{hook['id']}", json={"enabled": True}, headers=auth)
        again = (await response.json())["data"]
    assert disabled["data"]["reason"].startswith(
        "every attempt failed for 0.000555556 hours (the last: answered 503)"
    )
    assert state["enabled"] is False and state["failing_since"] is not None
    assert delivery["status"] == "failed" and delivery["attempts"] >= 3
    assert all(a["status_code"] == 503 for a in delivery["attempt_log"])
    assert again["enabled"] is True and again["disabled_reason"] is None and again["failing_since"] is None


# 3. A dead endpoint delays nobody else ----------------------------------------------------------


async def test_an_endpoint_that_never_answers_does_not_delay_a_healthy_one(
    make_settings: Callable[..., Settings], make_tenant: TenantFactory, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    settings = make_settings(webhook_timeout_seconds=5.0)
    slow_tenant, tenant = await make_tenant(), await make_tenant()
    slow_auth = await _hooks_token(pool, slow_tenant.name)
    auth = await _hooks_token(pool, tenant.name)
    receiver.scripts["/dead"] = [HANG]
    latencies: list[float] = []
    async with app_of(settings) as client, worker_of(settings):
        await _register(client, slow_auth, receiver.url("/dead"), ["asset.created"])
        await _register(client, auth, receiver.url("/dead"), ["asset.created"])  # the same org's too
        await _register(client, auth, receiver.url("/healthy"), ["asset.created"])
        for i in range(20):  # the dead endpoints' backlog first: 40 attempts of 5 s each waiting
            await _asset(client, slow_auth, name=f"Slow {i}")
        for i in range(30):
            before = len(receiver.at("/healthy"))
            sent = time.monotonic()
            await _asset(client, auth, name=f"Fast {i}")
            await poll(_received_at_least(receiver, "/healthy", before + 1), interval=0.005)
            latencies.append(receiver.at("/healthy")[-1].at - sent)
        dead_attempts = len(receiver.at("/dead"))
    p99 = statistics.quantiles(latencies, n=100)[98]
    print(f"healthy endpoint beside dead ones: p50 {statistics.median(latencies):.3f} s, p99 {p99:.3f} s")
    assert p99 < 1.0, latencies
    # Each dead endpoint holds at most WEBHOOK_CONCURRENCY_PER_ENDPOINT attempts at a time.
    assert dead_attempts <= 2 * settings.webhook_concurrency_per_endpoint * 2, dead_attempts


# 4. Never lost, never twice ---------------------------------------------------------------------


@pytest.fixture
def spawn(make_settings: Callable[..., Settings], worker_processes: WorkerStarter) -> Callable[..., Any]:
    """`assetflow worker` processes with the test's settings."""

    async def start(**changes: Any) -> asyncio.subprocess.Process:
        settings = make_settings(**changes)
        return await worker_processes(
            {
                "DATABASE_URL": settings.database_url.get_secret_value(),
                "AMQP_URL": settings.amqp_url.get_secret_value(),
                "EVENTS_PREFIX": settings.events_prefix,
                "WEBHOOK_SECRET_KEY": KEY,
                "WEBHOOK_ALLOW_HTTP": "true",
                "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
                "WEBHOOK_TIMEOUT_SECONDS": str(settings.webhook_timeout_seconds),
                "WEBHOOK_RETRY_SCHEDULE_SECONDS": ",".join(map(str, settings.webhook_retry_schedule_seconds)),
                "WEBHOOK_RETRY_EVERY_SECONDS": str(settings.webhook_retry_every_seconds),
                "WEBHOOK_POLL_SECONDS": str(settings.webhook_poll_seconds),
            }
        )

    return start


async def test_a_worker_killed_with_deliveries_pending_loses_none_and_doubles_none(
    make_settings: Callable[..., Settings],
    make_tenant: TenantFactory,
    pool: asyncpg.Pool,
    receiver: Receiver,
    spawn: Callable[..., Any],
) -> None:
    # Each first attempt fails, and the next is three seconds later: the worker is killed while
    # every delivery is pending and none is being sent.
    slow_retry = {"webhook_retry_schedule_seconds": [3.0], "webhook_retry_every_seconds": 3.0}
    settings = make_settings(**slow_retry)
    tenant = await make_tenant()
    auth = await _hooks_token(pool, tenant.name)
    receiver.scripts["/later"] = [503]
    async with app_of(settings) as client:
        hook = await _register(client, auth, receiver.url("/later"), ["asset.created"])
        first = await spawn(**slow_retry)
        for i in range(10):
            await _asset(client, auth, name=f"Before {i}")

        async def all_tried_once() -> bool:
            found = await _deliveries(client, auth, hook["id"], status="pending")
            return len(found) == 10 and all(d["attempts"] == 1 for d in found)

        await poll(all_tried_once, interval=0.02)
        first.send_signal(signal.SIGKILL)
        await asyncio.wait_for(first.wait(), timeout=10)
        for i in range(5):  # with no worker at all: the events wait in RabbitMQ
            await _asset(client, auth, name=f"While down {i}")
        receiver.scripts.pop("/later")  # 200 from now on
        await spawn(**slow_retry)

        async def all_delivered() -> bool:
            found = await _deliveries(client, auth, hook["id"], status="delivered", limit="100")
            return len(found) == 15

        await poll(all_delivered, timeout=60)
        await asyncio.sleep(1.0)
    got = receiver.at("/later")
    by_id: dict[str, int] = {}
    for r in got:
        r.verified(hook["secret"])
        by_id[r.webhook_id] = by_id.get(r.webhook_id, 0) + 1
    assert len(by_id) == 15
    # The 10 tried before the kill came twice (503, then 200), the 5 made while no worker ran once.
    assert sorted(by_id.values()) == [1] * 5 + [2] * 10, by_id
    # After the restart each was sent once more and no more: 15 arrivals, one per event.
    after_restart = [r.webhook_id for r in got[10:]]
    assert len(after_restart) == 15 and len(set(after_restart)) == 15


async def test_two_workers_send_no_delivery_twice(
    make_settings: Callable[..., Settings], make_tenant: TenantFactory, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    settings = make_settings()
    tenant = await make_tenant()
    auth = await _hooks_token(pool, tenant.name)
    async with app_of(settings) as client, worker_of(settings), worker_of(settings):
        hooks = [await _register(client, auth, receiver.url(f"/two/{n}"), ["asset.*"]) for n in range(3)]
        for i in range(40):
            await _asset(client, auth, name=f"Twice {i}")
        for hook_number in range(3):
            await poll(_received_at_least(receiver, f"/two/{hook_number}", 40), timeout=60)
        await asyncio.sleep(1.5)
    for number, hook in enumerate(hooks):
        got = receiver.at(f"/two/{number}")
        ids = [r.webhook_id for r in got]
        assert len(ids) == 40 and len(set(ids)) == 40, (
            f"endpoint {number}: {len(ids)} for {len(set(ids))} events"
        )
        for r in got:
            r.verified(hook["secret"])


# 5. Secrets -------------------------------------------------------------------------------------


async def test_a_rotated_secret_still_signs_beside_the_new_one_for_the_overlap(
    make_settings: Callable[..., Settings], make_tenant: TenantFactory, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    settings = make_settings()
    tenant = await make_tenant()
    auth = await _hooks_token(pool, tenant.name)
    async with app_of(settings) as client, worker_of(settings):
        hook = await _register(client, auth, receiver.url("/rotated"), ["asset.created"])
        response = await client.post(f"/v1/webhooks/{hook['id']}/rotate-secret", headers=auth)
        assert response.status == 200
        rotated = (await response.json())["data"]
        await _asset(client, auth)
        await poll(_received_at_least(receiver, "/rotated", 1))
        # The overlap over (as a day later): only the new secret signs.
        await pool.execute(
            "UPDATE webhook_endpoints SET previous_secret_until = now() - interval '1 second' WHERE id = $1",
            uuid.UUID(hook["id"]),
        )
        await _asset(client, auth)
        await poll(_received_at_least(receiver, "/rotated", 2))
    during, after = receiver.at("/rotated")
    assert rotated["secret"] != hook["secret"] and rotated["secret"].startswith("whsec_")
    assert rotated["previous_secret_until"] is not None
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    during.verified(hook["secret"])
    during.verified(rotated["secret"])
    after.verified(rotated["secret"])
    with pytest.raises(WebhookVerificationError):
        after.verified(hook["secret"])


async def test_secrets_are_shown_once_and_stored_only_encrypted(
    make_settings: Callable[..., Settings],
    make_tenant: TenantFactory,
    pool: asyncpg.Pool,
    receiver: Receiver,
    res_database_url: str,
) -> None:
    settings = make_settings()
    tenant = await make_tenant()
    auth = await _hooks_token(pool, tenant.name)
    async with app_of(settings) as client:
        hook = await _register(client, auth, receiver.url("/secret"), ["asset.*"])
        response = await client.get(f"/v1/webhooks/{hook['id']}", headers=auth)
        shown = (await response.json())["data"]
        response = await client.get("/v1/webhooks", headers=auth)
        listed = (await response.json())["data"]
    secret = hook["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
    assert "secret" not in shown and all("secret" not in item for item in listed)
    pg_dump = await asyncio.create_subprocess_exec(
        "pg_dump",
        "--data-only",
        "--table=webhook_endpoints",
        res_database_url,
        stdout=asyncio.subprocess.PIPE,
    )
    dump, _ = await pg_dump.communicate()
    assert pg_dump.returncode == 0
    assert hook["id"].encode() in dump  # the row is in the dump ...
    key_part = secret.removeprefix("whsec_")
    assert secret.encode() not in dump and key_part.encode() not in dump  # ... and its secret is not


# 6. No server-side request forgery --------------------------------------------------------------

REFUSED_URLS = [
    "https://127.0.0.1/hook",
    "https://127.8.9.10/hook",
    "https://localhost/hook",  # a name that resolves to 127.0.0.1
    "https://10.1.2.3/hook",
    "https://172.16.0.1/hook",
    "https://192.168.1.1/hook",
    "https://169.254.169.254/latest/meta-data",  # the cloud metadata address
    "https://100.64.0.1/hook",
    "https://0.0.0.0/hook",
    "https://224.0.0.1/hook",
    "https://[::1]/hook",
    "https://[::]/hook",
    "https://[fe80::1]/hook",
    "https://[fc00::1]/hook",
    "https://[fd12:3456::1]/hook",
    "https://[ff02::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:10.0.0.1]/hook",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
async def test_an_address_a_forged_request_would_aim_at_is_refused(
    make_settings: Callable[..., Settings], make_tenant: TenantFactory, pool: asyncpg.Pool, url: str
) -> None:
    settings = make_settings(webhook_allow_private_networks=False, webhook_allow_http=False)
    tenant = await make_tenant()
    auth = await _hooks_token(pool, tenant.name)
    async with app_of(settings) as client:
        response = await client.post("/v1/webhooks", json={"url": url, "events": ["asset.*"]}, headers=auth)
        body = await response.json()
        assert response.status == 400, body
        assert body["errors"][0]["field"] == "url"
        assert "public address" in body["errors"][0]["message"]
        assert await pool.fetchval("SELECT count(*) FROM webhook_endpoints") == 0


async def test_plain_http_and_unresolvable_hosts_are_refused_and_a_patch_is_checked_too(
    make_settings: Callable[..., Settings], make_tenant: TenantFactory, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    strict = make_settings(webhook_allow_private_networks=False, webhook_allow_http=False)
    tenant = await make_tenant()
    auth = await _hooks_token(pool, tenant.name)
    cases = {
        "http://example.com/hook": "must be an https URL (plain http only when WEBHOOK_ALLOW_HTTP=true)",
        "https://no-such-host.invalid/hook": "its host no-such-host.invalid does not resolve",
        "ftp://example.com/": "must be an https URL",
        "https://user:pw@example.com/": "must not carry a user name or password",
        "not a url": "must be printable ASCII with no white space",
        "https://bücher.example/": "its xn-- form",
    }
    async with app_of(strict) as client:
        for url, message in cases.items():
            response = await client.post(
                "/v1/webhooks", json={"url": url, "events": ["asset.*"]}, headers=auth
            )
            body = await response.json()
            assert response.status == 400, (url, body)
            assert body["errors"][0]["field"] == "url" and message in body["errors"][0]["message"], body
    async with app_of(make_settings()) as client:
        hook = await _register(client, auth, receiver.url("/patched"), ["asset.*"])
    async with app_of(strict) as client:
        response = await client.patch(
            f"/v1/webhooks/{hook['id']}", json={"url": "https://localhost/x"}, headers=auth
        )
        assert response.status == 400
        assert (await response.json())["errors"][0]["field"] == "url"


async def test_a_name_that_resolves_to_a_private_address_at_delivery_is_refused_then(
    make_settings: Callable[..., Settings], make_tenant: TenantFactory, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    """Registered while it resolved elsewhere (here: while private networks were allowed), the
    endpoint's name is resolved again at each delivery, and refused."""
    tenant = await make_tenant()
    auth = await _hooks_token(pool, tenant.name)
    lenient = make_settings()
    strict = make_settings(webhook_allow_private_networks=False)
    port = receiver.base_url.rsplit(":", 1)[1]
    async with app_of(lenient) as client:
        hook = await _register(client, auth, f"http://localhost:{port}/rebound", ["asset.created"])
    async with app_of(strict) as client, worker_of(strict):
        await _asset(client, auth)

        async def tried() -> list[dict[str, Any]]:
            found = [d for d in await _deliveries(client, auth, hook["id"]) if d["attempts"] >= 1]
            return found

        [delivery] = await poll(tried)
    first = delivery["attempt_log"][0]
    assert first["status_code"] is None
    assert first["error"] in (
        "refused: localhost resolves to 127.0.0.1, a loopback address",
        "refused: localhost resolves to ::1, a loopback address",
    ), first
    assert receiver.at("/rebound") == []


async def test_the_sender_refuses_private_literals_and_names_itself() -> None:
    async with WebhookSender(2.0, allow_private_networks=False, allow_http=True) as sender:
        for url in (
            "http://127.0.0.1:9/x",
            "http://[::1]:9/x",
            "http://169.254.169.254/x",
            "http://localhost:9/x",
        ):
            result = await sender.send(url, {}, b"{}")
            assert result.status_code is None and result.error is not None, url
            assert result.error.startswith("refused:"), result.error


# 7. Access, and the API around it ---------------------------------------------------------------


async def test_another_organisations_webhooks_answer_404_and_asset_tokens_403(
    make_settings: Callable[..., Settings], make_tenant: TenantFactory, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    settings = make_settings()
    mine, theirs = await make_tenant(), await make_tenant()
    auth, other = await _hooks_token(pool, mine.name), await _hooks_token(pool, theirs.name)
    async with app_of(settings) as client:
        hook = await _register(client, auth, receiver.url("/mine"), ["asset.*"])
        response = await client.post(f"/v1/webhooks/{hook['id']}/ping", headers=auth)
        ping = (await response.json())["data"]
        base = f"/v1/webhooks/{hook['id']}"
        calls = [
            ("GET", base, None),
            ("PATCH", base, {"description": "x"}),
            ("DELETE", base, None),
            ("POST", f"{base}/rotate-secret", None),
            ("POST", f"{base}/ping", None),
            ("GET", f"{base}/deliveries", None),
            ("POST", f"{base}/deliveries/{ping['delivery_id']}/retry", None),
        ]
        for method, path, body in calls:
            response = await client.request(method, path, json=body, headers=other)
            assert response.status == 404, (method, path, await response.text())
        response = await client.get("/v1/webhooks", headers=other)
        assert (await response.json())["data"] == []
        assets_tokens = [
            (await organisations.create_token(unit_of_work(pool), mine.name, scopes))[1]
            for scopes in (["assets:read", "assets:write"], ["assets:read"], ["assets:write"])
        ]
        for token in assets_tokens:
            for method, path, body in [*calls, ("GET", "/v1/webhooks", None), ("POST", "/v1/webhooks", {})]:
                response = await client.request(
                    method, path, json=body, headers={"Authorization": f"Bearer {token}"}
                )
                assert response.status == 403, (method, path)
                assert "webhooks:" in (await response.json())["error"]
        response = await client.get(base, headers=auth)
        assert response.status == 200  # nothing above changed it
        assert len(receiver.at("/mine")) == 1  # the ping


async def test_without_a_secret_key_the_webhook_routes_answer_503_naming_the_setting(
    make_settings: Callable[..., Settings], make_tenant: TenantFactory, pool: asyncpg.Pool
) -> None:
    settings = make_settings(webhook_secret_key=None)
    tenant = await make_tenant()
    auth = await _hooks_token(pool, tenant.name)
    async with app_of(settings) as client:
        for method, path in [
            ("GET", "/v1/webhooks"),
            ("POST", "/v1/webhooks"),
            ("GET", f"/v1/webhooks/{uuid.uuid4()}"),
        ]:
            response = await client.request(
                method, path, json={"url": "https://a.b", "events": ["#"]}, headers=auth
            )
            assert response.status == 503
            assert "WEBHOOK_SECRET_KEY" in (await response.json())["error"]
        response = await client.post("/v1/assets", json={"name": "Still works"}, headers=auth)
        assert response.status == 201


async def test_bad_webhook_bodies_are_400_naming_the_field(
    make_settings: Callable[..., Settings], make_tenant: TenantFactory, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    settings = make_settings()
    tenant = await make_tenant()
    auth = await _hooks_token(pool, tenant.name)
    url = receiver.url("/x")
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"url": url, "events": ["asset.creatd"]}, "events[0]", "matches no event type"),
        ({"url": url, "events": ["Asset.*"]}, "events[0]", "pattern"),
        ({"url": url, "events": []}, "events", "at least 1"),
        ({"url": url}, "events", "required"),
        ({"events": ["#"]}, "url", "required"),
        ({"url": url, "events": ["#"], "secret": "mine"}, "secret", "not a known field"),
        ({"url": url, "events": ["webhook.ping"]}, "events[0]", "matches no event type"),
    ]
    async with app_of(settings) as client:
        for body, field, message in cases:
            response = await client.post("/v1/webhooks", json=body, headers=auth)
            answer = await response.json()
            assert response.status == 400, (body, answer)
            fields = {e["field"]: e["message"] for e in answer["errors"]}
            assert field in fields and message in fields[field], (body, answer)
        hook = await _register(client, auth, url, ["asset.#", "webhook.disabled"])
        response = await client.patch(f"/v1/webhooks/{hook['id']}", json={"events": None}, headers=auth)
        assert response.status == 400
        assert await pool.fetchval("SELECT count(*) FROM webhook_endpoints") == 1


async def test_the_delivery_log_pages_filters_and_retries_on_request(
    make_settings: Callable[..., Settings], make_tenant: TenantFactory, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    settings = make_settings()
    tenant = await make_tenant()
    auth = await _hooks_token(pool, tenant.name)
    async with app_of(settings) as client, worker_of(settings):
        hook = await _register(client, auth, receiver.url("/log"), ["asset.*"])
        assets = [await _asset(client, auth, name=f"Logged {i}") for i in range(5)]
        await client.delete(f"/v1/assets/{assets[0]['id']}", headers=auth)
        await poll(_received_at_least(receiver, "/log", 6))

        async def all_delivered() -> bool:
            return len(await _deliveries(client, auth, hook["id"], status="delivered")) == 6

        await poll(all_delivered)
        pages: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
            response = await client.get(f"/v1/webhooks/{hook['id']}/deliveries", params=params, headers=auth)
            body = await response.json()
            pages.extend(body["data"])
            cursor = body["meta"]["next_cursor"]
            if cursor is None:
                break
        deletes = await _deliveries(client, auth, hook["id"], event_type="asset.deleted")
        assert await _deliveries(client, auth, hook["id"], status="failed") == []
        response = await client.get(
            f"/v1/webhooks/{hook['id']}/deliveries", params={"cursor": "nope"}, headers=auth
        )
        assert response.status == 400
        response = await client.get(
            f"/v1/webhooks/{hook['id']}/deliveries", params={"status": "lost"}, headers=auth
        )
        assert response.status == 400

        response = await client.post(
            f"/v1/webhooks/{hook['id']}/deliveries/{deletes[0]['id']}/retry", headers=auth
        )
        assert response.status == 202, await response.text()
        await poll(_received_at_least(receiver, "/log", 7))
        response = await client.post(
            f"/v1/webhooks/{hook['id']}/deliveries/{uuid.uuid4()}/retry", headers=auth
        )
        assert response.status == 404
    assert len(pages) == 6 and len({d["id"] for d in pages}) == 6
    assert [d["created_at"] for d in pages] == sorted((d["created_at"] for d in pages), reverse=True)
    assert len(deletes) == 1 and deletes[0]["event_type"] == "asset.deleted"
    again = receiver.at("/log")[-1]
    assert again.webhook_id == deletes[0]["event_id"]
    assert again.verified(hook["secret"])["type"] == "asset.deleted"


async def test_a_ping_answers_what_the_endpoint_said(
    make_settings: Callable[..., Settings], make_tenant: TenantFactory, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    settings = make_settings()
    tenant = await make_tenant()
    auth = await _hooks_token(pool, tenant.name)
    receiver.scripts["/broken"] = [500]
    async with app_of(settings) as client:
        good = await _register(client, auth, receiver.url("/pinged"), ["asset.created"])
        bad = await _register(client, auth, receiver.url("/broken"), ["asset.created"])
        response = await client.post(f"/v1/webhooks/{good['id']}/ping", headers=auth)
        assert response.status == 200
        ok = (await response.json())["data"]
        response = await client.post(f"/v1/webhooks/{bad['id']}/ping", headers=auth)
        failed = (await response.json())["data"]
        [logged] = await _deliveries(client, auth, good["id"])
    assert ok["delivered"] is True and ok["status_code"] == 200 and ok["error"] is None
    assert ok["response_body"] == "answer 1 from /pinged"
    event = receiver.at("/pinged")[0].verified(good["secret"])
    assert event["type"] == "webhook.ping" and event["data"]["webhook_id"] == good["id"]
    assert failed["delivered"] is False and failed["status_code"] == 500 and failed["error"] == "answered 500"
    assert logged["event_type"] == "webhook.ping" and logged["status"] == "delivered"


async def test_the_worker_counts_deliveries_by_outcome(
    make_settings: Callable[..., Settings], make_tenant: TenantFactory, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    settings = make_settings()
    tenant = await make_tenant()
    auth = await _hooks_token(pool, tenant.name)
    registry = CollectorRegistry()
    receiver.scripts["/counted"] = [500, 200]
    async with app_of(settings) as client, worker_of(settings, registry):
        hook = await _register(client, auth, receiver.url("/counted"), ["asset.created"])
        await _asset(client, auth)

        async def delivered() -> bool:
            return len(await _deliveries(client, auth, hook["id"], status="delivered")) == 1

        await poll(delivered)

        def sample(name: str, labels: dict[str, str] | None = None) -> float:
            return registry.get_sample_value(name, labels or {}) or 0.0

        assert sample("assetflow_webhook_deliveries_total", {"outcome": "delivered"}) == 1
        assert sample("assetflow_webhook_deliveries_total", {"outcome": "retrying"}) == 1
        assert sample("assetflow_webhook_attempt_duration_seconds_count") == 2
        assert registry.get_sample_value("assetflow_webhook_deliveries_due") is not None
        assert registry.get_sample_value("assetflow_webhook_deliveries_in_flight") is not None


# 8. Answers, limits, and the server's own failures -----------------------------------------------


async def test_no_redirect_is_followed_and_only_the_start_of_an_answer_is_read(
    make_settings: Callable[..., Settings], make_tenant: TenantFactory, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    settings = make_settings()
    tenant = await make_tenant()
    auth = await _hooks_token(pool, tenant.name)
    receiver.scripts.update({"/moved": [302], "/endless": [ENDLESS]})
    receiver.bodies["/big"] = "é".encode() * 100_000  # 200 KB
    answers = {}
    async with app_of(settings) as client:
        for path in ("/moved", "/big", "/endless"):
            hook = await _register(client, auth, receiver.url(path), ["asset.created"])
            started = time.monotonic()
            response = await client.post(f"/v1/webhooks/{hook['id']}/ping", headers=auth)
            answers[path] = ((await response.json())["data"], time.monotonic() - started)
    moved, _ = answers["/moved"]
    assert moved["delivered"] is False and moved["status_code"] == 302
    assert moved["error"] == "answered 302 (redirects are not followed)"
    assert receiver.at("/redirected") == []
    big, _ = answers["/big"]
    assert big["delivered"] is True and big["response_body"] == "é" * 512  # its first KiB
    endless, took = answers["/endless"]
    # 64 KiB of a body that never ends are read, then the connection is dropped: no timeout.
    assert endless["delivered"] is True and endless["response_body"] == "x" * 1024
    assert took < settings.webhook_timeout_seconds, took


async def test_finished_deliveries_are_pruned_after_the_retention_period(
    make_settings: Callable[..., Settings], make_tenant: TenantFactory, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    settings = make_settings()
    tenant = await make_tenant()
    auth = await _hooks_token(pool, tenant.name)
    receiver.scripts["/later"] = [HANG]
    async with app_of(settings) as client, worker_of(settings):
        done = await _register(client, auth, receiver.url("/kept"), ["asset.created"])
        waiting = await _register(client, auth, receiver.url("/later"), ["asset.created"])
        await _asset(client, auth)
        await _asset(client, auth)

        async def both_delivered() -> bool:
            return len(await _deliveries(client, auth, done["id"], status="delivered")) == 2

        await poll(both_delivered)
        await pool.execute(
            """UPDATE webhook_deliveries SET finished_at = now() - interval '31 days'
               WHERE id = (SELECT id FROM webhook_deliveries WHERE endpoint_id = $1 LIMIT 1)""",
            uuid.UUID(done["id"]),
        )
        pruned = await webhooks.prune_deliveries(unit_of_work(pool), dt.timedelta(days=30))
        kept = await _deliveries(client, auth, done["id"])
        pending = await _deliveries(client, auth, waiting["id"])
    assert pruned == 1
    assert len(kept) == 1 and kept[0]["status"] == "delivered"
    assert len(pending) == 2 and {d["status"] for d in pending} == {"pending"}  # never pruned while pending


async def test_a_delivery_first_tried_long_after_it_was_made_gets_a_window_of_its_own(
    make_settings: Callable[..., Settings], make_tenant: TenantFactory, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    """A delivery that waited two days (its endpoint disabled meanwhile, say) is not given up, nor
    its endpoint disabled, at its first failed attempt: the retry window starts at that attempt."""
    settings = make_settings(webhook_retry_schedule_seconds=[30.0])
    tenant = await make_tenant()
    auth = await _hooks_token(pool, tenant.name)
    receiver.scripts["/old"] = [500]
    async with app_of(settings) as client:
        hook = await _register(client, auth, receiver.url("/old"), ["asset.created"])
        await pool.execute(
            """INSERT INTO webhook_deliveries (id, org_id, endpoint_id, event_id, event_type, body,
                                               next_attempt_at, created_at)
               VALUES (gen_random_uuid(), $1, $2, $3, 'asset.created', '{}', now(),
                       now() - interval '2 days')""",
            tenant.org_id,
            uuid.UUID(hook["id"]),
            str(uuid.uuid4()),
        )
        async with worker_of(settings):
            await poll(_received_at_least(receiver, "/old", 1))

            async def tried() -> list[dict[str, Any]]:
                return [d for d in await _deliveries(client, auth, hook["id"]) if d["attempts"] == 1]

            [delivery] = await poll(tried)
        response = await client.get(f"/v1/webhooks/{hook['id']}", headers=auth)
        state = (await response.json())["data"]
    assert delivery["status"] == "pending" and delivery["next_attempt_at"] is not None
    assert state["enabled"] is True and state["disabled_reason"] is None


async def test_a_lost_key_sends_nothing_blames_no_endpoint_and_a_rotation_mends_it(
    make_settings: Callable[..., Settings], make_tenant: TenantFactory, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    tenant = await make_tenant()
    auth = await _hooks_token(pool, tenant.name)
    async with app_of(make_settings()) as client:
        hook = await _register(client, auth, receiver.url("/orphan"), ["asset.created"])
    lost = make_settings(webhook_secret_key=Fernet.generate_key().decode())  # the old key is gone
    async with app_of(lost) as client, worker_of(lost):
        response = await client.post(f"/v1/webhooks/{hook['id']}/ping", headers=auth)
        assert response.status == 409
        assert "rotate its secret" in (await response.json())["error"]
        await _asset(client, auth)

        async def logged() -> list[dict[str, Any]]:
            return [d for d in await _deliveries(client, auth, hook["id"]) if d["attempts"]]

        [delivery] = await poll(logged)
        window = await pool.fetchrow(
            "SELECT window_started_at, window_attempts FROM webhook_deliveries WHERE id = $1",
            uuid.UUID(delivery["id"]),
        )
        response = await client.get(f"/v1/webhooks/{hook['id']}", headers=auth)
        state = (await response.json())["data"]
        response = await client.post(f"/v1/webhooks/{hook['id']}/rotate-secret", headers=auth)
        assert response.status == 200
        rotated = (await response.json())["data"]
        response = await client.post(f"/v1/webhooks/{hook['id']}/ping", headers=auth)
        ping = (await response.json())["data"]
    assert receiver.at("/orphan")[0].verified(rotated["secret"])["type"] == "webhook.ping"
    assert len(receiver.at("/orphan")) == 1  # nothing was sent before the rotation
    assert delivery["status"] == "pending"
    assert delivery["attempt_log"][0]["error"].startswith(
        "not sent: a webhook secret was encrypted with a key"
    )
    assert state["enabled"] is True and state["failing_since"] is None  # not the endpoint's fault
    assert window is not None and window["window_started_at"] is None and window["window_attempts"] == 0
    assert rotated["previous_secret_until"] is None  # the unreadable secret is not kept to sign
    assert ping["delivered"] is True


async def test_a_claim_whose_lease_passed_to_another_writes_nothing(
    make_settings: Callable[..., Settings], make_tenant: TenantFactory, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    settings = make_settings()
    tenant = await make_tenant()
    auth = await _hooks_token(pool, tenant.name)
    async with app_of(settings) as client:
        hook = await _register(client, auth, receiver.url("/leased"), ["asset.created"])
        await _asset(client, auth)
        async with worker_of(settings):
            await poll(_received_at_least(receiver, "/leased", 1))
    await pool.execute("UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now()")
    [first] = await webhooks.claim_due(unit_of_work(pool), 10, 4, 16, dt.timedelta(seconds=0))
    # Its lease ran out at once, and another dispatcher claimed it.
    [second] = await webhooks.claim_due(unit_of_work(pool), 10, 4, 16, dt.timedelta(seconds=60))
    assert second.id == first.id and second.lease_id != first.lease_id
    result = AttemptResult(dt.datetime.now(dt.UTC), 5, 200, None, "late")
    plan = retry_plan(settings)
    assert await webhooks.settle(unit_of_work(pool), first, result, plan, dt.datetime.now(dt.UTC)) is None
    row = await pool.fetchrow(
        "SELECT attempts, leased_until, lease_id FROM webhook_deliveries WHERE id = $1", first.id
    )
    assert row is not None and row["attempts"] == 1 and row["lease_id"] == second.lease_id  # untouched
    settled = await webhooks.settle(unit_of_work(pool), second, result, plan, dt.datetime.now(dt.UTC))
    assert settled is not None and settled.status == "delivered"
    assert hook["id"]


async def test_assetflow_webhooks_rotate_key_seals_every_secret_under_the_new_key(
    make_settings: Callable[..., Settings], make_tenant: TenantFactory, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    tenant = await make_tenant()
    auth = await _hooks_token(pool, tenant.name)
    async with app_of(make_settings()) as client:
        hooks = [await _register(client, auth, receiver.url(f"/k{n}"), ["asset.*"]) for n in range(3)]
        await client.post(f"/v1/webhooks/{hooks[0]['id']}/rotate-secret", headers=auth)  # a previous one too
    new = Fernet.generate_key().decode()
    settings = make_settings()
    rotate = await asyncio.create_subprocess_exec(
        ASSETFLOW,
        "webhooks",
        "rotate-key",
        env={
            **os.environ,
            "DATABASE_URL": settings.database_url.get_secret_value(),
            "WEBHOOK_SECRET_KEY": f"{new},{KEY}",
            "LOG_LEVEL": "WARNING",
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await rotate.communicate()
    assert rotate.returncode == 0, err
    assert (
        err.decode().strip() == "3 webhook secrets are now encrypted with the first key of WEBHOOK_SECRET_KEY"
    )
    only_new = SecretBox([new])
    rows = await pool.fetch("SELECT secret, previous_secret FROM webhook_endpoints")
    assert len(rows) == 3
    for row in rows:
        assert only_new.open(bytes(row["secret"])).startswith("whsec_")
        if row["previous_secret"] is not None:
            assert only_new.open(bytes(row["previous_secret"])).startswith("whsec_")
    with pytest.raises(SecretUnreadable):
        SecretBox([KEY]).open(bytes(rows[0]["secret"]))
