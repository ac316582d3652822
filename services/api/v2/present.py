"""An asset as the v2 dialect shows it, whole or as its warranty or support block."""

from typing import Any

from services.api.v2.schemas import USAGE_STATUS_IDS
from shared.domain.models import STATUS_LABELS, Asset


def _named(ref: dict[str, Any] | None) -> dict[str, Any] | None:
    return {"id": ref["id"], "name": ref["name"]} if ref else None


def warranty_block(asset: Asset) -> dict[str, Any]:
    return {
        "id": asset.number,
        "name": asset.name,
        "asset_tag": asset.asset_tag,
        "warranty_status": asset.warranty_status,
        "warranty_type": asset.warranty_type.value,
        "warranty_provider": _named(asset.warranty_provider_ref),
        "end_of_life_date": asset.end_of_life_date,
        "warranty_start_date": asset.warranty_start_date,
        "warranty_end_date": asset.warranty_until,
        "warranty_contact_phone": asset.warranty_contact_phone,
        "warranty_contact_email": asset.warranty_contact_email,
        "warranty_notes": asset.warranty_notes,
    }


def support_block(asset: Asset) -> dict[str, Any]:
    return {
        "id": asset.number,
        "name": asset.name,
        "asset_tag": asset.asset_tag,
        "support_status": asset.support_status,
        "support_type": asset.support_type.value,
        "support_provider": _named(asset.support_provider_ref),
        "attached_supplier": _named(asset.attached_supplier_ref),
        "end_of_support_date": asset.end_of_support_date,
        "support_start_date": asset.support_start_date,
        "support_end_date": asset.support_end_date,
        "support_contact_phone": asset.support_contact_phone,
        "support_contact_email": asset.support_contact_email,
        "support_notes": asset.support_notes,
    }


def asset_v2(asset: Asset) -> dict[str, Any]:
    """Every field of the document's response syntax; absent values are null, never missing."""
    warranty = warranty_block(asset)
    support = support_block(asset)
    return {
        "id": asset.number,
        "name": asset.name,
        "company": asset.company_number,
        "contract": asset.contract_ref,
        "category": asset.category_ref,
        "manufacturer": asset.manufacturer,
        "serial_number": asset.serial_number,
        "address": asset.address,
        "city": asset.city,
        "country": asset.country,
        "region": asset.region,
        "location_description": asset.location_description,
        "asset_owner": asset.owner_ref,
        "business_unit": _named(asset.business_unit_ref),
        **{k: v for k, v in warranty.items() if k not in ("id", "name", "asset_tag")},
        **{k: v for k, v in support.items() if k not in ("id", "name", "asset_tag")},
        "usage_status": {"id": USAGE_STATUS_IDS[asset.status], "name": STATUS_LABELS[asset.status]},
        "asset_tag": asset.asset_tag,
        "asset_notes": asset.notes,
        "original_cost": asset.purchase_price,
        "service_start_date": asset.service_start_date,
        "depreciation_schedule": asset.depreciation_schedule.value if asset.depreciation_schedule else None,
        "estimated_salvage_value": asset.estimated_salvage_value,
        "financial_notes": asset.financial_notes,
        "template": {"id": asset.custom_form_number, "fields": asset.custom_fields},
        "created_date": asset.created_at,
        "modified_date": asset.updated_at,
    }
