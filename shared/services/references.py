"""Turning ids given by a caller into ids of the caller's organisation, or a named error."""

from typing import Any
from uuid import UUID

from shared.errors import FieldProblem, InvalidInput
from shared.repositories.catalog import CatalogTable
from shared.services.unit_of_work import UnitOfWork


def parse_id(value: str) -> UUID | None:
    """A UUID from its text, or None when the text is not one."""
    try:
        return UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None


async def resolve_reference(
    uow: UnitOfWork, table: CatalogTable[Any], org_id: UUID, field: str, value: str | int
) -> UUID:
    """The id of an object of the organisation, given by its v1 (string) or v2 (integer) id, or
    InvalidInput naming the field."""
    if isinstance(value, int):
        row_id = await uow.catalog.id_for_number(table, org_id, value)
        if row_id is not None:
            return row_id
        raise InvalidInput([FieldProblem(field, f"no {table.what} with id {value} in this organisation")])
    row_id = parse_id(value)
    if row_id is None or not await uow.catalog.exists(table, org_id, row_id):
        raise InvalidInput([FieldProblem(field, f"no {table.what} with id {value!r} in this organisation")])
    return row_id
