"""/api/v2/asset/: list, detail, create, replace, change and delete, over the v1 service functions
so that both dialects emit the same events and audit entries."""

from collections.abc import Iterator, Mapping
from typing import Any

from aiohttp import web

from services.api.endpoint import Endpoint, caller_of, endpoint, request_unit
from services.api.problems import ApiError, bad_request
from services.api.responses import json_response
from services.api.v2.ids import path_number, v2_field_names
from services.api.v2.paging import offset_of, page_body
from services.api.v2.present import AssetDetail, AssetPage, AssetV2, AssetView, SupportBlock, WarrantyBlock
from services.api.v2.schemas import STATUS_BY_ID, AssetDetailQuery, AssetListQuery, AssetV2Patch, AssetV2Write
from services.api.versions import expected_of, precondition_failed, read_answer, versioned
from shared.domain.models import Asset, AssetStatus, CoverageType, Principal, Scope
from shared.domain.queries import CompanyFilter
from shared.errors import FieldProblem, StaleVersion
from shared.services import assets as service

TAG = "v2: asset"

# v2 field → the v1 field (and column) it is, where the names differ.
V2_TO_V1 = {
    "company": "company_id",
    "contract": "contract_id",
    "category": "asset_type_id",
    "asset_owner": "assigned_to",
    "business_unit": "business_unit_id",
    "warranty_provider": "warranty_provider_id",
    "support_provider": "support_provider_id",
    "attached_supplier": "attached_supplier_id",
    "warranty_end_date": "warranty_until",
    "usage_status": "status",
    "asset_notes": "notes",
    "original_cost": "purchase_price",
}
V1_TO_V2 = {v1: v2 for v2, v1 in V2_TO_V1.items()} | {
    "custom_form_id": "template.id",
    "custom_fields": "template.fields",
}

# What PUT writes for a field it was not given.
_PUT_DEFAULTS: Mapping[str, Any] = {
    "company": 1,
    "usage_status": 1,
    "warranty_type": CoverageType.NONE,
    "support_type": CoverageType.NONE,
}


def _v2_name(v1_field: str) -> str:
    head, dot, rest = v1_field.partition(".")
    return V1_TO_V2.get(head, head) + dot + rest


def _service_values(body: AssetV2Write, replace: bool) -> dict[str, Any]:
    """The body as the v1 fields of the service; with `replace`, every field left out too."""
    sent = body.model_fields_set - AssetV2Write.read_only
    values: dict[str, Any] = {}
    for name in AssetV2Write.model_fields:
        if name in AssetV2Write.read_only or name == "template":
            continue
        if name in sent:
            value = getattr(body, name)
        elif replace:
            value = _PUT_DEFAULTS.get(name)
        else:
            continue
        if name == "usage_status" and value is not None:
            value = STATUS_BY_ID[value]
        values[V2_TO_V1.get(name, name)] = value
    if "template" in sent and body.template is not None:
        given = body.template.model_fields_set
        if "id" in given or replace:
            values["custom_form_id"] = body.template.id
        if "fields" in given or replace:
            values["custom_fields"] = body.template.fields
    elif replace or "template" in sent:  # PUT without it, or "template": null
        values["custom_form_id"] = None
        values["custom_fields"] = {}
    return values


def _check_company(asset: Asset, company: int) -> None:
    if asset.company_number != company:
        raise ApiError(404, "Not found.")


_SHOWN_BY_REQ: Mapping[str | None, type[AssetView]] = {
    None: AssetV2,
    "warranty": WarrantyBlock,
    "support": SupportBlock,
}


def _shown(asset: Asset, req: str | None = None) -> dict[str, Any]:
    """The asset, or only its warranty or support block."""
    return _SHOWN_BY_REQ[req].of(asset).model_dump()


def _filter(query: AssetListQuery, serials: bool) -> CompanyFilter:
    if query.custom_form_value is not None and query.custom_form_name is None:
        raise bad_request([FieldProblem("custom_form_value", "needs custom_form_name")], "The query")
    return CompanyFilter(
        company_number=query.company,
        number=query.id,
        name=query.name,
        serial_number=None if serials else query.serial_number,
        manufacturer_name=query.manufacturer_name,
        custom_form_name=query.custom_form_name,
        custom_form_value=query.custom_form_value,
    )


@endpoint(
    Endpoint(
        "List assets (v2)",
        TAG,
        Scope.ASSETS_READ,
        query=AssetListQuery,
        response=AssetPage,
        errors=(400, 401, 403, 404),
        dialect="v2",
        description="25 per page by default. `serial_number=list` gives the serial numbers only; "
        "`req=warranty|support` gives each asset's warranty or support block. Ties in `ordering` are "
        "broken by the asset id, in the same direction.",
    )
)
async def list_assets(request: web.Request, principal: Principal, query: AssetListQuery) -> web.Response:
    serials = query.serial_number == "list"
    flt = _filter(query, serials)
    args = (request_unit(request), principal.org_id, flt, query.ordering, query.size, offset_of(query))
    results: list[Any]
    if serials:
        serial_page = await service.list_serial_numbers(*args, custom_form=query.custom_form_id)
        total, results = serial_page.total, serial_page.items
    else:
        page = await service.list_company_assets(*args, custom_form=query.custom_form_id)
        total, results = page.total, [_shown(a, query.req) for a in page.items]
    return json_response(page_body(request, query, total, results))


