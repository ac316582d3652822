"""Clients generated from the app's own /openapi.json work: openapi-python-client builds a client of
every endpoint without a warning, and the seed documents' flows of both dialects run through it
alone (its models, its (de)serialisation, its declared error models); datamodel-code-generator
turns every component into a model named after its key.

The generated code lives in a temporary folder and is imported dynamically, so it is typed `Any`.
"""

import asyncio
import datetime as dt
import importlib
import importlib.util
import json
import os
import pkgutil
import re
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from services.api.v2.schemas import (
    CategoryRef,
    ContractRef,
    NamedRef,
    OwnerRef,
    RelatedRef,
    UsageStatus,
    UsageStatusRef,
)
from tests.conftest import Tenant, poll, served_openapi
from tests.e2e.webhook_receiver import Receiver, receiving

BIN = Path(sys.executable).parent
# Measured here (2 cores, shared with other test runs): openapi-python-client 3.5-5.5 s,
# datamodel-codegen 2.2-2.8 s, each flow under 0.5 s (the history is the worker's, in well under a
# second). The deadlines are more than three times that on a machine twice as slow.
GENERATE_TIMEOUT = 120
HISTORY_DEADLINE = 60.0
# The write models the issue found missing or twinned, and the schemas behind their new fields.
REQUEST_MODELS = (
    "AssetCreate", "AssetPatch", "AssetV2Write", "AssetV2Patch", "TemplateIn", "RelatedRef", "UsageStatusRef",
    "CustomValue",
)  # fmt: skip


async def _run(*command: str, cwd: Path) -> tuple[int, str]:
    """Run a generator (without blocking the loop that serves the app); its exit code and output."""
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "NO_COLOR": "1"},
    )
    output, _ = await asyncio.wait_for(process.communicate(), GENERATE_TIMEOUT)
    assert process.returncode is not None
    return process.returncode, output.decode("utf-8", "replace")


GENERATOR_CONFIG = """content_type_overrides:
  text/csv: application/octet-stream
  application/x-ndjson: application/octet-stream
"""


def _warned(output: str) -> list[str]:
    return [line for line in output.splitlines() if re.search(r"warn", line, re.IGNORECASE)]


@dataclass
class Generated:
    """The generated client package, imported, and the generator's output."""

    package: Any
    output: str
    document: dict[str, Any]
    base_url: str

    @property
    def models(self) -> Any:
        return importlib.import_module(f"{self.package.__name__}.models")

    def op(self, operation_id: str) -> Any:
        """The module of one operation (openapi-python-client names it after the operationId)."""
        operation_id = re.sub(r"_+", "_", operation_id)
        for module in pkgutil.walk_packages(self.package.api.__path__, f"{self.package.__name__}.api."):
            if module.name.rsplit(".", 1)[-1] == operation_id:
                return importlib.import_module(module.name)
        raise AssertionError(f"no generated module for operation {operation_id}")

    def client(self, token: str) -> Any:
        return self.package.AuthenticatedClient(
            base_url=self.base_url, token=token, raise_on_unexpected_status=True
        )


@pytest.fixture(scope="module")
async def generated(client: TestClient, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Generated]:
    """openapi-python-client over the served document, into a folder of this run's own."""
    document = await served_openapi(client)
    folder = tmp_path_factory.mktemp("generated-client")
    (folder / "openapi.json").write_text(json.dumps(document))
    name = f"assetflow_client_{uuid.uuid4().hex[:8]}"
    # openapi-python-client knows no text/csv or NDJSON body: it sends such a body as a file of
    # bytes with its own media type when told to (the README says so).
    (folder / "config.yaml").write_text(GENERATOR_CONFIG)
    code, output = await _run(
        str(BIN / "openapi-python-client"),
        "generate",
        "--path",
        "openapi.json",
        "--output-path",
        name,
        "--meta",
        "none",
        "--fail-on-warning",
        "--config",
        "config.yaml",
        cwd=folder,
    )
    assert code == 0, output
    sys.path.insert(0, str(folder))
    try:
        package = importlib.import_module(name)
        for part in ("api", "models", "types"):
            importlib.import_module(f"{name}.{part}")
        yield Generated(package, output, document, str(client.make_url("/")).rstrip("/"))
    finally:
        sys.path.remove(str(folder))
        for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
            del sys.modules[module]


