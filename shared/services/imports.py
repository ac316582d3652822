"""Use case of an import: many assets from the rows of a file, every row checked first, then all
written in one transaction or none.

The rows come from a reader the caller gives (the api's or the command line's parser of CSV and
NDJSON), which can read the file again: the first reading checks every row and counts what the
import would do, without writing; the second, only when no row is bad and it is no dry run,
writes. Neither holds more than a chunk of rows at a time.
"""

import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4

from shared.asset_columns import HUMAN_KEYS, MODEL_KEY
from shared.domain.asset_tags import TagContext, render_tag
from shared.domain.custom_forms import custom_field_problems
from shared.domain.models import Asset, Caller, DepreciationSchedule, FormField
from shared.errors import Conflict, DomainError, FieldProblem, InvalidInput, TagTaken
from shared.events import EventType
from shared.repositories.catalog import (
    CUSTOM_FORMS,
    MODELS,
    CatalogTable,
)
from shared.services.assets import (
    ASSET_REFERENCES,
    check_depreciation,
    depreciation_problem,
    resolve_fields,
    update_locked,
)
from shared.services.change_events import record_changes
from shared.services.references import parse_id
from shared.services.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

# The most row problems an answer lists (every one is counted).
MAX_ERRORS = 1000


class OnConflict(StrEnum):
    """What a row does whose asset the organisation already has."""

    ERROR = "error"
    SKIP = "skip"
    UPDATE = "update"


class MatchBy(StrEnum):
    """How a row names an existing asset."""

    ASSET_TAG = "asset_tag"
    SERIAL_NUMBER = "serial_number"


@dataclass(frozen=True)
class ImportOptions:
    dry_run: bool = False
    on_conflict: OnConflict = OnConflict.ERROR
    match: MatchBy = MatchBy.ASSET_TAG


@dataclass
class ImportRow:
    """One row as its reader made it: its number (as a spreadsheet shows it), the v1 fields it
    sets, its tag and human keys, or the problems that its values already have."""

    row: int
    fields: dict[str, Any] = field(default_factory=dict)
    asset_tag: str | None = None
    keys: dict[str, str] = field(default_factory=dict)
    problems: list[FieldProblem] = field(default_factory=list)


@dataclass(frozen=True)
class RowProblem:
    row: int
    field: str
    message: str


