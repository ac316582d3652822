"""Bodies, queries and responses of the v2 dialect, field for field as its document names them."""

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, RootModel, StringConstraints

from services.api.schemas.assets import CustomFields, Money
from services.api.schemas.catalog import ContractNumber, FormFields
from services.api.schemas.common import Email, IsoDate, LongText, Name, Phone, Query, RequestBody, Text
from shared.domain.models import AssetStatus, CoverageType, DepreciationSchedule, FieldType

T = TypeVar("T")

# usage_status: the six statuses with stable integer ids, in the order of their life.
USAGE_STATUS_IDS: dict[AssetStatus, int] = {status: n for n, status in enumerate(AssetStatus, start=1)}
STATUS_BY_ID: dict[int, AssetStatus] = {n: status for status, n in USAGE_STATUS_IDS.items()}

ORDERING_KEYS = (
    "asset_id",
    "asset_name",
    "created_date",
    "modified_date",
    "support_start_date",
    "support_end_date",
    "warranty_start_date",
    "warranty_end_date",
)
Ordering = Literal[
    "asset_id", "-asset_id", "asset_name", "-asset_name", "created_date", "-created_date",
    "modified_date", "-modified_date", "support_start_date", "-support_start_date",
    "support_end_date", "-support_end_date", "warranty_start_date", "-warranty_start_date",
    "warranty_end_date", "-warranty_end_date",
]  # fmt: skip

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 25


class V2Query(Query):
    """Page-number pagination as Django REST framework does it."""

    page: int = Field(default=1, ge=1, le=10_000_000, description="Page number, from 1.")
    page_size: int = Field(
        default=DEFAULT_PAGE_SIZE,
        ge=1,
        le=1_000_000,
        description=f"Items per page; above {MAX_PAGE_SIZE} counts as {MAX_PAGE_SIZE}.",
    )

    @property
    def size(self) -> int:
        return min(self.page_size, MAX_PAGE_SIZE)


class CompanyQuery(Query):
    company: int = Field(default=1, ge=1, le=2**31 - 1, description="The company; default 1.")


class AssetListQuery(V2Query, CompanyQuery):
    id: int | None = Field(default=None, ge=1, le=2**63 - 1, description="Only the asset with this id.")
    name: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = Field(
        default=None, description="Assets with this name (case-insensitive)."
    )
    custom_form_id: int | None = Field(default=None, ge=1, le=2**63 - 1, description="A custom form's id.")
    custom_form_name: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = Field(
        default=None, description="A field of the custom form."
    )
    custom_form_value: Annotated[str, StringConstraints(max_length=255)] | None = Field(
        default=None, description="The value of that field."
    )
    serial_number: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = Field(
        default=None, description="Assets with this serial number; `list` gives the serial numbers only."
    )
    manufacturer_name: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = Field(
        default=None, description="Assets of this manufacturer (case-insensitive)."
    )
    req: Literal["warranty", "support"] | None = Field(
        default=None, description="Only the warranty or the support block of each asset."
    )
    ordering: Ordering = Field(default="asset_id", description="Sort key; a leading - sorts descending.")


class AssetDetailQuery(CompanyQuery):
    req: Literal["warranty", "support"] | None = Field(
        default=None, description="Only the warranty or the support block."
    )


class Paginated(BaseModel, Generic[T]):
    count: int
    next: str | None
    previous: str | None
    results: list[T]


# Responses ---------------------------------------------------------------------------------


class NamedRef(BaseModel):
    id: int
    name: str


class ContractRef(BaseModel):
    id: int
    number: str


class CategoryRef(BaseModel):
    id: int
    name: str
    subcategory: str | None


class OwnerRef(BaseModel):
    id: int
    name: str
    email: str | None
    phone_number: str | None


class UsageStatus(BaseModel):
    id: int = Field(description="1 in_stock, 2 preparing, 3 in_use, 4 in_service, 5 returned, 6 scrapped.")
    name: str


class Template(BaseModel):
    id: int | None = Field(description="The custom form template, if the asset has one.")
    fields: dict[str, Any]


# Bodies ------------------------------------------------------------------------------------


MAX_ID = 2**63 - 1


