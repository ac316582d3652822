"""The worker process. Its consumers arrive with the events work; until then it only waits."""

import asyncio
import logging

from shared.settings import Settings

logger = logging.getLogger(__name__)


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """Run until `stop` is set."""
    logger.info("worker started; no consumers are configured yet")
    await stop.wait()
    logger.info("worker stopped")
