"""The worker's wiring: which handler applies which event, in one table."""

import datetime as dt
from collections.abc import Awaitable, Callable

import asyncpg

from shared.events import AssetChangeEvent
from shared.services import projections
from shared.settings import Settings

Handler = Callable[[AssetChangeEvent], Awaitable[bool]]


def handlers(pool: asyncpg.Pool, settings: Settings) -> dict[str, Handler]:
    """Consumer (queue) name to the function that applies its events.

    Every consumer's queue is bound to asset.created, asset.updated and asset.deleted.
    """

    async def lifecycle(event: AssetChangeEvent) -> bool:
        return await projections.apply_lifecycle(pool, event, dt.date.today(), settings.expiry_warning_days)

    async def depreciation(event: AssetChangeEvent) -> bool:
        return await projections.apply_depreciation(pool, event)

    async def audit(event: AssetChangeEvent) -> bool:
        return await projections.apply_audit(pool, event)

    return {"lifecycle": lifecycle, "depreciation": depreciation, "audit": audit}
