"""The webhooks phase: how fast the worker delivers to one fast local receiver, and how long a
delivery takes from the write's transaction to the receiver, beside the raw side (the same bodies
POSTed by a plain aiohttp client at the dispatcher's concurrency per endpoint, signed alike, with
no database).

Each round (app and raw alternately), with one webhook for `asset.created`: a backlog of BACKLOG
deliveries made due in one transaction (as after an outage), timed from its commit to the last
arrival (the dispatcher's pace: claims, signing, sending, settling); then creates through the API
paced at half that rate (at most PACED_RATE a second) for `--duration` seconds, each delivery's
delay from its event's outbox row (`created_at`, the write transaction's time) to its arrival.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from bench.common import log, median, percentile
from bench.rawpipe import read_bodies, write_bodies
from bench.stack import REPO

if TYPE_CHECKING:
    from bench.run import Suite

WEBHOOK_ROUNDS = 3
BACKLOG = 5000
BACKLOG_SMOKE = 200
# The pace of the latency measurement: half the backlog's rate, at most this (the api and the
# worker keep it on this machine; the figure is the delay, not the load).
PACED_RATE = 100.0
# The dispatcher's default WEBHOOK_CONCURRENCY_PER_ENDPOINT: the raw side sends as many at a time.
PER_ENDPOINT = 4
ARRIVAL_LIMIT_S = 300.0


class Receiver:
    """bench.receiver in a process of its own."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"

    async def reset(self, session: aiohttp.ClientSession) -> None:
        async with session.post(f"{self.url}/reset") as answer:
            assert answer.status == 204

    async def received(self, session: aiohttp.ClientSession) -> dict[str, float]:
        async with session.get(f"{self.url}/received") as answer:
            found = await answer.json()
        return {webhook_id: at for webhook_id, at in found}


@contextlib.asynccontextmanager
async def _receiver(suite: Suite) -> AsyncIterator[Receiver]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.receiver", "{}", cwd=REPO, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode().split()
        if len(line) != 2 or line[0] != "READY":
            raise RuntimeError(f"the receiver did not start: {line!r}")
        yield Receiver(process, int(line[1]))
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        await process.wait()


async def webhooks_phase(suite: Suite) -> None:
    from bench.run import PIPELINE_CONNECTIONS

    log(
        "webhooks: API commit -> a delivery at a local receiver vs raw aiohttp POSTs "
        f"({PER_ENDPOINT} at a time)"
    )
    headers = {"Authorization": f"Bearer {suite.stack.token}"}
    rounds = []
    async with _receiver(suite) as receiver, aiohttp.ClientSession(headers=headers) as session:
        body = {"url": f"{receiver.url}/hook", "events": ["asset.created"], "description": "bench"}
        async with session.post(f"{suite.stack.base_url}/v1/webhooks", json=body) as answer:
            created = await answer.json()
            if answer.status != 201:
                raise RuntimeError(f"could not register the bench's webhook: {answer.status} {created}")
        webhook_id = created["data"]["id"]
        bodies = suite.workdir / "webhook-bodies.bin"
        last_count = 1000
        try:
            for r in range(max(1, min(suite.opts.rounds, WEBHOOK_ROUNDS))):
                order = ["app", "raw"] if r % 2 == 0 else ["raw", "app"]
                found: dict[str, Any] = {}
                for side in order:
                    if side == "app":
                        found["app"] = await _app_side(
                            suite, session, receiver, bodies, PIPELINE_CONNECTIONS, webhook_id
                        )
                        last_count = found["app"]["count"]
                    else:
                        if not bodies.exists():
                            await _keep_some_bodies(suite, bodies)
                        found["raw"] = await suite._helper(
                            "rawhooks",
                            {
                                "url": f"{receiver.url}/raw",
                                "bodies_file": str(bodies),
                                "count": max(100, min(last_count, 50_000)),
                                "concurrency": PER_ENDPOINT,
                            },
                        )
                app, raw = found["app"], found["raw"]
                ratio = app["rate"] / raw["rate"] if raw["rate"] else None
                rounds.append({"app": app, "raw": raw, "ratio": ratio})
                log(
                    f"  webhooks round {r + 1}: app {app['rate']:,.0f} deliveries/s of a backlog of "
                    f"{app['count']:,}, from commit p50/p99 "
                    f"{app['p50_ms']:.0f}/{app['p99_ms']:.0f} ms @ {app['half_rate']:.0f}/s | raw "
                    f"{raw['rate']:,.0f} POSTs/s, p50/p99 {raw['p50_ms']:.1f}/{raw['p99_ms']:.1f} ms"
                )
        finally:
            async with session.delete(f"{suite.stack.base_url}/v1/webhooks/{webhook_id}") as answer:
                await answer.read()
    suite.results["webhooks"] = {
        "ratio": median(r["ratio"] for r in rounds),
        "app": {
            key: median(r["app"][key] for r in rounds)
            for key in ("rate", "count", "half_rate", "p50_ms", "p99_ms")
        },
        "raw": {key: median(r["raw"][key] for r in rounds) for key in ("rate", "count", "p50_ms", "p99_ms")},
        "rounds": rounds,
    }


