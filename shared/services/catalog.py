"""Use cases of the catalog: asset types, manufacturers, models and people."""

import re
from collections.abc import Mapping
from itertools import chain, count
from typing import Any, TypeVar
from uuid import UUID

import asyncpg

from shared.db import Conn, Database
from shared.domain.models import Contract, Page, Record
from shared.errors import Conflict, InvalidInput, NotFound
from shared.repositories.catalog import ASSET_TYPES, COMPANIES, MANUFACTURERS, VENDORS, CatalogTable
from shared.services.references import parse_id, resolve_reference

R = TypeVar("R", bound=Record)

# Fields that name another catalog object, by table.
_REFERENCES: dict[str, dict[str, CatalogTable[Any]]] = {
    "models": {"manufacturer_id": MANUFACTURERS, "asset_type_id": ASSET_TYPES},
    "contracts": {"vendor_id": VENDORS},
}


async def _resolved(
    conn: Conn, table: CatalogTable[R], org_id: UUID, values: Mapping[str, Any]
) -> dict[str, Any]:
    resolved = dict(values)
    for field, target in _REFERENCES.get(table.table, {}).items():
        if resolved.get(field) is not None:
            resolved[field] = await resolve_reference(conn, target, org_id, field, resolved[field])
    return resolved


def _duplicate(table: CatalogTable[R], exc: asyncpg.UniqueViolationError) -> Conflict:
    """A 409 naming the fields whose value is taken (not the database's own key text)."""
    key = re.search(r"Key \(([^)]*)\)", exc.detail or "")
    fields = [f.strip() for f in key.group(1).split(",")] if key else []
    named = " and ".join(f for f in fields if f != "org_id") or "that value"
    return Conflict(f"Another {table.what} of this organisation already has this {named}.")


async def _row_id(conn: Conn, table: CatalogTable[R], org_id: UUID, entry_id: str | int) -> UUID | None:
    """The row of a v1 (string) or v2 (integer) id, if it names one of the organisation's."""
    if isinstance(entry_id, int):
        return await table.id_for_number(conn, org_id, entry_id)
    return parse_id(entry_id)


async def _type_code(conn: Conn, org_id: UUID, name: str) -> str:
    """A free code for an asset type made without one (the v2 `category` has none): the name's
    letters and digits, upper-cased, with a number added when it is taken."""
    base = re.sub(r"[^A-Z0-9]", "", name.upper())[:12] or "TYPE"
    # Creates of the same base code in one organisation take turns until they commit, so that
    # each sees the codes the others took.
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"type-code:{org_id}:{base}")
    taken = set(
        await conn.fetchval(
            "SELECT coalesce(array_agg(code), '{}') FROM asset_types WHERE org_id = $1 AND code LIKE $2",
            org_id,
            base + "%",
        )
    )
    candidates = chain([base], (f"{base}-{n}" for n in count(2)))
    return next(code for code in candidates if code not in taken)


# A generated asset-type code that a concurrent create took first is made again this many times.
_CODE_ATTEMPTS = 5


async def _keep_a_company(conn: Conn, org_id: UUID, company_id: UUID) -> None:
    """An organisation has at least one company: its last one cannot be deleted."""
    await conn.execute("SELECT 1 FROM organisations WHERE id = $1 FOR UPDATE", org_id)
    others = await conn.fetchval(
        "SELECT count(*) FROM companies WHERE org_id = $1 AND id <> $2", org_id, company_id
    )
    if others == 0:
        raise Conflict("This is the organisation's only company; an organisation keeps at least one.")


async def get_entry(db: Database, table: CatalogTable[R], org_id: UUID, entry_id: str | int) -> R:
    async with db.acquire() as conn:
        row_id = await _row_id(conn, table, org_id, entry_id)
        found = await table.get(conn, org_id, row_id) if row_id else None
    if found is None:
        raise NotFound(table.what.capitalize(), str(entry_id))
    return found


async def list_entries(
    db: Database, table: CatalogTable[R], org_id: UUID, limit: int, offset: int, by_number: bool = False
) -> Page[R]:
    async with db.acquire() as conn:
        return await table.list(conn, org_id, limit, offset, by_number)


def _check_dates(entry: Record) -> None:
    """A contract ends on or after the day it starts (checked on the row as written, so that a
    change of either date alone is held against the other)."""
    if not isinstance(entry, Contract) or entry.start_date is None or entry.end_date is None:
        return
    if entry.end_date < entry.start_date:
        raise InvalidInput.one("end_date", f"must not be before start_date ({entry.start_date.isoformat()})")


async def create_entry(db: Database, table: CatalogTable[R], org_id: UUID, values: Mapping[str, Any]) -> R:
    async with db.acquire() as conn, conn.transaction():
        resolved = await _resolved(conn, table, org_id, values)
        made_code = table is ASSET_TYPES and not resolved.get("code")
        if table is ASSET_TYPES:
            resolved.setdefault("kind", "physical")
        for attempt in range(1, _CODE_ATTEMPTS + 1):
            if made_code:
                resolved["code"] = await _type_code(conn, org_id, resolved["name"])
            try:
                async with conn.transaction():  # a savepoint: a taken code is tried again
                    new_id = await table.insert(conn, org_id, resolved)
                break
            except asyncpg.UniqueViolationError as exc:
                if not made_code or attempt == _CODE_ATTEMPTS:
                    raise _duplicate(table, exc) from exc
        created = await table.get(conn, org_id, new_id)
        assert created is not None
        _check_dates(created)
    return created


async def update_entry(
    db: Database, table: CatalogTable[R], org_id: UUID, entry_id: str | int, values: Mapping[str, Any]
) -> R:
    async with db.acquire() as conn, conn.transaction():
        row_id = await _row_id(conn, table, org_id, entry_id)
        if row_id is None or not await table.exists(conn, org_id, row_id):
            raise NotFound(table.what.capitalize(), str(entry_id))
        resolved = await _resolved(conn, table, org_id, values)
        try:
            await table.update(conn, org_id, row_id, resolved)
        except asyncpg.UniqueViolationError as exc:
            raise _duplicate(table, exc) from exc
        updated = await table.get(conn, org_id, row_id)
        assert updated is not None
        _check_dates(updated)
    return updated


async def delete_entry(db: Database, table: CatalogTable[R], org_id: UUID, entry_id: str | int) -> None:
    async with db.acquire() as conn, conn.transaction():
        row_id = await _row_id(conn, table, org_id, entry_id)
        if row_id is not None and table is COMPANIES:
            await _keep_a_company(conn, org_id, row_id)
        deleted = row_id is not None and await table.delete(conn, org_id, row_id)
    if not deleted:
        raise NotFound(table.what.capitalize(), str(entry_id))
