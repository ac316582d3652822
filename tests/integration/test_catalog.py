"""The v1 catalog and people: /v1/asset-types, /v1/manufacturers, /v1/models and /v1/users."""

import io
import json
import uuid
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from tests.conftest import Tenant, TenantFactory

RESOURCES = ["/v1/asset-types", "/v1/manufacturers", "/v1/models", "/v1/users"]
NOUNS = {
    "/v1/asset-types": "Asset type",
    "/v1/manufacturers": "Manufacturer",
    "/v1/models": "Model",
    "/v1/users": "User",
}
COMMON_FIELDS = {"id", "name", "created_at", "updated_at"}
FIELDS = {
    "/v1/asset-types": COMMON_FIELDS | {"code", "kind", "subcategory"},
    "/v1/manufacturers": COMMON_FIELDS,
    "/v1/models": COMMON_FIELDS | {"manufacturer_id", "manufacturer_name", "asset_type_id"},
    "/v1/users": COMMON_FIELDS | {"email", "phone"},
}


def _unique(stem: str) -> str:
    return f"{stem} {uuid.uuid4().hex[:8]}"


def _code() -> str:
    return "T" + uuid.uuid4().hex[:8].upper()


async def _ok(response: ClientResponse, status: int = 200) -> Any:
    body = await response.json()
    assert response.status == status, body
    return body


async def _problem(response: ClientResponse, status: int, code: str) -> dict[str, Any]:
    body = await response.json(content_type=None)
    assert response.status == status, body
    assert response.content_type == "application/problem+json"
    assert body["status"] == status
    assert body["code"] == code
    assert body["error"] == body["detail"]
    assert body["instance"] == response.url.path
    assert body["request_id"] == response.headers["X-Request-ID"]
    return dict(body)


def _fields_at_fault(problem: dict[str, Any]) -> set[str]:
    return {e["field"] for e in problem.get("errors", [])}


async def create(client: TestClient, tenant: Tenant, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=tenant.auth())
    return dict((await _ok(response, 201))["data"])


async def manufacturer(client: TestClient, tenant: Tenant) -> dict[str, Any]:
    return await create(client, tenant, "/v1/manufacturers", {"name": _unique("Dell")})


async def asset_type(client: TestClient, tenant: Tenant, kind: str = "physical") -> dict[str, Any]:
    return await create(
        client, tenant, "/v1/asset-types", {"name": _unique("Laptop"), "code": _code(), "kind": kind}
    )


async def valid_body(client: TestClient, tenant: Tenant, path: str) -> dict[str, Any]:
    """A valid create body for the resource, making what it refers to."""
    if path == "/v1/asset-types":
        return {"name": _unique("Laptop"), "code": _code(), "kind": "physical"}
    if path == "/v1/manufacturers":
        return {"name": _unique("Lenovo")}
    if path == "/v1/models":
        return {"name": _unique("XPS 15"), "manufacturer_id": (await manufacturer(client, tenant))["id"]}
    return {"name": _unique("Alice"), "email": "alice@example.com", "phone": "+44 20 7946 0000"}


async def total(client: TestClient, tenant: Tenant, path: str) -> int:
    body = await _ok(await client.get(path, headers=tenant.auth()))
    return int(body["meta"]["total"])


