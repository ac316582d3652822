"""`assetflow dev`, `api` and `worker` as a newcomer meets them: a taken port or a foreign address is
one line naming the setting to change and exit code 2, before any token is printed; a second `dev`
says that the demo organisation exists and how to mint a token for it."""

import asyncio
import os
import shlex
import shutil
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from shared.db import create_pool
from shared.services import organisations
from shared.services.unit_of_work import unit_of_work
from tests.conftest import poll

# The console script itself, not `uv run assetflow`: a signal then reaches assetflow, not uv.
ASSETFLOW = str(Path(sys.executable).with_name("assetflow"))
DEADLINE = 60.0  # a process start on a loaded 2-core machine takes 5-10 s
WORKER_OFF_HINT = "or 0 to turn the worker's metrics off"


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another program listens on, as a developer's machine often has."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cli_env(database_url: str, amqp_url: str, prefix: str, **settings: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "AMQP_URL": amqp_url,
        "EVENTS_PREFIX": prefix,
        "API_HOST": "127.0.0.1",
        "WORKER_HOST": "127.0.0.1",
        "LOG_LEVEL": "INFO",  # the failure must be one line even with the logs a start writes
        **settings,
    }


async def organisation_names(database_url: str, postgres_server_url: str) -> list[str]:
    """The organisations of a database; none if it was never made."""
    name = database_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(postgres_server_url)
    try:
        if not await admin.fetchval("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name):
            return []
    finally:
        await admin.close()
    conn = await asyncpg.connect(database_url)
    try:
        if not await conn.fetchval("SELECT to_regclass('organisations') IS NOT NULL"):
            return []
        return [r["name"] for r in await conn.fetch("SELECT name FROM organisations ORDER BY name")]
    finally:
        await conn.close()


# A taken port, or an address the machine does not have -------------------------------------------


def _in_use(setting: str, port: int) -> str:
    hint = f", {WORKER_OFF_HINT}" if setting == "WORKER_PORT" else ""
    return f"assetflow: {setting}={port} is in use: set {setting} to a free port{hint}"


NOT_HERE = "192.0.2.1"  # TEST-NET-1: never an address of this machine
NOT_HERE_LINE = (
    f"assetflow: API_HOST={NOT_HERE} is not an address of this machine: set API_HOST to an address of "
    "this machine (127.0.0.1 for this machine only, 0.0.0.0 for all of its addresses)"
)


@pytest.mark.parametrize(
    ("command", "taken_setting", "free_setting"),
    [
        ("dev", "WORKER_PORT", "API_PORT"),
        ("dev", "API_PORT", "WORKER_PORT"),
        ("api", "API_PORT", "WORKER_PORT"),
        ("worker", "WORKER_PORT", "API_PORT"),
    ],
)
async def test_a_taken_port_is_one_line_naming_its_setting_and_exit_code_2(
    command: str,
    taken_setting: str,
    free_setting: str,
    taken_port: int,
    missing_database: str,
    postgres_server_url: str,
    amqp_url: str,
    prefix: str,
) -> None:
    env = cli_env(
        missing_database,
        amqp_url,
        prefix,
        **{taken_setting: str(taken_port), free_setting: str(free_port())},
    )
    process = await asyncio.create_subprocess_exec(
        ASSETFLOW, command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=DEADLINE)

    assert stderr.decode().splitlines() == [_in_use(taken_setting, taken_port)], stderr.decode()
    assert process.returncode == 2
    assert stdout == b""  # no token, no hint
    assert await organisation_names(missing_database, postgres_server_url) == []  # no demo organisation


@pytest.mark.parametrize("command", ["api", "dev"])
async def test_an_address_this_machine_lacks_is_one_line_naming_api_host(
    command: str, missing_database: str, postgres_server_url: str, amqp_url: str, prefix: str
) -> None:
    env = cli_env(
        missing_database, amqp_url, prefix, API_HOST=NOT_HERE, API_PORT=str(free_port()), WORKER_PORT="0"
    )
    process = await asyncio.create_subprocess_exec(
        ASSETFLOW, command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=DEADLINE)

    assert stderr.decode().splitlines() == [NOT_HERE_LINE], stderr.decode()
    assert process.returncode == 2
    assert stdout == b""
    assert await organisation_names(missing_database, postgres_server_url) == []


# The second start -----------------------------------------------------------------------------------


class DevProcess:
    """A running `assetflow dev`: its stdout read line by line, its logs in a file."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path, api_port: int) -> None:
        self.process = process
        self.log = log
        self.api_port = api_port
        self.lines: list[str] = []

    async def read_until(self, text: str) -> list[str]:
        """Stdout lines up to and including the first that contains `text`."""
        assert self.process.stdout is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        while not self.lines or text not in self.lines[-1]:
            remaining = deadline - loop.time()
            line = await asyncio.wait_for(self.process.stdout.readline(), timeout=max(remaining, 0.01))
            assert line, f"stdout ended before {text!r}: {self.lines}\n{self.log.read_text()}"
            self.lines.append(line.decode().rstrip("\n"))
        return self.lines

    async def serving(self) -> None:
        """Wait until the api answers: the signal handlers are in place by then."""

        async def answers() -> bool:
            try:
                async with aiohttp.ClientSession() as session:
                    async with session.get(f"http://127.0.0.1:{self.api_port}/healthz") as response:
                        return response.status == 200
            except aiohttp.ClientError:
                return False

        await poll(answers, timeout=DEADLINE, interval=0.2)

    async def interrupt(self) -> int:
        """Ctrl-C, as in a terminal; the exit code."""
        self.process.send_signal(signal.SIGINT)
        return await asyncio.wait_for(self.process.wait(), timeout=DEADLINE)


async def start_dev(database_url: str, amqp_url: str, prefix: str, log: Path) -> DevProcess:
    api_port = free_port()
    env = cli_env(
        database_url,
        amqp_url,
        prefix,
        API_PORT=str(api_port),
        WORKER_PORT=str(free_port()),
        LOG_LEVEL="WARNING",
        # `dev` keeps its webhook key in the config folder: the test's own, never the user's.
        XDG_CONFIG_HOME=str(log.parent / "config"),
        WEBHOOK_SECRET_KEY="",
    )
    with log.open("wb") as logs:
        process = await asyncio.create_subprocess_exec(
            ASSETFLOW,
            "dev",
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=logs,
        )
    return DevProcess(process, log, api_port)


@pytest.fixture
async def dev(tmp_path: Path, amqp_url: str, prefix: str) -> AsyncIterator[list[DevProcess]]:
    """The `dev` processes a test starts; any still running at the end are killed."""
    started: list[DevProcess] = []
    yield started
    for running in started:
        if running.process.returncode is None:
            running.process.kill()
            await running.process.wait()


async def test_a_second_dev_says_the_demo_organisation_exists_and_how_to_mint_a_token(
    dev: list[DevProcess],
    missing_database: str,
    postgres_server_url: str,
    amqp_url: str,
    prefix: str,
    tmp_path: Path,
) -> None:
    first = await start_dev(missing_database, amqp_url, prefix, tmp_path / "first.log")
    dev.append(first)
    lines = await first.read_until("usl_live_")
    assert "Created organisation 'Demo'. Its token (shown once):" in lines
    key_file = tmp_path / "config" / "assetflow" / "webhook-secret-key"
    assert (
        f"Made a key for webhook secrets, kept in {key_file} (set WEBHOOK_SECRET_KEY to use another)."
        in lines
    )
    assert key_file.stat().st_mode & 0o777 == 0o600
    key = key_file.read_text()
    await first.serving()
    assert await first.interrupt() == 0, first.log.read_text()

    second = await start_dev(missing_database, amqp_url, prefix, tmp_path / "second.log")
    dev.append(second)
    lines = await second.read_until("assetflow token create")
    command = (
        "uv run assetflow token create --org Demo --scope assets:read --scope assets:write "
        "--scope webhooks:read --scope webhooks:write"
    )
    assert lines[-3:] == ["Organisation 'Demo' exists already. Mint a token for it with:", "", f"  {command}"]
    assert not any("usl_live_" in line for line in lines)  # the old token is not shown again
    assert f"Webhook secrets are encrypted with the key in {key_file} (WEBHOOK_SECRET_KEY)." in lines
    assert key_file.read_text() == key  # the same key, so the secrets made before still open
    await second.serving()
    assert await second.interrupt() == 0, second.log.read_text()
    assert await organisation_names(missing_database, postgres_server_url) == ["Demo"]

    # The command given is the real one: run as printed from the project's folder, it mints a token.
    uv, *argv = shlex.split(command)
    minted = await asyncio.create_subprocess_exec(
        shutil.which(uv) or pytest.fail("uv is not on the PATH"),
        *argv,
        cwd=Path(__file__).parents[2],
        env=cli_env(missing_database, amqp_url, prefix, LOG_LEVEL="WARNING"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(minted.communicate(), timeout=DEADLINE)
    assert minted.returncode == 0, stderr.decode()
    assert stdout.decode().startswith("usl_live_")


async def test_dev_on_a_database_with_other_organisations_names_one_to_mint_a_token_for(
    dev: list[DevProcess],
    missing_database: str,
    postgres_server_url: str,
    amqp_url: str,
    prefix: str,
    tmp_path: Path,
) -> None:
    made = await asyncio.create_subprocess_exec(
        ASSETFLOW,
        "migrate",
        env=cli_env(missing_database, amqp_url, prefix, LOG_LEVEL="WARNING"),
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(made.communicate(), timeout=DEADLINE)
    assert made.returncode == 0, stderr.decode()
    pool = await create_pool(missing_database, min_size=1, max_size=1)
    try:
        await organisations.create_organisation(unit_of_work(pool), "Acme Corp")
    finally:
        await pool.close()

    started = await start_dev(missing_database, amqp_url, prefix, tmp_path / "dev.log")
    dev.append(started)
    lines = await started.read_until("assetflow token create")
    assert lines[-3:] == [
        "Organisation 'Acme Corp' exists, so no demo organisation was made. Mint a token for it with:",
        "",
        "  uv run assetflow token create --org 'Acme Corp' --scope assets:read --scope assets:write "
        "--scope webhooks:read --scope webhooks:write",
    ]
    await started.serving()
    assert await started.interrupt() == 0, started.log.read_text()
    assert await organisation_names(missing_database, postgres_server_url) == ["Acme Corp"]


@pytest.mark.parametrize(
    ("setting", "value", "line"),
    [
        (
            "API_PORT",
            "abc",
            "API_PORT: Input should be a valid integer, unable to parse string as an integer",
        ),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL: Input should be 'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'"),
    ],
)
async def test_a_setting_that_is_not_valid_is_one_line_naming_it_and_exit_code_2(
    amqp_url: str, prefix: str, setting: str, value: str, line: str
) -> None:
    process = await asyncio.create_subprocess_exec(
        ASSETFLOW,
        "api",
        env=cli_env("postgresql://127.0.0.1:1/none", amqp_url, prefix, **{setting: value}),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=DEADLINE)
    assert process.returncode == 2
    assert stderr.decode().splitlines() == [f"assetflow: a setting is not valid: {line}"]
    assert stdout == b""
