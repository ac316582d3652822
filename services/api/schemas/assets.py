"""Bodies and queries of /v1/assets."""

import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, WithJsonSchema
from typing_extensions import TypeAliasType

from services.api.schemas.common import (
    NO_NUL,
    AssetTypeId,
    Email,
    IsoDate,
    LongText,
    Name,
    ObjectId,
    PageQuery,
    Phone,
    RequestBody,
    Text,
)
from shared.domain.models import AssetKind, AssetStatus, CoverageType, DepreciationSchedule

MONEY_TEXT = re.compile(r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?$")


AMOUNT_RULE = "must be a non-negative amount with at most two decimals, such as 1299.99"


def at_most_two_decimals(amount: Decimal) -> bool:
    """Exactly, whatever the digits: 1.500 is 1.50, 1899.999999999999999 is not 1900.00."""
    _, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int), "finite amounts only"
    while exponent < -2 and digits and digits[-1] == 0:
        digits, exponent = digits[:-1], exponent + 1
    return exponent >= -2


def _money_text(value: Any) -> Any:
    """An amount as a JSON number, or as a string of plain digits as the schema says (no exponent,
    no sign); made a Decimal from its text, so that 0.07 stays exactly 0.07."""
    if isinstance(value, str):
        if not MONEY_TEXT.match(value):
            raise ValueError(AMOUNT_RULE)
        return Decimal(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Decimal(str(value))
    return value


Money = Annotated[
    Decimal,
    BeforeValidator(_money_text),
    Field(ge=0, max_digits=14, decimal_places=2),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": 999999999999.99, "multipleOf": 0.01},
                {"type": "string", "pattern": MONEY_TEXT.pattern},
            ],
            "description": "A non-negative amount with at most two decimals.",
        }
    ),
]

# Numbers in custom fields are finite and within the 64-bit integer range, so that the event
# stream, PostgreSQL and the usual JSON readers all carry them unchanged (a larger integer made a
# 500 at the event's serialisation; 1e400 would have been stored as null).
CUSTOM_NUMBER_LIMIT = 2**63
CUSTOM_VALUE_RULE = (
    "Any JSON value. Its numbers, however deeply nested, must be finite and between "
    f"{-CUSTOM_NUMBER_LIMIT} and {CUSTOM_NUMBER_LIMIT - 1}; any other is a 400 naming the value's path. "
    "The bounds are written out for the outermost level only: client generators cannot read a "
    "recursive schema, so the members of arrays and objects are described here instead."
)
# One level spelt out, not recursive, so that client generators can read it (they cannot express a
# value that contains itself); the server enforces the rule at every depth (`_storable_numbers`).
CustomValue = TypeAliasType(
    "CustomValue",
    Annotated[
        Any,
        WithJsonSchema(
            {
                "description": CUSTOM_VALUE_RULE,
                # Integers first, so that generated clients keep them integers (not 5.0).
                "anyOf": [
                    {"type": "integer", "minimum": -CUSTOM_NUMBER_LIMIT, "maximum": CUSTOM_NUMBER_LIMIT - 1},
                    {"type": "number", "minimum": -CUSTOM_NUMBER_LIMIT, "maximum": CUSTOM_NUMBER_LIMIT - 1},
                    {"type": "string", "pattern": NO_NUL},
                    {"type": "boolean"},
                    {"type": "array", "items": {}},
                    {"type": "object", "additionalProperties": {}, "propertyNames": {"pattern": NO_NUL}},
                    {"type": "null"},
                ],
            }
        ),
    ],
)


