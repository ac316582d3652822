"""What the producers write is what the published contract says: every event type, made by the real
use cases (through both dialects' HTTP routes) and the worker's lifecycle code, is read back from
the outbox and validated against its message's payload schema in the served `/asyncapi.json`."""

import asyncio
import copy
import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import jsonschema_rs
import pytest
from aiohttp.test_utils import TestClient

from shared.events import EventType
from shared.services import organisations
from shared.services.unit_of_work import unit_of_work
from shared.settings import Settings
from tests.conftest import Tenant, poll
from tests.e2e.webhook_receiver import Receiver, receiving

Body = dict[str, Any]
Worker = asyncio.Task[None]


@pytest.fixture(autouse=True)
def _own_broker_names(broker: str, settings: Settings) -> None:
    assert settings.events_prefix == broker


@pytest.fixture(scope="module")
async def contract(client: TestClient) -> dict[str, jsonschema_rs.Validator]:
    """A validator per event type: the payload of its message in the served AsyncAPI document,
    its `$ref`s resolved within that document."""
    response = await client.get("/asyncapi.json")
    assert response.status == 200
    document = await response.json()
    validators = {}
    for message in document["components"]["messages"].values():
        schema = {**message["payload"], "components": document["components"]}
        assert message["bindings"]["amqp"]["messageType"] == message["name"]
        validators[message["name"]] = jsonschema_rs.validator_for(schema, validate_formats=True)
    return validators


def problems(validator: jsonschema_rs.Validator, body: Body) -> list[str]:
    return [
        f"{'/'.join(map(str, error.instance_path))}: {error.message}" for error in validator.iter_errors(body)
    ]


async def _tenant(pool: asyncpg.Pool) -> Tenant:
    name = f"org-{uuid.uuid4().hex[:12]}"
    org = await organisations.create_organisation(unit_of_work(pool), name, None)
    scopes = ["assets:read", "assets:write", "webhooks:read", "webhooks:write"]
    _, token = await organisations.create_token(unit_of_work(pool), name, scopes)
    return Tenant(name, org.id, token, token, token)


async def _send(
    client: TestClient, tenant: Tenant, method: str, path: str, expect: int, /, **body: Any
) -> Any:
    response = await client.request(method, path, json=body or None, headers=tenant.auth())
    assert response.status == expect, await response.text()
    return await response.json() if expect != 204 else None


@pytest.fixture(scope="module")
async def produced(
    client: TestClient, pool: asyncpg.Pool, worker: Worker, settings: Settings
) -> list[tuple[str, Body]]:
    """Every kind of event, each made the way the service makes it, as the outbox holds them (and
    webhook.ping, which is never published, as a webhook endpoint receives it)."""
    async with receiving() as receiver:
        return await _produce(client, pool, settings, receiver)


async def _produce(
    client: TestClient, pool: asyncpg.Pool, settings: Settings, receiver: Receiver
) -> list[tuple[str, Body]]:
    tenant = await _tenant(pool)
    # An endpoint that answers 410 to its first delivery, which the worker then disables.
    receiver.scripts["/gone"] = [410]
    await _send(
        client, tenant, "POST", "/v1/webhooks", 201, url=receiver.url("/gone"), events=["asset.created"]
    )
    ping_to = await _send(
        client, tenant, "POST", "/v1/webhooks", 201, url=receiver.url("/ping"), events=["#"]
    )
    await _send(client, tenant, "POST", f"/v1/webhooks/{ping_to['data']['id']}/ping", 200)
    today = dt.date.today()
    soon, gone = today + dt.timedelta(days=1), today - dt.timedelta(days=3)
    assert settings.expiry_warning_days >= 1

    async def v1_id(path: str, **fields: Any) -> str:
        return str((await _send(client, tenant, "POST", path, 201, **fields))["data"]["id"])

    vendor = await v1_id("/v1/vendors", name="Dell")
    form = await v1_id("/v1/custom-forms", name="Laptop", fields=[{"name": "ram_gb", "type": "integer"}])
    laptop = (
        await _send(
            client,
            tenant,
            "POST",
            "/v1/assets",
            201,
            name="Dell XPS 15",
            asset_type_id=await v1_id("/v1/asset-types", name="Laptop", code="LAP", kind="physical"),
            assigned_to=await v1_id("/v1/users", name="Alice", email="alice@example.com"),
            business_unit_id=await v1_id("/v1/business-units", name="Sales"),
            contract_id=await v1_id("/v1/contracts", number="C-2024-01", vendor_id=vendor),
            status="in_use",
            serial_number="5CG123456",
            purchase_date="2024-06-01",
            purchase_price=2499.00,
            estimated_salvage_value=100.50,
            depreciation_schedule="3_year_33_percent",
            warranty_type="oem",
            warranty_provider_id=vendor,
            warranty_until=soon.isoformat(),  # asset.warranty.expiring
            support_end_date=gone.isoformat(),  # asset.support.expired
            support_contact_email="support@example.com",
            custom_form_id=form,
            custom_fields={"ram_gb": 32},
        )
    )["data"]
    await _send(client, tenant, "PATCH", f"/v1/assets/{laptop['id']}", 200, purchase_price=1300.50)
    category = (await _send(client, tenant, "POST", "/api/v2/category/", 201, name="Servers"))["id"]
    server = await _send(
        client,
        tenant,
        "POST",
        "/api/v2/asset/",
        201,
        name="PowerEdge R750",
        category=category,
        usage_status=3,
        original_cost="12000.00",
        warranty_end_date=gone.isoformat(),  # asset.warranty.expired
        support_end_date=soon.isoformat(),  # asset.support.expiring
        template={"id": None, "fields": {"rack": "B2", "nested": {"u": [41, 42], "pdu": None}}},
    )
    await _send(client, tenant, "PATCH", f"/api/v2/asset/{server['id']}/", 200, asset_notes="Moved to B3")

    async def outbox() -> list[tuple[str, Body]]:
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT routing_key, body FROM outbox WHERE org_id = $1 ORDER BY seq", tenant.org_id
            )
        return [(row["routing_key"], json.loads(row["body"])) for row in rows]

    async def every_notice() -> list[tuple[str, Body]]:
        rows = await outbox()
        wanted = {t.value for t in EventType} - {"asset.deleted", "webhook.ping"}
        return rows if wanted <= {key for key, _ in rows} else []

    # The worker's lifecycle consumer writes the four notices, its dispatcher webhook.disabled.
    await poll(every_notice)
    await _send(client, tenant, "DELETE", f"/v1/assets/{laptop['id']}", 200)
    rows: list[tuple[str, Body]] = await outbox()
    [ping] = [
        json.loads(r.body) for r in receiver.at("/ping") if json.loads(r.body)["type"] == "webhook.ping"
    ]
    return [*rows, ("webhook.ping", ping)]


