"""The use cases every catalog resource shares: get, list, create, change and delete one of the
organisation's objects. A resource whose rules differ says so in its own module, by overriding
the hooks of `Catalog`."""

import re
from collections.abc import Mapping
from typing import Any, Generic, TypeVar
from uuid import UUID

import asyncpg

from shared.db import Conn, Database
from shared.domain.models import Page, Record
from shared.errors import Conflict, NotFound
from shared.repositories.catalog import CatalogTable
from shared.services.references import parse_id, resolve_reference

R = TypeVar("R", bound=Record)


def duplicate(what: str, exc: asyncpg.UniqueViolationError) -> Conflict:
    """A 409 naming the fields whose value is taken (not the database's own key text)."""
    key = re.search(r"Key \(([^)]*)\)", exc.detail or "")
    fields = [f.strip() for f in key.group(1).split(",")] if key else []
    named = " and ".join(f for f in fields if f != "org_id") or "that value"
    return Conflict(f"Another {what} of this organisation already has this {named}.")


class Catalog(Generic[R]):
    """One catalog resource: its table, and the other objects its fields name."""

    def __init__(self, table: CatalogTable[R], references: Mapping[str, CatalogTable[Any]] | None = None):
        self.table = table
        self.references = dict(references or {})

    @property
    def what(self) -> str:
        return self.table.what

    def _not_found(self, entry_id: str | int) -> NotFound:
        return NotFound(self.what.capitalize(), str(entry_id))

    async def _row_id(self, conn: Conn, org_id: UUID, entry_id: str | int) -> UUID | None:
        """The row of a v1 (string) or v2 (integer) id, if it names one of the organisation's."""
        if isinstance(entry_id, int):
            return await self.table.id_for_number(conn, org_id, entry_id)
        return parse_id(entry_id)

    async def _resolved(self, conn: Conn, org_id: UUID, values: Mapping[str, Any]) -> dict[str, Any]:
        """The values with each reference turned into an id of the organisation's (or a 400)."""
        resolved = dict(values)
        for field, target in self.references.items():
            if resolved.get(field) is not None:
                resolved[field] = await resolve_reference(conn, target, org_id, field, resolved[field])
        return resolved

    # Hooks of the resources whose rules differ.

    async def _insert(self, conn: Conn, org_id: UUID, values: dict[str, Any]) -> UUID:
        try:
            return await self.table.insert(conn, org_id, values)
        except asyncpg.UniqueViolationError as exc:
            raise duplicate(self.what, exc) from exc

    def _check(self, entry: R) -> None:
        """A rule over the row as written (so that a change of one field is held against the others)."""

    async def _before_delete(self, conn: Conn, org_id: UUID, row_id: UUID) -> None:
        """A rule that can refuse a delete (inside its transaction)."""

    # The use cases.

    async def get(self, db: Database, org_id: UUID, entry_id: str | int) -> R:
        async with db.acquire() as conn:
            row_id = await self._row_id(conn, org_id, entry_id)
            found = await self.table.get(conn, org_id, row_id) if row_id else None
        if found is None:
            raise self._not_found(entry_id)
        return found

    async def list(
        self, db: Database, org_id: UUID, limit: int, offset: int, by_number: bool = False
    ) -> Page[R]:
        """One page; in the resource's own order, or by v2 (integer) id."""
        async with db.acquire() as conn:
            return await self.table.list(conn, org_id, limit, offset, by_number)

    async def create(self, db: Database, org_id: UUID, values: Mapping[str, Any]) -> R:
        async with db.acquire() as conn, conn.transaction():
            new_id = await self._insert(conn, org_id, await self._resolved(conn, org_id, values))
            created = await self.table.get(conn, org_id, new_id)
            if created is None:
                raise self._not_found(str(new_id))
            self._check(created)
        return created

    async def update(self, db: Database, org_id: UUID, entry_id: str | int, values: Mapping[str, Any]) -> R:
        async with db.acquire() as conn, conn.transaction():
            row_id = await self._row_id(conn, org_id, entry_id)
            if row_id is None or not await self.table.exists(conn, org_id, row_id):
                raise self._not_found(entry_id)
            resolved = await self._resolved(conn, org_id, values)
            try:
                await self.table.update(conn, org_id, row_id, resolved)
            except asyncpg.UniqueViolationError as exc:
                raise duplicate(self.what, exc) from exc
            updated = await self.table.get(conn, org_id, row_id)
            if updated is None:
                raise self._not_found(entry_id)
            self._check(updated)
        return updated

    async def delete(self, db: Database, org_id: UUID, entry_id: str | int) -> None:
        async with db.acquire() as conn, conn.transaction():
            row_id = await self._row_id(conn, org_id, entry_id)
            if row_id is not None:
                await self._before_delete(conn, org_id, row_id)
            deleted = row_id is not None and await self.table.delete(conn, org_id, row_id)
        if not deleted:
            raise self._not_found(entry_id)
