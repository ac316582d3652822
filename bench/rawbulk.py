"""The raw-stack side of the import and export comparisons: asyncpg's COPY, no HTTP, no app.

`python -m bench.rawbulk '<json spec>'` runs in a process of its own, with uvloop and a plain
`asyncpg.connect`, and prints one marked JSON line.

- copy_in: the rows of the import's CSV file, read and typed before the clock starts, copied into
  the asset table with `copy_records_to_table` in one statement, with the columns the app's
  import writes for them (the file's, the asset type's id for its code, and the id, tag and
  company number the app adds). Tags are `<tag_prefix>-NNNNNN`, a prefix no app tag has; the
  suite deletes the rows afterwards.
- copy_out: `COPY (<the export's own query>) TO STDOUT (FORMAT csv, HEADER)` with
  `copy_from_query`, for the organisation and no filter; the bytes are counted and discarded.

Spec keys: mode, dsn, org_id; csv_file, type_ids ({code: id}), company_number, tag_prefix
(copy_in).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import asyncpg

from bench.common import emit

try:  # the export's own query text, so that both sides read the same rows the same way
    from shared.domain.queries import AssetFilter
    from shared.repositories.assets import _where
    from shared.repositories.export import _EXPORT, _ORDER

    def export_query(org_id: uuid.UUID) -> tuple[str, list[Any]]:
        where, args = _where(org_id, AssetFilter(), [])
        return f"{_EXPORT} WHERE {where} ORDER BY {_ORDER}", args

    EXPORT_QUERY = "the app's export SELECT (joins and human keys included), oldest first"
except ImportError:  # pragma: no cover - the app renamed them

    def export_query(org_id: uuid.UUID) -> tuple[str, list[Any]]:
        return "SELECT * FROM assets a WHERE a.org_id = $1 ORDER BY a.created_at, a.id", [org_id]

    EXPORT_QUERY = "SELECT * FROM assets, oldest first"

# How a cell of the import file becomes a value of its column (text otherwise).
_TYPED: dict[str, Callable[[str], Any]] = {
    "purchase_date": dt.date.fromisoformat,
    "warranty_until": dt.date.fromisoformat,
    "support_end_date": dt.date.fromisoformat,
    "service_start_date": dt.date.fromisoformat,
    "purchase_price": Decimal,
    "estimated_salvage_value": Decimal,
}


def import_records(spec: dict[str, Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The import file's rows as records of the asset table, and their columns."""
    org_id = uuid.UUID(spec["org_id"])
    type_ids = {code: uuid.UUID(i) for code, i in spec["type_ids"].items()}
    company = int(spec["company_number"])
    prefix = spec["tag_prefix"]
    with open(spec["csv_file"], newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        columns = ["id", "org_id", "asset_tag", "company_number"]
        columns += ["asset_type_id" if name == "asset_type" else name for name in header]
        records: list[tuple[Any, ...]] = []
        for n, cells in enumerate(reader, start=1):
            values: list[Any] = [uuid.uuid4(), org_id, f"{prefix}-{n:06d}", company]
            for name, cell in zip(header, cells, strict=True):
                if cell == "":
                    values.append(None)
                elif name == "asset_type":
                    values.append(type_ids[cell])
                else:
                    values.append(_TYPED.get(name, str)(cell))
            records.append(tuple(values))
    return columns, records


async def copy_in(spec: dict[str, Any]) -> dict[str, Any]:
    columns, records = import_records(spec)
    conn = await asyncpg.connect(spec["dsn"])
    try:
        started = time.perf_counter()
        status = await conn.copy_records_to_table("assets", records=records, columns=columns)
        elapsed = time.perf_counter() - started
    finally:
        await conn.close()
    rows = int(status.split()[-1])
    return {
        "rows": rows,
        "seconds": elapsed,
        "rate": rows / elapsed if elapsed > 0 else 0.0,
        "columns": columns,
        "query": "copy_records_to_table('assets'), one statement",
    }


async def copy_out(spec: dict[str, Any]) -> dict[str, Any]:
    query, args = export_query(uuid.UUID(spec["org_id"]))
    size = 0

    async def sink(chunk: bytes) -> None:
        nonlocal size
        size += len(chunk)

    conn = await asyncpg.connect(spec["dsn"])
    try:
        started = time.perf_counter()
        status = await conn.copy_from_query(query, *args, output=sink, format="csv", header=True)
        elapsed = time.perf_counter() - started
    finally:
        await conn.close()
    rows = int(status.split()[-1])
    return {
        "rows": rows,
        "bytes": size,
        "seconds": elapsed,
        "rate": rows / elapsed if elapsed > 0 else 0.0,
        "query": f"COPY ({EXPORT_QUERY}) TO STDOUT (FORMAT csv, HEADER)",
    }


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    import uvloop

    emit(uvloop.run(copy_in(spec) if spec["mode"] == "copy_in" else copy_out(spec)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
