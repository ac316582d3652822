"""Bodies of the catalog and people resources: asset types, manufacturers, models, users."""

import datetime as dt
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from services.api.schemas.common import Email, IsoDate, Name, ObjectId, Phone, RequestBody, Text
from shared.domain.models import (
    AssetKind,
    AssetType,
    BusinessUnit,
    CatalogModel,
    Company,
    Contract,
    CustomForm,
    FieldType,
    Manufacturer,
    Person,
    Vendor,
)

TypeCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9_-]{0,15}$"),
    Field(description="Upper-case letters, digits, _ or -; up to 16; used by {TYPE_CODE}."),
]


class AssetTypeCreate(RequestBody):
    name: Name
    code: TypeCode
    kind: AssetKind
    subcategory: Text | None = None


class AssetTypePatch(RequestBody):
    not_null = frozenset({"name", "code", "kind"})

    name: Name | None = None
    code: TypeCode | None = None
    kind: AssetKind | None = None
    subcategory: Text | None = None


class AssetTypeOut(BaseModel):
    id: str
    name: str
    code: str
    kind: AssetKind
    subcategory: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ManufacturerCreate(RequestBody):
    name: Name


class ManufacturerPatch(RequestBody):
    not_null = frozenset({"name"})

    name: Name | None = None


class ManufacturerOut(BaseModel):
    id: str
    name: str
    created_at: dt.datetime
    updated_at: dt.datetime


class ModelCreate(RequestBody):
    manufacturer_id: ObjectId
    name: Name
    asset_type_id: ObjectId | None = None


class ModelPatch(RequestBody):
    not_null = frozenset({"name", "manufacturer_id"})

    manufacturer_id: ObjectId | None = None
    name: Name | None = None
    asset_type_id: ObjectId | None = None


class ModelOut(BaseModel):
    id: str
    manufacturer_id: str
    manufacturer_name: str
    asset_type_id: str | None
    name: str
    created_at: dt.datetime
    updated_at: dt.datetime


class UserCreate(RequestBody):
    name: Name
    email: Email | None = None
    phone: Phone | None = None


class UserPatch(RequestBody):
    not_null = frozenset({"name"})

    name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None


class UserOut(BaseModel):
    id: str
    name: str
    email: str | None
    phone: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class NamedCreate(RequestBody):
    name: Name


class NamedPatch(RequestBody):
    not_null = frozenset({"name"})

    name: Name | None = None


class CompanyOut(BaseModel):
    id: str
    number: int = Field(description="The company's number: the v2 `company` parameter.")
    name: str
    created_at: dt.datetime
    updated_at: dt.datetime


class VendorOut(BaseModel):
    id: str
    name: str
    created_at: dt.datetime
    updated_at: dt.datetime


class BusinessUnitOut(VendorOut):
    pass


# Not blank, and stripped like a name (the schema's pattern says "not blank" as the check does).
ContractNumber = Annotated[Name, Field(description="The contract's number; not blank, stripped.")]


class ContractCreate(RequestBody):
    number: ContractNumber
    start_date: IsoDate | None = None
    end_date: IsoDate | None = None
    vendor_id: ObjectId | None = None


class ContractPatch(RequestBody):
    not_null = frozenset({"number"})

    number: ContractNumber | None = None
    start_date: IsoDate | None = None
    end_date: IsoDate | None = None
    vendor_id: ObjectId | None = None


class ContractOut(BaseModel):
    id: str
    number: str
    start_date: dt.date | None
    end_date: dt.date | None
    vendor_id: str | None
    vendor_name: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


FieldName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")]


class FormFieldIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: FieldName
    type: Annotated[FieldType, Field(strict=False)]


def _unique_names(fields: list[FormFieldIn] | None) -> list[FormFieldIn] | None:
    if fields is not None:
        names = [f.name for f in fields]
        if len(set(names)) != len(names):
            raise ValueError("field names must be unique")
    return fields


FormFields = Annotated[
    list[FormFieldIn],
    Field(max_length=200, description="The form's named, typed fields."),
    AfterValidator(_unique_names),
]


class CustomFormCreate(RequestBody):
    name: Name
    fields: FormFields = Field(default_factory=list)


class CustomFormPatch(RequestBody):
    not_null = frozenset({"name", "fields"})

    name: Name | None = None
    fields: FormFields | None = None


class FormFieldOut(BaseModel):
    name: str
    type: FieldType


class CustomFormOut(BaseModel):
    id: str
    name: str
    fields: list[FormFieldOut]
    created_at: dt.datetime
    updated_at: dt.datetime


def _common(record: Any) -> dict[str, Any]:
    return {"id": str(record.id), "created_at": record.created_at, "updated_at": record.updated_at}


def asset_type_out(t: AssetType) -> dict[str, Any]:
    return {**_common(t), "name": t.name, "code": t.code, "kind": t.kind.value, "subcategory": t.subcategory}


def manufacturer_out(m: Manufacturer) -> dict[str, Any]:
    return {**_common(m), "name": m.name}


def model_out(m: CatalogModel) -> dict[str, Any]:
    return {
        **_common(m),
        "manufacturer_id": str(m.manufacturer_id),
        "manufacturer_name": m.manufacturer_name,
        "asset_type_id": str(m.asset_type_id) if m.asset_type_id else None,
        "name": m.name,
    }


def user_out(p: Person) -> dict[str, Any]:
    return {**_common(p), "name": p.name, "email": p.email, "phone": p.phone}


def company_out(c: Company) -> dict[str, Any]:
    return {**_common(c), "number": c.number, "name": c.name}


def named_out(v: Vendor | BusinessUnit) -> dict[str, Any]:
    return {**_common(v), "name": v.name}


def contract_out(c: Contract) -> dict[str, Any]:
    return {
        **_common(c),
        "number": c.contract_number,
        "start_date": c.start_date,
        "end_date": c.end_date,
        "vendor_id": str(c.vendor_id) if c.vendor_id else None,
        "vendor_name": c.vendor_name,
    }


def custom_form_out(f: CustomForm) -> dict[str, Any]:
    return {**_common(f), "name": f.name, "fields": [field.model_dump(mode="json") for field in f.fields]}
