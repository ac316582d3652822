"""Fixtures: a database and broker names of this run's own on a real PostgreSQL and RabbitMQ, the
real app, the real worker, tenants, and taps on the event stream."""

import asyncio
import contextlib
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer
from cryptography.fernet import Fernet
from prometheus_client import CollectorRegistry

from services.api.app import create_app
from services.worker.main import run_worker
from shared.db import create_pool, with_database
from shared.migrate import migrate_database
from shared.services import organisations
from shared.services.unit_of_work import unit_of_work
from shared.settings import Settings
from shared.topology import CONSUMERS, Topology, declare_exchange
from tests.schemathesis_defaults import schemathesis_defaults  # noqa: F401  (an autouse fixture)

RUN_ID = uuid.uuid4().hex[:10]

# How long a test waits for the worker's effects or an event. The pipeline's p99 is tens of
# milliseconds unloaded and a few seconds with the machine saturated; a minute only ends a wait for
# something that is not coming, on a machine several times slower than this one.
EFFECT_DEADLINE = 60.0

_NO_SERVICES = (
    "The tests need a real PostgreSQL and RabbitMQ. Set DATABASE_URL (a server where the tests may "
    "create databases, e.g. postgresql://postgres@127.0.0.1:5432/postgres) and AMQP_URL (e.g. "
    "amqp://guest:guest@127.0.0.1:5672/), or run them where a Docker engine answers so that "
    "testcontainers can start both."
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `run_last` run after all the others (one reads what ran beside them)."""
    items.sort(key=lambda item: item.get_closest_marker("run_last") is not None)


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """DATABASE_URL if set; else a PostgreSQL container; else a failure saying what to set."""
    if url := os.environ.get("DATABASE_URL"):
        yield url
        return
    if not _docker_answers():
        pytest.fail(_NO_SERVICES, pytrace=False)
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:15", driver=None) as container:
        yield container.get_connection_url()


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    """AMQP_URL if set; else a RabbitMQ container; else a failure saying what to set."""
    if url := os.environ.get("AMQP_URL"):
        yield url
        return
    if not _docker_answers():
        pytest.fail(_NO_SERVICES, pytrace=False)
    from testcontainers.rabbitmq import RabbitMqContainer

    with RabbitMqContainer("rabbitmq:3.13-management") as container:
        host = container.get_container_host_ip()
        port = container.get_exposed_port(container.port)
        yield f"amqp://{container.username}:{container.password}@{host}:{port}/"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """REDIS_URL if set; else a Redis container; else a failure saying what to set."""
    if url := os.environ.get("REDIS_URL"):
        yield url
        return
    if not _docker_answers():
        pytest.fail(
            "The shared rate-limit tests need a real Redis. Set REDIS_URL (e.g. redis://127.0.0.1:6379/0), "
            "or run them where a Docker engine answers so that testcontainers can start one.",
            pytrace=False,
        )
    from testcontainers.community.redis import RedisContainer

    with RedisContainer("redis:7") as container:
        yield f"redis://{container.get_container_host_ip()}:{container.get_exposed_port(container.port)}/0"


# This run's own Redis keys begin with it (RATE_LIMIT_KEY_PREFIX), so runs never count each other's.
REDIS_KEY_PREFIX = f"assetflow-test-{RUN_ID}"


async def delete_keys(redis_url: str, prefix: str) -> None:
    """Delete the Redis keys that begin with a prefix."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


EVENTS_PREFIX = f"assetflow-test-{RUN_ID}"


async def delete_broker_names(amqp_url: str, prefix: str) -> None:
    """Delete the exchanges and queues of an events prefix."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        topology = Topology(prefix)
        for consumer in CONSUMERS:
            for name in (topology.queue(consumer), topology.dead_letter_queue(consumer)):
                await channel.queue_delete(name)
        await channel.exchange_delete(topology.exchange)
        await channel.exchange_delete(topology.dead_letter_exchange)


async def drop_database(server_url: str, name: str) -> None:
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def broker(amqp_url: str) -> AsyncIterator[str]:
    """This run's own exchange and queues (prefix EVENTS_PREFIX), deleted at the end."""
    yield EVENTS_PREFIX
    await delete_broker_names(amqp_url, EVENTS_PREFIX)


@pytest.fixture
async def prefix(amqp_url: str) -> AsyncIterator[str]:
    """Broker names of a test's own, so that its processes never compete with the session's worker;
    deleted at the end."""
    name = f"assetflow-own-{uuid.uuid4().hex[:12]}"
    yield name
    await delete_broker_names(amqp_url, name)


@pytest.fixture
async def missing_database(postgres_server_url: str) -> AsyncIterator[str]:
    """The URL of a database that does not exist yet; dropped at the end if something made it."""
    name = f"assetflow_new_{uuid.uuid4().hex[:12]}"
    yield with_database(postgres_server_url, name)
    await drop_database(postgres_server_url, name)


@pytest.fixture(scope="session")
async def database_url(postgres_server_url: str) -> AsyncIterator[str]:
    """A database made for this run, migrated, dropped at the end."""
    name = f"assetflow_test_{RUN_ID}"
    admin = await asyncpg.connect(postgres_server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = with_database(postgres_server_url, name)
    await migrate_database(url)
    yield url
    await drop_database(postgres_server_url, name)


@pytest.fixture(scope="module")
async def template_database(postgres_server_url: str) -> AsyncIterator[str]:
    """A migrated database to copy: each test of a module that uses it gets a database of its own."""
    name = f"assetflow_res_tpl_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(postgres_server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    await migrate_database(with_database(postgres_server_url, name))
    yield name
    await drop_database(postgres_server_url, name)


@pytest.fixture
async def res_database_url(postgres_server_url: str, template_database: str) -> AsyncIterator[str]:
    """A database of the test's own. The outbox is per database and every relay on a database claims
    all of its rows: sharing the session's database would let the session app's relay publish this
    test's events to the session's exchange (and a failed test's backlog leak into the next)."""
    name = f"assetflow_res_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    finally:
        await admin.close()
    yield with_database(postgres_server_url, name)
    await drop_database(postgres_server_url, name)


SESSION_WEBHOOK_KEY = Fernet.generate_key().decode()


@pytest.fixture(scope="session")
def settings(database_url: str, amqp_url: str, broker: str) -> Settings:
    """This run's database and broker names; the worker's metrics port is off so runs never clash."""
    return Settings(
        database_url=database_url,
        amqp_url=amqp_url,
        events_prefix=broker,
        worker_port=0,
        db_pool_max_size=20,
        # The suite's clients make thousands of requests a minute with a few tokens; the rate
        # limits have tests of their own (tests/integration/test_rate_limits.py).
        rate_limit_enabled=False,
        # Webhooks work, to receivers on this machine (tests/e2e/test_webhooks.py has its own).
        webhook_secret_key=SESSION_WEBHOOK_KEY,
        webhook_allow_http=True,
        webhook_allow_private_networks=True,
    )


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, min_size=1, max_size=5)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def client(settings: Settings) -> AsyncIterator[TestClient]:
    """The real app, built by the real factory, over a real socket."""
    async with TestClient(TestServer(create_app(settings))) as test_client:
        yield test_client


@dataclass(frozen=True)
class Tenant:
    """An organisation of the test run with a token of each kind."""

    name: str
    org_id: uuid.UUID
    token: str  # assets:read, assets:write, webhooks:read and webhooks:write
    read_token: str  # assets:read and webhooks:read
    write_token: str  # assets:write and webhooks:write

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}


