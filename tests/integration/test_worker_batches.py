"""The worker's consumer applies what has arrived in one transaction, and isolates a failure."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from services.worker.consumer import BATCH_SIZE, LANES, Consumer, lane_of
from shared.domain.consumers import ConsumerName
from shared.event_metrics import ConsumerMetrics
from shared.events import AssetChangeEvent
from shared.repositories.unit_of_work import PgUnitOfWork
from shared.services.unit_of_work import UnitOfWork
from shared.topology import Topology
from tests.conftest import Tenant, poll


@dataclass
class FakeDelivery:
    """What the consumer reads of a delivery, and what it answered; an ack notes whether the
    event's row was committed (visible from another connection) by then."""

    body: bytes
    message_id: str
    headers: dict[str, Any] = field(default_factory=dict)
    content_type: str | None = "application/json"
    type: str | None = None
    answer: str | None = None
    committed_at_ack: bool | None = None
    check: Callable[[str], Awaitable[bool]] | None = None

    @property
    def processed(self) -> bool:
        return self.answer is not None

    async def ack(self) -> None:
        assert self.answer is None, "settled twice"
        self.answer = "ack"
        if self.check is not None:
            self.committed_at_ack = await self.check(self.message_id)

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


class Recorder:
    """A handler that notes each event, its asset and its transaction; one event id fails."""

    def __init__(self, pool: asyncpg.Pool, table: str) -> None:
        self.pool = pool
        self.table = table
        self.failing: str | None = None
        self.template: dict[str, Any] = {}

    async def __call__(self, uow: UnitOfWork, event: AssetChangeEvent) -> bool:
        assert isinstance(uow, PgUnitOfWork)  # the consumer's own, on the connection of its transaction
        async with uow.connection() as conn:
            await conn.execute(
                f"INSERT INTO {self.table} (event_id, subject, txid) VALUES ($1, $2, txid_current())",
                event.id,
                event.subject,
            )
        if event.id == self.failing:
            raise ValueError("this event cannot be applied")
        return True

    async def committed(self, event_id: str) -> bool:
        found = await self.pool.fetchval(f"SELECT count(*) FROM {self.table} WHERE event_id = $1", event_id)
        return bool(found == 1)

    def deliveries(self, n: int, subject: str | None = None) -> list[FakeDelivery]:
        """n copies of the real event with new ids (and the given asset, if any)."""
        made = []
        for _ in range(n):
            document = dict(self.template, id=str(uuid.uuid4()))
            if subject is not None:
                document["subject"] = subject
            made.append(FakeDelivery(json.dumps(document).encode(), document["id"], check=self.committed))
        return made

    async def log(self) -> list[asyncpg.Record]:
        return await self.pool.fetch(f"SELECT event_id, subject, txid FROM {self.table} ORDER BY seq")


@pytest.fixture
async def recorder(pool: asyncpg.Pool, event_body: bytes) -> Recorder:
    table = f"batch_log_{uuid.uuid4().hex[:8]}"
    await pool.execute(
        f"""CREATE TABLE {table} (seq bigint GENERATED ALWAYS AS IDENTITY, event_id text NOT NULL,
                                  subject text NOT NULL, txid bigint NOT NULL)"""
    )
    made = Recorder(pool, table)
    made.template = json.loads(event_body)
    return made


@pytest.fixture
async def consumers(pool: asyncpg.Pool) -> AsyncIterator[Callable[..., Consumer]]:
    made: list[Consumer] = []

    def make(handler: Recorder, max_attempts: int = 5) -> Consumer:
        consumer = Consumer(
            ConsumerName.LIFECYCLE,
            handler,
            pool,
            Topology("unused"),
            ConsumerMetrics(CollectorRegistry()),
            max_attempts,
            asyncio.Event(),
        )
        made.append(consumer)
        return consumer

    yield make
    for consumer in made:
        await consumer.close()


async def _deliver(consumer: Consumer, deliveries: list[FakeDelivery]) -> None:
    """Hand the deliveries to the consumer, then let its lanes run until all are settled."""
    for delivery in deliveries:
        await consumer.on_message(delivery)  # type: ignore[arg-type]
    consumer.start_lanes()

    async def settled() -> bool:
        return consumer.in_flight == 0

    await poll(settled)


async def test_what_has_arrived_is_applied_in_one_transaction_and_acked_after_its_commit(
    consumers: Callable[..., Consumer], recorder: Recorder
) -> None:
    consumer = consumers(recorder)
    deliveries = recorder.deliveries(7)
    await _deliver(consumer, deliveries)
    rows = await recorder.log()
    assert [r["event_id"] for r in rows] == [d.message_id for d in deliveries]  # in arrival order
    assert len({r["txid"] for r in rows}) == 1  # one transaction, one commit
    assert [d.answer for d in deliveries] == ["ack"] * 7
    assert all(d.committed_at_ack for d in deliveries)


