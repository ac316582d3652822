"""Companies (the v2 `company`): an organisation keeps at least one."""

from uuid import UUID

from shared.db import Conn
from shared.domain.models import Company
from shared.errors import Conflict
from shared.repositories import catalog as repo
from shared.services.catalog.base import Catalog


class Companies(Catalog[Company]):
    def __init__(self) -> None:
        super().__init__(repo.COMPANIES)

    async def _before_delete(self, conn: Conn, org_id: UUID, row_id: UUID) -> None:
        if await repo.other_companies(conn, org_id, row_id) == 0:
            raise Conflict("This is the organisation's only company; an organisation keeps at least one.")
