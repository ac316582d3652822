"""The raw-stack side of the read and write comparisons: asyncpg alone, no HTTP, no app.

`python -m bench.rawdb '<json spec>'` runs in a process of its own, with uvloop and a plain
`asyncpg.create_pool` of the same size as the api's (10) with the library's defaults, and prints one
marked JSON line. Deliberately not the app's own `shared.db.create_pool`: the baseline must not move
when the app's pool settings change (its codecs and reset policy are the app's to tune).

- read: `connections` tasks each loop on the same primary-key select the app runs for
  `GET /v1/assets/:id` (its own SQL text, joins included), on ids picked at random.
- read_token: the same, preceded on the same connection by the app's own token lookup (its SQL
  text, for the hash of the run's token): the database work of an authenticated read, without
  HTTP. Context for the read ratio, not part of it.
- write: `connections` tasks each loop on one transaction inserting an asset row with the fields
  the app's POST sends, and an outbox row with a real event body of the same size. The outbox row
  is written already sent, with routing key `bench.raw`, so the api's relay never picks it up.

Spec keys: mode, dsn, org_id, connections, duration, warmup, pool_size, ids_file and
token_hash (read, read_token),
asset_type_id, tag_prefix, event_body_file (write).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from bench.common import emit, latency_result

try:  # the app's own query text, so that both sides do the same work
    from shared.repositories.assets import _SELECT as APP_SELECT

    READ_SQL = f"{APP_SELECT} WHERE a.org_id = $1 AND a.id = $2"
    READ_QUERY = "app's get_asset SELECT (joins included)"
except ImportError:  # pragma: no cover - the app renamed it
    READ_SQL = "SELECT * FROM assets a WHERE a.org_id = $1 AND a.id = $2"
    READ_QUERY = "SELECT * FROM assets by primary key"
try:
    from shared.repositories.organisations import LIVE_TOKEN_SQL as TOKEN_SQL
except ImportError:  # pragma: no cover - the app renamed it
    TOKEN_SQL = "SELECT * FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL"

INSERT_ASSET = """INSERT INTO assets (id, org_id, asset_tag, name, status, asset_type_id, serial_number,
    purchase_date, purchase_price, warranty_until, depreciation_schedule, notes)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"""
INSERT_OUTBOX = """INSERT INTO outbox (event_id, org_id, routing_key, body, sent_at)
    VALUES ($1, $2, 'bench.raw', $3, now())"""


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    mode = spec["mode"]
    org_id = uuid.UUID(spec["org_id"])
    connections = int(spec["connections"])
    duration = float(spec["duration"])
    warmup = float(spec.get("warmup", 0))
    size = int(spec.get("pool_size", 10))
    pool = await asyncpg.create_pool(spec["dsn"], min_size=min(2, size), max_size=size)
    assert pool is not None
    latencies: list[float] = []
    errors = 0
    recording = False
    counter = 0
    ids = [uuid.UUID(line) for line in spec.get("ids", [])]
    body: bytes = spec.get("event_body", b"")
    type_id = uuid.UUID(spec["asset_type_id"]) if spec.get("asset_type_id") else None
    tag_prefix = spec.get("tag_prefix", "RAW") + f"-{uuid.uuid4().hex[:6]}"

    async def read_once() -> None:
        async with pool.acquire() as conn:
            row = await conn.fetchrow(READ_SQL, org_id, random.choice(ids))
        assert row is not None

    token_hash = bytes.fromhex(spec.get("token_hash", ""))

    async def read_with_token_once() -> None:
        async with pool.acquire() as conn:
            token = await conn.fetchrow(TOKEN_SQL, token_hash)
            assert token is not None
            row = await conn.fetchrow(READ_SQL, org_id, random.choice(ids))
        assert row is not None

    async def write_once() -> None:
        nonlocal counter
        counter += 1
        today = dt.date.today()
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                INSERT_ASSET,
                uuid.uuid4(),
                org_id,
                f"{tag_prefix}-{counter:07d}",
                f"Dell Latitude 7440 raw-{counter}",
                "in_use",
                type_id,
                f"RAW{counter:08d}",
                today,
                Decimal("1649.00"),
                today.replace(year=today.year + 3) if not (today.month == 2 and today.day == 29) else today,
                "3_year_33_percent",
                "Purchased for new hire",
            )
            await conn.execute(INSERT_OUTBOX, uuid.uuid4(), org_id, body)

    operation = {"read": read_once, "read_token": read_with_token_once, "write": write_once}[mode]

    async def loop(until: float) -> None:
        nonlocal errors
        while time.monotonic() < until:
            started = time.perf_counter()
            try:
                await operation()
            except Exception:
                if recording:
                    errors += 1
                continue
            if recording:
                latencies.append(time.perf_counter() - started)

    try:
        if warmup > 0:
            await asyncio.gather(*(loop(time.monotonic() + warmup) for _ in range(connections)))
        recording = True
        started = time.monotonic()
        await asyncio.gather(*(loop(started + duration) for _ in range(connections)))
        elapsed = time.monotonic() - started
    finally:
        await pool.close()
    query = {
        "read": READ_QUERY,
        "read_token": f"the app's token lookup, then the {READ_QUERY}",
        "write": "INSERT asset + INSERT outbox in one transaction",
    }[mode]
    return latency_result(latencies, errors, elapsed, "asyncpg", query=query).as_dict()


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    if spec["mode"] in ("read", "read_token"):
        spec["ids"] = [
            line.strip() for line in Path(spec["ids_file"]).read_text().splitlines() if line.strip()
        ]
    else:
        spec["event_body"] = Path(spec["event_body_file"]).read_bytes()
    import uvloop

    emit(uvloop.run(run(spec)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
