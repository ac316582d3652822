"""`assetflow import` as an operator runs it: a 50,000-row spreadsheet from the command line, its
progress on stderr, all or nothing. Against a database of its own (no relay publishes from it,
so its 50,000 events do not flood the run's broker)."""

import asyncio
import csv
from pathlib import Path

import asyncpg
import pytest

from tests.integration.test_operations import _cli

ROWS = 50_000
# Measured here: about 20 s for the two readings of 50,000 rows; 2x slower machines and more.
IMPORT_TIMEOUT = 300


def _sheet(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["name", "serial_number", "purchase_date", "purchase_price", "status", "notes"])
        for n in range(rows):
            writer.writerow(
                [f"Laptop {n}", f"SN-{n:06d}", "2024-01-15", "1299.00", "in_use", f"row {n}, quoted"]
            )


async def _run(*args: str, database_url: str) -> tuple[int, str]:
    done = await asyncio.to_thread(_cli, *args, database_url=database_url, timeout=IMPORT_TIMEOUT)
    return done.returncode, done.stderr


@pytest.mark.timeout(3 * IMPORT_TIMEOUT)
async def test_the_cli_imports_a_large_sheet_with_its_progress(fresh_database: str, tmp_path: Path) -> None:
    for args in (("migrate",), ("org", "create", "Imports")):
        code, err = await _run(*args, database_url=fresh_database)
        assert code == 0, err
    sheet = tmp_path / "inventory.csv"
    _sheet(sheet, ROWS)

    code, err = await _run("import", str(sheet), "--org", "Imports", database_url=fresh_database)
    assert code == 0, err
    # Not a terminal: a plain line each 10,000 rows of each reading, then the summary.
    assert "checking: 10000 rows (" in err and "rows/s)" in err
    assert f"writing: {ROWS} rows (" in err
    assert f"imported: {ROWS} rows: {ROWS} created, 0 updated, 0 unchanged, 0 skipped, 0 bad" in err

    conn = await asyncpg.connect(fresh_database)
    try:
        assert await conn.fetchval("SELECT count(*) FROM assets") == ROWS
        assert await conn.fetchval("SELECT count(DISTINCT asset_tag) FROM assets") == ROWS
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE routing_key = 'asset.created'") == ROWS
        assert (
            await conn.fetchval("SELECT notes FROM assets WHERE serial_number = 'SN-049999'")
            == "row 49999, quoted"
        )
    finally:
        await conn.close()

    # Again, each row naming its asset by serial number: every row is an existing asset, bad
    # without --on-conflict, and the bad rows reject them all.
    code, err = await _run(
        "import", str(sheet), "--org", "Imports", "--match", "serial_number", database_url=fresh_database
    )
    assert code == 1 and "rejected" in err and f"{ROWS} bad" in err
    code, err = await _run(
        "import", str(sheet), "--org", "Imports", "--match", "serial_number", "--on-conflict", "skip",
        "--dry-run", database_url=fresh_database,
    )  # fmt: skip
    assert code == 0, err
    assert f"checked (dry run): {ROWS} rows: 0 created, 0 updated, 0 unchanged, {ROWS} skipped" in err


async def test_the_cli_names_bad_rows_and_writes_nothing(fresh_database: str, tmp_path: Path) -> None:
    for args in (("migrate",), ("org", "create", "Bad rows")):
        code, err = await _run(*args, database_url=fresh_database)
        assert code == 0, err
    sheet = tmp_path / "bad.csv"
    sheet.write_text("name,purchase_price\nGood,1.00\n,2.00\nPriced,1.234\n", encoding="utf-8")
    code, err = await _run("import", str(sheet), "--org", "Bad rows", database_url=fresh_database)
    assert code == 1
    assert "row 3: name: is required for a new asset" in err
    assert "row 4: purchase_price:" in err
    assert "2 bad rows; nothing was written" in err
    code, err = await _run(
        "import", str(tmp_path / "missing.csv"), "--org", "Bad rows", database_url=fresh_database
    )
    assert code == 2 and "no file" in err
    conn = await asyncpg.connect(fresh_database)
    try:
        assert await conn.fetchval("SELECT count(*) FROM assets") == 0
    finally:
        await conn.close()
