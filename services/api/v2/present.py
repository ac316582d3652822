"""An asset as the v2 dialect shows it, whole or as its warranty or support block: read models
made from the domain asset."""

import datetime as dt
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, RootModel

from services.api.v2.schemas import (
    USAGE_STATUS_IDS,
    CategoryRef,
    ContractRef,
    NamedRef,
    OwnerRef,
    Paginated,
    Template,
    UsageStatus,
)
from shared.asset_v1 import MoneyOut
from shared.domain.lifecycle import SupportStatus, WarrantyStatus
from shared.domain.models import STATUS_LABELS, Asset, CoverageType, DepreciationSchedule


class AssetView(BaseModel):
    """A read model of the v2 dialect, made from a domain asset by `of`: each field is the asset's
    own of the same name or of its validation alias, and the objects the asset refers to are
    nested as the document shows them."""

    @classmethod
    def of(cls, asset: Asset) -> Self:
        return cls.model_validate({**asset.__dict__, **_related(asset)})


def _ref(ref_id: int | None, **names: Any) -> dict[str, Any] | None:
    return None if ref_id is None else {"id": ref_id, **names}


def _related(asset: Asset) -> dict[str, Any]:
    """The nested objects of a read, from the numbers and names the domain asset carries."""
    return {
        "contract": _ref(asset.contract_number, number=asset.contract_reference),
        "category": _ref(
            asset.asset_type_number, name=asset.asset_type_name, subcategory=asset.asset_type_subcategory
        ),
        "asset_owner": _ref(
            asset.assignee_number,
            name=asset.assignee_name,
            email=asset.assignee_email,
            phone_number=asset.assignee_phone,
        ),
        "business_unit": _ref(asset.business_unit_number, name=asset.business_unit_name),
        "warranty_provider": _ref(asset.warranty_provider_number, name=asset.warranty_provider_name),
        "support_provider": _ref(asset.support_provider_number, name=asset.support_provider_name),
        "attached_supplier": _ref(asset.attached_supplier_number, name=asset.attached_supplier_name),
        "usage_status": {"id": USAGE_STATUS_IDS[asset.status], "name": STATUS_LABELS[asset.status]},
        "template": {"id": asset.custom_form_number, "fields": asset.custom_fields},
    }


# The v2 id of an asset is its integer number.
AssetNumber = Annotated[int, Field(validation_alias="number")]


class _Identity(AssetView):
    """What a warranty or support block says of its asset."""

    id: AssetNumber
    name: str
    asset_tag: str


class _AssetHead(AssetView):
    """The fields of an asset that come before its warranty and support."""

    id: AssetNumber
    name: str
    company: int = Field(validation_alias="company_number")
    contract: ContractRef | None
    category: CategoryRef | None
    manufacturer: str | None
    serial_number: str | None
    address: str | None
    city: str | None
    country: str | None
    region: str | None
    location_description: str | None
    asset_owner: OwnerRef | None
    business_unit: NamedRef | None


class _Warranty(AssetView):
    """The warranty of an asset: inline in AssetV2, alone in its block (`req=warranty`)."""

    warranty_status: WarrantyStatus | None
    warranty_type: CoverageType
    warranty_provider: NamedRef | None
    end_of_life_date: dt.date | None
    warranty_start_date: dt.date | None
    warranty_end_date: dt.date | None = Field(validation_alias="warranty_until")
    warranty_contact_phone: str | None
    warranty_contact_email: str | None
    warranty_notes: str | None


class _Support(AssetView):
    """The support of an asset: inline in AssetV2, alone in its block (`req=support`)."""

    support_status: SupportStatus | None
    support_type: CoverageType
    support_provider: NamedRef | None
    attached_supplier: NamedRef | None
    end_of_support_date: dt.date | None
    support_start_date: dt.date | None
    support_end_date: dt.date | None
    support_contact_phone: str | None
    support_contact_email: str | None
    support_notes: str | None


# pydantic orders fields from the furthest base to the class itself: identity, then the cover.
class WarrantyBlock(_Warranty, _Identity):
    model_config = ConfigDict(title="AssetWarranty")


class SupportBlock(_Support, _Identity):
    model_config = ConfigDict(title="AssetSupport")


class AssetV2(_Support, _Warranty, _AssetHead):
    """An asset as the v2 dialect shows it."""

    model_config = ConfigDict(title="AssetV2")

    usage_status: UsageStatus
    asset_tag: str
    asset_notes: str | None = Field(validation_alias="notes")
    original_cost: MoneyOut | None = Field(validation_alias="purchase_price")
    service_start_date: dt.date | None
    depreciation_schedule: DepreciationSchedule | None
    estimated_salvage_value: MoneyOut | None
    financial_notes: str | None
    template: Template
    created_date: dt.datetime = Field(validation_alias="created_at")
    modified_date: dt.datetime = Field(validation_alias="updated_at")


class AssetDetail(RootModel[AssetV2 | WarrantyBlock | SupportBlock]):
    """The asset, or only its warranty or support block (`req`)."""


class AssetPage(Paginated[AssetV2 | WarrantyBlock | SupportBlock | str]):  # type: ignore[misc]
    """A page of the list: whole assets, their warranty or support blocks (`req`), or serial
    numbers (`serial_number=list`)."""
