"""Safe writes in both dialects: ETags on every object, 304 on If-None-Match, 412 and 428 for
If-Match, and Idempotency-Key on every write."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from services.api.app import create_app
from shared.repositories.unit_of_work import PgUnitOfWork
from shared.services.idempotency import prune_expired
from shared.settings import Settings
from tests.conftest import EventTap, TapFactory, Tenant, TenantFactory, poll, row_trigger
from tests.integration.v2_http import V2

PROBLEM_TYPE = "application/problem+json"
DEADLOCKS = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
# A row trigger's body that makes each write of the rows it names wait a second.
SLOW = "PERFORM pg_sleep(1); RETURN NEW;"


# ---------------------------------------------------------------- helpers


async def send(
    client: TestClient,
    tenant: Tenant,
    method: str,
    path: str,
    body: Any = None,
    **headers: str,
) -> tuple[ClientResponse, Any]:
    """A request with the tenant's token and the given headers (`If_Match` → If-Match); the answer
    and its JSON body (None when it has none)."""
    sent = {**tenant.auth(), **{name.replace("_", "-"): value for name, value in headers.items()}}
    response = await client.request(method, path, json=body, headers=sent)
    text = await response.text()
    return response, (json.loads(text) if text else None)


@pytest.fixture(autouse=True)
def _worker(worker: asyncio.Task[None]) -> None:
    """The worker runs: what it derives is part of an asset's answers, and so of their ETags."""


async def settled(client: TestClient, tenant: Tenant, asset_id: str) -> tuple[dict[str, Any], str]:
    """The asset once the worker has derived its statuses (the answer, and so the ETag, changes
    then, and not again while the asset does not), and its ETag."""

    async def derived() -> tuple[dict[str, Any], str] | None:
        response, body = await send(client, tenant, "GET", f"/v1/assets/{asset_id}")
        assert response.status == 200, body
        return (body["data"], response.headers["ETag"]) if body["data"]["warranty_status"] else None

    found: tuple[dict[str, Any], str] = await poll(derived)
    return found


def id_in(etag: str) -> str:
    return etag.strip('"').split(".")[0]


async def created(
    client: TestClient, tenant: Tenant, name: str = "laptop", *, settle: bool = True
) -> tuple[dict[str, Any], str]:
    """A new asset as it reads once settled, and its ETag."""
    response, body = await send(client, tenant, "POST", "/v1/assets", {"name": name})
    assert response.status == 201, body
    assert response.headers["ETag"].startswith(f'"{body["data"]["id"]}.1.')
    if not settle:
        return body["data"], response.headers["ETag"]
    return await settled(client, tenant, body["data"]["id"])


async def etag(client: TestClient, tenant: Tenant, path: str) -> str:
    response, body = await send(client, tenant, "GET", path)
    assert response.status == 200, body
    return response.headers["ETag"]


async def events_until(tap: EventTap, last_subject: str) -> list[dict[str, Any]]:
    """Every event the tap receives up to and including the first about `last_subject`."""
    seen = []
    while True:
        event = await tap.next()
        seen.append(event)
        if event["subject"] == last_subject:
            return seen


async def about(tap: EventTap, subject: str, client: TestClient, tenant: Tenant) -> list[dict[str, Any]]:
    """The events about `subject` that came before a marker asset's create: each one it had."""
    marker, _ = await created(client, tenant, "marker", settle=False)
    return [e for e in await events_until(tap, marker["id"]) if e["subject"] == subject]


# ---------------------------------------------------------------- ETags and conditional reads


async def test_an_assets_etag_names_it_and_changes_with_every_change_and_only_then(
    client: TestClient, tenant: Tenant
) -> None:
    asset, first = await created(client, tenant)
    assert asset["version"] == 1
    assert first.startswith(f'"{asset["id"]}.1.') and first.endswith('"')
    path = f"/v1/assets/{asset['id']}"
    assert await etag(client, tenant, path) == first
    assert await etag(client, tenant, path) == first

    response, body = await send(client, tenant, "PATCH", path, {"notes": "dented"})
    assert response.status == 200 and body["data"]["version"] == 2
    second = response.headers["ETag"]
    assert second != first and second.startswith(f'"{asset["id"]}.2.')
    assert await etag(client, tenant, path) == second

    # A PATCH that changes nothing is no change: the same version, the same ETag.
    response, body = await send(client, tenant, "PATCH", path, {"notes": "dented"})
    assert response.status == 200 and body["data"]["version"] == 2
    assert response.headers["ETag"] == second == await etag(client, tenant, path)


