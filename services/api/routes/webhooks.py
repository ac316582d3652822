"""/v1/webhooks: the HTTPS endpoints an organisation's events are delivered to, and their log."""

from aiohttp import web

from services.api.endpoint import Endpoint, endpoint, request_unit
from services.api.keys import SECRET_BOX, SETTINGS, WEBHOOK_SENDER
from services.api.problems import ApiError
from services.api.responses import json_response
from services.api.schemas.common import Message
from services.api.schemas.webhooks import (
    DeliveryOne,
    DeliveryPage,
    DeliveryQuery,
    PingBody,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookOne,
    WebhookPatch,
    delivery_out,
    ping_out,
    webhook_out,
)
from services.api.versions import expected_of, precondition_failed, read_answer, versioned
from shared.domain.models import Principal, Scope
from shared.domain.webhooks import DeliveryStatus, WebhookEndpoint
from shared.errors import StaleVersion
from shared.secret_box import SecretBox, SecretKeyMissing
from shared.services import webhooks as service

TAG = "webhooks"
_VERIFY = (
    "Each delivery is a POST of the CloudEvent (the same JSON as on RabbitMQ) signed as the Standard "
    "Webhooks specification says (`webhook-id`, `webhook-timestamp`, `webhook-signature`); the "
    "`webhooks` section of this document describes it."
)


def _box(request: web.Request) -> SecretBox:
    """The secrets' box; 503 naming the setting when WEBHOOK_SECRET_KEY is not set."""
    box = request.app[SECRET_BOX]
    if box is None:
        raise ApiError(503, str(SecretKeyMissing()))
    return box


def _configured(request: web.Request) -> None:
    """Every webhook route's precheck: 503 before anything else when there is no key."""
    _box(request)


def _one(endpoint_: WebhookEndpoint) -> dict[str, object]:
    return {"data": webhook_out(endpoint_)}


def _stale(exc: StaleVersion) -> ApiError:
    current = exc.current
    assert isinstance(current, WebhookEndpoint)
    return precondition_failed("webhook", _one(current), current.id, current.version)


@endpoint(
    Endpoint(
        "List webhooks",
        TAG,
        Scope.WEBHOOKS_READ,
        precheck=_configured,
        response=WebhookList,
        errors=(401, 403, 503),
    )
)
async def list_webhooks(request: web.Request, principal: Principal) -> web.Response:
    found = await service.list_all(request_unit(request), principal.org_id)
    return json_response({"data": [webhook_out(e) for e in found]})


@endpoint(
    Endpoint(
        "Register a webhook",
        TAG,
        Scope.WEBHOOKS_WRITE,
        precheck=_configured,
        body=WebhookCreate,
        response=WebhookCreated,
        status=201,
        errors=(400, 401, 403, 409, 413, 415, 503),
        description="Answers the signing secret, shown only in this answer. " + _VERIFY,
        versioned=True,
    )
)
async def create_webhook(request: web.Request, principal: Principal, body: WebhookCreate) -> web.Response:
    settings = request.app[SETTINGS]
    created = await service.create(
        request_unit(request),
        _box(request),
        request.app[WEBHOOK_SENDER],
        settings.webhook_allow_http,
        principal.org_id,
        body.url,
        body.events,
        body.description,
        body.enabled,
    )
    webhook = created.endpoint
    return versioned(
        {"data": webhook_out(webhook, created.secret)},
        webhook.id,
        webhook.version,
        status=201,
        location=f"/v1/webhooks/{webhook.id}",
    )


@endpoint(
    Endpoint(
        "Get a webhook",
        TAG,
        Scope.WEBHOOKS_READ,
        precheck=_configured,
        response=WebhookOne,
        errors=(401, 403, 404, 503),
        versioned=True,
    )
)
async def get_webhook(request: web.Request, principal: Principal) -> web.Response:
    found = await service.get(request_unit(request), principal.org_id, request.match_info["id"])
    return read_answer(request, _one(found), found.id, found.version)


@endpoint(
    Endpoint(
        "Change a webhook",
        TAG,
        Scope.WEBHOOKS_WRITE,
        precheck=_configured,
        body=WebhookPatch,
        response=WebhookOne,
        errors=(400, 401, 403, 404, 413, 415, 503),
        description="Enabling a disabled webhook sends the deliveries that waited.",
        versioned=True,
    )
)
async def patch_webhook(request: web.Request, principal: Principal, body: WebhookPatch) -> web.Response:
    settings = request.app[SETTINGS]
    try:
        changed = await service.change(
            request_unit(request),
            request.app[WEBHOOK_SENDER],
            settings.webhook_allow_http,
            principal.org_id,
            request.match_info["id"],
            body.model_dump(exclude_unset=True),
            expected_of(request),
        )
    except StaleVersion as exc:
        raise _stale(exc) from None
    return versioned(_one(changed), changed.id, changed.version)