TenantFactory = Callable[..., Awaitable[Tenant]]


@pytest.fixture
def make_tenant(pool: asyncpg.Pool) -> TenantFactory:
    """Make a fresh organisation with tokens; each test gets tenants of its own."""

    async def make(prefix: str | None = None) -> Tenant:
        name = f"org-{uuid.uuid4().hex[:12]}"
        org = await organisations.create_organisation(unit_of_work(pool), name, prefix)
        both_scopes = ["assets:read", "assets:write", "webhooks:read", "webhooks:write"]
        _, both = await organisations.create_token(unit_of_work(pool), name, both_scopes)
        _, read = await organisations.create_token(
            unit_of_work(pool), name, ["assets:read", "webhooks:read"], name="read"
        )
        _, write = await organisations.create_token(
            unit_of_work(pool), name, ["assets:write", "webhooks:write"], name="write"
        )
        return Tenant(name, org.id, both, read, write)

    return make


@pytest.fixture
async def tenant(make_tenant: TenantFactory) -> Tenant:
    return await make_tenant()


@pytest.fixture(scope="session")
async def worker(settings: Settings, client: TestClient) -> AsyncIterator[asyncio.Task[None]]:
    """The real worker, consuming this run's queues in the test loop (the api's relay feeds it)."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(settings, stop), name="test-worker")
    yield task
    stop.set()
    await asyncio.wait_for(task, timeout=30)


@contextlib.asynccontextmanager
async def app_of(settings: Settings) -> AsyncIterator[TestClient]:
    """An app of a test's own (its own database or broker names), over a real socket."""
    async with TestClient(TestServer(create_app(settings))) as test_client:
        yield test_client


