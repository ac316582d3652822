"""The import and drain phases: an import of many rows through HTTP against COPY into the asset
table, and the worker's drain of the backlog that import leaves against raw aio-pika (the export
phase is in bench/export.py)."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg

from bench.common import PROJECTED_FROM, log, median, medians, ratio, shown
from bench.rawpipe import write_bodies
from bench.seed import COLUMNS as SEED_COLUMNS
from bench.seed import AssetMaker

if TYPE_CHECKING:
    from bench.run import Suite

IMPORT_ROWS = 100_000
SMOKE_IMPORT_ROWS = 500
# The most rounds of the import/drain and export phases (as of the lists): a round takes minutes.
BULK_ROUNDS = 3
IMPORT_PATH = "/v1/assets/import"
# The import file's header: v1 field names, the asset type by its code (its human key).
IMPORT_COLUMNS = (
    "name",
    "asset_type",
    "status",
    "manufacturer",
    "model",
    "serial_number",
    "purchase_date",
    "purchase_price",
    "warranty_until",
    "support_end_date",
    "service_start_date",
    "depreciation_schedule",
    "estimated_salvage_value",
    "notes",
)
# Event bodies kept for the raw side of the drain, which publishes them in turn.
BODIES_KEPT = 20_000
DRAIN_POLL_S = 0.5
# A drain whose projections stop growing for this long has failed (an event dead-lettered, ...).
DRAIN_STALL_S = 120.0
# When the last event was sent (the relay) and each consumer's last projection written.
DRAIN_STAGES = ("relay", "lifecycle", "depreciation", "audit")
RAW_TAG = "RAWIMPORT"

_DRAIN_SQL = f"""SELECT count(*) AS n,
       count(*) FILTER (WHERE l.asset_id IS NULL OR d.asset_id IS NULL OR p.event_id IS NULL) AS missing,
       max(l.updated_at) AS lifecycle_done, max(d.updated_at) AS depreciation_done,
       max(p.processed_at) AS audit_done
    {PROJECTED_FROM}
    WHERE a.org_id = $1 AND a.created_at >= $2 AND a.created_at < $3"""
_COUNTS_SQL = """SELECT (SELECT count(*) FROM asset_lifecycle) AS lifecycle,
    (SELECT count(*) FROM asset_depreciation) AS depreciation, (SELECT count(*) FROM audit_log) AS audit"""
PROJECTION_TABLES = ("asset_lifecycle", "asset_depreciation", "audit_log", "processed_events")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, ".2f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def write_import_file(path: Path, org_id: uuid.UUID, type_ids: dict[str, uuid.UUID], rows: int) -> int:
    """A CSV of `rows` realistic assets (the seed's makes, prices, dates and schedules) with
    unique serial numbers; its size in bytes."""
    code_of = {type_id: code for code, type_id in type_ids.items()}
    maker = AssetMaker(org_id, "IMP", type_ids, dt.datetime.now(dt.UTC), seed=6)
    serials: set[str] = set()
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(IMPORT_COLUMNS)
        for n, record in enumerate(maker.rows(1, rows)):
            values = dict(zip(SEED_COLUMNS, record, strict=True))
            values["asset_type"] = code_of[values["asset_type_id"]]
            serial = values["serial_number"]
            if serial is not None:
                if serial in serials:
                    serial = f"{serial}{n}"
                serials.add(serial)
                values["serial_number"] = serial
            schedule = values["depreciation_schedule"]
            if schedule is not None and schedule != "other":
                values["estimated_salvage_value"] = (values["purchase_price"] / 10).quantize(Decimal("0.01"))
            out.writerow([_cell(values.get(name)) for name in IMPORT_COLUMNS])
    return path.stat().st_size


# ---- import and drain ------------------------------------------------------------------------


async def import_phase(suite: Suite) -> None:
    """`import` and `drain`: each round, the app imports the file (the worker drains the
    backlog, timed from the answer) and the raw side copies the same rows and pipes as many
    messages; each side's rows deleted after it."""
    measure_import = "import" in suite.opts.only
    measure_drain = "drain" in suite.opts.only
    rows = suite.opts.import_rows
    file = suite.workdir / "import.csv"
    size = await asyncio.to_thread(write_import_file, file, suite.org_id, suite.type_ids, rows)
    rounds_n = max(1, min(suite.opts.rounds, BULK_ROUNDS))
    log(
        f"import/drain: POST {IMPORT_PATH} of {rows:,} rows ({size / 1e6:.1f} MB CSV) vs COPY into the "
        f"asset table; the worker's drain of its backlog vs raw aio-pika; {rounds_n} rounds"
    )
    rounds: list[dict[str, Any]] = []
    for r in range(rounds_n):
        order = ["app", "raw"] if r % 2 == 0 else ["raw", "app"]
        found: dict[str, Any] = {"order": order}
        for side in order:
            if side == "app":
                found["app"] = await _import_app(suite, rows)
            else:
                found["raw"] = {}
                if measure_import:
                    found["raw"]["copy"] = await _import_raw(suite)
                if measure_drain:
                    found["raw"]["pipe"] = await _drain_raw(suite, rows)
        app, raw = found["app"], found["raw"]
        if measure_import:
            found["import_ratio"] = ratio(app["import"]["rate"], raw["copy"]["rate"])
            log(
                f"  import round {r + 1}/{rounds_n}: app {app['import']['rate']:,.0f} rows/s "
                f"({app['import']['seconds']:.1f} s) | raw COPY {raw['copy']['rate']:,.0f} rows/s "
                f"({raw['copy']['seconds']:.1f} s) | ratio {shown(found['import_ratio'])}"
            )
        if measure_drain:
            found["drain_ratio"] = ratio(app["drain"]["rate"], raw["pipe"]["rate"])
            drain = app["drain"]
            stages = ", ".join(f"{name} {shown(drain[f'{name}_s'], 1)} s" for name in DRAIN_STAGES)
            log(
                f"  drain round {r + 1}/{rounds_n}: app {drain['rate']:,.0f} assets/s "
                f"({drain['seconds']:.1f} s; last of each after the answer: {stages}) | raw "
                f"{raw['pipe']['rate']:,.0f} msgs/s ({raw['pipe']['span_s']:.1f} s) | ratio "
                f"{shown(found['drain_ratio'])}"
            )
        rounds.append(found)
        if measure_import:
            suite.results["import"] = _import_results(rounds, rows, size)
        if measure_drain:
            suite.results["drain"] = _drain_results(rounds, rows)
        suite.checkpoint()


def _import_results(rounds: list[dict[str, Any]], rows: int, size: int) -> dict[str, Any]:
    return {
        "rows": rows,
        "file_bytes": size,
        "columns": list(IMPORT_COLUMNS),
        "ratio": median(r["import_ratio"] for r in rounds),
        "app": medians([r["app"]["import"] for r in rounds], ("rate", "seconds")),
        "raw": medians([r["raw"]["copy"] for r in rounds], ("rate", "seconds")),
        "rounds": [
            {
                "order": r["order"],
                "app": r["app"]["import"],
                "raw": r["raw"]["copy"],
                "ratio": r["import_ratio"],
            }
            for r in rounds
        ],
    }


def _drain_results(rounds: list[dict[str, Any]], rows: int) -> dict[str, Any]:
    return {
        "assets": rows,
        "ratio": median(r["drain_ratio"] for r in rounds),
        "app": medians(
            [r["app"]["drain"] for r in rounds], ("rate", "seconds", *(f"{n}_s" for n in DRAIN_STAGES))
        ),
        "raw": medians([r["raw"]["pipe"] for r in rounds], ("rate", "span_s", "complete")),
        "rounds": [
            {
                "order": r["order"],
                "app": r["app"]["drain"],
                "raw": r["raw"]["pipe"],
                "ratio": r["drain_ratio"],
            }
            for r in rounds
        ],
    }


async def _import_app(suite: Suite, rows: int) -> dict[str, Any]:
    """One import through the api and the drain that follows; then its rows, events and
    projections deleted."""
    await suite.wait_quiet()
    conn = await suite.db()
    try:
        before = dict(await _one(conn, _COUNTS_SQL))
        start: dt.datetime = await conn.fetchval("SELECT clock_timestamp()")
        spec = {
            "mode": "upload",
            "base_url": suite.stack.base_url,
            "path": IMPORT_PATH,
            "token": suite.stack.token,
            "file": str(suite.workdir / "import.csv"),
            "content_type": "text/csv",
            "timeout": 300 + rows / 20,
        }
        sent = await suite._helper("transfer", spec, limit_s=400 + rows / 20)
        answered: dt.datetime = await conn.fetchval("SELECT clock_timestamp()")
        summary = sent["answer"].get("data", {}) if isinstance(sent["answer"], dict) else {}
        if sent["status"] != 200 or summary.get("created") != rows:
            raise RuntimeError(f"the import answered {sent['status']}: {str(sent['answer'])[:3000]}")
        drain = await _drained(suite, conn, start, answered, rows, before)
    finally:
        await conn.close()
    await _keep_bodies(suite, start, answered)
    await suite.reset_after_writes(start)
    return {
        "import": {"rows": rows, "seconds": sent["seconds"], "rate": rows / sent["seconds"]},
        "drain": drain,
    }


async def _drained(
    suite: Suite,
    conn: asyncpg.Connection,
    start: dt.datetime,
    answered: dt.datetime,
    rows: int,
    before: dict[str, int],
) -> dict[str, Any]:
    """Wait until every asset of the import has its three projections (the tables' counts,
    cheap, then the exact check once they suffice); the drain from the answer to the last."""
    moved_at = time.monotonic()
    last: dict[str, int] = {}
    analysed = False
    while True:
        counts = {k: v - before[k] for k, v in (await _one(conn, _COUNTS_SQL)).items()}
        if min(counts.values()) >= rows:
            if not analysed:  # their statistics are of before the import: nested loops, for minutes
                await conn.execute(f"ANALYZE assets, {', '.join(PROJECTION_TABLES)}")
                analysed = True
            found = await _one(conn, _DRAIN_SQL, suite.org_id, start, answered)
            if found["n"] == rows and found["missing"] == 0:
                break
        if counts != last:
            last, moved_at = counts, time.monotonic()
        suite.stack.check_alive()
        if time.monotonic() - moved_at > DRAIN_STALL_S:
            assert suite.stack.worker is not None
            raise RuntimeError(
                f"the drain stalled: after {DRAIN_STALL_S:.0f} s without progress, of {rows:,} assets "
                f"{counts} have their projections\n{suite.stack.worker.tail()}"
            )
        await asyncio.sleep(DRAIN_POLL_S)
    sent = await conn.fetchval(
        "SELECT max(sent_at) FROM outbox WHERE created_at >= $1 AND created_at < $2", start, answered
    )
    done = max(found["lifecycle_done"], found["depreciation_done"], found["audit_done"])
    seconds = (done - answered).total_seconds()

    def after(moment: dt.datetime | None) -> float | None:
        return (moment - answered).total_seconds() if moment is not None else None

    return {
        "assets": rows,
        "seconds": seconds,
        "rate": rows / seconds if seconds > 0 else 0.0,
        "relay_s": after(sent),
        "lifecycle_s": after(found["lifecycle_done"]),
        "depreciation_s": after(found["depreciation_done"]),
        "audit_s": after(found["audit_done"]),
    }


async def _keep_bodies(suite: Suite, start: dt.datetime, end: dt.datetime) -> None:
    """The first BODIES_KEPT event bodies of the import, for the raw side of the drain."""
    conn = await suite.db()
    try:
        found = await conn.fetch(
            """SELECT body FROM outbox WHERE routing_key = 'asset.created'
               AND created_at >= $1 AND created_at < $2 ORDER BY seq LIMIT $3""",
            start,
            end,
            BODIES_KEPT,
        )
    finally:
        await conn.close()
    write_bodies(str(suite.workdir / "import-bodies.bin"), [bytes(r["body"]) for r in found])


async def _import_raw(suite: Suite) -> dict[str, Any]:
    """The same rows by COPY into the asset table, then deleted."""
    conn = await suite.db()
    try:
        start: dt.datetime = await conn.fetchval("SELECT clock_timestamp()")
        company = await conn.fetchval("SELECT min(number) FROM companies WHERE org_id = $1", suite.org_id)
    finally:
        await conn.close()
    spec = {
        "mode": "copy_in",
        "dsn": suite.stack.dsn,
        "org_id": str(suite.org_id),
        "csv_file": str(suite.workdir / "import.csv"),
        "type_ids": {code: str(type_id) for code, type_id in suite.type_ids.items()},
        "company_number": company,
        "tag_prefix": f"{suite.stack.org_prefix}-{RAW_TAG}",
    }
    try:
        found = await suite._helper("rawbulk", spec)
    finally:
        await suite.reset_after_writes(start)
    return found


async def _drain_raw(suite: Suite, count: int) -> dict[str, Any]:
    """As many messages as the import made, of its own event bodies, published and consumed."""
    bodies = suite.workdir / "import-bodies.bin"
    assert bodies.exists(), "the raw drain runs after an app round"
    found = await suite._raw_pipe(count, None, bodies=bodies, limit_s=300 + count / 200)
    if found["complete"] < count:
        log(f"  raw drain: {found['complete']:,} of {count:,} messages reached all three queues' consumers")
    return found


# ---- helpers ---------------------------------------------------------------------------------


async def _one(conn: asyncpg.Connection, sql: str, *args: Any) -> asyncpg.Record:
    found = await conn.fetchrow(sql, *args)
    assert found is not None
    return found
