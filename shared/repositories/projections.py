"""What the worker writes: processed event ids, lifecycle, depreciation and the audit log."""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from shared.db import ConnectionSource
from shared.domain.consumers import ConsumerName
from shared.domain.depreciation import Period, months_of
from shared.domain.queries import AuditEntry, AuditFilter
from shared.repositories.rows import columns, unnest_rows


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


# Each column of asset_lifecycle that a LifecycleRow holds, with its type.
_LIFECYCLE_TYPES = {
    "asset_id": "uuid",
    "org_id": "uuid",
    "version": "int",
    "asset_tag": "text",
    "name": "text",
    "warranty_end_date": "date",
    "support_end_date": "date",
    "end_of_life_date": "date",
    "warranty_status": "text",
    "support_status": "text",
    "warranty_days_left": "int",
    "support_days_left": "int",
    "computed_on": "date",
    "warranty_expiring_for": "date",
    "warranty_expired_for": "date",
    "support_expiring_for": "date",
    "support_expired_for": "date",
}
_LIFECYCLE_COLUMNS = list(_LIFECYCLE_TYPES)


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


# (asset id, organisation id, version) of an asset deleted at that version.
Buried = tuple[UUID, UUID, int]

_AUDIT_TYPES = {
    "event_id": "uuid",
    "org_id": "uuid",
    "asset_id": "uuid",
    "action": "text",
    "actor_id": "text",
    "actor_name": "text",
    "request_id": "text",
    "version": "int",
    "changes": "jsonb",
    "at": "timestamptz",
}
_BURIED_TYPES = {"asset_id": "uuid", "org_id": "uuid", "version": "int"}
_DEPRECIATION_TYPES = {
    **_BURIED_TYPES,
    "schedule": "text",
    "original_cost": "numeric",
    "salvage_value": "numeric",
    "service_start_date": "date",
    "months": "int",
    "book_values": "text",  # each an array's text (see _array_text), cast in the statement
}


def _array_text(values: Sequence[Decimal]) -> str:
    """An array of decimals as PostgreSQL's text for it: asyncpg's binary encoding of numeric[]
    costs about ten times as much (~100 us for a five-year schedule here)."""
    return "{" + ",".join(map(str, values)) + "}"


