"""The export's column contract and its values, and the export use case on the in-memory unit of
work: the header, the human keys, CSV cells and NDJSON lines, chunks and the file name."""

import csv
import datetime as dt
import io
import json
import re
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from services.api.schemas.assets import AssetPatch
from shared.asset_columns import (
    CELL_WRITERS,
    COLUMNS,
    HUMAN_KEYS,
    MODEL_KEY,
    PLAN_INPUTS,
    READ_ONLY_COLUMNS,
    ExportedAsset,
    ExportFormat,
    csv_cell,
)
from shared.asset_v1 import AssetV1
from shared.domain.models import Asset, AssetStatus, Caller, Organisation
from shared.domain.queries import AssetFilter
from shared.repositories.export import _EXPORT, KEY_SOURCES
from shared.services import assets, catalog, organisations
from shared.services import export as service
from tests.unit.fake_unit_of_work import FakeUnitOfWork

KEYS = {key.column for key in HUMAN_KEYS}


# --- the contract ------------------------------------------------------------------------------


def test_the_columns_are_every_v1_field_in_order_with_each_key_after_its_id() -> None:
    assert [c for c in COLUMNS if c not in KEYS] == list(AssetV1.model_fields)
    assert len(set(COLUMNS)) == len(COLUMNS)
    for key in HUMAN_KEYS:
        assert COLUMNS[COLUMNS.index(key.id_column) + 1] == key.column
    assert COLUMNS[COLUMNS.index("asset_type_id") + 1] == "asset_type"
    assert COLUMNS[COLUMNS.index("assigned_to") + 1] == "assigned_to_email"
    assert set(MODEL_KEY) <= set(COLUMNS)


def test_every_column_is_read_only_a_key_or_written_by_the_v1_body() -> None:
    assert READ_ONLY_COLUMNS <= set(COLUMNS)
    assert {"id", "asset_kind", "asset_type_name", "warranty_status", "support_status", "book_value"} <= (
        READ_ONLY_COLUMNS
    )
    writable = set(COLUMNS) - READ_ONLY_COLUMNS - KEYS
    assert writable == set(AssetPatch.model_fields)


def test_the_repository_reads_every_human_key() -> None:
    assert set(KEY_SOURCES) == KEYS


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        ('a, "b"\nc', 'a, "b"\nc'),
        (AssetStatus.IN_USE, "in_use"),
        (Decimal("1299.5"), "1299.50"),
        (Decimal("0"), "0.00"),
        (Decimal("1E+3"), "1000.00"),
        (Decimal("999999999999.99"), "999999999999.99"),
        (dt.date(2024, 1, 10), "2024-01-10"),
        (dt.datetime(2026, 3, 31, 12, 0, 1, 5, tzinfo=dt.UTC), "2026-03-31T12:00:01.000005Z"),
        (dt.datetime(2026, 3, 31, 12, tzinfo=dt.UTC), "2026-03-31T12:00:00Z"),
        ({}, "{}"),
        (
            {"ram_gb": 16, "price": Decimal("0.10"), "tags": ["a", "é"]},
            '{"ram_gb":16,"price":0.10,"tags":["a","é"]}',
        ),
    ],
)
def test_csv_cells(value: Any, text: str) -> None:
    assert csv_cell(value) == text


def test_a_value_with_no_cell_text_is_an_error() -> None:
    with pytest.raises(TypeError):
        csv_cell(1.5)


def test_the_columns_written_by_a_cell_writer_are_the_amounts_times_and_custom_fields() -> None:
    assert {COLUMNS[at] for at, _ in CELL_WRITERS} == {
        "purchase_price",
        "estimated_salvage_value",
        "book_value",
        "custom_fields",
        "created_at",
        "updated_at",
    }


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("purchase_price", Decimal("1299.5")),
        ("book_value", Decimal("0")),
        ("estimated_salvage_value", Decimal("1E+3")),
        ("created_at", dt.datetime(2026, 3, 31, 12, 0, 1, 5, tzinfo=dt.UTC)),
        ("created_at", dt.datetime(2026, 3, 31, 12, tzinfo=dt.UTC)),
        ("updated_at", dt.datetime(2026, 3, 31, 12, 30, 0, 120, tzinfo=dt.timezone(dt.timedelta(hours=2)))),
        ("updated_at", dt.datetime(2026, 3, 31, 12, 30)),
        ("custom_fields", {}),
        ("custom_fields", {"ram_gb": 16, "price": Decimal("0.10"), "tags": ["a", "é"], "none": None}),
    ],
)
def test_each_cell_writer_writes_what_csv_cell_does(column: str, value: Any) -> None:
    writer = {COLUMNS[at]: writer for at, writer in CELL_WRITERS}[column]
    assert writer(value) == csv_cell(value)


