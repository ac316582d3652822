"""The wire format of events: CloudEvents 1.0 in structured JSON mode, one model per kind of data.

Every field is documented here, and the AsyncAPI document is generated from these models.
"""

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.asset_v1 import AssetV1

CONTENT_TYPE = "application/cloudevents+json"
SOURCE = "urn:assetflow:api"
WORKER_SOURCE = "urn:assetflow:worker"


class EventType(StrEnum):
    """The routing key of each event is its type."""

    ASSET_CREATED = "asset.created"
    ASSET_UPDATED = "asset.updated"
    ASSET_DELETED = "asset.deleted"
    WARRANTY_EXPIRING = "asset.warranty.expiring"
    WARRANTY_EXPIRED = "asset.warranty.expired"
    SUPPORT_EXPIRING = "asset.support.expiring"
    SUPPORT_EXPIRED = "asset.support.expired"
    WEBHOOK_PING = "webhook.ping"
    WEBHOOK_DISABLED = "webhook.disabled"


ASSET_CHANGE_TYPES = (EventType.ASSET_CREATED, EventType.ASSET_UPDATED, EventType.ASSET_DELETED)
ACTIONS = {
    EventType.ASSET_CREATED: "created",
    EventType.ASSET_UPDATED: "updated",
    EventType.ASSET_DELETED: "deleted",
}


class FieldChange(BaseModel):
    """One field's value before and after, in the v1 representation."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    from_: Any = Field(alias="from", description="The value before the change (null when created).")
    to: Any = Field(description="The value after the change (null when deleted).")


class Actor(BaseModel):
    """Who made the change: the API token's id and name."""

    id: str = Field(description="The API token's id.")
    name: str = Field(description="The API token's name.")


class AssetChangeData(BaseModel):
    """The `data` of asset.created, asset.updated and asset.deleted."""

    asset: AssetV1 = Field(
        description="The asset in the v1 representation after the change; for a delete, its last state."
    )
    version: int = Field(ge=1, description="Counts the asset's changes from 1; later wins.")
    changes: dict[str, FieldChange] = Field(
        description="Each changed field, with its value before and after."
    )
    actor: Actor
    request_id: str = Field(description="The X-Request-ID of the HTTP request that made the change.")


# What a coverage notice is about.
CoverageKind = Literal["warranty", "support"]


class CoverageNoticeData(BaseModel):
    """The `data` of the warranty and support expiring and expired events."""

    asset_id: str
    asset_tag: str
    name: str
    coverage: CoverageKind
    end_date: dt.date = Field(description="The last day of cover.")
    days_left: int = Field(description="Days from today to the end date; negative once expired.")


class CloudEvent(BaseModel):
    """The envelope every event shares (CloudEvents 1.0, structured mode)."""

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(description="Unique per event; consumers deduplicate on it.")
    source: str = Field(description="What emitted the event.")
    type: EventType
    subject: str = Field(description="The asset's id (for webhook.*, the webhook's).")
    time: dt.datetime
    datacontenttype: Literal["application/json"] = "application/json"
    orgid: str = Field(description="Extension attribute: the organisation the asset belongs to.")


class AssetChangeEvent(CloudEvent):
    """asset.created, asset.updated, asset.deleted."""

    data: AssetChangeData


class CoverageNoticeEvent(CloudEvent):
    """asset.warranty.expiring / .expired, asset.support.expiring / .expired."""

    data: CoverageNoticeData


class WebhookPingData(BaseModel):
    """The `data` of webhook.ping, sent only to the endpoint being pinged."""

    webhook_id: str = Field(description="The endpoint's id.")
    url: str


class WebhookDisabledData(BaseModel):
    """The `data` of webhook.disabled: an endpoint that will get nothing more until enabled again."""

    webhook_id: str = Field(description="The endpoint's id.")
    url: str
    reason: str = Field(description="Why: it answered 410 Gone, or failed every attempt for a day.")
    disabled_at: dt.datetime


class WebhookPingEvent(CloudEvent):
    """webhook.ping: what POST /v1/webhooks/{id}/ping sends to the endpoint, and nowhere else."""

    data: WebhookPingData


class WebhookDisabledEvent(CloudEvent):
    """webhook.disabled, published when the worker disables an endpoint."""

    data: WebhookDisabledData


def new_event_id() -> str:
    return str(uuid.uuid4())