@pytest.mark.parametrize("path", RESOURCES)
async def test_create_get_list_patch_delete(client: TestClient, tenant: Tenant, path: str) -> None:
    body = await valid_body(client, tenant, path)
    response = await client.post(path, json=body, headers=tenant.auth())
    assert response.status == 201
    assert response.content_type == "application/json"
    created = (await response.json())["data"]
    assert set(created) == FIELDS[path]
    assert isinstance(created["id"], str) and created["id"]
    for key, value in body.items():
        assert created[key] == value, key

    got = await _ok(await client.get(f"{path}/{created['id']}", headers=tenant.auth()))
    assert got == {"data": created}

    listed = await _ok(await client.get(path, headers=tenant.auth()))
    assert set(listed) == {"data", "meta"}
    assert [e["id"] for e in listed["data"]] == [created["id"]]
    assert listed["data"][0] == created
    assert listed["meta"] == {
        "total": 1,
        "page": 1,
        "limit": 20,
        "total_pages": 1,
        "total_is_estimate": False,
    }

    new_name = _unique("Renamed")
    patched = await _ok(
        await client.patch(f"{path}/{created['id']}", json={"name": new_name}, headers=tenant.auth())
    )
    assert patched["data"]["name"] == new_name
    assert patched["data"]["updated_at"] >= created["updated_at"]
    for key in FIELDS[path] - {"name", "updated_at"}:
        assert patched["data"][key] == created[key], key
    again = await _ok(await client.get(f"{path}/{created['id']}", headers=tenant.auth()))
    assert again == patched

    deleted = await _ok(await client.delete(f"{path}/{created['id']}", headers=tenant.auth()))
    assert deleted == {"message": f"{NOUNS[path]} deleted."}
    await _problem(await client.get(f"{path}/{created['id']}", headers=tenant.auth()), 404, "NOT_FOUND")
    await _problem(await client.delete(f"{path}/{created['id']}", headers=tenant.auth()), 404, "NOT_FOUND")
    assert await total(client, tenant, path) == 0


@pytest.mark.parametrize("path", RESOURCES)
async def test_name_is_trimmed_and_patch_changes_only_what_is_sent(
    client: TestClient, tenant: Tenant, path: str
) -> None:
    body = await valid_body(client, tenant, path)
    body["name"] = "  Padded name  "
    created = await create(client, tenant, path, body)
    assert created["name"] == "Padded name"
    patched = await _ok(await client.patch(f"{path}/{created['id']}", json={}, headers=tenant.auth()))
    for key in FIELDS[path] - {"updated_at"}:
        assert patched["data"][key] == created[key], key


@pytest.mark.parametrize("path", RESOURCES)
async def test_list_pages(client: TestClient, tenant: Tenant, path: str) -> None:
    ids = set()
    for _ in range(3):
        ids.add((await create(client, tenant, path, await valid_body(client, tenant, path)))["id"])
    first = await _ok(await client.get(path, params={"limit": "2"}, headers=tenant.auth()))
    assert len(first["data"]) == 2
    assert first["meta"]["total"] == 3
    assert first["meta"]["total_pages"] == 2
    assert first["meta"]["limit"] == 2
    second = await _ok(await client.get(path, params={"limit": "2", "page": "2"}, headers=tenant.auth()))
    assert len(second["data"]) == 1
    assert second["meta"]["page"] == 2
    assert {e["id"] for e in first["data"] + second["data"]} == ids
    past = await _ok(await client.get(path, params={"limit": "2", "page": "5"}, headers=tenant.auth()))
    assert past["data"] == []
    assert past["meta"]["total"] == 3
    assert past["meta"]["page"] == 5


@pytest.mark.parametrize("path", RESOURCES)
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"page": "0"}, "page"),
        ({"page": "abc"}, "page"),
        # Digits only: pydantic alone would read these as 10, 1 and 2.
        ({"page": "1_0"}, "page"),
        ({"page": "+1"}, "page"),
        ({"limit": "2.0"}, "limit"),
        ({"sort": "name"}, "sort"),
    ],
)
async def test_bad_list_parameters_are_400(
    client: TestClient, tenant: Tenant, path: str, params: dict[str, str], field: str
) -> None:
    problem = await _problem(
        await client.get(path, params=params, headers=tenant.auth()), 400, "VALIDATION_ERROR"
    )
    assert field in _fields_at_fault(problem)


@pytest.mark.parametrize("path", RESOURCES)
async def test_repeated_list_parameter_is_400(client: TestClient, tenant: Tenant, path: str) -> None:
    problem = await _problem(
        await client.get(f"{path}?limit=2&limit=3", headers=tenant.auth()), 400, "VALIDATION_ERROR"
    )
    assert "limit" in _fields_at_fault(problem)


