"""Statements shared by the repositories: partial updates and deletes guarded by references."""

from collections.abc import Collection, Mapping
from typing import Any
from uuid import UUID

import asyncpg

from shared.db import Conn
from shared.errors import Conflict


def set_clause(values: Mapping[str, Any], allowed: Collection[str], first: int) -> tuple[str, list[Any]]:
    """`col = $n, ...` for the given columns (each checked against `allowed`) and its arguments."""
    parts: list[str] = []
    args: list[Any] = []
    for offset, (column, value) in enumerate(values.items()):
        if column not in allowed:
            raise ValueError(f"column {column!r} cannot be written")
        parts.append(f"{column} = ${first + offset}")
        args.append(value)
    return ", ".join(parts), args


async def update_row(
    conn: Conn,
    table: str,
    org_id: UUID,
    row_id: UUID,
    values: Mapping[str, Any],
    allowed: Collection[str],
) -> bool:
    """Write some columns of one row of the organisation; False when there is no such row."""
    assignments, args = set_clause(values, allowed, first=3)
    sets = f"{assignments}, updated_at = now()" if assignments else "updated_at = now()"
    status = await conn.execute(
        f"UPDATE {table} SET {sets} WHERE org_id = $1 AND id = $2", org_id, row_id, *args
    )
    return bool(status != "UPDATE 0")


async def delete_row(conn: Conn, table: str, org_id: UUID, row_id: UUID, what: str) -> bool:
    """Delete one row of the organisation; Conflict while other rows still refer to it."""
    try:
        async with conn.transaction():
            status = await conn.execute(f"DELETE FROM {table} WHERE org_id = $1 AND id = $2", org_id, row_id)
    except asyncpg.ForeignKeyViolationError as exc:
        raise Conflict(f"This {what} is still in use ({exc.table_name}) and cannot be deleted.") from exc
    return bool(status != "DELETE 0")