async def test_if_none_match_answers_304_without_a_body_only_for_the_current_etag(
    client: TestClient, tenant: Tenant
) -> None:
    asset, current = await created(client, tenant)
    path = f"/v1/assets/{asset['id']}"
    for given in (current, f"W/{current}", f'"nope", {current}', "*"):
        response = await client.get(path, headers={**tenant.auth(), "If-None-Match": given})
        assert response.status == 304, given
        assert await response.read() == b""
        assert response.headers["ETag"] == current
    await send(client, tenant, "PATCH", path, {"name": "renamed"})
    response = await client.get(path, headers={**tenant.auth(), "If-None-Match": current})
    assert response.status == 200
    assert (await response.json())["data"]["name"] == "renamed"
    assert response.headers["ETag"] != current


async def test_the_v2_dialect_answers_the_same_conditional_reads(client: TestClient, tenant: Tenant) -> None:
    response, body = await send(client, tenant, "POST", f"{V2}/asset/", {"name": "desk"})
    assert response.status == 201
    path = f"{V2}/asset/{body['id']}/"
    assert response.headers["Location"] == path
    await settled(client, tenant, id_in(response.headers["ETag"]))
    current = await etag(client, tenant, path)
    assert await etag(client, tenant, path) == current
    response = await client.get(path, headers={**tenant.auth(), "If-None-Match": current})
    assert response.status == 304 and await response.read() == b""
    # Another representation of the same asset (its warranty block only) has an ETag of its own.
    assert await etag(client, tenant, f"{path}?req=warranty") != current


async def test_every_catalog_object_of_both_dialects_has_an_etag_of_its_own_version(
    client: TestClient, tenant: Tenant
) -> None:
    response, body = await send(client, tenant, "POST", "/v1/vendors", {"name": "Dell"})
    assert response.status == 201
    vendor = body["data"]
    assert response.headers["Location"] == f"/v1/vendors/{vendor['id']}"
    v1_path = f"/v1/vendors/{vendor['id']}"
    first = response.headers["ETag"]
    assert first.startswith(f'"{vendor["id"]}.1.')
    assert await etag(client, tenant, v1_path) == first

    _, v2_vendors = await send(client, tenant, "GET", f"{V2}/vendor/")
    number = next(v["id"] for v in v2_vendors["results"] if v["name"] == "Dell")
    v2_path = f"{V2}/vendor/{number}/"
    v2_first = await etag(client, tenant, v2_path)
    assert v2_first.startswith(f'"{vendor["id"]}.1.')  # the same object at the same version

    # A change through v2 is version 2 in both dialects; the same name again changes nothing.
    response, _ = await send(
        client, tenant, "PATCH", v2_path, {"name": "Dell Technologies"}, If_Match=v2_first
    )
    assert response.status == 200
    assert response.headers["ETag"].startswith(f'"{vendor["id"]}.2.')
    response, _ = await send(client, tenant, "PATCH", v1_path, {"name": "Dell Technologies"})
    assert response.headers["ETag"].startswith(f'"{vendor["id"]}.2.')
    assert (await etag(client, tenant, v1_path)).startswith(f'"{vendor["id"]}.2.')


async def test_a_renamed_vendor_changes_its_contracts_etag_but_not_their_version(
    client: TestClient, tenant: Tenant
) -> None:
    _, body = await send(client, tenant, "POST", "/v1/vendors", {"name": "Acme"})
    vendor = body["data"]
    response, body = await send(
        client, tenant, "POST", "/v1/contracts", {"number": "C-1", "vendor_id": vendor["id"]}
    )
    assert response.status == 201, body
    contract = body["data"]
    path = f"/v1/contracts/{contract['id']}"
    before = await etag(client, tenant, path)
    await send(client, tenant, "PATCH", f"/v1/vendors/{vendor['id']}", {"name": "Acme Corp"})
    after = await etag(client, tenant, path)
    # The answer shows the vendor's new name, so a cached copy must not be taken as current...
    assert after != before
    response = await client.get(path, headers={**tenant.auth(), "If-None-Match": before})
    assert response.status == 200
    # ...but the contract itself did not change: an edit holding the older ETag goes ahead.
    response, body = await send(client, tenant, "PATCH", path, {"number": "C-2"}, If_Match=before)
    assert response.status == 200, body
    assert response.headers["ETag"].startswith(f'"{contract["id"]}.2.')


