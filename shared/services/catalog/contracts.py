"""Contracts: a vendor of the organisation, and an end that is not before the start."""

from shared.domain.models import Contract
from shared.errors import InvalidInput
from shared.repositories import catalog as repo
from shared.services.catalog.base import Catalog


class Contracts(Catalog[Contract]):
    def __init__(self) -> None:
        super().__init__(repo.CONTRACTS, references={"vendor_id": repo.VENDORS})

    def _check(self, entry: Contract) -> None:
        start, end = entry.start_date, entry.end_date
        if start is not None and end is not None and end < start:
            raise InvalidInput.one("end_date", f"must not be before start_date ({start.isoformat()})")
