"""One asset contract: each dialect's read model renders itself from the domain asset, every field
read from the domain field of the same name (or its validation alias), nothing written twice."""

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel

from services.api.v2.present import AssetV2, AssetView, SupportBlock, WarrantyBlock
from shared.asset_v1 import AssetV1
from shared.domain.depreciation import book_value, plan_for
from shared.domain.models import Asset, DepreciationSchedule
from shared.jsonio import dumps

NOW = dt.datetime(2026, 11, 23, 3, 38, 54, 664631, tzinfo=dt.UTC)
TODAY = dt.date(2026, 11, 30)


def _id(n: int) -> uuid.UUID:
    return uuid.UUID(int=n)


SPARSE: dict[str, Any] = {
    "id": _id(1),
    "number": 42,
    "org_id": _id(2),
    "company_number": 1,
    "company_id": _id(3),
    "version": 1,
    "asset_tag": "ACM-2026-000042",
    "name": "Spare cable",
    "status": "in_stock",
    "custom_fields": {},
    "warranty_type": "none",
    "support_type": "none",
    "created_at": NOW,
    "updated_at": NOW,
}
RICH: dict[str, Any] = SPARSE | {
    "status": "in_use",
    "name": "Dell XPS 15",
    "asset_type_id": _id(10),
    "asset_type_number": 7,
    "asset_type_name": "Laptop",
    "asset_type_subcategory": "Ultrabook",
    "asset_kind": "physical",
    "contract_id": _id(11),
    "contract_number": 8,
    "contract_reference": "C-2024-01",
    "assigned_to": _id(12),
    "assignee_number": 9,
    "assignee_name": "Alice",
    "assignee_email": "alice@example.com",
    "assignee_phone": None,
    "business_unit_id": _id(13),
    "business_unit_number": 10,
    "business_unit_name": "Sales",
    "warranty_provider_id": _id(14),
    "warranty_provider_number": 11,
    "warranty_provider_name": "Dell",
    "support_provider_id": _id(15),
    "support_provider_number": 12,
    "support_provider_name": "Acme Support",
    "attached_supplier_id": _id(16),
    "attached_supplier_number": 13,
    "attached_supplier_name": "CDW",
    "custom_form_id": _id(17),
    "custom_form_number": 14,
    "custom_fields": {"ram_gb": 32, "ratio": Decimal("1.5")},
    "purchase_date": dt.date(2024, 6, 1),
    "purchase_price": Decimal("2499.00"),
    "warranty_until": dt.date(2027, 6, 1),
    "warranty_type": "oem",
    "support_end_date": dt.date(2026, 12, 1),
    "depreciation_schedule": "3_year_33_percent",
    "estimated_salvage_value": Decimal("100.50"),
    "service_start_date": dt.date(2024, 6, 15),
    "warranty_status": "within_warranty",
    "dep_schedule": "3_year_33_percent",
    "dep_original_cost": Decimal("2499.00"),
    "dep_salvage_value": Decimal("100.50"),
    "dep_service_start_date": dt.date(2024, 6, 15),
}


def asset(values: dict[str, Any]) -> Asset:
    filled = {name: None for name, field in Asset.model_fields.items() if field.is_required()}
    return Asset.model_validate(filled | values)


def test_every_v1_field_is_the_domain_field_of_its_name() -> None:
    assert set(AssetV1.model_fields) - set(Asset.model_fields) == {"book_value"}


@pytest.mark.parametrize("values", [SPARSE, RICH], ids=["sparse", "rich"])
def test_the_v1_body_is_the_model_dump(values: dict[str, Any]) -> None:
    shown = AssetV1.of(asset(values), TODAY)
    assert shown.body() == shown.model_dump()
    assert list(shown.body()) == list(AssetV1.model_fields)
    # body() is model_dump() only while the model is flat.
    for name, field in AssetV1.model_fields.items():
        assert not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)), name


