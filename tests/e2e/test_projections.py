"""What the worker derives from the event stream, as the API serves it: lifecycle status,
depreciation, the audit log and asset history, coverage notices, and the sweep and tail CLIs."""

import asyncio
import base64
import calendar
import datetime as dt
import json
import os
import re
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from shared.domain.depreciation import DepreciationPlan, schedule
from shared.domain.models import DepreciationSchedule
from shared.services import organisations
from shared.services.coverage_notices import recompute, sweep
from shared.services.unit_of_work import unit_of_work
from shared.settings import Settings
from shared.topology import CONSUMERS, Topology, declare_exchange
from tests.conftest import EventTap, TapFactory, Tenant, TenantFactory, poll


@pytest.fixture(autouse=True)
def _own_broker_names(broker: str, settings: Settings) -> None:
    assert settings.events_prefix == broker


Worker = asyncio.Task[None]
TODAY = dt.date.today
CHANGE_TYPES = ("asset.created", "asset.updated", "asset.deleted")
ASSETFLOW = Path(sys.executable).parent / "assetflow"


# --------------------------------------------------------------------------- helpers


def add_months(start: dt.date, months: int) -> dt.date:
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


async def create(
    client: TestClient, tenant: Tenant, token: str | None = None, **fields: Any
) -> dict[str, Any]:
    response = await client.post("/v1/assets", json=fields, headers=tenant.auth(token))
    assert response.status == 201, await response.text()
    data: dict[str, Any] = (await response.json())["data"]
    return data


async def patch(
    client: TestClient, tenant: Tenant, asset_id: str, token: str | None = None, **fields: Any
) -> dict[str, Any]:
    response = await client.patch(f"/v1/assets/{asset_id}", json=fields, headers=tenant.auth(token))
    assert response.status == 200, await response.text()
    data: dict[str, Any] = (await response.json())["data"]
    return data


async def get_json(client: TestClient, tenant: Tenant, path: str, **params: Any) -> tuple[int, Any]:
    response = await client.get(path, params=params, headers=tenant.auth())
    return response.status, await response.json()


async def asset_when(
    client: TestClient, tenant: Tenant, asset_id: str, field: str, expected: Any = None
) -> dict[str, Any]:
    """The asset once the worker has filled `field` (with `expected`, when given)."""

    async def check() -> dict[str, Any] | None:
        status, body = await get_json(client, tenant, f"/v1/assets/{asset_id}")
        assert status == 200, body
        value = body["data"][field]
        if value is None or (expected is not None and value != expected):
            return None
        data: dict[str, Any] = body["data"]
        return data

    result: dict[str, Any] = await poll(check)
    return result


async def depreciation_when(
    client: TestClient, tenant: Tenant, asset_id: str, **params: Any
) -> dict[str, Any]:
    """The depreciation report once the worker has computed the asset's schedule."""

    async def check() -> dict[str, Any] | None:
        status, body = await get_json(client, tenant, f"/v1/assets/{asset_id}/depreciation", **params)
        assert status == 200, body
        data: dict[str, Any] = body["data"]
        return data if data["depreciation_schedule"] is not None else None

    result: dict[str, Any] = await poll(check)
    return result


async def history_when(client: TestClient, tenant: Tenant, asset_id: str, count: int) -> list[dict[str, Any]]:
    """The asset's history once it has `count` entries."""

    async def check() -> list[dict[str, Any]] | None:
        status, body = await get_json(client, tenant, f"/v1/assets/{asset_id}/history", limit=100)
        if status == 404:
            return None  # deleted before the worker wrote any entry of it: not yet known
        assert status == 200, body
        entries: list[dict[str, Any]] = body["data"]
        assert len(entries) <= count, entries
        return entries if len(entries) == count else None

    result: list[dict[str, Any]] = await poll(check)
    return result


async def outbox_drained(pool: asyncpg.Pool, org_id: uuid.UUID | None = None) -> None:
    """Wait until the relay has published every outbox row (of one organisation, or of all)."""

    async def drained() -> bool:
        async with pool.acquire() as conn:
            unsent = await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND ($1::uuid IS NULL OR org_id = $1)",
                org_id,
            )
            if unsent:
                await conn.execute("NOTIFY assetflow_outbox")  # wake the relay rather than wait for it
        return not unsent

    await poll(drained, interval=0.2)


async def marker(client: TestClient, tenant: Tenant, tap: EventTap) -> list[dict[str, Any]]:
    """Write a marker asset and wait for its event: the relay publishes in outbox order, so every
    event written before it has arrived by then. Returns what came before the marker."""
    asset = await create(client, tenant, name=f"marker-{uuid.uuid4().hex[:8]}")
    seen: list[dict[str, Any]] = []

    def is_marker(event: dict[str, Any]) -> bool:
        if event["subject"] == asset["id"] and event["type"] == "asset.created":
            return True
        seen.append(event)
        return False

    await tap.until(is_marker)
    return seen + await tap.drain()


def notices_of(events: list[dict[str, Any]], asset_id: str) -> list[dict[str, Any]]:
    return [e for e in events if e["subject"] == asset_id and e["type"] not in CHANGE_TYPES]


async def make_stale(pool: asyncpg.Pool, asset_id: str, **columns: Any) -> None:
    """Pretend the asset's lifecycle was last computed yesterday (optionally with other values)."""
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(columns, start=2))
    async with pool.acquire() as conn:
        status = await conn.execute(
            f"UPDATE asset_lifecycle SET computed_on = current_date - 1{', ' + sets if sets else ''} "
            "WHERE asset_id = $1",
            uuid.UUID(asset_id),
            *columns.values(),
        )
    assert status == "UPDATE 1"


async def computed_on(pool: asyncpg.Pool, asset_id: str) -> dt.date:
    async with pool.acquire() as conn:
        value = await conn.fetchval(
            "SELECT computed_on FROM asset_lifecycle WHERE asset_id = $1", uuid.UUID(asset_id)
        )
    assert isinstance(value, dt.date)
    return value


