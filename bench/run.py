"""The suite: read, rate-limiter, write, event pipeline, import and drain, list-at-scale and export
comparisons, then the report."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import shutil
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aiohttp
import asyncpg
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from bench import bulk, export, report, webhooks
from bench.common import PROJECTED_FROM, LoadResult, log, machine, median, parse_emitted, percentile
from bench.rawpipe import write_bodies
from bench.seed import seed_assets
from bench.stack import RATE_LIMIT_UNSPENDABLE, REPO, Service, Stack, running_stack
from shared.domain.tokens import hash_token
from shared.events import ASSET_CHANGE_TYPES
from shared.topology import CONSUMERS

HERE = Path(__file__).resolve().parent
LUA = HERE / "wrk" / "bench.lua"
READ_CONNECTIONS = (10, 50)
WRITE_CONNECTIONS = 10
POOL_SIZE = 10
PIPELINE_CONNECTIONS = 20
DEEP_PAGE = 5000
PAGE_LIMIT = 20
READ_ROUTE = "/v1/assets/{id}"  # the route label of GET /v1/assets/:id in the api's metrics
PHASES = ("read", "ratelimit", "write", "pipeline", "webhooks", "import", "drain", "list", "export")
# The api configurations of the ratelimit phase, in the order of its first round; the limited ones.
RATE_LIMIT_CONFIGS = report.RATE_LIMIT_CONFIGS
RATE_LIMITED = tuple(c for c in RATE_LIMIT_CONFIGS if c != "off")
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# The events each of the worker's consumers applies (and records in processed_events).
CHANGE_ROUTING_KEYS = [t.value for t in ASSET_CHANGE_TYPES]

POST_BODY = {
    "name": "Dell Latitude 7440 {n}",
    "status": "in_use",
    "serial_number": "BN{n}",
    "purchase_date": "2025-06-01",
    "purchase_price": 1649.00,
    "warranty_until": "2028-06-01",
    "depreciation_schedule": "3_year_33_percent",
    "notes": "Purchased for new hire",
}


@dataclass
class Options:
    smoke: bool = False
    sizes: list[int] = field(default_factory=lambda: [10_000, 100_000, 1_000_000])
    rounds: int = 5
    duration: float = 5.0
    warmup: float = 1.0
    list_connections: int = 2
    import_rows: int = bulk.IMPORT_ROWS
    loadgen: str = "auto"  # auto | wrk | python
    only: set[str] = field(default_factory=lambda: set(PHASES))
    output_dir: Path = HERE / "results"
    database_url: str = ""
    amqp_url: str = ""
    redis_url: str = DEFAULT_REDIS_URL
    command: str = ""

    @property
    def use_wrk(self) -> bool:
        if self.loadgen == "python":
            return False
        found = shutil.which("wrk") is not None
        if self.loadgen == "wrk" and not found:
            raise SystemExit("--loadgen wrk: wrk is not installed (apt-get install -y wrk)")
        return found


class Suite:
    def __init__(self, stack: Stack, opts: Options) -> None:
        self.stack = stack
        self.opts = opts
        self.workdir = stack.workdir
        self.ids_file = self.workdir / "ids.txt"
        self.body_file = self.workdir / "post-body.json"
        self.event_body_file = self.workdir / "event-body.json"
        self.body_file.write_text(json.dumps(POST_BODY))
        self.seeded = 0
        self.type_ids: dict[str, uuid.UUID] = {}
        self.results: dict[str, Any] = {}
        self.use_wrk = opts.use_wrk
        self._last_app_count: int | None = None
        self.checkpoint: Callable[[], None] = lambda: None

    @property
    def org_id(self) -> uuid.UUID:
        assert self.stack.org_id is not None
        return self.stack.org_id

    async def db(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.stack.dsn)

    # ---- running load -------------------------------------------------------------------------

    async def _helper(self, module: str, spec: dict[str, Any], limit_s: float = 900) -> dict[str, Any]:
        """Run `python -m bench.<module> <spec>` in a process of its own; its JSON result."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            f"bench.{module}",
            json.dumps(spec),
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), limit_s)
        if proc.returncode != 0:
            raise RuntimeError(f"bench.{module} failed ({proc.returncode}): {err.decode()[-3000:]}")
        return parse_emitted(out.decode())

    async def _wrk(
        self,
        mode: str,
        path: str,
        connections: int,
        duration: float,
        file: Path | None,
        base_url: str | None = None,
    ) -> LoadResult:
        seconds = max(1, math.ceil(duration))
        args = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA),
            (base_url or self.stack.base_url) + path,
            "--",
            mode,
            self.stack.token,
            str(file or ""),
        ]
        proc = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(proc.communicate(), seconds + 60)
        if proc.returncode != 0:
            raise RuntimeError(f"wrk failed ({proc.returncode}): {err.decode()[-2000:]}")
        found = parse_emitted(out.decode())
        errors = sum(int(v) for k, v in found.items() if k.startswith("errors_"))
        return LoadResult(
            requests=int(found["requests"]) - int(found["errors_status"]),
            errors=errors,
            duration_s=found["duration_us"] / 1e6,
            p50_ms=found["p50_us"] / 1000,
            p99_ms=found["p99_us"] / 1000,
            generator="wrk",
            extra={"max_ms": found["max_us"] / 1000},
        )

    async def http(
        self,
        mode: str,
        path: str,
        connections: int,
        *,
        duration: float | None = None,
        file: Path | None = None,
        rate: float | None = None,
        base_url: str | None = None,
    ) -> LoadResult:
        """Load the api (the stack's, or the one at `base_url`) from another process: wrk when
        present (and not paced), else bench.loadgen."""
        duration = duration if duration is not None else self.opts.duration
        warmup = self.opts.warmup
        if self.use_wrk and rate is None:
            if warmup > 0:
                await self._wrk(mode, path, connections, warmup, file, base_url)
            result = await self._wrk(mode, path, connections, duration, file, base_url)
        else:
            spec: dict[str, Any] = {
                "base_url": base_url or self.stack.base_url,
                "token": self.stack.token,
                "connections": connections,
                "duration": duration,
                "warmup": warmup if rate is None else 0,
                "method": "POST" if mode == "post" else "GET",
            }
            if mode == "ids":
                spec.update(ids_file=str(file), path_template=path + "{id}")
            else:
                spec["paths"] = [path]
            if mode == "post":
                spec["body"] = POST_BODY
            if rate is not None:
                spec["rate"] = rate
            found = await self._helper("loadgen", spec)
            result = LoadResult(
                requests=found["requests"],
                errors=found["errors"],
                duration_s=found["duration_s"],
                p50_ms=found["p50_ms"],
                p99_ms=found["p99_ms"],
                generator="python",
                extra=found.get("extra", {}),
            )
        if result.errors:
            log(f"  {result.errors} errors loading {path} ({result.generator}); {result.extra}")
        self.stack.check_alive()
        return result

    async def raw_db(self, mode: str, connections: int) -> LoadResult:
        spec: dict[str, Any] = {
            "mode": mode,
            "dsn": self.stack.dsn,
            "org_id": str(self.org_id),
            "connections": connections,
            "duration": self.opts.duration,
            "warmup": self.opts.warmup,
            "pool_size": POOL_SIZE,
            "ids_file": str(self.ids_file),
            "event_body_file": str(self.event_body_file),
            "asset_type_id": str(self.type_ids.get("LAP", "")) or None,
            "tag_prefix": f"{self.stack.org_prefix}-RAW",
            "token_hash": hash_token(self.stack.token).hex(),
        }
        found = await self._helper("rawdb", spec)
        return LoadResult(
            requests=found["requests"],
            errors=found["errors"],
            duration_s=found["duration_s"],
            p50_ms=found["p50_ms"],
            p99_ms=found["p99_ms"],
            generator="asyncpg",
            extra=found.get("extra", {}),
        )

    async def alternate(
        self,
        name: str,
        rounds: int,
        app: Callable[[], Awaitable[Any]],
        raw: Callable[[], Awaitable[Any]],
    ) -> list[tuple[Any, Any]]:
        """Run both sides `rounds` times, alternating which goes first."""
        pairs = []
        for r in range(rounds):
            order = [("app", app), ("raw", raw)] if r % 2 == 0 else [("raw", raw), ("app", app)]
            found: dict[str, Any] = {}
            for side, run in order:
                found[side] = await run()
            pairs.append((found["app"], found["raw"]))
            log(f"  {name} round {r + 1}/{rounds}: {_brief(found['app'])} | raw {_brief(found['raw'])}")
        return pairs

    # ---- waiting for the pipeline -------------------------------------------------------------

    async def wait_quiet(self, limit_s: float = 300.0) -> None:
        """Until every event in the outbox is published, and each asset change applied by every
        consumer (the worker's coverage notices, also in the outbox, go to the webhooks consumer
        only)."""
        conn = await self.db()
        try:
            deadline = time.monotonic() + limit_s
            while True:
                pending = await conn.fetchval(
                    """SELECT count(*) FROM outbox o
                       LEFT JOIN (SELECT event_id, count(*) AS n FROM processed_events GROUP BY event_id) p
                         USING (event_id)
                       WHERE o.routing_key <> 'bench.raw' AND (o.sent_at IS NULL
                         OR (o.routing_key = ANY($1::text[]) AND coalesce(p.n, 0) < $2))""",
                    CHANGE_ROUTING_KEYS,
                    len(CONSUMERS),
                )
                if pending == 0:
                    return
                self.stack.check_alive()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{pending} events still not applied after {limit_s} s")
                await asyncio.sleep(0.1)
        finally:
            await conn.close()

    async def clock(self) -> dt.datetime:
        conn = await self.db()
        try:
            found: dt.datetime = await conn.fetchval("SELECT clock_timestamp()")
            return found
        finally:
            await conn.close()

    async def projected(
        self, start: dt.datetime, end: dt.datetime, limit_s: float = 300.0
    ) -> tuple[int, float, list[float]]:
        """Wait until every asset created in [start, end) has its lifecycle, depreciation and audit
        rows; then (count, assets per second from first commit to last projection, delays in ms)."""
        conn = await self.db()
        try:
            deadline = time.monotonic() + limit_s
            while True:
                rows = await conn.fetch(
                    f"""SELECT a.created_at,
                              greatest(l.updated_at, d.updated_at, p.processed_at) AS done,
                              (l.asset_id IS NULL OR d.asset_id IS NULL OR p.event_id IS NULL) AS missing
                       {PROJECTED_FROM}
                       WHERE a.org_id = $1 AND a.created_at >= $2 AND a.created_at < $3""",
                    self.org_id,
                    start,
                    end,
                )
                if rows and not any(r["missing"] for r in rows):
                    break
                self.stack.check_alive()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"projections incomplete after {limit_s} s")
                await asyncio.sleep(0.1)
        finally:
            await conn.close()
        delays = sorted((r["done"] - r["created_at"]).total_seconds() * 1000 for r in rows)
        span = (max(r["done"] for r in rows) - min(r["created_at"] for r in rows)).total_seconds()
        return len(rows), len(rows) / span if span > 0 else 0.0, delays

    # ---- phases -------------------------------------------------------------------------------

    async def seed_to(self, size: int) -> None:
        if size <= self.seeded:
            return
        log(f"seeding {size - self.seeded:,} assets (to {size:,})")
        found = await seed_assets(self.stack.dsn, self.stack.org_name, size - self.seeded, show_progress=True)
        log(
            f"  seeded in {found.seconds:.1f} s ({found.rows_per_second:,.0f} rows/s), "
            f"{found.total_assets:,} in all"
        )
        self.results.setdefault("seeding", []).append(
            {
                "to": size,
                "added": found.added,
                "seconds": round(found.seconds, 1),
                "rows_per_second": round(found.rows_per_second),
            }
        )
        self.seeded = size
        if not self.type_ids:
            conn = await self.db()
            try:
                rows = await conn.fetch("SELECT code, id FROM asset_types WHERE org_id = $1", self.org_id)
                self.type_ids = {r["code"]: r["id"] for r in rows}
            finally:
                await conn.close()

    async def prepare_ids(self) -> None:
        conn = await self.db()
        try:
            rows = await conn.fetch(
                "SELECT id FROM assets WHERE org_id = $1 ORDER BY random() LIMIT 10000", self.org_id
            )
        finally:
            await conn.close()
        self.ids_file.write_text("".join(f"{r['id']}\n" for r in rows))

    async def read_phase(self) -> None:
        log("read: GET /v1/assets/:id vs the same select on a raw asyncpg pool of 10")
        await self.prepare_ids()
        out: dict[str, Any] = {}
        with self.stack.worker_paused():
            for connections in READ_CONNECTIONS:
                with_token: list[LoadResult] = []

                async def app(c: int = connections) -> LoadResult:
                    return await self.http("ids", "/v1/assets/", c, file=self.ids_file)

                async def raw(c: int = connections, noted: list[LoadResult] = with_token) -> LoadResult:
                    # Also, for context, the raw loop doing the app's token lookup before each select.
                    noted.append(await self.raw_db("read_token", c))
                    return await self.raw_db("read", c)

                pairs = await self.alternate(f"read c={connections}", self.opts.rounds, app, raw)
                out[str(connections)] = _comparison(pairs)
                out[str(connections)]["raw_with_token"] = _side(with_token, [a for a, _ in pairs])
                log(f"  read c={connections}, raw with the token lookup: {_brief(with_token[-1])} (last)")
        self.results["read"] = out

    # ---- the rate limiter's cost on the read path --------------------------------------------

    def rate_limit_env(self, config: str) -> dict[str, str]:
        """The api's settings for one configuration of the ratelimit phase."""
        if config == "off":
            return {"RATE_LIMIT_ENABLED": "false"}
        storage = "memory://" if config == "memory" else self.opts.redis_url
        return {
            "RATE_LIMIT_ENABLED": "true",
            "RATE_LIMIT_STORAGE_URL": storage,
            "RATE_LIMIT_KEY_PREFIX": self.stack.rate_limit_prefix,
            **RATE_LIMIT_UNSPENDABLE,
        }

    async def ratelimit_phase(self) -> None:
        log(
            "ratelimit: GET /v1/assets/:id with the rate limiter off, on in memory and on in Redis "
            f"({_redacted(self.opts.redis_url)}), budgets {RATE_LIMIT_UNSPENDABLE['RATE_LIMIT_READ']}, "
            "a fresh api process per measurement"
        )
        if not self.ids_file.exists():
            await self.prepare_ids()
        await self._redis_answers()
        out: dict[str, Any] = {
            "budgets": {
                "RATE_LIMIT_READ": RATE_LIMIT_UNSPENDABLE["RATE_LIMIT_READ"],
                "RATE_LIMIT_ORG_READ": RATE_LIMIT_UNSPENDABLE["RATE_LIMIT_ORG_READ"],
            },
            "redis_url": _redacted(self.opts.redis_url),
            "redis_key_prefix": self.stack.rate_limit_prefix,
            "connections": {},
        }
        self.results["ratelimit"] = out
        try:
            # The smoke run proves the phase works on one load: each measurement starts an api.
            levels = READ_CONNECTIONS[:1] if self.opts.smoke else READ_CONNECTIONS
            with self.stack.worker_paused():
                for connections in levels:
                    rounds: list[dict[str, Any]] = []
                    for r in range(self.opts.rounds):
                        # Rotated, so that each configuration goes first, second and third alike.
                        shift = r % len(RATE_LIMIT_CONFIGS)
                        order = [*RATE_LIMIT_CONFIGS[shift:], *RATE_LIMIT_CONFIGS[:shift]]
                        found: dict[str, Any] = {"order": order}
                        for config in order:
                            found[config] = await self._rate_limited_read(config, connections)
                        found["cost"] = {
                            c: _cost(found[c]["rate"], found["off"]["rate"]) for c in RATE_LIMITED
                        }
                        rounds.append(found)
                        log(
                            f"  ratelimit c={connections} round {r + 1}/{self.opts.rounds}: "
                            + " | ".join(f"{c} {found[c]['rate']:,.0f}/s" for c in RATE_LIMIT_CONFIGS)
                            + " | cost "
                            + ", ".join(f"{c} {_num3(found['cost'][c])}" for c in RATE_LIMITED)
                        )
                    out["connections"][str(connections)] = _rate_limit_summary(rounds)
                    self.checkpoint()
        finally:
            out["redis_keys_deleted"] = await self._delete_redis_keys()
        for connections, found in out["connections"].items():
            log(
                f"  ratelimit c={connections} medians: "
                + " | ".join(f"{c} {found[c]['rate']:,.0f}/s" for c in RATE_LIMIT_CONFIGS)
                + " | cost "
                + ", ".join(f"{c} {_num3(found['cost'][c])}" for c in RATE_LIMITED)
            )

    async def _rate_limited_read(self, config: str, connections: int) -> dict[str, Any]:
        """One measurement of the read load on a fresh api process in one configuration, with
        proof that its limiter was what the configuration says and that nothing was throttled."""
        limited = config in RATE_LIMITED
        async with self.stack.extra_api(f"api-ratelimit-{config}", self.rate_limit_env(config)) as api:
            probe = await self._probe(api)
            remaining = probe.get("x-ratelimit-remaining")
            if probe["status"] != 200:
                raise RuntimeError(f"ratelimit {config}: the probe GET answered {probe}\n{api.tail()}")
            if limited and (
                remaining is None
                or probe.get("x-ratelimit-limit") != _amount(RATE_LIMIT_UNSPENDABLE["RATE_LIMIT_READ"])
            ):
                raise RuntimeError(
                    f"ratelimit {config}: the limiter is not counting (a GET answered without "
                    f"X-RateLimit-Remaining, or with another budget): {probe}\n{api.tail()}"
                )
            if not limited and remaining is not None:
                raise RuntimeError(f"ratelimit off: the limiter is still on: {probe}")
            load = await self.http(
                "ids", "/v1/assets/", connections, file=self.ids_file, base_url=api.base_url
            )
            if not api.alive():
                raise RuntimeError(f"the {api.name} exited:\n{api.tail()}")
            counted = await self._api_counts(api)
            rss = api.peak_rss_mb()
            tail = api.tail()
        if not counted["statuses"].get("200"):
            raise RuntimeError(f"ratelimit {config}: the api counted no 200 on {READ_ROUTE}: {counted}")
        client_429 = int(load.extra.get("statuses", {}).get("429", 0))  # bench.loadgen's own count
        if counted["any_429"] or counted["throttled"] or client_429:
            raise RuntimeError(
                f"ratelimit {config} at {connections} connections: THROTTLED, the figure is void: "
                f"the api answered {counted['any_429']} x 429 "
                f"(assetflow_http_throttled_total {counted['throttled']}, the load generator saw "
                f"{client_429}); statuses {counted['statuses']}"
            )
        if limited and counted["storage_errors"]:
            raise RuntimeError(
                f"ratelimit {config}: {counted['storage_errors']} requests were served without limits "
                f"(assetflow_rate_limit_storage_errors_total): its storage did not answer\n{tail}"
            )
        return {
            **load.as_dict(),
            "statuses": counted["statuses"],
            "x_ratelimit_remaining": remaining,
            "rss_mb": rss,
        }

    async def _probe(self, api: Service) -> dict[str, Any]:
        """One GET of an asset: its status and its rate-limit headers (names in lower case)."""
        asset_id = self.ids_file.read_text().split("\n", 1)[0].strip()
        headers = {"Authorization": f"Bearer {self.stack.token}"}
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{api.base_url}/v1/assets/{asset_id}", headers=headers) as resp,
        ):
            await resp.read()
            found: dict[str, Any] = {"status": resp.status}
            for name, value in resp.headers.items():
                if name.lower().startswith(("x-ratelimit", "ratelimit")):
                    found[name.lower()] = value
            return found

    async def _api_counts(self, api: Service) -> dict[str, Any]:
        """What an api process counted (its /metrics): its answers to GET /v1/assets/{id} by status
        (warm-up and probe included), its 429s on any route, the 429s by budget, and the requests
        it served unlimited because the storage did not answer."""
        async with aiohttp.ClientSession() as session, session.get(f"{api.base_url}/metrics") as resp:
            text = await resp.text()
        statuses: dict[str, int] = {}
        any_429 = throttled = storage_errors = 0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "assetflow_http_requests_total":
                    status = sample.labels["status"]
                    if status == "429":
                        any_429 += int(sample.value)
                    if sample.labels["method"] == "GET" and sample.labels["route"] == READ_ROUTE:
                        statuses[status] = statuses.get(status, 0) + int(sample.value)
                elif sample.name == "assetflow_http_throttled_total":
                    throttled += int(sample.value)
                elif sample.name == "assetflow_rate_limit_storage_errors_total":
                    storage_errors += int(sample.value)
        return {
            "statuses": statuses,
            "any_429": any_429,
            "throttled": throttled,
            "storage_errors": storage_errors,
        }

    async def _redis_answers(self) -> None:
        client = aioredis.from_url(self.opts.redis_url, socket_connect_timeout=2, socket_timeout=2)
        try:
            await client.ping()
        except Exception as exc:
            raise RuntimeError(
                f"the ratelimit phase needs Redis at {_redacted(self.opts.redis_url)} (--redis-url or "
                f"REDIS_URL), which did not answer: {exc!r}; or leave the phase out with --only"
            ) from exc
        finally:
            await client.aclose()

    async def _delete_redis_keys(self) -> int:
        """Delete the run's rate-limit keys from Redis; how many there were."""
        client = aioredis.from_url(self.opts.redis_url, socket_connect_timeout=2, socket_timeout=5)
        deleted = 0
        try:
            keys = [
                key async for key in client.scan_iter(match=f"{self.stack.rate_limit_prefix}:*", count=1000)
            ]
            for start in range(0, len(keys), 1000):
                deleted += await client.delete(*keys[start : start + 1000])
        except Exception as exc:
            log(f"  could not delete the run's Redis keys ({self.stack.rate_limit_prefix}:*): {exc!r}")
        finally:
            await client.aclose()
        log(f"  deleted {deleted} Redis keys {self.stack.rate_limit_prefix}:*")
        return deleted

    async def write_phase(self) -> None:
        log("write: POST /v1/assets vs a raw transaction inserting an asset and an outbox row")
        # One real event, so that the raw side writes an outbox body of the same size.
        await self._sample_event()

        async def app() -> LoadResult:
            with self.stack.worker_paused():
                result = await self.http("post", "/v1/assets", WRITE_CONNECTIONS, file=self.body_file)
            await self.wait_quiet()
            return result

        async def raw() -> LoadResult:
            return await self.raw_db("write", WRITE_CONNECTIONS)

        pairs = await self.alternate(f"write c={WRITE_CONNECTIONS}", self.opts.rounds, app, raw)
        self.results["write"] = {str(WRITE_CONNECTIONS): _comparison(pairs)}

    async def _sample_event(self) -> None:
        conn = await self.db()
        try:
            body = await conn.fetchval(
                "SELECT body FROM outbox WHERE routing_key = 'asset.created' ORDER BY seq DESC LIMIT 1"
            )
            if body is None:
                await conn.close()
                await self.http("post", "/v1/assets", 1, duration=1, file=self.body_file)
                conn = await self.db()
                body = await conn.fetchval(
                    "SELECT body FROM outbox WHERE routing_key = 'asset.created' ORDER BY seq DESC LIMIT 1"
                )
        finally:
            await conn.close()
        assert body is not None, "no event in the outbox after a POST"
        self.event_body_file.write_bytes(bytes(body))
        await self.wait_quiet()

    async def pipeline_phase(self) -> None:
        log("pipeline: API commit -> lifecycle, depreciation and audit rows vs raw aio-pika publish+consume")
        rounds = []
        for r in range(self.opts.rounds):
            order = ["app", "raw"] if r % 2 == 0 else ["raw", "app"]
            found: dict[str, Any] = {}
            for side in order:
                found[side] = await (self._pipeline_app() if side == "app" else self._pipeline_raw(found))
            app, raw = found["app"], found["raw"]
            ratio = app["max_rate"] / raw["max_rate"] if raw["max_rate"] else None
            rounds.append({"app": app, "raw": raw, "ratio": ratio})
            log(
                f"  pipeline round {r + 1}/{self.opts.rounds}: app {app['max_rate']:,.0f}/s "
                f"e2e p50/p99 {app['half_p50_ms']:.0f}/{app['half_p99_ms']:.0f} ms @ {app['half_rate']:.0f}/s"
                f" | raw {raw['max_rate']:,.0f}/s e2e p50/p99 "
                f"{raw['half_p50_ms']:.1f}/{raw['half_p99_ms']:.1f} ms"
                f" @ {raw['half_rate']:.0f}/s"
            )
        summary = {
            side: {
                key: median(r[side][key] for r in rounds)
                for key in ("max_rate", "half_rate", "half_p50_ms", "half_p99_ms", "count")
            }
            for side in ("app", "raw")
        }
        self.results["pipeline"] = {
            "ratio": median(r["ratio"] for r in rounds),
            **summary,
            "rounds": rounds,
        }

    async def _pipeline_app(self) -> dict[str, Any]:
        duration = self.opts.duration
        await self.wait_quiet()
        start = await self.clock()
        load = await self.http("post", "/v1/assets", PIPELINE_CONNECTIONS, file=self.body_file)
        end = await self.clock()
        count, max_rate, _ = await self.projected(start, end)
        self._last_app_count = count
        await self.wait_quiet()
        await self._keep_bodies(start, end)
        half = max(max_rate / 2, 1.0)
        start2 = await self.clock()
        paced = await self.http("post", "/v1/assets", PIPELINE_CONNECTIONS, rate=half, duration=duration)
        end2 = await self.clock()
        _, _, delays = await self.projected(start2, end2)
        await self.wait_quiet()
        return {
            "count": count,
            "max_rate": max_rate,
            "api_rate": load.rate,
            "half_rate": half,
            "half_sent": paced.requests,
            "half_p50_ms": percentile(delays, 50),
            "half_p99_ms": percentile(delays, 99),
        }

    async def _keep_bodies(self, start: dt.datetime, end: dt.datetime) -> None:
        conn = await self.db()
        try:
            rows = await conn.fetch(
                """SELECT body FROM outbox WHERE routing_key = 'asset.created'
                   AND created_at >= $1 AND created_at < $2 ORDER BY seq""",
                start,
                end,
            )
        finally:
            await conn.close()
        if rows:
            write_bodies(str(self.workdir / "bodies.bin"), [bytes(r["body"]) for r in rows])

    async def _pipeline_raw(self, found: dict[str, Any]) -> dict[str, Any]:
        bodies = self.workdir / "bodies.bin"
        if not bodies.exists():
            write_bodies(str(bodies), [self.event_body_file.read_bytes()])
        # As many messages as the app's side carried (its last run when the raw side goes first).
        count = int(found["app"]["count"]) if "app" in found else (self._last_app_count or 1000)
        count = max(100, min(count, 50_000))
        first = await self._raw_pipe(count, None)
        half = max(first["rate"] / 2, 1.0)
        second = await self._raw_pipe(max(10, int(half * self.opts.duration)), half)
        return {
            "count": first["complete"],
            "max_rate": first["rate"],
            "half_rate": half,
            "half_p50_ms": second["p50_ms"],
            "half_p99_ms": second["p99_ms"],
        }

    async def _raw_pipe(
        self, count: int, rate: float | None, bodies: Path | None = None, limit_s: float = 300
    ) -> dict[str, Any]:
        """Publish `count` messages of the bodies in `bodies` (the pipeline phase's by default)
        through the raw topology and consume them; the consumer's figures."""
        common = {"amqp_url": self.stack.amqp_url, "prefix": self.stack.prefix}
        consumer = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.rawpipe",
            json.dumps({**common, "mode": "consume", "expect": count, "prefetch": 50, "timeout": limit_s}),
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert consumer.stdout is not None
        try:
            line = await asyncio.wait_for(consumer.stdout.readline(), 60)
            if line.strip() != b"READY":
                raise RuntimeError(f"raw consumer did not start: {line!r}")
            spec = {
                **common,
                "mode": "publish",
                "bodies_file": str(bodies or self.workdir / "bodies.bin"),
                "count": count,
            }
            if rate is not None:
                spec["rate"] = rate
            published = await self._helper("rawpipe", spec, limit_s=limit_s + 100)
            if published["failures"]:
                log(f"  raw publisher: {published['failures']} publishes failed")
            out, err = await asyncio.wait_for(consumer.communicate(), limit_s + 100)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                consumer.kill()
            raise
        if consumer.returncode != 0:
            raise RuntimeError(f"raw consumer failed: {err.decode()[-2000:]}")
        return parse_emitted(out.decode())

    async def reset_after_writes(self, since: dt.datetime) -> None:
        """Remove what the write and pipeline phases added, so the lists see exactly the seeded rows."""
        await self.wait_quiet()
        conn = await self.db()
        try:
            await conn.execute(
                "DELETE FROM assets WHERE org_id = $1 AND created_at >= $2", self.org_id, since
            )
            await conn.execute(
                "TRUNCATE outbox, processed_events, audit_log, asset_lifecycle, asset_depreciation CASCADE"
            )
            await conn.execute("VACUUM ANALYZE assets")
            await conn.execute("VACUUM ANALYZE asset_counts")
        finally:
            await conn.close()

    def list_cases(self, size: int, q_rare: str) -> list[tuple[str, str, bool]]:
        """(label, path, first page?) of each list measured."""
        deep = DEEP_PAGE if size >= DEEP_PAGE * PAGE_LIMIT else max(1, size // PAGE_LIMIT)
        return [
            ("v1 no filter", "/v1/assets", True),
            ("v1 status+kind", "/v1/assets?status=in_use&kind=physical", True),
            ("v1 q name fragment", "/v1/assets?q=thinkpad", True),
            ("v1 q rare (serial part)", f"/v1/assets?q={quote(q_rare)}", True),
            (f"v1 deep page {deep}", f"/v1/assets?page={deep}&limit={PAGE_LIMIT}", False),
            ("v2 ordering=-created_date", "/api/v2/asset/?ordering=-created_date", True),
        ]

    async def list_phase(self) -> None:
        rounds = max(1, min(self.opts.rounds, 3))
        out: dict[str, Any] = {}
        for size in self.opts.sizes:
            await self.seed_to(size)
            conn = await self.db()
            try:
                await conn.execute("VACUUM ANALYZE assets")
                serial = await conn.fetchval(
                    """SELECT serial_number FROM assets WHERE org_id = $1 AND length(serial_number) >= 10
                       ORDER BY number LIMIT 1""",
                    self.org_id,
                )
            finally:
                await conn.close()
            q_rare = (serial or "ABCDEFGH")[2:9].lower()
            log(f"lists at {size:,} assets ({self.opts.list_connections} connections, {rounds} rounds)")
            cases: dict[str, Any] = {}
            for label, path, first_page in self.list_cases(size, q_rare):
                runs = [await self.http("get", path, self.opts.list_connections) for _ in range(rounds)]
                cases[label] = {
                    "path": path,
                    "first_page": first_page,
                    "p50_ms": median(r.p50_ms for r in runs),
                    "p99_ms": median(r.p99_ms for r in runs),
                    "rate": median(r.rate for r in runs),
                    "errors": sum(r.errors for r in runs),
                }
                log(f"  {label:<28} p50 {cases[label]['p50_ms']:.1f} ms  p99 {cases[label]['p99_ms']:.1f} ms")
            out[str(size)] = cases
            self.results["list"] = out
            self.checkpoint()

    def rss(self) -> dict[str, float | None]:
        assert self.stack.api is not None and self.stack.worker is not None
        return {
            "api": self.stack.api.peak_rss_mb(),
            "worker": self.stack.worker.peak_rss_mb(),
            "api_export": self.results.get("export", {}).get("api_rss_mb"),
        }


def _brief(found: Any) -> str:
    if isinstance(found, LoadResult):
        return f"{found.rate:,.0f}/s p50 {found.p50_ms:.1f} ms p99 {found.p99_ms:.1f} ms"
    return str(found)


def _redacted(url: str) -> str:
    """A URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def _amount(budget: str) -> str:
    """The number of requests of a budget such as `1000000/second`."""
    return budget.split("/", 1)[0].strip()


def _cost(rate: float | None, rate_off: float | None) -> float | None:
    """The fraction of the read rate the limiter lost: 1 - limited / off (negative: noise)."""
    return 1 - rate / rate_off if rate is not None and rate_off else None


def _num3(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _rate_limit_summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per configuration over the rounds; each cost the median of the per-round costs."""
    found: dict[str, Any] = {}
    for config in RATE_LIMIT_CONFIGS:
        runs = [r[config] for r in rounds]
        statuses: dict[str, int] = {}
        for run in runs:
            for status, n in run["statuses"].items():
                statuses[status] = statuses.get(status, 0) + n
        found[config] = {
            "rate": median(run["rate"] for run in runs),
            "p50_ms": median(run["p50_ms"] for run in runs),
            "p99_ms": median(run["p99_ms"] for run in runs),
            "errors": sum(run["errors"] for run in runs),
            "statuses": statuses,
            "rss_mb": max((run["rss_mb"] for run in runs if run["rss_mb"] is not None), default=None),
            "generator": runs[0]["generator"] if runs else None,
        }
    found["cost"] = {c: median(r["cost"][c] for r in rounds) for c in RATE_LIMITED}
    found["rounds"] = rounds
    return found


def _side(results: list[LoadResult], apps: list[LoadResult]) -> dict[str, Any]:
    """Medians of a context measurement, and the app's rate over it round by round."""
    return {
        "rate": median(r.rate for r in results),
        "p50_ms": median(r.p50_ms for r in results),
        "p99_ms": median(r.p99_ms for r in results),
        "errors": sum(r.errors for r in results),
        "app_ratio": median(a.rate / r.rate if r.rate else None for a, r in zip(apps, results, strict=True)),
    }


def _comparison(pairs: list[tuple[LoadResult, LoadResult]]) -> dict[str, Any]:
    ratios = [a.rate / r.rate if r.rate else None for a, r in pairs]
    return {
        "ratio": median(ratios),
        "app": {
            "rate": median(a.rate for a, _ in pairs),
            "p50_ms": median(a.p50_ms for a, _ in pairs),
            "p99_ms": median(a.p99_ms for a, _ in pairs),
            "errors": sum(a.errors for a, _ in pairs),
            "generator": pairs[0][0].generator if pairs else None,
        },
        "raw": {
            "rate": median(r.rate for _, r in pairs),
            "p50_ms": median(r.p50_ms for _, r in pairs),
            "p99_ms": median(r.p99_ms for _, r in pairs),
            "errors": sum(r.errors for _, r in pairs),
        },
        "rounds": [{"app": a.as_dict(), "raw": r.as_dict()} for a, r in pairs],
    }


def summarise(
    results: dict[str, Any], opts: Options, rss: dict[str, float | None], load_generator: str
) -> dict[str, Any]:
    """The document written to latest.json: the tracked keys first, then the details."""
    read = results.get("read", {})
    read_ratios = [v["ratio"] for v in read.values() if v.get("ratio") is not None]
    lists = results.get("list", {})
    list_p99 = {
        size: max((c["p99_ms"] for c in cases.values() if c["first_page"]), default=None)
        for size, cases in lists.items()
    }
    deep = None
    if lists:
        largest = max(lists, key=int)
        deep = next((c["p99_ms"] for c in lists[largest].values() if not c["first_page"]), None)
    write = results.get("write", {}).get(str(WRITE_CONNECTIONS), {})
    pipeline = results.get("pipeline", {})
    imported, drain, exported = (results.get(p, {}) for p in ("import", "drain", "export"))
    hooks = results.get("webhooks", {})
    limited = results.get("ratelimit", {}).get("connections", {})
    rate_limit_cost = None
    if limited:
        # The worse (higher) of the connection counts, as read_ratio takes the lower ratio.
        rate_limit_cost = {
            c: max((v["cost"][c] for v in limited.values() if v["cost"][c] is not None), default=None)
            for c in RATE_LIMITED
        }
    document = {
        "read_ratio": min(read_ratios) if read_ratios else None,
        "rate_limit_cost": rate_limit_cost,
        "write_ratio": write.get("ratio"),
        "pipeline_ratio": pipeline.get("ratio"),
        "import_ratio": imported.get("ratio"),
        "drain_ratio": drain.get("ratio"),
        "export_ratio": exported.get("ratio"),
        "import_rows_per_s": imported.get("app", {}).get("rate"),
        "drain_assets_per_s": drain.get("app", {}).get("rate"),
        "export_rows_per_s": exported.get("app", {}).get("rate"),
        "list_p99_ms": list_p99,
        "e2e_p99_ms": pipeline.get("app", {}).get("half_p99_ms"),
        "webhook_ratio": hooks.get("ratio"),
        "webhook_deliveries_per_s": hooks.get("app", {}).get("rate"),
        "webhook_p50_ms": hooks.get("app", {}).get("p50_ms"),
        "webhook_p99_ms": hooks.get("app", {}).get("p99_ms"),
        "deep_page_p99_ms": deep,
        "rss_mb": rss,
        "machine": machine(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mode": "smoke" if opts.smoke else "full",
        "command": opts.command,
        "load_generator": load_generator,
        "options": {
            "sizes": opts.sizes,
            "rounds": opts.rounds,
            "duration_s": opts.duration,
            "warmup_s": opts.warmup,
            "read_connections": list(READ_CONNECTIONS),
            "write_connections": WRITE_CONNECTIONS,
            "pipeline_connections": PIPELINE_CONNECTIONS,
            "list_connections": opts.list_connections,
            "import_rows": opts.import_rows,
            "bulk_rounds": max(1, min(opts.rounds, bulk.BULK_ROUNDS)),
            "pool_size": POOL_SIZE,
            "phases": [p for p in PHASES if p in opts.only],
        },
        "details": results,
    }
    document["targets"] = report.targets(document)
    return document


def _write(document: dict[str, Any], directory: Path, suffix: str = "") -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"latest.json{suffix}").write_text(json.dumps(document, indent=2, default=str) + "\n")
    (directory / f"latest.md{suffix}").write_text(report.markdown(document))


async def run_suite(opts: Options) -> dict[str, Any]:
    load_generator = (
        "wrk (paced load: bench.loadgen, a separate Python process)"
        if opts.use_wrk
        else "bench.loadgen, a separate Python process (wrk not installed)"
    )
    log(f"load generator: {load_generator}")
    async with running_stack(opts.database_url, opts.amqp_url) as stack:
        suite = Suite(stack, opts)

        def checkpoint() -> None:
            """What is measured so far, as latest.json.tmp / latest.md.tmp: a long run that is cut
            off still leaves its figures."""
            partial = summarise(suite.results, opts, suite.rss(), load_generator)
            partial["partial"] = True
            _write(partial, opts.output_dir, ".tmp")

        suite.checkpoint = checkpoint
        await suite.seed_to(opts.sizes[0])
        since = await suite.clock()
        if "read" in opts.only:
            await suite.read_phase()
            checkpoint()
        if "ratelimit" in opts.only:
            await suite.ratelimit_phase()
            checkpoint()
        if "write" in opts.only:
            await suite.write_phase()
            checkpoint()
        if "pipeline" in opts.only:
            await suite.pipeline_phase()
            checkpoint()
        if "webhooks" in opts.only:
            await webhooks.webhooks_phase(suite)
            checkpoint()
        if {"import", "drain"} & opts.only:
            await bulk.import_phase(suite)
            checkpoint()
        if {"list", "export"} & opts.only:
            await suite.reset_after_writes(since)
        if "list" in opts.only:
            await suite.list_phase()
        if "export" in opts.only:
            await export.export_phase(suite)
        rss = suite.rss()
        return summarise(suite.results, opts, rss, load_generator)


def parse_args(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure assetflow against the raw speed of its own stack (see bench/README.md). "
        "`python -m bench seed --help` for the seeding command.",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, 1 round, 1 s per measurement (CI)")
    parser.add_argument("--sizes", help="table sizes for the lists, e.g. 10000,100000,1000000")
    parser.add_argument("--rounds", type=int, help="rounds of each comparison (default 5; smoke 1)")
    parser.add_argument("--duration", type=float, help="seconds per measurement (default 5; smoke 1)")
    parser.add_argument("--warmup", type=float, help="seconds of discarded warm-up load (default 1; smoke 0)")
    parser.add_argument("--list-connections", type=int, default=2, help="connections of the list runs (2)")
    parser.add_argument(
        "--import-rows",
        type=int,
        help=f"rows of the import and drain phases' file (default {bulk.IMPORT_ROWS:,}; smoke "
        f"{bulk.SMOKE_IMPORT_ROWS})",
    )
    parser.add_argument(
        "--loadgen",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="auto: wrk when installed, else the Python load generator",
    )
    parser.add_argument("--only", help=f"comma-separated phases: {','.join(PHASES)} (default all)")
    parser.add_argument("--output-dir", type=Path, help="where latest.json and latest.md go (bench/results)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL server where the run may create its own database",
    )
    parser.add_argument(
        "--amqp-url", default=os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("REDIS_URL", DEFAULT_REDIS_URL),
        help="the Redis of the ratelimit phase's Redis configuration (keys bench-<run>:*, deleted after)",
    )
    args = parser.parse_args(argv)
    opts = Options(smoke=args.smoke)
    if args.smoke:
        opts.sizes, opts.rounds, opts.duration, opts.warmup = [200], 1, 1.0, 0.0
        opts.import_rows = bulk.SMOKE_IMPORT_ROWS
    if args.sizes:
        opts.sizes = sorted(int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip())
    if args.rounds is not None:
        opts.rounds = max(1, args.rounds)
    if args.duration is not None:
        opts.duration = args.duration
    if args.warmup is not None:
        opts.warmup = args.warmup
    if args.only:
        opts.only = {p.strip() for p in args.only.split(",") if p.strip()}
        unknown = opts.only - set(PHASES)
        if unknown or not opts.only:
            parser.error(f"--only: no such phase {','.join(sorted(unknown))}; choose of {','.join(PHASES)}")
    opts.list_connections = args.list_connections
    if args.import_rows is not None:
        opts.import_rows = max(1, args.import_rows)
    opts.loadgen = args.loadgen
    if args.output_dir:
        opts.output_dir = args.output_dir
    opts.database_url = args.database_url
    opts.amqp_url = args.amqp_url
    opts.redis_url = args.redis_url
    opts.command = " ".join(["uv run python -m bench", *argv])
    return opts


def main(argv: list[str]) -> int:
    opts = parse_args(argv)
    started = time.monotonic()
    import uvloop

    document = uvloop.run(run_suite(opts))
    document["wall_seconds"] = round(time.monotonic() - started, 1)
    print(report.table(document))
    _write(document, opts.output_dir)
    for leftover in ("latest.json.tmp", "latest.md.tmp"):
        (opts.output_dir / leftover).unlink(missing_ok=True)
    log(f"wrote {opts.output_dir / 'latest.json'} and {opts.output_dir / 'latest.md'}")
    return 0
