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
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from shared.asset_v1 import DERIVED_FIELDS, AssetV1
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
    {"id", "asset_tag", "asset_kind", "asset_type_name", *MODEL_KEY, "created_at", "updated_at"}
    | DERIVED_FIELDS
)


@dataclass(frozen=True)
class ExportedAsset:
    """An asset as an export reads it: the asset, and the human key of each object it refers to
    (None where it refers to none), by column name."""

    asset: Asset
    keys: Mapping[str, str | None]


def export_record(exported: ExportedAsset, today: dt.date) -> dict[str, Any]:
    """The row of an asset, column by column, with the values of its v1 body (book value as of
    `today`) and its human keys."""
    values = {**AssetV1.of(exported.asset, today).body(), **exported.keys}
    return {column: values[column] for column in COLUMNS}


def csv_cell(value: Any) -> str:
    """A value as the text of a CSV cell (see the module's docstring)."""
    if value is None:
        return ""
    if isinstance(value, str):  # text, and the enums' values
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