async def _app_side(
    suite: Suite,
    session: aiohttp.ClientSession,
    receiver: Receiver,
    bodies: Path,
    connections: int,
    webhook_id: str,
) -> dict[str, Any]:
    await suite.wait_quiet()
    await _keep_some_bodies(suite, bodies)
    # The dispatcher's own pace: a backlog of deliveries made due at once (as after an outage), to
    # the receiver, timed from their commit to the last arrival.
    count = BACKLOG_SMOKE if suite.opts.smoke else BACKLOG
    await receiver.reset(session)
    committed_at = await _backlog(suite, uuid.UUID(webhook_id), bodies, count)
    arrived = await _arrivals(suite, session, receiver, {}, count)
    span = max(arrived.values()) - committed_at.timestamp()
    rate = count / span if span > 0 else 0.0
    # The whole way, at a pace the api and the worker keep: from the write's transaction to arrival.
    paced_rate = max(1.0, min(rate / 2, PACED_RATE))
    await suite.wait_quiet()
    await receiver.reset(session)
    start = await suite.clock()
    await suite.http("post", "/v1/assets", connections, rate=paced_rate, duration=suite.opts.duration)
    end = await suite.clock()
    paced = await _events(suite, start, end)
    arrived2 = await _arrivals(suite, session, receiver, paced)
    delays = sorted((arrived2[e] - at.timestamp()) * 1000 for e, at in paced.items())
    return {
        "count": count,
        "rate": rate,
        "half_rate": paced_rate,
        "half_count": len(paced),
        "p50_ms": percentile(delays, 50),
        "p99_ms": percentile(delays, 99),
    }


async def _backlog(suite: Suite, webhook_id: uuid.UUID, bodies: Path, count: int) -> dt.datetime:
    """`count` deliveries of the kept bodies, due now, in one transaction; when it committed."""
    conn = await suite.db()
    try:
        found = read_bodies(str(bodies))
        async with conn.transaction():
            await conn.execute(
                """INSERT INTO webhook_deliveries (id, org_id, endpoint_id, event_id, event_type, body,
                                                   next_attempt_at)
                   SELECT gen_random_uuid(), $1, $2, 'backlog-' || gen_random_uuid(), 'asset.created',
                          ($3::bytea[])[1 + n % cardinality($3::bytea[])], now()
                   FROM generate_series(0, $4 - 1) AS n""",
                suite.org_id,
                webhook_id,
                found,
                count,
            )
            await conn.execute("NOTIFY assetflow_webhooks")
        committed: dt.datetime = await conn.fetchval("SELECT clock_timestamp()")
    finally:
        await conn.close()
    return committed


async def _events(suite: Suite, start: dt.datetime, end: dt.datetime) -> dict[str, dt.datetime]:
    """The asset.created events written in [start, end): id -> the write transaction's time."""
    conn = await suite.db()
    try:
        rows = await conn.fetch(
            """SELECT event_id, created_at FROM outbox WHERE routing_key = 'asset.created'
               AND created_at >= $1 AND created_at < $2""",
            start,
            end,
        )
    finally:
        await conn.close()
    if not rows:
        raise RuntimeError("the webhooks phase wrote no asset")
    return {str(r["event_id"]): r["created_at"] for r in rows}


async def _arrivals(
    suite: Suite,
    session: aiohttp.ClientSession,
    receiver: Receiver,
    events: dict[str, dt.datetime],
    backlog: int = 0,
) -> dict[str, float]:
    """Wait until the receiver has each event (or, for a backlog, that many arrivals); when each
    arrived (Unix seconds)."""
    deadline = time.monotonic() + ARRIVAL_LIMIT_S
    while True:
        arrived = await receiver.received(session)
        if backlog and len(arrived) >= backlog:
            return arrived
        if not backlog and all(event_id in arrived for event_id in events):
            return {event_id: arrived[event_id] for event_id in events}
        suite.stack.check_alive()
        if time.monotonic() > deadline:
            missing = sum(1 for e in events if e not in arrived)
            raise RuntimeError(
                f"{missing} of {len(events)} deliveries did not arrive within {ARRIVAL_LIMIT_S} s"
            )
        await asyncio.sleep(0.1)


async def _keep_some_bodies(
    suite: Suite, path: Path, start: dt.datetime | None = None, end: dt.datetime | None = None
) -> None:
    """The events' bodies the raw side sends: those of the app's burst (or any asset.created)."""
    conn = await suite.db()
    try:
        rows = await conn.fetch(
            """SELECT body FROM outbox WHERE routing_key = 'asset.created'
               AND ($1::timestamptz IS NULL OR (created_at >= $1 AND created_at < $2))
               ORDER BY seq DESC LIMIT 50000""",
            start,
            end,
        )
    finally:
        await conn.close()
    found = [bytes(r["body"]) for r in rows] or [b'{"id": "' + str(uuid.uuid4()).encode() + b'"}']
    write_bodies(str(path), found)
