"""The asset export: every asset of the v1 list's filters, with the human keys of what it refers
to, read through a server-side cursor in one snapshot."""

from collections.abc import AsyncGenerator
from uuid import UUID

import asyncpg

from shared.asset_columns import ExportedAsset
from shared.db import ConnectionSource
from shared.domain.models import Asset
from shared.domain.queries import AssetFilter
from shared.repositories.assets import _one_snapshot, _types_of_kind, _where

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

# The joins of the asset repository's reads (shared/repositories/assets.py), with the human keys.
# The comment names the statement in pg_stat_activity.
_EXPORT = f"""
    /* asset export */
    SELECT a.*, t.name AS asset_type_name, t.kind AS asset_kind,
           m.name AS catalog_model_name, mf.name AS catalog_manufacturer_name,
           co.id AS company_id,
           t.number AS asset_type_number, t.subcategory AS asset_type_subcategory,
           ct.number AS contract_number, ct.contract_number AS contract_reference,
           p.number AS assignee_number, p.name AS assignee_name, p.email AS assignee_email,
           p.phone AS assignee_phone,
           bu.number AS business_unit_number, bu.name AS business_unit_name,
           wp.number AS warranty_provider_number, wp.name AS warranty_provider_name,
           sp.number AS support_provider_number, sp.name AS support_provider_name,
           su.number AS attached_supplier_number, su.name AS attached_supplier_name,
           cf.number AS custom_form_number,
           l.warranty_status, l.support_status,
           d.schedule AS dep_schedule, d.original_cost AS dep_original_cost,
           d.salvage_value AS dep_salvage_value, d.service_start_date AS dep_service_start_date,
           {", ".join(f"{source} AS {_KEY_ALIAS.format(key)}" for key, source in KEY_SOURCES.items())}
    FROM assets a
    JOIN companies co ON co.org_id = a.org_id AND co.number = a.company_number
    LEFT JOIN asset_types t ON t.id = a.asset_type_id
    LEFT JOIN models m ON m.id = a.model_id
    LEFT JOIN manufacturers mf ON mf.id = m.manufacturer_id
    LEFT JOIN contracts ct ON ct.id = a.contract_id
    LEFT JOIN people p ON p.id = a.assigned_to
    LEFT JOIN business_units bu ON bu.id = a.business_unit_id
    LEFT JOIN vendors wp ON wp.id = a.warranty_provider_id
    LEFT JOIN vendors sp ON sp.id = a.support_provider_id
    LEFT JOIN vendors su ON su.id = a.attached_supplier_id
    LEFT JOIN custom_forms cf ON cf.id = a.custom_form_id
    LEFT JOIN asset_lifecycle l ON l.asset_id = a.id AND NOT l.deleted
    LEFT JOIN asset_depreciation d ON d.asset_id = a.id AND NOT d.deleted
"""

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
