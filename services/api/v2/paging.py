"""Page-number pagination as Django REST framework answers it: {count, next, previous, results}."""

from typing import Any

from aiohttp import web

from services.api.problems import ApiError
from services.api.v2.schemas import V2Query


def offset_of(query: V2Query) -> int:
    return (query.page - 1) * query.size


def page_body(request: web.Request, query: V2Query, total: int, results: list[Any]) -> dict[str, Any]:
    """The page with absolute links to its neighbours; a page past the end is 404 "Invalid page."
    (the first page always exists, even when empty)."""
    last = max((total + query.size - 1) // query.size, 1)
    if query.page > last:
        raise ApiError(404, "Invalid page.")
    url = request.url
    next_link = str(url.update_query(page=query.page + 1)) if query.page < last else None
    if query.page == 1:
        previous = None
    elif query.page == 2:
        previous = str(url.without_query_params("page"))
    else:
        previous = str(url.update_query(page=query.page - 1))
    return {"count": total, "next": next_link, "previous": previous, "results": results}