@pytest.mark.parametrize("path", RESOURCES)
async def test_missing_name_is_400_and_creates_nothing(client: TestClient, tenant: Tenant, path: str) -> None:
    body = await valid_body(client, tenant, path)
    del body["name"]
    problem = await _problem(
        await client.post(path, json=body, headers=tenant.auth()), 400, "VALIDATION_ERROR"
    )
    assert _fields_at_fault(problem) == {"name"}
    assert problem["type"] == "https://assetflow.dev/problems/validation-error"
    assert await total(client, tenant, path) == 0


@pytest.mark.parametrize("path", RESOURCES)
@pytest.mark.parametrize("name", ["", "   ", None, 42, "x" * 256])
async def test_bad_name_is_400(client: TestClient, tenant: Tenant, path: str, name: Any) -> None:
    body = await valid_body(client, tenant, path)
    body["name"] = name
    problem = await _problem(
        await client.post(path, json=body, headers=tenant.auth()), 400, "VALIDATION_ERROR"
    )
    assert "name" in _fields_at_fault(problem)
    assert await total(client, tenant, path) == 0


@pytest.mark.parametrize("path", RESOURCES)
async def test_unknown_field_is_400_on_create_and_patch(
    client: TestClient, tenant: Tenant, path: str
) -> None:
    body = await valid_body(client, tenant, path)
    problem = await _problem(
        await client.post(path, json={**body, "colour": "red"}, headers=tenant.auth()),
        400,
        "VALIDATION_ERROR",
    )
    assert _fields_at_fault(problem) == {"colour"}
    assert await total(client, tenant, path) == 0

    created = await create(client, tenant, path, body)
    problem = await _problem(
        await client.patch(
            f"{path}/{created['id']}", json={"name": "New", "colour": "red"}, headers=tenant.auth()
        ),
        400,
        "VALIDATION_ERROR",
    )
    assert _fields_at_fault(problem) == {"colour"}
    after = await _ok(await client.get(f"{path}/{created['id']}", headers=tenant.auth()))
    assert after["data"] == created


@pytest.mark.parametrize("path", RESOURCES)
async def test_patch_name_to_null_is_400(client: TestClient, tenant: Tenant, path: str) -> None:
    created = await create(client, tenant, path, await valid_body(client, tenant, path))
    problem = await _problem(
        await client.patch(f"{path}/{created['id']}", json={"name": None}, headers=tenant.auth()),
        400,
        "VALIDATION_ERROR",
    )
    assert _fields_at_fault(problem) == {"name"}
    after = await _ok(await client.get(f"{path}/{created['id']}", headers=tenant.auth()))
    assert after["data"] == created


@pytest.mark.parametrize("path", RESOURCES)
@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[]", b'"a string"', b"", b"null"],
)
async def test_malformed_bodies_are_400(client: TestClient, tenant: Tenant, path: str, raw: bytes) -> None:
    headers = {**tenant.auth(), "Content-Type": "application/json"}
    await _problem(await client.post(path, data=raw, headers=headers), 400, "VALIDATION_ERROR")
    assert await total(client, tenant, path) == 0


@pytest.mark.parametrize("path", RESOURCES)
async def test_non_json_body_is_415(client: TestClient, tenant: Tenant, path: str) -> None:
    headers = {**tenant.auth(), "Content-Type": "text/plain"}
    await _problem(
        await client.post(path, data=b'{"name": "x"}', headers=headers), 415, "UNSUPPORTED_MEDIA_TYPE"
    )
    assert await total(client, tenant, path) == 0


