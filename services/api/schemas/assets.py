"""Bodies and queries of /v1/assets."""

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema

from services.api.schemas.common import Email, LongText, Name, ObjectId, PageQuery, Phone, RequestBody, Text
from shared.domain.models import AssetKind, AssetStatus, CoverageType, DepreciationSchedule

MONEY_TEXT = re.compile(r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?$")


def _money_text(value: Any) -> Any:
    """An amount as a JSON number, or as a string of plain digits as the schema says (no exponent,
    no sign); made a Decimal from its text, so that 0.07 stays exactly 0.07."""
    if isinstance(value, str):
        if not MONEY_TEXT.match(value):
            raise ValueError("must be a non-negative amount with at most two decimals, such as 1299.99")
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
CustomFields = Annotated[dict[str, Any], Field(max_length=200, description="Custom field values.")]


class AssetFields(RequestBody):
    """Every optional field an asset can be written with through v1."""

    not_null = frozenset({"name", "status", "custom_fields", "company_id", "warranty_type", "support_type"})

    asset_type_id: ObjectId | None = None
    status: AssetStatus | None = Field(default=None, description="Default: in_stock.")
    model_id: ObjectId | None = Field(default=None, description="Fills manufacturer and model.")
    manufacturer: Text | None = None
    model: Text | None = None
    serial_number: Text | None = None
    purchase_date: dt.date | None = None
    purchase_price: Money | None = None
    warranty_until: dt.date | None = None
    assigned_to: ObjectId | None = Field(default=None, description="Id of a user, or null.")
    notes: LongText | None = None
    custom_fields: CustomFields | None = None
    warranty_start_date: dt.date | None = None
    support_start_date: dt.date | None = None
    support_end_date: dt.date | None = None
    end_of_life_date: dt.date | None = None
    service_start_date: dt.date | None = None
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
    end_of_support_date: dt.date | None = None
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
    asset_type_id: Annotated[str, Field(max_length=64)] | None = None
    kind: AssetKind | None = None
