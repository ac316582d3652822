"""Seeding: realistic assets, fast, with COPY.

`uv run python -m bench seed --database-url URL --org NAME --count N` adds N assets to an existing
organisation (made with `assetflow org create`), with a progress line on stderr. The rows look like
a real inventory: laptops, desktops, monitors, servers, network gear, phones, licences and
subscriptions of real makes and models, their serial-number formats, a realistic mix of
statuses, prices, warranty and support dates and depreciation schedules, and `created_at` spread
evenly over the last five years. Tags follow the organisation's default template
(`{PREFIX}-{YYYY}-NNNNNN`) from a block of its counter reserved atomically, so assets created
through the API afterwards never clash with seeded ones.

The asset_counts trigger fires for every copied row (it is what keeps `meta.total` exact); COPY
runs in chunks so that each transaction's chain of counter updates stays short.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import string
import sys
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from bench.common import progress

COLUMNS = (
    "id",
    "org_id",
    "asset_tag",
    "name",
    "status",
    "asset_type_id",
    "manufacturer",
    "model",
    "serial_number",
    "purchase_date",
    "purchase_price",
    "warranty_until",
    "support_end_date",
    "service_start_date",
    "depreciation_schedule",
    "notes",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True)
class Make:
    manufacturer: str
    model: str
    price: int  # typical unit price
    serial: str  # serial format: D=digit, A=upper-case letter or digit, anything else literal


# (code, name, kind, share in percent, warranty years, depreciation schedule, makes)
TYPES: list[tuple[str, str, str, int, int, str | None, list[Make]]] = [
    (
        "LAP",
        "Laptop",
        "physical",
        38,
        3,
        "3_year_33_percent",
        [
            Make("Dell", "Latitude 7440", 1650, "AAAAAAA"),
            Make("Dell", "XPS 13 9340", 1499, "AAAAAAA"),
            Make("Apple", "MacBook Pro 14", 2399, "C02AAAAAAAAA"),
            Make("Apple", "MacBook Air 13", 1299, "FVFAAAAAAAAA"),
            Make("Lenovo", "ThinkPad X1 Carbon Gen 11", 2100, "PF-AAAAAA"),
            Make("Lenovo", "ThinkPad T14 Gen 4", 1350, "PF-AAAAAA"),
            Make("HP", "EliteBook 840 G10", 1450, "5CGDDDDAAA"),
            Make("Microsoft", "Surface Laptop 5", 1299, "DDDDDDDDDDDD"),
        ],
    ),
    (
        "DSK",
        "Desktop",
        "physical",
        10,
        3,
        "5_year_20_percent",
        [
            Make("Dell", "OptiPlex 7010", 980, "AAAAAAA"),
            Make("HP", "EliteDesk 800 G9", 1050, "CZCDDDDAAA"),
            Make("Apple", "Mac mini M2", 799, "C07AAAAAAAAA"),
            Make("Lenovo", "ThinkCentre M90q", 900, "MJ-AAAAAA"),
        ],
    ),
    (
        "MON",
        "Monitor",
        "physical",
        16,
        3,
        "5_year_20_percent",
        [
            Make("Dell", "UltraSharp U2723QE", 620, "CN-0AAAAA-DDDDD"),
            Make("LG", "27UK850-W", 450, "DDDAAAADDDDD"),
            Make("Samsung", "ViewFinity S8", 520, "AAAADDDDDDDDA"),
            Make("HP", "E24 G5", 230, "CNCDDDDAAA"),
        ],
    ),
    (
        "SRV",
        "Server",
        "physical",
        4,
        5,
        "5_year_20_percent",
        [
            Make("Dell", "PowerEdge R750", 14500, "AAAAAAA"),
            Make("HPE", "ProLiant DL380 Gen10", 12800, "CZJDDDDAAA"),
            Make("Lenovo", "ThinkSystem SR650", 11900, "J3-AAAAAA"),
        ],
    ),
    (
        "NET",
        "Network device",
        "physical",
        5,
        5,
        "10_year_10_percent",
        [
            Make("Cisco", "Catalyst 9300", 7900, "FOCDDDDAAAA"),
            Make("Ubiquiti", "UniFi U6 Pro", 159, "AAAAAAAAAAAA"),
            Make("Juniper", "EX2300", 2300, "AADDDDDDDDDD"),
            Make("Fortinet", "FortiGate 60F", 690, "FGT60FDDDDDDDDDD"),
        ],
    ),
    (
        "PHN",
        "Phone",
        "physical",
        12,
        1,
        "3_year_33_percent",
        [
            Make("Apple", "iPhone 15", 899, "AAAAAAAAAA"),
            Make("Samsung", "Galaxy S23", 799, "R5CAAAAAAAA"),
            Make("Google", "Pixel 8", 699, "DDDDDDAAAAAAA"),
        ],
    ),
    (
        "LIC",
        "Software licence",
        "logical",
        10,
        0,
        "other",
        [
            Make("Microsoft", "365 E3 licence", 432, "AAAAA-AAAAA-AAAAA-AAAAA"),
            Make("Adobe", "Creative Cloud All Apps", 1020, "DDDD-DDDD-DDDD-DDDD"),
            Make("JetBrains", "All Products Pack", 779, "AAAAAAAAAA"),
            Make("Autodesk", "AutoCAD", 2030, "DDD-DDDDDDDD"),
        ],
    ),
    (
        "SUB",
        "Subscription",
        "logical",
        5,
        0,
        None,
        [
            Make("Atlassian", "Jira Cloud Premium", 1900, "SEN-DDDDDDDD"),
            Make("Slack", "Business+ seats", 1500, "AAAAAAAAAA"),
            Make("Zoom", "Business licence", 250, "DDDDDDDDDD"),
            Make("GitHub", "Enterprise seats", 2520, "AAAAAAAAAA"),
        ],
    ),
]

STATUSES = ["in_use", "in_stock", "preparing", "in_service", "returned", "scrapped"]
STATUS_WEIGHTS = [55, 15, 4, 8, 8, 10]
CITIES = ["London", "Berlin", "Paris", "Madrid", "Amsterdam", "Warsaw", "Lisbon", "Dublin"]
NOTES = [
    None,
    None,
    None,
    "Purchased for new hire",
    "Replacement under warranty",
    "Spare pool",
    "Loaner",
    "Refurbished",
]
SPREAD = dt.timedelta(days=5 * 365)
_ALNUM = string.ascii_uppercase + string.digits


@dataclass(frozen=True)
class SeedReport:
    added: int
    seconds: float
    total_assets: int

    @property
    def rows_per_second(self) -> float:
        return self.added / self.seconds if self.seconds > 0 else 0.0


def _serial(rng: random.Random, pattern: str) -> str:
    out = []
    for ch in pattern:
        if ch == "D":
            out.append(rng.choice(string.digits))
        elif ch == "A":
            out.append(rng.choice(_ALNUM))
        else:
            out.append(ch)
    return "".join(out)


async def ensure_asset_types(conn: asyncpg.Connection, org_id: uuid.UUID) -> dict[str, uuid.UUID]:
    """The organisation's asset types of the seed (created when missing), by code."""
    for code, name, kind, *_ in TYPES:
        await conn.execute(
            """INSERT INTO asset_types (id, org_id, name, code, kind) VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (org_id, code) DO NOTHING""",
            uuid.uuid4(),
            org_id,
            name,
            code,
            kind,
        )
    rows = await conn.fetch("SELECT code, id FROM asset_types WHERE org_id = $1", org_id)
    return {r["code"]: r["id"] for r in rows}


