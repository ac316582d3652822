"""Use cases of assets: read, list, create, change and delete, one at a time or many at once."""

import datetime as dt
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any
from uuid import UUID, uuid4

from shared.domain.asset_tags import TagContext, render_tag
from shared.domain.custom_forms import custom_field_problems
from shared.domain.depreciation import Costed, fits_the_calendar, plan_of
from shared.domain.models import Asset, Caller, Page
from shared.domain.queries import AssetFilter, CompanyFilter
from shared.domain.versions import Expected, check_expected
from shared.errors import AssetNotFound, Conflict, FieldProblem, InvalidInput, NotFound, TagTaken
from shared.events import EventType
from shared.repositories.catalog import (
    ASSET_TYPES,
    BUSINESS_UNITS,
    COMPANIES,
    CONTRACTS,
    CUSTOM_FORMS,
    MODELS,
    PEOPLE,
    VENDORS,
    CatalogTable,
)
from shared.services.change_events import record_change
from shared.services.references import parse_id, resolve_reference
from shared.services.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

# Fields holding the id of another object of the organisation.
ASSET_REFERENCES: dict[str, CatalogTable[Any]] = {
    "asset_type_id": ASSET_TYPES,
    "model_id": MODELS,
    "assigned_to": PEOPLE,
    "company_id": COMPANIES,
    "contract_id": CONTRACTS,
    "business_unit_id": BUSINESS_UNITS,
    "custom_form_id": CUSTOM_FORMS,
    "warranty_provider_id": VENDORS,
    "support_provider_id": VENDORS,
    "attached_supplier_id": VENDORS,
}

# A template change can make a tag that an older template already made; try the next counter.
_TAG_ATTEMPTS = 5


async def get_asset(uow: UnitOfWork, org_id: UUID, asset_id: str) -> Asset:
    row_id = parse_id(asset_id)
    asset = await uow.assets.get(org_id, row_id) if row_id else None
    if asset is None:
        raise AssetNotFound(asset_id)
    return asset


async def list_assets(
    uow: UnitOfWork, org_id: UUID, flt: AssetFilter, limit: int, offset: int
) -> Page[Asset]:
    return await uow.assets.page(org_id, flt, limit, offset)


async def resolve_fields(
    uow: UnitOfWork,
    org_id: UUID,
    fields: Mapping[str, Any],
    current: Asset | None = None,
    *,
    checked: bool = False,
) -> dict[str, Any]:
    """Check every reference (unless the caller has: `checked`, each already an id of the
    organisation) and fill the catalog text from a model (and its type, for an asset that has
    none and is not given one)."""
    values = dict(fields)
    for field, table in ASSET_REFERENCES.items():
        if values.get(field) is not None and not checked:
            values[field] = await resolve_reference(uow, table, org_id, field, values[field])
    if values.get("model_id") is not None:
        names = await uow.assets.model_names(org_id, values["model_id"])
        assert names is not None
        values["manufacturer"], values["model"], model_type = names
        keeps_type = current is not None and current.asset_type_id is not None
        if "asset_type_id" not in values and model_type is not None and not keeps_type:
            values["asset_type_id"] = model_type
    if "company_id" in values:
        company = values.pop("company_id")
        if company is None:
            raise InvalidInput.one("company_id", "may be left out but not null")
        values["company_number"] = await uow.assets.company_number(org_id, company)
    return values


async def _check_custom_fields(uow: UnitOfWork, org_id: UUID, asset: Asset, field: str) -> None:
    """An asset with a custom form holds only that form's fields, each of its type."""
    if asset.custom_form_id is None:
        return
    form = await uow.catalog.get(CUSTOM_FORMS, org_id, asset.custom_form_id)
    assert form is not None
    problems = custom_field_problems(form.fields, asset.custom_fields)
    if problems:
        raise InvalidInput([FieldProblem(f"{field}.{name}", message) for name, message in problems])


def check_depreciation(asset: Asset) -> None:
    """A depreciation schedule must end within the calendar (by 9999-12-31); the worker could
    not compute one that does not, and every change of the asset would fail there."""
    problem = depreciation_problem(asset)
    if problem is not None:
        raise InvalidInput([problem])


def depreciation_problem(asset: Costed) -> FieldProblem | None:
    """What check_depreciation objects to in an asset's fields (or a new asset's values), if any."""
    plan = plan_of(asset)
    if plan is None or fits_the_calendar(plan):
        return None
    field = "service_start_date" if asset.service_start_date else "purchase_date"
    return FieldProblem(
        field,
        f"is too late for the {plan.schedule.value} depreciation schedule: "
        "its last month would end after 9999-12-31",
    )