@endpoint(
    Endpoint(
        "Delete a webhook",
        TAG,
        Scope.WEBHOOKS_WRITE,
        precheck=_configured,
        response=Message,
        errors=(401, 403, 404, 503),
        description="Its deliveries, sent or not, go with it.",
        versioned=True,
    )
)
async def delete_webhook(request: web.Request, principal: Principal) -> web.Response:
    try:
        await service.delete(
            request_unit(request), principal.org_id, request.match_info["id"], expected_of(request)
        )
    except StaleVersion as exc:
        raise _stale(exc) from None
    return json_response({"message": "Webhook deleted."})


@endpoint(
    Endpoint(
        "Rotate a webhook's signing secret",
        TAG,
        Scope.WEBHOOKS_WRITE,
        precheck=_configured,
        response=WebhookCreated,
        errors=(401, 403, 404, 503),
        description="Answers the new secret, shown only now. For 24 hours the previous one signs "
        "too, as a second signature in `webhook-signature`, so that the receiver can switch over.",
        versioned=True,
    )
)
async def rotate_secret(request: web.Request, principal: Principal) -> web.Response:
    try:
        rotated = await service.rotate_secret(
            request_unit(request),
            _box(request),
            principal.org_id,
            request.match_info["id"],
            expected_of(request),
        )
    except StaleVersion as exc:
        raise _stale(exc) from None
    webhook = rotated.endpoint
    return versioned({"data": webhook_out(webhook, rotated.secret)}, webhook.id, webhook.version)


@endpoint(
    Endpoint(
        "Ping a webhook",
        TAG,
        Scope.WEBHOOKS_WRITE,
        precheck=_configured,
        response=PingBody,
        errors=(401, 403, 404, 503),
        description="Sends a `webhook.ping` event to the endpoint now, enabled or not, and answers "
        "what it said (200 however the endpoint answered: see `delivered`). It is logged as a delivery.",
    )
)
async def ping_webhook(request: web.Request, principal: Principal) -> web.Response:
    answer = await service.ping(
        request_unit(request),
        _box(request),
        request.app[WEBHOOK_SENDER],
        principal.org_id,
        request.match_info["id"],
    )
    return json_response({"data": ping_out(answer)})


@endpoint(
    Endpoint(
        "A webhook's delivery log",
        TAG,
        Scope.WEBHOOKS_READ,
        precheck=_configured,
        query=DeliveryQuery,
        response=DeliveryPage,
        errors=(400, 401, 403, 404, 503),
        description="Newest first, each with its attempts; follow `meta.next_cursor` for the next "
        "page. Finished deliveries are kept for WEBHOOK_DELIVERY_RETENTION_DAYS.",
    )
)
async def list_deliveries(request: web.Request, principal: Principal, query: DeliveryQuery) -> web.Response:
    page = await service.deliveries(
        request_unit(request),
        principal.org_id,
        request.match_info["id"],
        DeliveryStatus(query.status) if query.status else None,
        query.event_type,
        query.cursor,
        query.limit,
    )
    return json_response(
        {
            "data": [delivery_out(d) for d in page.deliveries],
            "meta": {"limit": query.limit, "next_cursor": page.next_cursor},
        }
    )


@endpoint(
    Endpoint(
        "Send a delivery again now",
        TAG,
        Scope.WEBHOOKS_WRITE,
        precheck=_configured,
        response=DeliveryOne,
        status=202,
        errors=(401, 403, 404, 409, 503),
        description="Delivered, failed or pending, it is due now and the worker sends it at once "
        "(same `webhook-id`). 409 while it is being sent, or while the webhook is disabled.",
    )
)
async def retry_delivery(request: web.Request, principal: Principal) -> web.Response:
    delivery = await service.retry(
        request_unit(request), principal.org_id, request.match_info["id"], request.match_info["delivery_id"]
    )
    return json_response({"data": delivery_out(delivery)}, status=202)


def routes() -> list[web.RouteDef]:
    item = "/v1/webhooks/{id}"
    return [
        web.get("/v1/webhooks", list_webhooks, allow_head=False),
        web.post("/v1/webhooks", create_webhook),
        web.get(item, get_webhook, allow_head=False),
        web.patch(item, patch_webhook),
        web.delete(item, delete_webhook),
        web.post(f"{item}/rotate-secret", rotate_secret),
        web.post(f"{item}/ping", ping_webhook),
        web.get(f"{item}/deliveries", list_deliveries, allow_head=False),
        web.post(f"{item}/deliveries/{{delivery_id}}/retry", retry_delivery),
    ]
