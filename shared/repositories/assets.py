"""The asset table: reads joined with the catalog, writes, filtered lists and their totals."""

import re
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

import asyncpg
from asyncpg.transaction import Transaction

from shared.db import Conn, ConnectionSource
from shared.domain.models import Asset, AssetKind, Page
from shared.domain.queries import AssetFilter, CompanyFilter
from shared.errors import TagTaken
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

# What every read of an asset selects, and the joins it selects from (the export adds its
# human keys between the two: shared/repositories/export.py).
ASSET_COLUMNS = """a.*, t.name AS asset_type_name, t.kind AS asset_kind,
           m.name AS catalog_model_name, mf.name AS catalog_manufacturer_name,
           co.id AS company_id,
           t.number AS asset_type_number, t.subcategory AS asset_type_subcategory,
           ct.number AS contract_number, ct.contract_number AS contract_reference,
           p.number AS assignee_number, p.name AS assignee_name, p.email AS assignee_email,
           p.phone AS assignee_phone,
           bu.number AS business_unit_number, bu.name AS business_unit_name,
           wp.number AS warranty_provider_number, wp.name AS warranty_provider_name,
           sp.number AS support_provider_number, sp.name AS support_provider_name,
           su.number AS attached_supplier_number, su.name AS attached_supplier_name,
           cf.number AS custom_form_number,
           l.warranty_status, l.support_status,
           d.schedule AS dep_schedule, d.original_cost AS dep_original_cost,
           d.salvage_value AS dep_salvage_value, d.service_start_date AS dep_service_start_date"""
ASSET_JOINS = """
    FROM assets a
    JOIN companies co ON co.org_id = a.org_id AND co.number = a.company_number
    LEFT JOIN asset_types t ON t.id = a.asset_type_id
    LEFT JOIN models m ON m.id = a.model_id
    LEFT JOIN manufacturers mf ON mf.id = m.manufacturer_id
    LEFT JOIN contracts ct ON ct.id = a.contract_id
    LEFT JOIN people p ON p.id = a.assigned_to
    LEFT JOIN business_units bu ON bu.id = a.business_unit_id
    LEFT JOIN vendors wp ON wp.id = a.warranty_provider_id
    LEFT JOIN vendors sp ON sp.id = a.support_provider_id
    LEFT JOIN vendors su ON su.id = a.attached_supplier_id
    LEFT JOIN custom_forms cf ON cf.id = a.custom_form_id
    LEFT JOIN asset_lifecycle l ON l.asset_id = a.id AND NOT l.deleted
    LEFT JOIN asset_depreciation d ON d.asset_id = a.id AND NOT d.deleted
"""
_SELECT = f"SELECT {ASSET_COLUMNS} {ASSET_JOINS}"

# The expression the trigram index covers; `q` matches against it.
_SEARCH_TEXT = "lower(a.name || ' ' || a.asset_tag || ' ' || coalesce(a.serial_number, ''))"

# Above this many matches a `q` total is the planner's estimate rather than an exact count.
EXACT_SEARCH_TOTAL_LIMIT = 1_000
# An estimate this far above the limit is taken as it is, without counting up to the limit.
TRUSTED_ESTIMATE_ABOVE = 20 * EXACT_SEARCH_TOTAL_LIMIT


async def _page(conn: Conn, where: str, args: list[Any], order: str, limit: int, offset: int) -> list[Asset]:
    """One page in two statements: its ids, found on the asset table's indexes alone, so that the
    rows an OFFSET skips are never joined with the catalog (a deferred join); then those rows
    with the catalog. The second statement takes only the ids, so PostgreSQL plans its fourteen
    joins once and reuses the plan, rather than planning them afresh for every filter."""
    n = len(args)
    ids = await conn.fetchval(
        f"SELECT ARRAY(SELECT a.id FROM assets a WHERE {where} ORDER BY {order} "
        f"LIMIT ${n + 1} OFFSET ${n + 2})",
        *args,
        limit,
        offset,
    )
    if not ids:
        return []
    rows = await conn.fetch(f"{_SELECT} WHERE a.id = ANY($1::uuid[]) ORDER BY {order}", ids)
    return [_asset(r) for r in rows]


