"""Companies (the v2 `company`): an organisation keeps at least one."""

from uuid import UUID

from shared.domain.models import Company
from shared.errors import Conflict
from shared.repositories import catalog as repo
from shared.services.catalog.base import Catalog
from shared.services.unit_of_work import UnitOfWork


class Companies(Catalog[Company]):
    def __init__(self) -> None:
        super().__init__(repo.COMPANIES)

    async def _before_lock(self, uow: UnitOfWork, org_id: UUID) -> None:
        await uow.catalog.lock_companies(org_id)

    async def _before_delete(self, uow: UnitOfWork, org_id: UUID, row_id: UUID) -> None:
        if await uow.catalog.other_companies(org_id, row_id) == 0:
            raise Conflict("This is the organisation's only company; an organisation keeps at least one.")
