"""Idempotency-Key on every write (draft-ietf-httpapi-idempotency-key-header).

The first request with a key runs in one transaction with the keeping of its answer, so that a
crash leaves both or neither. The key is held (a transaction-scoped advisory lock) while that
request runs: a repeat meanwhile answers 409 at once rather than waiting or running twice. A
repeat afterwards with the same method, path, query and body gets the kept answer, marked
`Idempotent-Replayed: true`; with anything else, 422. Answers that say nothing about the
request itself are not kept, so that a retry runs again: 5xx; the caller's own 401, 403, 408
and 429; and 412 and 428, which answer the request's If-Match (not part of what makes two
requests the same) against the object as it was then.
"""

import hashlib
import re
from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web

from services.api.endpoint import REQUEST_ID_KEY, read_body
from services.api.keys import SETTINGS
from services.api.problems import ApiError, as_api_error, render
from shared.domain.idempotency import KeptAnswer, fingerprint
from shared.domain.models import Principal
from shared.errors import FieldProblem
from shared.services import idempotency as service
from shared.services.unit_of_work import UnitOfWork

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# 1 to 255 visible ASCII characters. One that is a structured field string (the draft's own form:
# in double quotes, without `"` or `\` inside) names the key within the quotes.
KEY_PATTERN = r"^[!-~]{1,255}$"
_KEY = re.compile(KEY_PATTERN)
_QUOTED = re.compile(r'^"([!#-\[\]-~]+)"$')
# The answers that are about the caller, the moment or the object's state rather than the
# request: never kept.
_NOT_KEPT = frozenset({401, 403, 408, 412, 428, 429})
# What of an answer is kept beside its status and body.
_KEPT_HEADERS = (hdrs.CONTENT_TYPE, hdrs.LOCATION, hdrs.ETAG)

Run = Callable[[], Awaitable[web.StreamResponse]]


def key_of(request: web.Request) -> str | None:
    """The request's Idempotency-Key, if it is a write that sent one; 400 for a bad one. A key
    sent as a structured-field string (in double quotes), as the draft writes it, is the text
    within the quotes; any other is taken as it is."""
    if request.method not in WRITE_METHODS:
        return None
    given = request.headers.getall(HEADER, None)
    if given is None:
        return None
    if len(given) > 1:
        raise _bad_key("is sent more than once")
    key = given[0]
    if not _KEY.match(key):
        raise _bad_key("must be 1 to 255 visible ASCII characters")
    quoted = _QUOTED.match(key)
    return quoted.group(1) if quoted else key


def _bad_key(reason: str) -> ApiError:
    return ApiError(400, f"The {HEADER} header {reason}.", [FieldProblem(HEADER, reason)])


async def body_digest(request: web.Request) -> bytes:
    """The SHA-256 of a JSON route's body (read once; the handler reads the same bytes)."""
    return hashlib.sha256(await read_body(request)).digest()


async def run_once(
    request: web.Request, uow: UnitOfWork, principal: Principal, key: str, digest: bytes, run: Run
) -> web.StreamResponse:
    """Run the write under its key, or answer what the key's first request was answered."""
    org_id = principal.org_id
    target = request.rel_url.raw_path_qs
    sent = fingerprint(request.method, target, digest)
    try:
        async with uow.transaction():
            if not await service.claim(uow, org_id, key):
                raise ApiError(
                    409,
                    f"A request with this {HEADER} is still running; retry once it has answered.",
                    code="IDEMPOTENCY_KEY_IN_USE",
                )
            kept = await service.kept_answer(uow, org_id, key)
            if kept is not None:
                if kept.fingerprint != sent:
                    raise ApiError(
                        422,
                        f"This {HEADER} was used for another request ({kept.method} {kept.path} with "
                        "its own body); send a new key with a new request.",
                        code="IDEMPOTENCY_KEY_REUSED",
                    )
                return _replay(kept)
            response = await _answer(request, uow, run)
            if not _keeps(response):
                raise _Undone(response)
            assert isinstance(response, web.Response)
            body = response.body if isinstance(response.body, bytes) else b""  # a 204 has none
            headers = {
                str(name): response.headers[name] for name in _KEPT_HEADERS if name in response.headers
            }
            answer = KeptAnswer(request.method, target, sent, response.status, headers, body)
            await service.keep_answer(uow, org_id, key, answer, request.app[SETTINGS].idempotency_ttl_hours)
            return response
    except _Undone as undone:
        return undone.response


async def _answer(request: web.Request, uow: UnitOfWork, run: Run) -> web.StreamResponse:
    """The handler's answer; an error that is the caller's (4xx) as its dialect renders it, so
    that it is kept. The handler runs in a savepoint: its failure undoes its writes, not the
    key's hold."""
    try:
        async with uow.transaction():
            return await run()
    except Exception as exc:
        error = as_api_error(exc)
        if error is None or error.status >= 500:
            raise
        return render(error, request, request.get(REQUEST_ID_KEY, ""))


def _keeps(response: web.StreamResponse) -> bool:
    return (
        isinstance(response, web.Response)
        and isinstance(response.body, bytes | None)  # None: no body (a 204)
        and response.status < 500
        and response.status not in _NOT_KEPT
    )


def _replay(kept: KeptAnswer) -> web.Response:
    headers = {**kept.headers, REPLAYED: "true"}
    return web.Response(status=kept.status, body=kept.body, headers=headers)


class _Undone(Exception):
    """Undoes the transaction of a write whose answer is not kept, and carries that answer."""

    def __init__(self, response: web.StreamResponse) -> None:
        super().__init__(response.status)
        self.response = response
