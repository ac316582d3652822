"""Every route of the HTTP gateway, registered in one place."""

from aiohttp import web

from services.api.routes import (
    assets,
    catalog,
    docs,
    export,
    history,
    imports,
    operations,
    settings,
    webhooks,
)
from services.api.v2 import routes as v2


def setup_routes(app: web.Application) -> None:
    app.add_routes(operations.routes())
    app.add_routes(docs.routes())
    app.add_routes(export.routes())  # before /v1/assets/{id}, which would take /v1/assets/export
    app.add_routes(imports.routes())
    app.add_routes(assets.routes())
    app.add_routes(catalog.routes())
    app.add_routes(settings.routes())
    app.add_routes(history.routes())
    app.add_routes(webhooks.routes())
    app.add_routes(v2.routes())
    app.on_startup.append(docs.build_document)
