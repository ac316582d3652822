"""Warranty and support status of a stored lifecycle row, the notices it calls for, and the
daily sweep that recomputes what the passing of days has changed."""

import dataclasses
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from shared.domain import lifecycle
from shared.domain.lifecycle import Notice
from shared.events import WORKER_SOURCE, CoverageKind, new_event_id
from shared.jsonio import dumps
from shared.repositories.projections import LifecycleRow
from shared.services.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

_SWEEP_BATCH = 500


def _notice(
    row: LifecycleRow, kind: CoverageKind, notice: Notice, end: dt.date, days_left: int
) -> dict[str, Any]:
    """A notice as the plain document its model (CoverageNoticeEvent) dumps: the worker writes
    one for about every other asset of an import with past end dates, and the model costs more
    than the rest of the notice."""
    return {
        "specversion": "1.0",
        "id": new_event_id(),
        "source": WORKER_SOURCE,
        "type": f"asset.{kind}.{notice.value}",
        "subject": str(row.asset_id),
        "time": dt.datetime.now(dt.UTC),
        "datacontenttype": "application/json",
        "orgid": str(row.org_id),
        "data": {
            "asset_id": str(row.asset_id),
            "asset_tag": row.asset_tag,
            "name": row.name,
            "coverage": kind,
            "end_date": end,
            "days_left": days_left,
        },
    }


def status_on(row: LifecycleRow, today: dt.date, warn_days: int) -> tuple[LifecycleRow, list[dict[str, Any]]]:
    """The row's status as of today, and each notice that is due: once per end date (the row
    remembers which it was told)."""
    warranty = lifecycle.coverage(row.warranty_end_date, today, warn_days)
    support = lifecycle.coverage(row.support_end_date, today, warn_days)
    marks: dict[str, dt.date | None] = {}
    notices = []
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
        notices.append(_notice(row, kind, cover.notice, end, cover.days_left))
        marks[mark] = end
    status = dataclasses.replace(
        row,
        warranty_status=lifecycle.warranty_status(warranty).value,
        support_status=lifecycle.support_status(support).value,
        warranty_days_left=warranty.days_left,
        support_days_left=support.days_left,
        computed_on=today,
        **marks,  # type: ignore[arg-type]
    )
    return status, notices


async def publish_notices(uow: UnitOfWork, notices: Sequence[dict[str, Any]]) -> None:
    """Write the notices (status_on's) to the outbox in the caller's transaction, one statement
    per organisation."""
    by_org: dict[str, list[tuple[UUID, str, bytes]]] = defaultdict(list)
    for event in notices:
        by_org[event["orgid"]].append((UUID(event["id"]), event["type"], dumps(event)))
    for org_id, events in by_org.items():
        await uow.outbox.add_many(UUID(org_id), events)


async def recompute(uow: UnitOfWork, rows: Sequence[LifecycleRow], today: dt.date, warn_days: int) -> None:
    """Store the rows' status as of today and write the notices that are due (in the caller's
    transaction)."""
    computed = [status_on(row, today, warn_days) for row in rows]
    await publish_notices(uow, [notice for _, due in computed for notice in due])
    await uow.projections.save_lifecycles([status for status, _ in computed])


async def sweep(uow: UnitOfWork, today: dt.date, warn_days: int) -> int:
    """Recompute every lifecycle row last computed before today; returns how many."""
    done = 0
    after: UUID | None = None
    while True:
        async with uow.transaction():
            rows = await uow.projections.lifecycle_due(today, after, _SWEEP_BATCH)
            await recompute(uow, rows, today, warn_days)
        done += len(rows)
        if len(rows) < _SWEEP_BATCH:
            break
        after = rows[-1].asset_id
    logger.info("lifecycle sweep done", extra={"rows": done, "today": today.isoformat()})
    return done
