"""Running one consumer: validate each message, apply it, ack only after it committed.

Deliveries are applied in batches: whatever has arrived (up to BATCH_SIZE) goes through the
handler one event after another in one transaction, so a busy queue costs one commit per batch
rather than one per event; a lone delivery is a batch of one and waits for nothing. A consumer
has LANES batches in progress at once; all the events of one asset go to the same lane, in the
order they arrived, so two lanes never wait on each other's row locks.

- Not JSON, or not a valid event: dead-lettered at once, with the reason.
- The database unreachable: the batch is retried in place with backoff for as long as it takes
  (no loss).
- Any other failure: the batch is rolled back and its events are applied one per transaction, so
  that only the failing one is redelivered, up to WORKER_MAX_ATTEMPTS times, then dead-lettered
  with the reason.
"""

import asyncio
import contextlib
import json
import logging
from decimal import Decimal

import aio_pika
import asyncpg
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from pydantic import ValidationError

from services.worker.bootstrap import Handler
from shared.domain.consumers import ConsumerName
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

# At most this many deliveries in one transaction; LANES transactions of a consumer at once.
BATCH_SIZE = 50
LANES = 2

Delivery = tuple[AbstractIncomingMessage, AssetChangeEvent]


def lane_of(subject: str) -> int:
    """The lane of an asset's events: always the same one while the worker runs."""
    return hash(subject) % LANES


class PoisonMessage(Exception):
    """A message that can never be processed."""


def parse_event(body: bytes) -> AssetChangeEvent:
    """The event in a message body; numbers with a fraction are read as exact decimals."""
    try:
        document = json.loads(body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PoisonMessage(f"body is not valid JSON: {exc}") from exc
    try:
        return AssetChangeEvent.model_validate(document)
    except ValidationError as exc:
        raise PoisonMessage(f"not a valid asset event: {exc.errors(include_url=False)!r:.500}") from exc


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
    ) -> None:
        self.name = name
        self._handler = handler
        self._pool = pool
        self._topology = topology
        self._metrics = metrics
        self._max_attempts = max_attempts
        self._stopping = stopping
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._consumer_tag: str | None = None
        self._inboxes: list[asyncio.Queue[Delivery]] = [asyncio.Queue() for _ in range(LANES)]
        self._lanes: list[asyncio.Task[None]] = []
        self.in_flight = 0  # delivered and not yet acked, nacked or dead-lettered

    async def start(self, channel: AbstractChannel) -> None:
        self._channel = channel
        self._queue = await channel.get_queue(self._topology.queue(self.name), ensure=True)
        self.start_lanes()
        self._consumer_tag = await self._queue.consume(self.on_message)

    def start_lanes(self) -> None:
        """Start applying what arrives (start does so before it consumes)."""
        if not self._lanes:
            self._lanes = [asyncio.create_task(self._lane(inbox)) for inbox in self._inboxes]

    async def stop_consuming(self) -> None:
        """Take no new deliveries; those in flight go on to their ack."""
        if self._queue is not None and self._consumer_tag is not None:
            # With the broker gone the cancel would wait for it to come back; the broker has then
            # returned every unacked delivery to the queue already, so there is nothing to cancel.
            with contextlib.suppress(TimeoutError, aio_pika.exceptions.AMQPError, RuntimeError):
                await asyncio.wait_for(self._queue.cancel(self._consumer_tag), timeout=STOP_TIMEOUT_SECONDS)

    async def close(self) -> None:
        """Stop the lanes; whatever they had not settled returns to the queue with the channel."""
        for lane in self._lanes:
            lane.cancel()
        await asyncio.gather(*self._lanes, return_exceptions=True)
        self._lanes = []

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        """Queue a delivery in the lane of its asset; a poison message goes to the dead letters."""
        self.in_flight += 1
        try:
            event = parse_event(message.body)
        except PoisonMessage as exc:
            try:
                await self._dead_letter(message, str(exc))
            finally:
                self.in_flight -= 1
            return
        self._inboxes[lane_of(event.subject)].put_nowait((message, event))

    async def _lane(self, inbox: asyncio.Queue[Delivery]) -> None:
        """Take whatever has arrived, up to a batch, and settle it; forever."""
        while True:
            batch = [await inbox.get()]
            while len(batch) < BATCH_SIZE and not inbox.empty():
                batch.append(inbox.get_nowait())
            try:
                await self._settle(batch)
            except Exception:
                # The lane lives on; what the batch left unsettled goes back to the queue now.
                logger.exception("batch not settled", extra={"consumer": self.name, "size": len(batch)})
                await _requeue_unsettled(batch)
            finally:
                self.in_flight -= len(batch)

    async def _settle(self, deliveries: list[Delivery]) -> None:
        """Apply the deliveries in one transaction and ack them; one by one if that fails."""
        try:
            applied = await self._apply(deliveries)
        except Exception as exc:
            if len(deliveries) > 1:
                for delivery in deliveries:
                    await self._settle([delivery])
            else:
                message, event = deliveries[0]
                await self._failed(message, event.id, exc)
            return
        if applied is None:  # stopping while the database is away
            for message, _ in deliveries:
                await message.nack(requeue=True)  # another worker, or this one restarted, takes it
            return
        for (message, _), done in zip(deliveries, applied, strict=True):
            await message.ack()
            self._metrics.consumed.labels(self.name, "applied" if done else "skipped").inc()

    async def _apply(self, deliveries: list[Delivery]) -> list[bool] | None:
        """Each event's handler, in order, in one transaction; retried while the database is
        away. None when the worker stops meanwhile."""
        backoff = 0.1
        while True:
            try:
                async with unit_of_work(self._pool) as uow, uow.transaction():
                    return [await self._handler(uow, event) for _, event in deliveries]
            except TRANSIENT_ERRORS as exc:
                self._metrics.retried.labels(self.name, "transient").inc()
                if self._stopping.is_set():
                    return None
                logger.warning(
                    "transient failure; retrying",
                    extra={
                        "consumer": self.name,
                        "event_ids": [event.id for _, event in deliveries],
                        "error": repr(exc),
                        "retry_in_s": backoff,
                    },
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)

    async def _failed(self, message: AbstractIncomingMessage, event_id: str, exc: Exception) -> None:
        delivered_before = (message.headers or {}).get("x-delivery-count", 0)
        attempts = (delivered_before if isinstance(delivered_before, int) else 0) + 1
        logger.exception(
            "event failed", extra={"consumer": self.name, "event_id": event_id, "attempt": attempts}
        )
        if attempts >= self._max_attempts:
            await self._dead_letter(message, f"failed {attempts} times; last error: {exc!r:.500}")
            return
        self._metrics.retried.labels(self.name, "error").inc()
        await message.nack(requeue=True)

    async def _dead_letter(self, message: AbstractIncomingMessage, reason: str) -> None:
        """Put the message, with the reason, in this consumer's dead-letter queue; then ack it."""
        assert self._channel is not None
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
        self._metrics.dead_lettered.labels(self.name).inc()
        logger.error(
            "event dead-lettered",
            extra={"consumer": self.name, "reason": reason, "message_id": message.message_id},
        )


async def _requeue_unsettled(batch: list[Delivery]) -> None:
    for message, _ in batch:
        if not message.processed:
            with contextlib.suppress(Exception):  # a channel that is gone returned it already
                await message.nack(requeue=True)
