"""Bodies of the catalog and people resources: asset types, manufacturers, models, users."""

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, EmailStr, Field, StringConstraints

from services.api.schemas.common import Name, ObjectId, RequestBody, Text
from shared.domain.models import AssetKind, AssetType, CatalogModel, Manufacturer, Person

TypeCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9_-]{0,15}$"),
    Field(description="Upper-case letters, digits, _ or -; up to 16; used by {TYPE_CODE}."),
]
Phone = Annotated[str, StringConstraints(max_length=64)]


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
    email: EmailStr | None = None
    phone: Phone | None = None


class UserPatch(RequestBody):
    not_null = frozenset({"name"})

    name: Name | None = None
    email: EmailStr | None = None
    phone: Phone | None = None


class UserOut(BaseModel):
    id: str
    name: str
    email: str | None
    phone: str | None
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
