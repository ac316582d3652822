"""The raw-stack side of the event pipeline: aio-pika alone, no outbox, no database.

Two processes, like the api (whose relay publishes) and the worker (which consumes):

- `python -m bench.rawpipe '<spec with mode=consume>'` declares a topic exchange and three quorum
  queues of its own (the worker's topology, under `<prefix>.raw.*`), prints READY, consumes the
  three queues on three channels with the worker's prefetch and acks every message, and when it
  has seen `expect` messages on each queue prints one marked JSON line: throughput and the delay
  from each message's publication to its third ack.
- `python -m bench.rawpipe '<spec with mode=publish>'` publishes the given event bodies as the
  relay does (persistent, mandatory, publisher confirms, batches of 200 in flight), either as fast
  as it can or paced at `rate` per second, stamping each with its publication time.

The two processes share a clock (the same machine), so the delays are comparable.
"""

from __future__ import annotations

import asyncio
import json
import struct
import sys
import time
from typing import Any

import aio_pika

from bench.common import emit, percentile
from shared.topology import CONSUMERS

ROUTING_KEY = "asset.created"


def exchange_name(prefix: str) -> str:
    return f"{prefix}.raw.events"


def queue_names(prefix: str) -> list[str]:
    return [f"{prefix}.raw.{c}" for c in CONSUMERS]


def write_bodies(path: str, bodies: list[bytes]) -> None:
    with open(path, "wb") as handle:
        for body in bodies:
            handle.write(struct.pack(">I", len(body)))
            handle.write(body)


def read_bodies(path: str) -> list[bytes]:
    bodies = []
    with open(path, "rb") as handle:
        data = handle.read()
    offset = 0
    while offset < len(data):
        (size,) = struct.unpack_from(">I", data, offset)
        offset += 4
        bodies.append(data[offset : offset + size])
        offset += size
    return bodies


async def declare(channel: aio_pika.abc.AbstractChannel, prefix: str) -> aio_pika.abc.AbstractExchange:
    exchange = await channel.declare_exchange(
        exchange_name(prefix), aio_pika.ExchangeType.TOPIC, durable=True
    )
    for name in queue_names(prefix):
        queue = await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
        await queue.bind(exchange, routing_key="asset.*")
        await queue.purge()
    return exchange


async def consume(spec: dict[str, Any]) -> dict[str, Any]:
    expect = int(spec["expect"])
    prefix = spec["prefix"]
    connection = await aio_pika.connect(spec["amqp_url"])
    done_at: dict[str, float] = {}
    seen: dict[str, int] = {}
    t0s: dict[str, float] = {}
    per_queue = dict.fromkeys(queue_names(prefix), 0)
    finished = asyncio.Event()
    async with connection:
        setup = await connection.channel()
        await declare(setup, prefix)
        await setup.close()
        for name in queue_names(prefix):
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=int(spec.get("prefetch", 50)))
            queue = await channel.get_queue(name)

            async def on_message(message: aio_pika.abc.AbstractIncomingMessage, name: str = name) -> None:
                await message.ack()
                now = time.time()
                key = message.message_id or ""
                t0 = (message.headers or {}).get("t0_ns")  # an integer: AMQP floats lose precision
                if isinstance(t0, int):
                    t0s[key] = t0 / 1e9
                seen[key] = seen.get(key, 0) + 1
                done_at[key] = max(done_at.get(key, 0.0), now)
                per_queue[name] += 1
                if all(n >= expect for n in per_queue.values()):
                    finished.set()

            await queue.consume(on_message)
        print("READY", flush=True)
        try:
            await asyncio.wait_for(finished.wait(), timeout=float(spec.get("timeout", 300)))
        except TimeoutError:
            pass
    complete = [k for k, n in seen.items() if n >= len(CONSUMERS) and k in t0s]
    delays = sorted((done_at[k] - t0s[k]) * 1000 for k in complete)
    first = min((t0s[k] for k in complete), default=0.0)
    last = max((done_at[k] for k in complete), default=0.0)
    span = last - first
    return {
        "complete": len(complete),
        "per_queue": per_queue,
        "span_s": span,
        "rate": len(complete) / span if span > 0 else 0.0,
        "p50_ms": percentile(delays, 50),
        "p99_ms": percentile(delays, 99),
    }


async def publish(spec: dict[str, Any]) -> dict[str, Any]:
    bodies = read_bodies(spec["bodies_file"])
    count = int(spec.get("count", len(bodies)))
    rate = spec.get("rate")
    batch = int(spec.get("batch", 200))
    connection = await aio_pika.connect(spec["amqp_url"])
    failures = 0
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.get_exchange(exchange_name(spec["prefix"]))

        async def one(i: int) -> None:
            nonlocal failures
            message = aio_pika.Message(
                bodies[i % len(bodies)],
                content_type="application/cloudevents+json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=f"raw-{i}",
                type=ROUTING_KEY,
                headers={"t0_ns": time.time_ns()},
            )
            try:
                await exchange.publish(message, routing_key=ROUTING_KEY, mandatory=True, timeout=10)
            except Exception:
                failures += 1

        started = time.monotonic()
        if rate:
            interval = 1.0 / float(rate)
            tasks: set[asyncio.Task[None]] = set()
            for i in range(count):
                delay = started + i * interval - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                task = asyncio.create_task(one(i))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.gather(*tasks)
        else:
            for first in range(0, count, batch):
                await asyncio.gather(*(one(i) for i in range(first, min(first + batch, count))))
        elapsed = time.monotonic() - started
    return {"published": count - failures, "failures": failures, "seconds": elapsed}


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    import uvloop

    emit(uvloop.run(consume(spec) if spec["mode"] == "consume" else publish(spec)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
