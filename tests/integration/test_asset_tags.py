"""Asset tags: the organisation's template and counter, and /v1/settings/asset-tag."""

import asyncio
import datetime as dt
import json
import uuid
from typing import Any

import asyncpg
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from tests.conftest import Tenant, TenantFactory

SETTINGS = "/v1/settings/asset-tag"
DEFAULT_TEMPLATE = "{PREFIX}-{YYYY}-NNNNNN"
PROBLEM_TYPE = "application/problem+json"


def year() -> int:
    return dt.date.today().year


async def new_asset(client: TestClient, tenant: Tenant, **fields: Any) -> dict[str, Any]:
    resp = await client.post("/v1/assets", json={"name": "tagged", **fields}, headers=tenant.auth())
    assert resp.status == 201, await resp.text()
    data: dict[str, Any] = (await resp.json())["data"]
    return data


async def tag_of(client: TestClient, tenant: Tenant, **fields: Any) -> str:
    tag: str = (await new_asset(client, tenant, **fields))["asset_tag"]
    return tag


async def get_template(client: TestClient, tenant: Tenant) -> str:
    resp = await client.get(SETTINGS, headers=tenant.auth())
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert set(body) == {"template"}, body
    template: str = body["template"]
    return template


async def put_template(client: TestClient, tenant: Tenant, template: Any) -> ClientResponse:
    return await client.put(SETTINGS, json={"template": template}, headers=tenant.auth())


async def set_template(client: TestClient, tenant: Tenant, template: str) -> None:
    resp = await put_template(client, tenant, template)
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {"template": template}