class ProjectionRepository:
    """What the worker derives from events, and what the api reads of it."""

    def __init__(self, db: ConnectionSource) -> None:
        self._db = db

    async def claim_events(self, consumer: ConsumerName, event_ids: Sequence[UUID]) -> set[UUID]:
        """Record that a consumer applies these events; those it already had (redeliveries) are
        not in the answer."""
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                """INSERT INTO processed_events (consumer, event_id) SELECT $1, unnest($2::uuid[])
                   ON CONFLICT DO NOTHING RETURNING event_id""",
                consumer,
                event_ids,
            )
            return {r["event_id"] for r in rows}

    async def get_lifecycle(self, asset_id: UUID) -> LifecycleRow | None:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {', '.join(_LIFECYCLE_COLUMNS)} FROM asset_lifecycle "
                "WHERE asset_id = $1 AND NOT deleted",
                asset_id,
            )
            return LifecycleRow(**dict(row)) if row else None

    async def lock_lifecycles(self, asset_ids: Sequence[UUID]) -> dict[UUID, tuple[int, LifecycleRow | None]]:
        """For each asset that has a lifecycle row (a deleted one too): the version it reflects and
        the live row, locked for the transaction (in id order)."""
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                f"""SELECT deleted, {", ".join(_LIFECYCLE_COLUMNS)} FROM asset_lifecycle
                    WHERE asset_id = ANY($1::uuid[]) ORDER BY asset_id FOR UPDATE""",
                asset_ids,
            )
        found: dict[UUID, tuple[int, LifecycleRow | None]] = {}
        for row in rows:
            values = dict(row)
            deleted = values.pop("deleted")
            found[values["asset_id"]] = (values["version"], None if deleted else LifecycleRow(**values))
        return found

    async def save_lifecycles(self, rows: Sequence[LifecycleRow]) -> None:
        """Upsert, one row per asset (at most one of each in a call); a newer version already
        stored wins."""
        if not rows:
            return
        names = ", ".join(_LIFECYCLE_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in _LIFECYCLE_COLUMNS[1:])
        async with self._db.connection() as conn:
            await conn.execute(
                f"""INSERT INTO asset_lifecycle ({names}) SELECT {names} FROM {unnest_rows(_LIFECYCLE_TYPES)}
                    ON CONFLICT (asset_id) DO UPDATE SET {updates}, deleted = false, updated_at = now()
                    WHERE asset_lifecycle.version <= excluded.version""",
                *columns([[getattr(row, c) for c in _LIFECYCLE_COLUMNS] for row in rows]),
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

    async def bury_lifecycles(self, buried: Sequence[Buried]) -> None:
        """Mark lifecycle rows deleted at a version, so that a late older event cannot revive them."""
        if not buried:
            return
        async with self._db.connection() as conn:
            await conn.execute(
                f"""INSERT INTO asset_lifecycle (asset_id, org_id, version, deleted, asset_tag, name,
                        warranty_status, support_status, computed_on)
                    SELECT asset_id, org_id, version, true, '', '', 'none', 'none', current_date
                    FROM {unnest_rows(_BURIED_TYPES)}
                    ON CONFLICT (asset_id) DO UPDATE SET deleted = true, version = excluded.version,
                        updated_at = now()
                    WHERE asset_lifecycle.version <= excluded.version""",
                *columns(buried),
            )

    async def lock_depreciations(self, asset_ids: Sequence[UUID]) -> dict[UUID, int]:
        """The version each asset's depreciation row reflects (a deleted one's too), locked for the
        transaction (in id order)."""
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                """SELECT asset_id, version FROM asset_depreciation
                   WHERE asset_id = ANY($1::uuid[]) ORDER BY asset_id FOR UPDATE""",
                asset_ids,
            )
            return {r["asset_id"]: r["version"] for r in rows}

    async def bury_depreciations(self, buried: Sequence[Buried]) -> None:
        """Drop the schedules and mark the rows deleted at a version (as bury_lifecycles)."""
        if not buried:
            return
        async with self._db.connection() as conn:
            await conn.execute(
                f"""INSERT INTO asset_depreciation (asset_id, org_id, version, deleted)
                    SELECT asset_id, org_id, version, true FROM {unnest_rows(_BURIED_TYPES)}
                    ON CONFLICT (asset_id) DO UPDATE SET deleted = true, version = excluded.version,
                        schedule = NULL, original_cost = NULL, salvage_value = NULL,
                        service_start_date = NULL, months = NULL, book_values = NULL, updated_at = now()
                    WHERE asset_depreciation.version <= excluded.version""",
                *columns(buried),
            )

    async def save_depreciations(self, rows: Sequence[tuple[DepreciationRow, Sequence[Decimal]]]) -> None:
        """Upsert with their schedules (each month's book value, in order: get_depreciation gives
        the months back whole), one row per asset (at most one of each in a call); a newer version
        already stored wins."""
        if not rows:
            return
        async with self._db.connection() as conn:
            await conn.execute(
                f"""INSERT INTO asset_depreciation (asset_id, org_id, version, schedule, original_cost,
                        salvage_value, service_start_date, months, book_values)
                    SELECT asset_id, org_id, version, schedule, original_cost, salvage_value,
                        service_start_date, months, book_values::numeric(14, 2)[]
                    FROM {unnest_rows(_DEPRECIATION_TYPES)}
                    ON CONFLICT (asset_id) DO UPDATE SET version = excluded.version, deleted = false,
                        schedule = excluded.schedule, original_cost = excluded.original_cost,
                        salvage_value = excluded.salvage_value,
                        service_start_date = excluded.service_start_date,
                        months = excluded.months, book_values = excluded.book_values, updated_at = now()
                    WHERE asset_depreciation.version <= excluded.version""",
                *columns(
                    [
                        (
                            row.asset_id,
                            row.org_id,
                            row.version,
                            row.schedule,
                            row.original_cost,
                            row.salvage_value,
                            row.service_start_date,
                            row.months,
                            _array_text(values) if values else None,
                        )
                        for row, values in rows
                    ]
                ),
            )

    async def get_depreciation(self, asset_id: UUID) -> tuple[DepreciationRow, list[Period]] | None:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                """SELECT asset_id, org_id, version, schedule, original_cost, salvage_value,
                          service_start_date, months, book_values
                   FROM asset_depreciation WHERE asset_id = $1 AND NOT deleted""",
                asset_id,
            )
        if row is None:
            return None
        values = dict(row)
        book_values = values.pop("book_values") or []
        found = DepreciationRow(**values)
        if found.original_cost is None or found.service_start_date is None:
            return found, []
        return found, months_of(found.original_cost, found.service_start_date, book_values)

    async def insert_audit_entries(self, entries: Sequence[dict[str, Any]]) -> None:
        if not entries:
            return
        names = ", ".join(_AUDIT_TYPES)
        async with self._db.connection() as conn:
            await conn.execute(
                f"""INSERT INTO audit_log ({names}) SELECT {names} FROM {unnest_rows(_AUDIT_TYPES)}
                    ON CONFLICT (event_id) DO NOTHING""",
                *columns([[entry[c] for c in _AUDIT_TYPES] for entry in entries]),
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
