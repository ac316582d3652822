"""Errors as each dialect writes them: v1 RFC 9457 problem documents, v2 Django REST framework."""

from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Literal

import asyncpg
from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from services.api.responses import json_response
from services.api.schemas.common import NOT_BLANK
from shared.errors import Conflict, FieldProblem, InvalidInput, NotFound

PROBLEM_CONTENT_TYPE = "application/problem+json"

CODES = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    412: "PRECONDITION_FAILED",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "UNPROCESSABLE_CONTENT",
    428: "PRECONDITION_REQUIRED",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


@dataclass
class ApiError(Exception):
    """An error answer: status, a sentence for people, and the fields or parameters at fault."""

    status: int
    detail: str
    problems: list[FieldProblem] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    code: str | None = None
    members: dict[str, object] = field(default_factory=dict)  # more of a v1 problem document

    def __str__(self) -> str:
        return self.detail


def bad_request(problems: list[FieldProblem], what: str = "The request") -> ApiError:
    names = ", ".join(dict.fromkeys(p.field for p in problems))
    return ApiError(400, f"{what} is not valid: {names}.", problems)


def _location(parts: tuple[int | str, ...]) -> str:
    """A place in a body as a JavaScript path names it: `data[3].custom_fields.size`."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def problems_from_validation(exc: ValidationError, source: str) -> list[FieldProblem]:
    """One problem per pydantic error, named by its dotted location in the body or query."""
    found: list[FieldProblem] = []
    for error in exc.errors(include_url=False):
        location = _location(error["loc"]) or source
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "is not a known field" if source == "body" else "is not a known parameter"
        elif error["type"] == "string_pattern_mismatch" and error.get("ctx", {}).get("pattern") == NOT_BLANK:
            message = "must not be blank"
        elif error["type"] == "json_invalid":
            message = f"is not valid JSON ({error.get('ctx', {}).get('error', 'syntax error')})"
        found.append(FieldProblem(location, message))
    return found


def is_v2(request: web.Request) -> bool:
    """Whether the route is the v2 dialect's, whose errors are Django REST framework's."""
    return request.path.startswith("/api/v2/")


def as_api_error(exc: Exception) -> ApiError | None:
    """The answer for an error that is the caller's, not ours; None for anything else."""
    match exc:
        case ApiError():
            return exc
        case NotFound():
            return ApiError(404, str(exc))
        case InvalidInput():
            names = ", ".join(dict.fromkeys(p.field for p in exc.problems))
            return ApiError(400, f"The request is not valid: {names}.", exc.problems)
        case Conflict():
            return ApiError(409, str(exc))
        case web.HTTPRequestEntityTooLarge():
            return ApiError(413, f"The body is too large: {exc.text}")
        case web.HTTPMethodNotAllowed():
            allowed = ", ".join(sorted(exc.allowed_methods))
            return ApiError(
                405, f"{exc.method} is not allowed here; use {allowed}.", headers={"Allow": allowed}
            )
        case web.HTTPNotFound():
            return ApiError(404, "No such resource.")
        case web.HTTPException() if exc.status >= 400:
            return ApiError(exc.status, exc.reason)
        case asyncpg.ForeignKeyViolationError():
            return ApiError(409, "An object this change refers to was changed or deleted meanwhile.")
    return None


def render(error: ApiError, request: web.Request, request_id: str) -> web.Response:
    """The error in the dialect of the route."""
    if is_v2(request):
        return render_v2(error)
    return render_v1(error, request, request_id)


def render_v1(error: ApiError, request: web.Request, request_id: str) -> web.Response:
    """An RFC 9457 problem document with Uslimato's `error` and `code` members."""
    code = error.code or CODES.get(error.status, "ERROR")
    title = HTTPStatus(error.status).phrase if error.status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, object] = {
        "type": f"https://assetflow.dev/problems/{code.lower().replace('_', '-')}",
        "title": title,
        "status": error.status,
        "detail": error.detail,
        "instance": request.path,
        "error": error.detail,
        "code": code,
        "request_id": request_id,
    }
    if error.problems:
        body["errors"] = [{"field": p.field, "message": p.message} for p in error.problems]
    body.update(error.members)
    return json_response(body, status=error.status, content_type=PROBLEM_CONTENT_TYPE, headers=error.headers)


def render_v2(error: ApiError) -> web.Response:
    """Django REST framework's shapes: {"detail": ...} or {"field": ["message", ...]}."""
    if error.status == 400 and error.problems:
        body: dict[str, object] = {}
        for p in error.problems:
            messages = body.setdefault(p.field, [])
            assert isinstance(messages, list)
            messages.append(p.message)
    else:
        body = {"detail": error.detail}
    return json_response(body, status=error.status, headers=error.headers)


class FieldError(BaseModel):
    field: str
    message: str


class SpentBudget(BaseModel):
    """The budget that a 429 found spent."""

    owner: Literal["token", "organisation", "address"]
    class_: Literal["read", "write"] = Field(alias="class")
    quota: int
    window_seconds: int


class ProblemDocument(BaseModel):
    """An RFC 9457 problem document with Uslimato's `error` and `code` members."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    error: str
    code: str
    request_id: str
    errors: list[FieldError] | None = None
    budget: SpentBudget | None = None
