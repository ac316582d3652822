"""Serving the gateway until asked to stop."""

import asyncio
import logging

from aiohttp import web

from services.api.app import create_app
from shared.listening import ListenAddress, Listener, listen
from shared.settings import Settings

logger = logging.getLogger(__name__)

# The longest request line (a URL with its query) and header line the server reads. aiohttp's own
# limit, 8,190 bytes, answers a longer one before any middleware, in plain text rather than a
# problem document; a query of every parameter at its longest stays well under this.
MAX_LINE_BYTES = 64 * 1024


def bind_api(settings: Settings) -> Listener:
    """Listen on API_HOST:API_PORT now; raises CannotListen naming the setting to change."""
    return listen(ListenAddress("API_HOST", settings.api_host, "API_PORT", settings.api_port))


async def serve_api(settings: Settings, stop: asyncio.Event, listener: Listener | None = None) -> None:
    """Serve HTTP on API_HOST:API_PORT until `stop` is set, then drain and close."""
    # Bound before the app starts: a taken port fails before a pool or the relay exists.
    bound = listener if listener is not None else bind_api(settings)
    with bound:
        runner = web.AppRunner(
            create_app(settings),
            access_log=None,
            handle_signals=False,
            max_line_size=MAX_LINE_BYTES,
            max_field_size=MAX_LINE_BYTES,
        )
        await runner.setup()
        try:
            for sock in bound.sockets:
                await web.SockSite(runner, sock).start()
            logger.info("api listening", extra={"host": settings.api_host, "port": settings.api_port})
            await stop.wait()
        finally:
            await runner.cleanup()
            logger.info("api stopped")