@dataclass
class ImportReport:
    """What an import did, or would do: counts, and the problems of its bad rows."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    errors: list[RowProblem] = field(default_factory=list)
    error_count: int = 0
    written: bool = False

    def problem(self, row: int, field_name: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(RowProblem(row, field_name, message))


# The reader of the rows, in chunks; called once for each reading.
RowSource = Callable[[], AsyncIterator[list[ImportRow]]]


class _Plan(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    SKIP = "skip"


async def import_assets(
    uow: UnitOfWork, caller: Caller, rows: RowSource, options: ImportOptions
) -> ImportReport:
    """Check every row, then (no row bad, no dry run) write them all in one transaction: each
    created or changed asset with its own event, under the caller's one request id. The report
    says what was done (`written`), or what would have been and why not."""
    checked = _Reading(uow, caller.org_id, options)
    async for chunk in rows():
        await checked.check(chunk)
    report = checked.report
    if report.error_count or options.dry_run:
        return report
    written = _Reading(uow, caller.org_id, options, checked.lookups)
    first, template, prefix = (
        await uow.organisations.take_tag_counters(caller.org_id, checked.tags_to_make)
        if checked.tags_to_make
        else (0, "", "")
    )
    tags = _Tags(template, prefix, iter(range(first, first + checked.tags_to_make)))
    try:
        async with uow.transaction():
            async for chunk in rows():
                planned = await written.plan(chunk)
                creates = [p for p in planned if p[1] is _Plan.CREATE]
                try:
                    await _create_all(uow, caller, creates, tags)
                except _RowFailed as failed:
                    report.problem(failed.row, failed.problem.field, failed.problem.message)
                    raise _Rejected from failed
                for item, plan, asset_id, values in planned:
                    if plan is not _Plan.UPDATE:
                        continue
                    try:
                        await _update(uow, caller, asset_id, values)
                    except (InvalidInput, Conflict) as exc:
                        # What the check could not see (a schedule past the calendar, the asset
                        # deleted since): the row is named, and nothing is written.
                        for problem in _problems_of(exc):
                            report.problem(item.row, problem.field, problem.message)
                        raise _Rejected from exc
                if written.report.error_count:  # the data changed between the readings
                    report.errors, report.error_count = written.report.errors, written.report.error_count
                    raise _Rejected
    except _Rejected:
        return report
    report.written = True
    return report


class _Rejected(Exception):
    """Undoes the transaction of an import that a row failed after all."""


@dataclass
class _Tags:
    """The tags of the new assets without one: the counters taken for them, in turn."""

    template: str
    prefix: str
    counters: Iterator[int]
    today: dt.date = field(default_factory=dt.date.today)

    codes: dict[UUID, str | None] = field(default_factory=dict)

    def next(self, type_code: str | None) -> str:
        return render_tag(self.template, TagContext(self.prefix, type_code, self.today), next(self.counters))

    async def type_code(self, uow: UnitOfWork, org_id: UUID, type_id: UUID) -> str | None:
        if type_id not in self.codes:
            self.codes[type_id] = await uow.assets.type_code(org_id, type_id)
        return self.codes[type_id]


def _problems_of(exc: DomainError | TagTaken) -> list[FieldProblem]:
    if isinstance(exc, InvalidInput):
        return exc.problems
    if isinstance(exc, TagTaken):
        return [FieldProblem("asset_tag", f"{exc.asset_tag!r} was taken by another asset since the check")]
    return [FieldProblem("row", str(exc))]


class _RowFailed(Exception):
    def __init__(self, row: int, problem: FieldProblem) -> None:
        super().__init__(problem.message)
        self.row = row
        self.problem = problem


async def _create_all(uow: UnitOfWork, caller: Caller, creates: list["Planned"], tags: _Tags) -> None:
    """Insert a chunk's new assets in one statement a set of columns, then their events in one."""
    if not creates:
        return
    org_id = caller.org_id
    rows: list[tuple[UUID, str, dict[str, Any]]] = []
    for item, _, _, values in creates:
        tag = item.asset_tag
        if tag is None:
            type_id = values.get("asset_type_id")
            tag = tags.next(await tags.type_code(uow, org_id, type_id) if type_id else None)
        rows.append((uuid4(), tag, values))
    try:
        await uow.assets.insert_many(org_id, rows)
    except TagTaken as exc:
        row = next(
            (item.row for (item, *_), (_, tag, _) in zip(creates, rows, strict=True) if tag == exc.asset_tag),
            0,
        )
        raise _RowFailed(row, _problems_of(exc)[0]) from exc
    assets = await uow.assets.get_many(org_id, [asset_id for asset_id, _, _ in rows])
    for (item, *_), asset in zip(creates, assets, strict=True):
        try:
            check_depreciation(asset)
        except InvalidInput as exc:
            raise _RowFailed(item.row, exc.problems[0]) from exc
    await record_changes(uow, EventType.ASSET_CREATED, caller, [(None, asset) for asset in assets])


async def _update(uow: UnitOfWork, caller: Caller, asset_id: UUID | None, values: dict[str, Any]) -> None:
    assert asset_id is not None
    if not await uow.assets.lock(caller.org_id, asset_id):
        raise InvalidInput.one("asset_tag", "its asset was deleted since the check")
    await update_locked(uow, caller, asset_id, values, checked=True)


class _Values:
    """A new asset's values as the fields its depreciation plan is made of."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        schedule = values.get("depreciation_schedule")
        self.depreciation_schedule = DepreciationSchedule(schedule) if schedule else None
        self.purchase_price = values.get("purchase_price")
        self.estimated_salvage_value = values.get("estimated_salvage_value")
        self.service_start_date = values.get("service_start_date")
        self.purchase_date = values.get("purchase_date")


# A good row, what it does, the asset it changes (if one) and its values as they will be written.
Planned = tuple[ImportRow, _Plan, UUID | None, dict[str, Any]]


class _Lookups:
    """The objects that the rows' references name, each looked up once an import."""

    def __init__(self) -> None:
        self.ids: dict[tuple[str, str, str | None], UUID | str] = {}
        self.forms: dict[UUID, list[FormField]] = {}
        self.first_company: int | None = None


