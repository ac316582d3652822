"""The AsyncAPI 3 document of the event stream, generated from the event models and the topology."""

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.events import (
    ASSET_CHANGE_TYPES,
    CONTENT_TYPE,
    AssetChangeEvent,
    CoverageNoticeEvent,
    EventType,
    WebhookDisabledEvent,
    WebhookPingEvent,
)
from shared.topology import CONSUMERS, DELIVERY_LIMIT, Topology, bindings

_REF = "#/components/schemas/{model}"

_SUMMARIES = {
    EventType.ASSET_CREATED: "An asset was created.",
    EventType.ASSET_UPDATED: "An asset was changed; `data.changes` names each field.",
    EventType.ASSET_DELETED: "An asset was deleted; `data.asset` is its last state.",
    EventType.WARRANTY_EXPIRING: "An asset's warranty ends within the warning period (sent once).",
    EventType.WARRANTY_EXPIRED: "An asset's warranty has ended (sent once).",
    EventType.SUPPORT_EXPIRING: "An asset's support ends within the warning period (sent once).",
    EventType.SUPPORT_EXPIRED: "An asset's support has ended (sent once).",
    EventType.WEBHOOK_PING: "A test delivery: POST /v1/webhooks/{id}/ping sends it to that endpoint alone, "
    "over HTTP; it is never published to the exchange.",
    EventType.WEBHOOK_DISABLED: "The worker disabled a webhook endpoint: it answered 410 Gone, or every "
    "attempt failed for WEBHOOK_RETRY_FOR_HOURS. It gets nothing more until enabled again.",
}
_MODELS: dict[EventType, type[BaseModel]] = {
    **dict.fromkeys(ASSET_CHANGE_TYPES, AssetChangeEvent),
    EventType.WEBHOOK_PING: WebhookPingEvent,
    EventType.WEBHOOK_DISABLED: WebhookDisabledEvent,
}
# Sent to a webhook endpoint over HTTP only.
_NOT_PUBLISHED = (EventType.WEBHOOK_PING,)


def _message_name(event_type: EventType) -> str:
    return "".join(part.capitalize() for part in event_type.value.split("."))


def build_asyncapi(topology: Topology, server_host: str = "localhost:5672") -> dict[str, Any]:
    """The document: one channel per routing key on the topic exchange, and the worker's queues."""
    models: list[type[BaseModel]] = [
        AssetChangeEvent,
        CoverageNoticeEvent,
        WebhookPingEvent,
        WebhookDisabledEvent,
    ]
    refs, definitions = models_json_schema([(m, "serialization") for m in models], ref_template=_REF)
    exchange = {
        "name": topology.exchange,
        "type": "topic",
        "durable": True,
        "autoDelete": False,
        "vhost": "/",
    }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event_type in EventType:
        name = _message_name(event_type)
        model = _MODELS.get(event_type, CoverageNoticeEvent)
        messages[name] = {
            "name": event_type.value,
            "title": event_type.value,
            "summary": _SUMMARIES[event_type],
            "contentType": CONTENT_TYPE,
            "payload": refs[(model, "serialization")],
            "bindings": {"amqp": {"messageType": event_type.value, "bindingVersion": "0.3.0"}},
        }
        channels[name] = {
            "address": event_type.value,
            "description": f"Routing key `{event_type.value}` on the topic exchange `{topology.exchange}`.",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "bindings": {"amqp": {"is": "routingKey", "exchange": exchange, "bindingVersion": "0.3.0"}},
        }
        if event_type in _NOT_PUBLISHED:
            channels[name]["description"] = _SUMMARIES[event_type]
            continue
        operations[f"publish{name}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{name}"},
            "summary": f"assetflow publishes {event_type.value} (persistent, with publisher confirms).",
            "bindings": {"amqp": {"deliveryMode": 2, "mandatory": True, "bindingVersion": "0.3.0"}},
        }
    for consumer in CONSUMERS:
        routing_keys = bindings(consumer)
        taken = [
            t
            for t in EventType
            if t not in _NOT_PUBLISHED and (t.value in routing_keys or "#" in routing_keys)
        ]
        for event_type in taken:
            name = _message_name(event_type)
            operations[f"{consumer}Consumes{name}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{name}"},
                "summary": f"The worker's quorum queue `{topology.queue(consumer)}` "
                f"(x-delivery-limit {DELIVERY_LIMIT}, dead letters to "
                f"`{topology.dead_letter_queue(consumer)}`).",
                "bindings": {"amqp": {"ack": True, "bindingVersion": "0.3.0"}},
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "assetflow events",
            "version": "1.0.0",
            "description": (
                "Every change to an asset, as a CloudEvents 1.0 event in structured JSON mode. "
                f"Bind a queue of your own to the topic exchange `{topology.exchange}` with the "
                "routing keys you want (`asset.*` for every change, `asset.#` for notices too). "
                "Delivery is at least once: deduplicate on `id`, and ignore a `data.version` older "
                "than one you have seen. The same events reach webhook endpoints over HTTP "
                "(`/v1/webhooks`), each body the event exactly as published here."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {"broker": {"host": server_host, "protocol": "amqp", "protocolVersion": "0-9-1"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": definitions.get("$defs", {})},
    }
