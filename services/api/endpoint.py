"""Declaring an endpoint: its scope, query, body and response models, from which both the
validation of each request and the OpenAPI document are made."""

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Any

from aiohttp import hdrs, web
from aiohttp.web_protocol import RequestPayloadError
from pydantic import BaseModel, ValidationError

from services.api.keys import APART_POOL, POOL
from services.api.problems import ApiError, bad_request, problems_from_validation
from services.api.schemas.assets import AMOUNT_RULE, at_most_two_decimals
from services.api.schemas.common import RequestBody
from shared.domain.models import Caller, Principal, Scope
from shared.errors import FieldProblem
from shared.services.unit_of_work import UnitOfWork, unit_of_work

Handler = Callable[..., Awaitable[web.StreamResponse]]

PRINCIPAL_KEY = web.RequestKey("principal", Principal)
REQUEST_ID_KEY = web.RequestKey("request_id", str)
UNIT_OF_WORK_KEY: web.RequestKey[UnitOfWork] = web.RequestKey("unit_of_work")

JSON_TYPES = ("application/json",)


@dataclass(frozen=True)
class Endpoint:
    """What an endpoint takes and gives, as the OpenAPI document tells it."""

    summary: str
    tag: str
    scope: Scope | None
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    dialect: str = "v1"
    description: str | None = None
    # One object, answered with its ETag: a read takes If-None-Match, a change or delete If-Match.
    versioned: bool = False
    # The body is read by the handler as it arrives (an import's file), which then answers a
    # repeated Idempotency-Key itself (services/api/idempotency.py) once it has the whole body.
    streams_body: bool = False
    # Raises the answer for a route that cannot serve at all (webhooks without their key), before
    # the query and body are read: so the caller learns that first.
    precheck: Callable[[web.Request], None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def caller_of(request: web.Request, principal: Principal) -> Caller:
    """The principal of a write, with the request it came in."""
    return Caller(
        org_id=principal.org_id,
        token_id=principal.token_id,
        token_name=principal.token_name,
        request_id=request[REQUEST_ID_KEY],
    )


def request_unit(request: web.Request) -> UnitOfWork:
    """The unit of work of a handler's use cases: the request's own, which takes a connection at
    its first statement and gives it back once the request is answered."""
    return request.get(UNIT_OF_WORK_KEY) or unit_of_work(request.app[POOL], request.app[APART_POOL])


def endpoint_of(handler: Any) -> Endpoint | None:
    return getattr(handler, "__endpoint__", None)


def parse_query(request: web.Request, model: type[BaseModel]) -> BaseModel:
    """The query string as a model; a repeated or unknown parameter is a 400 naming it."""
    values: dict[str, str] = {}
    repeated: list[FieldProblem] = []
    for key, value in request.query.items():
        if "\x00" in key or "\x00" in value:
            raise bad_request(
                [FieldProblem(key.replace("\x00", ""), "must not contain NUL characters")], "The query"
            )
        if key in values:
            repeated.append(FieldProblem(key, "is given more than once"))
        values[key] = value
    if repeated:
        raise bad_request(repeated, "The query")
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise bad_request(problems_from_validation(exc, "query"), "The query") from exc


# A JSON escape of NUL: `\u0000` whose backslash is not itself escaped (`\\u0000` is the text
# "\u0000", no NUL at all). Raw NUL bytes are not valid JSON and fail parsing anyway.
_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")

NUL_RULE = "must not contain NUL (\\u0000)"


def _nul_places(raw: bytes) -> list[str]:
    """Where the body's NULs are, each named as a field is (`custom_fields.specs[2]`; a member's
    name that holds one is named too); `body` when the body is not JSON at all."""
    try:
        found = json.loads(raw)
    except ValueError:
        return ["body"]
    places: list[str] = []

    def walk(value: Any, place: str) -> None:
        if isinstance(value, str) and "\0" in value:
            places.append(place or "body")
        elif isinstance(value, dict):
            for key, item in value.items():
                inner = f"{place}.{key}" if place else key
                if "\0" in key:
                    places.append(inner.replace("\0", "\\u0000"))
                walk(item, inner.replace("\0", "\\u0000"))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{place}[{index}]")

    walk(found, "")
    return list(dict.fromkeys(places)) or ["body"]


# What aiohttp itself decodes (brotli only with a package this service does not install).
BODY_ENCODINGS = frozenset({"identity", "gzip", "deflate"})


async def read_body(request: web.Request) -> bytes:
    """The whole body, decoded as its Content-Encoding says (415 for one aiohttp cannot decode, 400
    for a body that is not what it claims). Read once: a second call answers the same bytes."""
    encoding = request.headers.get(hdrs.CONTENT_ENCODING, "identity").strip().lower()
    if encoding not in BODY_ENCODINGS:
        raise ApiError(
            415,
            f"The body's Content-Encoding {encoding!r} is not supported; "
            f"send it as {', '.join(sorted(BODY_ENCODINGS))}.",
        )
    try:
        return await request.read()
    except RequestPayloadError as exc:  # not the encoding it claims, or cut short
        reason = f"is not valid {encoding}" if encoding != "identity" else "ended before its length"
        error = bad_request([FieldProblem("body", reason)], "The body")
        # The rest of the stream cannot be read, so the server closes the connection after the
        # answer; saying so keeps a client from sending its next request down it.
        error.headers["Connection"] = "close"
        raise error from exc


async def parse_body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    """The JSON body as a model; the wrong content type is 415, anything malformed a 400."""
    if request.content_type not in JSON_TYPES:
        raise ApiError(
            415,
            f"The body must be JSON (Content-Type: application/json), "
            f"not {request.content_type or 'nothing'}.",
        )
    raw = await read_body(request)
    if not raw.strip():
        raise bad_request([FieldProblem("body", "is empty; send a JSON object")], "The body")
    if _ESCAPED_NUL.search(raw):  # PostgreSQL text cannot hold NUL
        raise bad_request([FieldProblem(place, NUL_RULE) for place in _nul_places(raw)], "The body")
    try:
        body = model.model_validate_json(raw)
    except ValidationError as exc:
        problems = problems_from_validation(exc, "body")
        if any(e["type"] == "model_type" for e in exc.errors()):
            problems = [FieldProblem("body", "must be a JSON object")]
        raise bad_request(problems, "The body") from exc
    if isinstance(body, RequestBody):
        _check_strict_fields(body, raw)
    return body


def _check_strict_fields(body: RequestBody, raw: bytes) -> None:
    """What pydantic does not check: not-null fields sent as null, and amounts with more than two
    decimals (read again from the JSON, exactly). A bulk body's items are each checked so, each
    named by its place (`data[3].name`)."""

    @cache
    def exact() -> dict[str, Any]:
        found: dict[str, Any] = json.loads(raw, parse_float=Decimal)
        return found

    def item(field: str, index: int) -> Callable[[], dict[str, Any]]:
        return lambda: exact()[field][index]  # type: ignore[no-any-return]

    field = body.items_field
    parts: list[tuple[str, RequestBody, Callable[[], dict[str, Any]]]] = (
        [("", body, exact)]
        if field is None
        else [
            (f"{field}[{index}].", part, item(field, index))
            for index, part in enumerate(getattr(body, field))
        ]
    )
    if nulls := [f"{place}{name}" for place, part, _ in parts for name in part.null_fields()]:
        raise bad_request([FieldProblem(name, "may be left out but not null") for name in nulls], "The body")
    inexact = [
        f"{place}{name}"
        for place, part, json_of in parts
        if (amounts := part.exact_amounts & part.model_fields_set)
        for name in _inexact_amounts(json_of(), amounts)
    ]
    if inexact:
        raise bad_request([FieldProblem(name, AMOUNT_RULE) for name in inexact], "The body")


def _inexact_amounts(exact: dict[str, Any], names: frozenset[str]) -> list[str]:
    """The amounts among `names` sent as JSON numbers with more than two decimals, in the body's
    JSON object read exactly (it is valid JSON and an object: pydantic has just read it)."""
    return [
        name
        for name in sorted(names)
        if isinstance(exact.get(name), Decimal) and not at_most_two_decimals(exact[name])
    ]


def endpoint(spec: Endpoint) -> Callable[[Handler], Handler]:
    """Wrap a handler so that it receives the principal and its parsed query and body."""

    def wrap(handler: Handler) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            kwargs: dict[str, Any] = {}
            if spec.scope is not None:
                principal = request.get(PRINCIPAL_KEY)
                if principal is None:  # the auth middleware answers 401 before this
                    raise ApiError(401, "Authentication required.")
                if spec.scope not in principal.scopes:
                    raise ApiError(
                        403,
                        f"This token lacks the {spec.scope} scope.",
                        headers={
                            "WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{spec.scope}"'
                        },
                    )
                kwargs["principal"] = principal
            if spec.precheck is not None:
                spec.precheck(request)
            if spec.query is not None:
                kwargs["query"] = parse_query(request, spec.query)
            if spec.body is not None:
                kwargs["body"] = await parse_body(request, spec.body)
            return await handler(request, **kwargs)

        handle.__endpoint__ = spec  # type: ignore[attr-defined]
        handle.__name__ = handler.__name__
        handle.__doc__ = handler.__doc__
        return handle

    return wrap


def methods_only(*allowed: str) -> Handler:
    """A handler for any other method of a fixed path that a `{id}` route beside it would take
    (`/v1/assets/import` and `/v1/assets/{id}`): 405 naming only the path's own methods."""

    async def refuse(request: web.Request) -> web.StreamResponse:
        raise web.HTTPMethodNotAllowed(request.method, list(allowed))

    return refuse