# ---------------------------------------------------------------- conditional writes


async def test_a_stale_if_match_answers_412_with_the_current_etag_and_changes_nothing(
    client: TestClient, tenant: Tenant, event_tap: TapFactory
) -> None:
    tap = await event_tap("asset.*")
    asset, old = await created(client, tenant)
    path = f"/v1/assets/{asset['id']}"
    response, body = await send(client, tenant, "PATCH", path, {"name": "first edit"}, If_Match=old)
    assert response.status == 200
    current = response.headers["ETag"]

    response, body = await send(client, tenant, "PATCH", path, {"name": "lost edit"}, If_Match=old)
    assert response.status == 412
    assert response.headers["Content-Type"] == PROBLEM_TYPE
    assert body["code"] == "PRECONDITION_FAILED" and body["status"] == 412
    assert "has changed" in body["detail"]
    assert response.headers["ETag"] == current
    response, body = await send(client, tenant, "DELETE", path, If_Match=old)
    assert response.status == 412 and body["code"] == "PRECONDITION_FAILED"

    response, body = await send(client, tenant, "GET", path)
    assert body["data"]["name"] == "first edit" and body["data"]["version"] == 2
    assert response.headers["ETag"] == current
    events = await about(tap, asset["id"], client, tenant)
    assert [(e["type"], e["data"]["version"]) for e in events] == [("asset.created", 1), ("asset.updated", 2)]

    # The current ETag, one of several, or `*` lets the write through.
    response, _ = await send(client, tenant, "PATCH", path, {"name": "third"}, If_Match=f'"x", {current}')
    assert response.status == 200
    response, _ = await send(client, tenant, "PATCH", path, {"name": "fourth"}, If_Match="*")
    assert response.status == 200
    response, _ = await send(client, tenant, "DELETE", path, If_Match=response.headers["ETag"])
    assert response.status == 200


async def test_an_if_match_that_names_no_version_of_ours_is_412(client: TestClient, tenant: Tenant) -> None:
    asset, current = await created(client, tenant)
    path = f"/v1/assets/{asset['id']}"
    _, other_etag = await created(client, tenant, "other")
    # Weak never matches; another asset's ETag, text of no ETag of ours, or no list of ETags at all
    # name no version of this one.
    for given in (f"W/{current}", '"not-ours"', other_etag, "no-quotes", '"unterminated', f"{current} junk"):
        response, body = await send(client, tenant, "PATCH", path, {"name": "x"}, If_Match=given)
        assert response.status == 412, given
        assert body["code"] == "PRECONDITION_FAILED" and response.headers["ETag"] == current
    assert (await send(client, tenant, "GET", path))[1]["data"]["name"] == "laptop"


async def test_v2_writes_answer_412_in_django_rest_frameworks_shape(
    client: TestClient, tenant: Tenant
) -> None:
    response, body = await send(client, tenant, "POST", f"{V2}/asset/", {"name": "chair"})
    path = f"{V2}/asset/{body['id']}/"
    await settled(client, tenant, id_in(response.headers["ETag"]))
    old = await etag(client, tenant, path)
    response, _ = await send(client, tenant, "PUT", path, {"name": "chair 2"}, If_Match=old)
    assert response.status == 200
    for method, sent in (("PATCH", {"name": "late"}), ("PUT", {"name": "late"}), ("DELETE", None)):
        response, body = await send(client, tenant, method, path, sent, If_Match=old)
        assert response.status == 412, method
        assert set(body) == {"detail"} and "has changed" in body["detail"]
        assert response.headers["ETag"] == await etag(client, tenant, path)
    response, _ = await send(client, tenant, "DELETE", path, If_Match=await etag(client, tenant, path))
    assert response.status == 204