def parse_time(value: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert moment.tzinfo is not None
    return moment


# --------------------------------------------------------------------------- lifecycle


async def test_warranty_and_support_status_follow_the_end_dates(
    client: TestClient, tenant: Tenant, worker: Worker, event_tap: TapFactory, pool: asyncpg.Pool
) -> None:
    await event_tap("asset.#")  # a subscriber of the expiry notices these assets call for
    today = TODAY()
    future = create(
        client,
        tenant,
        name="Covered",
        warranty_until=(today + dt.timedelta(days=400)).isoformat(),
        support_end_date=(today + dt.timedelta(days=10)).isoformat(),
    )
    past = create(
        client,
        tenant,
        name="Lapsed",
        warranty_until=(today - dt.timedelta(days=1)).isoformat(),
        support_end_date=(today - dt.timedelta(days=365)).isoformat(),
    )
    none = create(client, tenant, name="Unknown cover")
    on_the_day = create(
        client, tenant, name="Last day", warranty_until=today.isoformat(), support_end_date=today.isoformat()
    )
    a, b, c, d = await asyncio.gather(future, past, none, on_the_day)
    # What the worker derives is null in the create's own answer: no event has been handled yet.
    for answered in (a, b, c, d):
        assert (answered["warranty_status"], answered["support_status"], answered["book_value"]) == (
            None,
            None,
            None,
        )

    a = await asset_when(client, tenant, a["id"], "warranty_status")
    assert (a["warranty_status"], a["support_status"]) == ("within_warranty", "within_support")
    b = await asset_when(client, tenant, b["id"], "warranty_status")
    assert (b["warranty_status"], b["support_status"]) == ("out_of_warranty", "out_of_support")
    c = await asset_when(client, tenant, c["id"], "warranty_status")
    assert (c["warranty_status"], c["support_status"]) == ("none", "none")
    # Cover lasts through the end date: on the day itself the asset is still covered.
    d = await asset_when(client, tenant, d["id"], "warranty_status")
    assert (d["warranty_status"], d["support_status"]) == ("within_warranty", "within_support")
    await outbox_drained(pool, tenant.org_id)


async def test_status_is_recomputed_when_the_end_date_changes(
    client: TestClient, tenant: Tenant, worker: Worker, event_tap: TapFactory, pool: asyncpg.Pool
) -> None:
    await event_tap("asset.#")  # a subscriber of the expiry notices these changes call for
    today = TODAY()
    asset = await create(
        client, tenant, name="Extended", warranty_until=(today - dt.timedelta(days=5)).isoformat()
    )
    await asset_when(client, tenant, asset["id"], "warranty_status", "out_of_warranty")
    await patch(client, tenant, asset["id"], warranty_until=(today + dt.timedelta(days=100)).isoformat())
    await asset_when(client, tenant, asset["id"], "warranty_status", "within_warranty")
    await patch(client, tenant, asset["id"], warranty_until=None, support_end_date=today.isoformat())
    found = await asset_when(client, tenant, asset["id"], "warranty_status", "none")
    assert found["support_status"] == "within_support"
    # The listing shows the same derived values.
    status, body = await get_json(client, tenant, "/v1/assets", q=asset["asset_tag"])
    assert status == 200
    [listed] = body["data"]
    assert (listed["warranty_status"], listed["support_status"]) == ("none", "within_support")
    await outbox_drained(pool, tenant.org_id)


# --------------------------------------------------------------------------- depreciation


async def test_straight_line_schedule_and_book_value_on_a_date(
    client: TestClient, tenant: Tenant, worker: Worker
) -> None:
    asset = await create(
        client,
        tenant,
        name="Depreciating laptop",
        purchase_price=3600,
        purchase_date="2024-01-15",
        depreciation_schedule="3_year_33_percent",
        estimated_salvage_value=0,
    )
    report = await depreciation_when(client, tenant, asset["id"], as_of="2024-04-15")
    assert report["depreciation_schedule"] == "3_year_33_percent"
    assert report["original_cost"] == 3600
    assert report["estimated_salvage_value"] == 0
    assert report["service_start_date"] == "2024-01-15"
    assert report["monthly_depreciation"] == 100
    assert report["useful_life_months"] == 36
    assert report["as_of"] == "2024-04-15"
    assert report["months_elapsed"] == 3
    assert report["book_value"] == 3300
    schedule = report["schedule"]
    assert len(schedule) == 36
    assert [p["period"] for p in schedule] == list(range(1, 37))
    assert schedule[0] == {
        "period": 1,
        "period_end": "2024-02-15",
        "depreciation": 100,
        "accumulated": 100,
        "book_value": 3500,
    }
    assert schedule[-1]["period_end"] == "2027-01-15"
    assert (schedule[-1]["accumulated"], schedule[-1]["book_value"]) == (3600, 0)
    assert all(p["depreciation"] == 100 for p in schedule)

    # A month is whole only once the same day of a later month is reached.
    for as_of, months, value in (
        ("2024-04-14", 2, 3400),
        ("2024-01-15", 0, 3600),
        ("2023-06-01", 0, 3600),
        ("2025-01-15", 12, 2400),
        ("2027-01-14", 35, 100),
        ("2027-01-15", 36, 0),
        ("2031-01-01", 36, 0),
    ):
        status, body = await get_json(client, tenant, f"/v1/assets/{asset['id']}/depreciation", as_of=as_of)
        assert status == 200
        assert (body["data"]["months_elapsed"], body["data"]["book_value"]) == (months, value), as_of

    # The asset shows today's book value.
    today = TODAY()
    elapsed = (today.year - 2024) * 12 + today.month - 1 - (1 if today.day < 15 else 0)
    expected = max(3600 - 100 * elapsed, 0)
    found = await asset_when(client, tenant, asset["id"], "book_value")
    assert found["book_value"] == expected


@pytest.mark.parametrize(
    ("cost", "salvage", "start", "plan"),
    [
        ("1000.01", "0.05", "2024-01-31", "3_year_33_percent"),  # month ends, a leap February
        ("999.99", "0", "2023-08-29", "10_year_10_percent"),  # 120 months, the rounding at the end
        ("50.00", "80.00", "2024-02-29", "5_year_20_percent"),  # salvage above cost: nothing to take
    ],
)
async def test_the_stored_schedule_reads_back_as_computed_month_by_month(
    client: TestClient, tenant: Tenant, worker: Worker, cost: str, salvage: str, start: str, plan: str
) -> None:
    """The worker stores a schedule as its book values; every month read back is the one computed."""
    asset = await create(
        client,
        tenant,
        name="Scheduled",
        purchase_price=float(cost),
        service_start_date=start,
        depreciation_schedule=plan,
        estimated_salvage_value=float(salvage),
    )
    report = await depreciation_when(client, tenant, asset["id"], as_of=start)
    computed = schedule(
        DepreciationPlan(
            DepreciationSchedule(plan), Decimal(cost), Decimal(salvage), dt.date.fromisoformat(start)
        )
    )
    assert report["schedule"] == [
        {
            "period": p.period,
            "period_end": p.period_end.isoformat(),
            "depreciation": float(p.depreciation),
            "accumulated": float(p.accumulated),
            "book_value": float(p.book_value),
        }
        for p in computed
    ]


async def test_book_value_today_on_the_asset(client: TestClient, tenant: Tenant, worker: Worker) -> None:
    today = TODAY()
    start = add_months(dt.date(today.year, today.month, 1), -5)
    asset = await create(
        client,
        tenant,
        name="Five months in",
        purchase_price="3600.00",
        purchase_date=add_months(start, -3).isoformat(),
        service_start_date=start.isoformat(),
        depreciation_schedule="3_year_33_percent",
    )
    assert asset["book_value"] is None  # not computed before the worker handled the event
    found = await asset_when(client, tenant, asset["id"], "book_value")
    assert found["book_value"] == 3100
    report = await depreciation_when(client, tenant, asset["id"])
    # The service start date wins over the purchase date; as_of defaults to today.
    assert report["service_start_date"] == start.isoformat()
    assert report["as_of"] == today.isoformat()
    assert (report["months_elapsed"], report["book_value"]) == (5, 3100)


async def test_salvage_floor_and_rounding_taken_by_the_last_month(
    client: TestClient, tenant: Tenant, worker: Worker
) -> None:
    floor = await create(
        client,
        tenant,
        name="With salvage",
        purchase_price=1000,
        purchase_date="2020-01-31",
        depreciation_schedule="3_year_33_percent",
        estimated_salvage_value=100,
    )
    rounded = await create(
        client,
        tenant,
        name="Rounded",
        purchase_price=1000,
        purchase_date="2020-03-01",
        depreciation_schedule="5_year_20_percent",
    )
    report = await depreciation_when(client, tenant, floor["id"], as_of="2030-01-01")
    assert report["monthly_depreciation"] == 25
    assert report["book_value"] == 100
    assert report["schedule"][-1]["book_value"] == 100
    assert min(p["book_value"] for p in report["schedule"]) == 100
    # From the 31st, the last day of a shorter month counts as a whole month.
    assert report["schedule"][0]["period_end"] == "2020-02-29"
    status, body = await get_json(
        client, tenant, f"/v1/assets/{floor['id']}/depreciation", as_of="2020-02-29"
    )
    assert status == 200
    assert (body["data"]["months_elapsed"], body["data"]["book_value"]) == (1, 975)

    report = await depreciation_when(client, tenant, rounded["id"], as_of="2022-03-01")
    assert report["useful_life_months"] == 60
    assert report["monthly_depreciation"] == 16.67
    assert report["months_elapsed"] == 24
    assert report["book_value"] == 599.92
    last = report["schedule"][-1]
    assert len(report["schedule"]) == 60
    assert last["depreciation"] == 16.47  # 1000 - 59 x 16.67
    assert (last["accumulated"], last["book_value"]) == (1000, 0)


async def test_other_schedule_and_missing_cost_compute_nothing(
    client: TestClient, tenant: Tenant, worker: Worker
) -> None:
    other = await create(
        client,
        tenant,
        name="Other",
        purchase_price=500,
        purchase_date="2024-01-01",
        depreciation_schedule="other",
    )
    report = await depreciation_when(client, tenant, other["id"], as_of="2025-01-01")
    assert report["depreciation_schedule"] == "other"
    assert report["schedule"] == []
    assert report["book_value"] is None
    assert report["monthly_depreciation"] is None
    assert report["months_elapsed"] is None

    # Changing the schedule recomputes it.
    await patch(client, tenant, other["id"], depreciation_schedule="10_year_10_percent")

    async def recomputed() -> dict[str, Any] | None:
        status, body = await get_json(client, tenant, f"/v1/assets/{other['id']}/depreciation")
        assert status == 200, body
        data: dict[str, Any] = body["data"]
        return data if data["depreciation_schedule"] == "10_year_10_percent" else None

    report = await poll(recomputed)
    assert len(report["schedule"]) == 120
    assert report["original_cost"] == 500

    free = await create(client, tenant, name="No cost", depreciation_schedule="3_year_33_percent")
    # Give the worker the time to handle the event (the audit entry is written from the same event).
    await history_when(client, tenant, free["id"], 1)
    status, body = await get_json(client, tenant, f"/v1/assets/{free['id']}/depreciation")
    assert status == 200
    assert body["data"]["schedule"] == []
    assert body["data"]["book_value"] is None
    found = await get_json(client, tenant, f"/v1/assets/{free['id']}")
    assert found[1]["data"]["book_value"] is None


async def test_removing_the_schedule_removes_the_depreciation(
    client: TestClient, tenant: Tenant, worker: Worker
) -> None:
    asset = await create(
        client,
        tenant,
        name="Undepreciated",
        purchase_price=1200,
        purchase_date="2025-01-10",
        depreciation_schedule="3_year_33_percent",
    )
    report = await depreciation_when(client, tenant, asset["id"], as_of="2025-03-10")
    assert (report["book_value"], len(report["schedule"])) == (1133.34, 36)
    await asset_when(client, tenant, asset["id"], "book_value")
    await patch(client, tenant, asset["id"], depreciation_schedule=None)

    async def gone() -> dict[str, Any] | None:
        status, body = await get_json(client, tenant, f"/v1/assets/{asset['id']}/depreciation")
        assert status == 200
        data: dict[str, Any] = body["data"]
        return data if data["schedule"] == [] else None

    report = await poll(gone)
    assert (report["depreciation_schedule"], report["book_value"]) == (None, None)
    found = await get_json(client, tenant, f"/v1/assets/{asset['id']}")
    assert found[1]["data"]["book_value"] is None


async def test_depreciation_query_errors(client: TestClient, make_tenant: TenantFactory) -> None:
    tenant = await make_tenant()
    other = await make_tenant()
    asset = await create(client, tenant, name="Queried", purchase_price=10)
    path = f"/v1/assets/{asset['id']}/depreciation"
    for params in ({"as_of": "2024-02-30"}, {"as_of": "yesterday"}, {"as_of": ""}, {"asof": "2024-01-01"}):
        response = await client.get(path, params=params, headers=tenant.auth())
        assert response.status == 400, params
        body = await response.json()
        assert body["code"] == "VALIDATION_ERROR"
        assert response.headers["Content-Type"].startswith("application/problem+json")
    response = await client.get(path, headers=other.auth())
    assert response.status == 404
    assert (await response.json())["code"] == "NOT_FOUND"
    response = await client.get(f"/v1/assets/{uuid.uuid4()}/depreciation", headers=tenant.auth())
    assert response.status == 404
    response = await client.get(path, headers=tenant.auth(tenant.write_token))
    assert response.status == 403
    response = await client.get(path, headers=tenant.auth(tenant.read_token))
    assert response.status == 200


# --------------------------------------------------------------------------- audit log and history


async def test_history_answers_who_changed_the_price_and_when(
    client: TestClient, tenant: Tenant, worker: Worker, pool: asyncpg.Pool, event_tap: TapFactory
) -> None:
    tap = await event_tap("asset.*")
    alice, alice_token = await organisations.create_token(
        unit_of_work(pool), tenant.name, ["assets:read", "assets:write"], name="alice"
    )
    started = dt.datetime.now(dt.UTC)
    created = await client.post(
        "/v1/assets", json={"name": "Audited laptop", "purchase_price": 10.5}, headers=tenant.auth()
    )
    assert created.status == 201
    asset = (await created.json())["data"]
    repriced = await client.patch(
        f"/v1/assets/{asset['id']}", json={"purchase_price": 12}, headers=tenant.auth(alice_token)
    )
    assert repriced.status == 200
    await patch(client, tenant, asset["id"], notes="checked")
    deleted = await client.delete(f"/v1/assets/{asset['id']}", headers=tenant.auth())
    assert deleted.status == 200

    entries = await history_when(client, tenant, asset["id"], 4)
    # Newest first, and the history is kept after the asset is deleted.
    assert [e["action"] for e in entries] == ["deleted", "updated", "updated", "created"]
    assert [e["version"] for e in entries] == [4, 3, 2, 1]
    assert all(e["asset_id"] == asset["id"] for e in entries)
    times = [parse_time(e["at"]) for e in entries]
    assert times == sorted(times, reverse=True)
    assert all(started - dt.timedelta(seconds=5) <= t <= dt.datetime.now(dt.UTC) for t in times)
    assert len({e["id"] for e in entries}) == 4

    price_entry = entries[2]
    assert price_entry["changes"] == {"purchase_price": {"from": 10.5, "to": 12}}
    assert price_entry["actor"] == {"id": str(alice.id), "name": "alice"}
    assert price_entry["request_id"] == repriced.headers["X-Request-ID"]
    assert entries[1]["changes"] == {"notes": {"from": None, "to": "checked"}}
    assert entries[1]["actor"]["name"] == "token"
    assert entries[3]["changes"]["name"] == {"from": None, "to": "Audited laptop"}
    assert entries[3]["changes"]["purchase_price"] == {"from": None, "to": 10.5}
    assert entries[3]["request_id"] == created.headers["X-Request-ID"]
    assert entries[0]["changes"]["purchase_price"] == {"from": 12, "to": None}
    assert entries[0]["request_id"] == deleted.headers["X-Request-ID"]
    assert all(
        set(e) == {"id", "asset_id", "at", "action", "actor", "request_id", "version", "changes"}
        for e in entries
    )
    # Each entry is made from one event: its id and time are the event's.
    events = [await tap.until(lambda e: e["subject"] == asset["id"]) for _ in range(4)]
    assert [e["id"] for e in reversed(events)] == [e["id"] for e in entries]
    assert [parse_time(e["time"]) for e in reversed(events)] == times

    # The same answer from the audit log, filtered by asset and action.
    status, body = await get_json(client, tenant, "/v1/audit-log", asset_id=asset["id"], action="updated")
    assert status == 200
    assert [e["version"] for e in body["data"]] == [3, 2]
    assert body["data"][1] == price_entry
    # The asset itself is gone.
    response = await client.get(f"/v1/assets/{asset['id']}", headers=tenant.auth())
    assert response.status == 404


async def test_audit_log_filters(
    client: TestClient, tenant: Tenant, worker: Worker, pool: asyncpg.Pool
) -> None:
    bob, bob_token = await organisations.create_token(
        unit_of_work(pool), tenant.name, ["assets:write"], name="bob"
    )
    first = await create(client, tenant, name="First")
    second = await create(client, tenant, token=bob_token, name="Second")
    await patch(client, tenant, first["id"], token=bob_token, status="in_use")
    await patch(client, tenant, second["id"], name="Second, renamed")
    response = await client.delete(f"/v1/assets/{second['id']}", headers=tenant.auth(bob_token))
    assert response.status == 200

    async def everything() -> list[dict[str, Any]] | None:
        status, body = await get_json(client, tenant, "/v1/audit-log")
        assert status == 200
        data: list[dict[str, Any]] = body["data"]
        return data if len(data) == 5 else None

    log = await poll(everything)
    assert [(e["asset_id"], e["action"]) for e in log] == [
        (second["id"], "deleted"),
        (second["id"], "updated"),
        (first["id"], "updated"),
        (second["id"], "created"),
        (first["id"], "created"),
    ]

    async def query(**params: Any) -> list[tuple[str, str]]:
        status, body = await get_json(client, tenant, "/v1/audit-log", **params)
        assert status == 200, (params, body)
        return [(e["asset_id"], e["action"]) for e in body["data"]]

    assert await query(asset_id=first["id"]) == [(first["id"], "updated"), (first["id"], "created")]
    assert await query(action="created") == [(second["id"], "created"), (first["id"], "created")]
    assert await query(action="deleted") == [(second["id"], "deleted")]
    by_bob = [(second["id"], "deleted"), (first["id"], "updated"), (second["id"], "created")]
    assert await query(actor="bob") == by_bob
    assert await query(actor=str(bob.id)) == by_bob
    assert await query(actor="bob", action="updated") == [(first["id"], "updated")]
    assert await query(actor="nobody") == []
    assert await query(asset_id=str(uuid.uuid4())) == []
    # A malformed id is a 400 naming the parameter (tests/integration/test_assets.py), not an empty page.
    response = await client.get("/v1/audit-log?asset_id=not-an-id", headers=tenant.auth())
    assert response.status == 400 and (await response.json())["errors"][0]["field"] == "asset_id"

    # since is inclusive, until exclusive; any offset is accepted.
    middle = log[2]["at"]
    assert await query(since=middle) == [
        (second["id"], "deleted"),
        (second["id"], "updated"),
        (first["id"], "updated"),
    ]
    assert await query(until=middle) == [(second["id"], "created"), (first["id"], "created")]
    moment = parse_time(middle)
    in_paris = moment.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat()
    assert await query(since=in_paris, until=log[0]["at"]) == [
        (second["id"], "updated"),
        (first["id"], "updated"),
    ]
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    assert await query(since=later) == []
    earlier = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    assert len(await query(since=earlier, until=later)) == 5


async def test_audit_log_pages_with_an_opaque_cursor(
    client: TestClient, tenant: Tenant, worker: Worker
) -> None:
    asset = await create(client, tenant, name="p0")
    for n in range(1, 7):
        await patch(client, tenant, asset["id"], name=f"p{n}")
    full = await history_when(client, tenant, asset["id"], 7)
    assert [e["version"] for e in full] == [7, 6, 5, 4, 3, 2, 1]

    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        status, body = await get_json(client, tenant, "/v1/audit-log", **params)
        assert status == 200, body
        assert body["meta"]["limit"] == 3
        assert len(body["data"]) <= 3
        seen.extend(body["data"])
        pages += 1
        cursor = body["meta"]["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str) and cursor
        assert pages < 10
    assert pages == 3
    assert seen == full

    # History pages the same way.
    status, body = await get_json(client, tenant, f"/v1/assets/{asset['id']}/history", limit=5)
    assert status == 200
    assert body["data"] == full[:5]
    status, body = await get_json(
        client, tenant, f"/v1/assets/{asset['id']}/history", limit=5, cursor=body["meta"]["next_cursor"]
    )
    assert status == 200
    assert body["data"] == full[5:]
    assert body["meta"]["next_cursor"] is None
    # A page exactly filled by the last entries has no next cursor.
    status, body = await get_json(client, tenant, "/v1/audit-log", limit=7)
    assert (status, body["meta"]["next_cursor"]) == (200, None)
    status, body = await get_json(client, tenant, "/v1/audit-log", limit=100)
    assert (status, len(body["data"])) == (200, 7)


def _cursor(moment: str) -> str:
    """A cursor as the API makes them, for a moment of our choosing (a forged one)."""
    return base64.urlsafe_b64encode(f"{moment}|{uuid.uuid4()}".encode()).decode().rstrip("=")


async def test_audit_log_rejects_bad_parameters(client: TestClient, tenant: Tenant) -> None:
    bad: list[dict[str, str]] = [
        {"limit": "101"},
        {"limit": "0"},
        {"limit": "ten"},
        {"cursor": "not-a-cursor"},
        {"cursor": "bm90LWEtY3Vyc29y"},
        {"action": "renamed"},
        {"since": "2024-01-01T00:00:00"},
        {"until": "yesterday"},
        {"page": "2"},
        # Valid ISO 8601, but outside the years 1-9999 once in UTC (these were 500s).
        {"since": "9999-12-31T23:59:59-14:00"},
        {"until": "0001-01-01T00:00:00+01:00"},
        {"cursor": _cursor("0001-01-01T00:00:00+14:00")},
    ]
    for params in bad:
        response = await client.get("/v1/audit-log", params=params, headers=tenant.auth())
        assert response.status == 400, params
        body = await response.json()
        assert body["code"] == "VALIDATION_ERROR", params
        assert body["status"] == 400
        assert [e["field"] for e in body["errors"]] == list(params), body
    response = await client.get("/v1/audit-log", params={"limit": "100"}, headers=tenant.auth())
    assert response.status == 200
    response = await client.get("/v1/audit-log", headers=tenant.auth(tenant.write_token))
    assert response.status == 403
    response = await client.get("/v1/audit-log", headers=tenant.auth(tenant.read_token))
    assert response.status == 200
    response = await client.get("/v1/audit-log")
    assert response.status == 401
    response = await client.get(f"/v1/assets/{uuid.uuid4()}/history", headers=tenant.auth())
    assert response.status == 404
    response = await client.get("/v1/assets/not-an-id/history", headers=tenant.auth())
    assert response.status == 404
    asset = await create(client, tenant, name="History params")
    for params in (
        {"limit": "101"},
        {"cursor": "x"},
        {"action": "created"},
        {"cursor": _cursor("0001-01-01T00:00:00+14:00")},
    ):
        response = await client.get(f"/v1/assets/{asset['id']}/history", params=params, headers=tenant.auth())
        assert response.status == 400, params


async def test_another_tenant_sees_none_of_it(
    client: TestClient, make_tenant: TenantFactory, worker: Worker
) -> None:
    owner = await make_tenant()
    stranger = await make_tenant()
    asset = await create(client, owner, name="Private", purchase_price=99)
    await patch(client, owner, asset["id"], purchase_price=100)
    await history_when(client, owner, asset["id"], 2)
    response = await client.get(f"/v1/assets/{asset['id']}/history", headers=stranger.auth())
    assert response.status == 404
    response = await client.delete(f"/v1/assets/{asset['id']}", headers=owner.auth())
    assert response.status == 200
    await history_when(client, owner, asset["id"], 3)

    response = await client.get(f"/v1/assets/{asset['id']}/history", headers=stranger.auth())
    assert response.status == 404
    assert (await response.json())["code"] == "NOT_FOUND"
    response = await client.get(f"/v1/assets/{asset['id']}/depreciation", headers=owner.auth())
    assert response.status == 404  # deleted: its history stays, its depreciation goes
    for params in ({}, {"asset_id": asset["id"]}, {"actor": "token"}, {"action": "created"}):
        status, body = await get_json(client, stranger, "/v1/audit-log", **params)
        assert (status, body["data"], body["meta"]["next_cursor"]) == (200, [], None), params
    # A cursor made from the owner's log leaks nothing either.
    status, body = await get_json(client, owner, "/v1/audit-log", limit=1)
    cursor = body["meta"]["next_cursor"]
    assert cursor
    status, body = await get_json(client, stranger, "/v1/audit-log", cursor=cursor)
    assert (status, body["data"]) == (200, [])


# --------------------------------------------------------------------------- at-least-once delivery


async def test_redelivered_and_stale_events_change_nothing(
    client: TestClient,
    tenant: Tenant,
    worker: Worker,
    event_tap: TapFactory,
    pool: asyncpg.Pool,
    amqp_url: str,
    settings: Settings,
) -> None:
    tap = await event_tap("asset.#")
    today = TODAY()
    asset = await create(
        client,
        tenant,
        name="Replayed",
        warranty_until=(today + dt.timedelta(days=100)).isoformat(),
        purchase_price=1200,
        purchase_date="2024-01-01",
        depreciation_schedule="3_year_33_percent",
    )
    created = await tap.until(lambda e: e["subject"] == asset["id"] and e["type"] == "asset.created")
    await patch(
        client,
        tenant,
        asset["id"],
        warranty_until=(today - dt.timedelta(days=100)).isoformat(),
        purchase_price=2400,
    )
    updated = await tap.until(lambda e: e["subject"] == asset["id"] and e["type"] == "asset.updated")
    await asset_when(client, tenant, asset["id"], "warranty_status", "out_of_warranty")

    async def repriced() -> bool:
        status, body = await get_json(client, tenant, f"/v1/assets/{asset['id']}/depreciation")
        return status == 200 and body["data"]["original_cost"] == 2400

    await poll(repriced)
    await history_when(client, tenant, asset["id"], 2)

    # The broker redelivers both (same ids), and an old version turns up late under a new id.
    stale = {**created, "id": str(uuid.uuid4())}
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await declare_exchange(channel, Topology(settings.events_prefix))
        for event in (created, updated, stale):
            await exchange.publish(
                aio_pika.Message(json.dumps(event).encode(), content_type="application/cloudevents+json"),
                routing_key=event["type"],
            )

    async def handled() -> bool:
        async with pool.acquire() as conn:
            consumers = await conn.fetch(
                "SELECT consumer FROM processed_events WHERE event_id = $1", uuid.UUID(stale["id"])
            )
        return {r["consumer"] for r in consumers} == {c.value for c in CONSUMERS}

    await poll(handled)
    found = await get_json(client, tenant, f"/v1/assets/{asset['id']}")
    assert found[1]["data"]["warranty_status"] == "out_of_warranty"
    status, body = await get_json(client, tenant, f"/v1/assets/{asset['id']}/depreciation")
    assert (status, body["data"]["original_cost"]) == (200, 2400)
    status, body = await get_json(client, tenant, f"/v1/assets/{asset['id']}/history")
    ids = [e["id"] for e in body["data"]]
    assert ids.count(created["id"]) == 1
    assert ids.count(updated["id"]) == 1
    await outbox_drained(pool, tenant.org_id)


async def test_an_event_that_is_not_valid_is_dead_lettered_with_the_reason(
    client: TestClient, worker: Worker, amqp_url: str, settings: Settings
) -> None:
    body = f"not an event {uuid.uuid4().hex}".encode()
    topology = Topology(settings.events_prefix)
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await declare_exchange(channel, topology)
        await exchange.publish(aio_pika.Message(body), routing_key="asset.updated")
        for consumer in CONSUMERS:
            dead = await channel.declare_queue(
                topology.dead_letter_queue(consumer), durable=True, arguments={"x-queue-type": "quorum"}
            )

            async def arrived(
                dead: aio_pika.abc.AbstractQueue = dead,
            ) -> aio_pika.abc.AbstractIncomingMessage | None:
                while (message := await dead.get(no_ack=False, fail=False)) is not None:
                    if message.body == body:
                        await message.ack()
                        return message
                return None  # others' dead letters stay unacknowledged and return when the channel closes

            message: aio_pika.abc.AbstractIncomingMessage = await poll(arrived, interval=0.1)
            headers = message.headers or {}
            assert headers.get("x-assetflow-consumer") == consumer
            reason = headers.get("x-assetflow-reason")
            assert isinstance(reason, str) and reason


# --------------------------------------------------------------------------- coverage notices


def assert_notice(
    event: dict[str, Any], kind: str, coverage: str, asset: dict[str, Any], tenant: Tenant, end: dt.date
) -> None:
    assert event["type"] == f"asset.{coverage}.{kind}"
    assert event["specversion"] == "1.0"
    assert event["source"] == "urn:assetflow:worker"
    assert event["subject"] == asset["id"]
    assert event["orgid"] == str(tenant.org_id)
    assert event["datacontenttype"] == "application/json"
    assert str(uuid.UUID(event["id"])) == event["id"]
    assert event["data"] == {
        "asset_id": asset["id"],
        "asset_tag": asset["asset_tag"],
        "name": asset["name"],
        "coverage": coverage,
        "end_date": end.isoformat(),
        "days_left": (end - TODAY()).days,
    }


async def test_expiring_warranty_is_noticed_once_per_end_date(
    client: TestClient,
    tenant: Tenant,
    worker: Worker,
    event_tap: TapFactory,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    tap = await event_tap("asset.#")
    today = TODAY()
    end = today + dt.timedelta(days=10)
    asset = await create(
        client,
        tenant,
        name="Expiring soon",
        warranty_until=end.isoformat(),
        support_end_date=(today + dt.timedelta(days=90)).isoformat(),
    )
    notice = await tap.until(lambda e: e["subject"] == asset["id"] and e["type"] not in CHANGE_TYPES)
    assert_notice(notice, "expiring", "warranty", asset, tenant, end)
    assert notice["data"]["days_left"] == 10
    found = await asset_when(client, tenant, asset["id"], "warranty_status", "within_warranty")
    assert found["support_status"] == "within_support"

    # Neither a sweep (twice) nor an unrelated change repeats it.
    for _ in range(2):
        await make_stale(pool, asset["id"])
        assert await sweep(unit_of_work(pool), today, settings.expiry_warning_days) >= 1
        assert await computed_on(pool, asset["id"]) == today
    await patch(client, tenant, asset["id"], notes="still the same warranty")
    await history_when(client, tenant, asset["id"], 2)
    seen = await marker(client, tenant, tap)
    assert notices_of(seen, asset["id"]) == []

    # A new end date is noticed again, once.
    later_end = today + dt.timedelta(days=20)
    renamed = await patch(client, tenant, asset["id"], warranty_until=later_end.isoformat(), name="Extended")
    notice = await tap.until(lambda e: e["subject"] == asset["id"] and e["type"] not in CHANGE_TYPES)
    assert_notice(notice, "expiring", "warranty", renamed, tenant, later_end)
    await make_stale(pool, asset["id"])
    await sweep(unit_of_work(pool), today, settings.expiry_warning_days)
    seen = await marker(client, tenant, tap)
    assert notices_of(seen, asset["id"]) == []


async def test_expired_cover_is_noticed_once(
    client: TestClient,
    tenant: Tenant,
    worker: Worker,
    event_tap: TapFactory,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    tap = await event_tap("asset.warranty.*", "asset.support.*", "asset.created")
    today = TODAY()
    warranty_end, support_end = today - dt.timedelta(days=3), today - dt.timedelta(days=1)
    asset = await create(
        client,
        tenant,
        name="Long gone",
        warranty_until=warranty_end.isoformat(),
        support_end_date=support_end.isoformat(),
    )
    first = await tap.until(lambda e: e["subject"] == asset["id"] and e["type"] not in CHANGE_TYPES)
    second = await tap.until(lambda e: e["subject"] == asset["id"] and e["type"] not in CHANGE_TYPES)
    by_type = {e["type"]: e for e in (first, second)}
    assert set(by_type) == {"asset.warranty.expired", "asset.support.expired"}
    assert_notice(by_type["asset.warranty.expired"], "expired", "warranty", asset, tenant, warranty_end)
    assert_notice(by_type["asset.support.expired"], "expired", "support", asset, tenant, support_end)
    assert by_type["asset.warranty.expired"]["data"]["days_left"] == -3
    found = await asset_when(client, tenant, asset["id"], "warranty_status", "out_of_warranty")
    assert found["support_status"] == "out_of_support"

    for _ in range(2):
        await make_stale(pool, asset["id"])
        await sweep(unit_of_work(pool), today, settings.expiry_warning_days)
    seen = await marker(client, tenant, tap)
    assert notices_of(seen, asset["id"]) == []


async def test_support_ending_today_is_expiring_with_zero_days_left(
    client: TestClient, tenant: Tenant, worker: Worker, event_tap: TapFactory
) -> None:
    tap = await event_tap("asset.#")
    today = TODAY()
    asset = await create(client, tenant, name="Last day of support", support_end_date=today.isoformat())
    notice = await tap.until(lambda e: e["subject"] == asset["id"] and e["type"] not in CHANGE_TYPES)
    assert_notice(notice, "expiring", "support", asset, tenant, today)
    assert notice["data"]["days_left"] == 0
    found = await asset_when(client, tenant, asset["id"], "support_status", "within_support")
    assert found["warranty_status"] == "none"
    seen = await marker(client, tenant, tap)
    assert notices_of(seen, asset["id"]) == []  # nothing about a warranty it does not have


async def test_the_warning_starts_exactly_expiry_warning_days_ahead(
    client: TestClient, tenant: Tenant, worker: Worker, event_tap: TapFactory, settings: Settings
) -> None:
    tap = await event_tap("asset.#")
    today = TODAY()
    warn = settings.expiry_warning_days
    edge = await create(
        client,
        tenant,
        name="On the edge",
        warranty_until=(today + dt.timedelta(days=warn)).isoformat(),
        support_end_date=(today + dt.timedelta(days=warn + 1)).isoformat(),
    )
    notice = await tap.until(lambda e: e["subject"] == edge["id"] and e["type"] not in CHANGE_TYPES)
    assert_notice(notice, "expiring", "warranty", edge, tenant, today + dt.timedelta(days=warn))
    assert notice["data"]["days_left"] == warn
    await asset_when(client, tenant, edge["id"], "support_status", "within_support")
    assert notices_of(await marker(client, tenant, tap), edge["id"]) == []  # support: one day too early


async def test_the_passing_days_bring_expiring_then_expired(
    client: TestClient,
    tenant: Tenant,
    worker: Worker,
    event_tap: TapFactory,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    """What the daily sweep does to one row as the days pass (the sweep itself only knows today)."""
    tap = await event_tap("asset.#")
    today = TODAY()
    end = today + dt.timedelta(days=40)
    asset = await create(client, tenant, name="Far off", warranty_until=end.isoformat())
    await asset_when(client, tenant, asset["id"], "warranty_status", "within_warranty")
    assert notices_of(await marker(client, tenant, tap), asset["id"]) == []

    async def day(offset: int) -> list[dict[str, Any]]:
        async with unit_of_work(pool) as uow, uow.transaction():
            row = await uow.projections.get_lifecycle(uuid.UUID(asset["id"]))
            assert row is not None
            when = today + dt.timedelta(days=offset)
            await recompute(uow, [row], when, settings.expiry_warning_days)
        return notices_of(await marker(client, tenant, tap), asset["id"])

    assert await day(5) == []
    [expiring] = await day(15)
    assert expiring["type"] == "asset.warranty.expiring"
    assert (expiring["data"]["days_left"], expiring["data"]["end_date"]) == (25, end.isoformat())
    assert await day(16) == []
    assert await day(40) == []  # the last day: still covered, already told
    [expired] = await day(41)
    assert expired["type"] == "asset.warranty.expired"
    assert expired["data"]["days_left"] == -1
    assert await day(42) == []


async def test_deleted_assets_get_no_notices(
    client: TestClient,
    tenant: Tenant,
    worker: Worker,
    event_tap: TapFactory,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    tap = await event_tap("asset.#")
    today = TODAY()
    asset = await create(
        client, tenant, name="Binned", warranty_until=(today + dt.timedelta(days=45)).isoformat()
    )
    await asset_when(client, tenant, asset["id"], "warranty_status", "within_warranty")
    response = await client.delete(f"/v1/assets/{asset['id']}", headers=tenant.auth())
    assert response.status == 200
    await history_when(client, tenant, asset["id"], 2)

    async def buried() -> bool:
        async with pool.acquire() as conn:
            return bool(
                await conn.fetchval(
                    "SELECT deleted FROM asset_lifecycle WHERE asset_id = $1", uuid.UUID(asset["id"])
                )
            )

    await poll(buried)
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE asset_lifecycle SET computed_on = current_date - 1 WHERE asset_id = $1",
            uuid.UUID(asset["id"]),
        )
    await sweep(unit_of_work(pool), today, settings.expiry_warning_days)
    assert notices_of(await marker(client, tenant, tap), asset["id"]) == []


# --------------------------------------------------------------------------- the command line


def cli_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url.get_secret_value(),
        "EVENTS_PREFIX": settings.events_prefix,
        "AMQP_URL": os.environ.get("AMQP_URL", settings.amqp_url.get_secret_value()),
        "LOG_LEVEL": "WARNING",
    }


async def test_sweep_command_recomputes_stale_rows(
    client: TestClient,
    tenant: Tenant,
    worker: Worker,
    event_tap: TapFactory,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    tap = await event_tap("asset.#")
    today = TODAY()
    asset = await create(
        client, tenant, name="Swept", warranty_until=(today - dt.timedelta(days=2)).isoformat()
    )
    await tap.until(lambda e: e["subject"] == asset["id"] and e["type"] == "asset.warranty.expired")
    await asset_when(client, tenant, asset["id"], "warranty_status", "out_of_warranty")
    # As computed yesterday, when the warranty still ran.
    await make_stale(pool, asset["id"], warranty_status="within_warranty", warranty_days_left=0)
    await asset_when(client, tenant, asset["id"], "warranty_status", "within_warranty")

    process = await asyncio.create_subprocess_exec(
        str(ASSETFLOW),
        "sweep",
        env=cli_env(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    counted = re.search(rb"lifecycle recomputed for (\d+) assets", stderr)
    assert counted is not None, stderr.decode()
    assert int(counted.group(1)) >= 1

    await asset_when(client, tenant, asset["id"], "warranty_status", "out_of_warranty")
    assert await computed_on(pool, asset["id"]) == today
    # Already told about this end date: the sweep does not tell again.
    assert notices_of(await marker(client, tenant, tap), asset["id"]) == []


async def test_events_tail_prints_updates_and_its_queue_goes_away(
    client: TestClient, tenant: Tenant, settings: Settings, amqp_url: str
) -> None:
    probe = f"tailprobe.{uuid.uuid4().hex}"
    connection = await aio_pika.connect(amqp_url)
    process = await asyncio.create_subprocess_exec(
        str(ASSETFLOW),
        "events",
        "tail",
        "--type",
        "asset.updated",
        "--type",
        probe,
        env=cli_env(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await declare_exchange(channel, Topology(settings.events_prefix))
        assert process.stdout is not None

        async def routed() -> bool:
            """A mandatory message with the probe key is routed only while tail's queue is bound."""
            try:
                await exchange.publish(
                    aio_pika.Message(b'{"probe": true}'), routing_key=probe, mandatory=True
                )
            except aio_pika.exceptions.DeliveryError:
                return False
            return True

        await poll(routed, interval=0.1)
        line = await asyncio.wait_for(process.stdout.readline(), timeout=10)
        assert json.loads(line) == {"probe": True}

        asset = await create(client, tenant, name="Tailed")
        await patch(client, tenant, asset["id"], name="Tailed, renamed")
        while True:
            line = await asyncio.wait_for(process.stdout.readline(), timeout=15)
            event = json.loads(line)
            assert event.get("probe") or event["type"] == "asset.updated", event  # never asset.created
            if event.get("subject") == asset["id"]:
                break
        assert event["data"]["changes"] == {"name": {"from": "Tailed", "to": "Tailed, renamed"}}
        assert event["orgid"] == str(tenant.org_id)

        process.terminate()
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0

        async def unroutable() -> bool:
            return not await routed()

        # Its server-named, exclusive, auto-deleted queue went away with it.
        await poll(unroutable, interval=0.1)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await connection.close()


# --------------------------------------------------------------------------- a notice nobody listens to


async def test_a_notice_nobody_subscribes_to_does_not_hold_back_later_events(
    client: TestClient, tenant: Tenant, worker: Worker, event_tap: TapFactory, pool: asyncpg.Pool
) -> None:
    """The default topology binds no queue to the expiry notices; publishing one must not stall the relay
    (the events after it still go out, and the notice leaves the outbox)."""
    tap = await event_tap("asset.created")  # like a subscriber of changes only
    today = TODAY()
    try:
        lapsed = await create(
            client, tenant, name="Nobody cares", warranty_until=(today - dt.timedelta(days=1)).isoformat()
        )
        await asset_when(client, tenant, lapsed["id"], "warranty_status", "out_of_warranty")  # notice written
        later = await create(client, tenant, name="Written after the notice")
        event = await tap.until(lambda e: e["subject"] == later["id"])
        assert event["type"] == "asset.created"
        await outbox_drained(pool, tenant.org_id)
    finally:
        # Whatever happened, let a stuck notice go so that later tests are not held back by it.
        await event_tap("asset.#")
        await outbox_drained(pool)
