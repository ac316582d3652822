"""Domain models read from and written to the repositories."""

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any, Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict


class AssetStatus(StrEnum):
    """Where an asset is in its life; the six v1 statuses."""

    IN_STOCK = "in_stock"
    PREPARING = "preparing"
    IN_USE = "in_use"
    IN_SERVICE = "in_service"
    RETURNED = "returned"
    SCRAPPED = "scrapped"


STATUS_LABELS: dict[AssetStatus, str] = {
    AssetStatus.IN_STOCK: "In Stock",
    AssetStatus.PREPARING: "Preparing",
    AssetStatus.IN_USE: "In Use",
    AssetStatus.IN_SERVICE: "In Service",
    AssetStatus.RETURNED: "Returned",
    AssetStatus.SCRAPPED: "Scrapped",
}


class AssetKind(StrEnum):
    """Hardware or software."""

    PHYSICAL = "physical"
    LOGICAL = "logical"


class CoverageType(StrEnum):
    """Who backs a warranty or a support contract."""

    NONE = "none"
    OEM = "oem"
    OEM_EXTENDED = "oem_extended"
    THIRD_PARTY = "third_party"


class DepreciationSchedule(StrEnum):
    """The straight-line schedules an asset can be depreciated on."""

    OTHER = "other"
    THREE_YEAR = "3_year_33_percent"
    FIVE_YEAR = "5_year_20_percent"
    TEN_YEAR = "10_year_10_percent"


class Scope(StrEnum):
    """What an API token may do."""

    ASSETS_READ = "assets:read"
    ASSETS_WRITE = "assets:write"
    WEBHOOKS_READ = "webhooks:read"
    WEBHOOKS_WRITE = "webhooks:write"


class Record(BaseModel):
    """A row as the domain sees it."""

    model_config = ConfigDict(frozen=True, from_attributes=True)


class Entry(Record):
    """A catalog object: its ids (v1 and v2), and how many times it was written (the version its
    ETag names)."""

    id: UUID
    number: int
    version: int = 1


class Organisation(Record):
    id: UUID
    name: str
    prefix: str
    tag_template: str
    tag_template_version: int = 1  # how many times the template was set: its ETag's version
    created_at: dt.datetime


class ApiToken(Record):
    id: UUID
    org_id: UUID
    name: str
    scopes: list[str]
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    created_at: dt.datetime
    # The token's own budgets (such as "100/minute"); None takes the settings' default.
    rate_limit_read: str | None = None
    rate_limit_write: str | None = None


class Principal(Record):
    """Who is calling: a token of an organisation, with its scopes and its own budgets."""

    token_id: UUID
    token_name: str
    org_id: UUID
    scopes: frozenset[str]
    rate_limit_read: str | None = None
    rate_limit_write: str | None = None


class Caller(Record):
    """Who is making a change, and in which request: what an event and the audit log record."""

    org_id: UUID
    token_id: UUID
    token_name: str
    request_id: str


class AssetType(Entry):
    id: UUID
    number: int
    name: str
    code: str
    kind: AssetKind
    subcategory: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class Manufacturer(Entry):
    id: UUID
    number: int
    name: str
    created_at: dt.datetime
    updated_at: dt.datetime


class CatalogModel(Entry):
    id: UUID
    number: int
    manufacturer_id: UUID
    manufacturer_name: str
    asset_type_id: UUID | None
    name: str
    created_at: dt.datetime
    updated_at: dt.datetime


class Person(Entry):
    id: UUID
    number: int
    name: str
    email: str | None
    phone: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class Company(Entry):
    """A company of the organisation (the v2 `company` parameter); numbered from 1 per organisation."""

    id: UUID
    number: int
    name: str
    created_at: dt.datetime
    updated_at: dt.datetime


class Vendor(Entry):
    """A warranty provider, support provider or supplier."""

    id: UUID
    number: int
    name: str
    created_at: dt.datetime
    updated_at: dt.datetime


class Contract(Entry):
    id: UUID
    number: int
    contract_number: str
    start_date: dt.date | None
    end_date: dt.date | None
    vendor_id: UUID | None
    vendor_number: int | None
    vendor_name: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class BusinessUnit(Entry):
    id: UUID
    number: int
    name: str
    created_at: dt.datetime
    updated_at: dt.datetime


class FieldType(StrEnum):
    """The value types a custom form's field can hold."""

    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"
    DATE = "date"
    BOOLEAN = "boolean"


class FormField(BaseModel):
    """One named, typed field of a custom form."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: FieldType


class CustomForm(Entry):
    id: UUID
    number: int
    name: str
    fields: list[FormField]
    created_at: dt.datetime
    updated_at: dt.datetime


class Asset(Record):
    """One asset: every column of both dialects, and the numbers and names of what it refers to."""

    id: UUID
    number: int
    org_id: UUID
    company_number: int
    version: int
    asset_tag: str
    name: str
    status: AssetStatus
    asset_type_id: UUID | None
    asset_type_name: str | None
    asset_kind: AssetKind | None
    model_id: UUID | None
    manufacturer: str | None
    model: str | None
    catalog_manufacturer_name: str | None
    catalog_model_name: str | None
    serial_number: str | None
    purchase_date: dt.date | None
    purchase_price: Decimal | None
    warranty_until: dt.date | None
    assigned_to: UUID | None
    notes: str | None
    custom_fields: dict[str, Any]
    contract_id: UUID | None
    business_unit_id: UUID | None
    custom_form_id: UUID | None
    address: str | None
    city: str | None
    country: str | None
    region: str | None
    location_description: str | None
    warranty_type: CoverageType
    warranty_provider_id: UUID | None
    warranty_start_date: dt.date | None
    warranty_contact_phone: str | None
    warranty_contact_email: str | None
    warranty_notes: str | None
    support_type: CoverageType
    support_provider_id: UUID | None
    attached_supplier_id: UUID | None
    support_start_date: dt.date | None
    support_end_date: dt.date | None
    support_contact_phone: str | None
    support_contact_email: str | None
    support_notes: str | None
    end_of_life_date: dt.date | None
    end_of_support_date: dt.date | None
    service_start_date: dt.date | None
    depreciation_schedule: DepreciationSchedule | None
    estimated_salvage_value: Decimal | None
    financial_notes: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    # What the asset refers to, read with it: the id of its company, and each other object's
    # per-organisation number (its v2 id) and the names it is known by; None when there is none.
    company_id: UUID
    asset_type_number: int | None = None
    asset_type_subcategory: str | None = None
    contract_number: int | None = None
    contract_reference: str | None = None  # the contract's own number, a text such as "C-2024-01"
    assignee_number: int | None = None
    assignee_name: str | None = None
    assignee_email: str | None = None
    assignee_phone: str | None = None
    business_unit_number: int | None = None
    business_unit_name: str | None = None
    warranty_provider_number: int | None = None
    warranty_provider_name: str | None = None
    support_provider_number: int | None = None
    support_provider_name: str | None = None
    attached_supplier_number: int | None = None
    attached_supplier_name: str | None = None
    custom_form_number: int | None = None
    # Written by the worker; None until it has seen the asset.
    warranty_status: str | None = None
    support_status: str | None = None
    dep_schedule: DepreciationSchedule | None = None
    dep_original_cost: Decimal | None = None
    dep_salvage_value: Decimal | None = None
    dep_service_start_date: dt.date | None = None


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list and how many there are in all."""

    items: list[T]
    total: int
    total_is_estimate: bool = False
