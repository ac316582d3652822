"""The v2 side of ids and names: integer ids in paths, and v2 field names in errors."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from aiohttp import web

from services.api.problems import ApiError
from shared.errors import FieldProblem, InvalidInput


def path_number(request: web.Request) -> int:
    """The integer id of the path (`/api/v2/<name>/{id}/`); anything else names nothing: 404."""
    text = request.match_info["id"]
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise ApiError(404, "Not found.")
    return int(text)


@contextmanager
def v2_field_names(name_of: Callable[[str], str]) -> Iterator[None]:
    """Re-raise a service's InvalidInput with each field under its v2 name."""
    try:
        yield
    except InvalidInput as exc:
        raise InvalidInput([FieldProblem(name_of(p.field), p.message) for p in exc.problems]) from exc