class AssetMaker:
    """Makes realistic asset rows, in the order of COLUMNS."""

    def __init__(
        self, org_id: uuid.UUID, prefix: str, type_ids: dict[str, uuid.UUID], now: dt.datetime, seed: int
    ) -> None:
        self._org_id = org_id
        self._prefix = prefix
        self._type_ids = type_ids
        self._now = now
        self._rng = random.Random(seed)
        self._types = TYPES
        self._type_weights = [t[3] for t in TYPES]

    def rows(self, first_counter: int, count: int) -> list[tuple[Any, ...]]:
        rng = self._rng
        now = self._now
        spread_s = SPREAD.total_seconds()
        kinds = rng.choices(self._types, weights=self._type_weights, k=count)
        statuses = rng.choices(STATUSES, weights=STATUS_WEIGHTS, k=count)
        out: list[tuple[Any, ...]] = []
        for i in range(count):
            code, _name, kind, _share, warranty_years, schedule, makes = kinds[i]
            make = rng.choice(makes)
            created = now - dt.timedelta(seconds=rng.random() * spread_s)
            updated = min(created + dt.timedelta(seconds=rng.random() * 30 * 86400), now)
            purchased = created.date() - dt.timedelta(days=rng.randint(0, 30))
            price = Decimal(round(make.price * rng.uniform(0.85, 1.1), 2)).quantize(Decimal("0.01"))
            warranty = (
                purchased.replace(year=purchased.year + warranty_years)
                if warranty_years and not (purchased.month == 2 and purchased.day == 29)
                else None
            )
            support_end = purchased + dt.timedelta(days=365) if kind == "logical" else None
            serial = _serial(rng, make.serial) if kind == "physical" or rng.random() < 0.5 else None
            name = f"{make.manufacturer} {make.model}"
            if kind == "physical" and rng.random() < 0.15:
                name = f"{name} ({rng.choice(CITIES)})"
            counter = first_counter + i
            out.append(
                (
                    uuid.uuid4(),
                    self._org_id,
                    f"{self._prefix}-{created.year}-{counter:06d}",
                    name,
                    statuses[i],
                    self._type_ids[code],
                    make.manufacturer,
                    make.model,
                    serial,
                    purchased,
                    price,
                    warranty,
                    support_end,
                    purchased if schedule and schedule != "other" else None,
                    schedule,
                    rng.choice(NOTES),
                    created,
                    updated,
                )
            )
        return out