@endpoint(
    Endpoint(
        "Get an asset (v2)",
        TAG,
        Scope.ASSETS_READ,
        query=AssetDetailQuery,
        response=AssetDetail,
        errors=(400, 401, 403, 404),
        dialect="v2",
        description="`req=warranty|support` answers with that block only.",
        versioned=True,
    )
)
async def get_asset(request: web.Request, principal: Principal, query: AssetDetailQuery) -> web.Response:
    asset = await service.get_asset_by_number(request_unit(request), principal.org_id, path_number(request))
    _check_company(asset, query.company)
    return read_answer(request, _shown(asset, query.req), asset.id, asset.version)


@endpoint(
    Endpoint(
        "Create an asset (v2)",
        TAG,
        Scope.ASSETS_WRITE,
        body=AssetV2Write,
        response=AssetV2,
        status=201,
        errors=(400, 401, 403, 409, 413, 415),
        dialect="v2",
        description="Related objects by integer id. The asset tag is generated as in v1.",
        versioned=True,
    )
)
async def create_asset(request: web.Request, principal: Principal, body: AssetV2Write) -> web.Response:
    values = _service_values(body, replace=False)
    values.setdefault("company_id", 1)
    values.setdefault("status", AssetStatus.IN_STOCK)
    with v2_field_names(_v2_name):
        asset = await service.create_asset(request_unit(request), caller_of(request, principal), values)
    return versioned(
        _shown(asset), asset.id, asset.version, status=201, location=f"/api/v2/asset/{asset.number}/"
    )


async def _write(
    request: web.Request, principal: Principal, body: AssetV2Write, replace: bool
) -> web.Response:
    uow = request_unit(request)
    asset_id = await service.asset_id_for_number(uow, principal.org_id, path_number(request))
    try:
        with v2_field_names(_v2_name):
            asset = await service.update_asset(
                uow,
                caller_of(request, principal),
                asset_id,
                _service_values(body, replace),
                expected_of(request),
            )
    except StaleVersion as stale:
        raise _stale(stale) from None
    return versioned(_shown(asset), asset.id, asset.version)


def _stale(stale: StaleVersion) -> Exception:
    asset = stale.current
    assert isinstance(asset, Asset)
    return precondition_failed("asset", _shown(asset), asset.id, asset.version)


@endpoint(
    Endpoint(
        "Replace an asset (v2)",
        TAG,
        Scope.ASSETS_WRITE,
        body=AssetV2Write,
        response=AssetV2,
        errors=(400, 401, 403, 404, 409, 413, 415),
        dialect="v2",
        description="A full replacement: a field left out becomes null, or its default "
        "(company 1, usage_status 1, warranty_type and support_type none, no template).",
        versioned=True,
    )
)
async def put_asset(request: web.Request, principal: Principal, body: AssetV2Write) -> web.Response:
    return await _write(request, principal, body, replace=True)


@endpoint(
    Endpoint(
        "Change an asset (v2)",
        TAG,
        Scope.ASSETS_WRITE,
        body=AssetV2Patch,
        response=AssetV2,
        errors=(400, 401, 403, 404, 409, 413, 415),
        dialect="v2",
        description="Only the fields sent change; null clears an optional field.",
        versioned=True,
    )
)
async def patch_asset(request: web.Request, principal: Principal, body: AssetV2Patch) -> web.Response:
    return await _write(request, principal, body, replace=False)


@endpoint(
    Endpoint(
        "Delete an asset (v2)",
        TAG,
        Scope.ASSETS_WRITE,
        status=204,
        errors=(401, 403, 404),
        dialect="v2",
        versioned=True,
    )
)
async def delete_asset(request: web.Request, principal: Principal) -> web.Response:
    uow = request_unit(request)
    asset_id = await service.asset_id_for_number(uow, principal.org_id, path_number(request))
    try:
        await service.delete_asset(uow, caller_of(request, principal), asset_id, expected_of(request))
    except StaleVersion as stale:
        raise _stale(stale) from None
    return web.Response(status=204)


def routes() -> Iterator[web.RouteDef]:
    yield web.get("/api/v2/asset/", list_assets, allow_head=False)
    yield web.post("/api/v2/asset/", create_asset)
    yield web.get("/api/v2/asset/{id}/", get_asset, allow_head=False)
    yield web.put("/api/v2/asset/{id}/", put_asset)
    yield web.patch("/api/v2/asset/{id}/", patch_asset)
    yield web.delete("/api/v2/asset/{id}/", delete_asset)
