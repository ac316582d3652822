"""Asset types, manufacturers, catalog models, people, companies, vendors, contracts, business
units and custom forms: the objects assets point at, each a `CatalogTable`."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar
from uuid import UUID, uuid4

import asyncpg

from shared.db import ConnectionSource
from shared.domain.models import (
    AssetType,
    BusinessUnit,
    CatalogModel,
    Company,
    Contract,
    CustomForm,
    Entry,
    Manufacturer,
    Page,
    Person,
    Vendor,
)
from shared.errors import Conflict
from shared.repositories.rows import delete_row, update_row

R = TypeVar("R", bound=Entry)
Lock = Literal["change", "delete"]
_LOCKS: dict[Lock, str] = {"change": " FOR NO KEY UPDATE OF x", "delete": " FOR UPDATE OF x"}


@dataclass(frozen=True)
class CatalogTable(Generic[R]):
    """How one catalog table is read and written."""

    table: str
    what: str
    select: str
    order_by: str
    writable: tuple[str, ...]
    record: type[R]
    max_number: int = 2**63 - 1  # the largest v2 (integer) id the number column can hold


ASSET_TYPES = CatalogTable(
    table="asset_types",
    what="asset type",
    select="""SELECT x.id, x.number, x.name, x.code, x.kind, x.subcategory, x.created_at,
                     x.updated_at, x.version FROM asset_types x""",
    order_by="x.name, x.id",
    writable=("name", "code", "kind", "subcategory"),
    record=AssetType,
)

MANUFACTURERS = CatalogTable(
    table="manufacturers",
    what="manufacturer",
    select="SELECT x.id, x.number, x.name, x.created_at, x.updated_at, x.version FROM manufacturers x",
    order_by="x.name, x.id",
    writable=("name",),
    record=Manufacturer,
)

MODELS = CatalogTable(
    table="models",
    what="model",
    select="""SELECT x.id, x.number, x.manufacturer_id, mf.name AS manufacturer_name,
                     x.asset_type_id, x.name, x.created_at, x.updated_at, x.version
              FROM models x JOIN manufacturers mf ON mf.id = x.manufacturer_id""",
    order_by="mf.name, x.name, x.id",
    writable=("manufacturer_id", "asset_type_id", "name"),
    record=CatalogModel,
)

PEOPLE = CatalogTable(
    table="people",
    what="user",
    select="""SELECT x.id, x.number, x.name, x.email, x.phone, x.created_at, x.updated_at, x.version
              FROM people x""",
    order_by="x.name, x.id",
    writable=("name", "email", "phone"),
    record=Person,
)

COMPANIES = CatalogTable(
    table="companies",
    what="company",
    select="SELECT x.id, x.number, x.name, x.created_at, x.updated_at, x.version FROM companies x",
    order_by="x.number",
    writable=("name",),
    record=Company,
    max_number=2**31 - 1,
)

VENDORS = CatalogTable(
    table="vendors",
    what="vendor",
    select="SELECT x.id, x.number, x.name, x.created_at, x.updated_at, x.version FROM vendors x",
    order_by="x.name, x.id",
    writable=("name",),
    record=Vendor,
)

CONTRACTS = CatalogTable(
    table="contracts",
    what="contract",
    select="""SELECT x.id, x.number, x.contract_number, x.start_date, x.end_date, x.vendor_id,
                     v.number AS vendor_number, v.name AS vendor_name, x.created_at, x.updated_at, x.version
              FROM contracts x LEFT JOIN vendors v ON v.id = x.vendor_id""",
    order_by="x.contract_number, x.id",
    writable=("contract_number", "start_date", "end_date", "vendor_id"),
    record=Contract,
)

BUSINESS_UNITS = CatalogTable(
    table="business_units",
    what="business unit",
    select="SELECT x.id, x.number, x.name, x.created_at, x.updated_at, x.version FROM business_units x",
    order_by="x.name, x.id",
    writable=("name",),
    record=BusinessUnit,
)

CUSTOM_FORMS = CatalogTable(
    table="custom_forms",
    what="custom form",
    select="""SELECT x.id, x.number, x.name, x.fields, x.created_at, x.updated_at, x.version
              FROM custom_forms x""",
    order_by="x.name, x.id",
    writable=("name", "fields"),
    record=CustomForm,
)


# How the key people know names an object of each table (`ids_for_key`).
_KEY_PREDICATES = {
    "asset_types": "(lower(x.code) = lower($2) OR lower(x.name) = lower($2))",
    "people": "lower(x.email) = lower($2)",
    "contracts": "lower(x.contract_number) = lower($2)",
}


def duplicate(what: str, exc: asyncpg.UniqueViolationError) -> Conflict:
    """A 409 naming the fields whose value is taken (not the database's own key text)."""
    key = re.search(r"Key \(([^)]*)\)", exc.detail or "")
    fields = [f.strip() for f in key.group(1).split(",")] if key else []
    named = " and ".join(f for f in fields if f != "org_id") or "that value"
    return Conflict(f"Another {what} of this organisation already has this {named}.")


class CatalogRepository:
    """Every catalog table, each read and written as its `CatalogTable` says."""

    def __init__(self, db: ConnectionSource) -> None:
        self._db = db

    async def get(
        self, table: CatalogTable[R], org_id: UUID, row_id: UUID, lock: Lock | None = None
    ) -> R | None:
        """One row; with `lock`, locked until the transaction ends against other changes ("change":
        assets that refer to it may still be written) or against everything ("delete")."""
        locking = _LOCKS[lock] if lock else ""
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                f"{table.select} WHERE x.org_id = $1 AND x.id = $2{locking}", org_id, row_id
            )
        return table.record.model_validate(dict(row)) if row else None

    async def page(
        self, table: CatalogTable[R], org_id: UUID, limit: int, offset: int, by_number: bool = False
    ) -> Page[R]:
        """One page; in the table's own order, or by v2 (integer) id."""
        order_by = "x.number" if by_number else table.order_by
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                f"{table.select} WHERE x.org_id = $1 ORDER BY {order_by} LIMIT $2 OFFSET $3",
                org_id,
                limit,
                offset,
            )
            total = await conn.fetchval(f"SELECT count(*) FROM {table.table} WHERE org_id = $1", org_id)
        return Page[R](items=[table.record.model_validate(dict(r)) for r in rows], total=total)

    async def insert(self, table: CatalogTable[R], org_id: UUID, values: Mapping[str, Any]) -> UUID:
        """A new row; Conflict naming the fields when a unique value is taken."""
        columns = list(values)
        if any(c not in table.writable for c in columns):
            raise ValueError(f"{table.table}: cannot write {columns}")
        placeholders = ", ".join(f"${i}" for i in range(3, len(columns) + 3))
        new_id = uuid4()
        async with self._db.connection() as conn:
            try:
                await conn.execute(
                    f"INSERT INTO {table.table} (id, org_id{''.join(', ' + c for c in columns)}) "
                    f"VALUES ($1, $2{', ' if columns else ''}{placeholders})",
                    new_id,
                    org_id,
                    *values.values(),
                )
            except asyncpg.UniqueViolationError as exc:
                raise duplicate(table.what, exc) from exc
        return new_id

    async def update(
        self, table: CatalogTable[R], org_id: UUID, row_id: UUID, values: Mapping[str, Any]
    ) -> bool:
        """Write some columns and count the change in the row's version; False when no such row
        has other values than these, Conflict when a unique value is taken."""
        async with self._db.connection() as conn:
            try:
                return await update_row(conn, table.table, org_id, row_id, values, table.writable)
            except asyncpg.UniqueViolationError as exc:
                raise duplicate(table.what, exc) from exc

    async def delete(self, table: CatalogTable[R], org_id: UUID, row_id: UUID) -> bool:
        async with self._db.connection() as conn:
            return await delete_row(conn, table.table, org_id, row_id, table.what)

    async def id_for_number(self, table: CatalogTable[R], org_id: UUID, number: int) -> UUID | None:
        """The id of the organisation's object with this v2 (integer) id."""
        if not 1 <= number <= table.max_number:
            return None
        async with self._db.connection() as conn:
            found: UUID | None = await conn.fetchval(
                f"SELECT id FROM {table.table} WHERE org_id = $1 AND number = $2", org_id, number
            )
        return found

    async def ids_for_key(
        self, table: CatalogTable[R], org_id: UUID, key: str, manufacturer: str | None = None
    ) -> list[UUID]:
        """The ids of the organisation's objects that the key people know names (case aside):
        an asset type's code or name, a user's e-mail, a contract's number, a model's name (of
        the manufacturer, when given), any other object's name; or, for all but models and
        users, its v2 (integer) id. Several when the key is not unique."""
        predicate = _KEY_PREDICATES.get(table.table, "lower(x.name) = lower($2)")
        args: list[Any] = [org_id, key]
        if table.table not in ("models", "people"):
            number = int(key) if key.isdigit() and len(key) < 10 else None
            predicate = f"({predicate} OR x.number = $3)"
            args.append(number)
        if table.table == "models" and manufacturer:
            predicate += f" AND lower(mf.name) = lower(${len(args) + 1})"
            args.append(manufacturer)
        join = " JOIN manufacturers mf ON mf.id = x.manufacturer_id" if table.table == "models" else ""
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                f"SELECT x.id FROM {table.table} x{join} "
                f"WHERE x.org_id = $1 AND {predicate} ORDER BY x.id LIMIT 5",
                *args,
            )
        return [row["id"] for row in rows]

    async def exists(self, table: CatalogTable[R], org_id: UUID, row_id: UUID) -> bool:
        async with self._db.connection() as conn:
            return bool(
                await conn.fetchval(
                    f"SELECT EXISTS (SELECT 1 FROM {table.table} WHERE org_id = $1 AND id = $2)",
                    org_id,
                    row_id,
                )
            )

    async def type_codes_taken(self, org_id: UUID, base: str) -> set[str]:
        """The asset-type codes of the organisation that start with `base`, holding a lock on that
        base until the transaction ends, so that creates of the same base take turns."""
        async with self._db.connection() as conn:
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"type-code:{org_id}:{base}"
            )
            codes = await conn.fetchval(
                "SELECT coalesce(array_agg(code), '{}') FROM asset_types WHERE org_id = $1 AND code LIKE $2",
                org_id,
                base + "%",
            )
        return set(codes)

    async def lock_companies(self, org_id: UUID) -> None:
        """Make the deletes of the organisation's companies take turns until the transaction ends
        (taken before the company's own row). A lock of its own, not the organisation's row: every
        keyed write and every create takes that row's key-share lock last (its foreign keys), and
        would wait on a delete that waits on it."""
        async with self._db.connection() as conn:
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"company-deletes:{org_id}"
            )

    async def other_companies(self, org_id: UUID, company_id: UUID) -> int:
        """How many companies the organisation has besides this one (under lock_companies)."""
        async with self._db.connection() as conn:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM companies WHERE org_id = $1 AND id <> $2", org_id, company_id
                )
            )