@pytest.mark.parametrize("path", RESOURCES)
@pytest.mark.parametrize("unknown", [str(uuid.uuid4()), "not-a-uuid", "123"])
async def test_unknown_ids_are_404(client: TestClient, tenant: Tenant, path: str, unknown: str) -> None:
    url = f"{path}/{unknown}"
    for response in (
        await client.get(url, headers=tenant.auth()),
        await client.patch(url, json={"name": "Whatever"}, headers=tenant.auth()),
        await client.delete(url, headers=tenant.auth()),
    ):
        problem = await _problem(response, 404, "NOT_FOUND")
        assert problem["type"] == "https://assetflow.dev/problems/not-found"


@pytest.mark.parametrize("path", RESOURCES)
async def test_another_organisations_entry_is_404_and_untouched(
    client: TestClient, make_tenant: TenantFactory, path: str
) -> None:
    owner, other = await make_tenant(), await make_tenant()
    created = await create(client, owner, path, await valid_body(client, owner, path))
    url = f"{path}/{created['id']}"
    await _problem(await client.get(url, headers=other.auth()), 404, "NOT_FOUND")
    await _problem(await client.patch(url, json={"name": "Stolen"}, headers=other.auth()), 404, "NOT_FOUND")
    await _problem(await client.delete(url, headers=other.auth()), 404, "NOT_FOUND")
    listed = await _ok(await client.get(path, headers=other.auth()))
    assert created["id"] not in {e["id"] for e in listed["data"]}
    after = await _ok(await client.get(url, headers=owner.auth()))
    assert after["data"] == created


# Asset types


@pytest.mark.parametrize("kind", ["physical", "logical"])
async def test_asset_type_kinds(client: TestClient, tenant: Tenant, kind: str) -> None:
    created = await asset_type(client, tenant, kind)
    assert created["kind"] == kind
    other = "logical" if kind == "physical" else "physical"
    patched = await _ok(
        await client.patch(f"/v1/asset-types/{created['id']}", json={"kind": other}, headers=tenant.auth())
    )
    assert patched["data"]["kind"] == other


@pytest.mark.parametrize("kind", ["virtual", "PHYSICAL", "", None, 1])
async def test_asset_type_bad_kind_is_400(client: TestClient, tenant: Tenant, kind: Any) -> None:
    body = {"name": "Laptop", "code": _code(), "kind": kind}
    problem = await _problem(
        await client.post("/v1/asset-types", json=body, headers=tenant.auth()), 400, "VALIDATION_ERROR"
    )
    assert _fields_at_fault(problem) == {"kind"}
    assert await total(client, tenant, "/v1/asset-types") == 0


async def test_asset_type_missing_kind_or_code_is_400(client: TestClient, tenant: Tenant) -> None:
    problem = await _problem(
        await client.post("/v1/asset-types", json={"name": "Laptop"}, headers=tenant.auth()),
        400,
        "VALIDATION_ERROR",
    )
    assert _fields_at_fault(problem) == {"code", "kind"}
    assert await total(client, tenant, "/v1/asset-types") == 0


async def test_asset_type_patch_bad_kind_changes_nothing(client: TestClient, tenant: Tenant) -> None:
    created = await asset_type(client, tenant)
    problem = await _problem(
        await client.patch(
            f"/v1/asset-types/{created['id']}", json={"name": "New", "kind": "virtual"}, headers=tenant.auth()
        ),
        400,
        "VALIDATION_ERROR",
    )
    assert _fields_at_fault(problem) == {"kind"}
    after = await _ok(await client.get(f"/v1/asset-types/{created['id']}", headers=tenant.auth()))
    assert after["data"] == created


@pytest.mark.parametrize("code", ["lap", "LAP TOP", "LAP!", "", "-LAP", "A" * 17])
async def test_asset_type_bad_code_is_400(client: TestClient, tenant: Tenant, code: str) -> None:
    body = {"name": "Laptop", "code": code, "kind": "physical"}
    problem = await _problem(
        await client.post("/v1/asset-types", json=body, headers=tenant.auth()), 400, "VALIDATION_ERROR"
    )
    assert _fields_at_fault(problem) == {"code"}