@pytest.mark.parametrize("dialect", ["v1", "v2"])
async def test_fifty_concurrent_patches_holding_one_etag_make_one_change(
    client: TestClient, tenant: Tenant, event_tap: TapFactory, dialect: str
) -> None:
    tap = await event_tap("asset.*")
    asset, held = await created(client, tenant)
    path = f"/v1/assets/{asset['id']}" if dialect == "v1" else await v2_path(client, tenant, asset["id"])
    field = "notes" if dialect == "v1" else "asset_notes"
    answers = await asyncio.gather(
        *(send(client, tenant, "PATCH", path, {field: f"writer {n}"}, If_Match=held) for n in range(50))
    )
    statuses = sorted(response.status for response, _ in answers)
    assert statuses == [200] + [412] * 49
    _, now = await send(client, tenant, "GET", f"/v1/assets/{asset['id']}")
    assert now["data"]["notes"].startswith("writer ") and now["data"]["version"] == 2
    updates = [e for e in await about(tap, asset["id"], client, tenant) if e["type"] == "asset.updated"]
    assert len(updates) == 1 and updates[0]["data"]["changes"]["notes"]["to"] == now["data"]["notes"]


async def v2_path(client: TestClient, tenant: Tenant, asset_id: str) -> str:
    """The v2 path of an asset (by its integer id, from the v2 list of its company)."""
    _, page = await send(client, tenant, "GET", f"{V2}/asset/?company=1&page_size=100")
    _, v1 = await send(client, tenant, "GET", f"/v1/assets/{asset_id}")
    number = next(a["id"] for a in page["results"] if a["asset_tag"] == v1["data"]["asset_tag"])
    return f"{V2}/asset/{number}/"


@pytest.fixture
async def strict_client(settings: Settings) -> AsyncIterator[TestClient]:
    """An api that requires If-Match on every change and delete."""
    strict = settings.model_copy(update={"require_if_match": True})
    async with TestClient(TestServer(create_app(strict))) as strict_client:
        yield strict_client


async def test_require_if_match_answers_428_to_an_unconditional_write(
    strict_client: TestClient, tenant: Tenant
) -> None:
    asset, current = await created(strict_client, tenant)  # a create has nothing to match
    path = f"/v1/assets/{asset['id']}"
    for method, sent in (("PATCH", {"name": "x"}), ("DELETE", None)):
        response, body = await send(strict_client, tenant, method, path, sent)
        assert response.status == 428, method
        assert body["code"] == "PRECONDITION_REQUIRED" and "If-Match" in body["detail"]
    v2 = await v2_path(strict_client, tenant, asset["id"])
    for method, sent in (("PATCH", {"name": "x"}), ("PUT", {"name": "x"}), ("DELETE", None)):
        response, body = await send(strict_client, tenant, method, v2, sent)
        assert response.status == 428, method
        assert set(body) == {"detail"} and "If-Match" in body["detail"]
    response, body = await send(strict_client, tenant, "PUT", "/v1/settings/asset-tag", {"template": "A-NNN"})
    assert response.status == 428 and body["code"] == "PRECONDITION_REQUIRED"
    # With a key, a 428 is not kept: the retry with If-Match (and the same key) goes ahead.
    response, body = await send(strict_client, tenant, "PATCH", path, {"name": "x"}, Idempotency_Key="k428")
    assert response.status == 428
    response, body = await send(
        strict_client, tenant, "PATCH", path, {"name": "x"}, If_Match=current, Idempotency_Key="k428"
    )
    assert response.status == 200 and body["data"]["name"] == "x"
    assert "Idempotent-Replayed" not in response.headers


# ---------------------------------------------------------------- Idempotency-Key


