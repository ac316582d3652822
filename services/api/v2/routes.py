"""Every v2 route. Each answers with and without its trailing slash, as the document's own
examples write both (`/api/v2/asset/?company=1`, `/asset?company=1`)."""

from aiohttp import web

from services.api.v2 import assets, companions


def routes() -> list[web.RouteDef]:
    found = [*assets.routes(), *companions.routes()]
    aliases = [
        web.RouteDef(r.method, r.path.removesuffix("/"), r.handler, {**r.kwargs})
        for r in found
        if r.path.endswith("/")
    ]
    return found + aliases
