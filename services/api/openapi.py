"""The OpenAPI 3.1 document, made from the endpoints' own pydantic models."""

import re
from http import HTTPStatus
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

from services.api.endpoint import Endpoint, endpoint_of
from services.api.idempotency import KEY_PATTERN
from services.api.problems import ProblemDocument
from services.api.schemas.common import NO_NUL
from services.api.v2.schemas import Detail, FieldMessages
from shared.events import (
    ASSET_CHANGE_TYPES,
    AssetChangeEvent,
    CoverageNoticeEvent,
    EventType,
    WebhookDisabledEvent,
    WebhookPingEvent,
)

_REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"\{(\w+)\}")
_ERROR_TEXT = {
    400: "The request is not valid; `errors` names each field or parameter.",
    401: "Missing, unknown, revoked or expired token.",
    403: "The token lacks the scope this operation needs.",
    404: "No such object in this organisation.",
    409: "The change conflicts with other objects, or a request with the same Idempotency-Key is "
    "still running (`code: IDEMPOTENCY_KEY_IN_USE`; retry once it has answered).",
    413: "The body is too large.",
    415: "The body is not of a media type this operation takes (JSON, or an import's CSV or NDJSON).",
    422: "The Idempotency-Key was sent before with another request (`code: IDEMPOTENCY_KEY_REUSED`: "
    "another method, path, query or body); for an import, also: rows of the file are bad (`code: "
    "IMPORT_REJECTED`, `errors` names each row, field and problem). Nothing was written.",
    412: "If-Match names another version than the object's current one (`code: PRECONDITION_FAILED`): "
    "nothing was changed. The `ETag` header gives the current version's ETag.",
    428: "The server requires If-Match on every change and delete (REQUIRE_IF_MATCH) and this one "
    "has none (`code: PRECONDITION_REQUIRED`): nothing was changed.",
    429: "A budget is spent (the token's, its organisation's, or the client address's for tokens that "
    "do not work); `Retry-After` says when to try again. Nothing was done.",
    503: "A dependency is unreachable.",
}

# What every answer to a request that counted against a budget carries (not when limiting is off).
_RATE_HEADERS: dict[str, dict[str, Any]] = {
    "RateLimit-Policy": {
        "description": "The budget the request counted against (the tightest when several apply), as "
        'draft-ietf-httpapi-ratelimit-headers defines it: `"token-read";q=1200;w=60` (quota `q` '
        "requests per window of `w` seconds). Policies: `token-read`, `token-write`, "
        "`organisation-read`, `organisation-write`, `address`.",
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": 'What is left of that budget: `"token-read";r=1199;t=60` (`r` requests '
        "remaining, `t` seconds until the next comes back).",
        "schema": {"type": "string"},
    },
    "X-RateLimit-Limit": {"description": "The budget's quota.", "schema": {"type": "integer"}},
    "X-RateLimit-Remaining": {"description": "Requests left in the window.", "schema": {"type": "integer"}},
    "X-RateLimit-Reset": {
        "description": "When the next request's worth comes back, in Unix seconds.",
        "schema": {"type": "integer"},
    },
}
_ETAG = {
    "description": 'The object\'s strong ETag, `"<id>.<version>.<digest>"`: its id, its version '
    "(the count of its writes) and a digest of this answer's body. It changes exactly when the answer "
    "does; If-Match is held against its id and version.",
    "schema": {"type": "string"},
}
_LOCATION = {"description": "Where the new object is read.", "schema": {"type": "string"}}
_REPLAYED = {
    "description": "`true` on the kept answer of an earlier request with the same Idempotency-Key: "
    "the write was not done again.",
    "schema": {"type": "string", "enum": ["true"]},
}
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes the write safe to retry (draft-ietf-httpapi-idempotency-key-header): the "
    "first request with a key runs, and its answer is kept with the key for the organisation for "
    "IDEMPOTENCY_TTL_HOURS (24 by default); a repeat with the same method, path, query and body gets "
    "that answer again with `Idempotent-Replayed: true`. Answers of 5xx, 401, 403, 408, 412, 428 and "
    "429 are not kept, nor those given before the key is looked at (a body too large or not what its "
    "encoding says). 1 to 255 visible ASCII characters; a structured-field string (in double quotes, "
    'without `"` or `\\` inside, as the draft writes it) names the key within the quotes. Whether a '
    "key was used before, and for which request, is state: a key sent again with another request is "
    "a 422.",
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": KEY_PATTERN,
    },
}
_IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": "Change only if the object is at the version one of these ETags names (or `*`: at "
    "any version); else 412 and nothing changes. The check and the write are one transaction. "
    "Required when the server runs with REQUIRE_IF_MATCH=true (428 without it). Whether a value "
    "names the current version is the object's state, which no schema can state: any other value "
    "(a stale, weak or foreign ETag, or text that is no list of ETags) is a 412.",
    "schema": {"type": "string"},
}
_IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "An ETag (or several, or `*`) of an earlier answer: 304 with no body when the "
    "answer would be the same.",
    "schema": {"type": "string"},
}
_WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})

