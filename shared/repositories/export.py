"""The asset export: every asset of the v1 list's filters, with the human keys of what it refers
to, read through a server-side cursor in one snapshot."""

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncGenerator
from uuid import UUID

from shared.asset_columns import COLUMNS, PLAN_INPUTS, ExportedAsset
from shared.asset_v1 import AssetV1
from shared.db import ConnectionSource
from shared.domain.models import Asset
from shared.domain.queries import AssetFilter
from shared.repositories.assets import ASSET_JOINS, _one_snapshot, _types_of_kind, _where

# Each human key (shared/asset_columns.py's HUMAN_KEYS) and the joined column it is read from.
KEY_SOURCES = {
    "asset_type": "t.code",
    "company": "co.name",
    "contract": "ct.contract_number",
    "business_unit": "bu.name",
    "custom_form": "cf.name",
    "assigned_to_email": "p.email",
    "warranty_provider": "wp.name",
    "support_provider": "sp.name",
    "attached_supplier": "su.name",
}
# Where each column that is not the asset's own of the same name is read from, as the asset
# repository reads it (shared/repositories/assets.py's ASSET_COLUMNS); the book value is computed
# from the plan's inputs after the columns (ExportedAsset.read).
SOURCES = {
    **KEY_SOURCES,
    "asset_type_name": "t.name",
    "asset_kind": "t.kind",
    "catalog_manufacturer_name": "mf.name",
    "catalog_model_name": "m.name",
    "company_id": "co.id",
    "warranty_status": "l.warranty_status",
    "support_status": "l.support_status",
    "book_value": "NULL::numeric",
    "dep_schedule": "d.schedule",
    "dep_original_cost": "d.original_cost",
    "dep_salvage_value": "d.salvage_value",
    "dep_service_start_date": "d.service_start_date",
}
# Read as text: the ids, which the v1 body writes as text (PostgreSQL writes a uuid as str() does),
# and custom_fields, which ExportedAsset decodes with one decoder for every row.
AS_TEXT = frozenset(
    name
    for name, field in Asset.model_fields.items()
    if name in AssetV1.model_fields and field.annotation in (UUID, UUID | None)
) | {"custom_fields"}


# The dates, read as their ISO text, which csv.writer then takes as it is rather than calling
# str() on a date. asyncpg reads PostgreSQL's infinities as the last and the first date there is.
AS_ISO_DATE = frozenset(
    name for name, field in AssetV1.model_fields.items() if field.annotation in (dt.date, dt.date | None)
)


def _selected(column: str) -> str:
    source = SOURCES.get(column, f"a.{column}")
    if column in AS_TEXT:
        return f"{source}::text AS {column}"
    if column in AS_ISO_DATE:
        return (
            f"CASE {source} WHEN 'infinity' THEN '9999-12-31' WHEN '-infinity' THEN '0001-01-01' "
            f"ELSE to_char({source}, 'YYYY-MM-DD') END AS {column}"
        )
    return f"{source} AS {column}"


# The asset repository's joins, selecting the contract's columns in its order and then the book
# value's inputs. The comment names the statement in pg_stat_activity.
_EXPORT = (
    "/* asset export */ SELECT "
    + ", ".join(_selected(column) for column in (*COLUMNS, *PLAN_INPUTS))
    + ASSET_JOINS
)

# Oldest first, so that a file imported into an empty organisation creates its assets in the
# order they were created here.
_ORDER = "a.created_at, a.id"


class AssetExportRepository:
    """The organisation's assets for an export, chunk by chunk."""

    def __init__(self, db: ConnectionSource) -> None:
        self._db = db

    async def chunks(
        self, org_id: UUID, flt: AssetFilter, size: int
    ) -> AsyncGenerator[list[ExportedAsset], None]:
        """Every asset of the filter, oldest first, `size` at a time, from a server-side cursor in
        one read-only REPEATABLE READ transaction: the whole export sees one snapshot however long
        it takes, whatever is written meanwhile, and holds two chunks in memory at a time: the one
        handed out, and the next, which the server reads meanwhile. The connection is kept until
        the iterator is closed (`contextlib.aclosing`)."""
        async with self._db.connection() as conn, _one_snapshot(conn):
            kind_types = await _types_of_kind(conn, org_id, flt.kind) if flt.kind else []
            where, args = _where(org_id, flt, kind_types)
            cursor = await conn.cursor(f"{_EXPORT} WHERE {where} ORDER BY {_ORDER}", *args)
            # The next chunk is asked for before this one is handed out, so that PostgreSQL reads
            # it while this one is encoded: the export takes the longer of the two, not their sum.
            following = asyncio.ensure_future(cursor.fetch(size))
            try:
                while rows := await following:
                    following = asyncio.ensure_future(cursor.fetch(size))
                    await asyncio.sleep(0)  # the fetch sends its request
                    yield list(map(ExportedAsset.read, rows))
            finally:
                # Closed early: the connection is free once the fetch in flight is over, whatever
                # its outcome (a broken connection is the pool's to drop).
                with contextlib.suppress(Exception):
                    await following
