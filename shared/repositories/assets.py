"""The asset table: reads joined with the catalog, writes, filtered lists and their totals."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from shared.db import Conn
from shared.domain.models import Asset, AssetKind, AssetStatus, Page
from shared.repositories.rows import set_clause

# Every column a service function may write.
WRITABLE_COLUMNS = frozenset(
    (
        "name status asset_type_id model_id manufacturer model serial_number purchase_date "
        "purchase_price warranty_until assigned_to notes custom_fields company_number contract_id "
        "business_unit_id custom_form_id address city country region location_description "
        "warranty_type warranty_provider_id warranty_start_date warranty_contact_phone "
        "warranty_contact_email warranty_notes support_type support_provider_id "
        "attached_supplier_id support_start_date support_end_date support_contact_phone "
        "support_contact_email support_notes end_of_life_date end_of_support_date "
        "service_start_date depreciation_schedule estimated_salvage_value financial_notes"
    ).split()
)

_SELECT = """
    SELECT a.*, t.name AS asset_type_name, t.kind AS asset_kind,
           m.name AS catalog_model_name, mf.name AS catalog_manufacturer_name,
           l.warranty_status, l.support_status,
           d.schedule AS dep_schedule, d.original_cost AS dep_original_cost,
           d.salvage_value AS dep_salvage_value, d.service_start_date AS dep_service_start_date
    FROM assets a
    LEFT JOIN asset_types t ON t.id = a.asset_type_id
    LEFT JOIN models m ON m.id = a.model_id
    LEFT JOIN manufacturers mf ON mf.id = m.manufacturer_id
    LEFT JOIN asset_lifecycle l ON l.asset_id = a.id AND NOT l.deleted
    LEFT JOIN asset_depreciation d ON d.asset_id = a.id AND NOT d.deleted
