"""The HTTP load generator used when wrk is not installed (and for paced load, which wrk cannot do).

It runs in a process of its own (`python -m bench.loadgen '<json spec>'`) so that it does not share
an interpreter with what it measures, and prints one marked JSON line with its result. Closed
loop: `connections` clients each send their next request as soon as the previous one answered.
Paced (`rate` set): requests start on a fixed schedule whatever the answers, so latency is not
hidden by a slow server (no coordinated omission), at most `max_in_flight` at once.

Spec keys: base_url, paths (list) or ids_file + path_template ("/v1/assets/{id}"), method, token,
body (a JSON object for POST; every "{n}" in a string value becomes a request counter),
connections, duration, warmup, rate, max_in_flight.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from typing import Any

import aiohttp

from bench.common import emit, latency_result


def _render(body: Any, n: int) -> Any:
    if isinstance(body, str):
        return body.replace("{n}", str(n))
    if isinstance(body, dict):
        return {k: _render(v, n) for k, v in body.items()}
    return body


class Load:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.base = spec["base_url"].rstrip("/")
        if spec.get("ids_file"):
            with open(spec["ids_file"]) as handle:
                ids = [line.strip() for line in handle if line.strip()]
            template = spec["path_template"]
            self.paths = [template.format(id=i) for i in ids]
        else:
            self.paths = list(spec["paths"])
        self.method = spec.get("method", "GET")
        self.body = spec.get("body")
        self.headers = {"Authorization": f"Bearer {spec['token']}"} if spec.get("token") else {}
        if self.body is not None:
            self.headers["Content-Type"] = "application/json"
        self.counter = 0
        self.latencies: list[float] = []
        self.errors = 0
        self.statuses: dict[int, int] = {}
        self.recording = False

    async def one(self, session: aiohttp.ClientSession) -> None:
        self.counter += 1
        path = random.choice(self.paths)
        data = json.dumps(_render(self.body, self.counter)).encode() if self.body is not None else None
        started = time.perf_counter()
        try:
            async with session.request(
                self.method, self.base + path, data=data, headers=self.headers
            ) as resp:
                await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        elapsed = time.perf_counter() - started
        if not self.recording:
            return
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if 200 <= status < 400:
            self.latencies.append(elapsed)
        else:
            self.errors += 1

    async def closed_loop(self, session: aiohttp.ClientSession, until: float) -> None:
        while time.monotonic() < until:
            await self.one(session)

    async def run(self) -> dict[str, Any]:
        connections = int(self.spec.get("connections", 10))
        duration = float(self.spec["duration"])
        warmup = float(self.spec.get("warmup", 0))
        rate = self.spec.get("rate")
        limit = int(self.spec.get("max_in_flight", 256)) if rate else connections
        connector = aiohttp.TCPConnector(limit=limit, force_close=False)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            if warmup > 0:
                until = time.monotonic() + warmup
                await asyncio.gather(*(self.closed_loop(session, until) for _ in range(min(connections, 10))))
            self.recording = True
            started = time.monotonic()
            if rate:
                late = await self.paced(session, float(rate), duration, limit)
            else:
                late = 0
                until = started + duration
                await asyncio.gather(*(self.closed_loop(session, until) for _ in range(connections)))
            elapsed = time.monotonic() - started
        result = latency_result(
            self.latencies, self.errors, elapsed, "python", statuses=self.statuses, late=late
        )
        return result.as_dict()

    async def paced(self, session: aiohttp.ClientSession, rate: float, duration: float, limit: int) -> int:
        """Start requests at `rate` per second for `duration`; returns how many started late."""
        interval = 1.0 / rate
        total = int(rate * duration)
        started = time.monotonic()
        gate = asyncio.Semaphore(limit)
        tasks: set[asyncio.Task[None]] = set()
        late = 0

        async def fire() -> None:
            try:
                await self.one(session)
            finally:
                gate.release()

        for i in range(total):
            due = started + i * interval
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.01:
                late += 1
            await gate.acquire()
            task = asyncio.create_task(fire())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
        return late


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    try:
        import uvloop

        result = uvloop.run(Load(spec).run())
    except ImportError:
        result = asyncio.run(Load(spec).run())
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