async def create_asset(uow: UnitOfWork, caller: Caller, fields: Mapping[str, Any]) -> Asset:
    """Create an asset with the next tag of the organisation's template."""
    org_id = caller.org_id
    if not fields.get("name"):
        raise InvalidInput.one("name", "is required")
    asset_id = uuid4()
    values = await resolve_fields(uow, org_id, fields)
    if "company_number" not in values:
        values["company_number"] = await uow.assets.first_company_number(org_id)
    type_code = (
        await uow.assets.type_code(org_id, values["asset_type_id"]) if values.get("asset_type_id") else None
    )
    for attempt in range(1, _TAG_ATTEMPTS + 1):
        # The counter is taken in its own short transaction so that concurrent creates do not
        # queue on the organisation's row; a failed create leaves a gap, never a duplicate.
        counter, template, prefix = await uow.organisations.next_tag_counter(org_id)
        tag = render_tag(template, TagContext(prefix, type_code, dt.date.today()), counter)
        try:
            async with uow.transaction():
                await uow.assets.insert(asset_id, org_id, tag, values)
                asset = await uow.assets.get(org_id, asset_id)
                assert asset is not None
                await _check_custom_fields(uow, org_id, asset, "custom_fields")
                check_depreciation(asset)
                await record_change(uow, EventType.ASSET_CREATED, caller, None, asset)
        except TagTaken:
            if attempt == _TAG_ATTEMPTS:
                raise
            logger.warning("asset tag taken, trying the next counter", extra={"asset_tag": tag})
            continue
        return asset
    raise AssertionError("unreachable")


async def update_asset(
    uow: UnitOfWork,
    caller: Caller,
    asset_id: str,
    fields: Mapping[str, Any],
    expected: Expected | None = None,
) -> Asset:
    """Change some fields of an asset; an explicit None clears a field. No change, no event.
    With `expected` (If-Match), StaleVersion unless the locked asset is at that version."""
    row_id = parse_id(asset_id)
    if row_id is None:
        raise AssetNotFound(asset_id)
    async with uow.transaction():
        if not await uow.assets.lock(caller.org_id, row_id):
            raise AssetNotFound(asset_id)
        return await update_locked(uow, caller, row_id, fields, expected=expected)


async def delete_asset(
    uow: UnitOfWork, caller: Caller, asset_id: str, expected: Expected | None = None
) -> Asset:
    """Delete an asset; returns its last state. With `expected`, as update_asset."""
    row_id = parse_id(asset_id)
    if row_id is None:
        raise AssetNotFound(asset_id)
    async with uow.transaction():
        if not await uow.assets.lock(caller.org_id, row_id):
            raise AssetNotFound(asset_id)
        return await _delete_locked(uow, caller, row_id, expected)


# The most assets one bulk change may name.
MAX_BULK = 1000


async def update_assets(
    uow: UnitOfWork, caller: Caller, changes: Sequence[tuple[str, Mapping[str, Any]]]
) -> list[Asset]:
    """Change many assets at once, all or nothing, each as `update_asset` would (its own event,
    none for an item that changes nothing); the assets afterwards, in the order of the changes.
    A problem with any item is named by its place: `data[3].purchase_price`."""
    row_ids = _bulk_ids([asset_id for asset_id, _ in changes], "data[{}].id")
    async with uow.transaction():
        await _lock_all(uow, caller.org_id, row_ids, "data[{}].id")
        changed = []
        for index, (row_id, (_, fields)) in enumerate(zip(row_ids, changes, strict=True)):
            with _item_named(f"data[{index}]"):
                changed.append(await update_locked(uow, caller, row_id, fields))
    return changed


async def delete_assets(uow: UnitOfWork, caller: Caller, asset_ids: Sequence[str]) -> list[Asset]:
    """Delete many assets at once, all or nothing, each with its own event; their last states."""
    row_ids = _bulk_ids(asset_ids, "ids[{}]")
    async with uow.transaction():
        await _lock_all(uow, caller.org_id, row_ids, "ids[{}]")
        return [await _delete_locked(uow, caller, row_id) for row_id in row_ids]


async def update_locked(
    uow: UnitOfWork,
    caller: Caller,
    row_id: UUID,
    fields: Mapping[str, Any],
    *,
    checked: bool = False,
    expected: Expected | None = None,
) -> Asset:
    """Change a locked asset (its references `checked` already, or not); no change, no event."""
    org_id = caller.org_id
    before = await uow.assets.get(org_id, row_id)
    assert before is not None
    check_expected(expected, before.id, before.version, before)
    values = await resolve_fields(uow, org_id, fields, before, checked=checked)
    changed = {k: v for k, v in values.items() if getattr(before, k) != v}
    if not changed:
        return before
    await uow.assets.update(org_id, row_id, changed)
    after = await uow.assets.get(org_id, row_id)
    assert after is not None
    if changed.keys() & {"custom_fields", "custom_form_id"}:
        await _check_custom_fields(uow, org_id, after, "custom_fields")
    check_depreciation(after)
    await record_change(uow, EventType.ASSET_UPDATED, caller, before, after)
    return after