@pytest.mark.parametrize("code", ["LAP", "LAP_2", "SRV-1", "9"])
async def test_asset_type_good_codes(client: TestClient, tenant: Tenant, code: str) -> None:
    created = await create(
        client, tenant, "/v1/asset-types", {"name": "Laptop", "code": code, "kind": "physical"}
    )
    assert created["code"] == code


async def test_asset_type_code_is_unique_within_the_organisation(
    client: TestClient, make_tenant: TenantFactory
) -> None:
    one, two = await make_tenant(), await make_tenant()
    first = await create(
        client, one, "/v1/asset-types", {"name": "Laptop", "code": "LAP", "kind": "physical"}
    )
    await _problem(
        await client.post(
            "/v1/asset-types", json={"name": "Other", "code": "LAP", "kind": "logical"}, headers=one.auth()
        ),
        409,
        "CONFLICT",
    )
    assert await total(client, one, "/v1/asset-types") == 1
    # Another organisation may use the same code.
    await create(client, two, "/v1/asset-types", {"name": "Laptop", "code": "LAP", "kind": "physical"})
    # A patch to a taken code is a conflict too, and changes nothing.
    second = await create(
        client, one, "/v1/asset-types", {"name": "Server", "code": "SRV", "kind": "physical"}
    )
    await _problem(
        await client.patch(
            f"/v1/asset-types/{second['id']}", json={"name": "X", "code": "LAP"}, headers=one.auth()
        ),
        409,
        "CONFLICT",
    )
    after = await _ok(await client.get(f"/v1/asset-types/{second['id']}", headers=one.auth()))
    assert after["data"] == second
    unchanged = await _ok(await client.get(f"/v1/asset-types/{first['id']}", headers=one.auth()))
    assert unchanged["data"] == first


# Users


@pytest.mark.parametrize("email", ["not-an-email", "a@", "@example.com", "a b@example.com", 5])
async def test_user_bad_email_is_400(client: TestClient, tenant: Tenant, email: Any) -> None:
    problem = await _problem(
        await client.post("/v1/users", json={"name": "Alice", "email": email}, headers=tenant.auth()),
        400,
        "VALIDATION_ERROR",
    )
    assert _fields_at_fault(problem) == {"email"}
    assert await total(client, tenant, "/v1/users") == 0


async def test_user_patch_bad_email_changes_nothing(client: TestClient, tenant: Tenant) -> None:
    created = await create(client, tenant, "/v1/users", {"name": "Alice", "email": "alice@example.com"})
    await _problem(
        await client.patch(
            f"/v1/users/{created['id']}", json={"name": "Bob", "email": "nope"}, headers=tenant.auth()
        ),
        400,
        "VALIDATION_ERROR",
    )
    after = await _ok(await client.get(f"/v1/users/{created['id']}", headers=tenant.auth()))
    assert after["data"] == created


async def test_user_optional_fields_and_clearing_them(client: TestClient, tenant: Tenant) -> None:
    bare = await create(client, tenant, "/v1/users", {"name": "Carol"})
    assert bare["email"] is None and bare["phone"] is None
    full = await create(
        client, tenant, "/v1/users", {"name": "Dave", "email": "dave@example.com", "phone": "555-0100"}
    )
    cleared = await _ok(
        await client.patch(
            f"/v1/users/{full['id']}", json={"email": None, "phone": None}, headers=tenant.auth()
        )
    )
    assert cleared["data"]["email"] is None
    assert cleared["data"]["phone"] is None
    assert cleared["data"]["name"] == "Dave"


async def test_user_phone_too_long_is_400(client: TestClient, tenant: Tenant) -> None:
    problem = await _problem(
        await client.post("/v1/users", json={"name": "Eve", "phone": "1" * 65}, headers=tenant.auth()),
        400,
        "VALIDATION_ERROR",
    )
    assert _fields_at_fault(problem) == {"phone"}


# Models


