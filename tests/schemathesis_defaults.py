"""Schemathesis as a user runs it, beside the rest of the suite.

`schemathesis run <api>/openapi.json --checks all`, every other setting at its default (all
phases, 100 examples an operation, a random seed), against an `assetflow api` process of its own
with a database, broker names and a token of its own. It takes about as long as a third of the
suite, so the session starts it at its first test (`schemathesis_defaults`, an autouse fixture of
tests/conftest.py), at the lowest CPU priority, and tests/contract/test_schemathesis_defaults.py,
which the session runs last, reads what it found.
"""

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from cryptography.fernet import Fernet

from shared.db import create_pool, with_database
from shared.migrate import migrate_database
from shared.services import organisations
from shared.services.unit_of_work import unit_of_work

# The test that reads the run; without it in the session, nothing is started.
TEST_NAME = "test_schemathesis_with_default_settings_finds_only_what_the_readme_lists"
BIN = Path(sys.executable).parent
_NICE = ["nice", "-n", "19"] if shutil.which("nice") else []


@dataclass
class DefaultRun:
    """The schemathesis process and where it writes."""

    process: subprocess.Popen[bytes] | None
    log: Path  # what it prints
    report: Path  # its JSON run report
    events: Path  # its NDJSON events: every case, check and answer in full
    started: float
    problem: str | None = None  # why it could not be set up (the test that reads it fails)

    async def finished(self, timeout: float) -> int:
        """Wait (without blocking the loop) for the run to end; its exit code."""
        deadline = time.monotonic() + timeout
        assert self.process is not None
        while (code := self.process.poll()) is None:
            if time.monotonic() > deadline:
                self.process.kill()
                raise AssertionError(f"schemathesis did not finish within {timeout} s; see {self.log}")
            await asyncio.sleep(0.5)
        return code


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _served(port: int, token: str, api: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Wait until this api answers the token: a list of assets, 200 (not some other listener)."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if api.poll() is not None:
                raise RuntimeError(f"the api for the default schemathesis run exited with {api.returncode}")
            try:
                url = f"http://127.0.0.1:{port}/v1/assets"
                async with session.get(url, headers={"Authorization": f"Bearer {token}"}) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"the api for the default schemathesis run did not answer within {timeout} s")


@pytest.fixture(scope="session", autouse=True)
async def schemathesis_defaults(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[DefaultRun | None]:
    if not any(item.name == TEST_NAME for item in request.session.items):
        yield None  # and a session without the test needs no services for it
        return
    from tests.conftest import delete_broker_names, drop_database

    postgres_server_url: str = request.getfixturevalue("postgres_server_url")
    amqp_url: str = request.getfixturevalue("amqp_url")

    name = f"assetflow_stdefaults_{uuid.uuid4().hex[:10]}"
    prefix = f"assetflow-stdefaults-{uuid.uuid4().hex[:10]}"
    folder = tmp_path_factory.mktemp("schemathesis-defaults")
    log, report, events = folder / "run.log", folder / "run.json", folder / "events.ndjson"
    run = DefaultRun(None, log, report, events, time.monotonic())
    api: subprocess.Popen[bytes] | None = None
    made = False
    try:
        admin = await asyncpg.connect(postgres_server_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
            made = True
        finally:
            await admin.close()
        url = with_database(postgres_server_url, name)
        await migrate_database(url)
        pool = await create_pool(url, min_size=1, max_size=2)
        try:
            await organisations.create_organisation(unit_of_work(pool), "schemathesis")
            _, token = await organisations.create_token(
                # Not the webhooks scopes: a fuzzed webhook's URL may name any public address, and
                # the worker would POST there (the webhook routes answer 403 in this run).
                unit_of_work(pool),
                "schemathesis",
                ["assets:read", "assets:write"],
            )
        finally:
            await pool.close()
        port = _free_port()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "AMQP_URL": amqp_url,
            "EVENTS_PREFIX": prefix,
            "API_HOST": "127.0.0.1",
            "API_PORT": str(port),
            "RATE_LIMIT_ENABLED": "false",  # schemathesis sends thousands of requests a minute
            # A key, so that the webhook routes answer as configured (403 for this token), not 503.
            "WEBHOOK_SECRET_KEY": Fernet.generate_key().decode(),
            "LOG_LEVEL": "WARNING",  # not a line per request
        }
        # Both processes run at the lowest priority: on the suite's spare time, not in its way.
        api_command = [*_NICE, str(BIN / "assetflow"), "api"]
        with (folder / "api.log").open("wb") as api_log:
            # Started, not waited for: it serves until the session ends.
            api = subprocess.Popen(api_command, env=env, stdout=api_log, stderr=subprocess.STDOUT)  # noqa: ASYNC220
        await _served(port, token, api)
        command = [
            *_NICE,
            str(BIN / "schemathesis"),
            "run",
            f"http://127.0.0.1:{port}/openapi.json",
            "--checks",
            "all",
            "-H",
            f"Authorization: Bearer {token}",
            "--report",
            "json,ndjson",
            "--report-json-path",
            str(report),
            "--report-ndjson-path",
            str(events),
            "--output-sanitize",
            "false",
            "--no-color",
        ]
        with log.open("wb") as out:
            # Started, not waited for: it runs beside the suite, and the last test waits for it.
            run.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=folder)  # noqa: ASYNC220
    except Exception as exc:  # the test that reads the run says why; the other tests go on
        run.problem = f"the default schemathesis run could not start: {exc!r}"
    try:
        yield run
    finally:
        if run.process is not None and run.process.poll() is None:
            run.process.kill()
            run.process.wait()
        if api is not None:
            api.terminate()
            try:
                api.wait(timeout=30)
            except subprocess.TimeoutExpired:
                api.kill()
                api.wait()
        try:
            if made:
                await drop_database(postgres_server_url, name)
        finally:
            await delete_broker_names(amqp_url, prefix)
