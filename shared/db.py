"""The PostgreSQL pool: codecs, creation of a missing database, and the pool's lifetime."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Generator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from shared.jsonio import dumps

logger = logging.getLogger(__name__)

# What repositories take: a plain connection or one borrowed from a pool.
Conn = asyncpg.Connection | PoolConnectionProxy


class ConnectionSource(Protocol):
    """Where a repository gets the connection of one statement or of a whole transaction."""

    def connection(self) -> AbstractAsyncContextManager[Conn]: ...

    def connection_apart(self) -> AbstractAsyncContextManager[Conn]:
        """A connection for a statement that commits at once, outside any transaction in progress
        (the tag counters): a row it locks is let go at once."""
        ...


def _encode_json(value: object) -> str:
    return dumps(value).decode()


def _decode_json(text: str) -> object:
    # Decimals, not floats: a price in a JSON column comes back exactly as it went in.
    return json.loads(text, parse_float=Decimal)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for jtype in ("json", "jsonb"):
        await conn.set_type_codec(jtype, encoder=_encode_json, decoder=_decode_json, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a released connection needs reset: nothing."""


class FairPool(asyncpg.Pool):
    """asyncpg's pool with first-come, first-served waiting.

    asyncpg hands a released connection to whichever task asks next: a waiter it has just woken
    can lose the connection to a newcomer and go to the back of the queue again, so under load a
    few requests wait for hundreds of milliseconds while most take a few. A FIFO semaphore the
    size of the pool in front of it means a connection is only ever asked for when one is free,
    in the order the requests came.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._turns = asyncio.Semaphore(kwargs["max_size"])  # FIFO: a release wakes the first waiter

    def acquire(self, *, timeout: float | None = None) -> "_Turn":  # type: ignore[override]
        return _Turn(self, timeout)

    async def release(self, connection: Any, *, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Give the connection back, and the turn with it to the next in line."""
        try:
            await super().release(connection, timeout=timeout)
        finally:
            self._turns.release()


class _Turn:
    """`async with pool.acquire() as conn` or `conn = await pool.acquire()`, waiting in line."""

    def __init__(self, pool: FairPool, timeout: float | None) -> None:
        self._pool = pool
        self._timeout = timeout
        self._conn: PoolConnectionProxy | None = None

    async def _take(self) -> PoolConnectionProxy:
        await self._pool._turns.acquire()
        try:
            conn: PoolConnectionProxy = await asyncpg.Pool.acquire(self._pool, timeout=self._timeout)
        except BaseException:
            self._pool._turns.release()
            raise
        return conn

    def __await__(self) -> Generator[Any, None, PoolConnectionProxy]:
        return self._take().__await__()

    async def __aenter__(self) -> PoolConnectionProxy:
        self._conn = await self._take()
        return self._conn

    async def __aexit__(self, *exc: object) -> None:
        assert self._conn is not None
        conn, self._conn = self._conn, None
        await self._pool.release(conn)


async def database_answers(pool: asyncpg.Pool) -> None:
    """One round trip to the database; raises when it does not answer."""
    async with pool.acquire() as conn:
        await conn.fetchval("SELECT 1")


async def create_pool(
    dsn: str, *, min_size: int = 2, max_size: int = 10, custom_plans: bool = False
) -> asyncpg.Pool:
    """A pool whose connections speak JSON natively, handed out first come, first served.

    `custom_plans`: plan each statement for its own arguments and the tables as they are now,
    never reusing a generic plan (for the worker's batch statements: a generic plan made while a
    table was nearly empty scans it whole for ever after, 40 ms a batch at 100,000 rows; planning
    afresh costs a fraction of a millisecond a batch). The api keeps generic plans: its statements
    are many and small, and planning each would cost the read path."""
    pool = FairPool(
        dsn,
        server_settings={"plan_cache_mode": "force_custom_plan"} if custom_plans else None,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        # No session state is ever left on a connection, so nothing is reset on release. (None
        # would mean asyncpg's default: four statements per release, 11% of a read's CPU.)
        reset=_keep_session,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        setup=None,
        connect=None,
        loop=None,
    )
    await pool
    return pool


@asynccontextmanager
async def pool_for(
    dsn: str, *, min_size: int = 2, max_size: int = 10, custom_plans: bool = False
) -> AsyncIterator[asyncpg.Pool]:
    """Open a pool for the length of a block (create_pool's arguments)."""
    pool = await create_pool(dsn, min_size=min_size, max_size=max_size, custom_plans=custom_plans)
    try:
        yield pool
    finally:
        await pool.close()


def with_database(dsn: str, database: str) -> str:
    """The same server address, naming another database."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))


def database_name(dsn: str) -> str:
    """The database a URL names."""
    return urlsplit(dsn).path.lstrip("/") or "postgres"


async def ensure_database(dsn: str) -> bool:
    """Create the database the URL names if it is missing; True when it was created."""
    name = database_name(dsn)
    try:
        conn = await asyncpg.connect(dsn)
    except asyncpg.InvalidCatalogNameError:
        pass
    else:
        await conn.close()
        return False
    admin = await asyncpg.connect(with_database(dsn, "postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name.replace(chr(34), chr(34) * 2)}"')
    except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
        # Another process created it first (PostgreSQL reports a race on pg_database as either).
        return False
    finally:
        await admin.close()
    logger.info("created database", extra={"database": name})
    return True


async def listen_forever(
    url: str, channel: str, wake: asyncio.Event, retry_seconds: float, what: str
) -> None:
    """Set `wake` at every NOTIFY on `channel`, on a connection of its own (not a pool's), made
    again whenever it drops; also set it at each (re)connection, for anything committed while
    nobody listened. Runs until cancelled; the caller polls meanwhile, since a NOTIFY can be lost."""
    while True:
        conn: asyncpg.Connection | None = None
        try:
            conn = await asyncpg.connect(url)
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _c, lost=lost: lost.set())
            await conn.add_listener(channel, lambda *_args: wake.set())
            wake.set()
            await lost.wait()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            logger.warning(f"{what} listener lost; polling meanwhile", extra={"error": repr(exc)})
        finally:
            if conn is not None and not conn.is_closed():
                await conn.close()
        await asyncio.sleep(retry_seconds)
