"""/openapi.json and /asyncapi.json, and the pages that show them, served with no internet: /docs
(Swagger UI 5 from the installed swagger-ui-py) and /docs/events (the AsyncAPI web component, kept
under static/asyncapi)."""

from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web
from swagger_ui.utils import SWAGGER_UI_PY_ROOT

from services.api.keys import SETTINGS
from services.api.openapi import build_openapi
from services.api.responses import json_response
from shared.asyncapi import build_asyncapi
from shared.topology import Topology

OPENAPI_KEY = web.AppKey("openapi", dict)
ASYNCAPI_KEY = web.AppKey("asyncapi", dict)
SWAGGER_DIR = SWAGGER_UI_PY_ROOT / "static"
ASYNCAPI_DIR = Path(__file__).parent.parent / "static" / "asyncapi"

_NAV = """<nav style="font: 14px sans-serif; padding: 8px 16px; border-bottom: 1px solid #ddd">
<a href="/docs">HTTP API</a> &middot; <a href="/docs/events">Events</a></nav>"""

_API_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>assetflow API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body>{_NAV}<div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true}});
</script>
</body></html>
"""

_EVENTS_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>assetflow events</title></head>
<body>{_NAV}
<asyncapi-component schemaUrl="/asyncapi.json" cssImportPath="/docs/events/static/default.min.css"
 config='{{"show": {{"sidebar": true}}}}'></asyncapi-component>
<script src="/docs/events/static/asyncapi-web-component.js"></script>
</body></html>
"""


async def build_document(app: web.Application) -> None:
    """Build the OpenAPI and AsyncAPI documents once, when every route is known."""
    app[OPENAPI_KEY] = build_openapi(app)
    settings = app[SETTINGS]
    broker = urlsplit(settings.amqp_url.get_secret_value())
    app[ASYNCAPI_KEY] = build_asyncapi(
        Topology(settings.events_prefix), f"{broker.hostname or 'localhost'}:{broker.port or 5672}"
    )


async def openapi(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI_KEY])


async def asyncapi(request: web.Request) -> web.Response:
    return json_response(request.app[ASYNCAPI_KEY])


async def docs(request: web.Request) -> web.Response:
    return web.Response(text=_API_PAGE, content_type="text/html")


async def event_docs(request: web.Request) -> web.Response:
    return web.Response(text=_EVENTS_PAGE, content_type="text/html")


def routes() -> list[web.RouteDef | web.StaticDef]:
    return [
        web.get("/openapi.json", openapi, allow_head=False),
        web.get("/asyncapi.json", asyncapi, allow_head=False),
        web.get("/docs", docs, allow_head=False),
        web.get("/docs/events", event_docs, allow_head=False),
        web.static("/docs/static", SWAGGER_DIR),
        web.static("/docs/events/static", ASYNCAPI_DIR),
    ]