async def problem(resp: ClientResponse, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    text = await resp.text()
    assert resp.status == status, text
    assert resp.content_type == PROBLEM_TYPE
    body: dict[str, Any] = json.loads(text)
    for member in ("type", "title", "status", "detail", "error", "code"):
        assert member in body, (member, body)
    assert body["status"] == status
    assert body["code"] == code
    if field is not None:
        assert field in [e["field"] for e in body.get("errors", [])], body
    return body


async def new_type(client: TestClient, tenant: Tenant, code: str, kind: str = "physical") -> dict[str, Any]:
    resp = await client.post(
        "/v1/asset-types", json={"name": f"Type {code}", "code": code, "kind": kind}, headers=tenant.auth()
    )
    assert resp.status == 201, await resp.text()
    data: dict[str, Any] = (await resp.json())["data"]
    return data


# ---------------------------------------------------------------- the default template


async def test_default_template_and_first_tags(client: TestClient, make_tenant: TenantFactory) -> None:
    tenant = await make_tenant("LPC")
    assert await get_template(client, tenant) == DEFAULT_TEMPLATE
    assert await tag_of(client, tenant) == f"LPC-{year()}-000001"
    assert await tag_of(client, tenant) == f"LPC-{year()}-000002"
    assert await tag_of(client, tenant) == f"LPC-{year()}-000003"


async def test_counter_is_per_organisation(client: TestClient, make_tenant: TenantFactory) -> None:
    first = await make_tenant("LPC")
    second = await make_tenant("LPC")
    assert await tag_of(client, first) == f"LPC-{year()}-000001"
    assert await tag_of(client, first) == f"LPC-{year()}-000002"
    assert await tag_of(client, second) == f"LPC-{year()}-000001"
    third = await make_tenant("ACM")
    assert await tag_of(client, third) == f"ACM-{year()}-000001"
    assert await tag_of(client, first) == f"LPC-{year()}-000003"


async def test_tags_are_kept_after_patch_and_not_reused_after_delete(
    client: TestClient, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant("DEL")
    asset = await new_asset(client, tenant)
    resp = await client.patch(f"/v1/assets/{asset['id']}", json={"name": "renamed"}, headers=tenant.auth())
    assert (await resp.json())["data"]["asset_tag"] == asset["asset_tag"]
    resp = await client.delete(f"/v1/assets/{asset['id']}", headers=tenant.auth())
    assert resp.status == 200
    assert await tag_of(client, tenant) == f"DEL-{year()}-000002"


async def test_failed_create_takes_no_tag_that_would_be_seen(
    client: TestClient, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant("BAD")
    resp = await client.post("/v1/assets", json={"name": "x", "status": "lost"}, headers=tenant.auth())
    assert resp.status == 400
    # a body rejected by validation never reaches the counter
    assert await tag_of(client, tenant) == f"BAD-{year()}-000001"


# ---------------------------------------------------------------- templates


async def test_put_then_get_template(client: TestClient, make_tenant: TenantFactory) -> None:
    tenant = await make_tenant("ACM")
    await set_template(client, tenant, "{PREFIX}/{YY}{MM}/NNNN")
    assert await get_template(client, tenant) == "{PREFIX}/{YY}{MM}/NNNN"
    today = dt.date.today()
    assert await tag_of(client, tenant) == f"ACM/{today.year % 100:02d}{today.month:02d}/0001"


async def test_every_placeholder(client: TestClient, make_tenant: TenantFactory) -> None:
    tenant = await make_tenant("ACM")
    laptop = await new_type(client, tenant, "LAP")
    await set_template(client, tenant, "{PREFIX}-{TYPE_CODE}-{YYYY}-{YY}-{MM}-NNN")
    today = dt.date.today()
    expected = f"ACM-LAP-{today.year}-{today.year % 100:02d}-{today.month:02d}-001"
    assert await tag_of(client, tenant, asset_type_id=laptop["id"]) == expected


async def test_type_code_uses_the_asset_type_code(client: TestClient, make_tenant: TenantFactory) -> None:
    tenant = await make_tenant("ACM")
    laptop = await new_type(client, tenant, "LAP")
    licence = await new_type(client, tenant, "SW_LIC-2", "logical")
    await set_template(client, tenant, "{TYPE_CODE}-NNNN")
    assert await tag_of(client, tenant, asset_type_id=laptop["id"]) == "LAP-0001"
    assert await tag_of(client, tenant, asset_type_id=licence["id"]) == "SW_LIC-2-0002"
    # no type: GEN
    assert await tag_of(client, tenant) == "GEN-0003"


async def test_type_code_from_a_models_type(client: TestClient, make_tenant: TenantFactory) -> None:
    tenant = await make_tenant("ACM")
    server = await new_type(client, tenant, "SRV")
    resp = await client.post("/v1/manufacturers", json={"name": "Dell"}, headers=tenant.auth())
    maker = (await resp.json())["data"]
    resp = await client.post(
        "/v1/models",
        json={"manufacturer_id": maker["id"], "name": "R760", "asset_type_id": server["id"]},
        headers=tenant.auth(),
    )
    assert resp.status == 201, await resp.text()
    model = (await resp.json())["data"]
    await set_template(client, tenant, "{TYPE_CODE}-NN")
    asset = await new_asset(client, tenant, model_id=model["id"])
    assert asset["asset_type_id"] == server["id"]
    assert asset["asset_tag"] == "SRV-01"


async def test_invalid_templates_are_400_and_change_nothing(
    client: TestClient, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant("ACM")
    await set_template(client, tenant, "{PREFIX}-NNNN")
    for bad in (
        "{PREFIX}-{FOO}-NNNN",  # unknown placeholder
        "{prefix}-NNNN",  # placeholders are upper case
        "{}-NNNN",
        "{PREFIX}-{YYYY}",  # no counter
        "ABC",
        "{PREFIX}-NNN-NNN",  # two counters
        "NN{PREFIX}NN",
        "{PREFIX-NNNN",  # unbalanced
        "{PREFIX}}-NNNN",
        "{PREFIX} NNNN",  # white space
        "",
        "N" * 101,  # too long
    ):
        resp = await put_template(client, tenant, bad)
        await problem(resp, 400, "VALIDATION_ERROR", "template")
        assert await get_template(client, tenant) == "{PREFIX}-NNNN", bad
    assert await tag_of(client, tenant) == "ACM-0001"


async def test_template_body_errors(client: TestClient, make_tenant: TenantFactory) -> None:
    tenant = await make_tenant("ACM")
    headers = {**tenant.auth(), "Content-Type": "application/json"}
    for body, field in (
        ({}, "template"),
        ({"template": None}, "template"),
        ({"template": 5}, "template"),
        ({"template": "{PREFIX}-NNN", "extra": 1}, "extra"),
    ):
        resp = await client.put(SETTINGS, json=body, headers=tenant.auth())
        await problem(resp, 400, "VALIDATION_ERROR", field)
    resp = await client.put(SETTINGS, data="{not json", headers=headers)
    await problem(resp, 400, "VALIDATION_ERROR")
    resp = await client.put(SETTINGS, data="[]", headers=headers)
    await problem(resp, 400, "VALIDATION_ERROR")
    resp = await client.put(
        SETTINGS,
        data=json.dumps({"template": "X-N"}),
        headers={**tenant.auth(), "Content-Type": "text/plain"},
    )
    await problem(resp, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert await get_template(client, tenant) == DEFAULT_TEMPLATE


async def test_existing_tags_never_change(client: TestClient, make_tenant: TenantFactory) -> None:
    tenant = await make_tenant("OLD")
    before = await new_asset(client, tenant)
    await set_template(client, tenant, "FRESH-NNN")
    after = await new_asset(client, tenant)
    assert after["asset_tag"] == "FRESH-002"
    resp = await client.get(f"/v1/assets/{before['id']}", headers=tenant.auth())
    assert (await resp.json())["data"]["asset_tag"] == f"OLD-{year()}-000001"


async def test_template_is_per_organisation(client: TestClient, make_tenant: TenantFactory) -> None:
    first = await make_tenant("ONE")
    second = await make_tenant("TWO")
    await set_template(client, first, "X-{PREFIX}-NN")
    assert await get_template(client, second) == DEFAULT_TEMPLATE
    assert await tag_of(client, second) == f"TWO-{year()}-000001"
    assert await tag_of(client, first) == "X-ONE-01"


# ---------------------------------------------------------------- the counter


async def test_counter_widens_past_its_digits(client: TestClient, make_tenant: TenantFactory) -> None:
    tenant = await make_tenant("WID")
    await set_template(client, tenant, "{PREFIX}-N")
    tags = [await tag_of(client, tenant) for _ in range(11)]
    assert tags == [f"WID-{i}" for i in range(1, 12)]
    assert len({*tags}) == 11


async def test_default_counter_widens_to_seven_digits(
    client: TestClient, make_tenant: TenantFactory, pool: asyncpg.Pool
) -> None:
    tenant = await make_tenant("LPC")
    # no API sets the counter; 999,998 creates would take too long
    await pool.execute("UPDATE organisations SET tag_counter = 999998 WHERE id = $1", tenant.org_id)
    assert await tag_of(client, tenant) == f"LPC-{year()}-999999"
    assert await tag_of(client, tenant) == f"LPC-{year()}-1000000"
    assert await tag_of(client, tenant) == f"LPC-{year()}-1000001"


async def test_a_clash_after_a_template_change_takes_the_next_counter(
    client: TestClient, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant("CLA")
    await set_template(client, tenant, "A-1N")
    first = await new_asset(client, tenant)
    assert first["asset_tag"] == "A-11"
    await set_template(client, tenant, "A-N")
    tags = [await tag_of(client, tenant) for _ in range(9)]
    assert tags == [f"A-{i}" for i in range(2, 11)]
    # counter 11 would make A-11 again: the next counter is taken instead
    assert await tag_of(client, tenant) == "A-12"
    assert await tag_of(client, tenant) == "A-13"
    resp = await client.get("/v1/assets?limit=100", headers=tenant.auth())
    listed = [a["asset_tag"] for a in (await resp.json())["data"]]
    assert len(listed) == 12
    assert len(set(listed)) == 12


async def test_200_concurrent_creates_give_200_distinct_tags(
    client: TestClient, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant("CON")
    names = [f"c-{i}-{uuid.uuid4().hex[:4]}" for i in range(200)]

    async def create(name: str) -> tuple[int, dict[str, Any]]:
        resp = await client.post("/v1/assets", json={"name": name}, headers=tenant.auth())
        return resp.status, await resp.json()

    results = await asyncio.gather(*(create(n) for n in names))
    statuses = [status for status, _ in results]
    assert statuses == [201] * 200, sorted(set(statuses))
    tags = [body["data"]["asset_tag"] for _, body in results]
    assert len(set(tags)) == 200
    assert sorted(tags) == [f"CON-{year()}-{i:06d}" for i in range(1, 201)]
    resp = await client.get("/v1/assets?limit=1", headers=tenant.auth())
    assert (await resp.json())["meta"]["total"] == 200


# ---------------------------------------------------------------- scopes


async def test_put_needs_write_and_get_needs_read(client: TestClient, make_tenant: TenantFactory) -> None:
    tenant = await make_tenant("SCO")
    resp = await client.put(SETTINGS, json={"template": "X-NNN"}, headers=tenant.auth(tenant.read_token))
    await problem(resp, 403, "FORBIDDEN")
    assert "insufficient_scope" in resp.headers["WWW-Authenticate"]
    assert await get_template(client, tenant) == DEFAULT_TEMPLATE
    resp = await client.get(SETTINGS, headers=tenant.auth(tenant.write_token))
    await problem(resp, 403, "FORBIDDEN")
    resp = await client.get(SETTINGS, headers=tenant.auth(tenant.read_token))
    assert resp.status == 200
    assert await resp.json() == {"template": DEFAULT_TEMPLATE}
    resp = await client.put(SETTINGS, json={"template": "X-NNN"}, headers=tenant.auth(tenant.write_token))
    assert resp.status == 200
    assert await get_template(client, tenant) == "X-NNN"
    resp = await client.get(SETTINGS)
    await problem(resp, 401, "UNAUTHORIZED")
    resp = await client.put(SETTINGS, json={"template": "Y-NNN"})
    await problem(resp, 401, "UNAUTHORIZED")
    assert await get_template(client, tenant) == "X-NNN"


async def test_default_prefix_comes_from_the_organisation_name(
    client: TestClient, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant()  # named org-<hex>: prefix ORG
    assert await tag_of(client, tenant) == f"ORG-{year()}-000001"


async def test_longest_template_and_bare_counter(client: TestClient, make_tenant: TenantFactory) -> None:
    tenant = await make_tenant("LEN")
    longest = "X" * 99 + "N"
    await set_template(client, tenant, longest)
    assert await get_template(client, tenant) == longest
    assert await tag_of(client, tenant) == "X" * 99 + "1"
    await set_template(client, tenant, "N")
    assert await tag_of(client, tenant) == "2"


async def test_tags_survive_type_code_and_template_changes(
    client: TestClient, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant("ACM")
    laptop = await new_type(client, tenant, "LAP")
    await set_template(client, tenant, "{TYPE_CODE}-NNN")
    asset = await new_asset(client, tenant, asset_type_id=laptop["id"])
    assert asset["asset_tag"] == "LAP-001"
    resp = await client.patch(f"/v1/asset-types/{laptop['id']}", json={"code": "NB"}, headers=tenant.auth())
    assert resp.status == 200, await resp.text()
    other = await new_type(client, tenant, "DSK")
    resp = await client.patch(
        f"/v1/assets/{asset['id']}", json={"asset_type_id": other["id"]}, headers=tenant.auth()
    )
    assert resp.status == 200
    assert (await resp.json())["data"]["asset_tag"] == "LAP-001"
    assert await tag_of(client, tenant, asset_type_id=laptop["id"]) == "NB-002"
    resp = await client.get(f"/v1/assets/{asset['id']}", headers=tenant.auth())
    assert (await resp.json())["data"]["asset_tag"] == "LAP-001"


async def test_tag_is_searchable(client: TestClient, make_tenant: TenantFactory) -> None:
    tenant = await make_tenant("SRC")
    first = await new_asset(client, tenant)
    await new_asset(client, tenant)
    resp = await client.get(f"/v1/assets?q={first['asset_tag'].lower()}", headers=tenant.auth())
    body = await resp.json()
    assert [a["id"] for a in body["data"]] == [first["id"]]
