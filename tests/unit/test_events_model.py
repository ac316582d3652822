"""The event wire format (shared/events.py): CloudEvents 1.0 envelope, `changes` {from, to}, and
that what the api and the worker actually write validates against the published models."""

import datetime as dt
import json
import typing
import uuid
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from services.worker.consumer import PoisonMessage, parse_event
from shared.asyncapi import build_asyncapi
from shared.domain.lifecycle import Notice
from shared.domain.models import Asset, Caller
from shared.events import (
    ASSET_CHANGE_TYPES,
    CONTENT_TYPE,
    SOURCE,
    WORKER_SOURCE,
    Actor,
    AssetChangeData,
    AssetChangeEvent,
    CloudEvent,
    CoverageKind,
    CoverageNoticeData,
    CoverageNoticeEvent,
    EventType,
    FieldChange,
    new_event_id,
)
from shared.jsonio import dumps
from shared.repositories.projections import LifecycleRow
from shared.services import coverage_notices
from shared.services.change_events import change_document, field_changes, record_change
from shared.topology import Topology
from tests.unit.fake_unit_of_work import FakeUnitOfWork

NOW = dt.datetime(2026, 11, 23, 3, 38, 54, 664631, tzinfo=dt.UTC)
ASSET_ID = uuid.uuid4()
ORG_ID = uuid.uuid4()


def envelope(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "specversion": "1.0",
        "id": new_event_id(),
        "source": SOURCE,
        "type": "asset.updated",
        "subject": str(ASSET_ID),
        "time": NOW.isoformat(),
        "datacontenttype": "application/json",
        "orgid": str(ORG_ID),
    }
    body.update(overrides)
    return body


