"""The worker's consumer applies what has arrived in one transaction, and isolates a failure."""

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from services.worker.consumer import BATCH_SIZE, Consumer
from shared.db import Conn
from shared.event_metrics import ConsumerMetrics
from shared.events import AssetChangeEvent
from shared.topology import Topology
from tests.conftest import Tenant, poll


@dataclass
class FakeDelivery:
    """What the consumer reads of a delivery, and what it answered."""

    body: bytes
    headers: dict[str, Any] = field(default_factory=dict)
    message_id: str = ""
    content_type: str | None = "application/json"
    type: str | None = None
    answer: str | None = None

    async def ack(self) -> None:
        assert self.answer is None, "settled twice"
        self.answer = "ack"

    async def nack(self, requeue: bool = True) -> None:
        assert self.answer is None, "settled twice"
        self.answer = "requeue" if requeue else "drop"


@pytest.fixture
async def event_body(client: TestClient, tenant: Tenant, pool: asyncpg.Pool) -> bytes:
    """A real event from the outbox, to be copied with new ids."""
    resp = await client.post("/v1/assets", json={"name": "batched"}, headers=tenant.auth())
    assert resp.status == 201
    body: bytes = await pool.fetchval(
        "SELECT body FROM outbox WHERE org_id = $1 ORDER BY seq DESC LIMIT 1", tenant.org_id
    )
    return body


def _copies(body: bytes, n: int) -> list[FakeDelivery]:
    document = json.loads(body)
    deliveries = []
    for _ in range(n):
        document["id"] = str(uuid.uuid4())
        deliveries.append(FakeDelivery(json.dumps(document).encode(), message_id=document["id"]))
    return deliveries


class Recorder:
    """A handler that notes each event and its transaction in a table; one event id fails."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.failing: str | None = None

    async def __call__(self, conn: Conn, event: AssetChangeEvent) -> bool:
        await conn.execute(f"INSERT INTO {self.table} (event_id, txid) VALUES ($1, txid_current())", event.id)
        if event.id == self.failing:
            raise ValueError("this event cannot be applied")
        return True


@pytest.fixture
async def recorder(pool: asyncpg.Pool) -> Recorder:
    table = f"batch_log_{uuid.uuid4().hex[:8]}"
    await pool.execute(f"CREATE TABLE {table} (event_id text NOT NULL, txid bigint NOT NULL)")
    return Recorder(table)


def _consumer(recorder: Recorder, pool: asyncpg.Pool, max_attempts: int = 5) -> Consumer:
    return Consumer(
        "lifecycle",
        recorder,
        pool,
        Topology("unused"),
        ConsumerMetrics(CollectorRegistry()),
        max_attempts,
        asyncio.Event(),
    )


async def _log(pool: asyncpg.Pool, table: str) -> list[asyncpg.Record]:
    return await pool.fetch(f"SELECT event_id, txid FROM {table}")


async def test_what_has_arrived_is_applied_in_one_transaction_then_acked(
    pool: asyncpg.Pool, event_body: bytes, recorder: Recorder
) -> None:
    consumer = _consumer(recorder, pool)
    deliveries = _copies(event_body, 7)
    for delivery in deliveries:
        await consumer.on_message(delivery)  # type: ignore[arg-type]
    assert consumer.in_flight == 7
    lane = asyncio.create_task(consumer._lane())
    try:
        await poll(lambda: _settled(consumer))
    finally:
        lane.cancel()
    rows = await _log(pool, recorder.table)
    assert sorted(r["event_id"] for r in rows) == sorted(d.message_id for d in deliveries)
    assert len({r["txid"] for r in rows}) == 1  # one transaction, one commit
    assert [d.answer for d in deliveries] == ["ack"] * 7


async def _settled(consumer: Consumer) -> bool:
    return consumer.in_flight == 0


async def test_a_batch_is_at_most_batch_size(
    pool: asyncpg.Pool, event_body: bytes, recorder: Recorder
) -> None:
    consumer = _consumer(recorder, pool)
    deliveries = _copies(event_body, BATCH_SIZE + 3)
    for delivery in deliveries:
        await consumer.on_message(delivery)  # type: ignore[arg-type]
    lane = asyncio.create_task(consumer._lane())
    try:
        await poll(lambda: _settled(consumer))
    finally:
        lane.cancel()
    rows = await _log(pool, recorder.table)
    sizes = sorted(sum(1 for r in rows if r["txid"] == txid) for txid in {r["txid"] for r in rows})
    assert sizes == [3, BATCH_SIZE]
    assert all(d.answer == "ack" for d in deliveries)


async def test_a_failing_event_is_isolated_and_the_rest_applied_once(
    pool: asyncpg.Pool, event_body: bytes, recorder: Recorder
) -> None:
    consumer = _consumer(recorder, pool)
    deliveries = _copies(event_body, 5)
    bad = deliveries[2]
    recorder.failing = bad.message_id
    await consumer._process(deliveries)  # type: ignore[arg-type]
    rows = await _log(pool, recorder.table)
    # The batch was rolled back, then each event applied in a transaction of its own: the four
    # good ones once each, the bad one not at all.
    applied = [r["event_id"] for r in rows]
    assert sorted(applied) == sorted(d.message_id for d in deliveries if d is not bad)
    assert len({r["txid"] for r in rows}) == 4
    assert [d.answer for d in deliveries] == ["ack", "ack", "requeue", "ack", "ack"]


async def test_a_failing_event_on_its_last_attempt_is_dead_lettered_alone(
    pool: asyncpg.Pool, event_body: bytes, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer = _consumer(recorder, pool, max_attempts=3)
    deliveries = _copies(event_body, 3)
    bad = deliveries[0]
    bad.headers = {"x-delivery-count": 2}  # delivered twice before: this is the third attempt
    recorder.failing = bad.message_id
    dead: list[tuple[str, str]] = []

    async def dead_letter(message: FakeDelivery, reason: str) -> None:
        dead.append((message.message_id, reason))
        await message.ack()

    monkeypatch.setattr(consumer, "_dead_letter", dead_letter)
    await consumer._process(deliveries)  # type: ignore[arg-type]
    assert [m for m, _ in dead] == [bad.message_id]
    assert "failed 3 times" in dead[0][1] and "cannot be applied" in dead[0][1]
    rows = await _log(pool, recorder.table)
    assert sorted(r["event_id"] for r in rows) == sorted(d.message_id for d in deliveries[1:])
    assert all(d.answer == "ack" for d in deliveries)
