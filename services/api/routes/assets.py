"""/v1/assets: list, get, create, patch and delete, one asset or many at once."""

import datetime as dt
from typing import Any

from aiohttp import web

from services.api.endpoint import Endpoint, caller_of, endpoint, request_unit
from services.api.responses import json_response
from services.api.schemas.assets import (
    AssetBulkDelete,
    AssetBulkPatch,
    AssetCreate,
    AssetListQuery,
    AssetPatch,
    BulkDeleted,
)
from services.api.schemas.common import Items, Listing, Message, Single, listing
from services.api.versions import expected_of, precondition_failed, read_answer, versioned
from shared.asset_v1 import AssetV1
from shared.domain.models import Asset, Principal, Scope
from shared.domain.queries import AssetFilter
from shared.errors import StaleVersion
from shared.services import assets as service

TAG = "assets"


@endpoint(
    Endpoint(
        "List assets",
        TAG,
        Scope.ASSETS_READ,
        query=AssetListQuery,
        response=Listing[AssetV1],
        errors=(400, 401, 403),
        description="Newest first. `meta.total` is exact; see the README for its cost.",
    )
)
async def list_assets(request: web.Request, principal: Principal, query: AssetListQuery) -> web.Response:
    flt = AssetFilter(q=query.q, status=query.status, asset_type_id=query.asset_type_id, kind=query.kind)
    page = await service.list_assets(request_unit(request), principal.org_id, flt, query.limit, query.offset)
    today = dt.date.today()
    shown = [AssetV1.of(a, today).body() for a in page.items]
    body = listing(shown, page.total, query, page.total_is_estimate)
    return json_response(body)


@endpoint(
    Endpoint(
        "Get an asset",
        TAG,
        Scope.ASSETS_READ,
        response=Single[AssetV1],
        errors=(401, 403, 404),
        versioned=True,
    )
)
async def get_asset(request: web.Request, principal: Principal) -> web.Response:
    asset = await service.get_asset(request_unit(request), principal.org_id, request.match_info["id"])
    return read_answer(request, {"data": _shown(asset)}, asset.id, asset.version)


@endpoint(
    Endpoint(
        "Create an asset",
        TAG,
        Scope.ASSETS_WRITE,
        body=AssetCreate,
        response=Single[AssetV1],
        status=201,
        errors=(400, 401, 403, 409, 413, 415),
        versioned=True,
    )
)
async def create_asset(request: web.Request, principal: Principal, body: AssetCreate) -> web.Response:
    asset = await service.create_asset(
        request_unit(request), caller_of(request, principal), body.model_dump(exclude_unset=True)
    )
    return _answer(asset, status=201, location=f"/v1/assets/{asset.id}")


@endpoint(
    Endpoint(
        "Change an asset",
        TAG,
        Scope.ASSETS_WRITE,
        body=AssetPatch,
        response=Single[AssetV1],
        errors=(400, 401, 403, 404, 409, 413, 415),
        description="Send only the fields to change; null clears an optional field.",
        versioned=True,
    )
)
async def patch_asset(request: web.Request, principal: Principal, body: AssetPatch) -> web.Response:
    try:
        asset = await service.update_asset(
            request_unit(request),
            caller_of(request, principal),
            request.match_info["id"],
            body.model_dump(exclude_unset=True),
            expected_of(request),
        )
    except StaleVersion as stale:
        raise _stale(stale) from None
    return _answer(asset)


@endpoint(
    Endpoint(
        "Delete an asset", TAG, Scope.ASSETS_WRITE, response=Message, errors=(401, 403, 404), versioned=True
    )
)
async def delete_asset(request: web.Request, principal: Principal) -> web.Response:
    uow, caller = request_unit(request), caller_of(request, principal)
    try:
        await service.delete_asset(uow, caller, request.match_info["id"], expected_of(request))
    except StaleVersion as stale:
        raise _stale(stale) from None
    return json_response({"message": "Asset deleted."})


@endpoint(
    Endpoint(
        "Change many assets",
        TAG,
        Scope.ASSETS_WRITE,
        body=AssetBulkPatch,
        response=Items[AssetV1],
        errors=(400, 401, 403, 409, 413, 415),
        description=(
            "Up to 1,000 assets' changes, each `{id, <fields>}` as a PATCH of one asset takes them, "
            "made all or nothing in one transaction: any bad item and nothing changes, the error "
            "naming the item (`data[3].purchase_price`). Each asset that changes gets its own "
            "`asset.updated` event and audit entry. The answer holds the assets in the order sent. "
            "Each item names a different asset."
        ),
    )
)
async def patch_assets(request: web.Request, principal: Principal, body: AssetBulkPatch) -> web.Response:
    changes = [(item.id, item.model_dump(exclude_unset=True, exclude={"id"})) for item in body.data]
    changed = await service.update_assets(request_unit(request), caller_of(request, principal), changes)
    return json_response({"data": [_shown(asset) for asset in changed]})


@endpoint(
    Endpoint(
        "Delete many assets",
        TAG,
        Scope.ASSETS_WRITE,
        body=AssetBulkDelete,
        response=BulkDeleted,
        errors=(400, 401, 403, 413, 415),
        description=(
            "Up to 1,000 assets by id, deleted all or nothing: an id that names no asset of the "
            "organisation (`ids[3]`) and nothing is deleted. Each asset gets its own "
            "`asset.deleted` event and audit entry."
        ),
    )
)
async def delete_assets(request: web.Request, principal: Principal, body: AssetBulkDelete) -> web.Response:
    deleted = await service.delete_assets(request_unit(request), caller_of(request, principal), body.ids)
    count = len(deleted)
    return json_response(
        {
            "message": f"{count} asset{'s' if count != 1 else ''} deleted.",
            "deleted": [str(a.id) for a in deleted],
        }
    )


def _shown(asset: Asset) -> dict[str, Any]:
    return AssetV1.of(asset, dt.date.today()).body()


def _answer(asset: Asset, *, status: int = 200, location: str | None = None) -> web.Response:
    """The answer showing one asset, with the ETag a read of it would give."""
    return versioned({"data": _shown(asset)}, asset.id, asset.version, status=status, location=location)


def _stale(stale: StaleVersion) -> Exception:
    asset = stale.current
    assert isinstance(asset, Asset)
    return precondition_failed("asset", {"data": _shown(asset)}, asset.id, asset.version)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/v1/assets", list_assets, allow_head=False),
        web.post("/v1/assets", create_asset),
        web.patch("/v1/assets", patch_assets),
        web.delete("/v1/assets", delete_assets),
        web.get("/v1/assets/{id}", get_asset, allow_head=False),
        web.patch("/v1/assets/{id}", patch_asset),
        web.delete("/v1/assets/{id}", delete_asset),
    ]
