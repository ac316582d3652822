"""Use cases of the catalog: asset types, manufacturers, models and people."""

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

import asyncpg

from shared.db import Conn
from shared.domain.models import Page, Record
from shared.errors import Conflict, NotFound
from shared.repositories.catalog import ASSET_TYPES, MANUFACTURERS, CatalogTable
from shared.services.references import parse_id, resolve_reference

R = TypeVar("R", bound=Record)

# Fields that name another catalog object, by table.
_REFERENCES: dict[str, dict[str, CatalogTable[Any]]] = {
    "models": {"manufacturer_id": MANUFACTURERS, "asset_type_id": ASSET_TYPES},
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
    detail = exc.detail or ""
    return Conflict(f"Another {table.what} of this organisation already has that value. {detail}".strip())


async def get_entry(pool: asyncpg.Pool, table: CatalogTable[R], org_id: UUID, entry_id: str) -> R:
    row_id = parse_id(entry_id)
    async with pool.acquire() as conn:
        found = await table.get(conn, org_id, row_id) if row_id else None
    if found is None:
        raise NotFound(table.what.capitalize(), entry_id)
    return found


async def list_entries(
    pool: asyncpg.Pool, table: CatalogTable[R], org_id: UUID, limit: int, offset: int
) -> Page[R]:
    async with pool.acquire() as conn:
        return await table.list(conn, org_id, limit, offset)


async def create_entry(
    pool: asyncpg.Pool, table: CatalogTable[R], org_id: UUID, values: Mapping[str, Any]
) -> R:
    async with pool.acquire() as conn, conn.transaction():
        resolved = await _resolved(conn, table, org_id, values)
        try:
            new_id = await table.insert(conn, org_id, resolved)
        except asyncpg.UniqueViolationError as exc:
            raise _duplicate(table, exc) from exc
        created = await table.get(conn, org_id, new_id)
    assert created is not None
    return created


async def update_entry(
    pool: asyncpg.Pool, table: CatalogTable[R], org_id: UUID, entry_id: str, values: Mapping[str, Any]
) -> R:
    row_id = parse_id(entry_id)
    if row_id is None:
        raise NotFound(table.what.capitalize(), entry_id)
    async with pool.acquire() as conn, conn.transaction():
        if not await table.exists(conn, org_id, row_id):
            raise NotFound(table.what.capitalize(), entry_id)
        resolved = await _resolved(conn, table, org_id, values)
        try:
            await table.update(conn, org_id, row_id, resolved)
        except asyncpg.UniqueViolationError as exc:
            raise _duplicate(table, exc) from exc
        updated = await table.get(conn, org_id, row_id)
    assert updated is not None
    return updated


async def delete_entry(pool: asyncpg.Pool, table: CatalogTable[R], org_id: UUID, entry_id: str) -> None:
    row_id = parse_id(entry_id)
    async with pool.acquire() as conn:
        deleted = row_id is not None and await table.delete(conn, org_id, row_id)
    if not deleted:
        raise NotFound(table.what.capitalize(), entry_id)
