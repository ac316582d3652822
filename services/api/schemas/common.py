"""Pieces every v1 resource shares: paging, envelopes and the text and id types."""

import datetime as dt
import re
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Generic, TypeVar, get_args
from uuid import UUID

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from shared.domain.dates import full_date, in_utc

T = TypeVar("T")

Text = Annotated[str, StringConstraints(max_length=255)]


# White space as both regular expression dialects that read the document's patterns know it: the
# server's (Unicode White_Space, which has U+0085) and JSON Schema's (ECMA-262 `\s`, which has
# U+FEFF). A name holds one character outside it, and only these characters are stripped.
WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
# No text the API takes may hold U+0000, which PostgreSQL text cannot store (the server answers a
# 400 naming it): every string of a request says so (services/api/openapi.py adds it to those
# without a pattern), and every pattern of one excludes it too.
NO_NUL = r"^[^\u0000]*$"
NOT_BLANK = r"^[^\u0000]*[^\s\u0085\ufeff\u0000][^\u0000]*$"  # and no NUL, as no text may hold


def _stripped(value: str) -> str:
    """Surrounding white space is dropped (the schema's length limits count the text as sent)."""
    return value.strip(WHITE_SPACE)


Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255, pattern=NOT_BLANK),
    AfterValidator(_stripped),
    Field(description="Not blank; surrounding white space is dropped."),
]


def _email(value: str) -> str:
    try:
        return validate_email(
            value, check_deliverability=False, globally_deliverable=False, test_environment=True
        ).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"is not a valid email address: {exc}") from exc


# An address as RFC 5322 has it, deliverable or not (addresses at .test domains are allowed; the
# other special-use names, such as .local and .invalid, are not).
Email = Annotated[
    str,
    StringConstraints(max_length=254),
    AfterValidator(_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": 254}),
]

_EXAMPLE = {dt.date: "2026-03-31", dt.datetime: "2026-03-31T12:00:00Z"}


def iso_parser(kind: type[dt.date]) -> Callable[[Any], Any]:
    """ISO 8601 text only: never a number read as a Unix time, nor (for a date) a time of day or
    the basic format `20260331` that Python would also take. JSON Schema's `date` is YYYY-MM-DD."""

    def parse(value: Any) -> Any:
        if isinstance(value, kind):
            return value
        if isinstance(value, str) and kind is dt.date and (day := full_date(value)) is not None:
            return day
        if isinstance(value, str) and kind is dt.datetime:
            try:
                moment = dt.datetime.fromisoformat(value)
            except ValueError:
                pass
            else:
                if moment.tzinfo is not None:
                    in_utc(moment)  # a ValueError of its own when out of range
                return moment
        raise ValueError(f"must be an ISO 8601 {kind.__name__} such as {_EXAMPLE[kind]}")

    return parse


# A date in a body or a query string.
IsoDate = Annotated[dt.date, BeforeValidator(iso_parser(dt.date))]
LongText = Annotated[str, StringConstraints(max_length=10_000)]
Phone = Annotated[str, StringConstraints(max_length=64)]
_UUID_TEXT = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def uuid_text(what: str) -> Callable[[Any], Any]:
    """The check of a filter's id of an object (`what`: "an asset type"): a UUID as the API writes
    ids, hyphened (pydantic alone would also take it braced, as a URN or without its hyphens).
    Anything else is a 400 naming the parameter, not a filter that matches nothing."""

    def checked(value: Any) -> Any:
        if isinstance(value, str) and not _UUID_TEXT.match(value):
            raise ValueError(f"must be the id of {what}, such as 0b4b2c1e-6b5f-4f7e-9d53-2a7c0c1d9e11")
        return value

    return checked


AssetTypeId = Annotated[UUID, BeforeValidator(uuid_text("an asset type"))]
AssetIdFilter = Annotated[UUID, BeforeValidator(uuid_text("an asset"))]


ObjectId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    Field(description="Id of an object of the same organisation."),
]
MAX_PAGE = 1_000_000


