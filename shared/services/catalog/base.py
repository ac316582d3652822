"""The use cases every catalog resource shares: get, list, create, change and delete one of the
organisation's objects. A resource whose rules differ says so in its own module, by overriding
the hooks of `Catalog`."""

from collections.abc import Mapping
from typing import Any, Generic, TypeVar
from uuid import UUID

from shared.domain.models import Entry, Page
from shared.domain.versions import Expected, check_expected
from shared.errors import NotFound
from shared.repositories.catalog import CatalogTable, Lock
from shared.services.references import parse_id, resolve_reference
from shared.services.unit_of_work import UnitOfWork

R = TypeVar("R", bound=Entry)


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

    async def _row_id(self, uow: UnitOfWork, org_id: UUID, entry_id: str | int) -> UUID | None:
        """The row of a v1 (string) or v2 (integer) id, if it names one of the organisation's."""
        if isinstance(entry_id, int):
            return await uow.catalog.id_for_number(self.table, org_id, entry_id)
        return parse_id(entry_id)

    async def _resolved(self, uow: UnitOfWork, org_id: UUID, values: Mapping[str, Any]) -> dict[str, Any]:
        """The values with each reference turned into an id of the organisation's (or a 400)."""
        resolved = dict(values)
        for field, target in self.references.items():
            if resolved.get(field) is not None:
                resolved[field] = await resolve_reference(uow, target, org_id, field, resolved[field])
        return resolved

    # Hooks of the resources whose rules differ.

    async def _insert(self, uow: UnitOfWork, org_id: UUID, values: dict[str, Any]) -> UUID:
        return await uow.catalog.insert(self.table, org_id, values)

    def _check(self, entry: R) -> None:
        """A rule over the row as written (so that a change of one field is held against the others)."""

    async def _before_lock(self, uow: UnitOfWork, org_id: UUID) -> None:
        """What a delete locks before the row (inside its transaction)."""

    async def _before_delete(self, uow: UnitOfWork, org_id: UUID, row_id: UUID) -> None:
        """A rule that can refuse a delete (inside its transaction, the row locked)."""

    # The use cases.

    async def get(self, uow: UnitOfWork, org_id: UUID, entry_id: str | int) -> R:
        row_id = await self._row_id(uow, org_id, entry_id)
        found = await uow.catalog.get(self.table, org_id, row_id) if row_id else None
        if found is None:
            raise self._not_found(entry_id)
        return found

    async def list(
        self, uow: UnitOfWork, org_id: UUID, limit: int, offset: int, by_number: bool = False
    ) -> Page[R]:
        """One page; in the resource's own order, or by v2 (integer) id."""
        return await uow.catalog.page(self.table, org_id, limit, offset, by_number)

    async def create(self, uow: UnitOfWork, org_id: UUID, values: Mapping[str, Any]) -> R:
        async with uow.transaction():
            new_id = await self._insert(uow, org_id, await self._resolved(uow, org_id, values))
            created = await uow.catalog.get(self.table, org_id, new_id)
            if created is None:
                raise self._not_found(str(new_id))
            self._check(created)
        return created

    async def update(
        self,
        uow: UnitOfWork,
        org_id: UUID,
        entry_id: str | int,
        values: Mapping[str, Any],
        expected: Expected | None = None,
    ) -> R:
        """Change some fields; its version counts the change (none when nothing differs). With
        `expected` (If-Match), StaleVersion unless the locked row is at that version."""
        async with uow.transaction():
            current = await self._locked(uow, org_id, entry_id, expected, "change")
            await uow.catalog.update(
                self.table, org_id, current.id, await self._resolved(uow, org_id, values)
            )
            updated = await uow.catalog.get(self.table, org_id, current.id)
            if updated is None:
                raise self._not_found(entry_id)
            self._check(updated)
        return updated

    async def delete(
        self, uow: UnitOfWork, org_id: UUID, entry_id: str | int, expected: Expected | None = None
    ) -> None:
        async with uow.transaction():
            await self._before_lock(uow, org_id)
            current = await self._locked(uow, org_id, entry_id, expected, "delete")
            await self._before_delete(uow, org_id, current.id)
            if not await uow.catalog.delete(self.table, org_id, current.id):
                raise self._not_found(entry_id)

    async def _locked(
        self, uow: UnitOfWork, org_id: UUID, entry_id: str | int, expected: Expected | None, lock: Lock
    ) -> R:
        """The row, locked until the transaction ends and held against `expected`."""
        row_id = await self._row_id(uow, org_id, entry_id)
        current = await uow.catalog.get(self.table, org_id, row_id, lock) if row_id else None
        if current is None:
            raise self._not_found(entry_id)
        check_expected(expected, current.id, current.version, current)
        return current