@pytest.mark.parametrize("path", ["/v1/assets", f"{V2}/asset/"])
async def test_fifty_concurrent_posts_with_one_key_make_one_asset_one_tag_one_event(
    client: TestClient, tenant: Tenant, event_tap: TapFactory, path: str
) -> None:
    tap = await event_tap("asset.created")
    key = str(uuid.uuid4())
    answers = await asyncio.gather(
        *(send(client, tenant, "POST", path, {"name": "retried"}, Idempotency_Key=key) for _ in range(50))
    )
    made = [(r, b) for r, b in answers if r.status == 201]
    in_use = [(r, b) for r, b in answers if r.status == 409]
    assert len(made) + len(in_use) == 50 and made
    assert all("still running" in b["detail"] for _, b in in_use)
    first = [(r, b) for r, b in made if "Idempotent-Replayed" not in r.headers]
    assert len(first) == 1
    original, body = first[0]
    for response, replayed in made:
        assert replayed == body
        assert response.headers["ETag"] == original.headers["ETag"]
        assert response.headers["Location"] == original.headers["Location"]
        if response is not original:
            assert response.headers["Idempotent-Replayed"] == "true"
    # A retry after the first has answered is a replay, never a 409.
    response, again = await send(client, tenant, "POST", path, {"name": "retried"}, Idempotency_Key=key)
    assert response.status == 201 and again == body and response.headers["Idempotent-Replayed"] == "true"

    asset_id = id_in(original.headers["ETag"])
    _, listed = await send(client, tenant, "GET", "/v1/assets?q=retried")
    assert [(a["id"], a["asset_tag"]) for a in listed["data"]] == [
        (asset_id, body.get("data", body)["asset_tag"])
    ]
    marker, _ = await created(client, tenant, "marker", settle=False)
    events = await events_until(tap, marker["id"])
    assert [e["subject"] for e in events if e["data"]["asset"]["name"] == "retried"] == [asset_id]


async def test_the_same_key_with_another_request_is_422_and_does_nothing(
    client: TestClient, tenant: Tenant
) -> None:
    key = "order-7731"
    response, body = await send(client, tenant, "POST", "/v1/assets", {"name": "one"}, Idempotency_Key=key)
    assert response.status == 201
    for method, path, sent in (
        ("POST", "/v1/assets", {"name": "two"}),  # another body
        ("POST", "/v1/vendors", {"name": "one"}),  # another path
        ("PATCH", f"/v1/assets/{body['data']['id']}", {"name": "one"}),  # another method
    ):
        response, problem = await send(client, tenant, method, path, sent, Idempotency_Key=key)
        assert response.status == 422, (method, path)
        assert problem["code"] == "IDEMPOTENCY_KEY_REUSED" and "another request" in problem["detail"]
    _, listed = await send(client, tenant, "GET", "/v1/assets")
    assert [a["name"] for a in listed["data"]] == ["one"]
    _, vendors = await send(client, tenant, "GET", "/v1/vendors")
    assert vendors["data"] == []


async def test_a_key_is_the_organisations_own(
    client: TestClient, tenant: Tenant, make_tenant: TenantFactory
) -> None:
    other = await make_tenant()
    mine, _ = await send(client, tenant, "POST", "/v1/assets", {"name": "a"}, Idempotency_Key="shared-text")
    theirs, body = await send(
        client, other, "POST", "/v1/assets", {"name": "b"}, Idempotency_Key="shared-text"
    )
    assert mine.status == theirs.status == 201
    assert "Idempotent-Replayed" not in theirs.headers and body["data"]["name"] == "b"


async def test_a_key_past_its_ttl_runs_again_and_is_pruned(
    client: TestClient, tenant: Tenant, pool: asyncpg.Pool
) -> None:
    first, body = await send(client, tenant, "POST", "/v1/assets", {"name": "ttl"}, Idempotency_Key="ttl-key")
    assert first.status == 201
    expires = await pool.fetchval(
        "SELECT expires_at - created_at FROM idempotency_keys WHERE org_id = $1 AND key = 'ttl-key'",
        tenant.org_id,
    )
    assert expires.total_seconds() == 24 * 3600  # IDEMPOTENCY_TTL_HOURS' default
    await pool.execute(
        "UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE org_id = $1",
        tenant.org_id,
    )
    again, second = await send(
        client, tenant, "POST", "/v1/assets", {"name": "ttl"}, Idempotency_Key="ttl-key"
    )
    assert again.status == 201 and "Idempotent-Replayed" not in again.headers
    assert second["data"]["id"] != body["data"]["id"]

    await pool.execute(
        "UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE org_id = $1",
        tenant.org_id,
    )
    assert await prune_expired(PgUnitOfWork(pool)) >= 1
    assert await pool.fetchval("SELECT count(*) FROM idempotency_keys WHERE org_id = $1", tenant.org_id) == 0


