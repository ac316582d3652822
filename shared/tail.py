"""Following the event stream from a queue of one's own that goes away with the follower."""

import asyncio
from collections.abc import Callable

import aio_pika

from shared.settings import Settings
from shared.topology import Topology, declare_exchange


async def tail_events(
    settings: Settings, patterns: list[str], stop: asyncio.Event, emit: Callable[[str], None]
) -> None:
    """Emit each event body (one JSON document a line) whose routing key matches a pattern."""
    connection = await aio_pika.connect_robust(settings.amqp_url.get_secret_value())
    async with connection:
        channel = await connection.channel()
        exchange = await declare_exchange(channel, Topology(settings.events_prefix))
        # Server-named, exclusive and auto-deleted: it exists only while this follower does.
        queue = await channel.declare_queue("", exclusive=True, auto_delete=True)
        for pattern in patterns or ["#"]:
            await queue.bind(exchange, routing_key=pattern)

        async def show(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            emit(message.body.decode("utf-8", errors="replace"))
            await message.ack()

        await queue.consume(show)
        await stop.wait()
