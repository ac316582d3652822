"""The broker's exchange, queues, bindings and dead-letter setup, declared by both services.

Every name takes the EVENTS_PREFIX setting, so that test runs never share anything.
"""

from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange

from shared.domain.consumers import ConsumerName
from shared.events import ASSET_CHANGE_TYPES, EventType

CONSUMERS = tuple(ConsumerName)
# Every event type that is published (webhook.ping goes to one webhook endpoint over HTTP only).
PUBLISHED_TYPES = tuple(t for t in EventType if t is not EventType.WEBHOOK_PING)


def bindings(consumer: ConsumerName) -> tuple[str, ...]:
    """The routing keys a consumer's queue is bound with: the asset changes, and for the webhooks
    consumer every published type (its endpoints choose among them). Each by name, never `#`, so
    that a message of any other key is still unroutable, as the relay expects."""
    types = PUBLISHED_TYPES if consumer is ConsumerName.WEBHOOKS else ASSET_CHANGE_TYPES
    return tuple(event_type.value for event_type in types)


# A message redelivered this many times (a worker crashing on it, say) is dead-lettered by the
# broker itself; the worker gives up on a failing event well before that.
DELIVERY_LIMIT = 20


@dataclass(frozen=True)
class Topology:
    """The names of everything on the broker, from one prefix."""

    prefix: str = "assetflow"

    @property
    def exchange(self) -> str:
        return f"{self.prefix}.events"

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.prefix}.dead-letter"

    def queue(self, consumer: ConsumerName) -> str:
        return f"{self.prefix}.{consumer}"

    def dead_letter_queue(self, consumer: ConsumerName) -> str:
        return f"{self.prefix}.{consumer}.dead"


async def declare_exchange(channel: AbstractChannel, topology: Topology) -> AbstractExchange:
    """The topic exchange events are published to (durable, idempotent)."""
    return await channel.declare_exchange(topology.exchange, aio_pika.ExchangeType.TOPIC, durable=True)


async def declare_all(channel: AbstractChannel, topology: Topology) -> AbstractExchange:
    """Exchange, the consumer queues with their dead-letter queues, and their bindings."""
    exchange = await declare_exchange(channel, topology)
    dead = await channel.declare_exchange(
        topology.dead_letter_exchange, aio_pika.ExchangeType.DIRECT, durable=True
    )
    for consumer in CONSUMERS:
        name = topology.queue(consumer)
        dlq = await channel.declare_queue(
            topology.dead_letter_queue(consumer), durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dlq.bind(dead, routing_key=name)
        queue = await channel.declare_queue(
            name,
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-delivery-limit": DELIVERY_LIMIT,
                "x-dead-letter-exchange": topology.dead_letter_exchange,
                "x-dead-letter-routing-key": name,
            },
        )
        for routing_key in bindings(consumer):
            await queue.bind(exchange, routing_key=routing_key)
    return exchange
