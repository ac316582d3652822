"""The use cases' rules, run on the in-memory unit of work: references, custom forms,
depreciation limits, no change no event, tag retries, the catalog's own rules, and the worker's
projections applying each event once and never going back a version."""

import datetime as dt
import json
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest

from shared.domain.consumers import ConsumerName
from shared.domain.models import Caller, DepreciationSchedule, Organisation
from shared.errors import AssetNotFound, Conflict, InvalidInput, TagTaken
from shared.events import AssetChangeEvent, EventType
from shared.services import assets, catalog, organisations, projections
from tests.unit.fake_unit_of_work import FakeUnitOfWork


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
async def org(uow: FakeUnitOfWork) -> Organisation:
    return await organisations.create_organisation(uow, "Acme Corp", "ACM")


@pytest.fixture
def caller(org: Organisation) -> Caller:
    return Caller(org_id=org.id, token_id=uuid4(), token_name="alice", request_id="req-1")


def events(uow: FakeUnitOfWork) -> list[tuple[str, dict[str, Any]]]:
    """The outbox: each event's type and its data, in the order written."""
    return [(key, json.loads(body)["data"]) for _, _, key, body in uow.state.outbox]


def problem_fields(exc: InvalidInput) -> list[str]:
    return [p.field for p in exc.problems]


# --- references --------------------------------------------------------------------------------


async def test_a_model_fills_its_names_and_its_type(
    uow: FakeUnitOfWork, org: Organisation, caller: Caller
) -> None:
    laptop = await catalog.ASSET_TYPES.create(uow, org.id, {"name": "Laptop"})
    dell = await catalog.MANUFACTURERS.create(uow, org.id, {"name": "Dell"})
    xps = await catalog.MODELS.create(
        uow, org.id, {"name": "XPS 15", "manufacturer_id": str(dell.id), "asset_type_id": str(laptop.id)}
    )
    asset = await assets.create_asset(uow, caller, {"name": "Alice's", "model_id": str(xps.id)})
    assert (asset.manufacturer, asset.model, asset.asset_type_id) == ("Dell", "XPS 15", laptop.id)
    assert asset.asset_type_name == "Laptop"


async def test_a_reference_by_v2_number_is_the_same_object(
    uow: FakeUnitOfWork, org: Organisation, caller: Caller
) -> None:
    person = await catalog.PEOPLE.create(uow, org.id, {"name": "Alice"})
    asset = await assets.create_asset(uow, caller, {"name": "Hers", "assigned_to": person.number})
    assert asset.assigned_to == person.id
    assert asset.assignee_name == "Alice"