@pytest.fixture
async def api(generated: Generated, tenant: Tenant) -> AsyncIterator[Any]:
    """The generated client with the tenant's read and write token."""
    async with generated.client(tenant.token) as client:
        yield client


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.content)
    return response.parsed


# --- generation -----------------------------------------------------------------------------------


@pytest.mark.timeout(GENERATE_TIMEOUT)
async def test_openapi_python_client_generates_every_endpoint_without_warnings(generated: Generated) -> None:
    assert not _warned(generated.output), generated.output
    operations = [
        op["operationId"]
        for item in generated.document["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    ]
    assert len(operations) > 100
    for operation_id in operations:
        module = generated.op(operation_id)
        assert callable(module.asyncio_detailed), operation_id
    # Every object component is a model class named after its key (unions are type aliases).
    for key, schema in generated.document["components"]["schemas"].items():
        assert schema["title"] == key
        if schema.get("type") == "object" and "properties" in schema:
            assert hasattr(generated.models, re.sub(r"\W|_", "", key)), key
    # The write models the issue found missing are there.
    for model in REQUEST_MODELS[:-1]:  # CustomValue is a union: a type alias, not a class
        assert hasattr(generated.models, model), model


@pytest.mark.timeout(GENERATE_TIMEOUT)
async def test_datamodel_code_generator_makes_a_model_of_every_component(
    client: TestClient, tmp_path: Path
) -> None:
    document = await served_openapi(client)
    (tmp_path / "openapi.json").write_text(json.dumps(document))
    code, output = await _run(
        str(BIN / "datamodel-codegen"),
        "--input",
        "openapi.json",
        "--input-file-type",
        "openapi",
        "--output-model-type",
        "pydantic_v2.BaseModel",
        # Named explicitly: without it, the tool warns that its default formatters will change.
        "--formatters",
        "builtin",
        "--output",
        "models.py",
        cwd=tmp_path,
    )
    assert code == 0, output
    assert not _warned(output), output
    name = f"assetflow_models_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, tmp_path / "models.py")
    assert spec is not None and spec.loader is not None
    models: Any = importlib.util.module_from_spec(spec)
    sys.modules[name] = models  # pydantic resolves the generated generics through it
    try:
        spec.loader.exec_module(models)
        classes = {
            key: getattr(models, re.sub(r"\W|_", "", key), None) for key in document["components"]["schemas"]
        }
        assert not [key for key, found in classes.items() if found is None]
        for key in (*REQUEST_MODELS, "AssetV1", "AssetV2", "ProblemDocument", "Detail", "FieldMessages"):
            assert classes[key] is not None, key
        # The seed documents' bodies fit the models, nested related objects and custom fields included.
        created = models.AssetCreate.model_validate(
            {"name": "Dell XPS 15", "status": "in_stock", "purchase_price": 1899.00,
             "custom_fields": {"ram_gb": 32, "ports": ["usb-c", {"hdmi": 2}]}}
        )  # fmt: skip
        assert created.model_dump(mode="json", exclude_unset=True)["custom_fields"]["ram_gb"] == 32
        written = models.AssetV2Write.model_validate(
            {"name": "Dell XPS 15", "category": {"id": 3, "name": "Laptop", "subcategory": None},
             "asset_owner": 7, "usage_status": {"id": 3, "name": "In Use"}, "original_cost": 1899.00}
        )  # fmt: skip
        assert written.category.id == 3 and written.asset_owner == 7 and written.usage_status.id == 3
    finally:
        del sys.modules[name]


# --- v1 -------------------------------------------------------------------------------------------


@pytest.mark.timeout(GENERATE_TIMEOUT + HISTORY_DEADLINE)
async def test_the_v1_seed_flow_through_the_generated_client(
    generated: Generated, api: Any, worker: asyncio.Task[None]
) -> None:
    m = generated.models
    kind = _ok(await generated.op("create_a_asset_type_v1_asset_types").asyncio_detailed(
        client=api, body=m.AssetTypeCreate(name="Laptop", code="LAP", kind=m.AssetKind.PHYSICAL)
    ), 201).data  # fmt: skip
    maker = _ok(await generated.op("create_a_manufacturer_v1_manufacturers").asyncio_detailed(
        client=api, body=m.ManufacturerCreate(name="Dell")
    ), 201).data  # fmt: skip
    model = _ok(await generated.op("create_a_model_v1_models").asyncio_detailed(
        client=api, body=m.ModelCreate(manufacturer_id=maker.id, name="XPS 15", asset_type_id=kind.id)
    ), 201).data  # fmt: skip
    form = _ok(await generated.op("create_a_custom_form_v1_custom_forms").asyncio_detailed(
        client=api, body=m.CustomFormCreate(name="Laptop specs", fields=[
            m.FormFieldIn(name="ram_gb", type_=m.FieldType.INTEGER),
            m.FormFieldIn(name="cpu", type_=m.FieldType.STRING),
        ])
    ), 201).data  # fmt: skip
    user = _ok(await generated.op("create_a_user_v1_users").asyncio_detailed(
        client=api, body=m.UserCreate(name="Ada Lovelace", email="ada@example.com")
    ), 201).data  # fmt: skip
    assert kind.kind == m.AssetKind.PHYSICAL and [f.name for f in form.fields] == ["ram_gb", "cpu"]

    # POST /v1/assets, the seed's body with custom fields of the form.
    body = m.AssetCreate(
        name="Dell XPS 15",
        asset_type_id=kind.id,
        status=m.AssetStatus.IN_STOCK,
        model_id=model.id,
        serial_number="5CG123456",
        purchase_date=dt.date(2024, 6, 1),
        purchase_price=1899.00,
        notes="Purchased for new hire",
        custom_form_id=form.id,
        custom_fields=m.AssetCreateCustomFields.from_dict({"ram_gb": 32, "cpu": "i7-13700H"}),
    )
    asset = _ok(
        await generated.op("create_an_asset_v1_assets").asyncio_detailed(client=api, body=body), 201
    ).data
    assert isinstance(asset, m.AssetV1)
    assert asset.name == "Dell XPS 15" and asset.status == m.AssetStatus.IN_STOCK
    assert (asset.manufacturer, asset.model) == ("Dell", "XPS 15")
    assert (asset.catalog_manufacturer_name, asset.catalog_model_name) == ("Dell", "XPS 15")
    assert (asset.asset_type_name, asset.asset_kind) == ("Laptop", m.AssetKind.PHYSICAL)
    assert asset.purchase_date == dt.date(2024, 6, 1) and asset.purchase_price == 1899.00
    assert asset.custom_fields.additional_properties == {"ram_gb": 32, "cpu": "i7-13700H"}
    assert asset.asset_tag and isinstance(asset.created_at, dt.datetime)

    # GET /v1/assets with the seed's filters.
    listing = generated.op("list_assets_v1_assets")
    page = _ok(await listing.asyncio_detailed(
        client=api, kind=m.AssetKind.PHYSICAL, status=m.AssetStatus.IN_STOCK, q="xps", limit=10
    ))  # fmt: skip
    assert [a.id for a in page.data] == [asset.id]
    assert (page.meta.total, page.meta.page, page.meta.limit, page.meta.total_pages) == (1, 1, 10, 1)
    none = _ok(await listing.asyncio_detailed(client=api, kind=m.AssetKind.LOGICAL, q="xps"))
    assert none.data == [] and none.meta.total == 0

    # PATCH /v1/assets/{id}: the seed's change, and a price.
    patch = m.AssetPatch(status=m.AssetStatus.IN_USE, assigned_to=user.id, purchase_price="1799.50")
    changed = _ok(await generated.op("change_an_asset_v1_assets_id").asyncio_detailed(
        asset.id, client=api, body=patch
    )).data  # fmt: skip
    assert changed.status == m.AssetStatus.IN_USE and changed.assigned_to == user.id
    shown = _ok(await generated.op("get_an_asset_v1_assets_id").asyncio_detailed(asset.id, client=api)).data
    derived = {"warranty_status", "support_status", "book_value"}  # the worker's, at its own pace
    assert {k: v for k, v in shown.to_dict().items() if k not in derived} == {
        k: v for k, v in changed.to_dict().items() if k not in derived
    }
    assert shown.purchase_price == 1799.50 and shown.custom_fields["ram_gb"] == 32

    # GET /v1/assets/{id}/history, filled by the worker.
    history = generated.op("an_asset_s_history_v1_assets_id_history")

    async def both_entries() -> Any:
        entries = _ok(await history.asyncio_detailed(asset.id, client=api)).data
        return entries if len(entries) == 2 else None

    updated, created = await poll(both_entries, timeout=HISTORY_DEADLINE, interval=0.2)
    assert (created.action.value, updated.action.value) == ("created", "updated")
    assert (created.version, updated.version) == (1, 2)
    assert created.asset_id == updated.asset_id == asset.id
    changes = updated.changes.additional_properties
    assert (changes["status"].from_, changes["status"].to) == ("in_stock", "in_use")
    assert (changes["assigned_to"].from_, changes["assigned_to"].to) == (None, user.id)

    deleted = _ok(await generated.op("delete_an_asset_v1_assets_id").asyncio_detailed(asset.id, client=api))
    assert deleted.message == "Asset deleted."


@pytest.mark.timeout(GENERATE_TIMEOUT)
async def test_an_import_and_bulk_changes_through_the_generated_client(
    generated: Generated, api: Any
) -> None:
    m = generated.models
    upload = generated.op("import_assets_v1_assets_import")
    csv_file = importlib.import_module(f"{generated.package.__name__}.types").File
    # The async client sends the payload as it is: bytes (httpx's AsyncClient takes no sync stream).
    rows = b"name,asset_tag,purchase_price\nGen one,GEN-1,10.00\nGen two,GEN-2,\n"

    checked = _ok(await upload.asyncio_detailed(client=api, body=csv_file(rows), dry_run=True))
    assert (checked.data.created, checked.data.dry_run) == (2, True)
    done = _ok(await upload.asyncio_detailed(client=api, body=csv_file(rows)))
    assert (done.data.rows, done.data.created, done.data.error_count) == (2, 2, 0)
    again = await upload.asyncio_detailed(client=api, body=csv_file(rows))
    assert again.status_code == 422
    assert json.loads(again.content)["errors"][0] == {
        "row": 2,
        "field": "asset_tag",
        "message": json.loads(again.content)["errors"][0]["message"],
    }

    listed = _ok(await generated.op("list_assets_v1_assets").asyncio_detailed(client=api, q="Gen "))
    ids = sorted(a.id for a in listed.data)
    changed = _ok(await generated.op("change_many_assets_v1_assets").asyncio_detailed(
        client=api, body=m.AssetBulkPatch(data=[m.AssetBulkPatchItem(id=i, notes="bulk") for i in ids])
    ))  # fmt: skip
    assert [a.notes for a in changed.data] == ["bulk", "bulk"]
    deleted = _ok(await generated.op("delete_many_assets_v1_assets").asyncio_detailed(
        client=api, body=m.AssetBulkDelete(ids=ids)
    ))  # fmt: skip
    assert deleted.deleted == ids


@pytest.mark.timeout(GENERATE_TIMEOUT)
async def test_v1_errors_parse_into_problem_documents(generated: Generated, api: Any, tenant: Tenant) -> None:
    m = generated.models
    create = generated.op("create_an_asset_v1_assets")

    bad = await create.asyncio_detailed(client=api, body=m.AssetCreate(name="x", purchase_price="12.345"))
    problem = _ok(bad, 400)
    assert isinstance(problem, m.ProblemDocument)
    assert (problem.status, problem.code, problem.instance) == (400, "VALIDATION_ERROR", "/v1/assets")
    assert [e.field for e in problem.errors] == ["purchase_price"]

    # Numbers of custom fields are checked at any depth, though the schema spells out one level.
    deep = m.AssetCreateCustomFields.from_dict({"specs": {"disks": [1, 2**64]}})
    problem = _ok(
        await create.asyncio_detailed(client=api, body=m.AssetCreate(name="x", custom_fields=deep)), 400
    )
    assert [e.field for e in problem.errors] == ["custom_fields"]
    assert "specs.disks[1]" in problem.errors[0].message

    async with generated.client(tenant.read_token) as reader:
        forbidden = _ok(await create.asyncio_detailed(client=reader, body=m.AssetCreate(name="x")), 403)
    assert isinstance(forbidden, m.ProblemDocument)
    assert (forbidden.status, forbidden.code) == (403, "FORBIDDEN")

    missing = _ok(await generated.op("get_an_asset_v1_assets_id").asyncio_detailed("nope", client=api), 404)
    assert isinstance(missing, m.ProblemDocument)
    assert (missing.status, missing.code, missing.errors) == (404, "NOT_FOUND", generated.package.types.UNSET)
    page = _ok(await generated.op("list_assets_v1_assets").asyncio_detailed(client=api))
    assert page.data == []  # none of the bad writes wrote anything


@pytest.mark.timeout(GENERATE_TIMEOUT)
async def test_etags_if_match_and_idempotency_keys_through_the_generated_client(
    generated: Generated, api: Any, worker: asyncio.Task[None]
) -> None:
    m = generated.models
    create = generated.op("create_an_asset_v1_assets")
    first = await create.asyncio_detailed(
        client=api, body=m.AssetCreate(name="keyed"), idempotency_key="gen-1"
    )
    again = await create.asyncio_detailed(
        client=api, body=m.AssetCreate(name="keyed"), idempotency_key="gen-1"
    )
    asset = _ok(first, 201).data
    assert _ok(again, 201).data.id == asset.id and again.headers["Idempotent-Replayed"] == "true"
    assert asset.version == 1 and first.headers["Location"] == f"/v1/assets/{asset.id}"
    reused = await create.asyncio_detailed(
        client=api, body=m.AssetCreate(name="other"), idempotency_key="gen-1"
    )
    assert (_ok(reused, 422).code, reused.status_code) == ("IDEMPOTENCY_KEY_REUSED", 422)

    get = generated.op("get_an_asset_v1_assets_id")

    async def derived() -> Any:  # what the worker derives is part of the answer, and of its ETag
        read = await get.asyncio_detailed(asset.id, client=api)
        return read if _ok(read).data.warranty_status else None

    read = await poll(derived)
    etag = read.headers["ETag"]
    assert etag.startswith(f'"{asset.id}.1.')
    unchanged = await get.asyncio_detailed(asset.id, client=api, if_none_match=etag)
    assert unchanged.status_code == 304 and unchanged.content == b""

    change = generated.op("change_an_asset_v1_assets_id")
    changed = await change.asyncio_detailed(asset.id, client=api, body=m.AssetPatch(notes="a"), if_match=etag)
    assert _ok(changed).data.version == 2
    stale = await change.asyncio_detailed(asset.id, client=api, body=m.AssetPatch(notes="b"), if_match=etag)
    problem = _ok(stale, 412)
    assert isinstance(problem, m.ProblemDocument) and problem.code == "PRECONDITION_FAILED"
    assert stale.headers["ETag"].startswith(f'"{asset.id}.2.')


@pytest.mark.timeout(GENERATE_TIMEOUT + HISTORY_DEADLINE)
async def test_a_webhook_through_the_generated_client_delivers_a_verified_change(
    generated: Generated, api: Any, worker: asyncio.Task[None]
) -> None:
    m = generated.models
    async with receiving() as receiver:
        created = await generated.op("register_a_webhook_v1_webhooks").asyncio_detailed(
            client=api,
            body=m.WebhookCreate(url=receiver.url("/gen"), events=["asset.created", "asset.deleted"]),
        )
        hook = _ok(created, 201).data
        assert hook.secret.startswith("whsec_") and list(hook.events) == ["asset.created", "asset.deleted"]
        ping = _ok(
            await generated.op("ping_a_webhook_v1_webhooks_id_ping").asyncio_detailed(hook.id, client=api)
        )
        assert ping.data.delivered is True and ping.data.status_code == 200
        asset = _ok(
            await generated.op("create_an_asset_v1_assets").asyncio_detailed(
                client=api, body=m.AssetCreate(name="hooked")
            ),
            201,
        ).data
        await poll(lambda: _arrived(receiver, "/gen", 2), timeout=HISTORY_DEADLINE)
        log = generated.op("a_webhook_s_delivery_log_v1_webhooks_id_deliveries")
        delivered = _ok(await log.asyncio_detailed(hook.id, client=api, event_type="asset.created"))
        bad = _ok(
            await generated.op("register_a_webhook_v1_webhooks").asyncio_detailed(
                client=api, body=m.WebhookCreate(url=receiver.url("/gen"), events=["asset.creatd"])
            ),
            400,
        )
    event = receiver.at("/gen")[-1].verified(hook.secret)
    assert event["type"] == "asset.created" and event["subject"] == asset.id
    [entry] = delivered.data
    assert entry.event_id == event["id"] and entry.attempt_log[0].status_code == 200
    assert isinstance(bad, m.ProblemDocument) and bad.errors[0].field == "events[0]"


async def _arrived(receiver: Receiver, path: str, count: int) -> bool:
    return len(receiver.at(path)) >= count


# --- v2 -------------------------------------------------------------------------------------------


@pytest.mark.timeout(GENERATE_TIMEOUT)
async def test_the_v2_seed_flow_through_the_generated_client(generated: Generated, api: Any) -> None:
    m = generated.models
    category = _ok(await generated.op("create_a_category_v2_api_v2_category").asyncio_detailed(
        client=api, body=m.CategoryWrite(name="Laptop", subcategory="Ultrabook")
    ), 201)  # fmt: skip
    owner = _ok(await generated.op("create_a_asset_owner_v2_api_v2_asset_owner").asyncio_detailed(
        client=api, body=m.OwnerWrite(name="Ada Lovelace", email="ada@example.com", phone_number="+44 20 79")
    ), 201)  # fmt: skip
    vendor = _ok(await generated.op("create_a_vendor_v2_api_v2_vendor").asyncio_detailed(
        client=api, body=m.V2NamedWrite(name="Dell")
    ), 201)  # fmt: skip

    # POST /api/v2/asset/: the README's body, related objects by integer id.
    body = m.AssetV2Write(
        name="Dell XPS 15",
        category=category.id,
        asset_owner=owner.id,
        usage_status=3,
        warranty_type=m.CoverageType.OEM,
        warranty_provider=vendor.id,
        warranty_end_date=dt.date(2027, 6, 1),
        original_cost=1899.00,
        depreciation_schedule=m.DepreciationSchedule("3_year_33_percent"),
        serial_number="5CG123456",
    )
    made = _ok(
        await generated.op("create_an_asset_v2_api_v2_asset").asyncio_detailed(client=api, body=body), 201
    )
    assert isinstance(made, m.AssetV2)
    assert (made.category.id, made.category.name, made.category.subcategory) == (
        category.id,
        "Laptop",
        "Ultrabook",
    )
    assert (made.asset_owner.id, made.asset_owner.email) == (owner.id, "ada@example.com")
    assert (made.usage_status.id, made.usage_status.name) == (3, "In Use")
    assert (made.warranty_provider.id, made.warranty_provider.name) == (vendor.id, "Dell")
    assert made.warranty_end_date == dt.date(2027, 6, 1) and made.original_cost == 1899.00
    assert made.company == 1 and made.template.id is None

    # PUT what a GET gave: related objects as the nested objects a read returns.
    nested = m.RelatedRef.from_dict(made.category.to_dict())
    status = m.UsageStatusRef.from_dict(made.usage_status.to_dict())
    replacement = m.AssetV2Write(
        name="Dell XPS 15 (2024)",
        category=nested,
        asset_owner=m.RelatedRef.from_dict(made.asset_owner.to_dict()),
        usage_status=status,
        warranty_type=m.CoverageType.OEM,
        warranty_provider=m.RelatedRef.from_dict(made.warranty_provider.to_dict()),
        warranty_end_date=made.warranty_end_date,
        original_cost=made.original_cost,
        asset_notes="replaced",
    )
    sent = replacement.to_dict()
    assert sent["category"] == {"id": category.id, "name": "Laptop", "subcategory": "Ultrabook"}
    assert sent["usage_status"] == {"id": 3, "name": "In Use"}
    replace = generated.op("replace_an_asset_v2_api_v2_asset_id")
    replaced = _ok(await replace.asyncio_detailed(made.id, client=api, body=replacement))
    assert replaced.name == "Dell XPS 15 (2024)" and replaced.asset_notes == "replaced"
    assert replaced.category.id == category.id and replaced.usage_status.id == 3
    assert replaced.serial_number is None  # left out of a PUT: null
    assert replaced.depreciation_schedule is None

    # PATCH: only what is sent changes.
    patch = m.AssetV2Patch(usage_status=5, asset_notes="back in stock room")
    patched = _ok(await generated.op("change_an_asset_v2_api_v2_asset_id").asyncio_detailed(
        made.id, client=api, body=patch
    ))  # fmt: skip
    assert (patched.usage_status.id, patched.usage_status.name) == (5, "Returned")
    assert patched.name == "Dell XPS 15 (2024)" and patched.category.id == category.id

    get = generated.op("get_an_asset_v2_api_v2_asset_id")
    shown = _ok(await get.asyncio_detailed(made.id, client=api, company=1))
    assert isinstance(shown, m.AssetV2) and shown.to_dict() == patched.to_dict()

    # The list, with company and ordering.
    second = _ok(await generated.op("create_an_asset_v2_api_v2_asset").asyncio_detailed(
        client=api, body=m.AssetV2Write(name="ThinkPad X1", category=category.id)
    ), 201)  # fmt: skip
    listing = generated.op("list_assets_v2_api_v2_asset")
    newest = m.ListAssetsV2ApiV2AssetOrdering("-created_date")
    page = _ok(await listing.asyncio_detailed(client=api, company=1, ordering=newest))
    assert page.count == 2 and page.next_ is None and page.previous is None
    assert [a.id for a in page.results] == [second.id, made.id]
    assert all(isinstance(a, m.AssetV2) for a in page.results)
    by_name = _ok(await listing.asyncio_detailed(client=api, company=1, name="thinkpad x1"))
    assert [a.id for a in by_name.results] == [second.id]

    # DELETE, then the asset is gone.
    delete = generated.op("delete_an_asset_v2_api_v2_asset_id")
    gone = await delete.asyncio_detailed(made.id, client=api)
    assert gone.status_code == HTTPStatus.NO_CONTENT and gone.parsed is None
    missing = _ok(await get.asyncio_detailed(made.id, client=api), 404)
    assert isinstance(missing, m.Detail) and missing.detail
    page = _ok(await listing.asyncio_detailed(client=api, company=1))
    assert [a.id for a in page.results] == [second.id]


@pytest.mark.timeout(GENERATE_TIMEOUT)
async def test_v2_errors_parse_into_their_declared_models(
    generated: Generated, api: Any, tenant: Tenant
) -> None:
    m = generated.models
    create = generated.op("create_an_asset_v2_api_v2_asset")

    blank = m.AssetV2Write(name=" ", usage_status=m.UsageStatusRef(id=3))
    fields = _ok(await create.asyncio_detailed(client=api, body=blank), 400)
    assert isinstance(fields, m.FieldMessages)
    assert fields.additional_properties == {"name": ["must not be blank"]}
    unknown = m.AssetV2Write(name="x", category=m.RelatedRef(id=2**40))
    fields = _ok(await create.asyncio_detailed(client=api, body=unknown), 400)
    assert list(fields.additional_properties) == ["category"]
    assert "in this organisation" in fields["category"][0]

    async with generated.client(tenant.read_token) as reader:
        forbidden = _ok(await create.asyncio_detailed(client=reader, body=m.AssetV2Write(name="x")), 403)
    assert isinstance(forbidden, m.Detail) and "assets:write" in forbidden.detail

    missing = _ok(
        await generated.op("get_an_asset_v2_api_v2_asset_id").asyncio_detailed(2**40, client=api), 404
    )
    assert isinstance(missing, m.Detail) and missing.detail
    no_company = _ok(
        await generated.op("list_assets_v2_api_v2_asset").asyncio_detailed(client=api, company=9), 404
    )
    assert isinstance(no_company, m.Detail) and no_company.detail


def test_a_write_takes_the_nested_objects_a_read_shows() -> None:
    """RelatedRef and UsageStatusRef list exactly the members of the nested objects of a read."""
    reads = (NamedRef, ContractRef, CategoryRef, OwnerRef)
    assert set(RelatedRef.model_fields) == set().union(*(read.model_fields for read in reads))
    assert set(UsageStatusRef.model_fields) == set(UsageStatus.model_fields)
