"""/v1/audit-log, /v1/assets/:id/history and /v1/assets/:id/depreciation: what the worker derived."""

import datetime as dt

from aiohttp import web

from services.api.endpoint import Endpoint, endpoint, request_unit
from services.api.responses import json_response
from services.api.schemas.history import (
    AuditPageOut,
    AuditQuery,
    DepreciationBody,
    DepreciationQuery,
    HistoryQuery,
    audit_entry_out,
    depreciation_out,
)
from shared.domain.models import Principal, Scope
from shared.domain.queries import AuditFilter
from shared.services import history as service
from shared.services.history import AuditPage


def _page(page: AuditPage, limit: int) -> web.Response:
    return json_response(
        {
            "data": [audit_entry_out(e) for e in page.entries],
            "meta": {"limit": limit, "next_cursor": page.next_cursor},
        }
    )


@endpoint(
    Endpoint(
        "The audit log",
        "audit",
        Scope.ASSETS_READ,
        query=AuditQuery,
        response=AuditPageOut,
        errors=(400, 401, 403),
        description="One entry per change, newest first, kept after an asset is deleted. "
        "Follow `meta.next_cursor` for the next page.",
    )
)
async def audit_log(request: web.Request, principal: Principal, query: AuditQuery) -> web.Response:
    flt = AuditFilter(
        asset_id=query.asset_id, action=query.action, actor=query.actor, since=query.since, until=query.until
    )
    page = await service.audit_log(request_unit(request), principal.org_id, flt, query.cursor, query.limit)
    return _page(page, query.limit)


@endpoint(
    Endpoint(
        "An asset's history",
        "audit",
        Scope.ASSETS_READ,
        query=HistoryQuery,
        response=AuditPageOut,
        errors=(400, 401, 403, 404),
        description="Also answers after the asset was deleted.",
    )
)
async def asset_history(request: web.Request, principal: Principal, query: HistoryQuery) -> web.Response:
    page = await service.asset_history(
        request_unit(request), principal.org_id, request.match_info["id"], query.cursor, query.limit
    )
    return _page(page, query.limit)


@endpoint(
    Endpoint(
        "An asset's depreciation",
        "assets",
        Scope.ASSETS_READ,
        query=DepreciationQuery,
        response=DepreciationBody,
        errors=(400, 401, 403, 404),
        description="Straight-line schedule and the book value on `as_of` (default today); "
        "nulls and an empty schedule until the worker has computed one, or for "
        "`other` and assets without a cost.",
    )
)
async def asset_depreciation(
    request: web.Request, principal: Principal, query: DepreciationQuery
) -> web.Response:
    report = await service.depreciation(
        request_unit(request), principal.org_id, request.match_info["id"], query.as_of or dt.date.today()
    )
    return json_response({"data": depreciation_out(report)})


def routes() -> list[web.RouteDef]:
    return [
        web.get("/v1/audit-log", audit_log, allow_head=False),
        web.get("/v1/assets/{id}/history", asset_history, allow_head=False),
        web.get("/v1/assets/{id}/depreciation", asset_depreciation, allow_head=False),
    ]