"""

# The expression the trigram index covers; `q` matches against it.
_SEARCH_TEXT = "lower(a.name || ' ' || a.asset_tag || ' ' || coalesce(a.serial_number, ''))"

# Above this many matches a `q` total is the planner's estimate rather than an exact count.
EXACT_SEARCH_TOTAL_LIMIT = 10_000


@dataclass(frozen=True)
class AssetFilter:
    """The v1 list filters."""

    q: str | None = None
    status: AssetStatus | None = None
    asset_type_id: UUID | None = None
    kind: AssetKind | None = None


def _asset(row: asyncpg.Record) -> Asset:
    return Asset.model_validate(dict(row))


async def get_asset(conn: Conn, org_id: UUID, asset_id: UUID) -> Asset | None:
    row = await conn.fetchrow(f"{_SELECT} WHERE a.org_id = $1 AND a.id = $2", org_id, asset_id)
    return _asset(row) if row else None


async def lock_asset(conn: Conn, org_id: UUID, asset_id: UUID) -> bool:
    """Lock the row for the rest of the transaction; False when there is no such asset."""
    found = await conn.fetchval(
        "SELECT true FROM assets WHERE org_id = $1 AND id = $2 FOR UPDATE", org_id, asset_id
    )
    return bool(found)


async def insert_asset(
    conn: Conn, asset_id: UUID, org_id: UUID, asset_tag: str, values: Mapping[str, Any]
) -> None:
    """Insert one asset; raises asyncpg.UniqueViolationError if the tag is taken."""
    for column in values:
        if column not in WRITABLE_COLUMNS:
            raise ValueError(f"column {column!r} cannot be written")
    columns = ", ".join(["id", "org_id", "asset_tag", *values])
    placeholders = ", ".join(f"${i}" for i in range(1, len(values) + 4))
    await conn.execute(
        f"INSERT INTO assets ({columns}) VALUES ({placeholders})",
        asset_id,
        org_id,
        asset_tag,
        *values.values(),
    )


async def update_asset(conn: Conn, org_id: UUID, asset_id: UUID, values: Mapping[str, Any]) -> None:
    """Write columns of one asset and count the change in its version."""
    assignments, args = set_clause(values, WRITABLE_COLUMNS, first=3)
    extra = f"{assignments}, " if assignments else ""
    await conn.execute(
        f"UPDATE assets SET {extra}version = version + 1, updated_at = now() WHERE org_id = $1 AND id = $2",
        org_id,
        asset_id,
        *args,
    )


async def delete_asset(conn: Conn, org_id: UUID, asset_id: UUID) -> None:
    await conn.execute("DELETE FROM assets WHERE org_id = $1 AND id = $2", org_id, asset_id)


def _where(org_id: UUID, flt: AssetFilter) -> tuple[str, list[Any]]:
    clauses = ["a.org_id = $1"]
    args: list[Any] = [org_id]
    if flt.status is not None:
        args.append(flt.status.value)
        clauses.append(f"a.status = ${len(args)}")
    if flt.asset_type_id is not None:
        args.append(flt.asset_type_id)
        clauses.append(f"a.asset_type_id = ${len(args)}")
    if flt.kind is not None:
        args.append(flt.kind.value)
        clauses.append(
            f"a.asset_type_id IN (SELECT id FROM asset_types WHERE org_id = $1 AND kind = ${len(args)})"
        )
    if flt.q:
        escaped = flt.q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        args.append(f"%{escaped}%")
        clauses.append(f"{_SEARCH_TEXT} LIKE ${len(args)}")
    return " AND ".join(clauses), args


async def list_assets(conn: Conn, org_id: UUID, flt: AssetFilter, limit: int, offset: int) -> Page[Asset]:
    """One page, newest first, with the total of all matches."""
    where, args = _where(org_id, flt)
    n = len(args)
    rows = await conn.fetch(
        f"{_SELECT} WHERE {where} ORDER BY a.created_at DESC, a.id DESC LIMIT ${n + 1} OFFSET ${n + 2}",
        *args,
        limit,
        offset,
    )
    total, estimated = await _total(conn, org_id, flt, where, args)
    return Page[Asset](items=[_asset(r) for r in rows], total=total, total_is_estimate=estimated)


async def _total(conn: Conn, org_id: UUID, flt: AssetFilter, where: str, args: list[Any]) -> tuple[int, bool]:
    if not flt.q:
        return await _counted_total(conn, org_id, flt), False
    capped = await conn.fetchval(
        f"SELECT count(*) FROM (SELECT 1 FROM assets a WHERE {where} LIMIT {EXACT_SEARCH_TOTAL_LIMIT + 1}) s",
        *args,
    )
    if capped <= EXACT_SEARCH_TOTAL_LIMIT:
        return int(capped), False
    plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM assets a WHERE {where}", *args)
    estimate = int(plan[0]["Plan"]["Plan Rows"])
    return max(estimate, EXACT_SEARCH_TOTAL_LIMIT + 1), True


async def _counted_total(conn: Conn, org_id: UUID, flt: AssetFilter) -> int:
    """Exact total from the counts the trigger keeps, without touching the asset table."""
    clauses = ["c.org_id = $1"]
    args: list[Any] = [org_id]
    if flt.status is not None:
        args.append(flt.status.value)
        clauses.append(f"c.status = ${len(args)}")
    if flt.asset_type_id is not None:
        args.append(flt.asset_type_id)
        clauses.append(f"c.asset_type_id = ${len(args)}")
    if flt.kind is not None:
        args.append(flt.kind.value)
        clauses.append(
            f"c.asset_type_id IN (SELECT id FROM asset_types WHERE org_id = $1 AND kind = ${len(args)})"
        )
    total = await conn.fetchval(
        f"SELECT coalesce(sum(c.n), 0) FROM asset_counts c WHERE {' AND '.join(clauses)}", *args
    )
    return int(total)


async def asset_type_code(conn: Conn, org_id: UUID, type_id: UUID) -> str | None:
    return await conn.fetchval("SELECT code FROM asset_types WHERE org_id = $1 AND id = $2", org_id, type_id)


async def catalog_model_names(
    conn: Conn, org_id: UUID, model_id: UUID
) -> tuple[str, str, UUID | None] | None:
    """(manufacturer name, model name, asset type) of a catalog model of the organisation."""
    row = await conn.fetchrow(
        """SELECT mf.name AS manufacturer, m.name AS model, m.asset_type_id
           FROM models m JOIN manufacturers mf ON mf.id = m.manufacturer_id
           WHERE m.org_id = $1 AND m.id = $2""",
        org_id,
        model_id,
    )
    return (row["manufacturer"], row["model"], row["asset_type_id"]) if row else None