_RETRY_AFTER = {
    "description": "Whole seconds to wait before the budget has room again (at least 1).",
    "schema": {"type": "integer", "minimum": 1},
}


class RequestSchemas(GenerateJsonSchema):
    """Pydantic's JSON Schema, with NO_NUL on every string a request may send that has no pattern
    or format of its own (tests/unit/test_openapi_strings.py checks that those exclude NUL too)."""

    def str_schema(self, schema: core_schema.StringSchema) -> JsonSchemaValue:
        found = super().str_schema(schema)
        if self.mode == "validation" and "pattern" not in found and "format" not in found:
            found["pattern"] = NO_NUL
        return found


def _header_refs(*names: str) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def _models(specs: list[Endpoint]) -> list[tuple[type[BaseModel], str]]:
    """Each model in the mode it is used in: bodies as they are read (validation), responses and
    errors as they are written (serialization). A model rendered in a mode it is never used in
    would be an unreferenced `-Input`/`-Output` twin, which client generators count as a duplicate."""
    found: dict[tuple[type[BaseModel], str], None] = {
        (ProblemDocument, "serialization"): None,
        (Detail, "serialization"): None,
        (FieldMessages, "serialization"): None,
    }
    for spec in specs:
        if spec.body is not None:
            found.setdefault((spec.body, "validation"))
        if spec.response is not None:
            found.setdefault((spec.response, "serialization"))
    return list(found)


def _titled(definitions: dict[str, Any]) -> dict[str, Any]:
    """Each component titled by its key: generators name their classes after the title, so a title
    other than the key (`Listing[AssetV1]`, a model's own `title`) renames or clashes."""
    return {key: {**schema, "title": key} for key, schema in definitions.items()}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=_REF, schema_generator=RequestSchemas)
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema.get("properties", {}).items():
        description = prop.pop("description", None)
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            param["description"] = description
        params.append(param)
    return params


def _error_content(dialect: str, status: int) -> dict[str, Any]:
    """v1: a problem document; v2: Django REST framework's {"detail"} or {"field": [messages]}."""
    if dialect != "v2":
        return {"application/problem+json": {"schema": {"$ref": _REF.format(model="ProblemDocument")}}}
    if status == 400:
        return {"application/json": {"schema": {"$ref": _REF.format(model="FieldMessages")}}}
    return {"application/json": {"schema": {"$ref": _REF.format(model="Detail")}}}


# The members that name another object of the organisation, in either dialect.
_REFERENCES = frozenset(
    "asset_type_id model_id assigned_to company_id contract_id business_unit_id custom_form_id "
    "warranty_provider_id support_provider_id attached_supplier_id manufacturer_id vendor_id "
    "company contract category asset_owner business_unit warranty_provider support_provider "
    "attached_supplier vendor".split()
)


def _members(model: type[BaseModel]) -> set[str]:
    """Every member name of a model's schema, nested ones included."""
    schema = model.model_json_schema()
    names: set[str] = set()
    for part in (schema, *schema.get("$defs", {}).values()):
        names |= set(part.get("properties", {}))
    return names


def _unstated_rules(spec: Endpoint) -> list[str]:
    """The operation's rules that depend on data or on other members, which no schema states."""
    rules = []
    body = _members(spec.body) if spec.body is not None else set()
    query = _members(spec.query) if spec.query is not None else set()
    if named := sorted(body & _REFERENCES):
        shown = ", ".join(f"`{name}`" for name in named[:3]) + (", …" if len(named) > 3 else "")
        rules.append(
            f"An id of another object ({shown}) must name an object of this organisation; any other "
            "is a 400 naming the member."
        )
    if "custom_fields" in body or ("template" in body and spec.tag == "v2: asset"):
        rules.append(
            "Custom fields hold only the fields of the asset's custom form, each of its type; their "
            "numbers (finite, 64-bit) and strings (no NUL) are checked at every depth, though the "
            "schema spells out one level."
        )
    if "fields" in body and spec.tag in ("custom-forms", "v2: custom_form_template"):
        rules.append("The names of a form's fields are unique.")
    if "depreciation_schedule" in body:
        rules.append(
            "A depreciation schedule ends by 9999-12-31: a purchase or service start date too late "
            "for the asset's schedule is a 400 naming the date."
        )
    if {"start_date", "end_date"} <= body:
        rules.append(
            "`end_date` is not before `start_date` (a change of one is held against the stored other)."
        )
    if "cursor" in query:
        rules.append("`cursor` is one this API gave out (`meta.next_cursor`): cursors are opaque.")
    if "custom_form_value" in query:
        rules.append("`custom_form_value` needs `custom_form_name` beside it.")
    return rules


