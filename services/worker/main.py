"""The worker process: the consumers, the webhook dispatcher, the daily lifecycle sweep, and /metrics."""

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator

import aio_pika
import asyncpg
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

from services.worker.bootstrap import handlers
from services.worker.consumer import STOP_TIMEOUT_SECONDS, Consumer, parse_event, parse_source
from shared.db import pool_for
from shared.dispatcher import Dispatcher, WebhookMetrics
from shared.domain.consumers import ConsumerName
from shared.event_metrics import ConsumerMetrics
from shared.listening import ListenAddress, Listener, listen
from shared.services.coverage_notices import sweep
from shared.services.idempotency import prune_expired
from shared.services.unit_of_work import unit_of_work
from shared.settings import Settings
from shared.topology import CONSUMERS, Topology, declare_all
from shared.webhook_http import WebhookSender

logger = logging.getLogger(__name__)

_DRAIN_SECONDS = 30.0
_DISPATCHER_CONNECTIONS = 4


def seconds_until(at: dt.time, now: dt.datetime) -> float:
    """Seconds from `now` (UTC) to the next `at` (UTC)."""
    target = now.replace(hour=at.hour, minute=at.minute, second=at.second, microsecond=0)
    if target <= now:
        target += dt.timedelta(days=1)
    return (target - now).total_seconds()


async def _daily_sweep(pool: asyncpg.Pool, settings: Settings, stop: asyncio.Event) -> None:
    while not stop.is_set():
        delay = seconds_until(settings.sweep_at, dt.datetime.now(dt.UTC))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
            return
        try:
            await sweep(unit_of_work(pool), dt.date.today(), settings.expiry_warning_days)
        except Exception:
            logger.exception("lifecycle sweep failed; it runs again tomorrow or with `assetflow sweep`")


# How often the worker deletes the idempotency keys past IDEMPOTENCY_TTL_HOURS (an expired key is
# never answered from, so this only bounds the table).
PRUNE_KEYS_EVERY_SECONDS = 3600.0


async def _prune_keys(pool: asyncpg.Pool, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            pruned = await prune_expired(unit_of_work(pool))
            if pruned:
                logger.info("pruned expired idempotency keys", extra={"keys": pruned})
        except Exception:
            logger.exception("pruning idempotency keys failed; trying again in an hour")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=PRUNE_KEYS_EVERY_SECONDS)


def bind_metrics(settings: Settings) -> Listener:
    """Listen on WORKER_HOST:WORKER_PORT now (nothing when 0); raises CannotListen naming the setting."""
    if not settings.worker_port:
        return Listener()
    address = ListenAddress(
        "WORKER_HOST",
        settings.worker_host,
        "WORKER_PORT",
        settings.worker_port,
        alternative="0 to turn the worker's metrics off",
    )
    return listen(address)


@contextlib.asynccontextmanager
async def _metrics_server(listener: Listener, registry: CollectorRegistry) -> AsyncIterator[None]:
    """GET /metrics and /healthz on the worker's metrics sockets, if it has any."""
    if not listener.sockets:
        yield
        return

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.add_routes([web.get("/metrics", metrics), web.get("/healthz", healthz)])
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        for sock in listener.sockets:
            await web.SockSite(runner, sock).start()
        yield
    finally:
        await runner.cleanup()


async def run_worker(
    settings: Settings,
    stop: asyncio.Event,
    registry: CollectorRegistry | None = None,
    listener: Listener | None = None,
) -> None:
    """Consume until `stop` is set; then finish what is in flight and close cleanly."""
    # The metrics port is bound first: taken, it fails before the pool or the broker is touched.
    metrics_sockets = listener if listener is not None else bind_metrics(settings)
    with metrics_sockets:
        await _consume(settings, stop, registry or CollectorRegistry(), metrics_sockets)
    logger.info("worker stopped")


async def _consume(
    settings: Settings, stop: asyncio.Event, registry: CollectorRegistry, metrics_sockets: Listener
) -> None:
    metrics = ConsumerMetrics(registry)
    topology = Topology(settings.events_prefix)
    # A connection for each consumer's batch in progress, one for the daily sweep and the pruning
    # of idempotency keys, a few for the webhook dispatcher's claims and settlements, one spare.
    async with (
        pool_for(
            settings.database_url.get_secret_value(),
            min_size=1,
            max_size=len(CONSUMERS) + 2 + _DISPATCHER_CONNECTIONS,
            custom_plans=True,
        ) as pool,
        WebhookSender(
            settings.webhook_timeout_seconds,
            settings.webhook_allow_private_networks,
            settings.webhook_allow_http,
            settings.webhook_concurrency,
        ) as sender,
    ):
        connection = await _connect(settings, stop)
        if connection is None:
            return
        stopping = asyncio.Event()
        consumers = [
            Consumer(
                name,
                handler,
                pool,
                topology,
                metrics,
                settings.worker_max_attempts,
                stopping,
                parse_source if name is ConsumerName.WEBHOOKS else parse_event,
            )
            for name, handler in handlers(settings).items()
        ]
        dispatcher = Dispatcher(pool, settings, WebhookMetrics(registry), sender)
        async with connection, _metrics_server(metrics_sockets, registry):
            setup = await connection.channel()
            await declare_all(setup, topology)
            await setup.close()
            channels = []
            try:
                for consumer in consumers:
                    channel = await connection.channel()
                    await channel.set_qos(prefetch_count=settings.worker_prefetch)
                    await consumer.start(channel)
                    channels.append(channel)
                logger.info("worker consuming", extra={"queues": [topology.queue(c.name) for c in consumers]})
                sweeper = asyncio.create_task(_daily_sweep(pool, settings, stop))
                pruner = asyncio.create_task(_prune_keys(pool, stop))
                dispatching = asyncio.create_task(dispatcher.run(stop))
                await stop.wait()
                stopping.set()
                # Each waits up to STOP_TIMEOUT_SECONDS on a broker that is gone: all at once.
                await asyncio.gather(*(consumer.stop_consuming() for consumer in consumers))
                await _drain(consumers)
            finally:
                for consumer in consumers:
                    await consumer.close()  # the lanes end with the worker, however it ends
            # Anything still unacked returns to its queue; a broker that is gone did that already.
            await asyncio.gather(*(_close(channel) for channel in channels))
            await sweeper
            await pruner
            await dispatching


async def _close(channel: aio_pika.abc.AbstractChannel) -> None:
    with contextlib.suppress(TimeoutError, aio_pika.exceptions.AMQPError, RuntimeError):
        await asyncio.wait_for(channel.close(), timeout=STOP_TIMEOUT_SECONDS)


async def _connect(settings: Settings, stop: asyncio.Event) -> aio_pika.abc.AbstractRobustConnection | None:
    """Connect to the broker, waiting for it as long as it takes (or until stopped)."""
    delay = 0.5
    while not stop.is_set():
        try:
            return await aio_pika.connect_robust(settings.amqp_url.get_secret_value(), timeout=10)
        except (OSError, aio_pika.exceptions.AMQPError) as exc:
            logger.warning("broker unreachable; retrying", extra={"error": repr(exc), "retry_in_s": delay})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, 10.0)
    return None


async def _drain(consumers: list[Consumer]) -> None:
    deadline = time.monotonic() + _DRAIN_SECONDS
    while any(c.in_flight for c in consumers) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
