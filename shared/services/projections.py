"""What the worker does with each asset event: lifecycle, depreciation and the audit log.

Each function applies one event inside the caller's unit of work (the consumer applies a batch of
deliveries in one transaction), at most once per consumer (by event id), and ignores an event older than the
version its projection already reflects.
"""

import datetime as dt
import logging
from uuid import UUID

from shared.domain import lifecycle
from shared.domain.consumers import ConsumerName
from shared.domain.depreciation import plan_of, schedule
from shared.domain.models import DepreciationSchedule
from shared.events import ACTIONS, AssetChangeEvent, EventType
from shared.repositories.projections import DepreciationRow, LifecycleRow
from shared.services.coverage_notices import due_notices
from shared.services.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)


async def apply_lifecycle(uow: UnitOfWork, event: AssetChangeEvent, today: dt.date, warn_days: int) -> bool:
    """Recompute warranty and support status (and any notice due); False when nothing was applied."""
    asset = event.data.asset
    asset_id, org_id = UUID(asset.id), UUID(event.orgid)
    if not await uow.projections.claim_event(ConsumerName.LIFECYCLE, UUID(event.id)):
        return False
    stored, previous = await uow.projections.lock_lifecycle(asset_id)
    if stored is not None and stored >= event.data.version:
        return False
    if event.type is EventType.ASSET_DELETED:
        await uow.projections.bury_lifecycle(asset_id, org_id, event.data.version)
        return True
    row = LifecycleRow(
        asset_id=asset_id,
        org_id=org_id,
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
    await uow.projections.save_lifecycle(await due_notices(uow, row, today, warn_days))
    return True


async def apply_depreciation(uow: UnitOfWork, event: AssetChangeEvent) -> bool:
    """Recompute the depreciation schedule; False when nothing was applied."""
    asset = event.data.asset
    asset_id, org_id = UUID(asset.id), UUID(event.orgid)
    if not await uow.projections.claim_event(ConsumerName.DEPRECIATION, UUID(event.id)):
        return False
    stored = await uow.projections.depreciation_version(asset_id)
    if stored is not None and stored >= event.data.version:
        return False
    if event.type is EventType.ASSET_DELETED:
        await uow.projections.bury_depreciation(asset_id, org_id, event.data.version)
        return True
    plan = plan_of(asset)
    row = DepreciationRow(
        asset_id=asset_id,
        org_id=org_id,
        version=event.data.version,
        schedule=plan.schedule.value if plan else _schedule_name(asset.depreciation_schedule),
        original_cost=plan.original_cost if plan else None,
        salvage_value=plan.salvage_value if plan else None,
        service_start_date=plan.service_start if plan else None,
        months=plan.months if plan else None,
    )
    await uow.projections.save_depreciation(row, schedule(plan) if plan else [])
    return True


def _schedule_name(value: DepreciationSchedule | None) -> str | None:
    return value.value if value else None


async def apply_audit(uow: UnitOfWork, event: AssetChangeEvent) -> bool:
    """Write the audit entry of a change; every version is kept, each once."""
    if not await uow.projections.claim_event(ConsumerName.AUDIT, UUID(event.id)):
        return False
    await uow.projections.insert_audit_entry(
        {
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
        },
    )
    return True