def make_asset(**overrides: Any) -> Asset:
    values: dict[str, Any] = {
        "id": ASSET_ID,
        "number": 1,
        "org_id": ORG_ID,
        "company_number": 1,
        "version": 1,
        "asset_tag": "ACM-2026-000002",
        "name": "Dell XPS 15",
        "status": "in_stock",
        "custom_fields": {"colour": "grey"},
        "warranty_type": "none",
        "support_type": "none",
        "purchase_date": dt.date(2024, 6, 1),
        "purchase_price": Decimal("1200.00"),
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(overrides)
    for name, field in Asset.model_fields.items():
        if name not in values and field.is_required():
            values[name] = _filler(name, field.annotation)
    return Asset.model_validate(values)


def _filler(name: str, annotation: Any) -> Any:
    """A fixed value for a required field the test does not care about: null where allowed."""
    if type(None) in typing.get_args(annotation):
        return None
    fixed: dict[Any, Any] = {uuid.UUID: uuid.uuid5(ORG_ID, name), int: 1, str: name, bool: False}
    return fixed.get(annotation)


CALLER = Caller(org_id=ORG_ID, token_id=uuid.uuid4(), token_name="alice", request_id="8458606da3574ed7")


@pytest.fixture
def uow() -> FakeUnitOfWork:
    """Where change_events and coverage_notices write their events: an in-memory outbox."""
    return FakeUnitOfWork()


# --- the CloudEvents envelope ----------------------------------------------------------------------


def test_event_types_and_constants() -> None:
    assert {t.value for t in EventType} == {
        "asset.created",
        "asset.updated",
        "asset.deleted",
        "asset.warranty.expiring",
        "asset.warranty.expired",
        "asset.support.expiring",
        "asset.support.expired",
        "webhook.ping",
        "webhook.disabled",
    }
    assert set(ASSET_CHANGE_TYPES) == {
        EventType.ASSET_CREATED,
        EventType.ASSET_UPDATED,
        EventType.ASSET_DELETED,
    }
    assert CONTENT_TYPE == "application/cloudevents+json"
    assert SOURCE == "urn:assetflow:api"
    assert WORKER_SOURCE == "urn:assetflow:worker"


def test_event_ids_are_unique_uuids() -> None:
    ids = {new_event_id() for _ in range(500)}
    assert len(ids) == 500
    for value in ids:
        assert str(uuid.UUID(value)) == value


def test_cloud_event_defaults_specversion_and_datacontenttype() -> None:
    event = CloudEvent(id="e1", source=SOURCE, type=EventType.ASSET_CREATED, subject="s", time=NOW, orgid="o")
    dumped = event.model_dump(mode="json")
    assert dumped["specversion"] == "1.0"
    assert dumped["datacontenttype"] == "application/json"
    assert dumped["type"] == "asset.created"
    assert set(dumped) == {
        "specversion",
        "id",
        "source",
        "type",
        "subject",
        "time",
        "datacontenttype",
        "orgid",
    }


@pytest.mark.parametrize("missing", ["id", "source", "type", "subject", "time", "orgid"])
def test_cloud_event_required_attributes(missing: str) -> None:
    body = envelope()
    del body[missing]
    with pytest.raises(ValidationError) as info:
        CloudEvent.model_validate(body)
    assert [e["loc"] for e in info.value.errors()] == [(missing,)]


def test_cloud_event_json_schema_requires_the_attributes() -> None:
    schema = CloudEvent.model_json_schema()
    assert {"id", "source", "type", "subject", "time", "orgid"} <= set(schema["required"])
    assert schema["properties"]["specversion"]["const"] == "1.0"
    assert schema["properties"]["datacontenttype"]["const"] == "application/json"


@pytest.mark.parametrize("version", ["0.3", "1", "2.0", 1.0])
def test_only_specversion_1_0_is_accepted(version: object) -> None:
    with pytest.raises(ValidationError):
        CloudEvent.model_validate(envelope(specversion=version))


def test_only_json_datacontenttype_is_accepted() -> None:
    with pytest.raises(ValidationError):
        CloudEvent.model_validate(envelope(datacontenttype="text/plain"))


def test_unknown_event_type_is_rejected() -> None:
    with pytest.raises(ValidationError):
        CloudEvent.model_validate(envelope(type="asset.exploded"))


def test_time_is_parsed_as_an_aware_datetime() -> None:
    event = CloudEvent.model_validate(envelope(time="2026-11-23T03:38:54.664631Z"))
    assert event.time == NOW
    assert event.time.utcoffset() == dt.timedelta(0)


# --- changes: {from, to} ---------------------------------------------------------------------------


def test_field_change_serialises_from_by_its_alias() -> None:
    change = FieldChange.model_validate({"from": Decimal("1200.00"), "to": Decimal("1300.50")})
    assert change.from_ == Decimal("1200.00")
    dumped = change.model_dump()
    assert set(dumped) == {"from", "to"}
    assert dumped["from"] == Decimal("1200.00")
    assert json.loads(change.model_dump_json()) == {"from": "1200.00", "to": "1300.50"}


def test_field_change_accepts_the_python_name_too() -> None:
    change = FieldChange.model_validate({"from_": None, "to": "in_use"})
    assert change.model_dump() == {"from": None, "to": "in_use"}


def test_field_change_requires_both_sides() -> None:
    with pytest.raises(ValidationError):
        FieldChange.model_validate({"to": 1})
    with pytest.raises(ValidationError):
        FieldChange.model_validate({"from": 1})


def test_field_change_schema_names_from_not_from_underscore() -> None:
    for mode in ("validation", "serialization"):
        schema = FieldChange.model_json_schema(mode=mode)  # type: ignore[arg-type]
        assert set(schema["properties"]) == {"from", "to"}, mode
        assert set(schema["required"]) == {"from", "to"}, mode


def test_asset_change_data_dumps_changes_with_from() -> None:
    data = AssetChangeData.model_validate(
        {
            "asset": json.loads(json.dumps(_asset_v1_json(make_asset()))),
            "version": 2,
            "changes": {"name": {"from": "a", "to": "b"}},
            "actor": {"id": "t", "name": "alice"},
            "request_id": "r",
        }
    )
    dumped = data.model_dump(mode="json")
    assert dumped["changes"] == {"name": {"from": "a", "to": "b"}}
    assert "from_" not in json.dumps(dumped)


def test_version_starts_at_one() -> None:
    with pytest.raises(ValidationError):
        AssetChangeData.model_validate(
            {
                "asset": _asset_v1_json(make_asset()),
                "version": 0,
                "changes": {},
                "actor": {"id": "t", "name": "n"},
                "request_id": "r",
            }
        )


def test_asyncapi_document_uses_from_in_changes() -> None:
    doc = build_asyncapi(Topology("assetflow"))
    text = json.dumps(doc)
    assert "from_" not in text
    schemas = doc["components"]["schemas"]
    assert set(schemas["FieldChange"]["properties"]) == {"from", "to"}


def _asset_v1_json(asset: Asset) -> dict[str, Any]:
    from shared.asset_v1 import AssetV1
    from shared.jsonio import dumps

    return dict(json.loads(dumps(AssetV1.of(asset, dt.date(2026, 1, 1)).model_dump())))


# --- field_changes -------------------------------------------------------------------------


def test_field_changes_of_a_create_start_from_null() -> None:
    after = {"id": "x", "name": "A", "notes": None, "created_at": 1, "updated_at": 1}
    assert field_changes(None, after) == {"name": {"from": None, "to": "A"}}


def test_field_changes_of_a_delete_end_at_null() -> None:
    before = {"id": "x", "name": "A", "status": "in_use", "updated_at": 1}
    assert field_changes(before, None) == {
        "name": {"from": "A", "to": None},
        "status": {"from": "in_use", "to": None},
    }


def test_field_changes_of_an_update_name_only_what_changed() -> None:
    before = {"id": "x", "name": "A", "purchase_price": Decimal("1200.00"), "updated_at": 1, "book_value": 5}
    after = {"id": "x", "name": "A", "purchase_price": Decimal("1300.50"), "updated_at": 2, "book_value": 4}
    assert field_changes(before, after) == {
        "purchase_price": {"from": Decimal("1200.00"), "to": Decimal("1300.50")}
    }


def test_field_changes_ignore_bookkeeping_and_derived_fields() -> None:
    before = {
        k: 1 for k in ("id", "created_at", "updated_at", "warranty_status", "support_status", "book_value")
    }
    after = {k: 2 for k in before}
    assert field_changes(before, after) == {}


# --- what the api and the worker write validates against the models ------------------------------


async def test_created_event_written_to_the_outbox_is_a_valid_cloud_event(uow: FakeUnitOfWork) -> None:
    asset = make_asset()
    await record_change(uow, EventType.ASSET_CREATED, CALLER, None, asset)
    assert len(uow.state.outbox) == 1
    event_id, org_id, routing_key, body = uow.state.outbox[0]
    assert routing_key == "asset.created"
    assert org_id == ORG_ID
    raw = json.loads(body)
    for attribute in ("specversion", "id", "source", "type", "subject", "time", "datacontenttype", "orgid"):
        assert attribute in raw, attribute
    assert raw["specversion"] == "1.0"
    assert raw["id"] == str(event_id)
    assert raw["source"] == SOURCE
    assert raw["subject"] == str(ASSET_ID)
    assert raw["datacontenttype"] == "application/json"
    assert raw["orgid"] == str(ORG_ID)
    assert raw["time"].endswith("Z")
    assert dt.datetime.fromisoformat(raw["time"]).tzinfo is not None
    assert raw["data"]["version"] == 1
    assert raw["data"]["actor"] == {"id": str(CALLER.token_id), "name": "alice"}
    assert raw["data"]["request_id"] == CALLER.request_id
    assert raw["data"]["changes"]["name"] == {"from": None, "to": "Dell XPS 15"}
    # exact decimals as JSON numbers
    assert b'"purchase_price":1200.00' in body
    event = parse_event(body)
    assert isinstance(event, AssetChangeEvent)
    assert event.type is EventType.ASSET_CREATED
    assert event.data.asset.purchase_price == Decimal("1200.00")
    assert event.data.changes["purchase_price"].from_ is None
    assert event.data.changes["purchase_price"].to == Decimal("1200.00")


async def test_updated_event_carries_only_the_changes(uow: FakeUnitOfWork) -> None:
    before = make_asset(version=1)
    after = make_asset(version=2, purchase_price=Decimal("1300.50"), updated_at=NOW + dt.timedelta(seconds=5))
    await record_change(uow, EventType.ASSET_UPDATED, CALLER, before, after)
    body = uow.state.outbox[0][3]
    assert b'"changes":{"purchase_price":{"from":1200.00,"to":1300.50}}' in body
    event = parse_event(body)
    assert event.data.version == 2
    assert set(event.data.changes) == {"purchase_price"}
    assert event.data.changes["purchase_price"].from_ == Decimal("1200.00")
    assert event.data.changes["purchase_price"].to == Decimal("1300.50")
    # and it serialises back with the alias
    assert event.model_dump(mode="json")["data"]["changes"]["purchase_price"].keys() == {"from", "to"}


async def test_deleted_event_has_the_last_state_and_next_version(uow: FakeUnitOfWork) -> None:
    before = make_asset(version=3)
    await record_change(uow, EventType.ASSET_DELETED, CALLER, before, None)
    event = parse_event(uow.state.outbox[0][3])
    assert event.type is EventType.ASSET_DELETED
    assert event.data.version == 4
    assert event.data.asset.name == "Dell XPS 15"
    assert all(change.to is None for change in event.data.changes.values())
    assert event.data.changes["name"].from_ == "Dell XPS 15"


@pytest.mark.parametrize(
    ("event_type", "before", "after"),
    [
        (EventType.ASSET_CREATED, None, make_asset()),
        (EventType.ASSET_UPDATED, make_asset(version=1), make_asset(version=2, name="Renamed", notes="a\nb")),
        (EventType.ASSET_DELETED, make_asset(version=3), None),
    ],
)
def test_the_plain_event_document_is_exactly_what_its_model_dumps(
    event_type: EventType, before: Any, after: Any
) -> None:
    """Writes build the event as a plain document (faster); it must be a valid event whose model
    writes the very same bytes."""
    document = change_document(event_type, CALLER, before, after)
    assert dumps(AssetChangeEvent.model_validate(document).model_dump()) == dumps(document)


@pytest.mark.parametrize(("kind", "notice"), [("warranty", Notice.EXPIRING), ("support", Notice.EXPIRED)])
async def test_coverage_notice_written_by_the_worker_is_a_valid_cloud_event(
    uow: FakeUnitOfWork, kind: CoverageKind, notice: Notice
) -> None:
    row = LifecycleRow(
        asset_id=ASSET_ID,
        org_id=ORG_ID,
        version=1,
        asset_tag="ACM-2026-000002",
        name="Dell XPS 15",
        warranty_end_date=dt.date(2026, 12, 1),
        support_end_date=dt.date(2026, 12, 1),
        end_of_life_date=None,
        warranty_status="within_warranty",
        support_status="within_support",
        warranty_days_left=5,
        support_days_left=5,
        computed_on=dt.date(2026, 11, 26),
    )
    days_left = 5 if notice is Notice.EXPIRING else -1
    notice_event = coverage_notices._notice(row, kind, notice, dt.date(2026, 12, 1), days_left)
    await coverage_notices.publish_notices(uow, [notice_event])
    # The plain document is exactly what its model dumps.
    assert dumps(CoverageNoticeEvent.model_validate(notice_event).model_dump()) == uow.state.outbox[0][3]
    _, _, routing_key, body = uow.state.outbox[0]
    assert routing_key == f"asset.{kind}.{notice.value}"
    event = CoverageNoticeEvent.model_validate_json(body)
    assert event.specversion == "1.0"
    assert event.source == WORKER_SOURCE
    assert event.subject == str(ASSET_ID)
    assert event.type.value == routing_key
    assert event.data == CoverageNoticeData(
        asset_id=str(ASSET_ID),
        asset_tag="ACM-2026-000002",
        name="Dell XPS 15",
        coverage=kind,
        end_date=dt.date(2026, 12, 1),
        days_left=days_left,
    )


def test_parse_event_rejects_non_json_and_invalid_events() -> None:
    with pytest.raises(PoisonMessage, match="JSON"):
        parse_event(b"not json")
    with pytest.raises(PoisonMessage, match="valid"):
        parse_event(json.dumps(envelope()).encode())  # no data
    with pytest.raises(PoisonMessage):
        parse_event(b"\xff\xfe")


def test_actor_model() -> None:
    assert Actor(id="1", name="bot").model_dump() == {"id": "1", "name": "bot"}
    with pytest.raises(ValidationError):
        Actor.model_validate({"id": "1"})
