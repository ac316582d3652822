"""Bodies and queries of /v1/webhooks: endpoints, their secrets, pings and the delivery log."""

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, WithJsonSchema

from services.api.schemas.common import Query, RequestBody
from shared.domain.webhooks import (
    EVENT_PATTERN,
    MAX_DESCRIPTION_LENGTH,
    MAX_PATTERNS,
    MAX_URL_LENGTH,
    URL_PATTERN,
    Delivery,
    WebhookEndpoint,
)
from shared.services.webhooks import SUBSCRIBABLE, PingAnswer

_EVENTS_HELP = (
    "Event types, or patterns as in RabbitMQ topic bindings: `*` stands for one word, `#` for any "
    f"number (`asset.*` for every change, `asset.#` for notices too, `#` for everything). The types: "
    f"{', '.join(f'`{t}`' for t in SUBSCRIBABLE)}."
)
_URL_HELP = (
    "Where deliveries are POSTed: an https URL (http only when WEBHOOK_ALLOW_HTTP=true) of printable "
    "ASCII (an international host name in its xn-- form), with no user name, password or #fragment, "
    "whose host resolves only to public addresses: checked now, and again at every delivery."
)

# The patterns are checked by the use case, which names what is wrong (pydantic would only say
# "should match pattern"); the document states them.
Url = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_URL_LENGTH),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_URL_LENGTH,
            "pattern": URL_PATTERN,
            "description": _URL_HELP,
            "examples": ["https://cmdb.example.com/hooks/assetflow"],
        }
    ),
]
Pattern = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 200, "pattern": EVENT_PATTERN}),
]
Events = Annotated[
    list[Pattern],
    Field(min_length=1, max_length=MAX_PATTERNS, description=_EVENTS_HELP, examples=[["asset.*"]]),
]
Description = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION_LENGTH)]


class WebhookCreate(RequestBody):
    url: Url
    events: Events
    description: Description = ""
    enabled: bool = True


class WebhookPatch(RequestBody):
    not_null = frozenset({"url", "events", "description", "enabled"})

    url: Url | None = None
    events: Events | None = None
    description: Description | None = None
    enabled: bool | None = Field(default=None, description="Enabling a disabled webhook sends what waited.")


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str
    enabled: bool
    disabled_at: dt.datetime | None = Field(description="When the worker or a PATCH disabled it.")
    disabled_reason: str | None = Field(
        description="Why the worker disabled it (410 Gone, a day of failures)."
    )
    failing_since: dt.datetime | None = Field(description="The first failed attempt since the last success.")
    previous_secret_until: dt.datetime | None = Field(
        description="After a rotation, until when the previous secret still signs (a second signature)."
    )
    created_at: dt.datetime
    updated_at: dt.datetime


class WebhookWithSecret(WebhookOut):
    secret: str = Field(
        description="The signing secret (`whsec_` and base64), shown only now: verify deliveries with it."
    )


class WebhookOne(BaseModel):
    data: WebhookOut


class WebhookCreated(BaseModel):
    data: WebhookWithSecret


class WebhookList(BaseModel):
    data: list[WebhookOut]


def webhook_out(endpoint: WebhookEndpoint, secret: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(endpoint.id),
        "url": endpoint.url,
        "events": endpoint.events,
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "disabled_at": endpoint.disabled_at,
        "disabled_reason": endpoint.disabled_reason,
        "failing_since": endpoint.failing_since,
        "previous_secret_until": endpoint.previous_secret_until,
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
    }
    if secret is not None:
        out["secret"] = secret
    return out


class DeliveryQuery(Query):
    limit: Annotated[int, Field(ge=1, le=100, description="Deliveries per page.")] = 20
    cursor: (
        Annotated[str, Field(max_length=200, description="`meta.next_cursor` of the previous page.")] | None
    ) = None
    status: Literal["pending", "delivered", "failed"] | None = None
    event_type: (
        Annotated[str, Field(max_length=200, description="Only deliveries of this event type.")] | None
    ) = None


class AttemptOut(BaseModel):
    n: int = Field(description="1 for the first attempt.")
    at: dt.datetime
    duration_ms: int
    status_code: int | None = Field(description="What the endpoint answered; null when it did not.")
    error: str | None = Field(description="Why the attempt failed; null when it was delivered.")
    response_body: str | None = Field(description="The first KiB of the answer.")


class DeliveryOut(BaseModel):
    id: str
    webhook_id: str
    event_id: str = Field(description="The event's id, sent as `webhook-id` (the same on every retry).")
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: dt.datetime | None = Field(description="When it is tried next, while pending.")
    created_at: dt.datetime
    finished_at: dt.datetime | None
    attempt_log: list[AttemptOut]


class DeliveryOne(BaseModel):
    data: DeliveryOut


class DeliveryMeta(BaseModel):
    limit: int
    next_cursor: str | None


class DeliveryPage(BaseModel):
    data: list[DeliveryOut]
    meta: DeliveryMeta


def delivery_out(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": str(delivery.id),
        "webhook_id": str(delivery.endpoint_id),
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "status": delivery.status.value,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at,
        "created_at": delivery.created_at,
        "finished_at": delivery.finished_at,
        "attempt_log": [attempt.model_dump() for attempt in delivery.tries],
    }


class PingOut(BaseModel):
    delivered: bool = Field(description="Whether the endpoint answered 2xx.")
    status_code: int | None
    error: str | None
    duration_ms: int
    response_body: str | None = Field(description="The first KiB of the answer.")
    delivery_id: str = Field(description="The ping in the delivery log.")
    event_id: str


class PingBody(BaseModel):
    data: PingOut


def ping_out(answer: PingAnswer) -> dict[str, Any]:
    result = answer.result
    return {
        "delivered": result.delivered,
        "status_code": result.status_code,
        "error": result.error,
        "duration_ms": result.duration_ms,
        "response_body": result.response_body,
        "delivery_id": str(answer.delivery_id),
        "event_id": answer.event_id,
    }