async def test_a_batch_is_at_most_batch_size(consumers: Callable[..., Consumer], recorder: Recorder) -> None:
    consumer = consumers(recorder)
    deliveries = recorder.deliveries(BATCH_SIZE + 3)
    await _deliver(consumer, deliveries)
    rows = await recorder.log()
    sizes = sorted(sum(1 for r in rows if r["txid"] == txid) for txid in {r["txid"] for r in rows})
    assert sizes == [3, BATCH_SIZE]
    assert all(d.answer == "ack" and d.committed_at_ack for d in deliveries)


async def test_each_asset_keeps_to_one_lane_in_order(
    consumers: Callable[..., Consumer], recorder: Recorder
) -> None:
    subjects: dict[int, str] = {}
    while len(subjects) < LANES:
        candidate = str(uuid.uuid4())
        subjects.setdefault(lane_of(candidate), candidate)
    first, second = subjects[0], subjects[1]
    consumer = consumers(recorder)
    pairs = zip(recorder.deliveries(5, first), recorder.deliveries(5, second), strict=True)
    mixed = [d for pair in pairs for d in pair]
    await _deliver(consumer, mixed)
    rows = await recorder.log()
    for subject in (first, second):
        mine = [r for r in rows if r["subject"] == subject]
        sent = [json.loads(d.body)["id"] for d in mixed if json.loads(d.body)["subject"] == subject]
        assert [r["event_id"] for r in mine] == sent  # each asset's events in the order they came
        assert len({r["txid"] for r in mine}) == 1
    # The two assets went to two lanes: two transactions.
    assert len({r["txid"] for r in rows}) == 2
    assert all(d.answer == "ack" for d in mixed)


async def test_a_failing_event_is_isolated_and_the_rest_applied_once(
    consumers: Callable[..., Consumer], recorder: Recorder
) -> None:
    consumer = consumers(recorder)
    deliveries = recorder.deliveries(5)
    bad = deliveries[2]
    recorder.failing = bad.message_id
    await _deliver(consumer, deliveries)
    rows = await recorder.log()
    # The batch was rolled back, then each event applied in a transaction of its own: the four
    # good ones once each, the bad one not at all.
    assert [r["event_id"] for r in rows] == [d.message_id for d in deliveries if d is not bad]
    assert len({r["txid"] for r in rows}) == 4
    assert [d.answer for d in deliveries] == ["ack", "ack", "requeue", "ack", "ack"]
    assert all(d.committed_at_ack for d in deliveries if d is not bad)


async def test_a_failing_event_on_its_last_attempt_is_dead_lettered_alone(
    consumers: Callable[..., Consumer], recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer = consumers(recorder, max_attempts=3)
    deliveries = recorder.deliveries(3)
    bad = deliveries[0]
    bad.headers = {"x-delivery-count": 2}  # delivered twice before: this is the third attempt
    recorder.failing = bad.message_id
    dead: list[tuple[str, str]] = []

    async def dead_letter(message: FakeDelivery, reason: str) -> None:
        dead.append((message.message_id, reason))
        await message.ack()

    monkeypatch.setattr(consumer, "_dead_letter", dead_letter)
    await _deliver(consumer, deliveries)
    assert [m for m, _ in dead] == [bad.message_id]
    assert "failed 3 times" in dead[0][1] and "cannot be applied" in dead[0][1]
    rows = await recorder.log()
    assert [r["event_id"] for r in rows] == [d.message_id for d in deliveries[1:]]
    assert all(d.answer == "ack" for d in deliveries)


async def test_a_poison_message_is_dead_lettered_on_arrival_and_the_rest_applied(
    consumers: Callable[..., Consumer], recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer = consumers(recorder)
    good = recorder.deliveries(2)
    poison = FakeDelivery(b"{not json", "poison")
    dead: list[str] = []

    async def dead_letter(message: FakeDelivery, reason: str) -> None:
        dead.append(message.message_id)
        await message.ack()

    monkeypatch.setattr(consumer, "_dead_letter", dead_letter)
    await _deliver(consumer, [good[0], poison, good[1]])
    assert dead == ["poison"]
    assert [r["event_id"] for r in await recorder.log()] == [d.message_id for d in good]
    assert all(d.answer == "ack" for d in good)


async def test_a_batch_that_breaks_midway_requeues_what_it_left_and_the_lane_goes_on(
    consumers: Callable[..., Consumer], recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer = consumers(recorder)
    deliveries = recorder.deliveries(3)
    recorder.failing = deliveries[1].message_id

    async def broken_failed(message: FakeDelivery, event_id: str, exc: Exception) -> None:
        raise RuntimeError("the broker refused the dead letter")

    monkeypatch.setattr(consumer, "_failed", broken_failed)
    await _deliver(consumer, deliveries)
    # The first was applied and acked one by one; the failing one and the one after it were
    # left unsettled by the error, and go back to the queue rather than wait for a reconnect.
    assert [d.answer for d in deliveries] == ["ack", "requeue", "requeue"]
    later = recorder.deliveries(1)
    await _deliver(consumer, later)
    assert later[0].answer == "ack"
