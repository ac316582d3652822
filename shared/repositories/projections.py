"""What the worker writes: processed event ids, lifecycle, depreciation and the audit log."""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from shared.db import ConnectionSource
from shared.domain.consumers import ConsumerName
from shared.domain.depreciation import Period
from shared.domain.queries import AuditEntry, AuditFilter


@dataclass(frozen=True)
class LifecycleRow:
    """One asset's warranty and support state as stored."""

    asset_id: UUID
    org_id: UUID
    version: int
    asset_tag: str
    name: str
    warranty_end_date: dt.date | None
    support_end_date: dt.date | None
    end_of_life_date: dt.date | None
    warranty_status: str
    support_status: str
    warranty_days_left: int | None
    support_days_left: int | None
    computed_on: dt.date
    warranty_expiring_for: dt.date | None = None
    warranty_expired_for: dt.date | None = None
    support_expiring_for: dt.date | None = None
    support_expired_for: dt.date | None = None


_LIFECYCLE_COLUMNS = (
    "asset_id org_id version asset_tag name warranty_end_date support_end_date end_of_life_date "
    "warranty_status support_status warranty_days_left support_days_left computed_on "
    "warranty_expiring_for warranty_expired_for support_expiring_for support_expired_for"
).split()


@dataclass(frozen=True)
class DepreciationRow:
    asset_id: UUID
    org_id: UUID
    version: int
    schedule: str | None
    original_cost: Decimal | None
    salvage_value: Decimal | None
    service_start_date: dt.date | None
    months: int | None


