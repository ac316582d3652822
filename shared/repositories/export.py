"""The asset export: every asset of the v1 list's filters, with the human keys of what it refers
to, read through a server-side cursor in one snapshot."""

from collections.abc import AsyncGenerator
from uuid import UUID

import asyncpg

from shared.asset_columns import ExportedAsset
from shared.db import ConnectionSource
from shared.domain.models import Asset
from shared.domain.queries import AssetFilter
from shared.repositories.assets import ASSET_COLUMNS, ASSET_JOINS, _one_snapshot, _types_of_kind, _where

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
_KEY_ALIAS = "key_{}"

# The asset repository's reads (shared/repositories/assets.py), with the human keys. The
# comment names the statement in pg_stat_activity.
_EXPORT = (
    f"/* asset export */ SELECT {ASSET_COLUMNS}, "
    + ", ".join(f"{source} AS {_KEY_ALIAS.format(key)}" for key, source in KEY_SOURCES.items())
    + ASSET_JOINS
)

# Oldest first, so that a file imported into an empty organisation creates its assets in the
# order they were created here.
_ORDER = "a.created_at, a.id"


def _exported(row: asyncpg.Record) -> ExportedAsset:
    values = dict(row)
    keys = {key: values.pop(_KEY_ALIAS.format(key)) for key in KEY_SOURCES}
    return ExportedAsset(Asset.model_validate(values), keys)


class AssetExportRepository:
    """The organisation's assets for an export, chunk by chunk."""

    def __init__(self, db: ConnectionSource) -> None:
        self._db = db

    async def chunks(
        self, org_id: UUID, flt: AssetFilter, size: int
    ) -> AsyncGenerator[list[ExportedAsset], None]:
        """Every asset of the filter, oldest first, `size` at a time, from a server-side cursor in
        one read-only REPEATABLE READ transaction: the whole export sees one snapshot however long
        it takes, whatever is written meanwhile, and holds one chunk in memory at a time. The
        connection is kept until the iterator is closed (`contextlib.aclosing`)."""
        async with self._db.connection() as conn, _one_snapshot(conn):
            kind_types = await _types_of_kind(conn, org_id, flt.kind) if flt.kind else []
            where, args = _where(org_id, flt, kind_types)
            cursor = await conn.cursor(f"{_EXPORT} WHERE {where} ORDER BY {_ORDER}", *args)
            while rows := await cursor.fetch(size):
                yield [_exported(row) for row in rows]