def _asset(row: asyncpg.Record) -> Asset:
    return Asset.model_validate(dict(row))


def _filter_clauses(
    alias: str, org_id: UUID, flt: AssetFilter, kind_types: list[UUID]
) -> tuple[list[str], list[Any]]:
    """The organisation, status, type and kind conditions on `alias` (the asset table or its
    counts, which share those columns), with their arguments; `kind` as the ids of its types."""
    clauses = [f"{alias}.org_id = $1"]
    args: list[Any] = [org_id]
    if flt.status is not None:
        args.append(flt.status.value)
        clauses.append(f"{alias}.status = ${len(args)}")
    if flt.asset_type_id is not None:
        args.append(flt.asset_type_id)
        clauses.append(f"{alias}.asset_type_id = ${len(args)}")
    if flt.kind is not None:
        args.append(kind_types)
        clauses.append(f"{alias}.asset_type_id = ANY(${len(args)}::uuid[])")
    return clauses, args


def _where(org_id: UUID, flt: AssetFilter, kind_types: list[UUID]) -> tuple[str, list[Any]]:
    """The SQL condition of the v1 filters on the asset table and its arguments."""
    clauses, args = _filter_clauses("a", org_id, flt, kind_types)
    if flt.q:
        escaped = flt.q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        args.append(f"%{escaped}%")
        clauses.append(f"{_SEARCH_TEXT} LIKE ${len(args)}")
    return " AND ".join(clauses), args


def _one_snapshot(conn: Conn) -> Transaction:
    """A read-only transaction in which a page's statements and its total see the same rows."""
    return conn.transaction(isolation="repeatable_read", readonly=True)


async def _types_of_kind(conn: Conn, org_id: UUID, kind: AssetKind) -> list[UUID]:
    """The organisation's asset types of a kind. A list filters by them as `= ANY($n)` rather
    than by a subquery: PostgreSQL never gathers statistics on a table as small as asset_types,
    guesses that one type matches, and then collects every asset of the kind and sorts them
    (20 ms at 100,000 assets) instead of walking the newest assets of the status (0.3 ms)."""
    found: list[UUID] = await conn.fetchval(
        "SELECT coalesce(array_agg(id), '{}') FROM asset_types WHERE org_id = $1 AND kind = $2",
        org_id,
        kind.value,
    )
    return found


async def _total(
    conn: Conn, org_id: UUID, flt: AssetFilter, where: str, args: list[Any], kind_types: list[UUID]
) -> tuple[int, bool]:
    """The total of a list: exact from the counters without `q`; with `q`, counted exactly up to
    EXACT_SEARCH_TOTAL_LIMIT, above which the planner's estimate stands. An estimate far above
    that limit is trusted without counting, since counting even that limit's matches of a common
    fragment scans thousands of rows (10 ms at 1,000,000 assets)."""
    if not flt.q:
        return await _counted_total(conn, org_id, flt, kind_types), False
    plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM assets a WHERE {where}", *args)
    estimate = int(plan[0]["Plan"]["Plan Rows"])
    if estimate <= TRUSTED_ESTIMATE_ABOVE:
        capped = await conn.fetchval(
            f"SELECT count(*) FROM (SELECT 1 FROM assets a WHERE {where} "
            f"LIMIT {EXACT_SEARCH_TOTAL_LIMIT + 1}) s",
            *args,
        )
        if capped <= EXACT_SEARCH_TOTAL_LIMIT:
            return int(capped), False
    return max(estimate, EXACT_SEARCH_TOTAL_LIMIT + 1), True


async def _counted_total(conn: Conn, org_id: UUID, flt: AssetFilter, kind_types: list[UUID]) -> int:
    """Exact total from the counts the trigger keeps, without touching the asset table."""
    clauses, args = _filter_clauses("c", org_id, flt, kind_types)
    total = await conn.fetchval(
        f"SELECT coalesce(sum(c.n), 0) FROM asset_counts c WHERE {' AND '.join(clauses)}", *args
    )
    return int(total)