async def seed_assets(
    dsn: str,
    org_name: str,
    count: int,
    *,
    chunk: int = 5000,
    jobs: int = 2,
    seed: int | None = None,
    show_progress: bool = True,
) -> SeedReport:
    """Add `count` realistic assets to an organisation with COPY, `jobs` connections at once."""
    conn = await asyncpg.connect(dsn)
    try:
        org = await conn.fetchrow("SELECT id, prefix FROM organisations WHERE name = $1", org_name)
        if org is None:
            raise SystemExit(f"no organisation named {org_name!r}: make it with `assetflow org create`")
        org_id: uuid.UUID = org["id"]
        type_ids = await ensure_asset_types(conn, org_id)
        # A block of the organisation's tag counter, taken atomically like the API takes one number.
        first = await conn.fetchval(
            """UPDATE organisations SET tag_counter = tag_counter + $2 WHERE id = $1
               RETURNING tag_counter - $2""",
            org_id,
            count,
        )
        now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        base_seed = seed if seed is not None else random.randrange(2**32)
        offsets = list(range(0, count, chunk))
        started = time.monotonic()
        done = 0

        def report() -> None:
            if not show_progress or not count:
                return
            elapsed = time.monotonic() - started
            rate = done / elapsed if elapsed > 0 else 0.0
            eta = (count - done) / rate if rate > 0 else 0.0
            bar = "#" * int(30 * done / count)
            progress(
                f"seeding [{bar:<30}] {done:>9,}/{count:,} {100 * done / count:5.1f}% "
                f"{rate:,.0f} rows/s, eta {eta:,.0f} s"
            )

        async def job(index: int) -> None:
            nonlocal done
            maker = AssetMaker(org_id, org["prefix"], type_ids, now, base_seed + index)
            mine = offsets[index::jobs]
            if not mine:
                return

            def make(offset: int) -> list[tuple[Any, ...]]:
                return maker.rows(first + 1 + offset, min(chunk, count - offset))

            copier = await asyncpg.connect(dsn)
            try:
                pending = asyncio.ensure_future(asyncio.to_thread(make, mine[0]))
                for position in range(len(mine)):
                    records = await pending
                    if position + 1 < len(mine):  # make the next chunk while this one is copied
                        pending = asyncio.ensure_future(asyncio.to_thread(make, mine[position + 1]))
                    await copier.copy_records_to_table("assets", records=records, columns=COLUMNS)
                    done += len(records)
                    report()
            finally:
                await copier.close()

        await asyncio.gather(*(job(i) for i in range(max(1, jobs))))
        seconds = time.monotonic() - started
        if show_progress and count and sys.stderr.isatty():
            sys.stderr.write("\n")
        await conn.execute("ANALYZE assets")
        await conn.execute("ANALYZE asset_counts")
        total = await conn.fetchval("SELECT count(*) FROM assets WHERE org_id = $1", org_id)
        return SeedReport(added=count, seconds=seconds, total_assets=int(total))
    finally:
        await conn.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench seed", description="Add realistic assets to an organisation with COPY."
    )
    parser.add_argument("--database-url", required=True, help="the assetflow database")
    parser.add_argument("--org", required=True, help="the organisation's name (assetflow org create)")
    parser.add_argument("--count", type=int, required=True, help="how many assets to add")
    parser.add_argument("--chunk", type=int, default=5000, help="rows per COPY (default 5000)")
    parser.add_argument("--jobs", type=int, default=2, help="COPY connections at once (default 2)")
    parser.add_argument("--seed", type=int, help="random seed, for repeatable data")
    args = parser.parse_args(argv)
    report = asyncio.run(
        seed_assets(args.database_url, args.org, args.count, chunk=args.chunk, jobs=args.jobs, seed=args.seed)
    )
    print(
        f"added {report.added:,} assets in {report.seconds:.1f} s ({report.rows_per_second:,.0f} rows/s); "
        f"the organisation now has {report.total_assets:,}",
        file=sys.stderr,
    )
    return 0