async def test_a_4xx_answer_is_kept_and_a_5xx_is_not(
    client: TestClient, tenant: Tenant, pool: asyncpg.Pool
) -> None:
    response, body = await send(
        client, tenant, "POST", "/v1/assets", {"name": ""}, Idempotency_Key="bad-body"
    )
    assert response.status == 400
    response, again = await send(
        client, tenant, "POST", "/v1/assets", {"name": ""}, Idempotency_Key="bad-body"
    )
    assert response.status == 400 and response.headers["Idempotent-Replayed"] == "true" and again == body

    # A write that fails on our side (a statement the database refuses) is answered 500 and kept
    # nowhere: the retry with the same key runs, and succeeds.
    mine = f"NEW.org_id = '{tenant.org_id}'"
    async with row_trigger(pool, "assets", "INSERT", mine, "RAISE EXCEPTION 'refused for the test';"):
        response, _ = await send(client, tenant, "POST", "/v1/assets", {"name": "x"}, Idempotency_Key="flaky")
        assert response.status == 500
    kept = await pool.fetchval(
        "SELECT count(*) FROM idempotency_keys WHERE org_id = $1 AND key = 'flaky'", tenant.org_id
    )
    assert kept == 0
    response, body = await send(client, tenant, "POST", "/v1/assets", {"name": "x"}, Idempotency_Key="flaky")
    assert response.status == 201 and "Idempotent-Replayed" not in response.headers


async def test_a_bad_key_is_400_naming_the_header(client: TestClient, tenant: Tenant) -> None:
    for key in ("x" * 256, "has space", "tab\there", "\u00e9t\u00e9"):
        response = await client.post(
            "/v1/assets", json={"name": "k"}, headers={**tenant.auth(), "Idempotency-Key": key}
        )
        body = await response.json()
        assert response.status == 400, key
        assert body["errors"][0]["field"] == "Idempotency-Key"
    # The draft's own form, a structured-field string, is the key within the quotes.
    quoted, body = await send(client, tenant, "POST", "/v1/assets", {"name": "k"}, Idempotency_Key='"abc-1"')
    bare, again = await send(client, tenant, "POST", "/v1/assets", {"name": "k"}, Idempotency_Key="abc-1")
    assert (
        quoted.status == bare.status == 201
        and again == body
        and bare.headers["Idempotent-Replayed"] == "true"
    )
    _, listed = await send(client, tenant, "GET", "/v1/assets")
    assert len(listed["data"]) == 1


async def test_v2_creates_catalog_creates_bulk_changes_and_imports_take_a_key(
    client: TestClient, tenant: Tenant
) -> None:
    requests: list[tuple[str, str, Any]] = [
        ("POST", f"{V2}/asset/", {"name": "v2 asset"}),
        ("POST", f"{V2}/vendor/", {"name": "v2 vendor"}),
        ("POST", "/v1/users", {"name": "Ada", "email": "ada@example.com"}),
    ]
    for method, path, sent in requests:
        key = uuid.uuid4().hex
        first, body = await send(client, tenant, method, path, sent, Idempotency_Key=key)
        again, replay = await send(client, tenant, method, path, sent, Idempotency_Key=key)
        assert first.status == again.status == 201, (path, body)
        assert replay == body and again.headers["Idempotent-Replayed"] == "true"
    response, body = await send(
        client, tenant, "POST", f"{V2}/asset/", {"name": "other"}, Idempotency_Key=key
    )
    assert response.status == 422 and set(body) == {"detail"}

    asset, _ = await created(client, tenant, "bulk")
    change = {"data": [{"id": asset["id"], "notes": "bulk note"}]}
    first, body = await send(client, tenant, "PATCH", "/v1/assets", change, Idempotency_Key="bulk-1")
    again, replay = await send(client, tenant, "PATCH", "/v1/assets", change, Idempotency_Key="bulk-1")
    assert first.status == again.status == 200 and replay == body
    assert (await send(client, tenant, "GET", f"/v1/assets/{asset['id']}"))[1]["data"]["version"] == 2

    csv = b"name,serial_number\nimported,SN-IMP-1\n"
    headers = {**tenant.auth(), "Content-Type": "text/csv", "Idempotency-Key": "import-1"}
    first_import = await client.post("/v1/assets/import", data=csv, headers=headers)
    assert first_import.status == 200, await first_import.text()
    replayed_import = await client.post("/v1/assets/import", data=csv, headers=headers)
    assert replayed_import.status == 200 and replayed_import.headers["Idempotent-Replayed"] == "true"
    assert await replayed_import.json() == await first_import.json()
    other_file = await client.post("/v1/assets/import", data=csv + b"another,SN-IMP-2\n", headers=headers)
    assert other_file.status == 422 and (await other_file.json())["code"] == "IDEMPOTENCY_KEY_REUSED"
    _, listed = await send(client, tenant, "GET", "/v1/assets?q=SN-IMP")
    assert [a["name"] for a in listed["data"]] == ["imported"]


