"""What the worker does with asset events: lifecycle, depreciation and the audit log.

Each function applies a batch of events, in the order they arrived, inside the caller's unit of
work (the consumer applies a batch of deliveries in one transaction) with a few statements for the
whole batch rather than a few per event. Each event is applied at most once per consumer (by event
id), and one older than the version its projection already reflects (or an event before it in the
batch brought) is ignored. The answer says, event by event, whether it was applied.
"""

import datetime as dt
import logging
from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol
from uuid import UUID

from shared.domain import lifecycle
from shared.domain.consumers import ConsumerName
from shared.domain.depreciation import book_values, plan_of
from shared.domain.models import DepreciationSchedule
from shared.events import ACTIONS, AssetChangeEvent, EventType
from shared.repositories.projections import Buried, DepreciationRow, LifecycleRow
from shared.services.coverage_notices import publish_notices, status_on
from shared.services.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)


class Identified(Protocol):
    @property
    def id(self) -> str: ...


async def claimed_events(uow: UnitOfWork, consumer: ConsumerName, events: Sequence[Identified]) -> list[bool]:
    """For each event, whether this consumer claims it now: not applied before, and not an earlier
    copy of it in the same batch."""
    fresh = await uow.projections.claim_events(consumer, [UUID(event.id) for event in events])
    claimed = []
    for event in events:
        event_id = UUID(event.id)
        claimed.append(event_id in fresh)
        fresh.discard(event_id)
    return claimed


def _newer(events: Sequence[AssetChangeEvent], claimed: list[bool], stored: dict[UUID, int]) -> list[bool]:
    """For each claimed event, whether it moves its asset's projection forward: newer than the
    version stored and than every event applied before it in the batch."""
    versions = dict(stored)
    applied = []
    for event, fresh in zip(events, claimed, strict=True):
        asset_id = UUID(event.data.asset.id)
        newer = fresh and event.data.version > versions.get(asset_id, 0)
        if newer:
            versions[asset_id] = event.data.version
        applied.append(newer)
    return applied


def _asset_ids(events: Sequence[AssetChangeEvent], claimed: list[bool]) -> list[UUID]:
    return sorted({UUID(event.data.asset.id) for event, fresh in zip(events, claimed, strict=True) if fresh})


def _buried(event: AssetChangeEvent) -> Buried:
    return UUID(event.data.asset.id), UUID(event.orgid), event.data.version


async def apply_lifecycle(
    uow: UnitOfWork, events: Sequence[AssetChangeEvent], today: dt.date, warn_days: int
) -> list[bool]:
    """Recompute warranty and support status (and any notice due) of each event's asset."""
    claimed = await claimed_events(uow, ConsumerName.LIFECYCLE, events)
    ids = _asset_ids(events, claimed)
    locked = await uow.projections.lock_lifecycles(ids) if ids else {}
    applied = _newer(events, claimed, {asset_id: version for asset_id, (version, _) in locked.items()})
    live: dict[UUID, LifecycleRow | None] = {asset_id: row for asset_id, (_, row) in locked.items()}
    final: dict[UUID, LifecycleRow | Buried] = {}
    notices = []
    for event, apply in zip(events, applied, strict=True):
        if not apply:
            continue
        asset_id = UUID(event.data.asset.id)
        if event.type is EventType.ASSET_DELETED:
            live[asset_id] = None
            final[asset_id] = _buried(event)
            continue
        row, due = status_on(_lifecycle_row(event, live.get(asset_id), today), today, warn_days)
        live[asset_id] = final[asset_id] = row
        notices.extend(due)
    await publish_notices(uow, notices)
    ordered = [final[asset_id] for asset_id in sorted(final)]
    await uow.projections.save_lifecycles([row for row in ordered if isinstance(row, LifecycleRow)])
    await uow.projections.bury_lifecycles([row for row in ordered if not isinstance(row, LifecycleRow)])
    return applied


def _lifecycle_row(event: AssetChangeEvent, previous: LifecycleRow | None, today: dt.date) -> LifecycleRow:
    """The event's asset as a lifecycle row, before its status is worked out; the notices already
    sent carry over from the row before."""
    asset = event.data.asset
    return LifecycleRow(
        asset_id=UUID(asset.id),
        org_id=UUID(event.orgid),
        version=event.data.version,
        asset_tag=asset.asset_tag,
        name=asset.name,
        warranty_end_date=asset.warranty_until,
        support_end_date=asset.support_end_date,
        end_of_life_date=asset.end_of_life_date,
        warranty_status=lifecycle.WarrantyStatus.NONE,
        support_status=lifecycle.SupportStatus.NONE,
        warranty_days_left=None,
        support_days_left=None,
        computed_on=today,
        warranty_expiring_for=previous.warranty_expiring_for if previous else None,
        warranty_expired_for=previous.warranty_expired_for if previous else None,
        support_expiring_for=previous.support_expiring_for if previous else None,
        support_expired_for=previous.support_expired_for if previous else None,
    )


async def apply_depreciation(uow: UnitOfWork, events: Sequence[AssetChangeEvent]) -> list[bool]:
    """Recompute the depreciation schedule of each event's asset (once, for its newest version)."""
    claimed = await claimed_events(uow, ConsumerName.DEPRECIATION, events)
    ids = _asset_ids(events, claimed)
    stored = await uow.projections.lock_depreciations(ids) if ids else {}
    applied = _newer(events, claimed, stored)
    newest = {UUID(event.data.asset.id): event for event, apply in zip(events, applied, strict=True) if apply}
    saved: list[tuple[DepreciationRow, Sequence[Decimal]]] = []
    buried: list[Buried] = []
    for asset_id in sorted(newest):
        event = newest[asset_id]
        if event.type is EventType.ASSET_DELETED:
            buried.append(_buried(event))
        else:
            saved.append(_depreciation_row(event))
    await uow.projections.save_depreciations(saved)
    await uow.projections.bury_depreciations(buried)
    return applied


def _depreciation_row(event: AssetChangeEvent) -> tuple[DepreciationRow, Sequence[Decimal]]:
    asset = event.data.asset
    plan = plan_of(asset)
    row = DepreciationRow(
        asset_id=UUID(asset.id),
        org_id=UUID(event.orgid),
        version=event.data.version,
        schedule=plan.schedule.value if plan else _schedule_name(asset.depreciation_schedule),
        original_cost=plan.original_cost if plan else None,
        salvage_value=plan.salvage_value if plan else None,
        service_start_date=plan.service_start if plan else None,
        months=plan.months if plan else None,
    )
    return row, book_values(plan) if plan else []


def _schedule_name(value: DepreciationSchedule | None) -> str | None:
    return value.value if value else None


async def apply_audit(uow: UnitOfWork, events: Sequence[AssetChangeEvent]) -> list[bool]:
    """Write the audit entry of each change; every version is kept, each once."""
    claimed = await claimed_events(uow, ConsumerName.AUDIT, events)
    await uow.projections.insert_audit_entries(
        [_audit_entry(event) for event, fresh in zip(events, claimed, strict=True) if fresh]
    )
    return claimed


def _audit_entry(event: AssetChangeEvent) -> dict[str, object]:
    return {
        "event_id": UUID(event.id),
        "org_id": UUID(event.orgid),
        "asset_id": UUID(event.subject),
        "action": ACTIONS[event.type],
        "actor_id": event.data.actor.id,
        "actor_name": event.data.actor.name,
        "request_id": event.data.request_id,
        "version": event.data.version,
        "changes": {k: {"from": v.from_, "to": v.to} for k, v in event.data.changes.items()},
        "at": event.time,
    }
