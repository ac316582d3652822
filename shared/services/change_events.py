"""Turning a committed-to-be change of an asset into its event, written to the outbox in the
same transaction."""

import datetime as dt
from typing import Any
from uuid import UUID

from shared.asset_v1 import DERIVED_FIELDS, asset_v1
from shared.db import Conn
from shared.domain.models import Asset, Caller
from shared.events import SOURCE, EventType, new_event_id
from shared.jsonio import dumps
from shared.repositories import outbox

# Fields that change on every write and so are not "changes".
_BOOKKEEPING = frozenset({"id", "created_at", "updated_at"}) | DERIVED_FIELDS


def field_changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Each field whose v1 value differs, as {from, to}; a create starts from null, a delete ends there."""
    keys = (before or after or {}).keys()
    changes: dict[str, dict[str, Any]] = {}
    for key in keys:
        if key in _BOOKKEEPING:
            continue
        old = before.get(key) if before else None
        new = after.get(key) if after else None
        if old != new:
            changes[key] = {"from": old, "to": new}
    return changes


async def record_change(
    conn: Conn, event_type: EventType, caller: Caller, before: Asset | None, after: Asset | None
) -> None:
    """Write the event of one asset change to the outbox (inside the change's transaction)."""
    current = after or before
    assert current is not None
    today = dt.date.today()
    before_v1 = asset_v1(before, today) if before else None
    after_v1 = asset_v1(after, today) if after else None
    shown = after_v1 or before_v1
    version = current.version + 1 if event_type is EventType.ASSET_DELETED else current.version
    event_id = new_event_id()
    event = {
        "specversion": "1.0",
        "id": event_id,
        "source": SOURCE,
        "type": event_type.value,
        "subject": str(current.id),
        "time": dt.datetime.now(dt.UTC),
        "datacontenttype": "application/json",
        "orgid": str(caller.org_id),
        "data": {
            "asset": shown,
            "version": version,
            "changes": field_changes(before_v1, after_v1),
            "actor": {"id": str(caller.token_id), "name": caller.token_name},
            "request_id": caller.request_id,
        },
    }
    await outbox.insert_event(conn, UUID(event_id), caller.org_id, event_type.value, dumps(event))
