"""The integer ids of v2 paths."""

from aiohttp import web

from services.api.problems import ApiError


def path_number(request: web.Request) -> int:
    """The integer id of the path (`/api/v2/<name>/{id}/`); anything else names nothing: 404."""
    text = request.match_info["id"]
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise ApiError(404, "Not found.")
    return int(text)