class RelatedRef(BaseModel):
    """A related object as a read nests it (`{"id": 3, "name": "Dell"}`): its `id` is the one
    read; the other members a read shows (those of NamedRef, ContractRef, CategoryRef, OwnerRef)
    may be sent back and are ignored; any other member is an error."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[int, Field(ge=1, le=MAX_ID)]
    # Text or null, as a read shows them (so that the document can say they hold no NUL).
    name: str | None = Field(default=None, description="Ignored.")
    number: str | None = Field(default=None, description="Ignored (a contract's).")
    subcategory: str | None = Field(default=None, description="Ignored (a category's).")
    email: str | None = Field(default=None, description="Ignored (an owner's).")
    phone_number: str | None = Field(default=None, description="Ignored (an owner's).")


class UsageStatusRef(BaseModel):
    """A usage status as a read nests it (`{"id": 3, "name": "In Use"}`): its `id` is the one read,
    its `name` is ignored."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[int, Field(ge=1, le=len(AssetStatus))]
    name: str | None = Field(default=None, description="Ignored.")


def _id_of(nested: type[BaseModel]) -> Callable[[Any], Any]:
    """A related object may be written as its id or as the nested object a read returns."""
    members = frozenset(nested.model_fields)

    def read(value: Any) -> Any:
        if isinstance(value, dict) and "id" in value:
            if unknown := sorted(set(value) - members):
                raise ValueError(
                    f"is not a nested object as a read shows it: {', '.join(map(repr, unknown))} "
                    f"is not one of its members ({', '.join(sorted(members))})"
                )
            value = value["id"]
        if isinstance(value, float) and value.is_integer():  # JSON Schema's integer: 3.0 is 3
            return int(value)
        return value

    return read


_Id = Annotated[int, Field(ge=1, le=MAX_ID)]
_StatusId = Annotated[int, Field(ge=1, le=len(AssetStatus))]

# Documented as what they accept: the integer id, or the nested object a read returns.
RelatedId = Annotated[
    _Id,
    BeforeValidator(_id_of(RelatedRef), json_schema_input_type=_Id | RelatedRef),
    Field(description="The integer id of the related object, or the nested object a read returns."),
]
UsageStatusId = Annotated[
    _StatusId,
    BeforeValidator(_id_of(UsageStatusRef), json_schema_input_type=_StatusId | UsageStatusRef),
    Field(description="1 in_stock … 6 scrapped (see usage_status), or the nested object a read returns."),
]


class TemplateIn(RequestBody):
    """The custom form of a v2 write and its values."""

    id: RelatedId | None = None
    fields: CustomFields = Field(default_factory=dict)


class AssetV2Write(RequestBody):
    """POST and PUT /api/v2/asset/: related objects by integer id, or as the nested objects a read
    returns. The read-only fields of a read (`id`, `asset_tag`, the statuses, the dates) may be sent
    back and are ignored."""

    model_config = ConfigDict(extra="forbid", strict=True, title="AssetV2Write")
    not_null: ClassVar[frozenset[str]] = frozenset(
        {"name", "company", "usage_status", "warranty_type", "support_type"}
    )
    read_only: ClassVar[frozenset[str]] = frozenset(
        {"id", "asset_tag", "warranty_status", "support_status", "created_date", "modified_date"}
    )
    exact_amounts: ClassVar[frozenset[str]] = frozenset({"original_cost", "estimated_salvage_value"})

    name: Name
    company: RelatedId | None = Field(default=None, description="Default: 1.")
    contract: RelatedId | None = None
    category: RelatedId | None = None
    manufacturer: Text | None = None
    serial_number: Text | None = None
    address: Text | None = None
    city: Text | None = None
    country: Text | None = None
    region: Text | None = None
    location_description: LongText | None = None
    asset_owner: RelatedId | None = None
    business_unit: RelatedId | None = None
    warranty_type: CoverageType | None = Field(default=None, description="Default: none.")
    warranty_provider: RelatedId | None = None
    end_of_life_date: IsoDate | None = None
    warranty_start_date: IsoDate | None = None
    warranty_end_date: IsoDate | None = None
    warranty_contact_phone: Phone | None = None
    warranty_contact_email: Email | None = None
    warranty_notes: LongText | None = None
    support_type: CoverageType | None = Field(default=None, description="Default: none.")
    support_provider: RelatedId | None = None
    attached_supplier: RelatedId | None = None
    end_of_support_date: IsoDate | None = None
    support_start_date: IsoDate | None = None
    support_end_date: IsoDate | None = None
    support_contact_phone: Phone | None = None
    support_contact_email: Email | None = None
    support_notes: LongText | None = None
    usage_status: UsageStatusId | None = Field(default=None, description="Default: 1 (in_stock).")
    asset_notes: LongText | None = None
    original_cost: Money | None = None
    service_start_date: IsoDate | None = None
    depreciation_schedule: DepreciationSchedule | None = None
    estimated_salvage_value: Money | None = None
    financial_notes: LongText | None = None
    template: TemplateIn | None = None
    # Read-only: accepted so that a read can be written back, and ignored.
    id: Any = Field(default=None, json_schema_extra={"readOnly": True})
    asset_tag: Any = Field(default=None, json_schema_extra={"readOnly": True})
    warranty_status: Any = Field(default=None, json_schema_extra={"readOnly": True})
    support_status: Any = Field(default=None, json_schema_extra={"readOnly": True})
    created_date: Any = Field(default=None, json_schema_extra={"readOnly": True})
    modified_date: Any = Field(default=None, json_schema_extra={"readOnly": True})


