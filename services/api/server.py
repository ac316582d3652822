"""Serving the gateway until asked to stop."""

import asyncio
import logging

from aiohttp import web

from services.api.app import create_app
from shared.settings import Settings

logger = logging.getLogger(__name__)


async def serve_api(settings: Settings, stop: asyncio.Event) -> None:
    """Serve HTTP on API_HOST:API_PORT until `stop` is set, then drain and close."""
    runner = web.AppRunner(create_app(settings), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.api_host, settings.api_port)
        await site.start()  # fails when the port is taken: the relay started by setup() stops too
        logger.info("api listening", extra={"host": settings.api_host, "port": settings.api_port})
        await stop.wait()
    finally:
        await runner.cleanup()
        logger.info("api stopped")
