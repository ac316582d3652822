"""/v1/assets/export: every asset of the list's filters as one CSV or NDJSON file."""

import logging
from contextlib import aclosing
from typing import Any

from aiohttp import hdrs, web

from services.api.endpoint import REQUEST_ID_KEY, Endpoint, endpoint, request_unit
from services.api.middlewares import REQUEST_ID_HEADER
from services.api.schemas.export import ExportQuery
from shared.asset_columns import HUMAN_KEYS, ExportFormat
from shared.domain.models import Principal, Scope
from shared.domain.queries import AssetFilter
from shared.services import export as service

logger = logging.getLogger(__name__)

PATH = "/v1/assets/export"
# Each format's media type and charset (JSON is UTF-8 by definition).
CONTENT_TYPES: dict[ExportFormat, tuple[str, str | None]] = {
    ExportFormat.CSV: ("text/csv", "utf-8"),
    ExportFormat.NDJSON: ("application/x-ndjson", None),
}

_DESCRIPTION = (
    "Every asset that the list's filters (`q`, `status`, `asset_type_id`, `kind`) match, oldest "
    "first, as one file streamed from one consistent snapshot: writes made while it downloads are "
    "not in it. The columns are every field of the v1 asset, in its order, and right after each "
    "reference id the human key of the same object: "
    + "; ".join(f"`{key.column}` ({key.holds})" for key in HUMAN_KEYS)
    + ". CSV: a header row of the column names; null is an empty cell, dates are ISO 8601, amounts "
    "have two decimals, `custom_fields` is JSON text. NDJSON: one object per line with the same "
    "keys, values as in the v1 body."
)
_OPENAPI_CONTENT: dict[str, Any] = {
    "text/csv": {"schema": {"type": "string"}},
    "application/x-ndjson": {"schema": {"type": "string"}},
}
_OPENAPI_HEADERS: dict[str, Any] = {
    "Content-Disposition": {
        "description": "The file name, after the organisation's prefix and the UTC date: "
        '`attachment; filename="assets-ACME-2026-03-31.csv"` (`.ndjson` for NDJSON).',
        "required": True,
        "schema": {"type": "string"},
    }
}


@endpoint(
    Endpoint(
        "Export assets",
        "assets",
        Scope.ASSETS_READ,
        query=ExportQuery,
        errors=(400, 401, 403),
        description=_DESCRIPTION,
        extra={"content": _OPENAPI_CONTENT, "headers": _OPENAPI_HEADERS},
    )
)
async def export_assets(request: web.Request, principal: Principal, query: ExportQuery) -> web.StreamResponse:
    flt = AssetFilter(q=query.q, status=query.status, asset_type_id=query.asset_type_id, kind=query.kind)
    export = await service.export_assets(request_unit(request), principal.org_id, flt, query.format)
    async with aclosing(export.chunks) as chunks:
        # The snapshot is taken and the first rows read before anything is answered, so that a
        # failure up to here is still an error response of its own.
        first = await anext(chunks)
        response = web.StreamResponse(
            headers={
                hdrs.CONTENT_DISPOSITION: f'attachment; filename="{export.file_name}"',
                REQUEST_ID_HEADER: request[REQUEST_ID_KEY],
            }
        )
        response.content_type, charset = CONTENT_TYPES[query.format]
        if charset is not None:
            response.charset = charset
        await response.prepare(request)
        await response.write(first)
        try:
            async for chunk in chunks:
                await response.write(chunk)
        except ConnectionResetError:
            raise  # the client went away; closing the chunks gives their connection back
        except Exception:
            # The status line has gone out: no error response can follow. Cutting the connection
            # leaves the body without its end, which the client reports as a broken download.
            logger.exception("asset export broke off", extra={"request_id": request[REQUEST_ID_KEY]})
            if request.transport is not None:
                request.transport.close()
            return response
    await response.write_eof()
    return response


async def _method_not_allowed(request: web.Request) -> web.StreamResponse:
    # Without it, another method would fall through to /v1/assets/{id} and answer 404.
    raise web.HTTPMethodNotAllowed(request.method, [hdrs.METH_GET])


def routes() -> list[web.RouteDef]:
    return [
        web.get(PATH, export_assets, allow_head=False),
        web.route(hdrs.METH_ANY, PATH, _method_not_allowed),
    ]
