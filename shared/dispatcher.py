"""The webhook dispatcher: sends the deliveries that are due, each signed, and settles each attempt.

It wakes when the webhooks consumer commits new deliveries (NOTIFY), when the soonest retry falls
due, and at least every WEBHOOK_POLL_SECONDS. Deliveries are claimed with a lease (a row locked
FOR UPDATE SKIP LOCKED is marked as being sent until the lease ends), so any number of workers can
run one and none sends what another is sending; a worker that dies mid-send leaves a lease that
runs out, and the delivery is sent again with the same webhook-id. At most WEBHOOK_CONCURRENCY
attempts are in flight in a worker and WEBHOOK_CONCURRENCY_PER_ENDPOINT to one endpoint over all
workers, so a slow or dead endpoint holds only its own share and never delays another's.
"""

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.db import listen_forever
from shared.domain.webhooks import AttemptResult, RetryPlan, delivery_headers, outcome_of
from shared.repositories.webhooks import NOTIFY_CHANNEL, DueDelivery
from shared.secret_box import SecretBox, SecretUnreadable
from shared.services import webhooks
from shared.services.unit_of_work import unit_of_work
from shared.settings import Settings
from shared.webhook_http import WebhookSender

logger = logging.getLogger(__name__)
T = TypeVar("T")

# A claimed delivery is the dispatcher's for its attempt's timeout and this much more.
LEASE_MARGIN_SECONDS = 60.0
_COUNTS_EVERY_SECONDS = 5.0
_MAX_BACKOFF_SECONDS = 10.0
_PRUNE_EVERY_SECONDS = 3600.0


class WebhookMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.attempts = Counter(
            "assetflow_webhook_deliveries_total",
            "Delivery attempts by outcome: delivered (2xx), retrying (it is tried again later), "
            "failed (given up after the retry window, or 410 Gone).",
            ["outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "assetflow_webhook_attempt_duration_seconds",
            "How long an attempt took, from sending to the end of the answer read (or the error).",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        self.due = Gauge(
            "assetflow_webhook_deliveries_due",
            "Deliveries of enabled endpoints due now and not being sent, over every worker.",
            registry=registry,
        )
        self.in_flight = Gauge(
            "assetflow_webhook_deliveries_in_flight",
            "Attempts this worker is making now.",
            registry=registry,
        )


def retry_plan(settings: Settings) -> RetryPlan:
    return RetryPlan(
        schedule=tuple(settings.webhook_retry_schedule_seconds),
        then_every=settings.webhook_retry_every_seconds,
        give_up_after=dt.timedelta(hours=settings.webhook_retry_for_hours),
    )


class Dispatcher:
    def __init__(
        self, pool: asyncpg.Pool, settings: Settings, metrics: WebhookMetrics, sender: WebhookSender
    ) -> None:
        self._pool = pool
        self._settings = settings
        self._metrics = metrics
        self._sender = sender
        self._box = SecretBox.of(settings.webhook_secret_key)
        self._plan = retry_plan(settings)
        self._lease = dt.timedelta(seconds=settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS)
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Send what is due until `stop` is set; then finish the attempts in flight."""
        if self._box is None:
            logger.warning(
                "WEBHOOK_SECRET_KEY is not set: webhook deliveries are recorded but not sent until it is"
            )
            await stop.wait()
            return
        listener = asyncio.create_task(
            listen_forever(
                self._settings.database_url.get_secret_value(),
                NOTIFY_CHANNEL,
                self._wake,
                self._settings.webhook_poll_seconds,
                "webhook deliveries",
            )
        )
        try:
            await self._loop(stop, self._box)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            if self._in_flight:
                await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def _loop(self, stop: asyncio.Event, box: SecretBox) -> None:
        backoff = self._settings.webhook_poll_seconds
        last_counts = last_prune = 0.0
        while not stop.is_set():
            self._wake.clear()
            pause = self._settings.webhook_poll_seconds
            try:
                free = self._settings.webhook_concurrency - len(self._in_flight)
                claimed: list[DueDelivery] = []
                if free > 0:
                    claimed = await webhooks.claim_due(
                        unit_of_work(self._pool),
                        free,
                        self._settings.webhook_concurrency_per_endpoint,
                        max(1, self._settings.webhook_concurrency // 2),
                        self._lease,
                    )
                for delivery in claimed:
                    task = asyncio.create_task(self._attempt(delivery, box))
                    self._in_flight.add(task)
                    task.add_done_callback(self._done)
                self._metrics.in_flight.set(len(self._in_flight))
                if free > 0 and len(claimed) == free:
                    continue  # there may be more due
                if not claimed:
                    pause = await self._until_next_due(pause)
                if time.monotonic() - last_counts >= _COUNTS_EVERY_SECONDS:
                    self._metrics.due.set(await unit_of_work(self._pool).webhooks.due_count())
                    last_counts = time.monotonic()
                if time.monotonic() - last_prune >= _PRUNE_EVERY_SECONDS:
                    retention = dt.timedelta(days=self._settings.webhook_delivery_retention_days)
                    if pruned := await webhooks.prune_deliveries(unit_of_work(self._pool), retention):
                        logger.info("pruned old webhook deliveries", extra={"deliveries": pruned})
                    last_prune = time.monotonic()
                backoff = self._settings.webhook_poll_seconds
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                logger.warning(
                    "webhook dispatcher cannot reach the database; deliveries wait",
                    extra={"error": repr(exc), "retry_in_s": backoff},
                )
                pause = backoff
                backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)
            await _pause(stop, self._wake, pause)

    async def _until_next_due(self, longest: float) -> float:
        """Until the soonest retry falls due, at most `longest`. One due already waits for a free
        slot (of the worker, or of its endpoint): a finished attempt wakes the loop for it."""
        soonest = await unit_of_work(self._pool).webhooks.next_due()
        if soonest is None:
            return longest
        wait = (soonest - dt.datetime.now(dt.UTC)).total_seconds()
        return min(longest, wait) if wait > 0 else longest

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._metrics.in_flight.set(len(self._in_flight))
        self._wake.set()  # a slot is free
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.error("webhook attempt not settled; its lease runs out and it is sent again", exc_info=exc)

    async def _attempt(self, delivery: DueDelivery, box: SecretBox) -> None:
        claimed_at = time.monotonic()
        now = dt.datetime.now(dt.UTC)
        try:
            signing = webhooks.signing_secrets(
                box, delivery.secret, delivery.previous_secret, delivery.previous_secret_until, now
            )
        except SecretUnreadable as exc:
            # The server's fault, not the endpoint's: nothing is sent, and nothing counts against it.
            logger.error(
                "webhook delivery not sent: its secret cannot be read",
                extra={"webhook_id": str(delivery.endpoint_id), "delivery_id": str(delivery.id)},
            )
            unsent = AttemptResult(now, 0, None, f"not sent: {exc}; rotate the webhook's secret", None)
            await self._retrying(
                lambda: webhooks.postpone(unit_of_work(self._pool), delivery, unsent, self._plan), claimed_at
            )
            self._metrics.attempts.labels("retrying").inc()
            return
        headers = delivery_headers(signing, delivery.event_id, now, delivery.body, self._sender.user_agent)
        result = await self._sender.send(delivery.url, headers, delivery.body)
        self._metrics.latency.observe(result.duration_ms / 1000)
        settled = await self._retrying(
            lambda: webhooks.settle(
                unit_of_work(self._pool), delivery, result, self._plan, dt.datetime.now(dt.UTC)
            ),
            claimed_at,
        )
        if settled is None:
            logger.warning(
                "webhook attempt not recorded: its lease ran out (another dispatcher has it) or its "
                "webhook was deleted",
                extra={"delivery_id": str(delivery.id)},
            )
            return
        outcome = outcome_of(result.status_code)
        if outcome != "delivered":
            outcome = "retrying" if settled.next_attempt_at is not None else "failed"
        self._metrics.attempts.labels(outcome).inc()

    async def _retrying(self, write: Callable[[], Awaitable[T]], claimed_at: float) -> T:
        """A settlement, tried again while the database is away or a transaction was chosen to
        give way (deadlock, serialisation), until shortly before the claim's lease runs out: a
        settlement that never lands makes the delivery go out again with the lease."""
        deadline = claimed_at + self._lease.total_seconds() - LEASE_MARGIN_SECONDS / 2
        delay = 0.2
        while True:
            try:
                return await write()
            except _SETTLE_RETRYABLE as exc:
                if time.monotonic() + delay > deadline:
                    raise
                logger.warning(
                    "could not record a webhook attempt; trying again",
                    extra={"error": repr(exc), "retry_in_s": delay},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)


_SETTLE_RETRYABLE = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # the database shutting down or starting
    asyncpg.exceptions.TransactionRollbackError,  # a deadlock or serialisation failure
)


async def _pause(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    if seconds <= 0 or wake.is_set():
        return
    waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