async def test_model_shows_its_manufacturer_and_type(client: TestClient, tenant: Tenant) -> None:
    maker = await manufacturer(client, tenant)
    kind = await asset_type(client, tenant)
    model = await create(
        client,
        tenant,
        "/v1/models",
        {"name": "Latitude 7440", "manufacturer_id": maker["id"], "asset_type_id": kind["id"]},
    )
    assert model["manufacturer_id"] == maker["id"]
    assert model["manufacturer_name"] == maker["name"]
    assert model["asset_type_id"] == kind["id"]
    # Renaming the manufacturer shows in the model.
    await _ok(
        await client.patch(
            f"/v1/manufacturers/{maker['id']}", json={"name": "Dell Inc."}, headers=tenant.auth()
        )
    )
    got = await _ok(await client.get(f"/v1/models/{model['id']}", headers=tenant.auth()))
    assert got["data"]["manufacturer_name"] == "Dell Inc."
    # Moving the model to another manufacturer, and clearing its type.
    other = await manufacturer(client, tenant)
    moved = await _ok(
        await client.patch(
            f"/v1/models/{model['id']}",
            json={"manufacturer_id": other["id"], "asset_type_id": None},
            headers=tenant.auth(),
        )
    )
    assert moved["data"]["manufacturer_id"] == other["id"]
    assert moved["data"]["manufacturer_name"] == other["name"]
    assert moved["data"]["asset_type_id"] is None


async def test_model_without_manufacturer_is_400(client: TestClient, tenant: Tenant) -> None:
    problem = await _problem(
        await client.post("/v1/models", json={"name": "Orphan"}, headers=tenant.auth()),
        400,
        "VALIDATION_ERROR",
    )
    assert _fields_at_fault(problem) == {"manufacturer_id"}
    assert await total(client, tenant, "/v1/models") == 0


@pytest.mark.parametrize("field", ["manufacturer_id", "asset_type_id"])
async def test_model_references_of_another_organisation_are_400(
    client: TestClient, make_tenant: TenantFactory, field: str
) -> None:
    mine, theirs = await make_tenant(), await make_tenant()
    own_maker = await manufacturer(client, mine)
    foreign = await (manufacturer if field == "manufacturer_id" else asset_type)(client, theirs)
    body = {"name": "Model", "manufacturer_id": own_maker["id"], field: foreign["id"]}
    problem = await _problem(
        await client.post("/v1/models", json=body, headers=mine.auth()), 400, "VALIDATION_ERROR"
    )
    assert _fields_at_fault(problem) == {field}
    assert await total(client, mine, "/v1/models") == 0

    model = await create(client, mine, "/v1/models", {"name": "Model", "manufacturer_id": own_maker["id"]})
    problem = await _problem(
        await client.patch(
            f"/v1/models/{model['id']}", json={"name": "Changed", field: foreign["id"]}, headers=mine.auth()
        ),
        400,
        "VALIDATION_ERROR",
    )
    assert _fields_at_fault(problem) == {field}
    after = await _ok(await client.get(f"/v1/models/{model['id']}", headers=mine.auth()))
    assert after["data"] == model


@pytest.mark.parametrize("value", [str(uuid.uuid4()), "not-a-uuid"])
@pytest.mark.parametrize("field", ["manufacturer_id", "asset_type_id"])
async def test_model_unknown_references_are_400(
    client: TestClient, tenant: Tenant, field: str, value: str
) -> None:
    own_maker = await manufacturer(client, tenant)
    body = {"name": "Model", "manufacturer_id": own_maker["id"], field: value}
    problem = await _problem(
        await client.post("/v1/models", json=body, headers=tenant.auth()), 400, "VALIDATION_ERROR"
    )
    assert _fields_at_fault(problem) == {field}
    assert await total(client, tenant, "/v1/models") == 0


