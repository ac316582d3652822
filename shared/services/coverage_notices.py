"""Warranty and support status of a stored lifecycle row, the notices it calls for, and the
daily sweep that recomputes what the passing of days has changed."""

import dataclasses
import datetime as dt
import logging
from uuid import UUID

from shared.domain import lifecycle
from shared.domain.lifecycle import Notice
from shared.events import (
    WORKER_SOURCE,
    CoverageKind,
    CoverageNoticeData,
    CoverageNoticeEvent,
    EventType,
    new_event_id,
)
from shared.jsonio import dumps
from shared.repositories.projections import LifecycleRow
from shared.services.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

_SWEEP_BATCH = 500


async def _publish_notice(
    uow: UnitOfWork, row: LifecycleRow, kind: CoverageKind, notice: Notice, end: dt.date, days_left: int
) -> None:
    event = CoverageNoticeEvent(
        id=new_event_id(),
        source=WORKER_SOURCE,
        type=EventType(f"asset.{kind}.{notice.value}"),
        subject=str(row.asset_id),
        time=dt.datetime.now(dt.UTC),
        orgid=str(row.org_id),
        data=CoverageNoticeData(
            asset_id=str(row.asset_id),
            asset_tag=row.asset_tag,
            name=row.name,
            coverage=kind,
            end_date=end,
            days_left=days_left,
        ),
    )
    await uow.outbox.add(UUID(event.id), row.org_id, event.type.value, dumps(event.model_dump()))


async def due_notices(uow: UnitOfWork, row: LifecycleRow, today: dt.date, warn_days: int) -> LifecycleRow:
    """The row's status as of today; each notice that is due is written to the outbox once per end date."""
    warranty = lifecycle.coverage(row.warranty_end_date, today, warn_days)
    support = lifecycle.coverage(row.support_end_date, today, warn_days)
    marks: dict[str, dt.date | None] = {}
    covers: tuple[tuple[CoverageKind, lifecycle.Coverage, dt.date | None], ...] = (
        ("warranty", warranty, row.warranty_end_date),
        ("support", support, row.support_end_date),
    )
    for kind, cover, end in covers:
        if end is None or cover.notice is Notice.NOTHING or cover.days_left is None:
            continue
        mark = f"{kind}_{cover.notice.value}_for"
        if getattr(row, mark) == end:
            continue  # already told for this end date
        await _publish_notice(uow, row, kind, cover.notice, end, cover.days_left)
        marks[mark] = end
    return dataclasses.replace(
        row,
        warranty_status=lifecycle.warranty_status(warranty).value,
        support_status=lifecycle.support_status(support).value,
        warranty_days_left=warranty.days_left,
        support_days_left=support.days_left,
        computed_on=today,
        **marks,  # type: ignore[arg-type]
    )


async def sweep(uow: UnitOfWork, today: dt.date, warn_days: int) -> int:
    """Recompute every lifecycle row last computed before today; returns how many."""
    done = 0
    after: UUID | None = None
    while True:
        async with uow.transaction():
            rows = await uow.projections.lifecycle_due(today, after, _SWEEP_BATCH)
            for row in rows:
                await uow.projections.save_lifecycle(await due_notices(uow, row, today, warn_days))
        done += len(rows)
        if len(rows) < _SWEEP_BATCH:
            break
        after = rows[-1].asset_id
    logger.info("lifecycle sweep done", extra={"rows": done, "today": today.isoformat()})
    return done
