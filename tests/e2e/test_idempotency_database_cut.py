"""An Idempotency-Key's first request cut off from PostgreSQL mid-write: its 5xx is kept nowhere
and its write is undone with it, so the retry with the same key runs, once."""

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.api.app import create_app
from shared.settings import SecretUrl, Settings
from tests.conftest import TenantFactory, poll, row_trigger
from tests.e2e.tcp_proxy import TcpProxy


def _through(proxy: TcpProxy, database_url: str) -> str:
    """DATABASE_URL with the proxy's address in place of PostgreSQL's (user and database kept)."""
    parts = urlsplit(database_url)
    user = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}"))


@pytest.fixture
async def proxy(database_url: str) -> AsyncIterator[TcpProxy]:
    parts = urlsplit(database_url)
    tcp = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await tcp.start()
    yield tcp
    await tcp.close()


async def test_a_write_cut_off_from_the_database_is_not_kept_and_runs_again(
    settings: Settings, database_url: str, pool: asyncpg.Pool, make_tenant: TenantFactory, proxy: TcpProxy
) -> None:
    tenant = await make_tenant()
    cut_off = settings.model_copy(update={"database_url": SecretUrl(_through(proxy, database_url))})
    headers = {**tenant.auth(), "Idempotency-Key": "cut-1"}
    async with TestClient(TestServer(create_app(cut_off))) as client:
        # The tenant's creates wait a second in the database, so that the cut lands mid-write.
        slow = "PERFORM pg_sleep(1); RETURN NEW;"
        async with row_trigger(pool, "assets", "INSERT", f"NEW.org_id = '{tenant.org_id}'", slow):
            write = asyncio.create_task(client.post("/v1/assets", json={"name": "cut"}, headers=headers))

            async def inserting() -> bool:
                return bool(
                    await pool.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND query LIKE 'INSERT INTO assets%' "
                        "AND state = 'active'"
                    )
                )

            await poll(inserting)
            await proxy.cut()
            response = await write
            assert response.status >= 500, await response.text()
            await proxy.restore()

        async def kept_nothing() -> bool:
            # The database ends the cut-off transaction once it sees its client gone.
            rows = await pool.fetchval(
                "SELECT count(*) FROM idempotency_keys WHERE org_id = $1", tenant.org_id
            )
            assets = await pool.fetchval("SELECT count(*) FROM assets WHERE org_id = $1", tenant.org_id)
            busy = await pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND query LIKE 'INSERT INTO assets%' "
                "AND state <> 'idle'"
            )
            return rows == 0 and assets == 0 and busy == 0

        await poll(kept_nothing)

        async def retried() -> bool:  # the pool's broken connections are replaced as they fail
            again = await client.post("/v1/assets", json={"name": "cut"}, headers=headers)
            return again.status == 201 and "Idempotent-Replayed" not in again.headers

        await poll(retried)
        replay = await client.post("/v1/assets", json={"name": "cut"}, headers=headers)
        assert replay.status == 201 and replay.headers["Idempotent-Replayed"] == "true"
    names = await pool.fetch("SELECT name FROM assets WHERE org_id = $1", tenant.org_id)
    assert [row["name"] for row in names] == ["cut"]
