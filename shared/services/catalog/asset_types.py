"""Asset types (the v2 `category`): a kind of `physical` unless given, and a code made from the
name when none is given (the v2 dialect has no code)."""

import re
from itertools import chain, count
from typing import Any
from uuid import UUID

from shared.domain.models import AssetType
from shared.errors import Conflict
from shared.repositories import catalog as repo
from shared.services.catalog.base import Catalog
from shared.services.unit_of_work import UnitOfWork

# A generated code that a concurrent create took first is made again this many times.
_CODE_ATTEMPTS = 5


def code_base(name: str) -> str:
    """The name's letters and digits, upper-cased, as the start of a generated code."""
    return re.sub(r"[^A-Z0-9]", "", name.upper())[:12] or "TYPE"


def free_code(base: str, taken: set[str]) -> str:
    """The base code, or the first of `BASE-2`, `BASE-3`, … that is not taken."""
    candidates = chain([base], (f"{base}-{n}" for n in count(2)))
    return next(code for code in candidates if code not in taken)


class AssetTypes(Catalog[AssetType]):
    def __init__(self) -> None:
        super().__init__(repo.ASSET_TYPES)

    async def _insert(self, uow: UnitOfWork, org_id: UUID, values: dict[str, Any]) -> UUID:
        values.setdefault("kind", "physical")
        if values.get("code"):
            return await super()._insert(uow, org_id, values)
        base = code_base(values["name"])
        for attempt in range(1, _CODE_ATTEMPTS + 1):
            # Creates of the same base code take turns until they commit, so each sees the others' codes.
            taken = await uow.catalog.type_codes_taken(org_id, base)
            values["code"] = free_code(base, taken)
            try:
                async with uow.transaction():  # a savepoint: a taken code is tried again
                    return await uow.catalog.insert(self.table, org_id, values)
            except Conflict:
                if attempt == _CODE_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # the loop returns or raises