async def test_the_asset_tag_template_has_an_etag_and_takes_if_match(
    client: TestClient, tenant: Tenant
) -> None:
    path = "/v1/settings/asset-tag"
    response, body = await send(client, tenant, "GET", path)
    first = response.headers["ETag"]
    assert first.startswith(f'"{tenant.org_id}.1.')
    response = await client.get(path, headers={**tenant.auth(), "If-None-Match": first})
    assert response.status == 304
    response, body = await send(client, tenant, "PUT", path, {"template": "{PREFIX}-NNNNN"}, If_Match=first)
    assert response.status == 200 and body == {"template": "{PREFIX}-NNNNN"}
    second = response.headers["ETag"]
    assert second.startswith(f'"{tenant.org_id}.2.') and second == await etag(client, tenant, path)
    response, body = await send(client, tenant, "PUT", path, {"template": "X-NNN"}, If_Match=first)
    assert response.status == 412 and body["code"] == "PRECONDITION_FAILED"
    assert response.headers["ETag"] == second
    # The same template again is no change: the same version.
    response, _ = await send(client, tenant, "PUT", path, {"template": "{PREFIX}-NNNNN"}, If_Match=second)
    assert response.status == 200 and response.headers["ETag"] == second


async def test_a_keyed_delete_deletes_once_and_replays_in_both_dialects(
    client: TestClient, tenant: Tenant
) -> None:
    asset, _ = await created(client, tenant, "v1 delete")
    path = f"/v1/assets/{asset['id']}"
    first, body = await send(client, tenant, "DELETE", path, Idempotency_Key="del-v1")
    again, replay = await send(client, tenant, "DELETE", path, Idempotency_Key="del-v1")
    assert first.status == again.status == 200 and replay == body
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (await send(client, tenant, "GET", path))[0].status == 404

    other, _ = await created(client, tenant, "v2 delete")
    v2 = await v2_path(client, tenant, other["id"])
    first, body = await send(client, tenant, "DELETE", v2, Idempotency_Key="del-v2")
    assert first.status == 204 and body is None
    assert (await send(client, tenant, "GET", f"/v1/assets/{other['id']}"))[0].status == 404
    again, body = await send(client, tenant, "DELETE", v2, Idempotency_Key="del-v2")
    assert again.status == 204 and body is None and again.headers["Idempotent-Replayed"] == "true"

    _, vendor = await send(client, tenant, "POST", f"{V2}/vendor/", {"name": "Gone"})
    vendor_path = f"{V2}/vendor/{vendor['id']}/"
    first, _ = await send(client, tenant, "DELETE", vendor_path, Idempotency_Key="del-vendor")
    again, _ = await send(client, tenant, "DELETE", vendor_path, Idempotency_Key="del-vendor")
    assert first.status == again.status == 204 and again.headers["Idempotent-Replayed"] == "true"
    assert (await send(client, tenant, "GET", vendor_path))[0].status == 404


async def test_a_stale_write_with_a_key_is_not_kept(client: TestClient, tenant: Tenant) -> None:
    asset, old = await created(client, tenant)
    path = f"/v1/assets/{asset['id']}"
    response, _ = await send(client, tenant, "PATCH", path, {"notes": "meanwhile"})
    current = response.headers["ETag"]
    response, _ = await send(
        client, tenant, "PATCH", path, {"name": "mine"}, If_Match=old, Idempotency_Key="k412"
    )
    assert response.status == 412
    # Read again, the same change with the same key and the current ETag goes ahead.
    response, body = await send(
        client, tenant, "PATCH", path, {"name": "mine"}, If_Match=current, Idempotency_Key="k412"
    )
    assert response.status == 200 and body["data"]["name"] == "mine"