# The v2 `ordering` keys and the column each sorts by; ties are broken by the asset number.
ORDERING_COLUMNS = {
    "asset_id": "a.number",
    "asset_name": "a.name",
    "created_date": "a.created_at",
    "modified_date": "a.updated_at",
    "support_start_date": "a.support_start_date",
    "support_end_date": "a.support_end_date",
    "warranty_start_date": "a.warranty_start_date",
    "warranty_end_date": "a.warranty_until",
}


def _company_where(org_id: UUID, flt: CompanyFilter) -> tuple[str, list[Any]]:
    clauses = ["a.org_id = $1", "a.company_number = $2"]
    args: list[Any] = [org_id, flt.company_number]

    def add(sql: str, value: Any) -> None:
        args.append(value)
        clauses.append(sql.format(f"${len(args)}"))

    if flt.number is not None:
        add("a.number = {}", flt.number)
    if flt.name is not None:
        add("lower(a.name) = lower({})", flt.name)
    if flt.serial_number is not None:
        add("a.serial_number = {}", flt.serial_number)
    if flt.manufacturer_name is not None:
        add("lower(a.manufacturer) = lower({})", flt.manufacturer_name)
    if flt.custom_form_id is not None:
        add("a.custom_form_id = {}", flt.custom_form_id)
    if flt.custom_form_name is not None:
        add("a.custom_fields ? {}", flt.custom_form_name)
        if flt.custom_form_value is not None:
            # Compared as text, so that 16 matches a number 16 and "16" alike.
            args.append(flt.custom_form_value)
            clauses.append(f"(a.custom_fields ->> ${len(args) - 1}) = ${len(args)}")
    return " AND ".join(clauses), args


def _order_by(ordering: str) -> str:
    key = ordering.removeprefix("-")
    direction = "DESC" if ordering.startswith("-") else "ASC"
    column = ORDERING_COLUMNS[key]
    tie = f"a.number {direction}"
    return tie if column == "a.number" else f"{column} {direction}, {tie}"


async def _company_total(conn: Conn, org_id: UUID, flt: CompanyFilter, where: str, args: list[Any]) -> int:
    """The exact v2 `count`: the maintained count of a whole company, else counted."""
    if flt == CompanyFilter(company_number=flt.company_number):
        # The whole company: the count the trigger keeps, without counting rows.
        total = await conn.fetchval(
            "SELECT coalesce(sum(n), 0) FROM asset_counts WHERE org_id = $1 AND company_number = $2",
            org_id,
            flt.company_number,
        )
    else:
        total = await conn.fetchval(f"SELECT count(*) FROM assets a WHERE {where}", *args)
    return int(total)