class RequestBody(BaseModel):
    """A JSON body: unknown fields and loose types are errors.

    Fields named in `not_null` may be left out but not sent as null (a PATCH of `name`, say).
    """

    model_config = ConfigDict(extra="forbid", strict=True)
    not_null: ClassVar[frozenset[str]] = frozenset()
    # Amounts: pydantic reads a JSON number as a float first, so 1899.999999999999999 would pass
    # as 1900.00; `parse_body` reads these fields' numbers again, exactly, and refuses that.
    exact_amounts: ClassVar[frozenset[str]] = frozenset()
    # A bulk body names its field holding a list of bodies: each is checked as above, named by
    # its place (`data[3].name`).
    items_field: ClassVar[str | None] = None

    def null_fields(self) -> list[str]:
        """The not-null fields sent as null (checked outside pydantic so JSON stays strict)."""
        return [name for name in sorted(self.not_null & self.model_fields_set) if getattr(self, name) is None]

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler.resolve_ref_schema(handler(core_schema))
        for name, prop in schema.get("properties", {}).items():
            _flatten_any_of(prop)
            if name in cls.not_null:
                kinds = [k for k in prop.pop("anyOf", []) if k.get("type") != "null"]
                if len(kinds) == 1:
                    _merge(prop, kinds[0])
                elif kinds:
                    prop["anyOf"] = kinds
                prop.pop("default", None)
        return schema


def _merge(prop: dict[str, Any], kind: dict[str, Any]) -> None:
    """`kind`'s keywords into `prop`, both descriptions kept (what it is, then its default)."""
    descriptions = [d for d in (kind.get("description"), prop.get("description")) if d]
    prop.update(kind)
    if descriptions:
        prop["description"] = " ".join(dict.fromkeys(descriptions))


def _flatten_any_of(prop: dict[str, Any]) -> None:
    """`anyOf: [{anyOf: [a, b]}, null]` (an optional union) as `anyOf: [a, b, null]`, the shape
    client generators read best; the inner union's description joins the property's."""
    kinds: list[dict[str, Any]] = []
    for kind in prop.get("anyOf", []):
        if "anyOf" in kind and set(kind) <= {"anyOf", "description"}:
            kinds += kind["anyOf"]
            _merge(prop, {key: value for key, value in kind.items() if key == "description"})
        else:
            kinds.append(kind)
    if kinds:
        prop["anyOf"] = kinds


_WHOLE_NUMBER = re.compile(r"^-?[0-9]+$")


class Query(BaseModel):
    """A query string: unknown parameters are errors; values arrive as text."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _plain_digits(cls, value: Any, info: ValidationInfo) -> Any:
        """An integer parameter is digits: pydantic would also read `1_0` as 10, `+1` or ` 1`
        as 1 and `1.0` as 1."""
        field = cls.model_fields.get(info.field_name or "")
        takes_int = field is not None and int in (field.annotation, *get_args(field.annotation))
        if takes_int and isinstance(value, str) and not _WHOLE_NUMBER.match(value):
            raise ValueError("must be a whole number, written in digits")
        return value


class PageQuery(Query):
    page: int = Field(default=1, ge=1, le=MAX_PAGE, description="Page number, from 1.")
    limit: int = Field(default=20, ge=1, le=100, description="Items per page.")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


class Meta(BaseModel):
    total: int
    page: int
    limit: int
    total_pages: int
    total_is_estimate: bool = Field(
        default=False, description="True when a search matches so many that the total is estimated."
    )


class Listing(BaseModel, Generic[T]):
    data: list[T]
    meta: Meta


class Single(BaseModel, Generic[T]):
    data: T


class Items(BaseModel, Generic[T]):
    data: list[T]


class Message(BaseModel):
    message: str


def listing(items: list[Any], total: int, query: PageQuery, estimated: bool = False) -> dict[str, Any]:
    """A `{data, meta}` body for one page."""
    return {
        "data": items,
        "meta": {
            "total": total,
            "page": query.page,
            "limit": query.limit,
            "total_pages": (total + query.limit - 1) // query.limit,
            "total_is_estimate": estimated,
        },
    }