class AssetV2Patch(AssetV2Write):
    """PATCH /api/v2/asset/{id}/: only the fields sent change."""

    model_config = ConfigDict(extra="forbid", strict=True, title="AssetV2Patch")

    name: Name | None = None  # type: ignore[assignment]


# Companion resources -----------------------------------------------------------------------


class V2NamedWrite(RequestBody):
    model_config = ConfigDict(extra="forbid", strict=True)
    not_null: ClassVar[frozenset[str]] = frozenset({"name"})

    id: Any = Field(default=None, json_schema_extra={"readOnly": True})
    name: Name


class V2NamedPatch(V2NamedWrite):
    name: Name | None = None  # type: ignore[assignment]


class V2NamedOut(BaseModel):
    id: int
    name: str


class CategoryWrite(V2NamedWrite):
    not_null: ClassVar[frozenset[str]] = frozenset({"name", "code", "kind"})

    subcategory: Text | None = None
    code: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9_-]{0,15}$")] | None = Field(
        default=None, description="The v1 type code; made from the name when left out."
    )
    kind: Literal["physical", "logical"] | None = Field(default=None, description="Default: physical.")


class CategoryPatch(CategoryWrite):
    name: Name | None = None  # type: ignore[assignment]


class CategoryOut(BaseModel):
    id: int
    name: str
    subcategory: str | None
    code: str
    kind: str


class V2ContractWrite(RequestBody):
    model_config = ConfigDict(extra="forbid", strict=True)
    not_null: ClassVar[frozenset[str]] = frozenset({"number"})

    id: Any = Field(default=None, json_schema_extra={"readOnly": True})
    number: ContractNumber
    start_date: IsoDate | None = None
    end_date: IsoDate | None = None
    vendor: RelatedId | None = None


class V2ContractPatch(V2ContractWrite):
    number: ContractNumber | None = None  # type: ignore[assignment]


class V2ContractOut(BaseModel):
    id: int
    number: str
    start_date: dt.date | None
    end_date: dt.date | None
    vendor: NamedRef | None


class OwnerWrite(V2NamedWrite):
    email: Email | None = None
    phone_number: Phone | None = None


class OwnerPatch(OwnerWrite):
    name: Name | None = None  # type: ignore[assignment]


class OwnerOut(BaseModel):
    id: int
    name: str
    email: str | None
    phone_number: str | None


class FormWrite(V2NamedWrite):
    not_null: ClassVar[frozenset[str]] = frozenset({"name", "fields"})

    fields: FormFields = Field(default_factory=list)


class FormPatch(FormWrite):
    name: Name | None = None  # type: ignore[assignment]
    fields: FormFields | None = None  # type: ignore[assignment]


class FormFieldOut(BaseModel):
    name: str
    type: FieldType


class FormOut(BaseModel):
    id: int
    name: str
    fields: list[FormFieldOut]


class Detail(BaseModel):
    """Django REST framework's error body for everything but validation."""

    detail: str


class FieldMessages(RootModel[dict[str, list[str]]]):
    """Django REST framework's validation error: each field or parameter at fault, with its messages."""
