"""`assetflow export` as an operator runs it: an organisation's assets to a file or to stdout, the
very bytes GET /v1/assets/export gives, its progress on stderr (a bar on a terminal, lines
otherwise), a file that imports back changing nothing, and failures that write nothing."""

import asyncio
import csv
import io
import os
import pty
import subprocess
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import Tenant, TenantFactory
from tests.integration.test_export import PATH, catalog

SEEDED = 2_000
# Past the first plain progress line, which comes every 10,000 rows.
MANY = 10_250
# Measured here: about 4 s for a run to start (it imports the whole app) and 1 s more to export
# 10,000 rows; 10 s to import SEEDED rows back. Machines 2x slower, and busy ones, have room.
CLI_TIMEOUT = 120


@dataclass(frozen=True)
class Run:
    code: int
    out: bytes
    err: str


def _cli(*args: str, database_url: str, terminal: bool = False) -> Run:
    """`uv run assetflow ...`, stdout as bytes; stderr on a terminal of its own if `terminal`."""
    command = ["uv", "run", "assetflow", *args]
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING", "COLUMNS": "120"}
    if not terminal:
        done = subprocess.run(command, env=env, capture_output=True, timeout=CLI_TIMEOUT, check=False)
        return Run(done.returncode, done.stdout, done.stderr.decode())
    main, side = pty.openpty()
    seen = bytearray()

    def drain() -> None:  # a terminal left unread would block the bar's writes
        while True:
            try:
                data = os.read(main, 65536)
            except OSError:  # the last writer closed its side
                return
            if not data:
                return
            seen.extend(data)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=side) as process:
            os.close(side)
            out, _ = process.communicate(timeout=CLI_TIMEOUT)
        reader.join(timeout=CLI_TIMEOUT)
    finally:
        os.close(main)
    return Run(process.returncode, out, seen.decode(errors="replace"))


async def run(*args: str, database_url: str, terminal: bool = False) -> Run:
    return await asyncio.to_thread(_cli, *args, database_url=database_url, terminal=terminal)


async def seed(pool: asyncpg.Pool, org_id: uuid.UUID, count: int, cat: dict[str, Any] | None = None) -> None:
    """`count` assets straight into the table (no events, so no worker changes them), a millisecond
    apart and older than anything else; text that CSV must quote, amounts, dates, custom fields
    and, given a catalog, every other one referring to each kind of object by id."""

    def ref(kind: str) -> uuid.UUID | None:
        return uuid.UUID(cat[kind]["id"]) if cat else None

    await pool.execute(
        """INSERT INTO assets (id, org_id, asset_tag, name, status, serial_number, purchase_date,
               purchase_price, notes, custom_fields, asset_type_id, assigned_to, contract_id,
               business_unit_id, custom_form_id, warranty_type, warranty_provider_id,
               support_provider_id, attached_supplier_id, created_at, updated_at)
           SELECT gen_random_uuid(), $1, 'CLI-' || g, 'Laptop, 15" ' || g,
                  (ARRAY['in_stock', 'in_use', 'in_service'])[1 + g % 3], 'SN-' || g,
                  date '2024-01-01' + g % 365, (g % 2000) + 0.5,
                  CASE WHEN g % 4 > 0 THEN E'two\nlines, "quoted" ' || g END,
                  jsonb_build_object('ram_gb', g % 64),
                  CASE WHEN g % 2 = 0 THEN $3::uuid END, CASE WHEN g % 2 = 0 THEN $4::uuid END,
                  CASE WHEN g % 2 = 0 THEN $5::uuid END, CASE WHEN g % 2 = 0 THEN $6::uuid END,
                  CASE WHEN g % 2 = 0 THEN $7::uuid END,
                  CASE WHEN g % 2 = 0 AND $8::uuid IS NOT NULL THEN 'oem' ELSE 'none' END,
                  CASE WHEN g % 2 = 0 THEN $8::uuid END, CASE WHEN g % 2 = 0 THEN $9::uuid END,
                  CASE WHEN g % 2 = 0 THEN $10::uuid END,
                  now() - interval '1 hour' + g * interval '1 millisecond',
                  now() - interval '1 hour' + g * interval '1 millisecond'
           FROM generate_series(1, $2) g""",
        org_id,
        count,
        *(
            ref(kind)
            for kind in ("type", "user", "contract", "unit", "form", "warranty", "support", "supplier")
        ),
    )


def _files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


async def http_export(client: TestClient, tenant: Tenant, query: str) -> bytes:
    resp = await client.get(f"{PATH}?{query}", headers=tenant.auth())
    assert resp.status == 200, await resp.text()
    return await resp.read()


async def events_of(pool: asyncpg.Pool, tenant: Tenant) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM outbox WHERE org_id = $1", tenant.org_id)
    return count