@pytest.mark.parametrize(
    "field", ["asset_type_id", "model_id", "assigned_to", "contract_id", "custom_form_id"]
)
async def test_an_unknown_reference_names_its_field_and_writes_nothing(
    uow: FakeUnitOfWork, caller: Caller, field: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        await assets.create_asset(uow, caller, {"name": "X", field: str(uuid4())})
    assert problem_fields(raised.value) == [field]
    assert "in this organisation" in raised.value.problems[0].message
    assert uow.state.assets == {}
    assert uow.state.outbox == []


async def test_another_organisations_object_is_unknown(uow: FakeUnitOfWork, caller: Caller) -> None:
    other = await organisations.create_organisation(uow, "Other Ltd", "OTH")
    theirs = await catalog.VENDORS.create(uow, other.id, {"name": "Their vendor"})
    with pytest.raises(InvalidInput) as raised:
        await assets.create_asset(uow, caller, {"name": "X", "warranty_provider_id": str(theirs.id)})
    assert problem_fields(raised.value) == ["warranty_provider_id"]


async def test_a_company_may_be_left_out_but_not_null(uow: FakeUnitOfWork, caller: Caller) -> None:
    with pytest.raises(InvalidInput) as raised:
        await assets.create_asset(uow, caller, {"name": "X", "company_id": None})
    assert problem_fields(raised.value) == ["company_id"]


async def test_a_name_is_required(uow: FakeUnitOfWork, caller: Caller) -> None:
    with pytest.raises(InvalidInput) as raised:
        await assets.create_asset(uow, caller, {"name": ""})
    assert problem_fields(raised.value) == ["name"]


# --- custom forms ------------------------------------------------------------------------------


@pytest.fixture
async def form_id(uow: FakeUnitOfWork, org: Organisation) -> str:
    form = await catalog.CUSTOM_FORMS.create(
        uow,
        org.id,
        {
            "name": "Laptops",
            "fields": [{"name": "ram_gb", "type": "integer"}, {"name": "os", "type": "string"}],
        },
    )
    return str(form.id)


async def test_custom_fields_fit_the_form(uow: FakeUnitOfWork, caller: Caller, form_id: str) -> None:
    asset = await assets.create_asset(
        uow, caller, {"name": "X", "custom_form_id": form_id, "custom_fields": {"ram_gb": 32, "os": None}}
    )
    assert asset.custom_fields == {"ram_gb": 32, "os": None}


async def test_a_field_of_the_wrong_type_or_not_on_the_form_is_refused_and_nothing_is_written(
    uow: FakeUnitOfWork, caller: Caller, form_id: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        await assets.create_asset(
            uow,
            caller,
            {"name": "X", "custom_form_id": form_id, "custom_fields": {"ram_gb": "lots", "colour": 1}},
        )
    assert problem_fields(raised.value) == ["custom_fields.ram_gb", "custom_fields.colour"]
    assert "must be an integer" in raised.value.problems[0].message
    assert uow.state.assets == {}
    assert uow.state.outbox == []


async def test_changing_the_form_holds_the_old_values_against_the_new_form(
    uow: FakeUnitOfWork, org: Organisation, caller: Caller, form_id: str
) -> None:
    asset = await assets.create_asset(
        uow, caller, {"name": "X", "custom_form_id": form_id, "custom_fields": {"ram_gb": 16}}
    )
    other = await catalog.CUSTOM_FORMS.create(
        uow, org.id, {"name": "Phones", "fields": [{"name": "imei", "type": "string"}]}
    )
    with pytest.raises(InvalidInput) as raised:
        await assets.update_asset(uow, caller, str(asset.id), {"custom_form_id": str(other.id)})
    assert problem_fields(raised.value) == ["custom_fields.ram_gb"]
    kept = await assets.get_asset(uow, org.id, str(asset.id))
    assert (kept.custom_form_id, kept.version) == (UUID(form_id), 1)
    assert len(uow.state.outbox) == 1  # the create's only


# --- depreciation limits -----------------------------------------------------------------------


async def test_a_schedule_that_would_end_after_the_calendar_is_refused(
    uow: FakeUnitOfWork, caller: Caller
) -> None:
    too_late = {
        "name": "X",
        "depreciation_schedule": DepreciationSchedule.TEN_YEAR,
        "purchase_price": Decimal("1000.00"),
        "service_start_date": dt.date(9995, 1, 1),
    }
    with pytest.raises(InvalidInput) as raised:
        await assets.create_asset(uow, caller, too_late)
    assert problem_fields(raised.value) == ["service_start_date"]
    assert "after 9999-12-31" in raised.value.problems[0].message
    assert uow.state.assets == {}


async def test_the_purchase_date_is_named_when_it_starts_the_schedule(
    uow: FakeUnitOfWork, org: Organisation, caller: Caller
) -> None:
    asset = await assets.create_asset(
        uow,
        caller,
        {
            "name": "X",
            "depreciation_schedule": DepreciationSchedule.THREE_YEAR,
            "purchase_price": Decimal(900),
        },
    )
    with pytest.raises(InvalidInput) as raised:
        await assets.update_asset(uow, caller, str(asset.id), {"purchase_date": dt.date(9998, 6, 1)})
    assert problem_fields(raised.value) == ["purchase_date"]
    assert (await assets.get_asset(uow, org.id, str(asset.id))).purchase_date is None


# --- changes and their events ------------------------------------------------------------------


async def test_no_change_no_event(uow: FakeUnitOfWork, org: Organisation, caller: Caller) -> None:
    asset = await assets.create_asset(uow, caller, {"name": "Same", "serial_number": "SN1"})
    again = await assets.update_asset(uow, caller, str(asset.id), {"name": "Same", "serial_number": "SN1"})
    assert again.version == 1
    assert [key for key, _ in events(uow)] == ["asset.created"]


async def test_a_change_is_one_event_with_only_what_changed(uow: FakeUnitOfWork, caller: Caller) -> None:
    asset = await assets.create_asset(uow, caller, {"name": "Before", "serial_number": "SN1"})
    after = await assets.update_asset(uow, caller, str(asset.id), {"name": "After", "serial_number": "SN1"})
    assert after.version == 2
    key, data = events(uow)[-1]
    assert key == "asset.updated"
    assert data["changes"] == {"name": {"from": "Before", "to": "After"}}
    assert (data["version"], data["actor"]["name"], data["request_id"]) == (2, "alice", "req-1")


async def test_a_delete_is_an_event_with_the_next_version(
    uow: FakeUnitOfWork, org: Organisation, caller: Caller
) -> None:
    asset = await assets.create_asset(uow, caller, {"name": "Gone"})
    await assets.delete_asset(uow, caller, str(asset.id))
    key, data = events(uow)[-1]
    assert (key, data["version"], data["asset"]["name"]) == ("asset.deleted", 2, "Gone")
    with pytest.raises(AssetNotFound):
        await assets.get_asset(uow, org.id, str(asset.id))
    with pytest.raises(AssetNotFound):
        await assets.delete_asset(uow, caller, str(asset.id))


async def test_another_organisations_asset_is_not_found(uow: FakeUnitOfWork, caller: Caller) -> None:
    other = await organisations.create_organisation(uow, "Other Ltd", "OTH")
    theirs = Caller(org_id=other.id, token_id=uuid4(), token_name="bob", request_id="req-2")
    asset = await assets.create_asset(uow, theirs, {"name": "Theirs"})
    with pytest.raises(AssetNotFound):
        await assets.update_asset(uow, caller, str(asset.id), {"name": "Mine"})
    with pytest.raises(AssetNotFound):
        await assets.update_asset(uow, caller, "not-a-uuid", {"name": "Mine"})


# --- asset tags --------------------------------------------------------------------------------


async def test_a_taken_tag_is_tried_again_with_the_next_counter(
    uow: FakeUnitOfWork, org: Organisation, caller: Caller
) -> None:
    await organisations.set_tag_template(uow, org.id, "{PREFIX}-NNNN")
    await uow.assets.insert(uuid4(), org.id, "ACM-0001", {"name": "Imported", "company_number": 1})
    await uow.assets.insert(uuid4(), org.id, "ACM-0002", {"name": "Imported", "company_number": 1})
    asset = await assets.create_asset(uow, caller, {"name": "New"})
    assert asset.asset_tag == "ACM-0003"
    [(key, data)] = events(uow)
    assert (key, data["asset"]["asset_tag"]) == ("asset.created", "ACM-0003")


async def test_tags_taken_five_times_over_fail_the_create(
    uow: FakeUnitOfWork, org: Organisation, caller: Caller
) -> None:
    await organisations.set_tag_template(uow, org.id, "{PREFIX}-NNNN")
    for n in range(1, 6):
        await uow.assets.insert(uuid4(), org.id, f"ACM-{n:04d}", {"name": "Imported", "company_number": 1})
    with pytest.raises(TagTaken):
        await assets.create_asset(uow, caller, {"name": "New"})
    assert len(uow.state.assets) == 5
    assert uow.state.outbox == []


async def test_an_asset_type_code_starts_each_tag(
    uow: FakeUnitOfWork, org: Organisation, caller: Caller
) -> None:
    await organisations.set_tag_template(uow, org.id, "{TYPE_CODE}-NNN")
    laptop = await catalog.ASSET_TYPES.create(uow, org.id, {"name": "Laptop", "code": "LAP"})
    asset = await assets.create_asset(uow, caller, {"name": "X", "asset_type_id": str(laptop.id)})
    assert asset.asset_tag == "LAP-001"


# --- the catalog's own rules -------------------------------------------------------------------


async def test_generated_type_codes_never_repeat(uow: FakeUnitOfWork, org: Organisation) -> None:
    first = await catalog.ASSET_TYPES.create(uow, org.id, {"name": "Laptop"})
    second = await catalog.ASSET_TYPES.create(uow, org.id, {"name": "laptop!"})
    third = await catalog.ASSET_TYPES.create(uow, org.id, {"name": "Lap top"})
    assert [first.code, second.code, third.code] == ["LAPTOP", "LAPTOP-2", "LAPTOP-3"]
    assert first.kind.value == "physical"


async def test_a_given_code_that_is_taken_is_a_conflict(uow: FakeUnitOfWork, org: Organisation) -> None:
    await catalog.ASSET_TYPES.create(uow, org.id, {"name": "Laptop", "code": "LAP"})
    with pytest.raises(Conflict, match="code"):
        await catalog.ASSET_TYPES.create(uow, org.id, {"name": "Other", "code": "LAP"})


async def test_a_contract_ending_before_it_starts_is_refused_and_not_kept(
    uow: FakeUnitOfWork, org: Organisation
) -> None:
    with pytest.raises(InvalidInput) as raised:
        await catalog.CONTRACTS.create(
            uow,
            org.id,
            {"contract_number": "C-1", "start_date": dt.date(2026, 5, 1), "end_date": dt.date(2026, 4, 30)},
        )
    assert problem_fields(raised.value) == ["end_date"]
    assert (await catalog.CONTRACTS.list(uow, org.id, 10, 0)).total == 0


async def test_a_contract_change_is_held_against_the_fields_it_leaves(
    uow: FakeUnitOfWork, org: Organisation
) -> None:
    contract = await catalog.CONTRACTS.create(
        uow, org.id, {"contract_number": "C-1", "start_date": dt.date(2026, 5, 1)}
    )
    with pytest.raises(InvalidInput):
        await catalog.CONTRACTS.update(uow, org.id, str(contract.id), {"end_date": dt.date(2026, 1, 1)})
    assert (await catalog.CONTRACTS.get(uow, org.id, str(contract.id))).end_date is None


async def test_an_organisation_keeps_its_last_company(uow: FakeUnitOfWork, org: Organisation) -> None:
    [first] = (await catalog.COMPANIES.list(uow, org.id, 10, 0)).items
    second = await catalog.COMPANIES.create(uow, org.id, {"name": "Subsidiary"})
    await catalog.COMPANIES.delete(uow, org.id, str(second.id))
    with pytest.raises(Conflict, match="only company"):
        await catalog.COMPANIES.delete(uow, org.id, str(first.id))


async def test_a_model_names_a_manufacturer_of_the_organisation(
    uow: FakeUnitOfWork, org: Organisation
) -> None:
    with pytest.raises(InvalidInput) as raised:
        await catalog.MODELS.create(uow, org.id, {"name": "XPS", "manufacturer_id": str(uuid4())})
    assert problem_fields(raised.value) == ["manufacturer_id"]


async def test_an_organisation_name_is_taken_once(uow: FakeUnitOfWork, org: Organisation) -> None:
    with pytest.raises(Conflict):
        await organisations.create_organisation(uow, "Acme Corp")
    with pytest.raises(InvalidInput):
        await organisations.create_organisation(uow, "Lower", "lower")


# --- the worker's projections ------------------------------------------------------------------


async def test_a_batch_with_several_versions_of_an_asset_is_applied_as_one_event_after_another(
    uow: FakeUnitOfWork, caller: Caller
) -> None:
    asset = await assets.create_asset(
        uow,
        caller,
        {
            "name": "X",
            "purchase_price": Decimal("1200.00"),
            "purchase_date": dt.date(2024, 1, 15),
            "depreciation_schedule": DepreciationSchedule.THREE_YEAR,
        },
    )
    await assets.update_asset(uow, caller, str(asset.id), {"name": "Y", "purchase_price": Decimal("600.00")})
    await assets.delete_asset(uow, caller, str(asset.id))
    created, updated, deleted = (AssetChangeEvent.model_validate_json(body) for *_, body in uow.state.outbox)
    today = dt.date(2026, 12, 2)

    # Out of order, with a copy: the copy is not claimed twice, the older version comes too late.
    applied = await projections.apply_depreciation(uow, [updated, created, updated])
    assert applied == [True, False, False]
    row, periods = uow.state.depreciation[asset.id] or (None, [])
    assert row is not None and (row.version, row.original_cost, len(periods)) == (2, Decimal("600.00"), 36)

    assert await projections.apply_lifecycle(uow, [created, updated], today, 30) == [True, True]
    life = uow.state.lifecycle[asset.id]
    assert life is not None and (life.version, life.name) == (2, "Y")
    assert await projections.apply_lifecycle(uow, [deleted, created], today, 30) == [True, False]
    assert uow.state.lifecycle[asset.id] is None and uow.state.lifecycle_versions[asset.id] == 3
    assert await projections.apply_depreciation(uow, [deleted]) == [True]
    assert uow.state.depreciation[asset.id] is None


async def test_each_projection_applies_an_event_once_and_never_an_older_version(
    uow: FakeUnitOfWork, caller: Caller
) -> None:
    asset = await assets.create_asset(uow, caller, {"name": "X", "warranty_until": dt.date(2030, 1, 1)})
    await assets.update_asset(uow, caller, str(asset.id), {"name": "Y"})
    created, updated = (AssetChangeEvent.model_validate_json(body) for *_, body in uow.state.outbox)
    assert created.type is EventType.ASSET_CREATED and updated.type is EventType.ASSET_UPDATED
    today = dt.date(2026, 12, 2)

    assert await projections.apply_lifecycle(uow, [updated], today, 30) == [True]
    assert await projections.apply_lifecycle(uow, [updated], today, 30) == [False]
    assert await projections.apply_lifecycle(uow, [created], today, 30) == [False]
    row = uow.state.lifecycle[asset.id]
    assert row is not None and (row.version, row.name, row.warranty_status) == (2, "Y", "within_warranty")

    assert await projections.apply_audit(uow, [created, updated, updated]) == [True, True, False]
    assert await projections.apply_audit(uow, [updated]) == [False]
    assert [e["version"] for e in uow.state.audit] == [1, 2]
    assert (ConsumerName.AUDIT, UUID(updated.id)) in uow.state.claimed


async def test_a_failed_transaction_leaves_nothing(uow: FakeUnitOfWork, caller: Caller) -> None:
    """The fake's own promise, which every rule above relies on."""
    with pytest.raises(RuntimeError):
        async with uow.transaction():
            await assets.create_asset(uow, caller, {"name": "Inside"})
            raise RuntimeError("rolled back")
    assert uow.state.assets == {}
    assert uow.state.outbox == []