async def test_model_id_of_another_organisation_is_400_on_an_asset(
    client: TestClient, make_tenant: TenantFactory
) -> None:
    mine, theirs = await make_tenant(), await make_tenant()
    maker = await manufacturer(client, theirs)
    model = await create(client, theirs, "/v1/models", {"name": "Model", "manufacturer_id": maker["id"]})
    problem = await _problem(
        await client.post("/v1/assets", json={"name": "A", "model_id": model["id"]}, headers=mine.auth()),
        400,
        "VALIDATION_ERROR",
    )
    assert _fields_at_fault(problem) == {"model_id"}


# Deleting what is still in use


async def _asset(client: TestClient, tenant: Tenant, **fields: Any) -> dict[str, Any]:
    return await create(client, tenant, "/v1/assets", {"name": _unique("Laptop"), **fields})


async def _assert_conflict_and_kept(client: TestClient, tenant: Tenant, url: str) -> None:
    before = await _ok(await client.get(url, headers=tenant.auth()))
    problem = await _problem(await client.delete(url, headers=tenant.auth()), 409, "CONFLICT")
    assert problem["type"] == "https://assetflow.dev/problems/conflict"
    after = await _ok(await client.get(url, headers=tenant.auth()))
    assert after == before


async def test_asset_type_used_by_an_asset_cannot_be_deleted(client: TestClient, tenant: Tenant) -> None:
    kind = await asset_type(client, tenant)
    asset = await _asset(client, tenant, asset_type_id=kind["id"])
    await _assert_conflict_and_kept(client, tenant, f"/v1/asset-types/{kind['id']}")
    got = await _ok(await client.get(f"/v1/assets/{asset['id']}", headers=tenant.auth()))
    assert got["data"]["asset_type_id"] == kind["id"]
    assert got["data"]["asset_type_name"] == kind["name"]
    # Once the asset lets go of it, it can be deleted.
    await _ok(await client.delete(f"/v1/assets/{asset['id']}", headers=tenant.auth()))
    await _ok(await client.delete(f"/v1/asset-types/{kind['id']}", headers=tenant.auth()))


async def test_asset_type_used_by_a_model_cannot_be_deleted(client: TestClient, tenant: Tenant) -> None:
    kind = await asset_type(client, tenant)
    maker = await manufacturer(client, tenant)
    model = await create(
        client,
        tenant,
        "/v1/models",
        {"name": "M", "manufacturer_id": maker["id"], "asset_type_id": kind["id"]},
    )
    await _assert_conflict_and_kept(client, tenant, f"/v1/asset-types/{kind['id']}")
    await _ok(
        await client.patch(f"/v1/models/{model['id']}", json={"asset_type_id": None}, headers=tenant.auth())
    )
    await _ok(await client.delete(f"/v1/asset-types/{kind['id']}", headers=tenant.auth()))


async def test_manufacturer_used_by_a_model_cannot_be_deleted(client: TestClient, tenant: Tenant) -> None:
    maker = await manufacturer(client, tenant)
    model = await create(client, tenant, "/v1/models", {"name": "M", "manufacturer_id": maker["id"]})
    await _assert_conflict_and_kept(client, tenant, f"/v1/manufacturers/{maker['id']}")
    got = await _ok(await client.get(f"/v1/models/{model['id']}", headers=tenant.auth()))
    assert got["data"]["manufacturer_id"] == maker["id"]
    await _ok(await client.delete(f"/v1/models/{model['id']}", headers=tenant.auth()))
    await _ok(await client.delete(f"/v1/manufacturers/{maker['id']}", headers=tenant.auth()))


