"""ETags and conditional requests: If-None-Match on reads (304), If-Match on writes (412, 428).

An object's ETag is strong and names three things: its id, its version (the count of its
writes) and a digest of the answer's body. The digest is there because an answer shows more than
the object's own row (the names of what it refers to, what the worker derives, today's warranty
status), which can change while the version does not: a read's ETag changes exactly when its
answer does, so a 304 never hides a change. A write's If-Match is held against the id and the
version only, under the row's lock in the write's transaction: what the worker derived since the
client read the object is no reason to refuse its edit.
"""

import hashlib
import re
from typing import Any
from uuid import UUID

from aiohttp import hdrs, web

from services.api.keys import SETTINGS
from services.api.problems import ApiError
from services.api.responses import json_response
from shared.domain.versions import Expected
from shared.jsonio import dumps

# A comma-separated list of entity-tags (RFC 9110 §8.8.3): each an optional weakness mark and a
# quoted opaque tag of visible ASCII but `"`.
_TAG_LIST = re.compile(r'[ \t]*(W/)?"[!#-~]*"([ \t]*,[ \t]*(W/)?"[!#-~]*")*[ \t]*')
_ENTITY_TAG = re.compile(r'(W/)?"([!#-~]*)"')
# The opaque part of an ETag of ours.
_OURS = re.compile(
    r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.([1-9][0-9]{0,9})\.[0-9a-f]{12}$"
)


def etag_of(row_id: UUID, version: int, body: bytes) -> str:
    """The ETag of an answer showing version `version` of object `row_id` as `body`."""
    return f'"{row_id}.{version}.{hashlib.blake2b(body, digest_size=6).hexdigest()}"'


def versioned(
    body: Any,
    row_id: UUID,
    version: int,
    *,
    status: int = 200,
    location: str | None = None,
) -> web.Response:
    """A JSON answer showing one object, with its ETag (and its Location, for a create)."""
    response = json_response(body, status=status)
    assert isinstance(response.body, bytes)
    response.headers[hdrs.ETAG] = etag_of(row_id, version, response.body)
    if location is not None:
        response.headers[hdrs.LOCATION] = location
    return response


def read_answer(request: web.Request, body: Any, row_id: UUID, version: int) -> web.Response:
    """The answer of a read of one object: 304 with no body when If-None-Match names its ETag."""
    response = versioned(body, row_id, version)
    given = request.headers.getall(hdrs.IF_NONE_MATCH, None)
    if given is not None and _none_match_hits(", ".join(given), response.headers[hdrs.ETAG]):
        return web.Response(status=304, headers={hdrs.ETAG: response.headers[hdrs.ETAG]})
    return response


def _none_match_hits(header: str, etag: str) -> bool:
    """Whether If-None-Match names the ETag (weak comparison: W/ aside) or is `*`. A malformed
    header names nothing, so the read answers in full."""
    if header.strip() == "*":
        return True
    tags = _entity_tags(header)
    return tags is not None and any(opaque == etag[1:-1] for _, opaque in tags)


def _entity_tags(header: str) -> list[tuple[bool, str]] | None:
    """The (weak, opaque) entity-tags of a list; None when it is not one."""
    if not _TAG_LIST.fullmatch(header):
        return None
    return [(weak == "W/", opaque) for weak, opaque in _ENTITY_TAG.findall(header)]


def expected_of(request: web.Request) -> Expected | None:
    """What a write's If-Match asks of the object: None without one (428 instead when the
    settings require it), any version for `*`, else the versions its strong ETags name. A header
    that is not a list of ETags, and an ETag that is weak or not ours, name no version: the
    condition is false, and the write answers 412."""
    given = request.headers.getall(hdrs.IF_MATCH, None)
    if given is None:
        if request.app[SETTINGS].require_if_match:
            raise ApiError(
                428,
                "This write needs an If-Match header naming the ETag of the version it changes "
                "(read the object first); the server requires it (REQUIRE_IF_MATCH).",
                code="PRECONDITION_REQUIRED",
            )
        return None
    header = ", ".join(given)
    if header.strip() == "*":
        return Expected(any_version=True)
    versions = set()
    for weak, opaque in _entity_tags(header) or ():
        if not weak and (ours := _OURS.match(opaque)):
            versions.add((UUID(ours.group(1)), int(ours.group(2))))
    return Expected(frozenset(versions))


def precondition_failed(what: str, current_body: Any, row_id: UUID, version: int) -> ApiError:
    """412 for a write whose If-Match names another version, with the current ETag."""
    current = etag_of(row_id, version, dumps(current_body))
    return ApiError(
        412,
        f"The {what} has changed since the version If-Match names, and nothing was changed; "
        "its current ETag is in the ETag header: read it again and retry.",
        headers={hdrs.ETAG: current},
        code="PRECONDITION_FAILED",
    )