def test_every_other_column_is_written_by_csv_writer_as_csv_cell_does() -> None:
    """Text, enums, dates and null, which csv.writer writes as str() does (null as nothing)."""
    values = [None, 'a, "b"\nc', AssetStatus.IN_USE, dt.date(2024, 1, 10), dt.date(1, 1, 1), ""]
    text = io.StringIO()
    csv.writer(text).writerow([*values, "end"])
    assert text.getvalue() == service.csv_rows([[*(csv_cell(v) for v in values), "end"]]).decode()


def test_the_export_reads_every_column_and_the_plan_inputs() -> None:
    selected = re.findall(r" AS (\w+)", _EXPORT.split(" FROM ")[0])
    assert selected[-len(PLAN_INPUTS) :] == list(PLAN_INPUTS)
    assert tuple(selected[: -len(PLAN_INPUTS)]) == COLUMNS


def test_a_row_read_has_the_cells_of_its_domain_asset() -> None:
    """A row as the repository reads it (ids as text, custom_fields as JSON text, no book value)
    gives the cells the v1 body does."""
    asset_id, company_id = uuid4(), uuid4()
    now = dt.datetime(2026, 3, 31, 12, tzinfo=dt.UTC)
    asset = Asset.model_validate(
        dict.fromkeys(Asset.model_fields)
        | {
            "id": asset_id,
            "number": 1,
            "org_id": uuid4(),
            "company_number": 1,
            "version": 1,
            "asset_tag": "ACM-1",
            "name": "Laptop",
            "status": "in_use",
            "purchase_price": Decimal("1200.00"),
            "custom_fields": {"price": Decimal("0.10")},
            "warranty_type": "none",
            "support_type": "none",
            "created_at": now,
            "updated_at": now,
            "company_id": company_id,
            "dep_schedule": "3_year_33_percent",
            "dep_original_cost": Decimal("1200.00"),
            "dep_salvage_value": Decimal("100.00"),
            "dep_service_start_date": dt.date(2025, 1, 31),
        }
    )
    keys = {key.column: None for key in HUMAN_KEYS} | {"company": "Acme Corp"}
    today = dt.date(2026, 3, 1)
    expected = ExportedAsset(asset, keys).cells(today)
    row: list[Any] = list(expected)
    row[COLUMNS.index("book_value")] = None
    row[COLUMNS.index("custom_fields")] = '{"price": 0.10}'
    row += [
        asset.dep_schedule,
        asset.dep_original_cost,
        asset.dep_salvage_value,
        asset.dep_service_start_date,
    ]
    assert expected[COLUMNS.index("book_value")] == Decimal("802.72")
    assert ExportedAsset.read(row).cells(today) == expected
    for encode in (service._csv, service._ndjson):
        assert encode([ExportedAsset.read(row)], today) == encode([ExportedAsset(asset, keys)], today)


@pytest.mark.parametrize(
    ("column", "value"), [("custom_fields", "[1]"), ("status", "lost"), ("warranty_status", "unknown")]
)
def test_a_row_the_v1_body_would_refuse_is_an_error(column: str, value: str) -> None:
    row: list[Any] = [None] * (len(COLUMNS) + len(PLAN_INPUTS))
    row[COLUMNS.index("custom_fields")] = "{}"
    for name, good in [("status", "in_use"), ("warranty_type", "none"), ("support_type", "none")]:
        row[COLUMNS.index(name)] = good
    ExportedAsset.read(row).cells(dt.date(2026, 1, 1))
    row[COLUMNS.index(column)] = value
    with pytest.raises(ValueError, match=column):
        ExportedAsset.read(row).cells(dt.date(2026, 1, 1))


