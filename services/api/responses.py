"""JSON responses of the gateway."""

from typing import Any

from aiohttp import web

from shared.jsonio import dumps


def json_response(
    body: Any,
    *,
    status: int = 200,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> web.Response:
    return web.Response(body=dumps(body), status=status, content_type=content_type, headers=headers)
