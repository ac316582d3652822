"""Request id, access log and metrics; errors in each dialect's shape; bearer authentication."""

import asyncio
import logging
import re
import time
import uuid

from aiohttp import web
from aiohttp.typedefs import Handler

from services.api.endpoint import PRINCIPAL_KEY, REQUEST_ID_KEY, UNIT_OF_WORK_KEY, endpoint_of
from services.api.idempotency import body_digest, key_of, run_once
from services.api.keys import APART_POOL, LIMITER, METRICS, POOL, SETTINGS
from services.api.problems import ApiError, as_api_error, is_v2, render
from services.api.rate_limits import Limiter, Standing, Throttled, client_address
from shared.domain.models import Principal
from shared.services.organisations import authenticate
from shared.services.unit_of_work import UnitOfWork, unit_of_work

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
# Where the budget that a request counted against stands (None while its storage is away).
RATE_LIMIT_KEY: web.RequestKey[Standing | None] = web.RequestKey("rate_limit")
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


# What the request log and metrics say of a request whose client went away before its answer
# (nginx's convention), rather than a 500 that would page somebody for a dropped upload.
CLIENT_CLOSED_REQUEST = 499


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give each request an id (the client's if it sent a sane one), log it, and count it."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = given if _CLIENT_REQUEST_ID.match(given) else uuid.uuid4().hex
    request[REQUEST_ID_KEY] = request_id
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers[REQUEST_ID_HEADER] = request_id
        return response
    except (ConnectionResetError, asyncio.CancelledError):
        # The client went away: its upload broke off, or aiohttp cancelled the handler.
        status = CLIENT_CLOSED_REQUEST
        raise
    finally:
        elapsed = time.perf_counter() - started
        route = _route_name(request)
        request.app[METRICS].observe(request.method, route, status, elapsed)
        logger.info(
            "request",
            extra={
                "request_id": request_id,
                "method": request.method,
                "path": request.path,
                "route": route,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
            },
        )


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error answered in the dialect of the route; never a bare 500 page."""
    try:
        return await handler(request)
    except ConnectionResetError:
        raise  # the client went away mid-request: nobody to answer, and nothing of ours failed
    except Exception as exc:
        error = as_api_error(exc)
        if error is None:
            if isinstance(exc, web.HTTPException):
                raise
            logger.exception("unhandled error", extra={"request_id": request.get(REQUEST_ID_KEY)})
            error = ApiError(500, "Something went wrong on our side; the request id names it.")
        return render(error, request, request.get(REQUEST_ID_KEY, ""))


def _unauthorized(detail: str, token_error: str | None = None) -> ApiError:
    challenge = 'Bearer realm="assetflow"'
    if token_error:
        challenge += f', error="{token_error}"'
    return ApiError(401, detail, headers={"WWW-Authenticate": challenge})


@web.middleware
async def bearer_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate the bearer token of every route that needs a scope.

    Each such request has one unit of work for its use cases, which keeps the connection of its
    first statement until the handler has answered. A write with an Idempotency-Key runs under
    it (services/api/idempotency.py), its body read before any connection is taken. A request
    without a body checks its token through it, so that a read takes one connection from the
    pool rather than two in turn; a request with a body checks its token on a connection of its
    own, given back at once: no connection waits on a client's upload.
    """
    spec = endpoint_of(request.match_info.handler)
    if spec is None or spec.scope is None:
        return await handler(request)
    limiter = request.app[LIMITER]
    pool = request.app[POOL]
    async with unit_of_work(pool, request.app[APART_POOL]) as uow:
        principal = await _authenticated(request, unit_of_work(pool) if request.body_exists else uow, limiter)
        request[PRINCIPAL_KEY] = principal
        if limiter is not None:
            try:
                budgets = limiter.budgets(principal, request.method)
                request[RATE_LIMIT_KEY] = (
                    limiter.spend_here(budgets) if limiter.counts_here else await limiter.spend(budgets)
                )
            except Throttled as exc:
                raise _throttled(request, exc) from None
        request[UNIT_OF_WORK_KEY] = uow
        try:
            key = key_of(request)
            if key is not None and not spec.streams_body:
                digest = await body_digest(request)
                return await run_once(request, uow, principal, key, digest, lambda: handler(request))
            return await handler(request)
        finally:
            del request[UNIT_OF_WORK_KEY]  # its connection goes back to the pool: nobody may use it again


async def _authenticated(request: web.Request, uow: UnitOfWork, limiter: Limiter | None) -> Principal:
    """The principal of the request's token. A request without a working token counts against
    its client address's budget, and an address whose budget is spent has no token checked."""
    if limiter is None:
        return await _principal(uow, request.headers.get("Authorization", ""))
    try:
        if limiter.has_suspects():  # else no address can have spent its budget here
            address = client_address(request, request.app[SETTINGS].trusted_proxy_networks)
            if limiter.suspect(address):
                await limiter.check_spent(limiter.address_budget(address, request.method))
        return await _principal(uow, request.headers.get("Authorization", ""))
    except Throttled as exc:
        raise _throttled(request, exc) from None
    except ApiError:
        address = client_address(request, request.app[SETTINGS].trusted_proxy_networks)
        await limiter.count(limiter.address_budget(address, request.method))
        raise


def _throttled(request: web.Request, exc: Throttled) -> ApiError:
    """429 in the dialect of the route, with Retry-After and the spent budget's headers."""
    request[RATE_LIMIT_KEY] = exc.standing
    budget = exc.standing.budget
    wait = exc.retry_after(time.time())
    headers = {"Retry-After": str(wait)}
    if is_v2(request):
        # Django REST framework's own throttling answer.
        unit = "second" if wait == 1 else "seconds"
        return ApiError(429, f"Request was throttled. Expected available in {wait} {unit}.", headers=headers)
    if budget.owner == "address":
        detail = (
            f"Too many requests without a working token from this address ({budget.limit}); "
            f"try again in {wait} s."
        )
    else:
        whose = "This token's" if budget.owner == "token" else "This organisation's"
        detail = f"{whose} {budget.kind} budget ({budget.limit}) is spent; try again in {wait} s."
    item = budget.item
    members: dict[str, object] = {
        "budget": {
            "owner": budget.owner,
            "class": budget.kind,
            "quota": item.amount,
            "window_seconds": item.get_expiry(),
        }
    }
    return ApiError(429, detail, headers=headers, members=members)


async def rate_limit_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer to a request that counted against a budget says where that budget stands."""
    standing = request.get(RATE_LIMIT_KEY)
    if standing is not None:
        response.headers.extend(standing.headers(time.time()))


async def _principal(uow: UnitOfWork, header: str) -> Principal:
    scheme, _, given = header.partition(" ")
    token = given.strip()
    if not header:
        raise _unauthorized("Authentication required: send Authorization: Bearer <token>.")
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("The Authorization header must be 'Bearer <token>'.", "invalid_request")
    principal = await authenticate(uow, token)
    if principal is None:
        raise _unauthorized("The token is unknown, revoked or expired.", "invalid_token")
    return principal
