"""The PostgreSQL pool: codecs, creation of a missing database, and the pool's lifetime."""

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from shared.jsonio import dumps

logger = logging.getLogger(__name__)

# What repositories take: a plain connection or one borrowed from a pool.
Conn = asyncpg.Connection | PoolConnectionProxy


def _encode_json(value: object) -> str:
    return dumps(value).decode()


def _decode_json(text: str) -> object:
    # Decimals, not floats: a price in a JSON column comes back exactly as it went in.
    return json.loads(text, parse_float=Decimal)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for jtype in ("json", "jsonb"):
        await conn.set_type_codec(jtype, encoder=_encode_json, decoder=_decode_json, schema="pg_catalog")


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections speak JSON natively."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        # No session state is ever left on a connection, so the full RESET ALL is not needed.
        reset=None,
    )
    assert pool is not None
    return pool


@asynccontextmanager
async def pool_for(dsn: str, *, min_size: int = 2, max_size: int = 10) -> AsyncIterator[asyncpg.Pool]:
    """Open a pool for the length of a block."""
    pool = await create_pool(dsn, min_size=min_size, max_size=max_size)
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
