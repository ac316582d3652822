"""The columns of an asset export, and what the importer reads back: every v1 field in the v1
body's order and, right after each reference's id, the human key that names the same object.

The contract, for the exporter and the importer alike:

- `COLUMNS` is the CSV header and the keys of every NDJSON line, in this order.
- A reference is named twice: by its id (`asset_type_id`, ...) and by its human key
  (`HUMAN_KEYS`: `asset_type` is the type's code, `company` the company's name, ...). A filled id
  cell names the object; the human key is for a file written by hand, read only when its id cell
  is empty. The model's human key is the pair `MODEL_KEY` (catalog manufacturer and model name).
- `READ_ONLY_COLUMNS` are shown, never written: the importer accepts them and ignores them
  (`id` still says which asset a row is).
- CSV cells (`csv_cell`): null is an empty cell; dates and times are ISO 8601 (times in UTC with
  `Z`); amounts are plain decimal text with two places (`1299.00`, never a float or an exponent);
  `custom_fields` is compact JSON text; enums are their values. No v1 field is a boolean. CSV
  cannot tell an empty text from null: both are an empty cell, which the importer reads as null
  (and should take as no change where the asset holds an empty text).
- NDJSON: one JSON object a line, each value as in the v1 JSON body (`shared/jsonio.py`).
"""

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import orjson

from shared.asset_v1 import DERIVED_FIELDS, AssetV1
from shared.domain.depreciation import book_value, plan_for
from shared.domain.models import Asset
from shared.jsonio import dumps


class ExportFormat(StrEnum):
    """The file formats of an export."""

    CSV = "csv"
    NDJSON = "ndjson"


@dataclass(frozen=True)
class HumanKey:
    """A column that names a referenced object as people know it, right after its id column."""

    column: str
    id_column: str
    holds: str


HUMAN_KEYS = (
    HumanKey("asset_type", "asset_type_id", "the asset type's code"),
    HumanKey("company", "company_id", "the company's name"),
    HumanKey("contract", "contract_id", "the contract's contract_number"),
    HumanKey("business_unit", "business_unit_id", "the business unit's name"),
    HumanKey("custom_form", "custom_form_id", "the custom form's name"),
    HumanKey("assigned_to_email", "assigned_to", "the e-mail address of the person it is assigned to"),
    HumanKey("warranty_provider", "warranty_provider_id", "the warranty provider's (vendor's) name"),
    HumanKey("support_provider", "support_provider_id", "the support provider's (vendor's) name"),
    HumanKey("attached_supplier", "attached_supplier_id", "the supplier's (vendor's) name"),
)

# The catalog model's human key: its manufacturer's name and its own, both v1 fields already.
MODEL_KEY = ("catalog_manufacturer_name", "catalog_model_name")


def _columns() -> tuple[str, ...]:
    key_after = {key.id_column: key.column for key in HUMAN_KEYS}
    found: list[str] = []
    for name in AssetV1.model_fields:
        found.append(name)
        if name in key_after:
            found.append(key_after[name])
    return tuple(found)


COLUMNS = _columns()

# Shown but never written: the asset's identity and tag (generated), what its type and model say
# of it, what the worker derives, and the timestamps.
READ_ONLY_COLUMNS = frozenset(
    {"id", "version", "asset_tag", "asset_kind", "asset_type_name", *MODEL_KEY, "created_at", "updated_at"}
    | DERIVED_FIELDS
)


def _alternatives(annotation: Any) -> tuple[Any, ...]:
    """The types of a union, or the one type."""
    return get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (annotation,)


def _plain(annotation: Any) -> Any:
    """The class of a type: Decimal of a MoneyOut, dict of a dict[str, Any]."""
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return get_origin(annotation) or annotation


# What a row read for an export (`ExportedAsset.read`) holds after its COLUMNS: the inputs of the
# depreciation plan its book value is computed from, named as the Asset's fields.
PLAN_INPUTS = ("dep_schedule", "dep_original_cost", "dep_salvage_value", "dep_service_start_date")
_PLAN_AT = len(COLUMNS)
_BOOK_VALUE_AT = COLUMNS.index("book_value")
_CUSTOM_FIELDS_AT = COLUMNS.index("custom_fields")
# Each enum column's position and the values it may hold (None where it is optional).
_ENUM_VALUES = tuple(
    (COLUMNS.index(name), frozenset({*kind, None} if type(None) in _alternatives(field.annotation) else kind))
    for name, field in AssetV1.model_fields.items()
    for kind in _alternatives(field.annotation)
    if isinstance(kind, type) and issubclass(kind, StrEnum)
)
# As the database's JSON codec reads it (shared/db.py): decimals, not floats. One decoder for all
# rows, where json.loads with an option would build one a call.
_read_json = json.JSONDecoder(parse_float=Decimal).decode


