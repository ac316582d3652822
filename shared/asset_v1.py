"""The v1 representation of an asset: the body the v1 API answers with, and the `asset` of
every event."""

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from shared.domain.depreciation import book_value, plan_for
from shared.domain.lifecycle import SupportStatus, WarrantyStatus
from shared.domain.models import (
    Asset,
    AssetKind,
    AssetStatus,
    CoverageType,
    DepreciationSchedule,
)

# Fields the worker derives: not part of an asset's changes.
DERIVED_FIELDS = frozenset({"warranty_status", "support_status", "book_value"})

# A decimal with two places, written as a JSON number (never a string, never a float).
MoneyOut = Annotated[Decimal, WithJsonSchema({"type": "number", "minimum": 0})]


class AssetV1(BaseModel):
    """An asset as the v1 dialect shows it."""

    model_config = ConfigDict(title="Asset")

    id: str = Field(description="The asset's id.")
    version: int = Field(
        description=(
            "How many times the asset was written, its create included: the `data.version` of its "
            "latest event, and the version its ETag names."
        )
    )
    asset_tag: str = Field(description="Generated from the organisation's tag template.")
    name: str
    status: AssetStatus
    asset_type_id: str | None
    asset_type_name: str | None
    asset_kind: AssetKind | None
    manufacturer: str | None
    model: str | None
    model_id: str | None
    catalog_manufacturer_name: str | None
    catalog_model_name: str | None
    serial_number: str | None
    purchase_date: dt.date | None
    purchase_price: MoneyOut | None
    warranty_until: dt.date | None
    assigned_to: str | None = Field(description="Id of the user the asset is assigned to.")
    notes: str | None
    custom_fields: dict[str, Any]
    warranty_start_date: dt.date | None
    support_start_date: dt.date | None
    support_end_date: dt.date | None
    end_of_life_date: dt.date | None
    service_start_date: dt.date | None
    depreciation_schedule: DepreciationSchedule | None
    estimated_salvage_value: MoneyOut | None
    company_id: str = Field(description="The asset's company (the v2 `company`); default: the first.")
    contract_id: str | None
    business_unit_id: str | None
    custom_form_id: str | None = Field(description="The custom form that custom_fields follow, if any.")
    address: str | None
    city: str | None
    country: str | None
    region: str | None
    location_description: str | None
    warranty_type: CoverageType
    warranty_provider_id: str | None
    warranty_contact_phone: str | None
    warranty_contact_email: str | None
    warranty_notes: str | None
    support_type: CoverageType
    support_provider_id: str | None
    attached_supplier_id: str | None
    support_contact_phone: str | None
    support_contact_email: str | None
    support_notes: str | None
    end_of_support_date: dt.date | None
    financial_notes: str | None
    warranty_status: WarrantyStatus | None = Field(description="Computed by the worker; null until then.")
    support_status: SupportStatus | None = Field(description="Computed by the worker; null until then.")
    book_value: MoneyOut | None = Field(
        description="Today's book value from the worker's depreciation schedule; null until then."
    )
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, asset: Asset, today: dt.date) -> Self:
        """The v1 body of a domain asset: each field is the asset's own of the same name, and the
        book value is the one of `today`."""
        values = {**asset.__dict__, "book_value": _book_value(asset, today)}
        for name in _ID_FIELDS:
            if values[name] is not None:
                values[name] = str(values[name])
        return cls.model_validate(values)

    def body(self) -> dict[str, Any]:
        """The fields as plain values for the JSON writer (shared/jsonio.py): what model_dump()
        returns, since the model is flat (no nested model, alias or serializer), without its copy.
        The dict is the model's own: read it, never change it."""
        return vars(self)


def _book_value(asset: Asset, today: dt.date) -> Decimal | None:
    plan = plan_for(
        asset.dep_schedule,
        asset.dep_original_cost,
        asset.dep_salvage_value,
        asset.dep_service_start_date,
        None,
    )
    return book_value(plan, today) if plan else None


# The ids a v1 body shows: the domain's UUIDs, written as text.
_ID_FIELDS = tuple(
    name
    for name, field in Asset.model_fields.items()
    if name in AssetV1.model_fields and field.annotation in (UUID, UUID | None)
)