class _Reading:
    """One reading of the rows: each row's values resolved and its asset found, problems noted."""

    def __init__(
        self, uow: UnitOfWork, org_id: UUID, options: ImportOptions, lookups: _Lookups | None = None
    ) -> None:
        self.uow = uow
        self.org_id = org_id
        self.options = options
        self.lookups = lookups or _Lookups()
        self.report = ImportReport()
        self.tags_to_make = 0
        self._seen: dict[str, int] = {}  # each match key of the file, and its first row

    async def check(self, chunk: list[ImportRow]) -> None:
        for item, plan, asset_id, values in await self.plan(chunk):
            if plan is _Plan.SKIP:
                self.report.skipped += 1
            elif plan is _Plan.UPDATE:
                assert asset_id is not None
                before = await self.uow.assets.get(self.org_id, asset_id)
                assert before is not None
                full = await self._filled(item, values, before)
                if full is None:
                    continue
                if await self._changes(before, full, item):
                    self.report.updated += 1
                else:
                    self.report.unchanged += 1
            else:
                if item.asset_tag is None:
                    self.tags_to_make += 1
                self.report.created += 1
                await self._check_custom_fields(item, values)

    async def plan(
        self, chunk: list[ImportRow]
    ) -> list[tuple[ImportRow, _Plan, UUID | None, dict[str, Any]]]:
        """What each good row of the chunk does, with its values resolved; the bad ones noted."""
        self.report.rows += len(chunk)
        existing = await self._existing(chunk)
        planned: list[Planned] = []
        for item in chunk:
            for problem in item.problems:
                self.report.problem(item.row, problem.field, problem.message)
            if item.problems:
                continue
            values = await self._resolved(item)
            if values is None:
                continue
            key = self._key(item, values)
            if key is not None:
                if key in self._seen:
                    name = self.options.match.value
                    self.report.problem(item.row, name, f"is also in row {self._seen[key]}")
                    continue
                self._seen[key] = item.row
            found = existing.get(key) if key is not None else None
            if isinstance(found, list):  # a serial number the organisation has more than once
                self.report.problem(
                    item.row, "serial_number", f"names {len(found)} assets; give their asset_tag"
                )
                continue
            if found is None:
                if not values.get("name"):
                    self.report.problem(item.row, "name", "is required for a new asset")
                    continue
                full = await self._filled(item, values, None)
                late = depreciation_problem(_Values(full)) if full is not None else None
                if late is not None:
                    self.report.problem(item.row, late.field, late.message)
                elif full is not None:
                    if "company_number" not in full:  # as a create: the organisation's first company
                        if self.lookups.first_company is None:
                            self.lookups.first_company = await self.uow.assets.first_company_number(
                                self.org_id
                            )
                        full["company_number"] = self.lookups.first_company
                    planned.append((item, _Plan.CREATE, None, full))
            elif self.options.on_conflict is OnConflict.ERROR:
                name = self.options.match.value
                self.report.problem(
                    item.row, name, f"the organisation has this asset already (id {found}); see on_conflict"
                )
            elif self.options.on_conflict is OnConflict.SKIP:
                planned.append((item, _Plan.SKIP, found, values))
            else:
                planned.append((item, _Plan.UPDATE, found, values))
        return planned

    def _key(self, item: ImportRow, values: Mapping[str, Any]) -> str | None:
        if self.options.match is MatchBy.ASSET_TAG:
            return item.asset_tag
        serial = values.get("serial_number")
        return str(serial) if serial else None

    async def _existing(self, chunk: list[ImportRow]) -> dict[str, UUID | list[UUID]]:
        if self.options.match is MatchBy.ASSET_TAG:
            tags = [item.asset_tag for item in chunk if item.asset_tag]
            return dict(await self.uow.assets.ids_for_tags(self.org_id, tags)) if tags else {}
        serials = [str(item.fields["serial_number"]) for item in chunk if item.fields.get("serial_number")]
        if not serials:
            return {}
        found = await self.uow.assets.ids_for_serials(self.org_id, serials)
        return {serial: ids[0] if len(ids) == 1 else ids for serial, ids in found.items()}

    async def _resolved(self, item: ImportRow) -> dict[str, Any] | None:
        """The row's values with every reference an id of the organisation (named by the id or
        by the human key), or None with its problems noted."""
        values = dict(item.fields)
        problems: list[FieldProblem] = []
        for key in HUMAN_KEYS:
            given = item.keys.get(key.column)
            if given and values.get(key.id_column) is None:
                values[key.id_column] = given
        for column, table in ASSET_REFERENCES.items():
            given = values.get(column)
            if given is None:
                continue
            found = await self._reference(column, table, str(given))
            if isinstance(found, str):
                problems.append(FieldProblem(column, found))
            else:
                values[column] = found
        model_name = item.keys.get(MODEL_KEY[1])
        if model_name and values.get("model_id") is None:
            found = await self._reference("model_id", MODELS, model_name, item.keys.get(MODEL_KEY[0]))
            if isinstance(found, str):
                problems.append(FieldProblem(MODEL_KEY[1], found))
            else:
                values["model_id"] = found
        for problem in problems:
            self.report.problem(item.row, problem.field, problem.message)
        return None if problems else values

    async def _filled(
        self, item: ImportRow, values: dict[str, Any], before: Asset | None
    ) -> dict[str, Any] | None:
        """The values as the asset table holds them (a model's names, the company's number), as
        a create or a change of `before` would write them; None with the row's problems noted."""
        try:
            return await resolve_fields(self.uow, self.org_id, values, before, checked=True)
        except InvalidInput as exc:
            for problem in exc.problems:
                self.report.problem(item.row, problem.field, problem.message)
            return None

    async def _reference(
        self, column: str, table: CatalogTable[Any], given: str, manufacturer: str | None = None
    ) -> UUID | str:
        """The id of the object that `given` names (its id, or the key people know), or why not."""
        cache_key = (table.table, given, manufacturer)
        if cache_key in self.lookups.ids:
            return self.lookups.ids[cache_key]
        row_id = parse_id(given)
        answer: UUID | str
        if row_id is not None and await self.uow.catalog.exists(table, self.org_id, row_id):
            answer = row_id
        else:
            ids = await self.uow.catalog.ids_for_key(table, self.org_id, given, manufacturer)
            if len(ids) == 1:
                answer = ids[0]
            elif ids:
                answer = (
                    f"{given!r} names {len(ids) if len(ids) < 5 else 'several'} {table.what}s; give its id"
                )
                if table is MODELS and not manufacturer:
                    answer += f" or its manufacturer in {MODEL_KEY[0]}"
            else:
                answer = f"no {table.what} with id or name {given!r} in this organisation"
        self.lookups.ids[cache_key] = answer
        return answer

    async def _changes(self, before: Asset, values: Mapping[str, Any], item: ImportRow) -> bool:
        changed = {k for k, v in values.items() if getattr(before, k) != v}
        if changed & {"custom_fields", "custom_form_id"}:
            await self._check_custom_fields(item, {**before.__dict__, **values})
        return bool(changed)

    async def _check_custom_fields(self, item: ImportRow, values: Mapping[str, Any]) -> None:
        form_id = values.get("custom_form_id")
        if form_id is None:
            return
        if form_id not in self.lookups.forms:
            form = await self.uow.catalog.get(CUSTOM_FORMS, self.org_id, form_id)
            assert form is not None
            self.lookups.forms[form_id] = form.fields
        for name, message in custom_field_problems(
            self.lookups.forms[form_id], values.get("custom_fields") or {}
        ):
            self.report.problem(item.row, f"custom_fields.{name}", message)
