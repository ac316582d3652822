"""The v1 catalog and companion resources (asset types, manufacturers, models, users, companies,
vendors, contracts, business units, custom forms): list, get, create, patch, delete."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from services.api.endpoint import Endpoint, endpoint, request_unit
from services.api.responses import json_response
from services.api.schemas import catalog as schemas
from services.api.schemas.common import Listing, Message, PageQuery, Single, listing
from services.api.versions import expected_of, precondition_failed, read_answer, versioned
from shared.domain.models import Entry, Principal, Scope
from shared.errors import StaleVersion
from shared.services import catalog


@dataclass(frozen=True)
class CatalogResource:
    """One catalog resource as the v1 API shows it."""

    path: str
    noun: str
    use_cases: catalog.Catalog[Any]
    create: type[BaseModel]
    patch: type[BaseModel]
    out: type[BaseModel]
    present: Callable[[Any], dict[str, Any]]
    columns: Mapping[str, str] = field(default_factory=dict)  # body field → column, where they differ

    def values(self, body: BaseModel) -> dict[str, Any]:
        """The body's fields as the columns they are written to."""
        sent = body.model_dump(exclude_unset=True, mode="python")
        return {self.columns.get(name, name): value for name, value in sent.items()}


RESOURCES = (
    CatalogResource(
        "/v1/asset-types",
        "asset type",
        catalog.ASSET_TYPES,
        schemas.AssetTypeCreate,
        schemas.AssetTypePatch,
        schemas.AssetTypeOut,
        schemas.asset_type_out,
    ),
    CatalogResource(
        "/v1/manufacturers",
        "manufacturer",
        catalog.MANUFACTURERS,
        schemas.ManufacturerCreate,
        schemas.ManufacturerPatch,
        schemas.ManufacturerOut,
        schemas.manufacturer_out,
    ),
    CatalogResource(
        "/v1/models",
        "model",
        catalog.MODELS,
        schemas.ModelCreate,
        schemas.ModelPatch,
        schemas.ModelOut,
        schemas.model_out,
    ),
    CatalogResource(
        "/v1/users",
        "user",
        catalog.PEOPLE,
        schemas.UserCreate,
        schemas.UserPatch,
        schemas.UserOut,
        schemas.user_out,
    ),
    CatalogResource(
        "/v1/companies",
        "company",
        catalog.COMPANIES,
        schemas.NamedCreate,
        schemas.NamedPatch,
        schemas.CompanyOut,
        schemas.company_out,
    ),
    CatalogResource(
        "/v1/vendors",
        "vendor",
        catalog.VENDORS,
        schemas.NamedCreate,
        schemas.NamedPatch,
        schemas.VendorOut,
        schemas.named_out,
    ),
    CatalogResource(
        "/v1/contracts",
        "contract",
        catalog.CONTRACTS,
        schemas.ContractCreate,
        schemas.ContractPatch,
        schemas.ContractOut,
        schemas.contract_out,
        columns={"number": "contract_number"},
    ),
    CatalogResource(
        "/v1/business-units",
        "business unit",
        catalog.BUSINESS_UNITS,
        schemas.NamedCreate,
        schemas.NamedPatch,
        schemas.BusinessUnitOut,
        schemas.named_out,
    ),
    CatalogResource(
        "/v1/custom-forms",
        "custom form",
        catalog.CUSTOM_FORMS,
        schemas.CustomFormCreate,
        schemas.CustomFormPatch,
        schemas.CustomFormOut,
        schemas.custom_form_out,
    ),
)


def _routes_for(res: CatalogResource) -> list[web.RouteDef]:
    tag = res.path.removeprefix("/v1/")
    one = Single[res.out]  # type: ignore[name-defined]
    many = Listing[res.out]  # type: ignore[name-defined]

    @endpoint(
        Endpoint(
            f"List {res.noun[:-1] + 'ies' if res.noun.endswith('y') else res.noun + 's'}",
            tag,
            Scope.ASSETS_READ,
            query=PageQuery,
            response=many,
            errors=(400, 401, 403),
        )
    )
    async def list_entries(request: web.Request, principal: Principal, query: PageQuery) -> web.Response:
        page = await res.use_cases.list(request_unit(request), principal.org_id, query.limit, query.offset)
        return json_response(listing([res.present(e) for e in page.items], page.total, query))

    def stale(exc: StaleVersion) -> Exception:
        entry = exc.current
        assert isinstance(entry, Entry)
        return precondition_failed(res.noun, {"data": res.present(entry)}, entry.id, entry.version)

    @endpoint(
        Endpoint(
            f"Get a {res.noun}", tag, Scope.ASSETS_READ, response=one, errors=(401, 403, 404), versioned=True
        )
    )
    async def get_entry(request: web.Request, principal: Principal) -> web.Response:
        entry = await res.use_cases.get(request_unit(request), principal.org_id, request.match_info["id"])
        return read_answer(request, {"data": res.present(entry)}, entry.id, entry.version)

    @endpoint(
        Endpoint(
            f"Create a {res.noun}",
            tag,
            Scope.ASSETS_WRITE,
            body=res.create,
            response=one,
            status=201,
            errors=(400, 401, 403, 409, 413, 415),
            versioned=True,
        )
    )
    async def create_entry(request: web.Request, principal: Principal, body: BaseModel) -> web.Response:
        entry = await res.use_cases.create(request_unit(request), principal.org_id, res.values(body))
        location = f"{res.path}/{entry.id}"
        return versioned({"data": res.present(entry)}, entry.id, entry.version, status=201, location=location)

    @endpoint(
        Endpoint(
            f"Change a {res.noun}",
            tag,
            Scope.ASSETS_WRITE,
            body=res.patch,
            response=one,
            errors=(400, 401, 403, 404, 409, 413, 415),
            versioned=True,
        )
    )
    async def patch_entry(request: web.Request, principal: Principal, body: BaseModel) -> web.Response:
        uow, entry_id = request_unit(request), request.match_info["id"]
        try:
            entry = await res.use_cases.update(
                uow, principal.org_id, entry_id, res.values(body), expected_of(request)
            )
        except StaleVersion as exc:
            raise stale(exc) from None
        return versioned({"data": res.present(entry)}, entry.id, entry.version)

    @endpoint(
        Endpoint(
            f"Delete a {res.noun}",
            tag,
            Scope.ASSETS_WRITE,
            response=Message,
            errors=(401, 403, 404, 409),
            description=f"A {res.noun} that something still uses answers 409.",
            versioned=True,
        )
    )
    async def delete_entry(request: web.Request, principal: Principal) -> web.Response:
        uow, entry_id = request_unit(request), request.match_info["id"]
        try:
            await res.use_cases.delete(uow, principal.org_id, entry_id, expected_of(request))
        except StaleVersion as exc:
            raise stale(exc) from None
        return json_response({"message": f"{res.noun.capitalize()} deleted."})

    item = f"{res.path}/{{id}}"
    return [
        web.get(res.path, list_entries, allow_head=False),
        web.post(res.path, create_entry),
        web.get(item, get_entry, allow_head=False),
        web.patch(item, patch_entry),
        web.delete(item, delete_entry),
    ]


def routes() -> list[web.RouteDef]:
    return [route for res in RESOURCES for route in _routes_for(res)]
