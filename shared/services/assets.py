"""Use cases of assets: read, list, create, change and delete."""

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from shared.db import Conn
from shared.domain.asset_tags import TagContext, render_tag
from shared.domain.models import Asset, Caller, Page
from shared.errors import AssetNotFound, InvalidInput
from shared.events import EventType
from shared.repositories import assets as repo
from shared.repositories import organisations as orgs
from shared.repositories.assets import AssetFilter
from shared.repositories.catalog import ASSET_TYPES, MODELS, PEOPLE, CatalogTable
from shared.services.change_events import record_change
from shared.services.references import parse_id, resolve_reference

logger = logging.getLogger(__name__)

# Fields holding the id of another object of the organisation.
ASSET_REFERENCES: dict[str, CatalogTable[Any]] = {
    "asset_type_id": ASSET_TYPES,
    "model_id": MODELS,
    "assigned_to": PEOPLE,
}

# A template change can make a tag that an older template already made; try the next counter.
_TAG_ATTEMPTS = 5


async def get_asset(pool: asyncpg.Pool, org_id: UUID, asset_id: str) -> Asset:
    row_id = parse_id(asset_id)
    async with pool.acquire() as conn:
        asset = await repo.get_asset(conn, org_id, row_id) if row_id else None
    if asset is None:
        raise AssetNotFound(asset_id)
    return asset


async def list_assets(
    pool: asyncpg.Pool, org_id: UUID, flt: AssetFilter, limit: int, offset: int
) -> Page[Asset]:
    async with pool.acquire() as conn:
        return await repo.list_assets(conn, org_id, flt, limit, offset)


async def _resolve(conn: Conn, org_id: UUID, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Check every reference and fill the catalog text from a model."""
    values = dict(fields)
    for field, table in ASSET_REFERENCES.items():
        if values.get(field) is not None:
            values[field] = await resolve_reference(conn, table, org_id, field, values[field])
    if values.get("model_id") is not None:
        names = await repo.catalog_model_names(conn, org_id, values["model_id"])
        assert names is not None
        values["manufacturer"], values["model"], model_type = names
        if "asset_type_id" not in values and model_type is not None:
            values["asset_type_id"] = model_type
    return values


async def create_asset(pool: asyncpg.Pool, caller: Caller, fields: Mapping[str, Any]) -> Asset:
    """Create an asset with the next tag of the organisation's template."""
    org_id = caller.org_id
    if not fields.get("name"):
        raise InvalidInput.one("name", "is required")
    asset_id = uuid4()
    async with pool.acquire() as conn:
        values = await _resolve(conn, org_id, fields)
        type_code = (
            await repo.asset_type_code(conn, org_id, values["asset_type_id"])
            if values.get("asset_type_id")
            else None
        )
        for attempt in range(1, _TAG_ATTEMPTS + 1):
            # The counter is taken in its own short transaction so that concurrent creates do
            # not queue on the organisation's row; a failed create leaves a gap, never a duplicate.
            counter, template, prefix = await orgs.next_tag_counter(conn, org_id)
            tag = render_tag(template, TagContext(prefix, type_code, dt.date.today()), counter)
            try:
                async with conn.transaction():
                    await repo.insert_asset(conn, asset_id, org_id, tag, values)
                    asset = await repo.get_asset(conn, org_id, asset_id)
                    assert asset is not None
                    await record_change(conn, EventType.ASSET_CREATED, caller, None, asset)
            except asyncpg.UniqueViolationError as exc:
                if exc.constraint_name != "assets_org_id_asset_tag_key" or attempt == _TAG_ATTEMPTS:
                    raise
                logger.warning("asset tag taken, trying the next counter", extra={"asset_tag": tag})
                continue
            return asset
    raise AssertionError("unreachable")


async def update_asset(pool: asyncpg.Pool, caller: Caller, asset_id: str, fields: Mapping[str, Any]) -> Asset:
    """Change some fields of an asset; an explicit None clears a field. No change, no event."""
    org_id = caller.org_id
    row_id = parse_id(asset_id)
    if row_id is None:
        raise AssetNotFound(asset_id)
    async with pool.acquire() as conn, conn.transaction():
        if not await repo.lock_asset(conn, org_id, row_id):
            raise AssetNotFound(asset_id)
        before = await repo.get_asset(conn, org_id, row_id)
        assert before is not None
        values = await _resolve(conn, org_id, fields)
        changed = {k: v for k, v in values.items() if getattr(before, k) != v}
        if not changed:
            return before
        await repo.update_asset(conn, org_id, row_id, changed)
        after = await repo.get_asset(conn, org_id, row_id)
        assert after is not None
        await record_change(conn, EventType.ASSET_UPDATED, caller, before, after)
    return after


async def delete_asset(pool: asyncpg.Pool, caller: Caller, asset_id: str) -> Asset:
    """Delete an asset; returns its last state."""
    org_id = caller.org_id
    row_id = parse_id(asset_id)
    if row_id is None:
        raise AssetNotFound(asset_id)
    async with pool.acquire() as conn, conn.transaction():
        if not await repo.lock_asset(conn, org_id, row_id):
            raise AssetNotFound(asset_id)
        last = await repo.get_asset(conn, org_id, row_id)
        assert last is not None
        await repo.delete_asset(conn, org_id, row_id)
        await record_change(conn, EventType.ASSET_DELETED, caller, last, None)
    return last
