"""Statements shared by the repositories: partial updates, deletes guarded by references, and
batches written as one statement over arrays."""

from collections.abc import Collection, Mapping, Sequence
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


def unnest_rows(types: Mapping[str, str]) -> str:
    """`unnest($1::t1[], ...) AS r(c1, ...)`: the rows of a batch given as one array per column, in
    the order of `types` (column name -> type; `columns` makes the arguments), so that a batch is
    one statement where executemany runs one per row."""
    arrays = ", ".join(f"${i}::{kind}[]" for i, kind in enumerate(types.values(), start=1))
    return f"unnest({arrays}) AS r({', '.join(types)})"


def columns(rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """The rows' values as one list per column: the arguments of an unnest_rows statement."""
    return [list(column) for column in zip(*rows, strict=True)]


async def update_row(
    conn: Conn,
    table: str,
    org_id: UUID,
    row_id: UUID,
    values: Mapping[str, Any],
    allowed: Collection[str],
) -> bool:
    """Write some columns of one row of the organisation and count the change in its version;
    False, and nothing written, when there is no such row or it holds these values already."""
    if not values:
        return False
    assignments, args = set_clause(values, allowed, first=3)
    differs = " OR ".join(f"{column} IS DISTINCT FROM ${n}" for n, column in enumerate(values, start=3))
    status = await conn.execute(
        f"UPDATE {table} SET {assignments}, version = version + 1, updated_at = now() "
        f"WHERE org_id = $1 AND id = $2 AND ({differs})",
        org_id,
        row_id,
        *args,
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
