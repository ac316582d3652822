"""The raw side of the webhooks phase: the same bodies POSTed to the same receiver by a plain
aiohttp client, signed as a delivery is, as many at a time as the dispatcher sends to one endpoint
(WEBHOOK_CONCURRENCY_PER_ENDPOINT), with no database, queue or retry bookkeeping.

`python -m bench.rawhooks '{"url": ..., "bodies_file": ..., "count": N, "concurrency": 4}'`
prints one marked JSON line: requests per second and their latency.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import time
from typing import Any

import aiohttp

from bench.common import emit, percentile
from bench.rawpipe import read_bodies
from shared.domain.webhooks import delivery_headers, mint_secret


async def post_all(spec: dict[str, Any]) -> dict[str, Any]:
    bodies = read_bodies(spec["bodies_file"])
    count = int(spec["count"])
    secret = mint_secret()
    durations: list[float] = []
    failures = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    connector = aiohttp.TCPConnector(limit=int(spec["concurrency"]))
    async with aiohttp.ClientSession(connector=connector) as session:

        async def sender() -> None:
            nonlocal failures
            while not queue.empty():
                i = queue.get_nowait()
                body = bodies[i % len(bodies)]
                headers = delivery_headers([secret], f"raw-{i}", dt.datetime.now(dt.UTC), body, "bench")
                started = time.perf_counter()
                async with session.post(spec["url"], data=body, headers=headers) as answer:
                    await answer.read()
                    if not 200 <= answer.status < 300:
                        failures += 1
                durations.append((time.perf_counter() - started) * 1000)

        started = time.monotonic()
        await asyncio.gather(*(sender() for _ in range(int(spec["concurrency"]))))
        elapsed = time.monotonic() - started
    durations.sort()
    return {
        "count": count,
        "failures": failures,
        "seconds": elapsed,
        "rate": count / elapsed if elapsed > 0 else 0.0,
        "p50_ms": percentile(durations, 50),
        "p99_ms": percentile(durations, 99),
    }


def main(argv: list[str]) -> int:
    import uvloop

    emit(uvloop.run(post_all(json.loads(argv[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
