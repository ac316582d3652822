"""The worker's wiring: which handler applies which event, in one table."""

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from shared.domain.consumers import ConsumerName
from shared.events import AssetChangeEvent
from shared.services import projections, webhooks
from shared.services.unit_of_work import UnitOfWork
from shared.settings import Settings

# Applies a batch of events, in order, inside the consumer's transaction; for each event, False when
# it was already applied or stale.
Handler = Callable[[UnitOfWork, Sequence[Any]], Awaitable[list[bool]]]


def handlers(settings: Settings) -> dict[ConsumerName, Handler]:
    """Consumer (queue) name to the function that applies its events.

    Every consumer's queue is bound to asset.created, asset.updated and asset.deleted, and the
    webhooks consumer's to every event (it takes each as an EventSource, the others as an
    AssetChangeEvent).
    """

    async def lifecycle(uow: UnitOfWork, events: Sequence[AssetChangeEvent]) -> list[bool]:
        return await projections.apply_lifecycle(uow, events, dt.date.today(), settings.expiry_warning_days)

    return {
        ConsumerName.LIFECYCLE: lifecycle,
        ConsumerName.DEPRECIATION: projections.apply_depreciation,
        ConsumerName.AUDIT: projections.apply_audit,
        ConsumerName.WEBHOOKS: webhooks.record_deliveries,
    }
