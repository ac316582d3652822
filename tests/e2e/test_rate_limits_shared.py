"""Budgets kept in Redis: two `assetflow api` processes allow exactly one budget between them,
and an api whose Redis goes away keeps answering, unlimited, until Redis is back."""

import re
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO, Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.api.app import create_app
from shared.settings import Settings
from tests.conftest import REDIS_KEY_PREFIX, Tenant, delete_keys, poll
from tests.e2e.tcp_proxy import TcpProxy
from tests.integration.test_cli_ports import ASSETFLOW, DEADLINE, cli_env, free_port


@pytest.fixture
async def key_prefix(redis_url: str) -> AsyncIterator[str]:
    """Redis keys of this test's own; deleted at the end."""
    prefix = f"{REDIS_KEY_PREFIX}-{uuid.uuid4().hex[:8]}"
    yield prefix
    await delete_keys(redis_url, prefix)


@pytest.fixture
def apis(database_url: str, amqp_url: str, prefix: str, tmp_path: Path) -> Iterator[Any]:
    """Start `assetflow api` processes with the given settings (their logs in tmp_path); each is
    stopped at the end."""
    started: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []

    def start(**settings: str) -> str:
        port = free_port()
        env = cli_env(database_url, amqp_url, prefix, API_PORT=str(port), LOG_LEVEL="WARNING", **settings)
        log = (tmp_path / f"api-{port}.log").open("wb")
        started.append((subprocess.Popen([ASSETFLOW, "api"], env=env, stdout=log, stderr=log), log))
        return f"http://127.0.0.1:{port}"

    yield start
    for process, _ in started:
        process.terminate()
    for process, log in started:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


async def _up(session: aiohttp.ClientSession, base: str) -> None:
    async def answers() -> bool:
        try:
            async with session.get(f"{base}/healthz") as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False

    await poll(answers, timeout=DEADLINE)


async def _statuses(
    session: aiohttp.ClientSession, bases: list[str], tenant: Tenant, count: int
) -> list[int]:
    """`count` reads, taking the processes in turn."""
    found = []
    for n in range(count):
        async with session.get(f"{bases[n % len(bases)]}/v1/assets", headers=tenant.auth()) as response:
            found.append(response.status)
    return found


@pytest.mark.parametrize("storage", ["redis", "memory"])
async def test_two_api_processes_share_one_budget_in_redis(
    apis: Any, tenant: Tenant, redis_url: str, key_prefix: str, storage: str
) -> None:
    url = redis_url if storage == "redis" else "memory://"
    settings = {
        "RATE_LIMIT_STORAGE_URL": url,
        "RATE_LIMIT_KEY_PREFIX": key_prefix,
        "RATE_LIMIT_READ": "10/minute",
        "RATE_LIMIT_ORG_READ": "1000/minute",
    }
    bases = [apis(**settings), apis(**settings)]
    async with aiohttp.ClientSession() as session:
        for base in bases:
            await _up(session, base)
        statuses = await _statuses(session, bases, tenant, 24)
    if storage == "redis":
        # exactly one budget between them: the first 10, whichever process answered
        assert statuses == [200] * 10 + [429] * 14
    else:
        # each process counts alone: twice the budget (why Redis is needed behind one port)
        assert statuses == [200] * 20 + [429] * 4


async def test_an_api_serves_unlimited_while_redis_is_away_and_limits_again_after(
    settings: Settings, tenant: Tenant, redis_url: str, key_prefix: str
) -> None:
    target = re.match(r"redis://(?:[^@]*@)?([^:/]+):(\d+)", redis_url)
    assert target, redis_url
    proxy = TcpProxy(target[1], int(target[2]))
    await proxy.start()
    app_settings = Settings(
        **{
            **settings.model_dump(),
            "rate_limit_enabled": True,
            "rate_limit_read": "6/minute",
            "rate_limit_storage_url": f"redis://127.0.0.1:{proxy.port}/0",
            "rate_limit_key_prefix": key_prefix,
        }
    )
    client = TestClient(TestServer(create_app(app_settings)))
    await client.start_server()
    try:
        before = await client.get("/v1/assets", headers=tenant.auth())
        assert before.status == 200
        assert before.headers["X-RateLimit-Remaining"] == "5"

        await proxy.cut()
        for _ in range(10):  # far beyond the budget: not enforced while Redis is away
            during = await client.get("/v1/assets", headers=tenant.auth())
            assert during.status == 200, await during.text()
            assert "X-RateLimit-Remaining" not in during.headers
        metrics = await (await client.get("/metrics")).text()
        errors = re.search(r"^assetflow_rate_limit_storage_errors_total (\S+)$", metrics, re.M)
        assert errors and float(errors[1]) >= 1, metrics

        await proxy.restore()

        async def limited_again() -> bool:
            response = await client.get("/v1/assets", headers=tenant.auth())
            return "X-RateLimit-Remaining" in response.headers

        await poll(limited_again, timeout=30)
        statuses = [(await client.get("/v1/assets", headers=tenant.auth())).status for _ in range(6)]
        assert 429 in statuses, statuses
    finally:
        await client.close()
        await proxy.close()
