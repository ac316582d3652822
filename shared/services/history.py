"""Reading what the worker derived: the audit log, an asset's history, its depreciation."""

import base64
import binascii
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from shared.domain.dates import in_utc
from shared.domain.depreciation import DepreciationPlan, Period, book_value, whole_months_between
from shared.domain.models import DepreciationSchedule
from shared.domain.queries import AuditEntry, AuditFilter
from shared.errors import AssetNotFound, InvalidInput
from shared.services.references import parse_id
from shared.services.unit_of_work import UnitOfWork


def encode_cursor_parts(at: dt.datetime, row_id: UUID) -> str:
    """A cursor naming a place in a list ordered by (time, id)."""
    raw = f"{at.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def encode_cursor(entry: AuditEntry) -> str:
    return encode_cursor_parts(entry.at, entry.event_id)


def decode_cursor_parts(cursor: str) -> tuple[dt.datetime, UUID]:
    """The position a cursor names; InvalidInput for anything that is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, event_id = raw.split("|")
        moment = dt.datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError("naive time")
        return in_utc(moment), UUID(event_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput.one("cursor", "is not a cursor this API gave out") from exc


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    next_cursor: str | None


async def audit_log(
    uow: UnitOfWork, org_id: UUID, flt: AuditFilter, cursor: str | None, limit: int
) -> AuditPage:
    after = decode_cursor_parts(cursor) if cursor else None
    entries = await uow.projections.list_audit(org_id, flt, after, limit + 1)
    more = len(entries) > limit
    entries = entries[:limit]
    return AuditPage(entries, encode_cursor(entries[-1]) if more else None)


async def asset_history(
    uow: UnitOfWork, org_id: UUID, asset_id: str, cursor: str | None, limit: int
) -> AuditPage:
    """One asset's entries, also after it was deleted; 404 for an asset never seen."""
    row_id = parse_id(asset_id)
    if row_id is None or not await uow.projections.asset_ever_existed(org_id, row_id):
        raise AssetNotFound(asset_id)
    return await audit_log(uow, org_id, AuditFilter(asset_id=row_id), cursor, limit)


@dataclass(frozen=True)
class DepreciationReport:
    asset_id: UUID
    schedule: DepreciationSchedule | None
    original_cost: Decimal | None
    salvage_value: Decimal | None
    service_start_date: dt.date | None
    monthly_depreciation: Decimal | None
    months: int | None
    as_of: dt.date
    months_elapsed: int | None
    book_value: Decimal | None
    periods: list[Period]


async def depreciation(uow: UnitOfWork, org_id: UUID, asset_id: str, as_of: dt.date) -> DepreciationReport:
    """The asset's schedule and its book value on a date; nulls until the worker computed one."""
    row_id = parse_id(asset_id)
    asset = await uow.assets.get(org_id, row_id) if row_id else None
    if asset is None or row_id is None:
        raise AssetNotFound(asset_id)
    found = await uow.projections.get_depreciation(row_id)
    row, periods = found if found else (None, [])
    plan = None
    if row and row.schedule and row.original_cost is not None and row.service_start_date:
        schedule = DepreciationSchedule(row.schedule)
        if row.months:
            plan = DepreciationPlan(
                schedule, row.original_cost, row.salvage_value or Decimal(0), row.service_start_date
            )
    return DepreciationReport(
        asset_id=row_id,
        schedule=DepreciationSchedule(row.schedule) if row and row.schedule else None,
        original_cost=plan.original_cost if plan else None,
        salvage_value=plan.salvage_value if plan else None,
        service_start_date=plan.service_start if plan else None,
        monthly_depreciation=plan.monthly if plan else None,
        months=plan.months if plan else None,
        as_of=as_of,
        months_elapsed=min(whole_months_between(plan.service_start, as_of), plan.months) if plan else None,
        book_value=book_value(plan, as_of) if plan else None,
        periods=periods,
    )