def _conditions(spec: Endpoint, method: str, op: dict[str, Any]) -> None:
    """The headers and answers of ETags, conditional requests and idempotency keys."""
    params = op.setdefault("parameters", [])
    responses = op["responses"]
    success = responses[str(spec.status)]
    errors: list[int] = []
    if spec.versioned and method == "get":
        params.append(_IF_NONE_MATCH)
        success["headers"] = {**success.get("headers", {}), "ETag": {"$ref": "#/components/headers/ETag"}}
        responses["304"] = {
            "description": "Not Modified: If-None-Match names this answer's ETag; no body.",
            "headers": {"ETag": {"$ref": "#/components/headers/ETag"}},
        }
    if spec.versioned and method in _WRITE_METHODS:
        headers = success.setdefault("headers", {})
        if method != "delete":
            headers["ETag"] = {"$ref": "#/components/headers/ETag"}
        if method == "post":
            headers["Location"] = {"$ref": "#/components/headers/Location"}
        else:
            params.append(_IF_MATCH)
            errors += [412, 428]
    if spec.scope is not None and method in _WRITE_METHODS:
        params.append(_IDEMPOTENCY_KEY)
        success["headers"] = {
            **success.get("headers", {}),
            "Idempotent-Replayed": {"$ref": "#/components/headers/Idempotent-Replayed"},
        }
        errors += [400, 409, 422]
    for status in errors:
        if str(status) not in responses:
            responses[str(status)] = {
                "description": _ERROR_TEXT[status],
                "content": _error_content(spec.dialect, status),
            }
        if status == 412:
            responses["412"]["headers"] = {"ETag": {"$ref": "#/components/headers/ETag"}}
    if not params:
        del op["parameters"]


def _operation(spec: Endpoint, method: str, path: str, refs: dict[Any, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": spec.summary,
        "tags": [spec.tag],
        "operationId": re.sub(r"\W+", "_", f"{spec.summary}_{path}").strip("_").lower(),
    }
    rules = _unstated_rules(spec)
    if spec.description or rules:
        unstated = " ".join(rules)
        op["description"] = f"{spec.description or ''}\n\n{unstated}".strip() if rules else spec.description
    id_schema = {"type": "integer", "minimum": 0} if spec.dialect == "v2" else {"type": "string"}
    params = [
        {"name": p, "in": "path", "required": True, "schema": id_schema} for p in _PATH_PARAM.findall(path)
    ]
    if spec.query is not None:
        params += _query_parameters(spec.query)
    if params:
        op["parameters"] = params
    if spec.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(spec.body, "validation")]}},
        }
    if "requestBody" in spec.extra:  # a body other than a JSON model (a file) states itself
        op["requestBody"] = spec.extra["requestBody"]
    success: dict[str, Any] = {"description": HTTPStatus(spec.status).phrase}
    if spec.response is not None:
        success["content"] = {"application/json": {"schema": refs[(spec.response, "serialization")]}}
    # An answer other than a JSON model (a file) names its media types and headers itself.
    if "content" in spec.extra:
        success["content"] = spec.extra["content"]
    if "headers" in spec.extra:
        success["headers"] = spec.extra["headers"]
    op["responses"] = {str(spec.status): success}
    errors = (*spec.errors, 429) if spec.scope is not None and 429 not in spec.errors else spec.errors
    for status in errors:
        op["responses"][str(status)] = {
            "description": _ERROR_TEXT.get(status, "Error"),
            "content": _error_content(spec.dialect, status),
        }
    _conditions(spec, method, op)
    if spec.scope is not None:
        for status, response in op["responses"].items():
            if status != "401":  # an answer to a token that does not work counts against no token
                response["headers"] = {**response.get("headers", {}), **_header_refs(*_RATE_HEADERS)}
        op["responses"]["429"]["headers"] = _header_refs("Retry-After", *_RATE_HEADERS)
        op["security"] = [{"bearer": []}]
        op["description"] = (op.get("description", "") + f"\n\nRequired scope: `{spec.scope}`.").strip()
    return op


