"""The unit of work over PostgreSQL: every repository and the outbox on one connection."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Self

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from shared.db import Conn
from shared.repositories.assets import AssetRepository
from shared.repositories.catalog import CatalogRepository
from shared.repositories.export import AssetExportRepository
from shared.repositories.idempotency import IdempotencyRepository
from shared.repositories.organisations import OrganisationRepository
from shared.repositories.outbox import OutboxRepository
from shared.repositories.projections import ProjectionRepository
from shared.repositories.webhooks import WebhookRepository


class PgUnitOfWork:
    """The repositories and the outbox of one request, command or batch.

    Inside `async with` the first statement takes a connection from the pool and the unit keeps
    it until the block ends, so a request takes one connection however many statements it runs,
    and none before it needs one. Outside such a block each statement borrows a connection for
    itself. Whatever runs inside `transaction()` commits together or not at all; a transaction
    inside another is a savepoint, undone alone when its block raises.
    """

    def __init__(self, pool: asyncpg.Pool, apart: asyncpg.Pool | None = None) -> None:
        self._pool = pool
        self._apart = apart  # the pool of connection_apart, when the unit's owner has one
        self._conn: PoolConnectionProxy | None = None
        self._depth = 0  # how many `async with` blocks and transactions keep the connection
        self._transactions = 0  # how many transactions (and savepoints) are open
        self.assets = AssetRepository(self)
        self.catalog = CatalogRepository(self)
        self.organisations = OrganisationRepository(self)
        self.projections = ProjectionRepository(self)
        self.outbox = OutboxRepository(self)
        self.exports = AssetExportRepository(self)
        self.idempotency = IdempotencyRepository(self)
        self.webhooks = WebhookRepository(self)

    async def __aenter__(self) -> Self:
        self._depth += 1
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._let_go()

    async def _keep(self) -> PoolConnectionProxy:
        if self._conn is None:
            self._conn = await self._pool.acquire()
        return self._conn

    async def _let_go(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._conn is not None:
            conn, self._conn = self._conn, None
            await self._pool.release(conn)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Conn]:
        """The connection the unit keeps, or one borrowed for a single statement."""
        if self._depth:
            yield await self._keep()
            return
        async with self._pool.acquire() as conn:
            yield conn

    @asynccontextmanager
    async def connection_apart(self) -> AsyncIterator[Conn]:
        """Inside a transaction, a connection of the `apart` pool, held for one statement that
        commits at once (a request's tag counter, so that the organisation's row is not locked
        until the request's transaction ends); otherwise `connection()`, where the statement
        commits at once anyway. The `apart` pool's connections are never held while waiting for
        another connection, so a unit that holds one of the pool's and waits for one of these
        cannot deadlock."""
        if self._transactions and self._apart is not None:
            async with self._apart.acquire() as conn:
                yield conn
            return
        async with self.connection() as conn:
            yield conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        self._depth += 1
        self._transactions += 1
        try:
            conn = await self._keep()
            async with conn.transaction():
                yield
        finally:
            self._transactions -= 1
            await self._let_go()
