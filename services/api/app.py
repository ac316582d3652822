"""The app factory of the HTTP gateway."""

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from services.api.keys import APART_POOL, LIMITER, METRICS, POOL, RELAY, SECRET_BOX, SETTINGS, WEBHOOK_SENDER
from services.api.metrics import HttpMetrics
from services.api.middlewares import bearer_auth, errors, rate_limit_headers, request_context
from services.api.rate_limits import Limiter
from services.api.routes import setup_routes
from shared.db import create_pool
from shared.event_metrics import RelayMetrics
from shared.relay import OutboxRelay
from shared.secret_box import SecretBox
from shared.settings import Settings
from shared.webhook_http import WebhookSender

# The connections of APART_POOL: each is held for one UPDATE of a counter.
APART_SIZE = 3


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    app[POOL] = await create_pool(
        settings.database_url.get_secret_value(),
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
    )
    app[APART_POOL] = await create_pool(
        settings.database_url.get_secret_value(), min_size=1, max_size=APART_SIZE
    )
    yield
    await app[APART_POOL].close()
    await app[POOL].close()


async def _relay(app: web.Application) -> AsyncIterator[None]:
    """The outbox relay runs beside the gateway; writes go on while the broker is away."""
    relay = OutboxRelay(app[POOL], app[SETTINGS], RelayMetrics(app[METRICS].registry))
    app[RELAY] = relay
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop), name="outbox-relay")
    yield
    stop.set()
    await task


async def _webhooks(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with WebhookSender(
        settings.webhook_timeout_seconds, settings.webhook_allow_private_networks, settings.webhook_allow_http
    ) as sender:
        app[WEBHOOK_SENDER] = sender
        yield


async def _limiter(app: web.Application) -> AsyncIterator[None]:
    limiter = app[LIMITER]
    if limiter is not None:
        limiter.start()
    yield
    if limiter is not None:
        await limiter.close()


def create_app(settings: Settings) -> web.Application:
    """Build the gateway; connections are opened when it starts, not here."""
    app = web.Application(
        middlewares=[request_context, errors, bearer_auth],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[SECRET_BOX] = SecretBox.of(settings.webhook_secret_key)
    app[METRICS] = HttpMetrics()
    app[LIMITER] = Limiter(settings, app[METRICS].registry) if settings.rate_limit_enabled else None
    app.on_response_prepare.append(rate_limit_headers)
    app.cleanup_ctx.append(_limiter)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_relay)
    app.cleanup_ctx.append(_webhooks)
    setup_routes(app)
    return app
