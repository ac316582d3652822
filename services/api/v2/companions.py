"""The v2 companion resources: company, category, contract, vendor, business_unit, asset_owner and
custom_form_template, each with list, detail, create, replace, change and delete, by integer id."""

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from services.api.endpoint import Endpoint, endpoint, request_unit
from services.api.responses import json_response
from services.api.v2 import schemas as s
from services.api.v2.ids import path_number, v2_field_names
from services.api.v2.paging import offset_of, page_body
from services.api.versions import expected_of, precondition_failed, read_answer, versioned
from shared.domain.models import (
    AssetType,
    BusinessUnit,
    Company,
    Contract,
    CustomForm,
    Entry,
    Person,
    Principal,
    Scope,
    Vendor,
)
from shared.errors import StaleVersion
from shared.services import catalog


@dataclass(frozen=True)
class Companion:
    """One v2 resource over a table the v1 dialect also serves."""

    name: str
    noun: str
    use_cases: catalog.Catalog[Any]
    write: type[s.RequestBody]
    patch: type[s.RequestBody]
    out: type[BaseModel]
    present: Callable[[Any], dict[str, Any]]
    columns: Mapping[str, str] = field(default_factory=dict)  # v2 field → column, where they differ
    # What PUT writes for a field left out; fields not named here keep their value.
    put_defaults: Mapping[str, Any] = field(default_factory=dict)

    def values(self, body: s.RequestBody, replace: bool) -> dict[str, Any]:
        sent = body.model_dump(exclude_unset=True, exclude={"id"})
        if replace:
            sent = {**self.put_defaults, **sent}
        return {self.columns.get(k, k): v for k, v in sent.items()}

    def v2_name(self, column: str) -> str:
        return next((v2 for v2, col in self.columns.items() if col == column), column)


def _ref(number: int | None, name: str | None) -> dict[str, Any] | None:
    return {"id": number, "name": name} if number is not None else None


def _company(c: Company) -> dict[str, Any]:
    return {"id": c.number, "name": c.name}


def _named(x: Vendor | BusinessUnit) -> dict[str, Any]:
    return {"id": x.number, "name": x.name}


def _category(t: AssetType) -> dict[str, Any]:
    return {
        "id": t.number,
        "name": t.name,
        "subcategory": t.subcategory,
        "code": t.code,
        "kind": t.kind.value,
    }


def _contract(c: Contract) -> dict[str, Any]:
    return {
        "id": c.number,
        "number": c.contract_number,
        "start_date": c.start_date,
        "end_date": c.end_date,
        "vendor": _ref(c.vendor_number, c.vendor_name),
    }


def _owner(p: Person) -> dict[str, Any]:
    return {"id": p.number, "name": p.name, "email": p.email, "phone_number": p.phone}


def _form(f: CustomForm) -> dict[str, Any]:
    return {"id": f.number, "name": f.name, "fields": [x.model_dump(mode="json") for x in f.fields]}


COMPANIONS = (
    Companion(
        "company", "company", catalog.COMPANIES, s.V2NamedWrite, s.V2NamedPatch, s.V2NamedOut, _company
    ),
    Companion(
        "category",
        "category",
        catalog.ASSET_TYPES,
        s.CategoryWrite,
        s.CategoryPatch,
        s.CategoryOut,
        _category,
        put_defaults={"subcategory": None},
    ),
    Companion(
        "contract",
        "contract",
        catalog.CONTRACTS,
        s.V2ContractWrite,
        s.V2ContractPatch,
        s.V2ContractOut,
        _contract,
        columns={"number": "contract_number", "vendor": "vendor_id"},
        put_defaults={"start_date": None, "end_date": None, "vendor": None},
    ),
    Companion("vendor", "vendor", catalog.VENDORS, s.V2NamedWrite, s.V2NamedPatch, s.V2NamedOut, _named),
    Companion(
        "business_unit",
        "business unit",
        catalog.BUSINESS_UNITS,
        s.V2NamedWrite,
        s.V2NamedPatch,
        s.V2NamedOut,
        _named,
    ),
    Companion(
        "asset_owner",
        "asset owner",
        catalog.PEOPLE,
        s.OwnerWrite,
        s.OwnerPatch,
        s.OwnerOut,
        _owner,
        columns={"phone_number": "phone"},
        put_defaults={"email": None, "phone_number": None},
    ),
    Companion(
        "custom_form_template",
        "custom form template",
        catalog.CUSTOM_FORMS,
        s.FormWrite,
        s.FormPatch,
        s.FormOut,
        _form,
        put_defaults={"fields": []},
    ),
)


