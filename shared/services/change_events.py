"""Turning a committed-to-be change of an asset into its event, written to the outbox in the
same transaction."""

import datetime as dt
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from shared.asset_v1 import DERIVED_FIELDS, AssetV1
from shared.domain.models import Asset, Caller
from shared.events import SOURCE, AssetChangeEvent, EventType, new_event_id
from shared.jsonio import dumps
from shared.services.unit_of_work import UnitOfWork

# Fields that change on every write and so are not "changes".
_BOOKKEEPING = frozenset({"id", "version", "created_at", "updated_at"}) | DERIVED_FIELDS


def field_changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Each field whose v1 value differs, as {from, to}; a create starts from null, a delete ends there."""
    if not before:
        return {
            key: {"from": None, "to": new}
            for key, new in (after or {}).items()
            if new is not None and key not in _BOOKKEEPING
        }
    if not after:
        return {
            key: {"from": old, "to": None}
            for key, old in before.items()
            if old is not None and key not in _BOOKKEEPING
        }
    return {
        key: {"from": old, "to": new}
        for key, old in before.items()
        if (new := after.get(key)) != old and key not in _BOOKKEEPING
    }


def change_document(
    event_type: EventType, caller: Caller, before: Asset | None, after: Asset | None
) -> dict[str, Any]:
    """The event of one asset change, as the plain document its model dumps (AssetChangeEvent,
    which validates it: tests/unit/test_events_model.py): the asset as v1 shows it, and each
    field that changed. Built without the model, which costs more than the rest of a bulk
    write's event together."""
    current = after or before
    assert current is not None
    today = dt.date.today()
    before_v1 = AssetV1.of(before, today).body() if before else None
    after_v1 = AssetV1.of(after, today).body() if after else None
    shown = after_v1 or before_v1
    assert shown is not None
    version = current.version + 1 if event_type is EventType.ASSET_DELETED else current.version
    return {
        "specversion": "1.0",
        "id": new_event_id(),
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


def change_event(
    event_type: EventType, caller: Caller, before: Asset | None, after: Asset | None
) -> AssetChangeEvent:
    """The event of one asset change as its model."""
    return AssetChangeEvent.model_validate(change_document(event_type, caller, before, after))


async def record_change(
    uow: UnitOfWork, event_type: EventType, caller: Caller, before: Asset | None, after: Asset | None
) -> None:
    """Write the event of one asset change to the outbox (inside the change's transaction)."""
    event = change_document(event_type, caller, before, after)
    await uow.outbox.add(UUID(event["id"]), caller.org_id, event_type.value, dumps(event))


async def record_changes(
    uow: UnitOfWork,
    event_type: EventType,
    caller: Caller,
    changes: Sequence[tuple[Asset | None, Asset | None]],
) -> None:
    """Write the events of many asset changes, (before, after) each, to the outbox at once."""
    events = [change_document(event_type, caller, before, after) for before, after in changes]
    await uow.outbox.add_many(
        caller.org_id, [(UUID(event["id"]), event_type.value, dumps(event)) for event in events]
    )
