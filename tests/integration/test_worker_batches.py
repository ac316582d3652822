"""The worker's consumer applies what has arrived in one transaction, and isolates a failure."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from services.worker.consumer import BATCH_SIZE, Consumer, Delivery
from shared.domain.consumers import ConsumerName
from shared.event_metrics import ConsumerMetrics
from shared.events import AssetChangeEvent
from shared.repositories.unit_of_work import PgUnitOfWork
from shared.services.unit_of_work import UnitOfWork
from shared.topology import Topology
from tests.conftest import Tenant, poll


@dataclass
class FakeChannel:
    """The deliveries of one channel, in the order the broker sent them (their delivery tags)."""

    deliveries: list["FakeDelivery"] = field(default_factory=list)


@dataclass
class FakeDelivery:
    """What the consumer reads of a delivery, and what it answered; an ack notes whether the
    event's row was committed (visible from another connection) by then. An ack with `multiple`
    settles every unsettled delivery of the channel up to this one, as the broker does."""

    body: bytes
    message_id: str
    channel: FakeChannel
    headers: dict[str, Any] = field(default_factory=dict)
    content_type: str | None = "application/json"
    type: str | None = None
    answer: str | None = None
    committed_at_ack: bool | None = None
    check: Callable[[str], Awaitable[bool]] | None = None

    def __post_init__(self) -> None:
        self.channel.deliveries.append(self)

    @property
    def processed(self) -> bool:
        return self.answer is not None

    async def ack(self, multiple: bool = False) -> None:
        assert self.answer is None, "settled twice"
        up_to = self.channel.deliveries.index(self)
        covered = [d for d in self.channel.deliveries[:up_to] if d.answer is None] if multiple else []
        for delivery in [*covered, self]:
            delivery.answer = "ack"
            if delivery.check is not None:
                delivery.committed_at_ack = await delivery.check(delivery.message_id)

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
        self.channel = FakeChannel()

    async def __call__(self, uow: UnitOfWork, events: Sequence[AssetChangeEvent]) -> list[bool]:
        assert isinstance(uow, PgUnitOfWork)  # the consumer's own, on the connection of its transaction
        async with uow.connection() as conn:
            for event in events:
                await conn.execute(
                    f"INSERT INTO {self.table} (event_id, subject, txid) VALUES ($1, $2, txid_current())",
                    event.id,
                    event.subject,
                )
                if event.id == self.failing:
                    raise ValueError("this event cannot be applied")
        return [True] * len(events)

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
            body = json.dumps(document).encode()
            made.append(FakeDelivery(body, document["id"], self.channel, check=self.committed))
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
    """Hand the deliveries to the consumer, then let it apply them until all are settled."""
    for delivery in deliveries:
        await consumer.on_message(delivery)  # type: ignore[arg-type]
    consumer.start_applying()

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


async def test_events_are_applied_in_the_order_they_came_and_a_batch_is_acked_with_one_frame(
    consumers: Callable[..., Consumer], recorder: Recorder
) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    consumer = consumers(recorder)
    pairs = zip(recorder.deliveries(5, first), recorder.deliveries(5, second), strict=True)
    mixed = [d for pair in pairs for d in pair]
    acks: list[tuple[str, bool]] = []
    for delivery in mixed:
        delivery.ack = _noting(delivery, acks)  # type: ignore[method-assign,assignment]
    await _deliver(consumer, mixed)
    rows = await recorder.log()
    assert [r["event_id"] for r in rows] == [d.message_id for d in mixed]  # as they came
    assert len({r["txid"] for r in rows}) == 1
    assert acks == [(mixed[-1].message_id, True)]  # one frame for the ten
    assert all(d.answer == "ack" and d.committed_at_ack for d in mixed)


def _noting(delivery: FakeDelivery, acks: list[tuple[str, bool]]) -> Callable[..., Awaitable[None]]:
    ack = delivery.ack

    async def noted(multiple: bool = False) -> None:
        acks.append((delivery.message_id, multiple))
        await ack(multiple)

    return noted


async def test_a_batch_from_two_channels_is_acked_on_each(
    consumers: Callable[..., Consumer], recorder: Recorder
) -> None:
    """Around a reconnect, a batch holds deliveries of the channel before and of the new one: each
    channel's are acked on that channel, with a frame of their own."""
    consumer = consumers(recorder)
    old = recorder.deliveries(3)
    recorder.channel = FakeChannel()
    new = recorder.deliveries(2)
    acks: list[tuple[str, bool]] = []
    for delivery in old + new:
        delivery.ack = _noting(delivery, acks)  # type: ignore[method-assign,assignment]
    await _deliver(consumer, old + new)
    assert len({r["txid"] for r in await recorder.log()}) == 1
    assert acks == [(old[-1].message_id, True), (new[-1].message_id, True)]
    assert all(d.answer == "ack" for d in old + new)


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

    async def dead_letter(delivery: Delivery, reason: str) -> None:
        dead.append((str(delivery.message.message_id), reason))
        await delivery.message.ack()
        delivery.settled = True

    monkeypatch.setattr(consumer, "_dead_letter", dead_letter)
    await _deliver(consumer, deliveries)
    assert [m for m, _ in dead] == [bad.message_id]
    assert "failed 3 times" in dead[0][1] and "cannot be applied" in dead[0][1]
    rows = await recorder.log()
    assert [r["event_id"] for r in rows] == [d.message_id for d in deliveries[1:]]
    assert all(d.answer == "ack" for d in deliveries)


async def test_a_poison_message_is_dead_lettered_in_its_turn_and_the_rest_applied(
    consumers: Callable[..., Consumer], recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer = consumers(recorder)
    good = recorder.deliveries(2)
    poison = FakeDelivery(b"{not json", "poison", recorder.channel)
    dead: list[str] = []

    async def dead_letter(delivery: Delivery, reason: str) -> None:
        dead.append(str(delivery.message.message_id))
        await delivery.message.ack()
        delivery.settled = True

    monkeypatch.setattr(consumer, "_dead_letter", dead_letter)
    await _deliver(consumer, [good[0], poison, good[1]])
    assert dead == ["poison"]
    assert [r["event_id"] for r in await recorder.log()] == [d.message_id for d in good]
    assert all(d.answer == "ack" for d in good)


async def test_a_batch_that_breaks_midway_requeues_what_it_left_and_applying_goes_on(
    consumers: Callable[..., Consumer], recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer = consumers(recorder)
    deliveries = recorder.deliveries(3)
    recorder.failing = deliveries[1].message_id

    async def broken_failed(delivery: Delivery, exc: Exception) -> None:
        raise RuntimeError("the broker refused the dead letter")

    monkeypatch.setattr(consumer, "_failed", broken_failed)
    await _deliver(consumer, deliveries)
    # The first was applied and acked one by one; the failing one and the one after it were
    # left unsettled by the error, and go back to the queue rather than wait for a reconnect.
    assert [d.answer for d in deliveries] == ["ack", "requeue", "requeue"]
    later = recorder.deliveries(1)
    await _deliver(consumer, later)
    assert later[0].answer == "ack"
