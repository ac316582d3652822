"""The suite: read, write, event pipeline and list-at-scale comparisons, then the report."""

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
from urllib.parse import quote

import asyncpg

from bench import report
from bench.common import LoadResult, log, machine, median, parse_emitted, percentile
from bench.rawpipe import write_bodies
from bench.seed import seed_assets
from bench.stack import REPO, Stack, running_stack
from shared.domain.tokens import hash_token

HERE = Path(__file__).resolve().parent
LUA = HERE / "wrk" / "bench.lua"
READ_CONNECTIONS = (10, 50)
WRITE_CONNECTIONS = 10
POOL_SIZE = 10
PIPELINE_CONNECTIONS = 20
DEEP_PAGE = 5000
PAGE_LIMIT = 20

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
    loadgen: str = "auto"  # auto | wrk | python
    only: set[str] = field(default_factory=lambda: {"read", "write", "pipeline", "list"})
    output_dir: Path = HERE / "results"
    database_url: str = ""
    amqp_url: str = ""
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
        self, mode: str, path: str, connections: int, duration: float, file: Path | None
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
            self.stack.base_url + path,
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
    ) -> LoadResult:
        """Load the api from another process: wrk when present (and not paced), else bench.loadgen."""
        duration = duration if duration is not None else self.opts.duration
        warmup = self.opts.warmup
        if self.use_wrk and rate is None:
            if warmup > 0:
                await self._wrk(mode, path, connections, warmup, file)
            result = await self._wrk(mode, path, connections, duration, file)
        else:
            spec: dict[str, Any] = {
                "base_url": self.stack.base_url,
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
        """Until every event in the outbox is published and applied by all three consumers."""
        conn = await self.db()
        try:
            deadline = time.monotonic() + limit_s
            while True:
                pending = await conn.fetchval(
                    """SELECT count(*) FROM outbox o
                       LEFT JOIN (SELECT event_id, count(*) AS n FROM processed_events GROUP BY event_id) p
                         USING (event_id)
                       WHERE o.routing_key <> 'bench.raw' AND (o.sent_at IS NULL OR coalesce(p.n, 0) < 3)"""
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
                    """SELECT a.created_at,
                              greatest(l.updated_at, d.updated_at, p.processed_at) AS done,
                              (l.asset_id IS NULL OR d.asset_id IS NULL OR p.event_id IS NULL) AS missing
                       FROM assets a
                       LEFT JOIN asset_lifecycle l ON l.asset_id = a.id
                       LEFT JOIN asset_depreciation d ON d.asset_id = a.id
                       LEFT JOIN audit_log au ON au.asset_id = a.id AND au.action = 'created'
                       LEFT JOIN processed_events p ON p.consumer = 'audit' AND p.event_id = au.event_id
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

    async def _raw_pipe(self, count: int, rate: float | None) -> dict[str, Any]:
        common = {"amqp_url": self.stack.amqp_url, "prefix": self.stack.prefix}
        consumer = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.rawpipe",
            json.dumps({**common, "mode": "consume", "expect": count, "prefetch": 50, "timeout": 300}),
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
                "bodies_file": str(self.workdir / "bodies.bin"),
                "count": count,
            }
            if rate is not None:
                spec["rate"] = rate
            published = await self._helper("rawpipe", spec)
            if published["failures"]:
                log(f"  raw publisher: {published['failures']} publishes failed")
            out, err = await asyncio.wait_for(consumer.communicate(), 400)
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
        return {"api": self.stack.api.peak_rss_mb(), "worker": self.stack.worker.peak_rss_mb()}


def _brief(found: Any) -> str:
    if isinstance(found, LoadResult):
        return f"{found.rate:,.0f}/s p50 {found.p50_ms:.1f} ms p99 {found.p99_ms:.1f} ms"
    return str(found)


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
    document = {
        "read_ratio": min(read_ratios) if read_ratios else None,
        "write_ratio": write.get("ratio"),
        "pipeline_ratio": pipeline.get("ratio"),
        "list_p99_ms": list_p99,
        "e2e_p99_ms": pipeline.get("app", {}).get("half_p99_ms"),
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
            "pool_size": POOL_SIZE,
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
        if "write" in opts.only:
            await suite.write_phase()
            checkpoint()
        if "pipeline" in opts.only:
            await suite.pipeline_phase()
            checkpoint()
        if "list" in opts.only:
            await suite.reset_after_writes(since)
            await suite.list_phase()
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
        "--loadgen",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="auto: wrk when installed, else the Python load generator",
    )
    parser.add_argument("--only", help="comma-separated phases: read,write,pipeline,list")
    parser.add_argument("--output-dir", type=Path, help="where latest.json and latest.md go (bench/results)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL server where the run may create its own database",
    )
    parser.add_argument(
        "--amqp-url", default=os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    )
    args = parser.parse_args(argv)
    opts = Options(smoke=args.smoke)
    if args.smoke:
        opts.sizes, opts.rounds, opts.duration, opts.warmup = [200], 1, 1.0, 0.0
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
    opts.list_connections = args.list_connections
    opts.loadgen = args.loadgen
    if args.output_dir:
        opts.output_dir = args.output_dir
    opts.database_url = args.database_url
    opts.amqp_url = args.amqp_url
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
