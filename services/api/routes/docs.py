"""/openapi.json and /docs, the Swagger UI served from the installed package (no internet)."""

from pathlib import Path
from urllib.parse import urlsplit

import swagger_ui_bundle
from aiohttp import web

from services.api.keys import SETTINGS
from services.api.openapi import build_openapi
from services.api.responses import json_response
from shared.asyncapi import build_asyncapi
from shared.topology import Topology

OPENAPI_KEY = web.AppKey("openapi", dict)
ASYNCAPI_KEY = web.AppKey("asyncapi", dict)
SWAGGER_DIR = Path(swagger_ui_bundle.swagger_ui_path)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>assetflow API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui"});</script>
</body></html>
"""


async def build_document(app: web.Application) -> None:
    """Build the OpenAPI and AsyncAPI documents once, when every route is known."""
    app[OPENAPI_KEY] = build_openapi(app)
    settings = app[SETTINGS]
    broker = urlsplit(settings.amqp_url)
    app[ASYNCAPI_KEY] = build_asyncapi(
        Topology(settings.events_prefix), f"{broker.hostname or 'localhost'}:{broker.port or 5672}"
    )


async def openapi(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI_KEY])


async def asyncapi(request: web.Request) -> web.Response:
    return json_response(request.app[ASYNCAPI_KEY])


async def docs(request: web.Request) -> web.Response:
    return web.Response(text=_PAGE, content_type="text/html")


def routes() -> list[web.RouteDef | web.StaticDef]:
    return [
        web.get("/openapi.json", openapi, allow_head=False),
        web.get("/asyncapi.json", asyncapi, allow_head=False),
        web.get("/docs", docs, allow_head=False),
        web.static("/docs/static", SWAGGER_DIR),
    ]