def _numbers_with_paths(value: Any, path: str) -> Iterator[tuple[str, int | float]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers_with_paths(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _numbers_with_paths(item, f"{path}[{index}]")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield path, value


def _storable_numbers(values: dict[str, Any]) -> dict[str, Any]:
    for path, number in _numbers_with_paths(values, ""):
        if not -CUSTOM_NUMBER_LIMIT <= number < CUSTOM_NUMBER_LIMIT:  # also false for inf and NaN
            raise ValueError(
                f"holds a number out of range at {path}: numbers must be finite and between "
                f"{-CUSTOM_NUMBER_LIMIT} and {CUSTOM_NUMBER_LIMIT - 1}"
            )
    return values


CustomFields = Annotated[
    dict[str, Any],
    Field(max_length=200),
    AfterValidator(_storable_numbers),
    # Validated as above (any JSON, then one walk over its numbers, for one clear message), and
    # documented as CustomValue, which says the same in words where a schema would recurse.
    BeforeValidator(lambda value: value, json_schema_input_type=dict[str, CustomValue]),
    Field(
        description="Custom field values.",
        json_schema_extra={"maxProperties": 200, "propertyNames": {"pattern": NO_NUL}},
    ),
]


class AssetFields(RequestBody):
    """Every optional field an asset can be written with through v1."""

    not_null = frozenset({"name", "status", "custom_fields", "company_id", "warranty_type", "support_type"})
    exact_amounts = frozenset({"purchase_price", "estimated_salvage_value"})

    asset_type_id: ObjectId | None = None
    status: AssetStatus | None = Field(default=None, description="Default: in_stock.")
    model_id: ObjectId | None = Field(default=None, description="Fills manufacturer and model.")
    manufacturer: Text | None = None
    model: Text | None = None
    serial_number: Text | None = None
    purchase_date: IsoDate | None = None
    purchase_price: Money | None = None
    warranty_until: IsoDate | None = None
    assigned_to: ObjectId | None = Field(default=None, description="Id of a user, or null.")
    notes: LongText | None = None
    custom_fields: CustomFields | None = None
    warranty_start_date: IsoDate | None = None
    support_start_date: IsoDate | None = None
    support_end_date: IsoDate | None = None
    end_of_life_date: IsoDate | None = None
    service_start_date: IsoDate | None = None
    depreciation_schedule: DepreciationSchedule | None = None
    estimated_salvage_value: Money | None = None
    company_id: ObjectId | None = Field(default=None, description="Default: the organisation's first.")
    contract_id: ObjectId | None = None
    business_unit_id: ObjectId | None = None
    custom_form_id: ObjectId | None = Field(
        default=None, description="A custom form; custom_fields must then fit its fields."
    )
    address: Text | None = None
    city: Text | None = None
    country: Text | None = None
    region: Text | None = None
    location_description: LongText | None = None
    warranty_type: CoverageType | None = Field(default=None, description="Default: none.")
    warranty_provider_id: ObjectId | None = Field(default=None, description="A vendor.")
    warranty_contact_phone: Phone | None = None
    warranty_contact_email: Email | None = None
    warranty_notes: LongText | None = None
    support_type: CoverageType | None = Field(default=None, description="Default: none.")
    support_provider_id: ObjectId | None = Field(default=None, description="A vendor.")
    attached_supplier_id: ObjectId | None = Field(default=None, description="A vendor.")
    support_contact_phone: Phone | None = None
    support_contact_email: Email | None = None
    support_notes: LongText | None = None
    end_of_support_date: IsoDate | None = None
    financial_notes: LongText | None = None


class AssetCreate(AssetFields):
    """POST /v1/assets."""

    name: Name


class AssetPatch(AssetFields):
    """PATCH /v1/assets/:id: only the fields sent change; null clears an optional field."""

    name: Name | None = None


class AssetListQuery(PageQuery):
    q: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        default=None, description="Case-insensitive match in name, asset tag or serial number."
    )
    status: AssetStatus | None = None
    asset_type_id: AssetTypeId | None = None
    kind: AssetKind | None = None


class AssetBulkPatchItem(AssetPatch):
    """One asset's change in PATCH /v1/assets: its id and the fields to change."""

    id: ObjectId


class AssetBulkPatch(RequestBody):
    """PATCH /v1/assets: up to 1,000 assets' changes, made all or nothing."""

    items_field = "data"

    data: list[AssetBulkPatchItem] = Field(min_length=1, max_length=1000)


class AssetBulkDelete(RequestBody):
    """DELETE /v1/assets: up to 1,000 assets' ids, deleted all or nothing."""

    ids: list[ObjectId] = Field(min_length=1, max_length=1000, json_schema_extra={"uniqueItems": True})


class BulkDeleted(BaseModel):
    """The answer of DELETE /v1/assets."""

    message: str
    deleted: list[str] = Field(description="The ids of the deleted assets, in the order sent.")
