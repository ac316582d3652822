"""The catalog's own rules that need no database: generated asset-type codes, contract dates."""

import datetime as dt
import uuid

import pytest

from shared.domain.models import Contract
from shared.errors import InvalidInput
from shared.services.catalog import CONTRACTS
from shared.services.catalog.asset_types import code_base, free_code


@pytest.mark.parametrize(
    ("name", "base"),
    [
        ("Laptop", "LAPTOP"),
        ("Dell XPS 15", "DELLXPS15"),
        ("Écran 4K!", "CRAN4K"),
        ("—", "TYPE"),
        ("A very long category name", "AVERYLONGCAT"),
    ],
)
def test_a_code_is_made_from_the_names_letters_and_digits(name: str, base: str) -> None:
    assert code_base(name) == base


def test_a_taken_code_gets_the_first_free_number() -> None:
    assert free_code("LAPTOP", set()) == "LAPTOP"
    assert free_code("LAPTOP", {"LAPTOP"}) == "LAPTOP-2"
    assert free_code("LAPTOP", {"LAPTOP", "LAPTOP-2", "LAPTOP-4"}) == "LAPTOP-3"


def _contract(start: dt.date | None, end: dt.date | None) -> Contract:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return Contract(
        id=uuid.uuid4(),
        number=1,
        contract_number="C-1",
        start_date=start,
        end_date=end,
        vendor_id=None,
        vendor_number=None,
        vendor_name=None,
        created_at=now,
        updated_at=now,
    )


def test_a_contract_may_not_end_before_it_starts() -> None:
    with pytest.raises(InvalidInput) as raised:
        CONTRACTS._check(_contract(dt.date(2026, 6, 1), dt.date(2026, 5, 31)))
    assert [p.field for p in raised.value.problems] == ["end_date"]
    for start, end in [(dt.date(2026, 6, 1), dt.date(2026, 6, 1)), (None, dt.date(2026, 1, 1)), (None, None)]:
        CONTRACTS._check(_contract(start, end))
