"""The system under test: a database and broker names of the run's own, the api and the worker as
real subprocesses (`uv run assetflow api|worker`), an organisation and a token; all removed at the
end. A phase may also start api processes of its own, each with settings of its own
(`Stack.extra_api`), on the same database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import aiohttp
import asyncpg
from cryptography.fernet import Fernet

from bench.common import log, peak_rss_mb, service_process
from bench.rawpipe import exchange_name, queue_names
from shared.topology import CONSUMERS

REPO = Path(__file__).resolve().parent.parent
READY_SECONDS = 90.0
# Budgets that no phase ever spends: the suite loads the api with one token at thousands of
# requests a second, far beyond the defaults (1200/minute per token). Per second, so that a moving
# window holds about one second of requests (a per-minute budget of millions would hold a
# minute's: an artificially long list for the limiter to scan).
UNSPENDABLE_BUDGET = "1000000/second"
RATE_LIMIT_UNSPENDABLE = {
    "RATE_LIMIT_READ": UNSPENDABLE_BUDGET,
    "RATE_LIMIT_WRITE": UNSPENDABLE_BUDGET,
    "RATE_LIMIT_ORG_READ": UNSPENDABLE_BUDGET,
    "RATE_LIMIT_ORG_WRITE": UNSPENDABLE_BUDGET,
}


def assetflow_command() -> list[str]:
    """`uv run assetflow` (frozen: never touches the lock file); the module itself without uv."""
    if shutil.which("uv"):
        return ["uv", "run", "--frozen", "assetflow"]
    return [sys.executable, "-m", "services.cli"]


def with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Service:
    """One long-running service process (`uv run assetflow <name>`)."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    pid: int = 0  # the python process under uv
    paused: bool = False
    port: int = 0  # an api's port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def peak_rss_mb(self) -> float | None:
        return peak_rss_mb(self.pid) if self.pid else None

    def pause(self) -> None:
        if self.pid and not self.paused:
            os.kill(self.pid, signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        if self.pid and self.paused:
            os.kill(self.pid, signal.SIGCONT)
            self.paused = False

    def stop(self, timeout: float = 20.0) -> None:
        self.resume()
        if self.process.poll() is None:
            target = self.pid or self.process.pid
            with contextlib.suppress(ProcessLookupError):
                os.kill(target, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


@dataclass
class Stack:
    """Everything one run made, and how to reach it."""

    server_url: str
    amqp_url: str
    workdir: Path
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    org_name: str = "Bench Corp"
    org_prefix: str = "BEN"
    token: str = ""
    org_id: uuid.UUID | None = None
    api_port: int = 0
    api: Service | None = None
    worker: Service | None = None
    db_created: bool = False
    webhook_key: str = field(default_factory=lambda: Fernet.generate_key().decode())

    @property
    def db_name(self) -> str:
        return f"assetflow_bench_{self.run_id}"

    @property
    def dsn(self) -> str:
        return with_database(self.server_url, self.db_name)

    @property
    def prefix(self) -> str:
        return f"assetflow-bench-{self.run_id}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def rate_limit_prefix(self) -> str:
        """RATE_LIMIT_KEY_PREFIX of every api of the run: its Redis keys begin with it and a colon."""
        return f"bench-{self.run_id}"

    def env(self, overrides: dict[str, str] | None = None) -> dict[str, str]:
        """The services' environment: the run's database and broker names, and the rate limiter
        as it ships (on, in process memory) with budgets no phase spends; then `overrides`."""
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.dsn,
            AMQP_URL=self.amqp_url,
            EVENTS_PREFIX=self.prefix,
            API_HOST="127.0.0.1",
            API_PORT=str(self.api_port),
            WORKER_PORT="0",
            LOG_LEVEL="WARNING",
            DB_POOL_MIN_SIZE="2",
            DB_POOL_MAX_SIZE="10",
            RATE_LIMIT_ENABLED="true",
            RATE_LIMIT_STORAGE_URL="memory://",
            RATE_LIMIT_KEY_PREFIX=self.rate_limit_prefix,
            **RATE_LIMIT_UNSPENDABLE,
            # Webhooks to the webhooks phase's receiver on 127.0.0.1, over plain http.
            WEBHOOK_SECRET_KEY=self.webhook_key,
            WEBHOOK_ALLOW_HTTP="true",
            WEBHOOK_ALLOW_PRIVATE_NETWORKS="true",
        )
        env.update(overrides or {})
        return env

    def cli(self, *args: str) -> str:
        """Run `assetflow <args>` to completion; its stdout."""
        done = subprocess.run(
            [*assetflow_command(), *args],
            env=self.env(),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"assetflow {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}"
            )
        return done.stdout

    def _spawn(self, name: str, label: str | None = None, overrides: dict[str, str] | None = None) -> Service:
        log_path = self.workdir / f"{label or name}.log"
        handle = open(log_path, "wb")  # the child process writes to it
        command = [*assetflow_command(), name]
        process = subprocess.Popen(
            command,
            env=self.env(overrides),
            cwd=REPO,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        handle.close()
        service = Service(label or name, process, log_path)
        service.pid = service_process(process.pid, launcher=command[0] == "uv")
        return service

    async def up(self) -> None:
        """Database, migrations, organisation, token, api and worker, each ready."""
        self.api_port = free_port()
        log(f"database {self.db_name}, broker prefix {self.prefix}, api on port {self.api_port}")
        admin = await asyncpg.connect(self.server_url)
        try:
            await admin.execute(f'CREATE DATABASE "{self.db_name}"')
            self.db_created = True
        finally:
            await admin.close()
        await asyncio.to_thread(self.cli, "migrate")
        await asyncio.to_thread(self.cli, "org", "create", self.org_name, "--prefix", self.org_prefix)
        out = await asyncio.to_thread(
            self.cli,
            "token",
            "create",
            "--org",
            self.org_name,
            "--scope",
            "assets:read",
            "--scope",
            "assets:write",
            "--scope",
            "webhooks:write",
            "--name",
            "bench",
        )
        self.token = out.strip().splitlines()[-1].strip()
        conn = await asyncpg.connect(self.dsn)
        try:
            self.org_id = await conn.fetchval("SELECT id FROM organisations WHERE name = $1", self.org_name)
        finally:
            await conn.close()
        self.api = await asyncio.to_thread(self._spawn, "api")
        self.api.port = self.api_port
        self.worker = await asyncio.to_thread(self._spawn, "worker")
        await self._api_ready(self.api)
        await self._worker_ready()

    @contextlib.asynccontextmanager
    async def extra_api(self, label: str, overrides: dict[str, str]) -> AsyncIterator[Service]:
        """One more api process, on a free port of its own, with the run's environment and then
        `overrides`; ready when the block starts, stopped when it ends (its log: <label>.log)."""
        port = free_port()
        service = await asyncio.to_thread(self._spawn, "api", label, {**overrides, "API_PORT": str(port)})
        service.port = port
        try:
            await self._api_ready(service)
            yield service
        finally:
            await asyncio.to_thread(service.stop)

    async def _api_ready(self, api: Service) -> None:
        deadline = time.monotonic() + READY_SECONDS
        async with aiohttp.ClientSession() as session:
            while True:
                if not api.alive():
                    raise RuntimeError(f"the {api.name} exited:\n{api.tail()}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(f"{api.base_url}/readyz") as resp:
                        if resp.status == 200:
                            return
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the {api.name} was not ready within {READY_SECONDS} s:\n{api.tail()}"
                    )
                await asyncio.sleep(0.2)

    async def _worker_ready(self) -> None:
        """Ready when each of the worker's queues has a consumer."""
        assert self.worker is not None
        deadline = time.monotonic() + READY_SECONDS
        connection = await aio_pika.connect(self.amqp_url)
        async with connection:
            while True:
                if not self.worker.alive():
                    raise RuntimeError(f"the worker exited:\n{self.worker.tail()}")
                consumers = []
                for consumer in CONSUMERS:
                    channel = await connection.channel()
                    try:
                        queue = await channel.declare_queue(f"{self.prefix}.{consumer}", passive=True)
                        consumers.append(queue.declaration_result.consumer_count or 0)
                    except aio_pika.exceptions.ChannelClosed:
                        consumers.append(0)
                    finally:
                        if not channel.is_closed:
                            await channel.close()
                if all(consumers):
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the worker was not consuming within {READY_SECONDS} s:\n{self.worker.tail()}"
                    )
                await asyncio.sleep(0.2)

    @contextlib.contextmanager
    def worker_paused(self) -> Iterator[None]:
        """SIGSTOP the worker for a block (so that only the api competes for the cores)."""
        assert self.worker is not None
        self.worker.pause()
        try:
            yield
        finally:
            self.worker.resume()

    def check_alive(self) -> None:
        for service in (self.api, self.worker):
            if service is not None and not service.alive():
                raise RuntimeError(f"the {service.name} exited:\n{service.tail()}")

    async def down(self) -> None:
        """Stop the services, drop the database, delete the broker names."""
        for service in (self.api, self.worker):
            if service is not None:
                await asyncio.to_thread(service.stop)
        if self.db_created:
            admin = await asyncpg.connect(self.server_url)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            finally:
                await admin.close()
        with contextlib.suppress(Exception):
            connection = await aio_pika.connect(self.amqp_url)
            async with connection:
                channel = await connection.channel()
                names = [f"{self.prefix}.{c}" for c in CONSUMERS]
                names += [f"{self.prefix}.{c}.dead" for c in CONSUMERS]
                names += queue_names(self.prefix)
                for name in names:
                    await channel.queue_delete(name)
                for exchange in (
                    f"{self.prefix}.events",
                    f"{self.prefix}.dead-letter",
                    exchange_name(self.prefix),
                ):
                    await channel.exchange_delete(exchange)


@contextlib.asynccontextmanager
async def running_stack(server_url: str, amqp_url: str, keep_workdir: bool = False) -> AsyncIterator[Stack]:
    workdir = Path(tempfile.mkdtemp(prefix="assetflow-bench-"))
    stack = Stack(server_url, amqp_url, workdir)
    try:
        await stack.up()
        yield stack
    finally:
        try:
            await stack.down()
        finally:
            if not keep_workdir:
                shutil.rmtree(workdir, ignore_errors=True)