# What a webhook endpoint receives, by event type (the `webhooks` section).
_WEBHOOK_PAYLOADS: dict[EventType, type[BaseModel]] = {
    **dict.fromkeys(ASSET_CHANGE_TYPES, AssetChangeEvent),
    **dict.fromkeys(
        (
            EventType.WARRANTY_EXPIRING,
            EventType.WARRANTY_EXPIRED,
            EventType.SUPPORT_EXPIRING,
            EventType.SUPPORT_EXPIRED,
        ),
        CoverageNoticeEvent,
    ),
    EventType.WEBHOOK_PING: WebhookPingEvent,
    EventType.WEBHOOK_DISABLED: WebhookDisabledEvent,
}
_DELIVERY_HEADERS = {
    "webhook-id": "The event's id: the same on every attempt, for the receiver's deduplication.",
    "webhook-timestamp": "When this attempt was signed, in Unix seconds; refuse one far from now.",
    "webhook-signature": "`v1,` and the base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}` "
    "under the secret's base64-decoded bytes; after a rotation, a second signature (space-separated) "
    "for 24 hours. The `standardwebhooks` packages verify it.",
    "User-Agent": "`assetflow-webhooks/` and the version.",
}


def _webhooks(refs: dict[Any, Any]) -> dict[str, Any]:
    """One entry per event type: the POST an endpoint subscribed to it receives."""
    return {
        event_type.value: {
            "post": {
                "summary": f"{event_type.value} delivered to a webhook endpoint",
                "description": "The CloudEvent exactly as published to RabbitMQ, signed as the Standard "
                "Webhooks specification says. Deliveries to one endpoint may arrive in any order "
                "(`data.version` orders an asset's changes) and more than once (deduplicate on "
                "`webhook-id`).",
                "parameters": [
                    {
                        "name": name,
                        "in": "header",
                        "required": True,
                        "description": text,
                        "schema": {"type": "string"},
                    }
                    for name, text in _DELIVERY_HEADERS.items()
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": refs[(model, "serialization")]}},
                },
                "responses": {
                    "2XX": {"description": "Taken: the delivery is done."},
                    "410": {"description": "Gone: the endpoint is disabled at once."},
                    "default": {
                        "description": "Anything else (or no answer within WEBHOOK_TIMEOUT_SECONDS) is "
                        "tried again with backoff for WEBHOOK_RETRY_FOR_HOURS. Redirects are not followed."
                    },
                },
            }
        }
        for event_type, model in _WEBHOOK_PAYLOADS.items()
    }


def build_openapi(app: web.Application) -> dict[str, Any]:
    """The document for every route of the app that declares an endpoint."""
    operations: list[tuple[str, str, Endpoint]] = []
    for route in app.router.routes():
        spec = endpoint_of(route.handler)
        if spec is None or route.resource is None:
            continue
        if spec.dialect == "v2" and not route.resource.canonical.endswith("/"):
            continue  # the same operation without its trailing slash
        operations.append((route.resource.canonical, route.method.lower(), spec))
    specs = [spec for _, _, spec in operations]
    payloads = [(model, "serialization") for model in dict.fromkeys(_WEBHOOK_PAYLOADS.values())]
    refs, definitions = models_json_schema(
        _models(specs) + payloads,  # type: ignore[arg-type]
        ref_template=_REF,
        schema_generator=RequestSchemas,
    )
    paths: dict[str, dict[str, Any]] = {}
    for path, method, spec in operations:
        paths.setdefault(path, {})[method] = _operation(spec, method, path, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "assetflow",
            "version": "1.0.0",
            "description": "IT asset management: the Uslimato v1 Assets API dialect (`/v1/`) and "
            "the Revnue v2 asset API dialect (`/api/v2/`, tags `v2: …`) over the same data. "
            "Authenticate with `Authorization: Bearer usl_live_...`.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "webhooks": _webhooks(refs),
        "components": {
            "schemas": _titled(definitions.get("$defs", {})),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "headers": {
                **_RATE_HEADERS,
                "Retry-After": _RETRY_AFTER,
                "ETag": _ETAG,
                "Location": _LOCATION,
                "Idempotent-Replayed": _REPLAYED,
            },
        },
    }
