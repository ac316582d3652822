"""Bodies and queries of the audit log, asset history and depreciation reads."""

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, Field

from services.api.schemas.common import AssetIdFilter, IsoDate, Query, iso_parser
from shared.asset_v1 import MoneyOut
from shared.domain.depreciation import Period
from shared.domain.models import DepreciationSchedule
from shared.domain.queries import AuditEntry
from shared.services.history import DepreciationReport

Limit = Annotated[int, Field(ge=1, le=100, description="Entries per page.")]
Cursor = Annotated[str, Field(max_length=200, description="`meta.next_cursor` of the previous page.")]

# A moment in a query string: ISO 8601 with an offset, never a number read as a Unix time.
QueryAware = Annotated[AwareDatetime, BeforeValidator(iso_parser(dt.datetime))]


class HistoryQuery(Query):
    limit: Limit = 20
    cursor: Cursor | None = None


class AuditQuery(HistoryQuery):
    asset_id: AssetIdFilter | None = None
    action: Literal["created", "updated", "deleted"] | None = None
    actor: Annotated[str, Field(max_length=200, description="A token's id or name.")] | None = None
    since: QueryAware | None = Field(default=None, description="Entries at or after (ISO 8601 with offset).")
    until: QueryAware | None = Field(default=None, description="Entries before (ISO 8601 with offset).")


class ActorOut(BaseModel):
    id: str | None
    name: str | None


class ChangeOut(BaseModel):
    model_config = {"populate_by_name": True}

    from_: Any = Field(alias="from")
    to: Any


class AuditEntryOut(BaseModel):
    id: str = Field(description="The id of the event the entry was made from.")
    asset_id: str
    at: dt.datetime
    action: Literal["created", "updated", "deleted"]
    actor: ActorOut
    request_id: str | None
    version: int
    changes: dict[str, ChangeOut]


class CursorMeta(BaseModel):
    limit: int
    next_cursor: str | None


class AuditPageOut(BaseModel):
    data: list[AuditEntryOut]
    meta: CursorMeta


class DepreciationQuery(Query):
    as_of: IsoDate | None = Field(default=None, description="The date of the book value (default: today).")


class PeriodOut(BaseModel):
    period: int
    period_end: dt.date
    depreciation: MoneyOut
    accumulated: MoneyOut
    book_value: MoneyOut


class DepreciationOut(BaseModel):
    asset_id: str
    depreciation_schedule: DepreciationSchedule | None
    original_cost: MoneyOut | None
    estimated_salvage_value: MoneyOut | None
    service_start_date: dt.date | None
    monthly_depreciation: MoneyOut | None
    useful_life_months: int | None
    as_of: dt.date
    months_elapsed: int | None
    book_value: MoneyOut | None
    schedule: list[PeriodOut]


class DepreciationBody(BaseModel):
    data: DepreciationOut


def audit_entry_out(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": str(entry.event_id),
        "asset_id": str(entry.asset_id),
        "at": entry.at,
        "action": entry.action,
        "actor": {"id": entry.actor_id, "name": entry.actor_name},
        "request_id": entry.request_id,
        "version": entry.version,
        "changes": entry.changes,
    }


def _period_out(p: Period) -> dict[str, Any]:
    return {
        "period": p.period,
        "period_end": p.period_end,
        "depreciation": p.depreciation,
        "accumulated": p.accumulated,
        "book_value": p.book_value,
    }


def depreciation_out(report: DepreciationReport) -> dict[str, Any]:
    return {
        "asset_id": str(report.asset_id),
        "depreciation_schedule": report.schedule.value if report.schedule else None,
        "original_cost": report.original_cost,
        "estimated_salvage_value": report.salvage_value,
        "service_start_date": report.service_start_date,
        "monthly_depreciation": report.monthly_depreciation,
        "useful_life_months": report.months,
        "as_of": report.as_of,
        "months_elapsed": report.months_elapsed,
        "book_value": report.book_value,
        "schedule": [_period_out(p) for p in report.periods],
    }