async def _delete_locked(
    uow: UnitOfWork, caller: Caller, row_id: UUID, expected: Expected | None = None
) -> Asset:
    last = await uow.assets.get(caller.org_id, row_id)
    assert last is not None
    check_expected(expected, last.id, last.version, last)
    await uow.assets.delete(caller.org_id, row_id)
    await record_change(uow, EventType.ASSET_DELETED, caller, last, None)
    return last


def _bulk_ids(asset_ids: Sequence[str], place: str) -> list[UUID]:
    """The ids of a bulk change, each once: a malformed or repeated one is named by its place."""
    if not 1 <= len(asset_ids) <= MAX_BULK:
        raise InvalidInput.one(place.split("[")[0], f"must name 1 to {MAX_BULK} assets, not {len(asset_ids)}")
    problems: list[FieldProblem] = []
    first: dict[UUID, int] = {}
    row_ids: list[UUID] = []
    for index, asset_id in enumerate(asset_ids):
        row_id = parse_id(asset_id)
        if row_id is None:  # as a reference names no object: a 400 naming the item
            problems.append(
                FieldProblem(place.format(index), f"no asset with id {asset_id!r} in this organisation")
            )
            continue
        if row_id in first:
            problems.append(
                FieldProblem(place.format(index), f"names the same asset as {place.format(first[row_id])}")
            )
        first.setdefault(row_id, index)
        row_ids.append(row_id)
    if problems:
        raise InvalidInput(problems)
    return row_ids


async def _lock_all(uow: UnitOfWork, org_id: UUID, row_ids: Sequence[UUID], place: str) -> None:
    found = await uow.assets.lock_many(org_id, row_ids)
    missing = [
        FieldProblem(place.format(index), f"no asset with id {str(row_id)!r} in this organisation")
        for index, row_id in enumerate(row_ids)
        if row_id not in found
    ]
    if missing:
        raise InvalidInput(missing)


@contextmanager
def _item_named(place: str) -> Iterator[None]:
    """Errors of one item of a bulk change, named by its place in the request."""
    try:
        yield
    except InvalidInput as exc:
        raise InvalidInput([FieldProblem(f"{place}.{p.field}", p.message) for p in exc.problems]) from exc
    except Conflict as exc:
        raise Conflict(f"{place}: {exc.message}") from exc


async def list_company_assets(
    uow: UnitOfWork,
    org_id: UUID,
    flt: CompanyFilter,
    ordering: str,
    limit: int,
    offset: int,
    custom_form: int | None = None,
) -> Page[Asset]:
    """A page of one company's assets (the v2 list); an unknown company is NotFound."""
    flt = await _company_filter(uow, org_id, flt, custom_form)
    return await uow.assets.page_of_company(org_id, flt, ordering, limit, offset)


async def list_serial_numbers(
    uow: UnitOfWork,
    org_id: UUID,
    flt: CompanyFilter,
    ordering: str,
    limit: int,
    offset: int,
    custom_form: int | None = None,
) -> Page[str]:
    """The serial numbers of one company's assets (v2 `serial_number=list`)."""
    flt = await _company_filter(uow, org_id, flt, custom_form)
    return await uow.assets.serial_numbers(org_id, flt, ordering, limit, offset)


# Matches no custom form: a filter on a form the organisation does not have finds nothing.
_NO_FORM = UUID(int=0)


async def _company_filter(
    uow: UnitOfWork, org_id: UUID, flt: CompanyFilter, custom_form: int | None
) -> CompanyFilter:
    if await uow.catalog.id_for_number(COMPANIES, org_id, flt.company_number) is None:
        raise NotFound("Company", str(flt.company_number))
    if custom_form is None:
        return flt
    form_id = await uow.catalog.id_for_number(CUSTOM_FORMS, org_id, custom_form)
    return replace(flt, custom_form_id=form_id or _NO_FORM)


async def get_asset_by_number(uow: UnitOfWork, org_id: UUID, number: int) -> Asset:
    """An asset by its v2 (integer) id."""
    row_id = await uow.assets.id_for_number(org_id, number)
    asset = await uow.assets.get(org_id, row_id) if row_id else None
    if asset is None:
        raise AssetNotFound(str(number))
    return asset


async def asset_id_for_number(uow: UnitOfWork, org_id: UUID, number: int) -> str:
    """The v1 id of the asset with this v2 id; AssetNotFound when the organisation has none."""
    row_id = await uow.assets.id_for_number(org_id, number)
    if row_id is None:
        raise AssetNotFound(str(number))
    return str(row_id)