async def test_model_used_by_an_asset_cannot_be_deleted(client: TestClient, tenant: Tenant) -> None:
    maker = await manufacturer(client, tenant)
    model = await create(client, tenant, "/v1/models", {"name": "XPS 15", "manufacturer_id": maker["id"]})
    asset = await _asset(client, tenant, model_id=model["id"])
    assert asset["model_id"] == model["id"]
    assert asset["catalog_model_name"] == "XPS 15"
    await _assert_conflict_and_kept(client, tenant, f"/v1/models/{model['id']}")
    got = await _ok(await client.get(f"/v1/assets/{asset['id']}", headers=tenant.auth()))
    assert got["data"]["model_id"] == model["id"]
    await _ok(await client.patch(f"/v1/assets/{asset['id']}", json={"model_id": None}, headers=tenant.auth()))
    await _ok(await client.delete(f"/v1/models/{model['id']}", headers=tenant.auth()))


async def test_user_assigned_to_an_asset_cannot_be_deleted(client: TestClient, tenant: Tenant) -> None:
    user = await create(client, tenant, "/v1/users", {"name": "Alice", "email": "alice@example.com"})
    asset = await _asset(client, tenant, assigned_to=user["id"], status="in_use")
    assert asset["assigned_to"] == user["id"]
    await _assert_conflict_and_kept(client, tenant, f"/v1/users/{user['id']}")
    got = await _ok(await client.get(f"/v1/assets/{asset['id']}", headers=tenant.auth()))
    assert got["data"]["assigned_to"] == user["id"]
    await _ok(
        await client.patch(f"/v1/assets/{asset['id']}", json={"assigned_to": None}, headers=tenant.auth())
    )
    await _ok(await client.delete(f"/v1/users/{user['id']}", headers=tenant.auth()))


async def test_unused_entries_delete_fine(client: TestClient, tenant: Tenant) -> None:
    # An asset of the organisation that uses other entries does not block these.
    used_kind = await asset_type(client, tenant)
    await _asset(client, tenant, asset_type_id=used_kind["id"])
    free_kind = await asset_type(client, tenant)
    await _ok(await client.delete(f"/v1/asset-types/{free_kind['id']}", headers=tenant.auth()))
    assert await total(client, tenant, "/v1/asset-types") == 1


async def test_manufacturer_name_is_unique_within_the_organisation(
    client: TestClient, make_tenant: TenantFactory
) -> None:
    one, two = await make_tenant(), await make_tenant()
    first = await create(client, one, "/v1/manufacturers", {"name": "Apple"})
    await _problem(
        await client.post("/v1/manufacturers", json={"name": "Apple"}, headers=one.auth()), 409, "CONFLICT"
    )
    assert await total(client, one, "/v1/manufacturers") == 1
    await create(client, two, "/v1/manufacturers", {"name": "Apple"})
    second = await create(client, one, "/v1/manufacturers", {"name": "Lenovo"})
    await _problem(
        await client.patch(f"/v1/manufacturers/{second['id']}", json={"name": "Apple"}, headers=one.auth()),
        409,
        "CONFLICT",
    )
    after = await _ok(await client.get(f"/v1/manufacturers/{second['id']}", headers=one.auth()))
    assert after["data"] == second
    assert (await _ok(await client.get(f"/v1/manufacturers/{first['id']}", headers=one.auth())))[
        "data"
    ] == first


@pytest.mark.parametrize("path", RESOURCES)
async def test_json_with_a_charset_is_accepted(client: TestClient, tenant: Tenant, path: str) -> None:
    body = await valid_body(client, tenant, path)
    headers = {**tenant.auth(), "Content-Type": "application/json; charset=utf-8"}
    response = await client.post(path, data=json.dumps(body).encode(), headers=headers)
    assert response.status == 201, await response.text()
    assert await total(client, tenant, path) == 1


@pytest.mark.parametrize("path", RESOURCES)
async def test_a_body_over_the_limit_is_413(client: TestClient, tenant: Tenant, path: str) -> None:
    headers = {**tenant.auth(), "Content-Type": "application/json"}
    raw = json.dumps({"name": "x" * (2 * 1024 * 1024)}).encode()
    await _problem(await client.post(path, data=io.BytesIO(raw), headers=headers), 413, "PAYLOAD_TOO_LARGE")
    assert await total(client, tenant, path) == 0
