"""The outbox relay: publishes committed events to the broker, in order, with confirms.

It wakes on NOTIFY (sent at commit) and also polls, since a notification can be lost. Rows are
claimed with FOR UPDATE SKIP LOCKED, so any number of replicas can run one; a row is marked
sent only after the broker confirmed it. While the broker is down, events wait in the outbox.
"""

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator

import aio_pika
import asyncpg
from aio_pika.abc import AbstractExchange, AbstractRobustConnection
from aiormq.exceptions import ChannelInvalidStateError, DeliveryError
from pamqp.commands import Basic

from shared.db import listen_forever
from shared.event_metrics import RelayMetrics
from shared.events import CONTENT_TYPE
from shared.repositories import outbox
from shared.settings import Settings
from shared.topology import PUBLISHED_TYPES, Topology, declare_all

logger = logging.getLogger(__name__)

_PRUNE_EVERY_SECONDS = 60.0
# The backlog gauge counts the unsent outbox rows: at most once a second, not after every drain.
_BACKLOG_EVERY_SECONDS = 1.0
_MAX_BACKOFF_SECONDS = 10.0


NO_ROUTE = 312  # AMQP reply code of a mandatory message that no queue is bound to


def _unrouted_notice(routing_key: str, result: object) -> bool:
    """An event of a type no worker queue is bound to, that no queue took: nobody subscribes to it,
    which is not a failure. (Every published type has the webhooks consumer's queue, and the asset
    changes the other consumers' too; a NO_ROUTE for one of those means the topology is missing,
    and the relay declares it again and retries.)"""
    return (
        isinstance(result, DeliveryError)
        and isinstance(result.frame, Basic.Return)
        and result.frame.reply_code == NO_ROUTE
        and routing_key not in PUBLISHED_TYPES
    )


class OutboxRelay:
    """Moves events from the outbox table to the exchange."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings, metrics: RelayMetrics) -> None:
        self._pool = pool
        self._settings = settings
        self._metrics = metrics
        self._topology = Topology(settings.events_prefix)
        self._wake = asyncio.Event()
        self._connection: AbstractRobustConnection | None = None
        self._exchange: AbstractExchange | None = None

    @property
    def broker_connected(self) -> bool:
        connection = self._connection
        # A robust connection is not "closed" while it reconnects: `connected` tells the link's state.
        return (
            connection is not None
            and not connection.is_closed
            and connection.connected.is_set()
            and self._exchange is not None
        )

    def wake(self) -> None:
        """Publish now rather than at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set."""
        async with self._listening(stop):
            backoff = self._settings.relay_poll_seconds
            last_prune = last_backlog = 0.0
            while not stop.is_set():
                try:
                    await self._ensure_broker()
                    await self._drain()
                    backoff = self._settings.relay_poll_seconds
                    if time.monotonic() - last_prune > _PRUNE_EVERY_SECONDS:
                        await self._prune()
                        last_prune = time.monotonic()
                    if time.monotonic() - last_backlog >= _BACKLOG_EVERY_SECONDS:
                        await self._refresh_backlog()
                        last_backlog = time.monotonic()
                except (
                    aio_pika.exceptions.AMQPError,
                    OSError,
                    TimeoutError,
                    asyncpg.PostgresError,
                    asyncpg.InterfaceError,
                    RuntimeError,
                ) as exc:
                    self._metrics.publish_failures.inc()
                    logger.warning(
                        "relay could not publish; events stay in the outbox",
                        extra={"error": repr(exc), "retry_in_s": backoff},
                    )
                    await self._pause(stop, backoff)
                    backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)
                    continue
                await self._pause(stop, self._settings.relay_poll_seconds)
        if self._connection is not None:
            await self._connection.close()

    async def _pause(self, stop: asyncio.Event, seconds: float) -> None:
        """Sleep until woken, stopped, or `seconds` pass."""
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        self._wake.clear()

    async def _ensure_broker(self) -> None:
        if self._connection is None:
            self._connection = await aio_pika.connect_robust(
                self._settings.amqp_url.get_secret_value(), timeout=self._settings.publish_timeout_seconds
            )
        if self._exchange is None:
            channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
            self._exchange = await declare_all(channel, self._topology)
            logger.info("relay connected to the broker", extra={"exchange": self._topology.exchange})

    async def _drain(self) -> None:
        """Publish batches until the outbox has nothing unsent."""
        while await self._publish_batch() >= self._settings.relay_batch_size:
            pass

    async def _publish_batch(self) -> int:
        assert self._exchange is not None
        exchange = self._exchange
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await outbox.claim_unsent(conn, self._settings.relay_batch_size)
            if not rows:
                return 0
            # Many publishes in flight at once, each confirmed; the broker keeps a channel's order.
            results = await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(
                            row.body,
                            content_type=CONTENT_TYPE,
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                            message_id=str(row.event_id),
                            type=row.routing_key,
                        ),
                        routing_key=row.routing_key,
                        mandatory=True,
                        timeout=self._settings.publish_timeout_seconds,
                    )
                    for row in rows
                ),
                return_exceptions=True,
            )
            # Mark the confirmed prefix only, so that what follows a failure goes out again in order.
            confirmed = []
            for row, result in zip(rows, results, strict=True):
                if _unrouted_notice(row.routing_key, result):
                    self._metrics.unrouted.labels(row.routing_key).inc()
                elif isinstance(result, BaseException):
                    break
                confirmed.append(row)
            if confirmed:
                await outbox.mark_sent(conn, [row.seq for row in confirmed])
        for row in confirmed:
            self._metrics.published.labels(row.routing_key).inc()
        if len(confirmed) < len(rows):
            failure = results[len(confirmed)]
            if isinstance(
                failure,
                aio_pika.exceptions.AMQPError
                | OSError
                | TimeoutError
                | DeliveryError
                | ChannelInvalidStateError,
            ):
                self._exchange = None  # declare again on a fresh channel
            raise RuntimeError(f"publish failed after {len(confirmed)} of {len(rows)}: {failure!r}")
        return len(rows)

    async def _prune(self) -> None:
        retention = dt.timedelta(hours=self._settings.outbox_retention_hours)
        async with self._pool.acquire() as conn:
            pruned = await outbox.prune_sent(conn, retention)
        if pruned:
            logger.info("pruned sent outbox rows", extra={"rows": pruned})

    async def _refresh_backlog(self) -> None:
        async with self._pool.acquire() as conn:
            self._metrics.backlog.set(await outbox.backlog(conn))

    @contextlib.asynccontextmanager
    async def _listening(self, stop: asyncio.Event) -> AsyncIterator[None]:
        """LISTEN on a connection of its own (not the pool's), re-established when it drops."""
        task = asyncio.create_task(
            listen_forever(
                self._settings.database_url.get_secret_value(),
                outbox.NOTIFY_CHANNEL,
                self._wake,
                self._settings.relay_poll_seconds,
                "outbox",
            )
        )
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
