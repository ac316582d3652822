"""Running one consumer: validate each message, apply it, ack only after it committed.

Deliveries are applied in batches, in the order they arrived: whatever has arrived (up to
BATCH_SIZE) goes to the handler at once, in one transaction, so a busy queue costs one commit and
a few statements per batch rather than per event; a lone delivery is a batch of one and waits for
nothing. A batch is acked with one frame (`multiple`: every delivery up to its last), which is
right because a consumer's deliveries are settled in the order they came: one batch at a time,
and a bad message settled in its turn rather than as it arrives.

- Not JSON, or not a valid event: dead-lettered (in its turn), with the reason.
- The database unreachable: the batch is retried in place with backoff for as long as it takes
  (no loss).
- Any other failure: the batch is rolled back and its events are applied one per transaction, so
  that only the failing one is redelivered, up to WORKER_MAX_ATTEMPTS times, then dead-lettered
  with the reason.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import aio_pika
import asyncpg
import jiter
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from pydantic import ValidationError

from services.worker.bootstrap import Handler
from shared.domain.consumers import ConsumerName
from shared.domain.webhooks import EventSource
from shared.event_metrics import ConsumerMetrics
from shared.events import AssetChangeEvent
from shared.services.unit_of_work import unit_of_work
from shared.topology import Topology

logger = logging.getLogger(__name__)

# How long stopping waits on the broker for a cancel or a close before giving up on it.
STOP_TIMEOUT_SECONDS = 3.0

TRANSIENT_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
)
_MAX_BACKOFF_SECONDS = 5.0

# At most this many deliveries in one transaction (the channel's prefetch should be at least
# twice this, so that the next batch arrives while one is applied).
BATCH_SIZE = 100
# A batch takes what has arrived, and what arrives within this many turns of the event loop in a
# row with nothing new: deliveries read off the socket together reach the inbox a turn or two
# apart, so this keeps a backlog's batches full (about 50 rather than 5 here) without keeping a
# lone delivery waiting for anything but those turns.
_IDLE_TURNS = 3


@dataclass(slots=True)
class Delivery:
    """A message as it arrived: its event, or why it can never be processed."""

    message: AbstractIncomingMessage
    event: Any  # what the consumer's parser made of the body (an AssetChangeEvent, an EventSource)
    problem: str | None = None
    settled: bool = False  # acked, nacked or dead-lettered (also by another delivery's ack)


class PoisonMessage(Exception):
    """A message that can never be processed."""


def parse_event(body: bytes) -> AssetChangeEvent:
    """The event in a message body; numbers with a fraction are read as exact decimals."""
    try:
        document = jiter.from_json(body, float_mode="decimal")
    except ValueError as exc:
        raise PoisonMessage(f"body is not valid JSON: {exc}") from exc
    try:
        return AssetChangeEvent.model_validate(document)
    except ValidationError as exc:
        raise PoisonMessage(f"not a valid asset event: {exc.errors(include_url=False)!r:.500}") from exc


def parse_source(body: bytes) -> EventSource:
    """Any event, as the webhooks consumer routes it: its id, type and organisation, and its body
    as it came (what the endpoints receive)."""
    try:
        document = jiter.from_json(body, cache_mode="keys")
    except ValueError as exc:
        raise PoisonMessage(f"body is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise PoisonMessage("body is not a JSON object")
    event_id, event_type, org = document.get("id"), document.get("type"), document.get("orgid")
    if not (isinstance(event_type, str) and event_type):
        raise PoisonMessage("not a valid event: a CloudEvent needs a string `type`")
    if _uuid_or_none(event_id) is None:
        raise PoisonMessage("not a valid event: its `id` is not an assetflow event id (a UUID)")
    org_id = _uuid_or_none(org)
    if org_id is None:
        raise PoisonMessage("not a valid event: `orgid` is not an organisation's id")
    assert isinstance(event_id, str)
    return EventSource(event_id, event_type, org_id, body)


def _uuid_or_none(value: object) -> UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return UUID(value)
    except ValueError:
        return None


class Consumer:
    """One queue and the handler that applies its events."""

    def __init__(
        self,
        name: ConsumerName,
        handler: Handler,
        pool: asyncpg.Pool,
        topology: Topology,
        metrics: ConsumerMetrics,
        max_attempts: int,
        stopping: asyncio.Event,
        parse: Callable[[bytes], Any] = parse_event,
    ) -> None:
        self.name = name
        self._parse = parse
        self._handler = handler
        self._pool = pool
        self._topology = topology
        self._metrics = metrics
        self._max_attempts = max_attempts
        self._stopping = stopping
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._consumer_tag: str | None = None
        self._inbox: asyncio.Queue[Delivery] = asyncio.Queue()
        self._applier: asyncio.Task[None] | None = None
        self.in_flight = 0  # delivered and not yet acked, nacked or dead-lettered

    async def start(self, channel: AbstractChannel) -> None:
        self._channel = channel
        self._queue = await channel.get_queue(self._topology.queue(self.name), ensure=True)
        self.start_applying()
        self._consumer_tag = await self._queue.consume(self.on_message)

    def start_applying(self) -> None:
        """Start applying what arrives (start does so before it consumes)."""
        if self._applier is None:
            self._applier = asyncio.create_task(self._apply_forever())

    async def stop_consuming(self) -> None:
        """Take no new deliveries; those in flight go on to their ack."""
        if self._queue is not None and self._consumer_tag is not None:
            # With the broker gone the cancel would wait for it to come back; the broker has then
            # returned every unacked delivery to the queue already, so there is nothing to cancel.
            with contextlib.suppress(TimeoutError, aio_pika.exceptions.AMQPError, RuntimeError):
                await asyncio.wait_for(self._queue.cancel(self._consumer_tag), timeout=STOP_TIMEOUT_SECONDS)

    async def close(self) -> None:
        """Stop applying; whatever was not settled returns to the queue with the channel."""
        if self._applier is not None:
            self._applier.cancel()
            await asyncio.gather(self._applier, return_exceptions=True)
            self._applier = None

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        """Queue a delivery to be applied (or, if it is poison, dead-lettered) in its turn."""
        self.in_flight += 1
        try:
            self._inbox.put_nowait(Delivery(message, self._parse(message.body)))
        except PoisonMessage as exc:
            self._inbox.put_nowait(Delivery(message, None, str(exc)))

    async def _apply_forever(self) -> None:
        """Take whatever has arrived, up to a batch, and settle it; forever."""
        inbox = self._inbox
        while True:
            batch = [await inbox.get()]
            idle = 0
            while len(batch) < BATCH_SIZE and idle < _IDLE_TURNS:
                if inbox.empty():
                    idle += 1
                    await asyncio.sleep(0)  # deliveries already read off the socket come in
                    continue
                idle = 0
                batch.append(inbox.get_nowait())
            try:
                for poison in (d for d in batch if d.event is None):
                    await self._dead_letter(poison, poison.problem or "poison")
                await self._settle([d for d in batch if d.event is not None])
            except Exception:
                # Applying goes on; what the batch left unsettled goes back to the queue now.
                logger.exception("batch not settled", extra={"consumer": self.name, "size": len(batch)})
                await _requeue_unsettled(batch)
            finally:
                self.in_flight -= len(batch)

    async def _settle(self, deliveries: list[Delivery]) -> None:
        """Apply the deliveries in one transaction and ack them; one by one if that fails."""
        if not deliveries:
            return
        try:
            applied = await self._apply(deliveries)
        except Exception as exc:
            if len(deliveries) > 1:
                for delivery in deliveries:
                    await self._settle([delivery])
            else:
                await self._failed(deliveries[0], exc)
            return
        if applied is None:  # stopping while the database is away
            for delivery in deliveries:
                await delivery.message.nack(requeue=True)  # another worker, or this one restarted, takes it
                delivery.settled = True
            return
        await _ack(deliveries)
        for done in applied:
            self._metrics.consumed.labels(self.name, "applied" if done else "skipped").inc()

    async def _apply(self, deliveries: list[Delivery]) -> list[bool] | None:
        """The handler on the events, in order, in one transaction; retried while the database
        is away. None when the worker stops meanwhile."""
        events = [d.event for d in deliveries if d.event is not None]
        backoff = 0.1
        while True:
            try:
                async with unit_of_work(self._pool) as uow, uow.transaction():
                    return await self._handler(uow, events)
            except TRANSIENT_ERRORS as exc:
                self._metrics.retried.labels(self.name, "transient").inc()
                if self._stopping.is_set():
                    return None
                logger.warning(
                    "transient failure; retrying",
                    extra={
                        "consumer": self.name,
                        "event_ids": [event.id for event in events],
                        "error": repr(exc),
                        "retry_in_s": backoff,
                    },
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)

    async def _failed(self, delivery: Delivery, exc: Exception) -> None:
        message = delivery.message
        event_id = delivery.event.id if delivery.event else message.message_id
        delivered_before = (message.headers or {}).get("x-delivery-count", 0)
        attempts = (delivered_before if isinstance(delivered_before, int) else 0) + 1
        logger.exception(
            "event failed", extra={"consumer": self.name, "event_id": event_id, "attempt": attempts}
        )
        if attempts >= self._max_attempts:
            await self._dead_letter(delivery, f"failed {attempts} times; last error: {exc!r:.500}")
            return
        self._metrics.retried.labels(self.name, "error").inc()
        await message.nack(requeue=True)
        delivery.settled = True

    async def _dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Put the message, with the reason, in this consumer's dead-letter queue; then ack it."""
        assert self._channel is not None
        message = delivery.message
        exchange = await self._channel.get_exchange(self._topology.dead_letter_exchange, ensure=False)
        headers = dict(message.headers or {})
        headers.update({"x-assetflow-reason": reason, "x-assetflow-consumer": self.name})
        await exchange.publish(
            aio_pika.Message(
                message.body,
                headers=headers,
                content_type=message.content_type,
                message_id=message.message_id,
                type=message.type,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=self._topology.queue(self.name),
            mandatory=True,
        )
        await message.ack()
        delivery.settled = True
        self._metrics.dead_lettered.labels(self.name).inc()
        logger.error(
            "event dead-lettered",
            extra={"consumer": self.name, "reason": reason, "message_id": message.message_id},
        )


async def _ack(deliveries: list[Delivery]) -> None:
    """Ack the deliveries, each run of them from one channel with one frame (`multiple`: every
    delivery of the channel up to that one, which are these, as they are settled in order). Around
    a reconnect a batch holds deliveries of the channel before it too, which the broker has
    already returned to the queue: their ack fails (the batch's other deliveries are then
    requeued too), and when they come again they are skipped as already applied."""
    start = 0
    for end in range(1, len(deliveries) + 1):
        if end == len(deliveries) or deliveries[end].message.channel is not deliveries[start].message.channel:
            await deliveries[end - 1].message.ack(multiple=end - start > 1)
            for delivery in deliveries[start:end]:
                delivery.settled = True
            start = end


async def _requeue_unsettled(batch: list[Delivery]) -> None:
    for delivery in batch:
        if not delivery.settled and not delivery.message.processed:
            with contextlib.suppress(Exception):  # a channel that is gone returned it already
                await delivery.message.nack(requeue=True)