@pytest.mark.timeout(6 * CLI_TIMEOUT)
async def test_the_file_is_the_routes_and_imports_back_changing_nothing(
    client: TestClient, make_tenant: TenantFactory, pool: asyncpg.Pool, database_url: str, tmp_path: Path
) -> None:
    tenant = await make_tenant("CLIEXP")
    await seed(pool, tenant.org_id, SEEDED, await catalog(client, tenant))
    sheet = tmp_path / "assets.csv"
    # To a file, with progress lines on stderr; and to stdout, with the bar on a terminal.
    to_file, to_stdout = await asyncio.gather(
        run("export", "--org", tenant.name, "-o", str(sheet), database_url=database_url),
        run("export", "--org", tenant.name, "--format", "ndjson", database_url=database_url, terminal=True),
    )
    assert to_file.code == 0, to_file.err
    assert to_stdout.code == 0, to_stdout.err
    assert sheet.read_bytes() == await http_export(client, tenant, "format=csv")
    assert to_stdout.out == await http_export(client, tenant, "format=ndjson")
    assert _files(tmp_path) == ["assets.csv"]  # no temporary file left
    assert to_file.out == b""
    assert f"exported: {SEEDED:,} rows of {tenant.name} as csv to {sheet} in " in to_file.err
    assert "exported 10,000" not in to_file.err  # fewer rows than one line's worth
    assert f"{SEEDED}/{SEEDED}" in to_stdout.err and "rows/s" in to_stdout.err  # the bar, drawn
    assert f"exported: {SEEDED:,} rows of {tenant.name} as ndjson to stdout in " in to_stdout.err

    lines = tmp_path / "assets.ndjson"
    lines.write_bytes(to_stdout.out)
    events = await events_of(pool, tenant)
    # Both at once: they read the same assets in the same order, so the one waits for the other.
    imports = (
        run("import", str(path), "--org", tenant.name, "--on-conflict", "update", database_url=database_url)
        for path in (sheet, lines)
    )
    for back in await asyncio.gather(*imports):
        assert back.code == 0, back.err
        assert f"imported: {SEEDED} rows: 0 created, 0 updated, {SEEDED} unchanged, 0 skipped" in back.err
    assert await events_of(pool, tenant) == events


@pytest.mark.timeout(4 * CLI_TIMEOUT)
async def test_plain_progress_lines_and_the_routes_filters(
    client: TestClient, make_tenant: TenantFactory, pool: asyncpg.Pool, database_url: str, tmp_path: Path
) -> None:
    tenant = await make_tenant()
    await seed(pool, tenant.org_id, MANY)
    lines = tmp_path / "all.ndjson"
    everything, some = await asyncio.gather(
        run("export", "--org", tenant.name, "--format", "ndjson", "-o", str(lines),
            database_url=database_url),
        run("export", "--org", tenant.name, "--status", "in_use", "--q", "LAPTOP, 15\" 7",
            database_url=database_url),
    )  # fmt: skip
    assert everything.code == 0, everything.err
    assert f"exported 10,000 of {MANY:,} rows (" in everything.err and " rows/s)" in everything.err
    assert f"exported: {MANY:,} rows of {tenant.name} as ndjson to {lines} in " in everything.err
    assert lines.read_bytes() == await http_export(client, tenant, "format=ndjson")

    assert some.code == 0, some.err
    query = "status=in_use&q=LAPTOP%2C%2015%22%207"
    assert some.out == await http_export(client, tenant, query)
    matches = [g for g in range(1, MANY + 1) if g % 3 == 1 and str(g).startswith("7")]
    header, *rows = list(csv.reader(io.StringIO(some.out.decode(), newline="")))
    tag = header.index("asset_tag")
    assert sorted(row[tag] for row in rows) == sorted(f"CLI-{g}" for g in matches) != []
    assert f"exported: {len(matches):,} rows of {tenant.name} as csv to stdout in " in some.err


@pytest.mark.timeout(4 * CLI_TIMEOUT)
async def test_failures_write_nothing_under_the_name(
    make_tenant: TenantFactory, pool: asyncpg.Pool, database_url: str, tmp_path: Path
) -> None:
    broken = await make_tenant()
    await seed(pool, broken.org_id, 1_000)
    # The newest asset cannot be read (custom fields that are not an object): the export fails
    # once the first 1,000 rows are in the file.
    await pool.execute(
        """INSERT INTO assets (id, org_id, asset_tag, name, custom_fields)
           VALUES (gen_random_uuid(), $1, 'CLI-BROKEN', 'Broken', '[1]')""",
        broken.org_id,
    )
    target = tmp_path / "out.csv"
    try:
        unknown, malformed, half = await asyncio.gather(
            run("export", "--org", "No such organisation", "-o", str(target), database_url=database_url),
            run("export", "--org", broken.name, "--asset-type-id", "not-a-uuid", database_url=database_url),
            run("export", "--org", broken.name, "-o", str(target), database_url=database_url),
        )
    finally:
        await pool.execute("DELETE FROM assets WHERE org_id = $1 AND asset_tag = 'CLI-BROKEN'", broken.org_id)

    assert unknown.code == 1 and unknown.out == b""
    assert "assetflow: Organisation 'No such organisation' was not found." in unknown.err
    assert malformed.code == 2 and malformed.out == b""
    assert "argument --asset-type-id: must be the id of an asset type" in malformed.err
    assert half.code != 0 and half.out == b""
    assert f"the export broke off (after 1,000 rows); {target} was not written" in half.err
    assert _files(tmp_path) == []  # neither the file nor its temporary one