class AssetRepository:
    """The organisation's assets, read with their catalog names."""

    def __init__(self, db: ConnectionSource) -> None:
        self._db = db

    async def get(self, org_id: UUID, asset_id: UUID) -> Asset | None:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(f"{_SELECT} WHERE a.org_id = $1 AND a.id = $2", org_id, asset_id)
            return _asset(row) if row else None

    async def lock(self, org_id: UUID, asset_id: UUID) -> bool:
        """Lock the row for the rest of the transaction; False when there is no such asset."""
        async with self._db.connection() as conn:
            found = await conn.fetchval(
                "SELECT true FROM assets WHERE org_id = $1 AND id = $2 FOR UPDATE", org_id, asset_id
            )
            return bool(found)

    async def lock_many(self, org_id: UUID, asset_ids: Sequence[UUID]) -> set[UUID]:
        """Lock the rows for the rest of the transaction, in the order of their ids (so that two
        bulk changes of overlapping assets queue rather than deadlock); the ids found."""
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                "SELECT id FROM assets WHERE org_id = $1 AND id = ANY($2::uuid[]) ORDER BY id FOR UPDATE",
                org_id,
                list(asset_ids),
            )
            return {row["id"] for row in rows}

    async def ids_for_tags(self, org_id: UUID, tags: Sequence[str]) -> dict[str, UUID]:
        """The ids of the organisation's assets with these tags."""
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                "SELECT asset_tag, id FROM assets WHERE org_id = $1 AND asset_tag = ANY($2::text[])",
                org_id,
                list(tags),
            )
        return {row["asset_tag"]: row["id"] for row in rows}

    async def ids_for_serials(self, org_id: UUID, serials: Sequence[str]) -> dict[str, list[UUID]]:
        """The ids of the organisation's assets with each of these serial numbers (several when
        the organisation has the number more than once)."""
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                """SELECT serial_number, id FROM assets
                   WHERE org_id = $1 AND serial_number = ANY($2::text[]) ORDER BY id""",
                org_id,
                list(serials),
            )
        found: dict[str, list[UUID]] = {}
        for row in rows:
            found.setdefault(row["serial_number"], []).append(row["id"])
        return found

    async def insert(self, asset_id: UUID, org_id: UUID, asset_tag: str, values: Mapping[str, Any]) -> None:
        """Insert one asset; TagTaken when the organisation already has the tag."""
        for column in values:
            if column not in WRITABLE_COLUMNS:
                raise ValueError(f"column {column!r} cannot be written")
        columns = ", ".join(["id", "org_id", "asset_tag", *values])
        placeholders = ", ".join(f"${i}" for i in range(1, len(values) + 4))
        async with self._db.connection() as conn:
            try:
                await conn.execute(
                    f"INSERT INTO assets ({columns}) VALUES ({placeholders})",
                    asset_id,
                    org_id,
                    asset_tag,
                    *values.values(),
                )
            except asyncpg.UniqueViolationError as exc:
                if exc.constraint_name == "assets_org_id_asset_tag_key":
                    raise TagTaken(asset_tag) from exc
                raise

    async def insert_many(self, org_id: UUID, rows: Sequence[tuple[UUID, str, Mapping[str, Any]]]) -> None:
        """Insert many assets, (id, tag, values) each, in one statement for each set of columns the
        rows write (the rows go as one JSON array, which PostgreSQL reads into the table's own
        column types); TagTaken when the organisation already has one of the tags."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for asset_id, asset_tag, values in rows:
            for column in values:
                if column not in WRITABLE_COLUMNS:
                    raise ValueError(f"column {column!r} cannot be written")
            record = {"id": asset_id, "org_id": org_id, "asset_tag": asset_tag, **values}
            groups.setdefault(tuple(values), []).append(record)
        async with self._db.connection() as conn:
            for names, records in groups.items():
                columns = ", ".join(["id", "org_id", "asset_tag", *names])
                try:
                    await conn.execute(
                        f"INSERT INTO assets ({columns}) "
                        f"SELECT {columns} FROM jsonb_populate_recordset(NULL::assets, $1::jsonb)",
                        records,
                    )
                except asyncpg.UniqueViolationError as exc:
                    if exc.constraint_name == "assets_org_id_asset_tag_key":
                        found = re.search(r"=\([^,]*, (.*)\) already exists", exc.detail or "")
                        raise TagTaken(found.group(1) if found else "?") from exc
                    raise

    async def get_many(self, org_id: UUID, asset_ids: Sequence[UUID]) -> list[Asset]:
        """The organisation's assets with these ids, in the order given (those it has)."""
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                f"{_SELECT} WHERE a.org_id = $1 AND a.id = ANY($2::uuid[])", org_id, list(asset_ids)
            )
        found = {row["id"]: _asset(row) for row in rows}
        return [found[asset_id] for asset_id in asset_ids if asset_id in found]

    async def update(self, org_id: UUID, asset_id: UUID, values: Mapping[str, Any]) -> None:
        """Write columns of one asset and count the change in its version."""
        async with self._db.connection() as conn:
            assignments, args = set_clause(values, WRITABLE_COLUMNS, first=3)
            extra = f"{assignments}, " if assignments else ""
            await conn.execute(
                f"UPDATE assets SET {extra}version = version + 1, updated_at = now() "
                "WHERE org_id = $1 AND id = $2",
                org_id,
                asset_id,
                *args,
            )

    async def delete(self, org_id: UUID, asset_id: UUID) -> None:
        async with self._db.connection() as conn:
            await conn.execute("DELETE FROM assets WHERE org_id = $1 AND id = $2", org_id, asset_id)

    async def page(self, org_id: UUID, flt: AssetFilter, limit: int, offset: int) -> Page[Asset]:
        """One page, newest first, with the total of all matches."""
        async with self._db.connection() as conn:
            async with _one_snapshot(conn):
                kind_types = await _types_of_kind(conn, org_id, flt.kind) if flt.kind else []
                where, args = _where(org_id, flt, kind_types)
                items = await _page(conn, where, args, "a.created_at DESC, a.id DESC", limit, offset)
                if flt.q and len(items) < limit and (items or offset == 0):
                    # The last page: what came before it and what it holds are all the matches.
                    return Page[Asset](items=items, total=offset + len(items))
                total, estimated = await _total(conn, org_id, flt, where, args, kind_types)
            return Page[Asset](items=items, total=total, total_is_estimate=estimated)

    async def type_code(self, org_id: UUID, type_id: UUID) -> str | None:
        async with self._db.connection() as conn:
            return await conn.fetchval(
                "SELECT code FROM asset_types WHERE org_id = $1 AND id = $2", org_id, type_id
            )

    async def model_names(self, org_id: UUID, model_id: UUID) -> tuple[str, str, UUID | None] | None:
        """(manufacturer name, model name, asset type) of a catalog model of the organisation."""
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                """SELECT mf.name AS manufacturer, m.name AS model, m.asset_type_id
                   FROM models m JOIN manufacturers mf ON mf.id = m.manufacturer_id
                   WHERE m.org_id = $1 AND m.id = $2""",
                org_id,
                model_id,
            )
            return (row["manufacturer"], row["model"], row["asset_type_id"]) if row else None

    async def company_number(self, org_id: UUID, company_id: UUID) -> int:
        """The per-organisation number of a company (the v2 `company`)."""
        async with self._db.connection() as conn:
            number: int = await conn.fetchval(
                "SELECT number FROM companies WHERE org_id = $1 AND id = $2", org_id, company_id
            )
            return number

    async def page_of_company(
        self, org_id: UUID, flt: CompanyFilter, ordering: str, limit: int, offset: int
    ) -> Page[Asset]:
        """One page of a company's assets in the v2 `ordering`, with the exact total."""
        async with self._db.connection() as conn:
            where, args = _company_where(org_id, flt)
            async with _one_snapshot(conn):
                items = await _page(conn, where, args, _order_by(ordering), limit, offset)
                total = await _company_total(conn, org_id, flt, where, args)
            return Page[Asset](items=items, total=total)

    async def serial_numbers(
        self, org_id: UUID, flt: CompanyFilter, ordering: str, limit: int, offset: int
    ) -> Page[str]:
        """The serial numbers of a company's assets that have one."""
        async with self._db.connection() as conn:
            where, args = _company_where(org_id, flt)
            where += " AND a.serial_number IS NOT NULL"
            n = len(args)
            async with _one_snapshot(conn):
                rows = await conn.fetch(
                    f"SELECT a.serial_number FROM assets a WHERE {where} ORDER BY {_order_by(ordering)} "
                    f"LIMIT ${n + 1} OFFSET ${n + 2}",
                    *args,
                    limit,
                    offset,
                )
                total = await conn.fetchval(f"SELECT count(*) FROM assets a WHERE {where}", *args)
            return Page[str](items=[r["serial_number"] for r in rows], total=total)

    async def id_for_number(self, org_id: UUID, number: int) -> UUID | None:
        async with self._db.connection() as conn:
            if not -(2**63) <= number < 2**63:
                return None
            found: UUID | None = await conn.fetchval(
                "SELECT id FROM assets WHERE org_id = $1 AND number = $2", org_id, number
            )
            return found

    async def first_company_number(self, org_id: UUID) -> int:
        """The organisation's first company: where an asset goes when none is named."""
        async with self._db.connection() as conn:
            number: int = await conn.fetchval("SELECT min(number) FROM companies WHERE org_id = $1", org_id)
            return number