async def test_every_event_type_is_produced_and_matches_the_published_contract(
    produced: list[tuple[str, Body]], contract: dict[str, jsonschema_rs.Validator]
) -> None:
    assert {key for key, _ in produced} == set(contract) == {t.value for t in EventType}
    for routing_key, body in produced:
        assert body["type"] == routing_key
        assert problems(contract[routing_key], body) == [], routing_key


def _with(path: str, value: Any) -> Callable[[Body], Body]:
    """The body with the member at `path` (dot-separated) set to `value`, or removed when it is ..."""

    def broken(body: Body) -> Body:
        body = copy.deepcopy(body)
        *parents, last = path.split(".")
        holder = body
        for key in parents:
            holder = holder[key]
        if value is ...:
            del holder[last]
        else:
            holder[last] = value
        return body

    return broken


def _from_underscore(body: Body) -> Body:
    body = copy.deepcopy(body)
    change = body["data"]["changes"]["purchase_price"]
    change["from_"] = change.pop("from")
    return body


def _apt(body: Body) -> bool:
    """A change event whose price changed, or any notice."""
    return body["type"] != "asset.updated" or "purchase_price" in body["data"]["changes"]


BREAKAGES: list[tuple[str, str, Callable[[Body], Body]]] = [
    ("asset.updated", "a price written as a string", _with("data.asset.purchase_price", "1300.50")),
    ("asset.updated", "`from_` for `from` in a change", _from_underscore),
    ("asset.created", "no asset tag", _with("data.asset.asset_tag", ...)),
    ("asset.created", "a version of 0", _with("data.version", 0)),
    ("asset.deleted", "an unknown status", _with("data.asset.status", "lost")),
    ("asset.deleted", "a date that is not ISO 8601", _with("data.asset.purchase_date", "01/06/2024")),
    ("asset.created", "no CloudEvents id", _with("id", ...)),
    ("asset.warranty.expiring", "days left as text", _with("data.days_left", "1")),
    ("asset.support.expired", "an unknown coverage", _with("data.coverage", "insurance")),
    ("asset.warranty.expired", "an end date with a time", _with("data.end_date", "2026-01-01T00:00:00Z")),
    ("asset.support.expiring", "a notice without data", _with("data", ...)),
]


@pytest.mark.parametrize(("routing_key", "breakage"), [(key, how) for key, how, _ in BREAKAGES])
async def test_the_check_rejects_a_produced_body_that_breaks_the_contract(
    produced: list[tuple[str, Body]],
    contract: dict[str, jsonschema_rs.Validator],
    routing_key: str,
    breakage: str,
) -> None:
    [broken] = [change for key, how, change in BREAKAGES if (key, how) == (routing_key, breakage)]
    body = next(body for key, body in produced if key == routing_key and _apt(body))
    assert problems(contract[routing_key], body) == []
    assert problems(contract[routing_key], broken(body)) != [], breakage