@contextlib.asynccontextmanager
async def worker_of(settings: Settings, registry: CollectorRegistry | None = None) -> AsyncIterator[None]:
    """A worker of a test's own, in this loop, until the block ends."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(settings, stop, registry), name="own-worker")
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


# The console script of this environment, run directly: `uv run assetflow worker` would put uv's own
# process between the test and the worker, and a SIGKILL would then reach uv and not the worker.
ASSETFLOW = str(Path(sys.executable).with_name("assetflow"))
WorkerStarter = Callable[[dict[str, str]], Awaitable[asyncio.subprocess.Process]]


@pytest.fixture
async def worker_processes(tmp_path: Path) -> AsyncIterator[WorkerStarter]:
    """Start `assetflow worker` processes, each with this environment and the settings given (its
    log: worker-N.log in the test's folder); any still running are killed at the end."""
    procs: list[asyncio.subprocess.Process] = []

    async def start(settings: dict[str, str]) -> asyncio.subprocess.Process:
        env = {**os.environ, "WORKER_PORT": "0", "LOG_LEVEL": "WARNING", **settings}
        with (tmp_path / f"worker-{len(procs)}.log").open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                ASSETFLOW, "worker", env=env, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log
            )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


class EventTap:
    """A queue of the test's own, bound to this run's exchange: what a subscriber would see."""

    def __init__(self, queue: aio_pika.abc.AbstractQueue) -> None:
        self._queue = queue

    async def next(self, timeout: float = EFFECT_DEADLINE) -> dict[str, Any]:
        """The next event's body, decoded; fails the test after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = await self._queue.get(no_ack=True, fail=False)
            if message is not None:
                return dict(json.loads(message.body))
            await asyncio.sleep(0.02)
        raise AssertionError(f"no event within {timeout} s")

    async def until(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = EFFECT_DEADLINE
    ) -> dict[str, Any]:
        """Skip events until one satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        while True:
            event = await self.next(max(deadline - time.monotonic(), 0.01))
            if predicate(event):
                return event

    async def drain(self) -> list[dict[str, Any]]:
        """Whatever is queued now, without waiting."""
        found = []
        while (message := await self._queue.get(no_ack=True, fail=False)) is not None:
            found.append(json.loads(message.body))
        return found


TapFactory = Callable[..., Awaitable[EventTap]]


@pytest.fixture
async def event_tap(amqp_url: str, settings: Settings, client: TestClient) -> AsyncIterator[TapFactory]:
    """Make taps: `await event_tap("asset.*")` binds an exclusive queue with those routing keys."""
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    exchange = await declare_exchange(channel, Topology(settings.events_prefix))

    async def make(*routing_keys: str) -> EventTap:
        queue = await channel.declare_queue("", exclusive=True, auto_delete=True)
        for key in routing_keys or ("#",):
            await queue.bind(exchange, routing_key=key)
        return EventTap(queue)

    yield make
    await connection.close()


async def served_openapi(client: TestClient) -> dict[str, Any]:
    """The OpenAPI document the app under test serves."""
    response = await client.get("/openapi.json")
    assert response.status == 200
    document = await response.json()
    assert isinstance(document, dict)
    return document


async def poll(
    check: Callable[[], Awaitable[Any]], timeout: float = EFFECT_DEADLINE, interval: float = 0.05
) -> Any:
    """Call `check` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last: {result!r})")
        await asyncio.sleep(interval)


@pytest.fixture
async def fresh_database(postgres_server_url: str) -> AsyncIterator[str]:
    """An empty database of this test's own, dropped at the end; its URL."""
    name = f"assetflow_ops_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield with_database(postgres_server_url, name)
    await drop_database(postgres_server_url, name)


@contextlib.asynccontextmanager
async def row_trigger(
    pool: asyncpg.Pool, table: str, event: str, when: str, body: str
) -> AsyncIterator[None]:
    """A BEFORE `event` trigger on `table` for the rows `when` names (SQL over NEW), running `body`
    (PL/pgSQL: `PERFORM pg_sleep(1); RETURN NEW;` slows a write down, `RAISE EXCEPTION …` makes it
    fail), until the block ends."""
    name = f"test_{uuid.uuid4().hex[:8]}"
    await pool.execute(
        f"""CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} END $$;
            CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW
            WHEN ({when}) EXECUTE FUNCTION {name}();"""
    )
    try:
        yield
    finally:
        await pool.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}; DROP FUNCTION IF EXISTS {name}();")