# --- the use case ------------------------------------------------------------------------------


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
async def org(uow: FakeUnitOfWork) -> Organisation:
    return await organisations.create_organisation(uow, "Acme Corp", "ACM")


@pytest.fixture
def caller(org: Organisation) -> Caller:
    return Caller(org_id=org.id, token_id=uuid4(), token_name="alice", request_id="req-1")


async def _body(uow: FakeUnitOfWork, org: Organisation, fmt: ExportFormat) -> tuple[str, list[bytes]]:
    export = await service.export_assets(uow, org.id, AssetFilter(), fmt)
    chunks = [chunk async for chunk in export.chunks]
    return export.file_name, chunks


async def test_csv_has_the_header_then_a_row_per_asset_with_its_keys(
    uow: FakeUnitOfWork, org: Organisation, caller: Caller
) -> None:
    laptop = await catalog.ASSET_TYPES.create(
        uow, org.id, {"name": "Laptop", "code": "LAP", "kind": "physical"}
    )
    person = await catalog.PEOPLE.create(uow, org.id, {"name": "Ada", "email": "ada@example.com"})
    vendor = await catalog.VENDORS.create(uow, org.id, {"name": "Dell, Inc."})
    first = await assets.create_asset(
        uow,
        caller,
        {
            "name": "Ada's laptop",
            "asset_type_id": str(laptop.id),
            "assigned_to": str(person.id),
            "warranty_provider_id": str(vendor.id),
            "purchase_price": Decimal("1200"),
            "custom_fields": {"ram_gb": 16},
        },
    )
    await assets.create_asset(uow, caller, {"name": "Spare"})

    file_name, chunks = await _body(uow, org, ExportFormat.CSV)
    assert file_name == f"assets-ACM-{dt.datetime.now(dt.UTC).date().isoformat()}.csv"
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode(), newline="")))
    assert list(rows[0]) == list(COLUMNS)
    assert len(rows) == 2
    row = next(r for r in rows if r["id"] == str(first.id))
    spare = next(r for r in rows if r["id"] != str(first.id))
    assert (row["asset_type"], row["assigned_to_email"], row["warranty_provider"]) == (
        "LAP",
        "ada@example.com",
        "Dell, Inc.",
    )
    assert row["company"] == "Acme Corp" and row["company_id"]
    assert (row["purchase_price"], row["custom_fields"], row["contract"]) == ("1200.00", '{"ram_gb":16}', "")
    assert spare["asset_type"] == "" and spare["purchase_price"] == ""


async def test_ndjson_is_a_v1_body_a_line_with_the_keys(
    uow: FakeUnitOfWork, org: Organisation, caller: Caller
) -> None:
    made = await assets.create_asset(uow, caller, {"name": "Ada's", "purchase_price": Decimal("9.5")})
    file_name, chunks = await _body(uow, org, ExportFormat.NDJSON)
    assert file_name.endswith(".ndjson")
    (line,) = b"".join(chunks).decode().splitlines()
    exported = json.loads(line, parse_float=Decimal)
    assert list(exported) == list(COLUMNS)
    assert exported["purchase_price"] == Decimal("9.50") and exported["id"] == str(made.id)
    assert exported["company"] == "Acme Corp" and exported["asset_type"] is None


async def test_nothing_to_export_is_one_chunk_of_the_header_alone(
    uow: FakeUnitOfWork, org: Organisation
) -> None:
    _, chunks = await _body(uow, org, ExportFormat.CSV)
    assert chunks == [(",".join(COLUMNS) + "\r\n").encode()]
    _, chunks = await _body(uow, org, ExportFormat.NDJSON)
    assert chunks == [b""]


async def test_rows_come_a_chunk_at_a_time_the_header_with_the_first(
    uow: FakeUnitOfWork, org: Organisation, caller: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "CHUNK_ROWS", 2)
    for number in range(5):
        await assets.create_asset(uow, caller, {"name": f"asset {number}"})
    _, chunks = await _body(uow, org, ExportFormat.CSV)
    assert len(chunks) == 3
    assert [len(chunk.decode().splitlines()) for chunk in chunks] == [3, 2, 1]
    _, chunks = await _body(uow, org, ExportFormat.NDJSON)
    assert [len(chunk.splitlines()) for chunk in chunks] == [2, 2, 1]