class ExportedAsset:
    """An asset as an export reads it, for its `cells`: a domain asset and the human key of each
    object it refers to (by column name, None where it refers to none); or, for an export of many,
    a row read as the contract lays it out (`read`), which spares a model per row."""

    __slots__ = ("_asset", "_keys", "_row")

    def __init__(self, asset: Asset, keys: Mapping[str, str | None]) -> None:
        self._asset: Asset | None = asset
        self._keys = keys
        self._row: Iterable[Any] = ()

    @classmethod
    def read(cls, row: Iterable[Any]) -> "ExportedAsset":
        """A row of the COLUMNS then the PLAN_INPUTS, each with its v1 value, or the text the file
        writes of it (the ids, the dates), but for `custom_fields`, which is its JSON text, and
        `book_value`, which is null."""
        exported = cls.__new__(cls)
        exported._asset, exported._keys, exported._row = None, {}, row
        return exported

    def cells(self, today: dt.date) -> list[Any]:
        """Its values in COLUMNS order: its v1 body's (the book value as of `today`) and its human
        keys."""
        if self._asset is not None:
            values = {**AssetV1.of(self._asset, today).body(), **self._keys}
            return [values[column] for column in COLUMNS]
        cells = list(self._row)
        schedule, cost, salvage, start = cells[_PLAN_AT:]
        del cells[_PLAN_AT:]
        plan = plan_for(schedule, cost, salvage, start, None)
        cells[_BOOK_VALUE_AT] = book_value(plan, today) if plan else None
        text = cells[_CUSTOM_FIELDS_AT]
        cells[_CUSTOM_FIELDS_AT] = custom_fields = {} if text == "{}" else _read_json(text)  # most are empty
        # What the v1 model would refuse, refused as it would: an export stops at a bad row.
        if type(custom_fields) is not dict:
            raise ValueError(f"custom_fields of asset {cells[0]} is not an object")
        for at, allowed in _ENUM_VALUES:
            if cells[at] not in allowed:
                raise ValueError(f"{COLUMNS[at]} of asset {cells[0]} is {cells[at]!r}")
        return cells


def _amount_cell(value: Decimal) -> str:
    return format(value, ".2f")


def _time_cell(value: dt.datetime) -> str:
    # orjson's RFC 3339 is csv_cell's ISO 8601 with `Z` for UTC, in a third of the time.
    return orjson.dumps(value, option=orjson.OPT_UTC_Z)[1:-1].decode()


def _json_cell(value: Any) -> str:
    return "{}" if value == {} else dumps(value).decode()


def _cell_writer(annotation: Any) -> Callable[[Any], str] | None:
    """What writes a v1 field's non-null values as CSV cells, as `csv_cell` does; None where
    csv.writer's own text is the cell already: text, whole numbers and the enums' values as
    themselves, a date as its ISO text, null as an empty cell."""
    kinds = {_plain(kind) for kind in _alternatives(annotation) if kind is not type(None)}
    if all(kind in (str, int, dt.date) or issubclass(kind, StrEnum) for kind in kinds):
        return None
    (kind,) = kinds
    return {Decimal: _amount_cell, dt.datetime: _time_cell, dict: _json_cell}.get(kind, csv_cell)


def csv_cell(value: Any) -> str:
    """A value as the text of a CSV cell (see the module's docstring)."""
    if value is None:
        return ""
    if isinstance(value, str):  # text, and the enums' values
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, ".2f")
    if isinstance(value, dt.datetime):
        text = value.isoformat()
        return text.removesuffix("+00:00") + "Z" if value.utcoffset() == dt.timedelta(0) else text
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return dumps(value).decode()
    raise TypeError(f"no CSV text for {type(value).__name__}")


# The position of each column whose non-null cells need a writer other than csv.writer's own, and
# its writer (amounts, times and custom_fields).
CELL_WRITERS = tuple(
    (COLUMNS.index(name), writer)
    for name, field in AssetV1.model_fields.items()
    if (writer := _cell_writer(field.annotation)) is not None
)