async def test_a_keyed_import_does_not_hold_up_the_organisations_other_creates(
    client: TestClient, tenant: Tenant, pool: asyncpg.Pool
) -> None:
    """A keyed write runs in one transaction; the tag counters it takes commit at once all the
    same, so the organisation's row is not locked until the import ends."""
    paused_row = f"NEW.org_id = '{tenant.org_id}' AND NEW.name = 'bulk 0'"
    async with row_trigger(pool, "assets", "INSERT", paused_row, "PERFORM pg_sleep(3); RETURN NEW;"):
        csv = ("name\n" + "".join(f"bulk {n}\n" for n in range(200))).encode()
        headers = {**tenant.auth(), "Content-Type": "text/csv", "Idempotency-Key": "hold-1"}
        upload = asyncio.create_task(client.post("/v1/assets/import", data=csv, headers=headers))

        async def paused() -> bool:
            return bool(
                await pool.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event = 'PgSleep'"
                )
            )

        await poll(paused)
        loop = asyncio.get_running_loop()
        began = loop.time()
        response, _ = await send(client, tenant, "POST", "/v1/assets", {"name": "beside the import"})
        took = loop.time() - began
        assert response.status == 201
        assert not upload.done()  # the import is still in its pause
        assert took < 1.5, f"the create waited {took:.2f} s for the import"
        imported = await upload
        assert imported.status == 200, await imported.text()
        assert (await imported.json())["data"]["created"] == 200


async def test_a_key_in_double_quotes_is_a_structured_field_string(
    client: TestClient, tenant: Tenant
) -> None:
    # Text that is no structured-field string is a key as it is: `""` and `"a\b"` are keys too.
    for key in ('""', '"a\\b"'):
        first, body = await send(client, tenant, "POST", "/v1/assets", {"name": key}, Idempotency_Key=key)
        again, replay = await send(client, tenant, "POST", "/v1/assets", {"name": key}, Idempotency_Key=key)
        assert first.status == again.status == 201 and replay == body, key
    response = await client.post(
        "/v1/assets", json={"name": "k"}, headers={**tenant.auth(), "Idempotency-Key": '"' + "x" * 254 + '"'}
    )
    assert response.status == 400  # 256 characters in all


async def test_a_keyed_create_and_a_delete_of_its_company_take_turns_without_a_deadlock(
    client: TestClient, make_tenant: TenantFactory, pool: asyncpg.Pool
) -> None:
    tenant = await make_tenant()
    response, _ = await send(client, tenant, "POST", f"{V2}/company/", {"name": "second"})
    assert response.status == 201
    before = await pool.fetchval(DEADLOCKS)
    async with row_trigger(pool, "assets", "INSERT", f"NEW.org_id = '{tenant.org_id}'", SLOW):
        create = asyncio.create_task(
            send(client, tenant, "POST", "/v1/assets", {"name": "x"}, Idempotency_Key="turns")
        )
        await asyncio.sleep(0.3)  # the create is in its insert, its tag taken
        deleted, _ = await send(client, tenant, "DELETE", f"{V2}/company/1/")
        made, body = await create
    # One after the other: the company goes, and the create that named it is a clean 409.
    assert deleted.status == 204
    assert made.status == 409, body
    assert await pool.fetchval(DEADLOCKS) == before


async def test_a_keyed_change_of_a_company_and_its_delete_take_turns_without_a_deadlock(
    client: TestClient, make_tenant: TenantFactory, pool: asyncpg.Pool
) -> None:
    tenant = await make_tenant()
    _, second = await send(client, tenant, "POST", f"{V2}/company/", {"name": "second"})
    path = f"{V2}/company/{second['id']}/"
    before = await pool.fetchval(DEADLOCKS)
    # The change holds the company's row a second before it keeps its key's answer.
    async with row_trigger(pool, "companies", "UPDATE", f"NEW.org_id = '{tenant.org_id}'", SLOW):
        change = asyncio.create_task(
            send(client, tenant, "PATCH", path, {"name": "renamed"}, Idempotency_Key="co")
        )
        await asyncio.sleep(0.3)
        deleted, _ = await send(client, tenant, "DELETE", path)
        changed, body = await change
    assert changed.status == 200 and body["name"] == "renamed"
    assert deleted.status == 204
    assert await pool.fetchval(DEADLOCKS) == before
