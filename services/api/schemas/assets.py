"""Bodies and queries of /v1/assets."""

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field

from services.api.schemas.common import LongText, Name, ObjectId, PageQuery, RequestBody, Text
from shared.domain.models import AssetKind, AssetStatus, DepreciationSchedule

Money = Annotated[
    Decimal,
    Field(
        ge=0, max_digits=14, decimal_places=2, description="A non-negative amount with at most two decimals."
    ),
]
CustomFields = Annotated[dict[str, Any], Field(max_length=200, description="Custom field values.")]


class AssetFields(RequestBody):
    """Every optional field an asset can be written with through v1."""

    not_null = frozenset({"name", "status", "custom_fields"})

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
