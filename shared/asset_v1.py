"""The v1 representation of an asset: the body the v1 API answers with, and the `asset` of
every event."""

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

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


def _text(value: object | None) -> str | None:
    return None if value is None else str(value)


def _book_value(asset: Asset, today: dt.date) -> Decimal | None:
    plan = plan_for(
        asset.dep_schedule,
        asset.dep_original_cost,
        asset.dep_salvage_value,
        asset.dep_service_start_date,
        None,
    )
    return book_value(plan, today) if plan else None


def asset_v1(asset: Asset, today: dt.date | None = None) -> dict[str, Any]:
    """The v1 body of an asset, as plain values ready for JSON."""
    return {
        "id": str(asset.id),
        "asset_tag": asset.asset_tag,
        "name": asset.name,
        "status": asset.status.value,
        "asset_type_id": _text(asset.asset_type_id),
        "asset_type_name": asset.asset_type_name,
        "asset_kind": asset.asset_kind.value if asset.asset_kind else None,
        "manufacturer": asset.manufacturer,
        "model": asset.model,
        "model_id": _text(asset.model_id),
        "catalog_manufacturer_name": asset.catalog_manufacturer_name,
        "catalog_model_name": asset.catalog_model_name,
        "serial_number": asset.serial_number,
        "purchase_date": asset.purchase_date,
        "purchase_price": asset.purchase_price,
        "warranty_until": asset.warranty_until,
        "assigned_to": _text(asset.assigned_to),
        "notes": asset.notes,
        "custom_fields": asset.custom_fields,
        "warranty_start_date": asset.warranty_start_date,
        "support_start_date": asset.support_start_date,
        "support_end_date": asset.support_end_date,
        "end_of_life_date": asset.end_of_life_date,
        "service_start_date": asset.service_start_date,
        "depreciation_schedule": asset.depreciation_schedule.value if asset.depreciation_schedule else None,
        "estimated_salvage_value": asset.estimated_salvage_value,
        "company_id": str(asset.company_id),
        "contract_id": _text(asset.contract_id),
        "business_unit_id": _text(asset.business_unit_id),
        "custom_form_id": _text(asset.custom_form_id),
        "address": asset.address,
        "city": asset.city,
        "country": asset.country,
        "region": asset.region,
        "location_description": asset.location_description,
        "warranty_type": asset.warranty_type.value,
        "warranty_provider_id": _text(asset.warranty_provider_id),
        "warranty_contact_phone": asset.warranty_contact_phone,
        "warranty_contact_email": asset.warranty_contact_email,
        "warranty_notes": asset.warranty_notes,
        "support_type": asset.support_type.value,
        "support_provider_id": _text(asset.support_provider_id),
        "attached_supplier_id": _text(asset.attached_supplier_id),
        "support_contact_phone": asset.support_contact_phone,
        "support_contact_email": asset.support_contact_email,
        "support_notes": asset.support_notes,
        "end_of_support_date": asset.end_of_support_date,
        "financial_notes": asset.financial_notes,
        "warranty_status": asset.warranty_status,
        "support_status": asset.support_status,
        "book_value": _book_value(asset, today or dt.date.today()),
        "created_at": asset.created_at,
        "updated_at": asset.updated_at,
    }