def _routes_for(c: Companion) -> Iterator[web.RouteDef]:
    tag = f"v2: {c.name}"
    base = f"/api/v2/{c.name}/"

    page_model = s.Paginated[c.out]  # type: ignore[name-defined]

    @endpoint(
        Endpoint(
            f"List {c.noun} (v2)",
            tag,
            Scope.ASSETS_READ,
            query=s.V2Query,
            response=page_model,
            errors=(400, 401, 403, 404),
            dialect="v2",
        )  # type: ignore[name-defined]
    )
    async def list_entries(request: web.Request, principal: Principal, query: s.V2Query) -> web.Response:
        page = await c.use_cases.list(
            request_unit(request), principal.org_id, query.size, offset_of(query), by_number=True
        )
        return json_response(page_body(request, query, page.total, [c.present(e) for e in page.items]))

    @endpoint(
        Endpoint(
            f"Get a {c.noun} (v2)",
            tag,
            Scope.ASSETS_READ,
            response=c.out,
            errors=(401, 403, 404),
            dialect="v2",
            versioned=True,
        )
    )
    async def get_entry(request: web.Request, principal: Principal) -> web.Response:
        entry = await c.use_cases.get(request_unit(request), principal.org_id, path_number(request))
        return read_answer(request, c.present(entry), entry.id, entry.version)

    @endpoint(
        Endpoint(
            f"Create a {c.noun} (v2)",
            tag,
            Scope.ASSETS_WRITE,
            body=c.write,
            response=c.out,
            status=201,
            errors=(400, 401, 403, 409, 413, 415),
            dialect="v2",
            versioned=True,
        )
    )
    async def create_entry(request: web.Request, principal: Principal, body: s.RequestBody) -> web.Response:
        with v2_field_names(c.v2_name):
            entry = await c.use_cases.create(
                request_unit(request), principal.org_id, c.values(body, replace=False)
            )
        location = f"{base}{entry.number}/"
        return versioned(c.present(entry), entry.id, entry.version, status=201, location=location)

    def stale(exc: StaleVersion) -> Exception:
        entry = exc.current
        assert isinstance(entry, Entry)
        return precondition_failed(c.noun, c.present(entry), entry.id, entry.version)

    async def write(
        request: web.Request, principal: Principal, body: s.RequestBody, replace: bool
    ) -> web.Response:
        uow, number = request_unit(request), path_number(request)
        try:
            with v2_field_names(c.v2_name):
                entry = await c.use_cases.update(
                    uow, principal.org_id, number, c.values(body, replace), expected_of(request)
                )
        except StaleVersion as exc:
            raise stale(exc) from None
        return versioned(c.present(entry), entry.id, entry.version)

    @endpoint(
        Endpoint(
            f"Replace a {c.noun} (v2)",
            tag,
            Scope.ASSETS_WRITE,
            body=c.write,
            response=c.out,
            errors=(400, 401, 403, 404, 409, 413, 415),
            dialect="v2",
            description="A field left out becomes null (or its default).",
            versioned=True,
        )
    )
    async def put_entry(request: web.Request, principal: Principal, body: s.RequestBody) -> web.Response:
        return await write(request, principal, body, replace=True)

    @endpoint(
        Endpoint(
            f"Change a {c.noun} (v2)",
            tag,
            Scope.ASSETS_WRITE,
            body=c.patch,
            response=c.out,
            errors=(400, 401, 403, 404, 409, 413, 415),
            dialect="v2",
            versioned=True,
        )
    )
    async def patch_entry(request: web.Request, principal: Principal, body: s.RequestBody) -> web.Response:
        return await write(request, principal, body, replace=False)

    @endpoint(
        Endpoint(
            f"Delete a {c.noun} (v2)",
            tag,
            Scope.ASSETS_WRITE,
            status=204,
            errors=(401, 403, 404, 409),
            dialect="v2",
            description="Something that assets still use answers 409.",
            versioned=True,
        )
    )
    async def delete_entry(request: web.Request, principal: Principal) -> web.Response:
        uow, number = request_unit(request), path_number(request)
        try:
            await c.use_cases.delete(uow, principal.org_id, number, expected_of(request))
        except StaleVersion as exc:
            raise stale(exc) from None
        return web.Response(status=204)

    yield web.get(base, list_entries, allow_head=False)
    yield web.post(base, create_entry)
    yield web.get(base + "{id}/", get_entry, allow_head=False)
    yield web.put(base + "{id}/", put_entry)
    yield web.patch(base + "{id}/", patch_entry)
    yield web.delete(base + "{id}/", delete_entry)


def routes() -> Iterator[web.RouteDef]:
    for companion in COMPANIONS:
        yield from _routes_for(companion)