class ProjectionRepository:
    """What the worker derives from events, and what the api reads of it."""

    def __init__(self, db: ConnectionSource) -> None:
        self._db = db

    async def claim_event(self, consumer: ConsumerName, event_id: UUID) -> bool:
        """Record that a consumer applies an event; False when it already has (a redelivery)."""
        async with self._db.connection() as conn:
            status = await conn.execute(
                "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                consumer,
                event_id,
            )
            return bool(status == "INSERT 0 1")

    async def depreciation_version(self, asset_id: UUID) -> int | None:
        """The version the depreciation projection already reflects (locked for the transaction), if any."""
        async with self._db.connection() as conn:
            return await conn.fetchval(
                "SELECT version FROM asset_depreciation WHERE asset_id = $1 FOR UPDATE", asset_id
            )

    async def get_lifecycle(self, asset_id: UUID) -> LifecycleRow | None:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {', '.join(_LIFECYCLE_COLUMNS)} FROM asset_lifecycle "
                "WHERE asset_id = $1 AND NOT deleted",
                asset_id,
            )
            return LifecycleRow(**dict(row)) if row else None

    async def lock_lifecycle(self, asset_id: UUID) -> tuple[int | None, LifecycleRow | None]:
        """The version the lifecycle projection reflects (a deleted asset's too) and its live row,
        locked for the transaction; in one statement, as the worker needs both for every event."""
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                f"SELECT deleted, {', '.join(_LIFECYCLE_COLUMNS)} FROM asset_lifecycle "
                "WHERE asset_id = $1 FOR UPDATE",
                asset_id,
            )
            if row is None:
                return None, None
            values = dict(row)
            deleted = values.pop("deleted")
            return values["version"], None if deleted else LifecycleRow(**values)

    async def save_lifecycle(self, row: LifecycleRow) -> None:
        """Upsert; a concurrent newer version already stored wins."""
        async with self._db.connection() as conn:
            values = [getattr(row, c) for c in _LIFECYCLE_COLUMNS]
            placeholders = ", ".join(f"${i}" for i in range(1, len(values) + 1))
            updates = ", ".join(f"{c} = excluded.{c}" for c in _LIFECYCLE_COLUMNS[1:])
            await conn.execute(
                f"""INSERT INTO asset_lifecycle ({", ".join(_LIFECYCLE_COLUMNS)}) VALUES ({placeholders})
                    ON CONFLICT (asset_id) DO UPDATE SET {updates}, deleted = false, updated_at = now()
                    WHERE asset_lifecycle.version <= excluded.version""",
                *values,
            )

    async def lifecycle_due(self, today: dt.date, after: UUID | None, limit: int) -> list[LifecycleRow]:
        """Rows last computed before today, in id order, for the sweep."""
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                f"""SELECT {", ".join(_LIFECYCLE_COLUMNS)} FROM asset_lifecycle
                    WHERE NOT deleted AND computed_on < $1 AND ($2::uuid IS NULL OR asset_id > $2)
                      AND (warranty_end_date IS NOT NULL OR support_end_date IS NOT NULL)
                    ORDER BY asset_id LIMIT $3 FOR UPDATE SKIP LOCKED""",
                today,
                after,
                limit,
            )
            return [LifecycleRow(**dict(r)) for r in rows]

    async def bury_lifecycle(self, asset_id: UUID, org_id: UUID, version: int) -> None:
        """Mark the lifecycle row deleted at a version, so that a late older event cannot revive it."""
        async with self._db.connection() as conn:
            await conn.execute(
                """INSERT INTO asset_lifecycle (asset_id, org_id, version, deleted, asset_tag, name,
                       warranty_status, support_status, computed_on)
                   VALUES ($1, $2, $3, true, '', '', 'none', 'none', current_date)
                   ON CONFLICT (asset_id) DO UPDATE SET deleted = true, version = excluded.version,
                       updated_at = now()
                   WHERE asset_lifecycle.version <= excluded.version""",
                asset_id,
                org_id,
                version,
            )

    async def bury_depreciation(self, asset_id: UUID, org_id: UUID, version: int) -> None:
        """Drop the schedule and mark the depreciation row deleted at a version (as bury_lifecycle)."""
        async with self._db.connection() as conn:
            await conn.execute("DELETE FROM depreciation_periods WHERE asset_id = $1", asset_id)
            await conn.execute(
                """INSERT INTO asset_depreciation (asset_id, org_id, version, deleted)
                   VALUES ($1, $2, $3, true)
                   ON CONFLICT (asset_id) DO UPDATE SET deleted = true, version = excluded.version,
                       schedule = NULL, original_cost = NULL, salvage_value = NULL,
                       service_start_date = NULL, months = NULL, updated_at = now()
                   WHERE asset_depreciation.version <= excluded.version""",
                asset_id,
                org_id,
                version,
            )

    async def save_depreciation(self, row: DepreciationRow, periods: Sequence[Period]) -> None:
        """Upsert with its schedule; nothing changes when a newer version is already stored."""
        async with self._db.connection() as conn:
            status = await conn.execute(
                """INSERT INTO asset_depreciation (asset_id, org_id, version, schedule, original_cost,
                       salvage_value, service_start_date, months)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                   ON CONFLICT (asset_id) DO UPDATE SET version = excluded.version, deleted = false,
                       schedule = excluded.schedule, original_cost = excluded.original_cost,
                       salvage_value = excluded.salvage_value,
                       service_start_date = excluded.service_start_date,
                       months = excluded.months, updated_at = now()
                   WHERE asset_depreciation.version <= excluded.version""",
                row.asset_id,
                row.org_id,
                row.version,
                row.schedule,
                row.original_cost,
                row.salvage_value,
                row.service_start_date,
                row.months,
            )
            if status == "INSERT 0 0":
                return
            await conn.execute("DELETE FROM depreciation_periods WHERE asset_id = $1", row.asset_id)
            if periods:
                # One statement with the schedule as arrays: a COPY would take three round trips.
                await conn.execute(
                    """INSERT INTO depreciation_periods
                           (asset_id, period, period_end, depreciation, accumulated, book_value)
                       SELECT $1, * FROM unnest($2::integer[], $3::date[], $4::numeric[], $5::numeric[],
                                                $6::numeric[])""",
                    row.asset_id,
                    [p.period for p in periods],
                    [p.period_end for p in periods],
                    [p.depreciation for p in periods],
                    [p.accumulated for p in periods],
                    [p.book_value for p in periods],
                )

    async def get_depreciation(self, asset_id: UUID) -> tuple[DepreciationRow, list[Period]] | None:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                """SELECT asset_id, org_id, version, schedule, original_cost, salvage_value,
                          service_start_date, months
                   FROM asset_depreciation WHERE asset_id = $1 AND NOT deleted""",
                asset_id,
            )
            if row is None:
                return None
            periods = await conn.fetch(
                """SELECT period, period_end, depreciation, accumulated, book_value FROM depreciation_periods
                   WHERE asset_id = $1 ORDER BY period""",
                asset_id,
            )
            return DepreciationRow(**dict(row)), [Period(**dict(p)) for p in periods]

    async def insert_audit_entry(self, entry: dict[str, Any]) -> None:
        async with self._db.connection() as conn:
            await conn.execute(
                """INSERT INTO audit_log (event_id, org_id, asset_id, action, actor_id, actor_name,
                       request_id, version, changes, at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (event_id) DO NOTHING""",
                entry["event_id"],
                entry["org_id"],
                entry["asset_id"],
                entry["action"],
                entry["actor_id"],
                entry["actor_name"],
                entry["request_id"],
                entry["version"],
                entry["changes"],
                entry["at"],
            )

    async def list_audit(
        self, org_id: UUID, flt: AuditFilter, after: tuple[dt.datetime, UUID] | None, limit: int
    ) -> list[AuditEntry]:
        """Entries newest first, after a (time, event id) cursor; `actor` matches a token's id or name."""
        async with self._db.connection() as conn:
            clauses = ["org_id = $1"]
            args: list[Any] = [org_id]

            def bind(value: Any) -> str:
                args.append(value)
                return f"${len(args)}"

            if flt.asset_id is not None:
                clauses.append(f"asset_id = {bind(flt.asset_id)}")
            if flt.action is not None:
                clauses.append(f"action = {bind(flt.action)}")
            if flt.actor is not None:
                ref = bind(flt.actor)
                clauses.append(f"(actor_id = {ref} OR actor_name = {ref})")
            if flt.since is not None:
                clauses.append(f"at >= {bind(flt.since)}")
            if flt.until is not None:
                clauses.append(f"at < {bind(flt.until)}")
            if after is not None:
                clauses.append(f"(at, event_id) < ({bind(after[0])}, {bind(after[1])})")
            rows = await conn.fetch(
                f"""SELECT event_id, asset_id, action, actor_id, actor_name, request_id, version, changes, at
                    FROM audit_log WHERE {" AND ".join(clauses)}
                    ORDER BY at DESC, event_id DESC LIMIT {bind(limit)}""",
                *args,
            )
            return [AuditEntry(**dict(r)) for r in rows]

    async def asset_ever_existed(self, org_id: UUID, asset_id: UUID) -> bool:
        """True while the asset exists or has any audit entry (it was deleted)."""
        async with self._db.connection() as conn:
            return bool(
                await conn.fetchval(
                    """SELECT EXISTS (SELECT 1 FROM assets WHERE org_id = $1 AND id = $2)
                           OR EXISTS (SELECT 1 FROM audit_log WHERE org_id = $1 AND asset_id = $2)""",
                    org_id,
                    asset_id,
                )
            )