def test_v1_ids_are_text_and_the_book_value_is_the_one_of_today() -> None:
    shown = AssetV1.of(asset(RICH), TODAY)
    assert (shown.id, shown.company_id, shown.assigned_to) == (str(_id(1)), str(_id(3)), str(_id(12)))
    plan = plan_for(
        DepreciationSchedule.THREE_YEAR, Decimal("2499.00"), Decimal("100.50"), dt.date(2024, 6, 15), None
    )
    assert plan is not None
    assert shown.book_value == book_value(plan, TODAY) == Decimal("566.73")
    assert AssetV1.of(asset(RICH), dt.date(2030, 1, 1)).book_value == Decimal("100.50")
    assert AssetV1.of(asset(SPARSE), TODAY).book_value is None
    assert b'"purchase_price":2499.00' in dumps(shown.body())


def _sources(model: type[AssetView]) -> dict[str, str]:
    """Each field of a v2 read model and the domain field (or nested object) it is read from."""
    return {name: str(field.validation_alias or name) for name, field in model.model_fields.items()}


NESTED = {
    "contract",
    "category",
    "asset_owner",
    "business_unit",
    "warranty_provider",
    "support_provider",
    "attached_supplier",
    "usage_status",
    "template",
}


def test_every_v2_field_is_a_domain_field_or_a_nested_object() -> None:
    sources = _sources(AssetV2)
    assert {source for source in sources.values() if source not in Asset.model_fields} == NESTED
    assert {name: source for name, source in sources.items() if name != source} == {
        "id": "number",
        "company": "company_number",
        "warranty_end_date": "warranty_until",
        "asset_notes": "notes",
        "original_cost": "purchase_price",
        "created_date": "created_at",
        "modified_date": "updated_at",
    }


@pytest.mark.parametrize(("block", "cover"), [(WarrantyBlock, "warranty"), (SupportBlock, "support")])
def test_a_block_is_the_asset_and_its_cover_as_the_whole_asset_shows_them(
    block: type[AssetView], cover: str
) -> None:
    names = list(block.model_fields)
    assert names[:3] == ["id", "name", "asset_tag"]
    whole = list(AssetV2.model_fields)
    assert names[3:] == [n for n in whole if n in names[3:]]  # in the order of the whole asset
    assert all(cover in n or n == "end_of_life_date" or n == "attached_supplier" for n in names[3:])
    for name in names:
        assert block.model_fields[name].annotation == AssetV2.model_fields[name].annotation, name
    rich = AssetV2.of(asset(RICH)).model_dump()
    assert block.of(asset(RICH)).model_dump() == {name: rich[name] for name in names}


def test_the_v2_asset_nests_what_it_refers_to() -> None:
    shown = json.loads(dumps(AssetV2.of(asset(RICH)).model_dump()))
    assert {name: shown[name] for name in NESTED} == {
        "contract": {"id": 8, "number": "C-2024-01"},
        "category": {"id": 7, "name": "Laptop", "subcategory": "Ultrabook"},
        "asset_owner": {"id": 9, "name": "Alice", "email": "alice@example.com", "phone_number": None},
        "business_unit": {"id": 10, "name": "Sales"},
        "warranty_provider": {"id": 11, "name": "Dell"},
        "support_provider": {"id": 12, "name": "Acme Support"},
        "attached_supplier": {"id": 13, "name": "CDW"},
        "usage_status": {"id": 3, "name": "In Use"},
        "template": {"id": 14, "fields": {"ram_gb": 32, "ratio": 1.5}},
    }
    assert (shown["id"], shown["company"], shown["original_cost"]) == (42, 1, 2499.0)
    sparse = AssetV2.of(asset(SPARSE)).model_dump()
    assert {name: sparse[name] for name in NESTED} == {
        **dict.fromkeys(NESTED - {"usage_status", "template"}),
        "usage_status": {"id": 1, "name": "In Stock"},
        "template": {"id": None, "fields": {}},
    }
